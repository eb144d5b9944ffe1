//! "Remember me": `credentials.json` (mode 0600) in the config directory
//! keeps, per host fingerprint, the user name and the refresh token the
//! entitlement service issued. Never a password. The refresh token is
//! single-use: each refresh rotates it and the new one replaces it here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::platform::files::{Access, write_atomically};

pub const CREDENTIALS_FILE: &str = "credentials.json";

/// A secret string: `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// For a text field to edit in place.
    pub fn as_mut_string(&mut self) -> &mut String {
        &mut self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub user: String,
    pub refresh_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<String>,
}

/// Keyed by the host's certificate fingerprint (hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub hosts: BTreeMap<String, Remembered>,
}

impl Credentials {
    /// Reads the file; missing or broken is empty (the user signs in again).
    pub fn load(path: &Path) -> Credentials {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "credentials.json is broken; ignoring it");
                Credentials::default()
            }),
            Err(_) => Credentials::default(),
        }
    }

    /// Writes the file with mode 0600.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json, Access::Private)
    }

    pub fn get(&self, fingerprint_hex: &str) -> Option<&Remembered> {
        self.hosts.get(fingerprint_hex)
    }

    pub fn remember(&mut self, fingerprint_hex: &str, remembered: Remembered) {
        self.hosts.insert(fingerprint_hex.to_string(), remembered);
    }

    pub fn forget(&mut self, fingerprint_hex: &str) -> Option<Remembered> {
        self.hosts.remove(fingerprint_hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let remembered = Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("r-secret"),
            refresh_expires_at: None,
        };
        let debug = format!("{remembered:?}");
        assert!(!debug.contains("r-secret"), "{debug}");
        assert!(debug.contains("demo"));
    }

    #[test]
    fn the_file_is_private_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("launcher-cred-{}", std::process::id()));
        let path = dir.join(CREDENTIALS_FILE);
        let mut credentials = Credentials::default();
        credentials.remember(
            &"ab".repeat(32),
            Remembered {
                user: "demo".into(),
                refresh_token: Secret::new("token-1"),
                refresh_expires_at: Some("2030-01-01T00:00:00Z".into()),
            },
        );
        credentials.save(&path).unwrap();
        if let Some(bits) = crate::platform::files::permission_bits(&path).unwrap() {
            assert_eq!(bits, 0o600);
        }
        assert_eq!(Credentials::load(&path), credentials);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Credentials::load(&path), Credentials::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
