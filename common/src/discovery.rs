//! LAN discovery (DNS-SD over mDNS): the service type hosts advertise and
//! what their TXT record says. Sans-IO: the host's advertiser and the
//! viewer's browser (both with `mdns-sd`) only translate to and from this.
//!
//! The TXT record repeats the SRV record's port so that an advert is
//! complete on its own; the certificate fingerprint is what the viewer pins
//! when it connects, so an advert never needs to be trusted for more than
//! "there is probably a host here".

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// DNS-SD service type of a host's HTTPS port (API, entitlement service, stream).
pub const SERVICE_TYPE: &str = "_appstream._tcp.local.";

/// TXT keys.
pub const KEY_NAME: &str = "name";
pub const KEY_PORT: &str = "port";
pub const KEY_FINGERPRINT: &str = "fp";
pub const KEY_PROTOCOL_VERSION: &str = "proto";

/// A name fits one DNS label (the instance name is built from it).
pub const MAX_NAME_BYTES: usize = 63;

/// What a host says about itself on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAdvert {
    /// For people: the machine's name by default.
    pub name: String,
    /// The TLS port of the API, the entitlement service and `/stream`.
    pub port: u16,
    /// SHA-256 of the host's certificate, 64 lower-case hex digits.
    pub fingerprint_hex: String,
    /// `control::PROTOCOL_VERSION` of the host.
    pub protocol_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiscoveryError {
    #[error("the advert has no {0:?} entry")]
    Missing(&'static str),
    #[error("the advert's name is empty or longer than {MAX_NAME_BYTES} bytes")]
    BadName,
    #[error("the advert's port {0:?} is not a port number")]
    BadPort(String),
    #[error("the advert's fingerprint is not 64 hex digits")]
    BadFingerprint,
    #[error("the advert's protocol version {0:?} is not a number")]
    BadProtocolVersion(String),
}

impl HostAdvert {
    /// The TXT record's entries.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        vec![
            (KEY_NAME.to_string(), self.name.clone()),
            (KEY_PORT.to_string(), self.port.to_string()),
            (KEY_FINGERPRINT.to_string(), self.fingerprint_hex.clone()),
            (
                KEY_PROTOCOL_VERSION.to_string(),
                self.protocol_version.to_string(),
            ),
        ]
    }

    /// Reads a TXT record's entries (keys are case-insensitive, unknown keys
    /// are ignored so later hosts may add some).
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<HostAdvert, DiscoveryError> {
        let (mut name, mut port, mut fingerprint, mut protocol) = (None, None, None, None);
        for (key, value) in properties {
            let value = value.as_ref().to_string();
            let key = key.as_ref().to_ascii_lowercase();
            match key.as_str() {
                KEY_NAME => name = Some(value),
                KEY_PORT => port = Some(value),
                KEY_FINGERPRINT => fingerprint = Some(value),
                KEY_PROTOCOL_VERSION => protocol = Some(value),
                _ => {}
            }
        }
        let name = name.ok_or(DiscoveryError::Missing(KEY_NAME))?;
        if name.trim().is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(DiscoveryError::BadName);
        }
        let port = port.ok_or(DiscoveryError::Missing(KEY_PORT))?;
        let port = match port.trim().parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(DiscoveryError::BadPort(truncated(&port))),
        };
        let fingerprint = fingerprint.ok_or(DiscoveryError::Missing(KEY_FINGERPRINT))?;
        let fingerprint = fingerprint.trim();
        if fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DiscoveryError::BadFingerprint);
        }
        let protocol = protocol.ok_or(DiscoveryError::Missing(KEY_PROTOCOL_VERSION))?;
        let protocol_version = protocol
            .trim()
            .parse::<u32>()
            .map_err(|_| DiscoveryError::BadProtocolVersion(truncated(&protocol)))?;
        Ok(HostAdvert {
            name,
            port,
            fingerprint_hex: fingerprint.to_ascii_lowercase(),
            protocol_version,
        })
    }

    /// The fingerprint as bytes, for pinning.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // from_properties checked it; a hand-made advert with a bad one pins to zeros.
        let _ = hex::decode_to_slice(&self.fingerprint_hex, &mut bytes);
        bytes
    }
}

/// Outside text in errors: short.
fn truncated(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn advert() -> HostAdvert {
        HostAdvert {
            name: "living-room".into(),
            port: 47990,
            fingerprint_hex: "ab".repeat(32),
            protocol_version: 1,
        }
    }

    fn with(key: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut properties: Vec<(String, String)> = advert()
            .to_properties()
            .into_iter()
            .filter(|(k, _)| k != key)
            .collect();
        if let Some(value) = value {
            properties.push((key.to_string(), value.to_string()));
        }
        properties
    }

    #[test]
    fn round_trip_ignoring_unknown_keys_and_key_case() {
        let mut properties = advert().to_properties();
        properties.push(("future".into(), "x".into()));
        assert_eq!(HostAdvert::from_properties(properties), Ok(advert()));
        let upper = [
            ("NAME", "living-room"),
            ("Port", "47990"),
            ("FP", &"AB".repeat(32)),
            ("proto", "1"),
        ];
        assert_eq!(HostAdvert::from_properties(upper), Ok(advert()));
        assert_eq!(advert().fingerprint(), [0xab; 32]);
        assert!(SERVICE_TYPE.ends_with("._tcp.local."));
    }

    #[test]
    fn a_malformed_fingerprint_is_refused() {
        for bad in [
            "",
            "ab",
            &"ab".repeat(33),
            &"zz".repeat(32),
            &"a:".repeat(32),
        ] {
            assert_eq!(
                HostAdvert::from_properties(with(KEY_FINGERPRINT, Some(bad))),
                Err(DiscoveryError::BadFingerprint),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_and_malformed_entries_are_errors() {
        for key in [KEY_NAME, KEY_PORT, KEY_FINGERPRINT, KEY_PROTOCOL_VERSION] {
            assert_eq!(
                HostAdvert::from_properties(with(key, None)),
                Err(DiscoveryError::Missing(key))
            );
        }
        for bad in ["0", "65536", "-1", "http"] {
            assert!(matches!(
                HostAdvert::from_properties(with(KEY_PORT, Some(bad))),
                Err(DiscoveryError::BadPort(_))
            ));
        }
        for bad in ["", " ", &"n".repeat(64)] {
            assert_eq!(
                HostAdvert::from_properties(with(KEY_NAME, Some(bad))),
                Err(DiscoveryError::BadName)
            );
        }
        assert!(matches!(
            HostAdvert::from_properties(with(KEY_PROTOCOL_VERSION, Some("v1"))),
            Err(DiscoveryError::BadProtocolVersion(_))
        ));
    }

    proptest! {
        #[test]
        fn valid_adverts_round_trip(name in "[a-zA-Z0-9 ._-]{1,63}", port in 1u16.., fp: [u8; 32],
                                    protocol_version: u32) {
            prop_assume!(!name.trim().is_empty());
            let advert = HostAdvert { name, port, fingerprint_hex: hex::encode(fp), protocol_version };
            let parsed = HostAdvert::from_properties(advert.to_properties()).unwrap();
            prop_assert_eq!(parsed.fingerprint(), fp);
            prop_assert_eq!(parsed, advert);
        }

        #[test]
        fn any_entries_are_an_advert_or_an_error_never_a_panic(
            entries in proptest::collection::vec(("(?i)(name|port|fp|proto|x)", ".{0,80}"), 0..8)
        ) {
            let _ = HostAdvert::from_properties(entries);
        }
    }
}
