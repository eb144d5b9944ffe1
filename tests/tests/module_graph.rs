//! The host and the viewer show their parts as folders, and no two of
//! their modules import each other in a circle (DESIGN.md section 4): not
//! among a crate's top-level modules, nor among the children of any
//! folder module. The viewer's `platform/` never imports `stream/`.

use std::path::{Path, PathBuf};

use e2e::module_graph::{ModuleGraph, report};

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn graph(name: &str) -> ModuleGraph {
    ModuleGraph::build(&crate_src(name)).expect("reading the crate's sources")
}

fn assert_no_circle(name: &str) {
    let graph = graph(name);
    assert!(
        !graph.edges.is_empty(),
        "{name}: no imports found at all; is {} its source directory?",
        crate_src(name).display()
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "{name}/src has import circles:\n{}",
        report(&cycles)
    );
}

#[test]
fn host_has_no_import_circle() {
    assert_no_circle("host");
}

#[test]
fn viewer_has_no_import_circle() {
    assert_no_circle("viewer");
}

#[test]
fn viewer_platform_never_imports_stream() {
    let src = crate_src("viewer");
    for part in ["platform", "stream"] {
        assert!(src.join(part).is_dir(), "viewer/src/{part}/ is gone");
    }
    let graph = graph("viewer");
    let sites = graph.sites("crate", "platform", "stream");
    let sites: Vec<String> = sites.iter().map(ToString::to_string).collect();
    assert!(
        sites.is_empty(),
        "viewer's platform/ imports stream/ at {}",
        sites.join(", ")
    );
}

/// A host session reaches platform backends (capture, encoders, input
/// injection, pads, the clipboard) only through `media/`, whose planner
/// and desk choose them.
#[test]
fn host_sessions_reach_the_platform_only_through_media() {
    let src = crate_src("host").join("stream");
    for file in [
        "session.rs",
        "driver.rs",
        "input.rs",
        "resume.rs",
        "server.rs",
    ] {
        let text = std::fs::read_to_string(src.join(file)).expect("a stream/ source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("crate::platform"),
                "host/src/stream/{file}:{} reaches the platform: {line}",
                number + 1
            );
        }
    }
}

/// What differs between operating systems stays in the viewer's
/// `platform/`: no `cfg(unix)`, `cfg(windows)` or `target_os` elsewhere in
/// the viewer, so a Windows build differs from a Linux one in one folder.
#[test]
fn the_viewer_names_an_operating_system_only_in_platform() {
    let src = crate_src("viewer");
    let mut found = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a viewer source folder") {
            let path = entry.expect("a directory entry").path();
            if path == src.join("platform") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a viewer source");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let names_os = [
                    "cfg(unix",
                    "cfg(windows",
                    "cfg(not(unix",
                    "cfg(not(windows",
                    "target_os",
                ]
                .iter()
                .any(|word| code.contains(word));
                if names_os {
                    found.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the viewer names an operating system outside platform/:\n{}",
        found.join("\n")
    );
}
