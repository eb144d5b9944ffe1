//! A LAN in two network namespaces joined by a veth pair (host side
//! 10.77.N.1, viewer side 10.77.N.2), removed on drop. Traffic never leaves
//! the namespaces. Needs root and iproute2; `create` says why it cannot.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::binary;

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub struct Lan {
    pub host_ns: String,
    pub viewer_ns: String,
    pub host_dev: String,
    pub viewer_dev: String,
    pub host_ip: String,
}

impl Lan {
    /// The names of a LAN for `tag` (2 letters, keeping tests apart) on
    /// 10.`net`.N.0/24, N from the process id (so parallel test binaries
    /// never share addresses), with that id and N; nothing is made yet.
    pub(crate) fn named(tag: &str, net: u8) -> (Lan, u32, u32) {
        let id = std::process::id() % 100_000;
        let subnet = 10 + id % 200;
        let lan = Lan {
            host_ns: format!("{tag}h{id}"),
            viewer_ns: format!("{tag}v{id}"),
            host_dev: format!("{tag}H{id}"),
            viewer_dev: format!("{tag}V{id}"),
            host_ip: format!("10.{net}.{subnet}.1"),
        };
        (lan, id, subnet)
    }

    /// `tag` keeps namespaces of different tests apart (2 letters).
    pub fn create(tag: &str) -> Option<Lan> {
        let (lan, _, subnet) = Lan::named(tag, 77);
        let viewer_ip = format!("10.77.{subnet}.2/24");
        let host_cidr = format!("{}/24", lan.host_ip);
        let (h, v, hd, vd) = (
            lan.host_ns.as_str(),
            lan.viewer_ns.as_str(),
            lan.host_dev.as_str(),
            lan.viewer_dev.as_str(),
        );
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", h],
            vec!["ip", "netns", "add", v],
            vec!["ip", "link", "add", hd, "type", "veth", "peer", "name", vd],
            vec!["ip", "link", "set", hd, "netns", h],
            vec!["ip", "link", "set", vd, "netns", v],
            vec!["ip", "-n", h, "addr", "add", &host_cidr, "dev", hd],
            vec!["ip", "-n", v, "addr", "add", &viewer_ip, "dev", vd],
            vec!["ip", "-n", h, "link", "set", hd, "up"],
            vec!["ip", "-n", v, "link", "set", vd, "up"],
            vec!["ip", "-n", h, "link", "set", "lo", "up"],
            vec!["ip", "-n", v, "link", "set", "lo", "up"],
        ];
        for step in &steps {
            if !sh(step) {
                eprintln!("cannot build the veth LAN ({step:?} failed)");
                return None;
            }
        }
        Some(lan)
    }

    /// Caps the host → viewer direction with `tc tbf`.
    pub fn cap(&self, kbps: u64) -> bool {
        let rate = format!("{kbps}kbit");
        let (ns, dev) = (self.host_ns.as_str(), self.host_dev.as_str());
        sh(&[
            "ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
            &rate, "burst", "16kb", "latency", "50ms",
        ])
    }

    pub fn uncap(&self) -> bool {
        let (ns, dev) = (self.host_ns.as_str(), self.host_dev.as_str());
        sh(&[
            "ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root",
        ])
    }

    /// Pulls the viewer's cable (`up == false`) or plugs it back in.
    pub fn set_viewer_link(&self, up: bool) -> bool {
        let state = if up { "up" } else { "down" };
        sh(&[
            "ip",
            "-n",
            &self.viewer_ns,
            "link",
            "set",
            &self.viewer_dev,
            state,
        ])
    }

    /// A command run inside namespace `ns`.
    pub fn command_in(ns: &str, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting the namespaces deletes the veth pair with them.
        let _ = sh(&["ip", "netns", "del", &self.host_ns]);
        let _ = sh(&["ip", "netns", "del", &self.viewer_ns]);
    }
}

/// `host serve` inside the host's namespace; killed on drop.
pub struct LanHost {
    pub child: Child,
    /// `https://10.77.N.1:PORT`
    pub service: String,
    pub fingerprint: String,
}

impl LanHost {
    pub fn start(lan: &Lan, data_dir: &Path, extra: &[&str]) -> anyhow::Result<LanHost> {
        let listen = format!("{}:0", lan.host_ip);
        let mut child = Lan::command_in(&lan.host_ns, &binary("host"))
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the host")?;
        crate::tee_stderr(&mut child, &data_dir.with_extension("log"))?;
        match crate::wait_until_ready(&mut child) {
            Ok((fingerprint, service)) => Ok(LanHost {
                child,
                service,
                fingerprint: hex::encode(fingerprint),
            }),
            Err(e) => {
                let _ = child.kill();
                Err(e)
            }
        }
    }

    /// Signs in as `demo` from the viewer's namespace; an entitlement URL.
    pub fn entitle_from(&self, lan: &Lan, data_dir: &Path) -> anyhow::Result<String> {
        let out = Lan::command_in(&lan.viewer_ns, &binary("viewer"))
            .args(["signin", "--service", &self.service])
            .args(["--fingerprint", &self.fingerprint])
            .args(["--user", "demo", "--password-file"])
            .arg(data_dir.join("demo.password"))
            .arg("demo")
            .output()
            .context("viewer signin")?;
        anyhow::ensure!(
            out.status.success(),
            "signin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }
}

impl Drop for LanHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
