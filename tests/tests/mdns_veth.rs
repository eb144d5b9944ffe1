//! LAN discovery in two network namespaces joined by a veth pair: a host
//! advertising with `--mdns VETH` in one is found, with its name, port and
//! certificate fingerprint, by `mdns_browse` in the other. Nothing leaves
//! the namespaces. Needs root (CI runs as root); without it the test says
//! so and passes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use e2e::{binary, scratch_dir};

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces and a veth pair, removed on drop.
struct Lan {
    host_ns: String,
    viewer_ns: String,
    host_dev: String,
    viewer_dev: String,
}

impl Lan {
    fn create() -> Option<Lan> {
        let id = std::process::id() % 100_000;
        let lan = Lan {
            host_ns: format!("amh{id}"),
            viewer_ns: format!("amv{id}"),
            host_dev: format!("mh{id}"),
            viewer_dev: format!("mv{id}"),
        };
        let (h, v, hd, vd) = (
            lan.host_ns.as_str(),
            lan.viewer_ns.as_str(),
            lan.host_dev.as_str(),
            lan.viewer_dev.as_str(),
        );
        let steps: [&[&str]; 11] = [
            &["ip", "netns", "add", h],
            &["ip", "netns", "add", v],
            &["ip", "link", "add", hd, "type", "veth", "peer", "name", vd],
            &["ip", "link", "set", hd, "netns", h],
            &["ip", "link", "set", vd, "netns", v],
            &["ip", "-n", h, "addr", "add", "10.78.0.1/24", "dev", hd],
            &["ip", "-n", v, "addr", "add", "10.78.0.2/24", "dev", vd],
            &["ip", "-n", h, "link", "set", hd, "up"],
            &["ip", "-n", v, "link", "set", vd, "up"],
            &["ip", "-n", h, "link", "set", "lo", "up"],
            &["ip", "-n", v, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !sh(step) {
                eprintln!("cannot build the veth LAN ({step:?} failed)");
                // A pair not yet moved into the namespaces goes by hand; the
                // rest goes with the namespaces when `lan` drops.
                let _ = sh(&["ip", "link", "del", hd]);
                return None;
            }
        }
        Some(lan)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting the namespaces deletes the veth pair with them.
        let _ = sh(&["ip", "netns", "del", &self.host_ns]);
        let _ = sh(&["ip", "netns", "del", &self.viewer_ns]);
    }
}

#[test]
fn a_host_advertised_on_the_veth_is_found_from_the_other_namespace() {
    let Some(lan) = Lan::create() else {
        eprintln!("SKIPPED: network namespaces need root and iproute2");
        return;
    };
    let dir = scratch_dir("mdns-veth");
    let mut host = Command::new("ip")
        .args(["netns", "exec", &lan.host_ns])
        .arg(binary("host"))
        .args(["serve", "--listen", "10.78.0.1:0", "--mdns", &lan.host_dev])
        .arg("--data-dir")
        .arg(dir.join("host"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("host starts");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let (mut fingerprint, mut port, mut name) = (None, None, None);
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(hex) = line.strip_prefix("certificate fingerprint (SHA-256): ") {
            fingerprint = Some(hex.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("API: https://10.78.0.1:") {
            port = rest.split('/').next().and_then(|p| p.parse::<u64>().ok());
        }
        if let Some(rest) = line.strip_prefix("mDNS: advertising ") {
            name = rest.split('"').nth(1).map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (fingerprint, port, name) = (
        fingerprint.expect("fingerprint line"),
        port.expect("API line"),
        name.expect("mDNS line: the host advertises"),
    );

    let browse = Command::new("ip")
        .args(["netns", "exec", &lan.viewer_ns])
        .arg(binary("mdns_browse"))
        .args(["--timeout-s", "30", "--interface", &lan.viewer_dev])
        .output()
        .expect("mdns_browse runs");
    let _ = Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let _ = host.wait();
    assert!(
        browse.status.success(),
        "nothing found: {}",
        String::from_utf8_lossy(&browse.stderr)
    );
    let stdout = String::from_utf8(browse.stdout).expect("UTF-8");
    let found: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON");
    eprintln!("found {found}");
    assert_eq!(found["advert"]["name"], name.as_str());
    assert_eq!(found["advert"]["port"], port);
    assert_eq!(found["srv_port"], port);
    assert_eq!(found["advert"]["fingerprint_hex"], fingerprint.as_str());
    assert_eq!(
        found["advert"]["protocol_version"],
        common::control::PROTOCOL_VERSION
    );
    let addresses = found["addresses"].as_array().expect("addresses");
    assert!(
        addresses.iter().any(|a| a == "10.78.0.1"),
        "advertised addresses {addresses:?}"
    );
}
