//! What every signed request reads and almost nothing writes: access keys,
//! principals and their attached policies, kept in memory while the
//! listener (see `listener`) hears the database's changes. Any change to
//! those tables, by any host or the admin CLI, empties the cache at once;
//! without a listening connection nothing is cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::control_plane::store::{AccessKey, Principal, StoreResult};

/// The safety net: an entry is read again after this long even when no
/// change was heard.
const ENTRY_TTL: Duration = Duration::from_secs(30);

type Entries<T> = HashMap<String, (Instant, T)>;

#[derive(Default)]
struct Tables {
    keys: Entries<AccessKey>,
    principals: Entries<Principal>,
    policies: Entries<Vec<(String, String)>>,
}

#[derive(Default)]
struct Inner {
    /// A listener is connected: changes will be heard.
    live: bool,
    /// Bumped by every change: a load that began before it is not kept.
    generation: u64,
    entries: Tables,
}

#[derive(Default)]
pub(super) struct IdentityCache {
    inner: Mutex<Inner>,
}

impl IdentityCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Something changed (heard, or written here): forget everything.
    pub(super) fn forget(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries = Tables::default();
    }

    /// The listener connected (changes will be heard) or lost its connection
    /// (what was cached may be stale, and nothing more is cached).
    pub(super) fn set_live(&self, live: bool) {
        let mut inner = self.lock();
        inner.live = live;
        inner.generation += 1;
        inner.entries = Tables::default();
    }

    pub(super) fn key(
        &self,
        key_id: &str,
        load: impl FnOnce() -> StoreResult<AccessKey>,
    ) -> StoreResult<AccessKey> {
        self.get_or_load(|e| &mut e.keys, key_id, load)
    }

    pub(super) fn principal(
        &self,
        name: &str,
        load: impl FnOnce() -> StoreResult<Principal>,
    ) -> StoreResult<Principal> {
        self.get_or_load(|e| &mut e.principals, name, load)
    }

    pub(super) fn attached_policies(
        &self,
        principal: &str,
        load: impl FnOnce() -> StoreResult<Vec<(String, String)>>,
    ) -> StoreResult<Vec<(String, String)>> {
        self.get_or_load(|e| &mut e.policies, principal, load)
    }

    /// Errors (a key that does not exist) are not kept.
    fn get_or_load<T: Clone>(
        &self,
        table: fn(&mut Tables) -> &mut Entries<T>,
        name: &str,
        load: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        let generation = {
            let mut inner = self.lock();
            if !inner.live {
                drop(inner);
                return load();
            }
            if let Some((at, value)) = table(&mut inner.entries).get(name)
                && at.elapsed() < ENTRY_TTL
            {
                return Ok(value.clone());
            }
            inner.generation
        };
        let value = load()?;
        let mut inner = self.lock();
        if inner.live && inner.generation == generation {
            table(&mut inner.entries).insert(name.to_string(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_plane::store::PrincipalKind;

    fn alice(enabled: bool) -> Principal {
        Principal {
            name: "alice".into(),
            kind: PrincipalKind::User,
            enabled,
            has_password: false,
            has_totp: false,
        }
    }

    #[test]
    fn nothing_is_kept_until_a_listener_hears_changes() {
        let cache = IdentityCache::default();
        cache.principal("alice", || Ok(alice(true))).unwrap();
        let reread = cache.principal("alice", || Ok(alice(false))).unwrap();
        assert!(!reread.enabled, "read again: no listener yet");
        cache.set_live(true);
        cache.principal("alice", || Ok(alice(true))).unwrap();
        let kept = cache.principal("alice", || panic!("kept")).unwrap();
        assert!(kept.enabled);
        cache.set_live(false);
        assert!(
            !cache
                .principal("alice", || Ok(alice(false)))
                .unwrap()
                .enabled
        );
    }

    #[test]
    fn a_change_heard_during_a_load_keeps_the_loaded_value_out() {
        let cache = IdentityCache::default();
        cache.set_live(true);
        let loaded = cache
            .principal("alice", || {
                cache.forget(); // heard while the row was in flight
                Ok(alice(true))
            })
            .unwrap();
        assert!(loaded.enabled);
        let reread = cache.principal("alice", || Ok(alice(false))).unwrap();
        assert!(!reread.enabled, "the stale load was not kept");
    }
}
