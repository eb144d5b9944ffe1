//! The hosts of the fleet, their heartbeats, sessions' hosts and placement.

use common::api::{HostInfo, Session, SessionState};
use postgres::{Client, Row};

use super::sessions::PENDING_CAP_LOCK;
use super::{PostgresStore, prepared, to_u32};
use crate::control_plane::store::{
    FleetStore, Heartbeat, NewPending, StoreError, StoreResult, Unplaced, host_info,
    new_session_id, rfc3339,
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

/// One CreateSession of a batch (see `create_batch`).
pub(super) struct PlaceRequest {
    id: String,
    application: String,
    user: String,
    token_hash: String,
    now: i64,
    expires_at: i64,
    max_pending: i64,
    fresh_since: i64,
}

/// What `appstream_create_placed_sessions` (schema V4) answers for one.
pub(super) struct Placed {
    outcome: String,
    detail: i64,
    host: Option<HostInfo>,
}

/// Creates and places a batch of sessions in one round trip and one commit.
pub(super) fn create_batch(
    client: &mut Client,
    batch: &[PlaceRequest],
) -> StoreResult<Vec<Placed>> {
    let text = |f: fn(&PlaceRequest) -> &str| batch.iter().map(f).collect::<Vec<_>>();
    let number = |f: fn(&PlaceRequest) -> i64| batch.iter().map(f).collect::<Vec<_>>();
    let statement = prepared(
        client,
        "SELECT * FROM appstream_create_placed_sessions\
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ORDER BY out_index",
    )?;
    let rows = client.query(
        &statement,
        &[
            &text(|r| &r.id),
            &text(|r| &r.application),
            &text(|r| &r.user),
            &text(|r| &r.token_hash),
            &number(|r| r.now),
            &number(|r| r.expires_at),
            &number(|r| r.max_pending),
            &number(|r| r.fresh_since),
            &PENDING_CAP_LOCK,
            &PLACEMENT_LOCK,
        ],
    )?;
    Ok(rows
        .iter()
        .map(|row| Placed {
            outcome: row.get(1),
            detail: row.get(2),
            host: row.get::<_, Option<String>>(3).map(|id| {
                host_info(
                    id,
                    row.get(4),
                    row.get(5),
                    row.get(6),
                    row.get(7),
                    row.get(8),
                    row.get(9),
                    row.get(10),
                    row.get(11),
                )
            }),
        })
        .collect())
}

/// The session and its host, or why there is none, as the trait says.
fn placed_outcome(
    placed: Placed,
    new: &NewPending<'_>,
    id: String,
) -> StoreResult<(Session, Result<HostInfo, Unplaced>)> {
    let session = |state, reason: Option<&str>| Session {
        id: id.clone(),
        application: new.application.to_string(),
        user: new.user.to_string(),
        state,
        reason: reason.map(str::to_string),
        created_at: rfc3339(new.now),
        expires_at: rfc3339(new.expires_at),
        activated_at: None,
        terminated_at: (state == SessionState::Terminated).then(|| rfc3339(new.now)),
    };
    match (placed.outcome.as_str(), placed.host) {
        ("placed", Some(host)) => Ok((session(SessionState::Pending, None), Ok(host))),
        ("no_capacity", _) => Ok((
            session(SessionState::Terminated, Some("no_capacity")),
            Err(Unplaced {
                running_it: usize::try_from(placed.detail).unwrap_or(0),
            }),
        )),
        ("not_found", _) => Err(StoreError::NotFound(format!(
            "application {}",
            new.application
        ))),
        ("disabled", _) => Err(StoreError::ApplicationDisabled(new.application.to_string())),
        ("application_full", _) => Err(StoreError::ApplicationFull {
            application: new.application.to_string(),
            max_sessions: to_u32(placed.detail),
        }),
        ("too_many_pending", _) => Err(StoreError::TooManyPending {
            user: new.user.to_string(),
            max_pending: to_u32(placed.detail),
        }),
        (other, _) => Err(StoreError::Backend(format!(
            "create_placed_sessions answered {other:?}"
        ))),
    }
}

impl FleetStore for PostgresStore {
    fn changes(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::control_plane::store::Change>> {
        Some(self.changes.subscribe())
    }

    fn create_placed_session(
        &self,
        new: &NewPending<'_>,
        fresh_since: i64,
    ) -> StoreResult<(Session, Result<HostInfo, Unplaced>)> {
        let id = new_session_id();
        // Batched with the other CreateSessions in flight (see `batch`).
        let placed = self.creates.call(PlaceRequest {
            id: id.clone(),
            application: new.application.to_string(),
            user: new.user.to_string(),
            token_hash: new.token_hash.to_string(),
            now: new.now,
            expires_at: new.expires_at,
            max_pending: i64::from(new.max_pending_per_user),
            fresh_since,
        })?;
        placed_outcome(placed, new, id)
    }

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
