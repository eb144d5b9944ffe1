//! The hosts table (on SQLite, this host alone), sessions' hosts and
//! placement.

use std::collections::HashMap;

use common::api::{HostInfo, Session};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::SqliteStore;
use crate::control_plane::store::{
    FleetStore, Heartbeat, NewPending, SessionStore, StoreResult, Unplaced, host_info,
};

const HOST_COLUMNS: &str = "id, address, fingerprint, max_sessions, live_sessions, cpu_pct, \
                            applications, heartbeat_at, state";

fn host_from_row(row: &Row<'_>) -> rusqlite::Result<HostInfo> {
    let (applications, state): (String, String) = (row.get(6)?, row.get(8)?);
    Ok(host_info(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        &applications,
        row.get(7)?,
        &state,
    ))
}

/// Pending (unexpired) and active sessions per host.
fn loads(connection: &Connection, now: i64) -> StoreResult<HashMap<String, u32>> {
    let mut statement = connection.prepare_cached(
        "SELECT host, COUNT(*) FROM sessions WHERE host IS NOT NULL \
         AND (state = 'ACTIVE' OR (state = 'PENDING' AND expires_at > ?1)) GROUP BY host",
    )?;
    let rows = statement.query_map([now], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl FleetStore for SqliteStore {
    fn heartbeat(&self, beat: &Heartbeat, now: i64) -> StoreResult<()> {
        self.lock().execute(
            &format!(
                "INSERT INTO hosts ({HOST_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'AVAILABLE') \
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                 fingerprint = excluded.fingerprint, max_sessions = excluded.max_sessions, \
                 live_sessions = excluded.live_sessions, cpu_pct = excluded.cpu_pct, \
                 applications = excluded.applications, heartbeat_at = excluded.heartbeat_at, \
                 state = 'AVAILABLE'"
            ),
            params![
                beat.id,
                beat.address,
                beat.fingerprint,
                beat.max_sessions,
                beat.live_sessions,
                beat.cpu_pct,
                serde_json::to_string(&beat.applications).unwrap_or_else(|_| "[]".into()),
                now
            ],
        )?;
        Ok(())
    }

    fn hosts(&self) -> StoreResult<Vec<HostInfo>> {
        let connection = self.lock();
        let mut statement =
            connection.prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id"))?;
        let rows = statement.query_map([], host_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_lost_hosts(&self, silent_since: i64, now: i64) -> StoreResult<Vec<String>> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let lost: Vec<String> = transaction
            .prepare(
                "UPDATE hosts SET state = 'UNAVAILABLE' \
                 WHERE state = 'AVAILABLE' AND heartbeat_at < ?1 RETURNING id",
            )?
            .query_map([silent_since], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for host in &lost {
            transaction.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = 'host_lost', \
                 terminated_at = ?2 WHERE host = ?1 AND state IN ('PENDING', 'ACTIVE')",
                params![host, now],
            )?;
        }
        transaction.commit()?;
        Ok(lost)
    }

    fn set_session_host(&self, session_id: &str, host: &str) -> StoreResult<()> {
        self.lock().execute(
            "UPDATE sessions SET host = ?2 WHERE id = ?1",
            params![session_id, host],
        )?;
        Ok(())
    }

    fn end_sessions_on_host(&self, host: &str, reason: &str, now: i64) -> StoreResult<usize> {
        Ok(self.lock().execute(
            "UPDATE sessions SET state = 'TERMINATED', reason = ?2, terminated_at = ?3 \
             WHERE host = ?1 AND state IN ('PENDING', 'ACTIVE')",
            params![host, reason, now],
        )?)
    }

    fn ended_among(&self, ids: &[String]) -> StoreResult<Vec<(String, Option<String>)>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached("SELECT reason FROM sessions WHERE id = ?1 AND state = 'TERMINATED'")?;
        let mut ended = Vec::new();
        for id in ids {
            let mut rows = statement.query([id])?;
            if let Some(row) = rows.next()? {
                ended.push((id.clone(), row.get(0)?));
            }
        }
        Ok(ended)
    }

    fn create_placed_session(
        &self,
        new: &NewPending<'_>,
        fresh_since: i64,
    ) -> StoreResult<(Session, Result<HostInfo, Unplaced>)> {
        let session = self.create_session(
            new.application,
            new.user,
            new.token_hash,
            new.now,
            new.expires_at,
            new.max_pending_per_user,
        )?;
        let placed = self.place_session(&session.id, new.application, fresh_since, new.now)?;
        Ok((session, placed))
    }

    fn placed_host(&self, token_hash: &str) -> StoreResult<Option<String>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT host FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }
}

impl SqliteStore {
    /// Puts a new session on a host (see `create_placed_session`).
    fn place_session(
        &self,
        session_id: &str,
        application: &str,
        fresh_since: i64,
        now: i64,
    ) -> StoreResult<Result<HostInfo, Unplaced>> {
        let mut connection = self.lock();
        // IMMEDIATE: the loads and the choice see no other writer between.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hosts: Vec<HostInfo> = transaction
            .prepare(&format!(
                "SELECT {HOST_COLUMNS} FROM hosts \
                 WHERE state = 'AVAILABLE' AND heartbeat_at >= ?1 ORDER BY id"
            ))?
            .query_map([fresh_since], host_from_row)?
            .collect::<Result<_, _>>()?;
        let loads = loads(&transaction, now)?;
        let placed = match choose_host(&hosts, application, |id| {
            loads.get(id).copied().unwrap_or(0)
        }) {
            Ok(host) => {
                transaction.execute(
                    "UPDATE sessions SET host = ?2 WHERE id = ?1",
                    params![session_id, host.id],
                )?;
                Ok(host.clone())
            }
            Err(unplaced) => {
                transaction.execute(
                    "UPDATE sessions SET state = 'TERMINATED', reason = 'no_capacity', \
                     terminated_at = ?2 WHERE id = ?1",
                    params![session_id, now],
                )?;
                Err(unplaced)
            }
        };
        transaction.commit()?;
        Ok(placed)
    }
}

/// The host placement picks (PostgreSQL orders them the same, in
/// `appstream_create_placed_session`): the least loaded of those with room (then the
/// least busy CPU, then by id, so the choice is the same on every host).
/// `load` is each host's pending and active sessions.
fn choose_host<'a>(
    hosts: &'a [common::api::HostInfo],
    application: &str,
    load: impl Fn(&str) -> u32,
) -> Result<&'a common::api::HostInfo, Unplaced> {
    let running: Vec<_> = hosts
        .iter()
        .filter(|h| h.state == common::api::HostState::Available)
        .filter(|h| h.applications.iter().any(|a| a == application))
        .collect();
    running
        .iter()
        .filter(|h| load(&h.id) < h.max_sessions)
        .min_by(|a, b| {
            load(&a.id)
                .cmp(&load(&b.id))
                .then(a.cpu_pct.total_cmp(&b.cpu_pct))
                .then(a.id.cmp(&b.id))
        })
        .copied()
        .ok_or(Unplaced {
            running_it: running.len(),
        })
}
