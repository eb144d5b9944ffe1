//! SQLite backend: one file in the data directory, WAL journal, migrations
//! by `user_version`. One connection behind a mutex: every call is a short
//! statement or transaction, and serialising them is what makes the session
//! limit check atomic. Other processes (`host users ...` while the host runs)
//! share the file through SQLite's locking, with a busy timeout.

mod applications;
mod audit;
mod fleet;
mod guards;
mod identity;
mod sessions;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::{StoreResult, rfc3339};

pub const DATABASE_FILE: &str = "control-plane.sqlite3";

const SCHEMA_V1: &str = r#"
CREATE TABLE applications (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    working_dir TEXT,
    icon TEXT,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    fps INTEGER NOT NULL,
    bitrate_kbps INTEGER,
    max_sessions INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ENABLED', 'DISABLED')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    application TEXT NOT NULL,
    user TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'ACTIVE', 'TERMINATED')),
    reason TEXT,
    token_hash TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    activated_at INTEGER,
    terminated_at INTEGER
);
CREATE INDEX sessions_by_application ON sessions (application, state);
CREATE INDEX sessions_by_state ON sessions (state);
CREATE TABLE application_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    session TEXT,
    exit_status INTEGER,
    stderr_tail TEXT
);
CREATE INDEX application_errors_by_application ON application_errors (application);
CREATE TABLE principals (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'role')),
    password_hash TEXT,
    totp_secret TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE access_keys (
    key_id TEXT PRIMARY KEY,
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    session_token TEXT
);
CREATE INDEX access_keys_by_principal ON access_keys (principal);
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE policy_attachments (
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    policy TEXT NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
    PRIMARY KEY (principal, policy)
);
CREATE TABLE entitlements (
    user TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    application TEXT NOT NULL,
    PRIMARY KEY (user, application)
);
CREATE TABLE signin_tokens (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    principal TEXT,
    key_id TEXT,
    source_ip TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT,
    resource TEXT,
    decision TEXT NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT
);
"#;

/// "Remember me": refresh tokens of the entitlement service (hashes only),
/// single use, each bound to a user and to whether the sign-in had MFA.
const SCHEMA_V2_REFRESH_TOKENS: &str = r#"
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user);
"#;

/// Hardening: refresh tokens are kept (marked used) until they expire and
/// belong to a family, so a reused one revokes its whole chain; each user's
/// last accepted TOTP step, so a code works once; indexes for the per-user
/// pending cap and the audit retention.
const SCHEMA_V3_HARDENING: &str = r#"
ALTER TABLE refresh_tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN used INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET family = token_hash;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
ALTER TABLE principals ADD COLUMN totp_last_step INTEGER;
CREATE INDEX sessions_by_user ON sessions (user, state);
CREATE INDEX audit_log_by_at ON audit_log (at);
"#;

/// One-time console enrolment links (`host console enrol USER`).
const SCHEMA_V4_CONSOLE: &str = r#"
CREATE TABLE console_enrolments (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"#;

/// A fleet's shared guards (used when hosts share a database; kept in
/// both backends so the store suite runs them on both).
const SCHEMA_V5_GUARDS: &str = r#"
CREATE TABLE request_nonces (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE INDEX request_nonces_by_at ON request_nonces (at);
CREATE TABLE signin_failures (
    subject TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX signin_failures_by_subject ON signin_failures (subject, at);
CREATE INDEX signin_failures_by_at ON signin_failures (at);
"#;

/// The hosts of a fleet (on SQLite, this one) and where sessions stream.
const SCHEMA_V6_FLEET: &str = r#"
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    live_sessions INTEGER NOT NULL,
    cpu_pct REAL NOT NULL,
    applications TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('AVAILABLE', 'UNAVAILABLE'))
);
ALTER TABLE sessions ADD COLUMN host TEXT;
CREATE INDEX sessions_by_host ON sessions (host, state);
"#;

/// Each host's `--max-sessions`, for placement.
const SCHEMA_V7_HOST_CAPACITY: &str =
    "ALTER TABLE hosts ADD COLUMN max_sessions INTEGER NOT NULL DEFAULT 0;";

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(SCHEMA_V1),
        M::up(SCHEMA_V2_REFRESH_TOKENS),
        M::up(SCHEMA_V3_HARDENING),
        M::up(SCHEMA_V4_CONSOLE),
        M::up(SCHEMA_V5_GUARDS),
        M::up(SCHEMA_V6_FLEET),
        M::up(SCHEMA_V7_HOST_CAPACITY),
    ])
}

pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) the database in `data_dir`. The file
    /// holds access key secrets, so it is private to the owner.
    pub fn open_in(data_dir: &Path) -> StoreResult<Self> {
        Self::open_file(&data_dir.join(DATABASE_FILE))
    }

    /// Opens (creating and migrating) the database file at `path`, private
    /// to the owner.
    pub fn open_file(path: &Path) -> StoreResult<Self> {
        let store = Self::open(Connection::open(path)?)?;
        if let Err(e) = crate::platform::make_private(path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the database private");
        }
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StoreResult<Self> {
        Self::open(Connection::open_in_memory()?)
    }

    fn open(mut connection: Connection) -> StoreResult<Self> {
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        migrations().to_latest(&mut connection)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves a consistent database
        // (transactions roll back on drop), so the guard is still usable.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
