//! Sessions: PENDING (entitlement minted) → ACTIVE (redeemed by a viewer)
//! → TERMINATED (with a reason).

use common::api::{Application, ApplicationState, Session, SessionState};
use postgres::{GenericClient, Row};

use super::applications::{live_counts, load_application};
use super::{PostgresStore, to_u32};
use crate::control_plane::store::{
    RedeemError, SessionStore, StoreError, StoreResult, new_session_id, rfc3339,
};

const COLUMNS: &str = "id, application, \"user\", state, reason, created_at, expires_at, \
                       activated_at, terminated_at";

fn session_from_row(row: &Row) -> Session {
    let state: String = row.get(3);
    Session {
        id: row.get(0),
        application: row.get(1),
        user: row.get(2),
        state: match state.as_str() {
            "PENDING" => SessionState::Pending,
            "ACTIVE" => SessionState::Active,
            _ => SessionState::Terminated,
        },
        reason: row.get(4),
        created_at: rfc3339(row.get(5)),
        expires_at: rfc3339(row.get(6)),
        activated_at: row.get::<_, Option<i64>>(7).map(rfc3339),
        terminated_at: row.get::<_, Option<i64>>(8).map(rfc3339),
    }
}

fn load(client: &mut impl GenericClient, id: &str) -> StoreResult<Session> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"),
            &[&id],
        )?
        .map(|row| session_from_row(&row))
        .ok_or_else(|| StoreError::NotFound(format!("session {id}")))
}

/// Any number unique to the per-user pending cap (the second key is the
/// user's hash): two hosts minting for one user take turns.
pub(super) const PENDING_CAP_LOCK: i32 = 0x7573_6572;

impl SessionStore for PostgresStore {
    fn create_session(
        &self,
        application: &str,
        user: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
        max_pending_per_user: u32,
    ) -> StoreResult<Session> {
        let (application, user, token_hash) = (
            application.to_string(),
            user.to_string(),
            token_hash.to_string(),
        );
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            // The application's row lock orders every CreateSession for it,
            // on every host: the count and the insert see no one between.
            let app = load_application(&mut transaction, &application, true)?;
            if app.state == ApplicationState::Disabled {
                return Err(StoreError::ApplicationDisabled(app.name));
            }
            let (pending, active) = live_counts(&mut transaction, &application, now)?;
            if pending + active >= app.max_sessions {
                return Err(StoreError::ApplicationFull {
                    application: app.name,
                    max_sessions: app.max_sessions,
                });
            }
            transaction.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&PENDING_CAP_LOCK, &user],
            )?;
            let pending_of_user: i64 = transaction
                .query_one(
                    "SELECT COUNT(*) FROM sessions \
                     WHERE \"user\" = $1 AND state = 'PENDING' AND expires_at > $2",
                    &[&user, &now],
                )?
                .get(0);
            if to_u32(pending_of_user) >= max_pending_per_user {
                return Err(StoreError::TooManyPending {
                    user,
                    max_pending: max_pending_per_user,
                });
            }
            let id = new_session_id();
            transaction.execute(
                "INSERT INTO sessions (id, application, \"user\", state, token_hash, created_at, \
                 expires_at) VALUES ($1, $2, $3, 'PENDING', $4, $5, $6)",
                &[&id, &application, &user, &token_hash, &now, &expires_at],
            )?;
            let session = load(&mut transaction, &id)?;
            transaction.commit()?;
            Ok(session)
        })
    }

    fn sessions(&self, application: &str) -> StoreResult<Vec<Session>> {
        let application = application.to_string();
        self.with(move |client| {
            load_application(client, &application, false)?;
            let rows = client.query(
                &format!(
                    "SELECT {COLUMNS} FROM sessions WHERE application = $1 ORDER BY created_at, id"
                ),
                &[&application],
            )?;
            Ok(rows.iter().map(session_from_row).collect())
        })
    }

    fn session(&self, application: &str, id: &str) -> StoreResult<Session> {
        let (application, id) = (application.to_string(), id.to_string());
        self.with(move |client| {
            let session = load(client, &id)?;
            if session.application != application {
                return Err(StoreError::NotFound(format!(
                    "session {id} of application {application}"
                )));
            }
            Ok(session)
        })
    }

    fn redeem(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Result<(Session, Application), RedeemError>> {
        let token_hash = token_hash.to_string();
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            // The session's row lock: a token presented to two hosts at once
            // is redeemed by one of them.
            let found = transaction.query_opt(
                "SELECT id, state, reason, expires_at FROM sessions WHERE token_hash = $1 \
                 FOR UPDATE",
                &[&token_hash],
            )?;
            let Some(row) = found else {
                return Ok(Err(RedeemError::Unknown));
            };
            let (id, state, reason, expires_at): (String, String, Option<String>, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if state != "PENDING" {
                return Ok(Err(if reason.as_deref() == Some("expired") {
                    RedeemError::Expired
                } else {
                    RedeemError::AlreadyUsed
                }));
            }
            if expires_at <= now {
                transaction.execute(
                    "UPDATE sessions SET state = 'TERMINATED', reason = 'expired', \
                     terminated_at = $2 WHERE id = $1",
                    &[&id, &now],
                )?;
                transaction.commit()?;
                return Ok(Err(RedeemError::Expired));
            }
            let session = load(&mut transaction, &id)?;
            let app = load_application(&mut transaction, &session.application, false)?;
            if app.state == ApplicationState::Disabled {
                return Ok(Err(RedeemError::ApplicationDisabled));
            }
            transaction.execute(
                "UPDATE sessions SET state = 'ACTIVE', activated_at = $2 WHERE id = $1",
                &[&id, &now],
            )?;
            let session = load(&mut transaction, &id)?;
            transaction.commit()?;
            Ok(Ok((session, app)))
        })
    }

    fn terminate_session(&self, id: &str, reason: &str, now: i64) -> StoreResult<Option<Session>> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = $2, terminated_at = $3 \
                 WHERE id = $1 AND state != 'TERMINATED'",
                &[&id, &reason, &now],
            )?;
            let session = load(client, &id)?;
            Ok((changed > 0).then_some(session))
        })
    }

    fn expire_pending(&self, now: i64) -> StoreResult<usize> {
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = 'expired', terminated_at = $1 \
                 WHERE state = 'PENDING' AND expires_at <= $1",
                &[&now],
            )?;
            Ok(changed as usize)
        })
    }

    fn end_sessions_of_previous_run(&self, now: i64) -> StoreResult<usize> {
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = 'host_restart', \
                 terminated_at = $1 WHERE state IN ('PENDING', 'ACTIVE')",
                &[&now],
            )?;
            Ok(changed as usize)
        })
    }
}
