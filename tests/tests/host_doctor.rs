//! `host doctor` run for real: under a private Xvfb it passes and names
//! what it checked; a port in use or nowhere to show applications make it
//! exit non-zero.

use std::net::TcpListener;
use std::process::{Command, Output};

use e2e::{Xvfb, binary, scratch_dir};

fn doctor(label: &str, extra_args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let dir = scratch_dir(label);
    let mut command = Command::new(binary("host"));
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("doctor")
        .args(extra_args);
    setup(&mut command);
    command.output().expect("host doctor runs")
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn doctor_passes_under_xvfb_and_names_what_it_checked() {
    let xvfb = Xvfb::start(640, 480).expect("Xvfb starts");
    let output = doctor("doctor-xvfb", &["--listen", "127.0.0.1:0"], |command| {
        command.env("DISPLAY", &xvfb.display);
    });
    let report = stdout_of(&output);
    assert!(output.status.success(), "{report}");
    for named in [
        &format!("X display {}", xvfb.display),
        "MIT-SHM",
        "XTest",
        "XDamage",
        "libx264",
        "/dev/uinput",
        "Landlock",
        "clock",
    ] {
        assert!(report.contains(named), "{named} missing from:\n{report}");
    }
    assert!(report.contains("Streaming can work here"), "{report}");
}

#[test]
fn a_port_in_use_fails_the_json_report() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bound");
    let address = taken.local_addr().expect("address").to_string();
    let output = doctor("doctor-port", &["--listen", &address, "--json"], |_| {});
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["can_stream"], false);
    let port = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["name"].as_str().is_some_and(|n| n.contains(&address)))
        .expect("a check of the port");
    assert_eq!(port["status"], "fail");
    assert!(
        port["what_to_do"]
            .as_str()
            .is_some_and(|t| t.contains("--listen"))
    );
}

#[test]
fn no_display_and_no_xvfb_fails() {
    let empty_path = scratch_dir("doctor-empty-path");
    let output = doctor("doctor-nowhere", &["--listen", "127.0.0.1:0"], |command| {
        command.env_remove("DISPLAY").env("PATH", &empty_path);
    });
    let report = stdout_of(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL X display — DISPLAY is unset and Xvfb cannot start"),
        "{report}"
    );
    assert!(report.contains("install Xvfb"), "{report}");
}
