//! The hosts of the fleet, their heartbeats, sessions' hosts and placement.

use std::collections::HashMap;

use common::api::HostInfo;
use postgres::{GenericClient, Row};

use super::{PostgresStore, to_u32};
use crate::control_plane::store::{
    FleetStore, Heartbeat, StoreResult, Unplaced, choose_host, host_info,
};

const HOST_COLUMNS: &str = "id, address, fingerprint, max_sessions, live_sessions, cpu_pct, \
                            applications, heartbeat_at, state";

/// Any number unique to placement: hosts placing at once take turns, so two
/// never both see room for one more on the same host.
const PLACEMENT_LOCK: i64 = 0x7061_6365_7365_7373;

fn host_from_row(row: &Row) -> HostInfo {
    host_info(
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
        row.get(8),
    )
}

/// Pending (unexpired) and active sessions per host.
fn loads(client: &mut impl GenericClient, now: i64) -> StoreResult<HashMap<String, u32>> {
    let rows = client.query(
        "SELECT host, COUNT(*) FROM sessions WHERE host IS NOT NULL \
         AND (state = 'ACTIVE' OR (state = 'PENDING' AND expires_at > $1)) GROUP BY host",
        &[&now],
    )?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), to_u32(row.get(1))))
        .collect())
}

impl FleetStore for PostgresStore {
    fn heartbeat(&self, beat: &Heartbeat, now: i64) -> StoreResult<()> {
        let beat = beat.clone();
        self.with(move |client| {
            client.execute(
                &format!(
                    "INSERT INTO hosts ({HOST_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'AVAILABLE') \
                     ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
                     fingerprint = excluded.fingerprint, max_sessions = excluded.max_sessions, \
                     live_sessions = excluded.live_sessions, cpu_pct = excluded.cpu_pct, \
                     applications = excluded.applications, heartbeat_at = excluded.heartbeat_at, \
                     state = 'AVAILABLE'"
                ),
                &[
                    &beat.id,
                    &beat.address,
                    &beat.fingerprint,
                    &i64::from(beat.max_sessions),
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
            Ok(rows.iter().map(host_from_row).collect())
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

    fn ended_among(&self, ids: &[String]) -> StoreResult<Vec<(String, Option<String>)>> {
        let ids = ids.to_vec();
        self.with(move |client| {
            let rows = client.query(
                "SELECT id, reason FROM sessions WHERE id = ANY($1) AND state = 'TERMINATED'",
                &[&ids],
            )?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    fn place_session(
        &self,
        session_id: &str,
        application: &str,
        fresh_since: i64,
        now: i64,
    ) -> StoreResult<Result<HostInfo, Unplaced>> {
        let (session_id, application) = (session_id.to_string(), application.to_string());
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&PLACEMENT_LOCK])?;
            let hosts: Vec<HostInfo> = transaction
                .query(
                    &format!(
                        "SELECT {HOST_COLUMNS} FROM hosts \
                         WHERE state = 'AVAILABLE' AND heartbeat_at >= $1 ORDER BY id"
                    ),
                    &[&fresh_since],
                )?
                .iter()
                .map(host_from_row)
                .collect();
            let loads = loads(&mut transaction, now)?;
            let placed = match choose_host(&hosts, &application, |id| {
                loads.get(id).copied().unwrap_or(0)
            }) {
                Ok(host) => {
                    transaction.execute(
                        "UPDATE sessions SET host = $2 WHERE id = $1",
                        &[&session_id, &host.id],
                    )?;
                    Ok(host.clone())
                }
                Err(unplaced) => {
                    transaction.execute(
                        "UPDATE sessions SET state = 'TERMINATED', reason = 'no_capacity', \
                         terminated_at = $2 WHERE id = $1",
                        &[&session_id, &now],
                    )?;
                    Err(unplaced)
                }
            };
            transaction.commit()?;
            Ok(placed)
        })
    }

    fn placed_host(&self, token_hash: &str) -> StoreResult<Option<String>> {
        let token_hash = token_hash.to_string();
        self.with(move |client| {
            Ok(client
                .query_opt(
                    "SELECT host FROM sessions WHERE token_hash = $1",
                    &[&token_hash],
                )?
                .and_then(|row| row.get::<_, Option<String>>(0)))
        })
    }
}
