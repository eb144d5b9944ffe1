//! Signed-in console browsers: a random cookie token (kept hashed, in
//! memory: a restart signs everyone out) with a CSRF token of its own.
//! Sans-IO: the caller passes the time.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;

use crate::control_plane::store::token_hash;

/// The session cookie; `PRE_SESSION_COOKIE` carries the CSRF token of the
/// sign-in and enrolment forms (double submit: there is no session yet).
pub const SESSION_COOKIE: &str = "console_session";
pub const PRE_SESSION_COOKIE: &str = "console_csrf";
/// Idle this long, a session ends; and at this age in any case.
const IDLE_S: i64 = 30 * 60;
const MAX_AGE_S: i64 = 12 * 3600;
/// Signed-in browsers kept at most (the oldest go first).
const MAX_SESSIONS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: String,
    pub csrf: String,
    created_at: i64,
    last_seen: i64,
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_token_hash: HashMap<String, ConsoleSession>,
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Signs `user` in: the cookie token (the only copy) and the session.
    pub fn open(&mut self, user: &str, now: i64) -> (String, ConsoleSession) {
        self.expire(now);
        if self.by_token_hash.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .by_token_hash
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            self.by_token_hash.remove(&oldest);
        }
        let token = random_token();
        let session = ConsoleSession {
            user: user.to_string(),
            csrf: random_token(),
            created_at: now,
            last_seen: now,
        };
        self.by_token_hash
            .insert(token_hash(&token), session.clone());
        (token, session)
    }

    /// The live session of a cookie token (its idle clock restarts).
    pub fn find(&mut self, token: &str, now: i64) -> Option<ConsoleSession> {
        let key = token_hash(token);
        let session = self.by_token_hash.get_mut(&key)?;
        if now - session.last_seen > IDLE_S || now - session.created_at > MAX_AGE_S {
            self.by_token_hash.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    pub fn close(&mut self, token: &str) {
        self.by_token_hash.remove(&token_hash(token));
    }

    /// Every session of `user` ends (disabled, password changed).
    pub fn close_all_of(&mut self, user: &str) {
        self.by_token_hash.retain(|_, s| s.user != user);
    }

    fn expire(&mut self, now: i64) {
        self.by_token_hash
            .retain(|_, s| now - s.last_seen <= IDLE_S && now - s.created_at <= MAX_AGE_S);
    }
}

/// A console cookie: only over TLS, never to scripts, never cross-site.
pub fn cookie(name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_s}"
    );
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

pub fn session_cookie(token: &str) -> HeaderValue {
    cookie(SESSION_COOKIE, token, MAX_AGE_S)
}

pub fn cleared(name: &str) -> HeaderValue {
    cookie(name, "", 0)
}

/// A cookie's value from the request's `Cookie` headers.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Two CSRF tokens are equal; compared as hashes, so the time taken says
/// nothing about the expected token.
pub fn same_token(expected: &str, given: &str) -> bool {
    !expected.is_empty() && token_hash(expected) == token_hash(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_old_or_closed() {
        let mut sessions = Sessions::default();
        let (token, session) = sessions.open("ada", 1_000);
        let found = sessions.find(&token, 1_000 + IDLE_S).unwrap();
        assert_eq!((found.user, found.csrf), (session.user, session.csrf));
        assert!(sessions.find(&token, 1_000 + 2 * IDLE_S + 1).is_none());
        let (token, _) = sessions.open("ada", 5_000);
        let mut now = 5_000;
        while now < 5_000 + MAX_AGE_S {
            now += IDLE_S - 1;
            if sessions.find(&token, now).is_none() {
                break;
            }
        }
        assert!(now <= 5_000 + MAX_AGE_S + IDLE_S && sessions.find(&token, now).is_none());
        let (token, _) = sessions.open("ada", 9_000);
        sessions.close_all_of("ada");
        assert!(sessions.find(&token, 9_000).is_none());
        assert!(sessions.find("not a token", 9_000).is_none());
    }

    #[test]
    fn cookies_are_http_only_secure_and_same_site_strict() {
        let value = session_cookie("abc");
        let text = value.to_str().unwrap();
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
            assert!(text.contains(flag), "{text}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; console_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(read_cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(read_cookie(&headers, PRE_SESSION_COOKIE), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}
