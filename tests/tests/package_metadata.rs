//! The packages and the service, without building a package (that is
//! `scripts/package`, outside CI: it builds both .deb files, lists them,
//! installs them into a throwaway root and starts the installed unit's
//! ExecStart):
//!
//! - the `[package.metadata.deb]` of host/ and viewer/: every asset exists
//!   in the tree or is something the build makes (a binary of that crate, a
//!   man page tests/src/bin/manpages.rs writes); the unit, the desktop entry
//!   and the icon are listed where they belong;
//! - the shipped unit starts the binary the host package installs;
//! - `host service install --no-enable` writes a unit whose ExecStartPre
//!   and ExecStart, run as they are, start the host with its config file
//!   (it listens where host.toml says); `status` shows it; `uninstall` twice.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clap::CommandFactory;
use e2e::{binary, scratch_dir, wait_until_ready};
use host::service::unit::{self, PACKAGED_EXE, split_command};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// (source, dest, mode) of each asset of a crate's deb metadata.
fn deb_metadata(krate: &str) -> (toml::Table, Vec<(String, String, String)>) {
    let path = repo().join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    let deb = manifest["package"]["metadata"]["deb"]
        .as_table()
        .unwrap_or_else(|| panic!("{krate}/Cargo.toml has no [package.metadata.deb]"))
        .clone();
    let assets = deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            let a = a.as_array().expect("[source, dest, mode]");
            let s = |i: usize| a[i].as_str().expect("a string").to_string();
            (s(0), s(1), s(2))
        })
        .collect();
    (deb, assets)
}

/// Where an asset lands, as dpkg installs it.
fn installed_path(source: &str, dest: &str) -> String {
    if dest.ends_with('/') {
        let name = Path::new(source)
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        format!("/{dest}{name}")
    } else {
        format!("/{dest}")
    }
}

/// Checks every asset's source: the crate's own binary, a man page the
/// manpages tool writes (`man_prefix`…`.1`), or a file in the tree.
fn check_sources(krate: &str, assets: &[(String, String, String)], man_prefix: &str) {
    for (source, dest, mode) in assets {
        assert!(
            u32::from_str_radix(mode, 8).is_ok(),
            "{krate}: {source}: mode {mode}"
        );
        if let Some(name) = source.strip_prefix("target/release/") {
            assert_eq!(name, krate, "{krate} packages only its own binary");
            assert_eq!(mode, "755");
        } else if let Some(page) = source.strip_prefix("../target/man/") {
            assert!(
                page.starts_with(man_prefix) && page.ends_with(".1"),
                "{krate}: {source} is not a page tests/src/bin/manpages.rs writes"
            );
            assert_eq!(dest, "usr/share/man/man1/");
        } else {
            let path = repo().join(krate).join(source);
            assert!(
                path.is_file(),
                "{krate}: asset {source} is missing ({})",
                path.display()
            );
        }
    }
}

#[test]
fn the_host_package_lists_its_binary_unit_and_man_pages() {
    let (deb, assets) = deb_metadata("host");
    assert_eq!(deb["name"].as_str(), Some("appstream-host"));
    assert!(deb["depends"].as_str().is_some_and(|d| d.contains("$auto")));
    assert!(
        deb["recommends"]
            .as_str()
            .is_some_and(|d| d.contains("xvfb"))
    );
    check_sources("host", &assets, "appstream-host");
    let installed: Vec<String> = assets
        .iter()
        .map(|(s, d, _)| installed_path(s, d))
        .collect();
    assert!(
        installed.contains(&PACKAGED_EXE.to_string()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&"/usr/lib/systemd/user/appstream-host.service".to_string()),
        "{installed:?}"
    );
    assert!(
        assets
            .iter()
            .any(|(s, _, _)| s == "../assets/systemd/appstream-host.service")
    );

    // The shipped unit starts what the package installs.
    let shipped = std::fs::read_to_string(repo().join("assets/systemd/appstream-host.service"))
        .expect("the unit");
    let exec = split_command(unit::directive(&shipped, "ExecStart")[0]);
    assert_eq!(exec[0], PACKAGED_EXE);
    assert_eq!(exec.last().map(String::as_str), Some("serve"));
    assert!(exec.iter().any(|w| w == "--config"));
}

#[test]
fn the_viewer_package_lists_its_binary_desktop_entry_icon_and_man_page() {
    let (deb, assets) = deb_metadata("viewer");
    assert_eq!(deb["name"].as_str(), Some("appstream-viewer"));
    check_sources("viewer", &assets, "viewer");
    let installed: Vec<String> = assets
        .iter()
        .map(|(s, d, _)| installed_path(s, d))
        .collect();
    for path in [
        "/usr/bin/viewer",
        "/usr/share/applications/appstream-viewer.desktop",
        "/usr/share/icons/hicolor/256x256/apps/appstream-viewer.png",
        "/usr/share/man/man1/viewer.1",
    ] {
        assert!(
            installed.contains(&path.to_string()),
            "{path}: {installed:?}"
        );
    }
    let (width, height) = image::image_dimensions(repo().join("assets/icons/appstream-viewer.png"))
        .expect("the icon is a PNG");
    assert_eq!(
        (width, height),
        (256, 256),
        "the hicolor directory says 256x256"
    );
    let entry = std::fs::read_to_string(repo().join("assets/appstream-viewer.desktop"))
        .expect("the desktop entry");
    assert!(
        entry.contains("\nExec=viewer %u\n"),
        "Exec= names the packaged /usr/bin/viewer"
    );
    assert!(entry.contains("\nIcon=appstream-viewer\n"));
    assert!(
        entry
            .lines()
            .any(|l| l.starts_with("MimeType=") && l.contains("x-scheme-handler/appstream;")),
        "the appstream:// handler"
    );
}

#[test]
fn the_service_knows_the_command_lines_default_data_dir() {
    let command = host::cli::Cli::command();
    let data_dir = command
        .get_arguments()
        .find(|a| a.get_id() == "data_dir")
        .expect("--data-dir");
    let default: Vec<String> = data_dir
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    assert_eq!(default, [host::service::plan::CLI_DEFAULT_DATA_DIR]);
}

/// `host --data-dir DATA ARGS…` with HOME and XDG_CONFIG_HOME in `scratch`.
fn host_service(scratch: &Path, data: &Path, args: &[&str]) -> Output {
    let output = Command::new(binary("host"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("HOME", scratch.join("home"))
        .env("XDG_CONFIG_HOME", scratch.join("xdg"))
        .env_remove("DISPLAY")
        .env_remove("XAUTHORITY")
        .output()
        .expect("host runs");
    eprintln!(
        "$ host {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_installed_unit_starts_the_host_with_its_config_file() {
    let scratch = scratch_dir("service-unit");
    let data = scratch.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // The config the unit names: the host must listen where it says.
    std::fs::write(
        data.join("host.toml"),
        "listen = \"127.0.0.1:0\"\nmdns = \"off\"\ncapture = \"synthetic\"\n",
    )
    .expect("host.toml");

    let install = host_service(&scratch, &data, &["service", "install", "--no-enable"]);
    assert!(install.status.success(), "install --no-enable succeeds");
    let unit_path = scratch.join("xdg/systemd/user/appstream-host.service");
    let text = std::fs::read_to_string(&unit_path).expect("the unit was written");
    assert_eq!(
        std::fs::read_to_string(data.join("host.toml")).expect("host.toml"),
        "listen = \"127.0.0.1:0\"\nmdns = \"off\"\ncapture = \"synthetic\"\n",
        "install keeps an existing config"
    );
    assert_eq!(unit::directive(&text, "Restart"), ["on-failure"]);
    assert_eq!(unit::directive(&text, "StandardError"), ["journal"]);
    assert!(
        unit::directive(&text, "Environment").is_empty(),
        "no DISPLAY here"
    );

    let status = host_service(&scratch, &data, &["service", "status"]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(said.contains(&unit_path.display().to_string()), "{said}");
    assert!(said.contains("ExecStart="), "{said}");
    // 0 where systemd cannot be asked (this container), 3 where it says
    // the unit is not running.
    assert!(matches!(status.status.code(), Some(0 | 3)), "{status:?}");

    // ExecStartPre, then ExecStart, as systemd would run them.
    let pre = split_command(unit::directive(&text, "ExecStartPre")[0].trim_start_matches('-'));
    assert_eq!(pre[..2], ["/bin/touch", "-a"]);
    assert!(
        Command::new(&pre[0])
            .args(&pre[1..])
            .status()
            .expect("touch")
            .success()
    );
    let exec = split_command(unit::directive(&text, "ExecStart")[0]);
    assert_eq!(
        std::fs::canonicalize(&exec[0]).expect("the unit's binary"),
        std::fs::canonicalize(binary("host")).expect("host"),
        "the unit starts the binary that installed it"
    );
    assert_eq!(
        exec[1..],
        [
            "--data-dir".to_string(),
            data.display().to_string(),
            "--config".to_string(),
            data.join("host.toml").display().to_string(),
            "serve".to_string(),
        ]
    );
    let mut host = Command::new(&exec[0])
        .args(&exec[1..])
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ExecStart runs");
    let ready = wait_until_ready(&mut host);
    let _ = Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let (_, base_url) = ready.expect("the host started from the unit's ExecStart");
    let address = base_url.trim_start_matches("https://");
    assert!(
        address.starts_with("127.0.0.1:") && !address.ends_with(":47990"),
        "listens where host.toml says (127.0.0.1, a free port), not the default: {address}"
    );
    let stopped = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        host.try_wait().ok().flatten().is_some()
    });
    if !stopped {
        let _ = host.kill();
        let _ = host.wait();
    }
    assert!(stopped, "the host stops on SIGTERM (systemctl stop)");
    assert!(
        TcpStream::connect(address).is_err(),
        "and no longer listens"
    );

    for _ in 0..2 {
        let uninstall = host_service(&scratch, &data, &["service", "uninstall"]);
        assert!(uninstall.status.success(), "uninstall is idempotent");
    }
    assert!(!unit_path.exists());
    let status = host_service(&scratch, &data, &["service", "status"]);
    assert_eq!(status.status.code(), Some(1), "not installed");
    let _ = std::io::stderr().flush();
}
