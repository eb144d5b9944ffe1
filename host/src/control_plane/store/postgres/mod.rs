//! PostgreSQL backend: one database shared by the hosts of a fleet.
//!
//! The store traits are synchronous, called from async handlers and from
//! plain code alike (as SQLite's are). The `postgres` client blocks on a
//! runtime of its own, which must never run on one of tokio's threads, so
//! each connection lives on a thread of its own: a call hands its work to a
//! free connection and waits for the answer, as a SQLite call waits for its
//! mutex. The bridge is a channel, not an async rewrite of every caller.
//!
//! Invariants SQLite keeps with `IMMEDIATE` transactions are kept here with
//! row locks (`SELECT ... FOR UPDATE` on the application, an advisory lock
//! on the user), so hosts racing over one database never pass a limit.

mod applications;
mod audit;
mod batch;
mod cache;
pub mod cluster;
mod fleet;
mod guards;
mod identity;
mod listener;
mod schema;
mod sessions;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls, Statement};

use super::{Change, StoreError, StoreResult};
use cache::IdentityCache;

/// Connections each host keeps open (besides one that listens and one per
/// batch of writes).
pub const DEFAULT_CONNECTIONS: usize = 4;
/// Changes held for a host that is slow to read them; past it the host
/// misses some, and its resync finds what they said.
const CHANGES_BACKLOG: usize = 1024;

type Job = Box<dyn FnOnce(&mut Client) + Send>;

pub struct PostgresStore {
    jobs: mpsc::Sender<Job>,
    /// Keys, principals and policies, while the listener hears changes.
    cache: Arc<IdentityCache>,
    /// What the listener hears, for the host (`FleetStore::changes`).
    changes: tokio::sync::broadcast::Sender<Change>,
    _listening: listener::Listening,
    /// Group commit for what every request writes (see `batch`).
    creates: batch::Batcher<fleet::PlaceRequest, fleet::Placed>,
    nonces: batch::Batcher<guards::NonceClaim, bool>,
    audits: batch::Batcher<super::AuditEntry, ()>,
    /// The URL without its password, for logs and `host config show`.
    shown_url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects `connections` times to `url` (`postgres://...`), then
    /// migrates the schema; hosts starting together migrate it once (an
    /// advisory lock orders them).
    pub fn connect(url: &str, connections: usize) -> StoreResult<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("database URL: {e}")))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = Vec::new();
        for index in 0..connections.max(1) {
            let (ready, ready_rx) = mpsc::sync_channel(1);
            let (config, queue) = (config.clone(), queue.clone());
            std::thread::Builder::new()
                .name(format!("postgres-{index}"))
                .spawn(move || connection_thread(&config, &queue, &ready))
                .map_err(|e| StoreError::Backend(format!("a connection thread: {e}")))?;
            started.push(ready_rx);
        }
        for ready in started {
            ready
                .recv()
                .map_err(|_| StoreError::Backend("a connection thread died".into()))??;
        }
        // The listener needs the triggers, so the schema comes first.
        let migrated = Self::with_jobs(&jobs, schema::migrate);
        migrated?;
        let cache = Arc::new(IdentityCache::default());
        let (changes, _) = tokio::sync::broadcast::channel(CHANGES_BACKLOG);
        let creates = batch::Batcher::start("creates", config.clone(), fleet::create_batch)?;
        let nonces = batch::Batcher::start("nonces", config.clone(), guards::claim_batch)?;
        let audits = batch::Batcher::start("audits", config.clone(), audit::write_batch)?;
        let listening = listener::start(config, cache.clone(), changes.clone())
            .map_err(|e| StoreError::Backend(format!("the listener thread: {e}")))?;
        Ok(Self {
            jobs,
            cache,
            changes,
            _listening: listening,
            creates,
            nonces,
            audits,
            shown_url: redacted(url),
        })
    }

    /// Runs `job` on a free connection and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Client) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::with_jobs(&self.jobs, job)
    }

    /// `with`, for a change to keys, principals or policies: this host's
    /// cache forgets at once, not when the notification comes back.
    fn changing<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Client) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let done = self.with(job);
        self.cache.forget();
        done
    }

    fn with_jobs<T: Send + 'static>(
        jobs: &mpsc::Sender<Job>,
        job: impl FnOnce(&mut Client) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = mpsc::sync_channel(1);
        jobs.send(Box::new(move |client: &mut Client| {
            let _ = answer.send(job(client));
        }))
        .map_err(|_| StoreError::Backend("every connection thread is gone".into()))?;
        answered
            .recv()
            .map_err(|_| StoreError::Backend("the connection thread died mid-call".into()))?
    }
}

fn connection_thread(
    config: &postgres::Config,
    queue: &Mutex<mpsc::Receiver<Job>>,
    ready: &mpsc::SyncSender<StoreResult<()>>,
) {
    let mut client = match config.connect(NoTls) {
        Ok(client) => {
            let _ = ready.send(Ok(()));
            client
        }
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    loop {
        // The lock is held only while waiting: one idle thread takes the
        // next job, the others wait their turn.
        let job = match queue.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return, // the store is gone
        };
        if client.is_closed() {
            match config.connect(NoTls) {
                Ok(fresh) => {
                    client = fresh;
                    forget_statements();
                }
                Err(e) => tracing::warn!(error = %e, "cannot reconnect to the database"),
            }
        }
        job(&mut client);
    }
}

thread_local! {
    /// This connection thread's prepared statements: its one connection's.
    static STATEMENTS: RefCell<HashMap<String, Statement>> = RefCell::new(HashMap::new());
}

/// A new connection: the old one's statements are gone with it.
fn forget_statements() {
    STATEMENTS.with_borrow_mut(HashMap::clear);
}

/// `sql`, prepared once per connection: a statement passed as text costs a
/// round trip to prepare it every time. For the calls every request makes.
fn prepared(client: &mut impl GenericClient, sql: &str) -> StoreResult<Statement> {
    if let Some(statement) = STATEMENTS.with_borrow(|cache| cache.get(sql).cloned()) {
        return Ok(statement);
    }
    let statement = client.prepare(sql)?;
    STATEMENTS.with_borrow_mut(|cache| cache.insert(sql.to_string(), statement.clone()));
    Ok(statement)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let user_end = scheme + 3 + url[scheme + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// A failed insert naming something that does not exist.
fn missing_reference(e: postgres::Error, what: String) -> StoreError {
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::NotFound(what)
    } else {
        StoreError::Postgres(e)
    }
}

/// Counts and sizes are BIGINT in the database, u32 in the API.
fn to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn not_found(changed: u64, what: String) -> StoreResult<()> {
    if changed == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            super::redacted("postgres://host:s3cret@db.lan:5432/appstream"),
            "postgres://host:***@db.lan:5432/appstream"
        );
        assert_eq!(
            super::redacted("postgres://host@%2Ftmp%2Fpg/appstream"),
            "postgres://host@%2Ftmp%2Fpg/appstream"
        );
    }
}
