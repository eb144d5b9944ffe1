//! Sessions: PENDING (entitlement minted) → ACTIVE (redeemed by a viewer)
//! → TERMINATED (with a reason).

use common::api::{Application, ApplicationState, Session, SessionState};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::applications::{live_counts, load_application};
use super::{SqliteStore, rfc3339};
use crate::control_plane::store::{
    RedeemError, SessionStore, StoreError, StoreResult, new_session_id,
};

const COLUMNS: &str =
    "id, application, user, state, reason, created_at, expires_at, activated_at, terminated_at";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let state: String = row.get(3)?;
    Ok(Session {
        id: row.get(0)?,
        application: row.get(1)?,
        user: row.get(2)?,
        state: match state.as_str() {
            "PENDING" => SessionState::Pending,
            "ACTIVE" => SessionState::Active,
            _ => SessionState::Terminated,
        },
        reason: row.get(4)?,
        created_at: rfc3339(row.get(5)?),
        expires_at: rfc3339(row.get(6)?),
        activated_at: row.get::<_, Option<i64>>(7)?.map(rfc3339),
        terminated_at: row.get::<_, Option<i64>>(8)?.map(rfc3339),
    })
}

fn load(connection: &Connection, id: &str) -> StoreResult<Session> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
            [id],
            session_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("session {id}")))
}

impl SessionStore for SqliteStore {
    fn create_session(
        &self,
        application: &str,
        user: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
        max_pending_per_user: u32,
    ) -> StoreResult<Session> {
        let mut connection = self.lock();
        // IMMEDIATE: the count and the insert see no other writer in between,
        // even one in another process.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let app = load_application(&transaction, application)?;
        if app.state == ApplicationState::Disabled {
            return Err(StoreError::ApplicationDisabled(app.name));
        }
        let (pending, active) = live_counts(&transaction, application, now)?;
        if pending + active >= app.max_sessions {
            return Err(StoreError::ApplicationFull {
                application: app.name,
                max_sessions: app.max_sessions,
            });
        }
        let pending_of_user: u32 = transaction.query_row(
            "SELECT COUNT(*) FROM sessions WHERE user = ?1 AND state = 'PENDING' AND expires_at > ?2",
            params![user, now],
            |row| row.get(0),
        )?;
        if pending_of_user >= max_pending_per_user {
            return Err(StoreError::TooManyPending {
                user: user.to_string(),
                max_pending: max_pending_per_user,
            });
        }
        let id = new_session_id();
        transaction.execute(
            "INSERT INTO sessions (id, application, user, state, token_hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, 'PENDING', ?4, ?5, ?6)",
            params![id, application, user, token_hash, now, expires_at],
        )?;
        let session = load(&transaction, &id)?;
        transaction.commit()?;
        Ok(session)
    }

    fn sessions(&self, application: &str) -> StoreResult<Vec<Session>> {
        let connection = self.lock();
        load_application(&connection, application)?;
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE application = ?1 ORDER BY created_at, id"
        ))?;
        let rows = statement.query_map([application], session_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn session(&self, application: &str, id: &str) -> StoreResult<Session> {
        let session = load(&self.lock(), id)?;
        if session.application != application {
            return Err(StoreError::NotFound(format!(
                "session {id} of application {application}"
            )));
        }
        Ok(session)
    }

    fn redeem(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Result<(Session, Application), RedeemError>> {
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(String, String, Option<String>, i64)> = transaction
            .query_row(
                "SELECT id, state, reason, expires_at FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((id, state, reason, expires_at)) = found else {
            return Ok(Err(RedeemError::Unknown));
        };
        if state != "PENDING" {
            // The sweeper may have ended it first: still say why.
            return Ok(Err(if reason.as_deref() == Some("expired") {
                RedeemError::Expired
            } else {
                RedeemError::AlreadyUsed
            }));
        }
        if expires_at <= now {
            transaction.execute(
                "UPDATE sessions SET state = 'TERMINATED', reason = 'expired', terminated_at = ?2 \
                 WHERE id = ?1",
                params![id, now],
            )?;
            transaction.commit()?;
            return Ok(Err(RedeemError::Expired));
        }
        let session = load(&transaction, &id)?;
        let app = load_application(&transaction, &session.application)?;
        if app.state == ApplicationState::Disabled {
            return Ok(Err(RedeemError::ApplicationDisabled));
        }
        transaction.execute(
            "UPDATE sessions SET state = 'ACTIVE', activated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        let session = load(&transaction, &id)?;
        transaction.commit()?;
        Ok(Ok((session, app)))
    }

    fn terminate_session(&self, id: &str, reason: &str, now: i64) -> StoreResult<Option<Session>> {
        let connection = self.lock();
        let changed = connection.execute(
            "UPDATE sessions SET state = 'TERMINATED', reason = ?2, terminated_at = ?3 \
             WHERE id = ?1 AND state != 'TERMINATED'",
            params![id, reason, now],
        )?;
        if changed == 0 {
            load(&connection, id)?;
            return Ok(None);
        }
        Ok(Some(load(&connection, id)?))
    }

    fn expire_pending(&self, now: i64) -> StoreResult<usize> {
        Ok(self.lock().execute(
            "UPDATE sessions SET state = 'TERMINATED', reason = 'expired', terminated_at = ?1 \
             WHERE state = 'PENDING' AND expires_at <= ?1",
            [now],
        )?)
    }

    fn end_sessions_of_previous_run(&self, now: i64) -> StoreResult<usize> {
        Ok(self.lock().execute(
            "UPDATE sessions SET state = 'TERMINATED', reason = 'host_restart', terminated_at = ?1 \
             WHERE state IN ('PENDING', 'ACTIVE')",
            [now],
        )?)
    }
}
