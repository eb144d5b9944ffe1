//! The shared guards' tables (see `GuardStore`): what one host kept in
//! memory, every host of the fleet sees.

use super::PostgresStore;
use crate::control_plane::store::{GuardStore, StoreResult};

impl GuardStore for PostgresStore {
    fn claim_nonce(&self, id: &str, at: i64, forget_before: i64) -> StoreResult<bool> {
        let id = id.to_string();
        self.with(move |client| {
            client.execute(
                "DELETE FROM request_nonces WHERE at < $1",
                &[&forget_before],
            )?;
            // The primary key decides: of two hosts given one nonce at once,
            // one inserts it.
            let inserted = client.execute(
                "INSERT INTO request_nonces (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &at],
            )?;
            Ok(inserted == 1)
        })
    }

    fn record_signin_failure(
        &self,
        subjects: &[String],
        at: i64,
        forget_before: i64,
    ) -> StoreResult<()> {
        let subjects = subjects.to_vec();
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "DELETE FROM signin_failures WHERE at < $1",
                &[&forget_before],
            )?;
            for subject in &subjects {
                transaction.execute(
                    "INSERT INTO signin_failures (subject, at) VALUES ($1, $2)",
                    &[subject, &at],
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
    }

    fn signin_failures(&self, subjects: &[String], since: i64) -> StoreResult<Vec<(String, i64)>> {
        let subjects = subjects.to_vec();
        self.with(move |client| {
            let rows = client.query(
                "SELECT subject, at FROM signin_failures \
                 WHERE subject = ANY($1) AND at >= $2 ORDER BY at",
                &[&subjects, &since],
            )?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    fn clear_signin_failures(&self, subject: &str) -> StoreResult<()> {
        let subject = subject.to_string();
        self.with(move |client| {
            client.execute(
                "DELETE FROM signin_failures WHERE subject = $1",
                &[&subject],
            )?;
            Ok(())
        })
    }
}
