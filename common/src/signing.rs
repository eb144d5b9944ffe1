//! Request signing for the AppStream-style API: HMAC-SHA256 over method,
//! path, sorted query, timestamp, nonce and the body's hash. Both sides use
//! this module (clients sign, the host verifies), so the canonical form is
//! written once. The scheme is documented in the README.

use std::collections::{HashMap, VecDeque};

use ring::{digest, hmac};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SCHEME: &str = "HMAC-SHA256";
pub const DATE_HEADER: &str = "x-date";
pub const NONCE_HEADER: &str = "x-nonce";
/// Temporary credentials (the machine role) also present their session token.
pub const SESSION_TOKEN_HEADER: &str = "x-session-token";
/// A request dated further than this from the host's clock is refused.
pub const MAX_CLOCK_SKEW_S: i64 = 300;
/// Nonces are 8 to 64 printable characters.
const NONCE_LEN: std::ops::RangeInclusive<usize> = 8..=64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SigningError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("Authorization must be `HMAC-SHA256 Credential=KEY_ID, Signature=HEX`")]
    MalformedAuthorization,
    #[error("X-Date is not an RFC 3339 UTC time: {0:?}")]
    MalformedDate(String),
    #[error("X-Nonce must be 8 to 64 characters of [A-Za-z0-9_-]")]
    MalformedNonce,
    #[error("X-Date is {skew_s} s away from the host's clock (at most {MAX_CLOCK_SKEW_S} s)")]
    StaleDate { skew_s: i64 },
    #[error("signature does not match")]
    BadSignature,
    #[error("nonce already used: the request is a replay")]
    Replay,
}

/// The parts of a request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string without `?` (percent-encoded as sent), or "".
    pub query: &'a str,
    pub date: &'a str,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

/// `name=value` pairs as sent, sorted bytewise, joined with `&`.
pub fn sorted_query(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

pub fn canonical_string(parts: &SignedParts<'_>) -> String {
    let body_hash = hex::encode(digest::digest(&digest::SHA256, parts.body));
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method.to_ascii_uppercase(),
        parts.path,
        sorted_query(parts.query),
        parts.date,
        parts.nonce,
        body_hash
    )
}

/// Hex HMAC-SHA256 of the canonical string under `secret`.
pub fn sign(secret: &str, parts: &SignedParts<'_>) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, canonical_string(parts).as_bytes()))
}

/// Constant-time check of a hex signature.
pub fn verify(secret: &str, parts: &SignedParts<'_>, signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, canonical_string(parts).as_bytes(), &signature).is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub key_id: String,
    pub signature_hex: String,
}

pub fn format_authorization(key_id: &str, signature_hex: &str) -> String {
    format!("{SCHEME} Credential={key_id}, Signature={signature_hex}")
}

pub fn parse_authorization(header: &str) -> Result<Authorization, SigningError> {
    let rest = header
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(SigningError::MalformedAuthorization)?;
    let (mut key_id, mut signature_hex) = (None, None);
    for field in rest.split(',') {
        let (name, value) = field
            .trim()
            .split_once('=')
            .ok_or(SigningError::MalformedAuthorization)?;
        match name {
            "Credential" if key_id.is_none() => key_id = Some(value),
            "Signature" if signature_hex.is_none() => signature_hex = Some(value),
            _ => return Err(SigningError::MalformedAuthorization),
        }
    }
    match (key_id, signature_hex) {
        (Some(k), Some(s)) if !k.is_empty() && s.len() == 64 => Ok(Authorization {
            key_id: k.to_string(),
            signature_hex: s.to_ascii_lowercase(),
        }),
        _ => Err(SigningError::MalformedAuthorization),
    }
}

/// RFC 3339 UTC with whole seconds, e.g. `2026-11-22T18:00:00Z`.
pub fn format_date(unix_s: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_date(date: &str) -> Result<i64, SigningError> {
    OffsetDateTime::parse(date, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| SigningError::MalformedDate(date.chars().take(40).collect()))
}

pub fn check_nonce(nonce: &str) -> Result<(), SigningError> {
    let ok = NONCE_LEN.contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SigningError::MalformedNonce)
    }
}

pub fn check_skew(date_unix_s: i64, now_unix_s: i64) -> Result<(), SigningError> {
    let skew_s = date_unix_s - now_unix_s;
    if skew_s.abs() > MAX_CLOCK_SKEW_S {
        Err(SigningError::StaleDate { skew_s })
    } else {
        Ok(())
    }
}

/// Remembers (key, nonce) pairs for as long as their date is acceptable, so a
/// captured request cannot be sent again. Bounded: the oldest entries go first
/// once `capacity` is reached (a flood cannot grow it without end).
#[derive(Debug)]
pub struct NonceCache {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, (String, String))>,
    capacity: usize,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Records the nonce; `Err(Replay)` when it was seen before in the window.
    pub fn check_and_insert(
        &mut self,
        key_id: &str,
        nonce: &str,
        now_unix_s: i64,
    ) -> Result<(), SigningError> {
        self.forget_before(now_unix_s - 2 * MAX_CLOCK_SKEW_S);
        let entry = (key_id.to_string(), nonce.to_string());
        if self.seen.contains_key(&entry) {
            return Err(SigningError::Replay);
        }
        while self.seen.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&oldest);
        }
        self.seen.insert(entry.clone(), now_unix_s);
        self.order.push_back((now_unix_s, entry));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn forget_before(&mut self, cutoff_unix_s: i64) {
        while let Some((at, _)) = self.order.front() {
            if *at >= cutoff_unix_s {
                break;
            }
            if let Some((_, entry)) = self.order.pop_front() {
                self.seen.remove(&entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts<'a>(body: &'a [u8], query: &'a str) -> SignedParts<'a> {
        SignedParts {
            method: "POST",
            path: "/api/applications/demo/sessions",
            query,
            date: "2026-11-22T18:00:00Z",
            nonce: "n0nce-123",
            body,
        }
    }

    #[test]
    fn canonical_string_is_as_documented() {
        let s = canonical_string(&parts(b"", "b=2&a=1"));
        assert_eq!(
            s,
            "POST\n/api/applications/demo/sessions\na=1&b=2\n2026-11-22T18:00:00Z\nn0nce-123\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signature_covers_body_and_query() {
        let signature = sign("secret", &parts(b"{}", "a=1"));
        assert!(verify("secret", &parts(b"{}", "a=1"), &signature));
        assert!(!verify("secret", &parts(b"{ }", "a=1"), &signature));
        assert!(!verify("secret", &parts(b"{}", "a=2"), &signature));
        assert!(!verify("other", &parts(b"{}", "a=1"), &signature));
        assert!(!verify("secret", &parts(b"{}", "a=1"), "zz"));
    }

    #[test]
    fn authorization_round_trips_and_refuses_garbage() {
        let header = format_authorization("AK123", &"ab".repeat(32));
        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(parsed.key_id, "AK123");
        for bad in [
            "",
            "Bearer x",
            "HMAC-SHA256 Credential=AK",
            "HMAC-SHA256 Credential=AK, Signature=00",
            "HMAC-SHA256 Credential=, Signature=",
        ] {
            assert_eq!(
                parse_authorization(bad),
                Err(SigningError::MalformedAuthorization),
                "{bad}"
            );
        }
    }

    #[test]
    fn dates_and_skew() {
        let t = parse_date("2026-11-22T18:00:00Z").unwrap();
        assert_eq!(format_date(t), "2026-11-22T18:00:00Z");
        assert!(parse_date("yesterday").is_err());
        assert!(check_skew(t + 300, t).is_ok());
        assert_eq!(
            check_skew(t + 301, t),
            Err(SigningError::StaleDate { skew_s: 301 })
        );
        assert!(check_skew(t - 301, t).is_err());
    }

    #[test]
    fn nonces_are_single_use_within_the_window() {
        let mut cache = NonceCache::new(1000);
        assert!(cache.check_and_insert("k", "n1", 1000).is_ok());
        assert_eq!(
            cache.check_and_insert("k", "n1", 1100),
            Err(SigningError::Replay)
        );
        // Another key may use the same nonce.
        assert!(cache.check_and_insert("k2", "n1", 1100).is_ok());
        // Long after, the entry is gone, but the date check refuses such a request anyway.
        assert!(
            cache
                .check_and_insert("k", "n1", 1000 + 2 * MAX_CLOCK_SKEW_S + 1)
                .is_ok()
        );
        assert!(check_nonce("short").is_err());
        assert!(check_nonce("abcdefgh-_1").is_ok());
        assert!(check_nonce("abcdefgh with space").is_err());
    }

    #[test]
    fn nonce_cache_is_bounded() {
        let mut cache = NonceCache::new(10);
        for i in 0..100 {
            cache
                .check_and_insert("k", &format!("nonce-{i}"), 5)
                .unwrap();
        }
        assert_eq!(cache.len(), 10);
    }

    proptest! {
        #[test]
        fn parse_authorization_never_panics(s in ".{0,200}") {
            let _ = parse_authorization(&s);
            let _ = parse_date(&s);
        }
    }
}
