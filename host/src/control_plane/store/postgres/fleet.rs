//! The hosts of the fleet, their heartbeats, and sessions' hosts.

use common::api::HostInfo;

use super::PostgresStore;
use crate::control_plane::store::{FleetStore, Heartbeat, StoreResult, host_info};

const HOST_COLUMNS: &str =
    "id, address, fingerprint, live_sessions, cpu_pct, applications, heartbeat_at, state";

impl FleetStore for PostgresStore {
    fn heartbeat(&self, beat: &Heartbeat, now: i64) -> StoreResult<()> {
        let beat = beat.clone();
        self.with(move |client| {
            client.execute(
                &format!(
                    "INSERT INTO hosts ({HOST_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'AVAILABLE') \
                     ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                     fingerprint = excluded.fingerprint, \
                     live_sessions = excluded.live_sessions, cpu_pct = excluded.cpu_pct, \
                     applications = excluded.applications, heartbeat_at = excluded.heartbeat_at, \
                     state = 'AVAILABLE'"
                ),
                &[
                    &beat.id,
                    &beat.address,
                    &beat.fingerprint,
                    &i64::from(beat.live_sessions),
                    &beat.cpu_pct,
                    &serde_json::to_string(&beat.applications).unwrap_or_else(|_| "[]".into()),
                    &now,
                ],
            )?;
            Ok(())
        })
    }

    fn hosts(&self) -> StoreResult<Vec<HostInfo>> {
        self.with(|client| {
            let rows = client.query(
                &format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id"),
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    host_info(
                        row.get(0),
                        row.get(1),
                        row.get(2),
                        row.get(3),
                        row.get(4),
                        row.get(5),
                        row.get(6),
                        row.get(7),
                    )
                })
                .collect())
        })
    }

    fn mark_lost_hosts(&self, silent_since: i64, now: i64) -> StoreResult<Vec<String>> {
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            // Whichever host sweeps first ends the lost one's sessions; the
            // row locks let one sweep do it.
            let lost: Vec<String> = transaction
                .query(
                    "UPDATE hosts SET state = 'UNAVAILABLE' \
                     WHERE state = 'AVAILABLE' AND heartbeat_at < $1 RETURNING id",
                    &[&silent_since],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            if !lost.is_empty() {
                transaction.execute(
                    "UPDATE sessions SET state = 'TERMINATED', reason = 'host_lost', \
                     terminated_at = $2 WHERE host = ANY($1) AND state IN ('PENDING', 'ACTIVE')",
                    &[&lost, &now],
                )?;
            }
            transaction.commit()?;
            Ok(lost)
        })
    }

    fn set_session_host(&self, session_id: &str, host: &str) -> StoreResult<()> {
        let (session_id, host) = (session_id.to_string(), host.to_string());
        self.with(move |client| {
            client.execute(
                "UPDATE sessions SET host = $2 WHERE id = $1",
                &[&session_id, &host],
            )?;
            Ok(())
        })
    }

    fn end_sessions_on_host(&self, host: &str, reason: &str, now: i64) -> StoreResult<usize> {
        let (host, reason) = (host.to_string(), reason.to_string());
        self.with(move |client| {
            let ended = client.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = $2, terminated_at = $3 \
                 WHERE host = $1 AND state IN ('PENDING', 'ACTIVE')",
                &[&host, &reason, &now],
            )?;
            Ok(ended as usize)
        })
    }
}
