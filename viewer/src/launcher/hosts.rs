//! Saved hosts (`hosts.json` in the config directory) and what the user
//! types to add one: `HOST:PORT` and the certificate fingerprint the host
//! printed. A host is known by its fingerprint: that is what gets pinned.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::platform::files::{Access, write_atomically};

pub const HOSTS_FILE: &str = "hosts.json";

/// The port `host serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 47990;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHost {
    /// For people: the host's advertised name, or its address.
    pub name: String,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub address: String,
    pub port: u16,
    /// SHA-256 of its certificate, 64 lower-case hex digits.
    pub fingerprint_hex: String,
}

impl SavedHost {
    /// `https://HOST:PORT`: the API, the entitlement service and `/stream`.
    pub fn base_url(&self) -> String {
        format!("https://{}", authority(&self.address, self.port))
    }

    pub fn authority(&self) -> String {
        authority(&self.address, self.port)
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // Checked when the host was added; a hand-edited file pins to zeros
        // and fails with a certificate mismatch, in words.
        let _ = hex::decode_to_slice(&self.fingerprint_hex, &mut bytes);
        bytes
    }
}

/// `HOST:PORT`, with brackets around an IPv6 address.
pub fn authority(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Reads what the user typed: `HOST:PORT`, `HOST` (default port),
/// `[IPv6]:PORT` or `https://HOST:PORT/`. Returns (address, port).
pub fn parse_address(text: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "“{}” is not an address like 192.168.1.20:{DEFAULT_PORT}.",
            text.trim()
        )
    };
    let rest = text.trim();
    let rest = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("appstream://"))
        .unwrap_or(rest);
    let rest = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else if rest.matches(':').count() > 1 {
        // A bare IPv6 address, no port.
        (rest, None)
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'));
    if !valid_host {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad()),
        },
    };
    Ok((host.to_string(), port))
}

/// The fingerprint as the host printed it (colons and spaces allowed), as
/// 64 lower-case hex digits.
pub fn parse_fingerprint_hex(text: &str) -> Result<String, String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    if digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(digits)
    } else {
        Err(
            "The fingerprint must be the 64 hexadecimal digits the host printed \
             (or leave it empty to see the host's)."
                .to_string(),
        )
    }
}

/// A fingerprint for people: groups of four, two lines.
pub fn grouped_fingerprint(hex: &str) -> String {
    let groups: Vec<&str> = hex
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or("????"))
        .collect();
    groups
        .chunks(8)
        .map(|line| line.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHosts {
    pub hosts: Vec<SavedHost>,
}

impl SavedHosts {
    /// Reads `hosts.json`; missing is empty, broken is empty plus words.
    pub fn load(path: &Path) -> (SavedHosts, Option<String>) {
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(hosts) => (hosts, None),
                Err(e) => (
                    SavedHosts::default(),
                    Some(format!(
                        "{HOSTS_FILE} line {}: {e}; the saved hosts are not shown.",
                        e.line()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (SavedHosts::default(), None),
            Err(e) => (
                SavedHosts::default(),
                Some(format!("{HOSTS_FILE} cannot be read: {e}")),
            ),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json, Access::Default)
    }

    pub fn find(&self, fingerprint_hex: &str) -> Option<&SavedHost> {
        self.hosts
            .iter()
            .find(|h| h.fingerprint_hex == fingerprint_hex)
    }

    /// Adds a host, or updates the one with the same fingerprint (a host
    /// that moved to another address); returns its index.
    pub fn upsert(&mut self, host: SavedHost) -> usize {
        match self
            .hosts
            .iter()
            .position(|h| h.fingerprint_hex == host.fingerprint_hex)
        {
            Some(i) => {
                let old = &mut self.hosts[i];
                // Keep a real name over an address-as-name.
                let name = if host.name == host.authority() && old.name != old.authority() {
                    old.name.clone()
                } else {
                    host.name
                };
                *old = SavedHost { name, ..host };
                i
            }
            None => {
                self.hosts.push(host);
                self.hosts.len() - 1
            }
        }
    }

    pub fn remove(&mut self, fingerprint_hex: &str) {
        self.hosts.retain(|h| h.fingerprint_hex != fingerprint_hex);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_people_type_them() {
        let ok = |t: &str| parse_address(t).unwrap();
        assert_eq!(ok("192.168.1.20:47990"), ("192.168.1.20".into(), 47990));
        assert_eq!(
            ok(" gamebox.local "),
            ("gamebox.local".into(), DEFAULT_PORT)
        );
        assert_eq!(ok("https://127.0.0.1:4000/"), ("127.0.0.1".into(), 4000));
        assert_eq!(ok("[::1]:5000"), ("::1".into(), 5000));
        assert_eq!(ok("fe80::1"), ("fe80::1".into(), DEFAULT_PORT));
        for bad in [
            "",
            ":80",
            "host:0",
            "host:99999",
            "host:x",
            "a b:1",
            "[::1",
            "[::1]x",
        ] {
            let e = parse_address(bad).unwrap_err();
            assert!(e.contains("is not an address like"), "{bad}: {e}");
        }
        let host = SavedHost {
            name: "x".into(),
            address: "::1".into(),
            port: 5000,
            fingerprint_hex: "00".repeat(32),
        };
        assert_eq!(host.base_url(), "https://[::1]:5000");
    }

    #[test]
    fn fingerprints_as_hosts_print_them() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_fingerprint_hex(&hex.to_uppercase()), Ok(hex.clone()));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint_hex(&colons), Ok(hex.clone()));
        assert!(parse_fingerprint_hex("abcd").is_err());
        assert!(parse_fingerprint_hex(&"zz".repeat(32)).is_err());
        let grouped = grouped_fingerprint(&hex);
        assert_eq!(grouped.lines().count(), 2);
        assert!(grouped.starts_with("abab abab "));
    }

    #[test]
    fn hosts_are_known_by_fingerprint() {
        let mut hosts = SavedHosts::default();
        let a = SavedHost {
            name: "Living room".into(),
            address: "10.0.0.2".into(),
            port: 47990,
            fingerprint_hex: "aa".repeat(32),
        };
        assert_eq!(hosts.upsert(a.clone()), 0);
        let moved = SavedHost {
            name: "10.0.0.3:47990".into(),
            address: "10.0.0.3".into(),
            ..a.clone()
        };
        assert_eq!(hosts.upsert(moved), 0);
        assert_eq!(hosts.hosts.len(), 1);
        assert_eq!(hosts.hosts[0].address, "10.0.0.3");
        assert_eq!(hosts.hosts[0].name, "Living room");
        hosts.remove(&a.fingerprint_hex);
        assert!(hosts.hosts.is_empty());
    }
}
