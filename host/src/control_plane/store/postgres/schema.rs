//! The schema, by version. It starts where SQLite's four migrations end;
//! later changes append a version to both backends.

use postgres::Client;

use crate::control_plane::store::StoreResult;

/// Any number unique to this schema: hosts migrating at once take turns.
const MIGRATION_LOCK: i64 = 0x6170_7073_7472_6d31;

const V1: &str = r#"
CREATE TABLE applications (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    working_dir TEXT,
    icon TEXT,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    fps BIGINT NOT NULL,
    bitrate_kbps BIGINT,
    max_sessions BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ENABLED', 'DISABLED')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    application TEXT NOT NULL,
    "user" TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'ACTIVE', 'TERMINATED')),
    reason TEXT,
    token_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    activated_at BIGINT,
    terminated_at BIGINT
);
CREATE INDEX sessions_by_application ON sessions (application, state);
CREATE INDEX sessions_by_state ON sessions (state);
CREATE INDEX sessions_by_user ON sessions ("user", state);
CREATE TABLE application_errors (
    id BIGSERIAL PRIMARY KEY,
    application TEXT NOT NULL,
    at BIGINT NOT NULL,
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
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    totp_last_step BIGINT
);
CREATE TABLE access_keys (
    key_id TEXT PRIMARY KEY,
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    session_token TEXT
);
CREATE INDEX access_keys_by_principal ON access_keys (principal);
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE policy_attachments (
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    policy TEXT NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
    PRIMARY KEY (principal, policy)
);
CREATE TABLE entitlements (
    "user" TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    application TEXT NOT NULL,
    PRIMARY KEY ("user", application)
);
CREATE TABLE signin_tokens (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL,
    family TEXT NOT NULL DEFAULT '',
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens ("user");
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE TABLE console_enrolments (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    mfa BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
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
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TABLE request_nonces (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
CREATE INDEX request_nonces_by_at ON request_nonces (at);
CREATE TABLE signin_failures (
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX signin_failures_by_subject ON signin_failures (subject, at);
CREATE INDEX signin_failures_by_at ON signin_failures (at);
"#;

/// The hosts of a fleet and where sessions stream.
const V2: &str = r#"
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    live_sessions BIGINT NOT NULL,
    cpu_pct DOUBLE PRECISION NOT NULL,
    applications TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('AVAILABLE', 'UNAVAILABLE'))
);
ALTER TABLE sessions ADD COLUMN host TEXT;
CREATE INDEX sessions_by_host ON sessions (host, state);
"#;

/// Each host's `--max-sessions`, for placement.
const V3: &str = "ALTER TABLE hosts ADD COLUMN max_sessions BIGINT NOT NULL DEFAULT 0;";

/// CreateSession on a fleet in one round trip (see `create_placed_session`),
/// and the change notifications hosts listen for (see `listener`).
const V4: &str = include_str!("v4.sql");

const VERSIONS: [&str; 4] = [V1, V2, V3, V4];

/// Brings the database to the latest version, once however many hosts
/// call it together.
pub(super) fn migrate(client: &mut Client) -> StoreResult<()> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // "already exists, skipping" is every start but the first: not news.
    transaction.batch_execute("SET LOCAL client_min_messages = warning")?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL); \
         INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version);",
    )?;
    let current: i64 = transaction
        .query_one("SELECT version FROM schema_version", &[])?
        .get(0);
    for (index, sql) in VERSIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > current {
            transaction.batch_execute(sql)?;
            transaction.execute("UPDATE schema_version SET version = $1", &[&version])?;
            tracing::info!(version, "database migrated");
        }
    }
    transaction.commit()?;
    Ok(())
}
