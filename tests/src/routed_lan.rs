//! A LAN in three network namespaces, viewer ⇄ router ⇄ host: the router
//! namespace runs `lan_router`, an impairing bridge whose settings change
//! while a stream runs (a JSON line each). Viewer 10.78.N.2, host
//! 10.78.N.1, one subnet bridged at layer 2. Offloads are off on every
//! veth end, so the frames the bridge copies are whole and checksummed.
//! Needs root, iproute2 and ethtool; `create` says why it cannot.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::binary;
use crate::lan::Lan;

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub struct RoutedLan {
    /// The host's and the viewer's namespaces (deleted on drop).
    pub lan: Lan,
    pub router_ns: String,
    router: Child,
    settings: ChildStdin,
}

impl RoutedLan {
    /// `tag`: two letters keeping parallel tests apart; `seed` the router's.
    pub fn create(tag: &str, seed: u64) -> Option<RoutedLan> {
        let (lan, id, subnet) = Lan::named(tag, 78);
        let router_ns = format!("{tag}r{id}");
        let (to_viewer, to_host) = (format!("{tag}A{id}"), format!("{tag}B{id}"));
        let (h, v, r) = (
            lan.host_ns.as_str(),
            lan.viewer_ns.as_str(),
            router_ns.as_str(),
        );
        let (hd, vd) = (lan.host_dev.as_str(), lan.viewer_dev.as_str());
        let (host_cidr, viewer_cidr) = (
            format!("{}/24", lan.host_ip),
            format!("10.78.{subnet}.2/24"),
        );
        let mut steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", h],
            vec!["ip", "netns", "add", v],
            vec!["ip", "netns", "add", r],
            vec![
                "ip", "link", "add", vd, "type", "veth", "peer", "name", &to_viewer,
            ],
            vec![
                "ip", "link", "add", hd, "type", "veth", "peer", "name", &to_host,
            ],
            vec!["ip", "link", "set", vd, "netns", v],
            vec!["ip", "link", "set", hd, "netns", h],
            vec!["ip", "link", "set", &to_viewer, "netns", r],
            vec!["ip", "link", "set", &to_host, "netns", r],
            vec!["ip", "-n", h, "addr", "add", &host_cidr, "dev", hd],
            vec!["ip", "-n", v, "addr", "add", &viewer_cidr, "dev", vd],
        ];
        for (ns, dev) in [
            (h, hd),
            (v, vd),
            (r, to_viewer.as_str()),
            (r, to_host.as_str()),
        ] {
            steps.push(vec!["ip", "-n", ns, "link", "set", dev, "up"]);
            steps.push(vec![
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                "off", "gro", "off",
            ]);
        }
        for ns in [h, v, r] {
            steps.push(vec!["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let cleanup = |lan: Lan| {
            let _ = sh(&["ip", "netns", "del", &router_ns]);
            drop(lan);
        };
        for step in &steps {
            if !sh(step) {
                eprintln!("cannot build the routed LAN ({step:?} failed)");
                cleanup(lan);
                return None;
            }
        }
        let spawned = Lan::command_in(r, &binary("lan_router"))
            .args(["--viewer-side", &to_viewer, "--host-side", &to_host])
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::piped())
            .spawn();
        let Ok(mut router) = spawned else {
            eprintln!("cannot start lan_router");
            cleanup(lan);
            return None;
        };
        let settings = router.stdin.take().expect("piped stdin");
        Some(RoutedLan {
            lan,
            router_ns,
            router,
            settings,
        })
    }

    /// Replaces the router's settings (a `RouterSettings` JSON object).
    pub fn set(&mut self, settings: &serde_json::Value) {
        let _ = writeln!(self.settings, "{settings}");
        let _ = self.settings.flush();
    }
}

impl Drop for RoutedLan {
    fn drop(&mut self) {
        let _ = self.router.kill();
        let _ = self.router.wait();
        let _ = sh(&["ip", "netns", "del", &self.router_ns]);
    }
}
