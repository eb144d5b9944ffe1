//! LAN discovery in two network namespaces joined by a veth pair: a host
//! advertising with `--mdns VETH` in one is found, with its name, port and
//! certificate fingerprint, by the launcher's own discovery (`mdns_browse`)
//! in the other. Nothing leaves the namespaces. Needs root (CI runs as
//! root); without it the test says so and passes.

use e2e::lan::{Lan, LanHost};
use e2e::{binary, scratch_dir};

#[test]
fn a_host_advertised_on_the_veth_is_found_from_the_other_namespace() {
    let Some(lan) = Lan::create("md") else {
        eprintln!("SKIPPED: network namespaces need root and iproute2");
        return;
    };
    let dir = scratch_dir("mdns-veth");
    let host =
        LanHost::start(&lan, &dir.join("host"), &["--mdns", &lan.host_dev]).expect("host starts");
    let port: u64 = host
        .service
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the API's port");

    let browse = Lan::command_in(&lan.viewer_ns, &binary("mdns_browse"))
        .args(["--timeout-s", "30"])
        .output()
        .expect("mdns_browse runs");
    assert!(
        browse.status.success(),
        "nothing found: {}",
        String::from_utf8_lossy(&browse.stderr)
    );
    let stdout = String::from_utf8(browse.stdout).expect("UTF-8");
    let found: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON");
    eprintln!("found {found}");
    // As the launcher lists it: the host's name, where to reach it, and
    // the certificate to pin.
    assert_eq!(found["name"], host::discovery::default_name().as_str());
    assert_eq!(found["port"], port);
    assert_eq!(found["fingerprint_hex"], host.fingerprint.as_str());
    assert_eq!(found["protocol_version"], common::control::PROTOCOL_VERSION);
    assert_eq!(found["address"], lan.host_ip.as_str());
    assert!(
        std::fs::read_to_string(dir.join("host.log"))
            .unwrap_or_default()
            .contains("advertised on the LAN"),
        "the host logs that it advertises"
    );
}
