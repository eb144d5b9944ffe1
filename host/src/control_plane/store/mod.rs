//! The control plane's state: applications, sessions, principals, access
//! keys, policies, entitlements and the audit log. Traits here; a SQLite
//! backend in `sqlite/` (one host, the default) and a PostgreSQL one in
//! `postgres/` (a fleet sharing one control plane); `tests/store_suite.rs`
//! runs the same cases on both.
//!
//! Times are Unix seconds passed in by the caller, so tests drive the clock.

mod open;
pub mod postgres;
pub mod sqlite;

use common::api::{
    Application, ApplicationError, ApplicationPatch, ApplicationState, ApplicationStatus,
    NewApplication, Session,
};
use thiserror::Error;

pub use open::Database;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// How long a sign-in to the entitlement service lasts.
pub const SIGNIN_TOKEN_TTL_S: i64 = 12 * 3600;
/// How long a "remember me" refresh token lasts; each use issues a new one
/// valid this long again.
pub const REFRESH_TOKEN_TTL_S: i64 = 30 * 24 * 3600;
/// How long a console enrolment link (`host console enrol USER`) works.
pub const ENROLMENT_TTL_S: i64 = 10 * 60;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("application {0} is disabled")]
    ApplicationDisabled(String),
    #[error("application {application} already has its maximum of {max_sessions} sessions")]
    ApplicationFull {
        application: String,
        max_sessions: u32,
    },
    #[error(
        "{user} already holds {max_pending} unused entitlements; use or let them expire (60 s) first"
    )]
    TooManyPending { user: String, max_pending: u32 },
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("database: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("database: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Why an entitlement token could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RedeemError {
    #[error("unknown entitlement")]
    Unknown,
    #[error("the entitlement was already used")]
    AlreadyUsed,
    #[error("the entitlement expired")]
    Expired,
    #[error("the application is disabled")]
    ApplicationDisabled,
    #[error("the entitlement is for another host of the fleet")]
    OtherHost,
}

pub trait ApplicationStore {
    fn create_application(&self, new: &NewApplication, now: i64) -> StoreResult<Application>;
    fn application(&self, name: &str) -> StoreResult<Application>;
    fn applications(&self) -> StoreResult<Vec<Application>>;
    fn update_application(
        &self,
        name: &str,
        patch: &ApplicationPatch,
        now: i64,
    ) -> StoreResult<Application>;
    /// Refused while the application has live sessions.
    fn delete_application(&self, name: &str) -> StoreResult<()>;
    fn set_application_state(
        &self,
        name: &str,
        state: ApplicationState,
        now: i64,
    ) -> StoreResult<Application>;
    fn application_status(&self, name: &str, now: i64) -> StoreResult<ApplicationStatus>;
    fn record_application_error(&self, error: &NewApplicationError, now: i64) -> StoreResult<i64>;
    fn application_errors(&self, name: &str) -> StoreResult<Vec<ApplicationError>>;
    fn application_error(&self, name: &str, id: i64) -> StoreResult<ApplicationError>;
}

#[derive(Debug, Clone, Default)]
pub struct NewApplicationError {
    pub application: String,
    pub kind: String,
    pub message: String,
    pub session: Option<String>,
    pub exit_status: Option<i32>,
    pub stderr_tail: Option<String>,
}

pub trait SessionStore {
    /// Creates a PENDING session, atomically checking that the application is
    /// enabled and below its session limit. `token_hash` is the SHA-256 (hex)
    /// of the entitlement token; only the hash is kept. The user may hold at
    /// most `max_pending_per_user` unredeemed entitlements (across
    /// applications) at once, checked in the same transaction.
    fn create_session(
        &self,
        application: &str,
        user: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
        max_pending_per_user: u32,
    ) -> StoreResult<Session>;
    fn sessions(&self, application: &str) -> StoreResult<Vec<Session>>;
    fn session(&self, application: &str, id: &str) -> StoreResult<Session>;
    /// PENDING → ACTIVE, once, before the token expires.
    fn redeem(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Result<(Session, Application), RedeemError>>;
    /// → TERMINATED with `reason`; None when it had already ended.
    fn terminate_session(&self, id: &str, reason: &str, now: i64) -> StoreResult<Option<Session>>;
    /// PENDING sessions past their expiry become TERMINATED (`expired`).
    fn expire_pending(&self, now: i64) -> StoreResult<usize>;
    /// At start: sessions live when the host stopped end with `host_restart`.
    fn end_sessions_of_previous_run(&self, now: i64) -> StoreResult<usize>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Role,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub kind: PrincipalKind,
    pub enabled: bool,
    pub has_password: bool,
    pub has_totp: bool,
}

/// What sign-in needs; kept apart from `Principal` so secrets travel only
/// where they are used.
#[derive(Clone)]
pub struct Credentials {
    pub password_hash: Option<String>,
    pub totp_secret_base32: Option<String>,
    pub enabled: bool,
}

#[derive(Clone)]
pub struct AccessKey {
    pub key_id: String,
    pub principal: String,
    pub secret: String,
    pub active: bool,
    pub created_at: i64,
    /// Temporary credentials (machine role) expire and carry a session token.
    pub expires_at: Option<i64>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("key_id", &self.key_id)
            .field("principal", &self.principal)
            .field("active", &self.active)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub trait IdentityStore {
    fn create_principal(&self, name: &str, kind: PrincipalKind, now: i64) -> StoreResult<()>;
    fn principal(&self, name: &str) -> StoreResult<Principal>;
    fn principals(&self) -> StoreResult<Vec<Principal>>;
    fn delete_principal(&self, name: &str) -> StoreResult<()>;
    /// A disabled principal's keys and sign-ins stop working (they are kept).
    fn set_principal_enabled(&self, name: &str, enabled: bool) -> StoreResult<()>;
    fn set_password_hash(&self, user: &str, hash: &str) -> StoreResult<()>;
    fn set_totp_secret(&self, user: &str, secret_base32: Option<&str>) -> StoreResult<()>;
    fn credentials(&self, user: &str) -> StoreResult<Credentials>;

    fn create_key(&self, key: &AccessKey) -> StoreResult<()>;
    fn key(&self, key_id: &str) -> StoreResult<AccessKey>;
    fn keys(&self, principal: Option<&str>) -> StoreResult<Vec<AccessKey>>;
    fn set_key_active(&self, key_id: &str, active: bool) -> StoreResult<()>;
    fn delete_key(&self, key_id: &str) -> StoreResult<()>;
    /// Temporary keys past their expiry are removed.
    fn purge_expired_keys(&self, now: i64) -> StoreResult<usize>;

    /// Stores a policy document; the caller has validated it.
    fn put_policy(&self, name: &str, document: &str, now: i64) -> StoreResult<()>;
    fn policy(&self, name: &str) -> StoreResult<String>;
    fn policy_names(&self) -> StoreResult<Vec<String>>;
    fn attach_policy(&self, principal: &str, policy: &str) -> StoreResult<()>;
    fn detach_policy(&self, principal: &str, policy: &str) -> StoreResult<()>;
    /// (name, document) of every policy attached to the principal.
    fn attached_policies(&self, principal: &str) -> StoreResult<Vec<(String, String)>>;

    fn entitle(&self, user: &str, application: &str) -> StoreResult<()>;
    fn revoke_entitlement(&self, user: &str, application: &str) -> StoreResult<()>;
    fn entitlements(&self, user: &str) -> StoreResult<Vec<String>>;

    /// Sign-in tokens of the entitlement service (hashes only).
    fn store_signin_token(
        &self,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// (user, mfa) for a live token.
    fn signin_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<(String, bool)>>;
    /// Sign-out: the token stops working (no error when it is unknown).
    fn revoke_signin_token(&self, token_hash: &str) -> StoreResult<()>;

    /// One-time console enrolment links (hashes only), `ENROLMENT_TTL_S` long.
    fn store_enrolment_token(
        &self,
        token_hash: &str,
        user: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The user a live enrolment link is for.
    fn enrolment_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>>;
    /// Used (or replaced): the link stops working.
    fn revoke_enrolment_token(&self, token_hash: &str) -> StoreResult<()>;

    /// "Remember me" refresh tokens (hashes only).
    /// A refresh token of a chain (`family`: one per sign-in; each use
    /// issues the next token of the same family).
    fn store_refresh_token(
        &self,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
        family: &str,
    ) -> StoreResult<()>;
    /// Uses up a refresh token, once. A token presented again after its use
    /// was stolen or replayed: its whole family is revoked.
    fn take_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse>;
    /// Records that `user` passed TOTP at `step` (30 s steps since the
    /// epoch); false when that step or a later one was used already, so a
    /// code works once.
    fn claim_totp_step(&self, user: &str, step: i64) -> StoreResult<bool>;
    /// Sign-out: the refresh token is forgotten (no error when it is unknown).
    fn revoke_refresh_token(&self, token_hash: &str) -> StoreResult<()>;
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    Live {
        user: String,
        mfa: bool,
        family: String,
    },
    /// Unknown or expired.
    Invalid,
    /// Used before: the chain it belongs to is revoked now.
    Reused { user: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    pub principal: Option<String>,
    pub key_id: Option<String>,
    pub source_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub action: Option<String>,
    pub resource: Option<String>,
    /// `allow`, `deny`, `unauthenticated`, `error`, or for the entitlement service `signin_ok` ...
    pub decision: String,
    pub status: u16,
    pub reason: Option<String>,
}

/// Which audit entries to read: every filter given must match (principal,
/// action and decision exactly; `since`/`until` in Unix seconds,
/// inclusive); `before` (an entry id) pages back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: usize,
}

pub trait AuditStore {
    fn audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Newest first.
    fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let query = AuditQuery {
            limit,
            ..AuditQuery::default()
        };
        Ok(self
            .audit_search(&query)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }
    /// Entries matching `query`, newest first, with their ids.
    fn audit_search(&self, query: &AuditQuery) -> StoreResult<Vec<(i64, AuditEntry)>>;
    /// Retention: removes entries older than `older_than` (Unix s) and all
    /// but the newest `max_rows`; returns how many went.
    fn prune_audit(&self, max_rows: u64, older_than: i64) -> StoreResult<usize>;
    fn audit_rows(&self) -> StoreResult<u64>;
}

/// What keeps a fleet of hosts as safe as one: the guards a single host
/// keeps in memory (the replay cache, the sign-in throttle's failures),
/// shared through the database when it is shared.
pub trait GuardStore {
    /// Records a signed request's nonce (`nonce_id_hex`) at `at`; false when
    /// it was recorded already and not before `forget_before`.
    fn claim_nonce(&self, id: &str, at: i64, forget_before: i64) -> StoreResult<bool>;
    /// Nonces recorded before `before` go (a sweep's work, off the
    /// requests' path); the number gone.
    fn forget_nonces(&self, before: i64) -> StoreResult<usize>;
    /// A failed sign-in of each subject (`user:NAME`, `address:IP`) at `at`;
    /// failures before `forget_before` go.
    fn record_signin_failure(
        &self,
        subjects: &[String],
        at: i64,
        forget_before: i64,
    ) -> StoreResult<()>;
    /// (subject, time) of the subjects' failures since `since`, oldest first.
    fn signin_failures(&self, subjects: &[String], since: i64) -> StoreResult<Vec<(String, i64)>>;
    /// A good sign-in clears the user's record.
    fn clear_signin_failures(&self, subject: &str) -> StoreResult<()>;
}

/// What a host tells the fleet every heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub id: String,
    pub address: String,
    /// SHA-256 of its certificate, hex.
    pub fingerprint: String,
    pub max_sessions: u32,
    pub live_sessions: u32,
    pub cpu_pct: f64,
    pub applications: Vec<String>,
}

/// A change another host (or this one) made, heard from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A session was placed on `host` (PENDING), or a stream ended
    /// (TERMINATED; `host` is where it streamed).
    Session {
        id: String,
        state: common::api::SessionState,
        host: Option<String>,
    },
    /// Rows of this table changed (`applications`, `access_keys`, ...).
    Table(String),
}

/// A session to create: `SessionStore::create_session`'s arguments.
#[derive(Debug, Clone, Copy)]
pub struct NewPending<'a> {
    pub application: &'a str,
    pub user: &'a str,
    pub token_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub max_pending_per_user: u32,
}

/// The hosts sharing the store (one, on SQLite) and where sessions stream.
pub trait FleetStore {
    /// CreateSession on a fleet: a new session (checked as
    /// `create_session` checks it), put on the least loaded host that beat
    /// since `fresh_since`, runs its application and is below its
    /// `--max-sessions` (counting its pending and active sessions). When
    /// none has room the session ends (`no_capacity`) and says why.
    fn create_placed_session(
        &self,
        new: &NewPending<'_>,
        fresh_since: i64,
    ) -> StoreResult<(Session, Result<common::api::HostInfo, Unplaced>)>;

    /// The changes hosts hear from a shared database, as they happen; None
    /// when the backend tells nothing (SQLite: one host, no one to tell).
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
    /// Records the heartbeat at `now`: the host is AVAILABLE.
    fn heartbeat(&self, beat: &Heartbeat, now: i64) -> StoreResult<()>;
    /// Every host that ever beat, by id.
    fn hosts(&self) -> StoreResult<Vec<common::api::HostInfo>>;
    /// Hosts AVAILABLE but silent since before `silent_since` become
    /// UNAVAILABLE and their live sessions end (`host_lost`); the ids of the
    /// hosts lost now.
    fn mark_lost_hosts(&self, silent_since: i64, now: i64) -> StoreResult<Vec<String>>;
    /// The session streams from `host` (recorded when it is redeemed there).
    fn set_session_host(&self, session_id: &str, host: &str) -> StoreResult<()>;
    /// At a host's start: the sessions it was streaming end with `reason`.
    fn end_sessions_on_host(&self, host: &str, reason: &str, now: i64) -> StoreResult<usize>;
    /// Those of `ids` that are TERMINATED, with their reason: a host's
    /// streams another host's API ended.
    fn ended_among(&self, ids: &[String]) -> StoreResult<Vec<(String, Option<String>)>>;
    /// The host a session was placed on, by its entitlement token's hash.
    fn placed_host(&self, token_hash: &str) -> StoreResult<Option<String>>;
}

/// Why no host took a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unplaced {
    /// Available hosts that run the application (all of them full).
    pub running_it: usize,
}

impl std::fmt::Display for Unplaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.running_it {
            0 => write!(f, "no available host runs the application"),
            n => write!(
                f,
                "the {n} available host(s) that run the application are at their --max-sessions"
            ),
        }
    }
}

pub trait Store:
    ApplicationStore + SessionStore + IdentityStore + AuditStore + GuardStore + FleetStore + Send + Sync
{
}

impl<T> Store for T where
    T: ApplicationStore
        + SessionStore
        + IdentityStore
        + AuditStore
        + GuardStore
        + FleetStore
        + Send
        + Sync
{
}

/// Text from outside kept at most `max_bytes` long: a longer one is cut (at
/// a character boundary) and followed by `…#` and 16 hex digits of its
/// SHA-256, so distinct long values stay distinct. For audit fields and
/// throttle keys, whose size a client chooses.
pub fn bounded_text(text: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max_bytes {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    std::borrow::Cow::Owned(format!(
        "{}…#{}",
        &text[..cut],
        hex::encode(&digest.as_ref()[..8])
    ))
}

/// The token tables: same columns, different lifetimes.
#[derive(Clone, Copy)]
enum TokenTable {
    SignIn,
    Refresh,
    Enrolment,
}

impl TokenTable {
    fn name(self) -> &'static str {
        match self {
            TokenTable::SignIn => "signin_tokens",
            TokenTable::Refresh => "refresh_tokens",
            TokenTable::Enrolment => "console_enrolments",
        }
    }

    fn ttl_s(self) -> i64 {
        match self {
            TokenTable::SignIn => SIGNIN_TOKEN_TTL_S,
            TokenTable::Refresh => REFRESH_TOKEN_TTL_S,
            TokenTable::Enrolment => ENROLMENT_TTL_S,
        }
    }
}

/// A session's id: `s-` and 16 random hex digits.
fn new_session_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("s-{}", hex::encode(bytes))
}

/// A refresh token's row: user, mfa, expires_at, family, used.
type RefreshRow = (String, bool, i64, String, bool);

/// What a backend writes when a refresh token is presented.
enum RefreshWrite {
    Nothing,
    /// Used now: marked, kept until it expires (a second use is theft).
    MarkUsed,
    /// Used before: the whole chain goes.
    RevokeFamily(String),
}

/// The outcome of presenting a refresh token, from its row (both backends).
fn refresh_outcome(row: Option<RefreshRow>, now: i64) -> (RefreshUse, RefreshWrite) {
    match row {
        None => (RefreshUse::Invalid, RefreshWrite::Nothing),
        Some((user, _, _, family, true)) => (
            RefreshUse::Reused { user },
            RefreshWrite::RevokeFamily(family),
        ),
        Some((_, _, expires_at, _, false)) if expires_at <= now => {
            (RefreshUse::Invalid, RefreshWrite::Nothing)
        }
        Some((user, mfa, _, family, false)) => (
            RefreshUse::Live { user, mfa, family },
            RefreshWrite::MarkUsed,
        ),
    }
}

/// A `hosts` row as the API shows it (both backends store the same columns).
#[allow(clippy::too_many_arguments)]
fn host_info(
    id: String,
    address: String,
    fingerprint: String,
    max_sessions: i64,
    live_sessions: i64,
    cpu_pct: f64,
    applications: &str,
    heartbeat_at: i64,
    state: &str,
) -> common::api::HostInfo {
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    common::api::HostInfo {
        id,
        address,
        fingerprint,
        state: if state == "AVAILABLE" {
            common::api::HostState::Available
        } else {
            common::api::HostState::Unavailable
        },
        max_sessions: count(max_sessions),
        live_sessions: count(live_sessions),
        cpu_pct,
        applications: serde_json::from_str(applications).unwrap_or_default(),
        last_heartbeat: rfc3339(heartbeat_at),
    }
}

/// RFC 3339 for the API from the stored Unix seconds.
fn rfc3339(unix_s: i64) -> String {
    common::signing::format_date(unix_s)
}

/// Audit names, ids, addresses: a client chooses some of them (a user name
/// at sign-in), so each is kept short, long ones cut and hashed.
const MAX_AUDIT_FIELD_BYTES: usize = 64;
/// Audit paths and reasons (which may quote a name).
const MAX_AUDIT_LONG_FIELD_BYTES: usize = 512;

/// The entry as either backend keeps it: every field bounded.
fn bounded_audit_entry(entry: &AuditEntry) -> AuditEntry {
    let short = |text: &str| bounded_text(text, MAX_AUDIT_FIELD_BYTES).into_owned();
    let long = |text: &str| bounded_text(text, MAX_AUDIT_LONG_FIELD_BYTES).into_owned();
    AuditEntry {
        at: entry.at,
        principal: entry.principal.as_deref().map(short),
        key_id: entry.key_id.as_deref().map(short),
        source_ip: entry.source_ip.as_deref().map(short),
        method: short(&entry.method),
        path: long(&entry.path),
        action: entry.action.as_deref().map(short),
        resource: entry.resource.as_deref().map(long),
        decision: short(&entry.decision),
        status: entry.status,
        reason: entry.reason.as_deref().map(long),
    }
}

/// SHA-256 hex of a bearer secret (entitlement and sign-in tokens): the
/// database never holds a usable token.
pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}
