//! The host owner's bounds on what clients may make it hold: connections,
//! unused entitlements per user, the audit log's size and age, the replay
//! cache. One struct, filled from the command line, read by the server,
//! the control plane and the audit sweeper.

use crate::control_plane::connection_limits::Limits;

/// Default for `--max-pending-per-user`: enough for a retry while the
/// first link is still being opened.
pub const DEFAULT_MAX_PENDING_PER_USER: u32 = 2;
pub const DEFAULT_AUDIT_MAX_ROWS: u64 = 100_000;
pub const DEFAULT_AUDIT_MAX_DAYS: u64 = 90;
/// Signed API requests per second the replay cache is sized for, over its
/// whole window (2,000/s × 600 s): far above what a host is asked.
pub const REPLAY_CACHE_REQUESTS_PER_S: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention {
    pub max_rows: u64,
    pub max_age_s: i64,
}

impl Default for AuditRetention {
    fn default() -> Self {
        Self {
            max_rows: DEFAULT_AUDIT_MAX_ROWS,
            max_age_s: DEFAULT_AUDIT_MAX_DAYS as i64 * 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guards {
    pub connections: Limits,
    pub max_pending_per_user: u32,
    pub audit: AuditRetention,
    /// Nonces the replay cache holds; when full of live ones, signed
    /// requests are refused (503) until the oldest age out.
    pub replay_cache_capacity: usize,
    /// Hosts share the database (a fleet): nonces are recorded in it, so a
    /// request replayed to another host is refused as on this one.
    pub shared: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            connections: Limits::default(),
            max_pending_per_user: DEFAULT_MAX_PENDING_PER_USER,
            audit: AuditRetention::default(),
            replay_cache_capacity: common::signing::NonceCache::capacity_for(
                REPLAY_CACHE_REQUESTS_PER_S,
            ),
            shared: false,
        }
    }
}
