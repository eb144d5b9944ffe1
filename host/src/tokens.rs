//! Single-use session tokens (until the entitlement service exists, `host
//! serve` prints one inside a ready-to-use stream URL).

use std::collections::HashSet;
use std::sync::Mutex;

use rand::RngCore;

#[derive(Debug, Default)]
pub struct TokenStore {
    unused: Mutex<HashSet<String>>,
}

impl TokenStore {
    /// Mints a fresh random token (128 bits, hex).
    pub fn mint(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        self.lock().insert(token.clone());
        token
    }

    /// Consumes `token`; true only the first time a minted token is shown.
    pub fn redeem(&self, token: &str) -> bool {
        self.lock().remove(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A panic elsewhere while holding the lock leaves a usable set.
        self.unused.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_single_use() {
        let store = TokenStore::default();
        let token = store.mint();
        assert!(!store.redeem("nope"));
        assert!(store.redeem(&token));
        assert!(!store.redeem(&token));
    }
}
