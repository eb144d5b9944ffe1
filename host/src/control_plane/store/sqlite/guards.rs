//! The shared guards' tables (see `GuardStore`).

use rusqlite::params;

use super::SqliteStore;
use crate::control_plane::store::{GuardStore, StoreResult};

impl GuardStore for SqliteStore {
    fn claim_nonce(&self, id: &str, at: i64, forget_before: i64) -> StoreResult<bool> {
        // An aged-out record is taken over: one statement, no sweep needed
        // on the request's path.
        let claimed = self.lock().execute(
            "INSERT INTO request_nonces (id, at) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at WHERE request_nonces.at < ?3",
            params![id, at, forget_before],
        )?;
        Ok(claimed == 1)
    }

    fn forget_nonces(&self, before: i64) -> StoreResult<usize> {
        Ok(self
            .lock()
            .execute("DELETE FROM request_nonces WHERE at < ?1", [before])?)
    }

    fn record_signin_failure(
        &self,
        subjects: &[String],
        at: i64,
        forget_before: i64,
    ) -> StoreResult<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        transaction.execute("DELETE FROM signin_failures WHERE at < ?1", [forget_before])?;
        for subject in subjects {
            transaction.execute(
                "INSERT INTO signin_failures (subject, at) VALUES (?1, ?2)",
                params![subject, at],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    fn signin_failures(&self, subjects: &[String], since: i64) -> StoreResult<Vec<(String, i64)>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT subject, at FROM signin_failures WHERE subject = ?1 AND at >= ?2 ORDER BY at",
        )?;
        let mut failures = Vec::new();
        for subject in subjects {
            let rows = statement.query_map(params![subject, since], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            for row in rows {
                failures.push(row?);
            }
        }
        failures.sort_by_key(|(_, at)| *at);
        Ok(failures)
    }

    fn clear_signin_failures(&self, subject: &str) -> StoreResult<()> {
        self.lock()
            .execute("DELETE FROM signin_failures WHERE subject = ?1", [subject])?;
        Ok(())
    }
}
