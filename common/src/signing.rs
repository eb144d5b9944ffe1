//! Request signing for the AppStream-style API: HMAC-SHA256 over method,
//! path, sorted query, timestamp, nonce and the body's hash. Both sides use
//! this module (clients sign, the host verifies), so the canonical form is
//! written once. The scheme is documented in the README.

use std::collections::{HashSet, VecDeque};

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
/// How long a nonce is remembered. A request seen at `t` carries a date within
/// `MAX_CLOCK_SKEW_S` of `t`, and that date stays acceptable until at most
/// `t + 2 * MAX_CLOCK_SKEW_S`: after that the date check refuses a replay.
pub const REPLAY_WINDOW_S: i64 = 2 * MAX_CLOCK_SKEW_S;
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
    #[error(
        "the replay cache is full: the host is refusing signed requests until older ones age out (at most {REPLAY_WINDOW_S} s)"
    )]
    ReplayCacheFull,
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

/// Remembers (key, nonce) pairs for exactly [`REPLAY_WINDOW_S`], so a captured
/// request cannot be sent again while its date is still acceptable.
///
/// Bounded without ever forgetting early: when `capacity` nonces are still
/// inside the window, a new request is refused with
/// [`SigningError::ReplayCacheFull`] rather than evicting one (an evicted nonce
/// could be replayed). Size it with [`NonceCache::for_window`] from the signed
/// request rate the host must sustain. Each entry is a 16-byte digest of the
/// key id and nonce plus its time: under 80 bytes with the tables' overhead.
#[derive(Debug)]
pub struct NonceCache {
    seen: HashSet<NonceId>,
    /// In the order seen, with the host's time then.
    order: VecDeque<(i64, NonceId)>,
    capacity: usize,
}

/// The first 16 bytes of SHA-256 over the key id and the nonce. A collision
/// could only refuse a request as a replay, never accept one.
type NonceId = [u8; 16];

fn nonce_id(key_id: &str, nonce: &str) -> NonceId {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&(key_id.len() as u64).to_le_bytes());
    context.update(key_id.as_bytes());
    context.update(nonce.as_bytes());
    let mut id = NonceId::default();
    let len = id.len();
    id.copy_from_slice(&context.finish().as_ref()[..len]);
    id
}

/// A nonce's id as a fleet's shared store keeps it (hex).
pub fn nonce_id_hex(key_id: &str, nonce: &str) -> String {
    hex::encode(nonce_id(key_id, nonce))
}

impl NonceCache {
    /// Holds at most `capacity` nonces at once; 0 refuses every request.
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Room for `max_requests_per_s` signed requests every second of the
    /// replay window, sustained: a capacity of `max_requests_per_s *
    /// REPLAY_WINDOW_S`. Memory grows with use, to under 80 bytes per entry
    /// (2,000/s: 1.2 million entries, under 100 MB).
    pub fn for_window(max_requests_per_s: usize) -> Self {
        Self::new(Self::capacity_for(max_requests_per_s))
    }

    /// The capacity [`NonceCache::for_window`] gives that rate.
    pub fn capacity_for(max_requests_per_s: usize) -> usize {
        let window_s = REPLAY_WINDOW_S.unsigned_abs() as usize;
        max_requests_per_s.saturating_mul(window_s)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records the nonce. `Err(Replay)` when it was seen within the window;
    /// `Err(ReplayCacheFull)` when `capacity` other nonces still are (nothing
    /// is evicted: the request may be retried once older ones age out).
    pub fn check_and_insert(
        &mut self,
        key_id: &str,
        nonce: &str,
        now_unix_s: i64,
    ) -> Result<(), SigningError> {
        self.forget_before(now_unix_s.saturating_sub(REPLAY_WINDOW_S));
        let id = nonce_id(key_id, nonce);
        if self.seen.contains(&id) {
            return Err(SigningError::Replay);
        }
        if self.seen.len() >= self.capacity {
            return Err(SigningError::ReplayCacheFull);
        }
        self.seen.insert(id);
        self.order.push_back((now_unix_s, id));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets the nonces seen before `cutoff_unix_s`. Should the clock step
    /// back, newer entries wait behind older ones: kept longer, never less.
    fn forget_before(&mut self, cutoff_unix_s: i64) {
        while let Some(&(at, id)) = self.order.front() {
            if at >= cutoff_unix_s {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
        for i in 0..10 {
            cache
                .check_and_insert("k", &format!("nonce-{i}"), 5)
                .unwrap();
        }
        // Full of nonces still inside the window: refused, nothing evicted.
        for i in 10..100 {
            assert_eq!(
                cache.check_and_insert("k", &format!("nonce-{i}"), 5 + i),
                Err(SigningError::ReplayCacheFull)
            );
        }
        assert_eq!(cache.len(), 10);
        assert_eq!(
            cache.check_and_insert("k", "nonce-0", 5 + REPLAY_WINDOW_S),
            Err(SigningError::Replay)
        );
        // Once the window has passed there is room again.
        let later = 5 + REPLAY_WINDOW_S + 1;
        assert!(cache.check_and_insert("k", "nonce-100", later).is_ok());
        assert_eq!(cache.len(), 1);
        assert!(cache.check_and_insert("k", "nonce-0", later).is_ok());
        assert!(
            SigningError::ReplayCacheFull
                .to_string()
                .contains("refusing signed requests until older ones age out")
        );
    }

    #[test]
    fn nonce_cache_sized_from_a_request_rate() {
        assert_eq!(NonceCache::for_window(2_000).capacity(), 1_200_000);
        assert_eq!(NonceCache::for_window(usize::MAX).capacity(), usize::MAX);
        let mut refuses_all = NonceCache::for_window(0);
        assert_eq!(
            refuses_all.check_and_insert("k", "nonce-1", 0),
            Err(SigningError::ReplayCacheFull)
        );
    }

    /// What the cache must do, from the whole history: key, nonce and the
    /// seconds since the previous request.
    fn run_nonce_cache(capacity: usize, requests: &[(u8, u8, i64)]) -> Result<(), TestCaseError> {
        let mut cache = NonceCache::new(capacity);
        let mut accepted_at: HashMap<(u8, u8), i64> = HashMap::new();
        let mut now = 1_800_000_000;
        for &(key, nonce, advance_s) in requests {
            now += advance_s;
            let live = accepted_at
                .values()
                .filter(|&&at| now - at <= REPLAY_WINDOW_S)
                .count();
            let seen_within_window = accepted_at
                .get(&(key, nonce))
                .is_some_and(|&at| now - at <= REPLAY_WINDOW_S);
            let result = cache.check_and_insert(&format!("k{key}"), &format!("nonce-{nonce}"), now);
            match result {
                Ok(()) => {
                    prop_assert!(!seen_within_window, "replay accepted at {now}");
                    prop_assert!(live < capacity);
                    accepted_at.insert((key, nonce), now);
                }
                Err(SigningError::Replay) => prop_assert!(seen_within_window),
                Err(SigningError::ReplayCacheFull) => {
                    prop_assert!(!seen_within_window);
                    prop_assert!(live >= capacity, "refused with {live} of {capacity}");
                }
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
            prop_assert!(cache.len() <= capacity);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_authorization_never_panics(s in ".{0,200}") {
            let _ = parse_authorization(&s);
            let _ = parse_date(&s);
        }

        /// No nonce accepted once is accepted again within the window, and a
        /// request is refused as full only when `capacity` nonces are live.
        #[test]
        fn no_nonce_is_accepted_twice_within_the_window(
            capacity in 0usize..8,
            requests in proptest::collection::vec(
                (0u8..3, 0u8..6, prop_oneof![Just(0i64), 0i64..60, 550i64..650]),
                0..200,
            ),
        ) {
            run_nonce_cache(capacity, &requests)?;
        }
    }
}
