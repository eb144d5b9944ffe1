//! Password hashing (argon2id, the argon2 crate's defaults: 19 MiB, 2
//! passes) and TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s, one
//! step of skew), through well-kept crates.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use totp_rs::{Secret, TOTP};

/// A PHC string (`$argon2id$v=19$...`).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Constant-time verification; a malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_password_in(&mut Vec::new(), password, phc)
}

/// The same, with argon2's working memory (~19 MiB) in `blocks`, kept by
/// the caller between checks: a long-lived checker thread reuses one buffer
/// instead of allocating and freeing one per attempt, which the allocator
/// would keep (RSS grew by the attempt under concurrent sign-ins).
pub fn verify_password_in(blocks: &mut Vec<Block>, password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    blocks.resize(params.block_count(), Block::default());
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *blocks)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    // `Output` compares in constant time.
    computed.is_ok_and(|computed| computed == expected)
}

/// Verifying against this when the user does not exist keeps the answer's
/// timing the same as for a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user").unwrap_or_default())
}

/// A random password for bootstrapped users: 20 characters of [a-z0-9].
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A fresh TOTP secret, base32 (what authenticator apps take).
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn totp(secret_base32: &str) -> Option<TOTP> {
    totp_with_skew(secret_base32, 1)
}

fn totp_with_skew(secret_base32: &str, skew_steps: u8) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_base32.to_string()).to_bytes().ok()?;
    TOTP::new(totp_rs::Algorithm::SHA1, 6, skew_steps, 30, bytes).ok()
}

/// The 30 s step (since the epoch) whose code `code` is: the current one or
/// one either side; None when it is none of them. The caller claims the
/// step so the code is accepted once.
pub fn totp_step(secret_base32: &str, code: &str, now_unix_s: i64) -> Option<i64> {
    // One step at a time (no skew), compared in constant time by totp-rs.
    let t = totp_with_skew(secret_base32, 0)?;
    let current = now_unix_s.max(0) / 30;
    // The newest first: a code valid for two steps claims the later one.
    [current + 1, current, current - 1]
        .into_iter()
        .filter(|step| *step >= 0)
        .find(|step| t.check(code.trim(), (*step * 30) as u64))
}

/// The code for a time (tests, and `host users totp-code` for scripts).
pub fn totp_code(secret_base32: &str, now_unix_s: i64) -> Option<String> {
    totp(secret_base32).map(|t| t.generate(now_unix_s.max(0) as u64))
}

/// The `otpauth://` URL an authenticator app scans.
pub fn totp_url(user: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/AppStream:{user}?secret={secret_base32}&issuer=AppStream&algorithm=SHA1&digits=6&period=30"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse ", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("no such user", "$argon2id$garbage"));
        // One buffer for many checks, as a checker thread keeps it.
        let mut blocks = Vec::new();
        for _ in 0..3 {
            assert!(verify_password_in(&mut blocks, "correct horse", &hash));
            assert!(!verify_password_in(&mut blocks, "wrong", &hash));
        }
        assert_eq!(blocks.len(), Params::default().block_count());
    }

    #[test]
    fn totp_follows_rfc_6238_steps() {
        let secret = new_totp_secret();
        let now = 1_800_000_000;
        let code = totp_code(&secret, now).unwrap();
        assert_eq!(code.len(), 6);
        let step = now / 30;
        assert_eq!(totp_step(&secret, &code, now), Some(step));
        assert_eq!(
            totp_step(&secret, &code, now + 30),
            Some(step),
            "one step late"
        );
        assert_eq!(totp_step(&secret, &code, now + 120), None);
        assert_eq!(totp_step(&secret, "000000x", now), None);
    }

    #[test]
    fn rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits) → 287082 (6).
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(totp_code(&secret, 59).unwrap(), "287082");
    }
}
