//! The hosts table (on SQLite, this host alone) and sessions' hosts.

use common::api::HostInfo;
use rusqlite::params;

use super::SqliteStore;
use crate::control_plane::store::{FleetStore, Heartbeat, StoreResult, host_info};

const HOST_COLUMNS: &str =
    "id, address, fingerprint, live_sessions, cpu_pct, applications, heartbeat_at, state";

impl FleetStore for SqliteStore {
    fn heartbeat(&self, beat: &Heartbeat, now: i64) -> StoreResult<()> {
        self.lock().execute(
            &format!(
                "INSERT INTO hosts ({HOST_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'AVAILABLE') \
                 ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                 fingerprint = excluded.fingerprint, \
                 live_sessions = excluded.live_sessions, cpu_pct = excluded.cpu_pct, \
                 applications = excluded.applications, heartbeat_at = excluded.heartbeat_at, \
                 state = 'AVAILABLE'"
            ),
            params![
                beat.id,
                beat.address,
                beat.fingerprint,
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
        let rows = statement.query_map([], |row| {
            let (applications, state): (String, String) = (row.get(5)?, row.get(7)?);
            Ok(host_info(
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                &applications,
                row.get(6)?,
                &state,
            ))
        })?;
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
}
