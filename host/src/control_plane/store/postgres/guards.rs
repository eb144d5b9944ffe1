//! The shared guards' tables (see `GuardStore`): what one host kept in
//! memory, every host of the fleet sees.

use postgres::Client;

use super::{PostgresStore, prepared};
use crate::control_plane::store::{GuardStore, StoreResult};

impl GuardStore for PostgresStore {
    fn claim_nonce(&self, id: &str, at: i64, forget_before: i64) -> StoreResult<bool> {
        // Batched with the other requests' claims (see `claim_batch`).
        self.nonces.call(NonceClaim {
            id: id.to_string(),
            at,
            forget_before,
        })
    }

    fn forget_nonces(&self, before: i64) -> StoreResult<usize> {
        self.with(move |client| {
            let gone = client.execute("DELETE FROM request_nonces WHERE at < $1", &[&before])?;
            Ok(gone as usize)
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

pub(super) struct NonceClaim {
    id: String,
    at: i64,
    forget_before: i64,
}

/// Claims a batch of nonces in one round trip (see `batch`). The primary
/// key decides: of two hosts given one nonce at once, one claims it. An
/// aged-out record is taken over, so the requests' path needs no sweep
/// (`forget_nonces` is the sweep).
pub(super) fn claim_batch(client: &mut Client, claims: &[NonceClaim]) -> StoreResult<Vec<bool>> {
    let statement = prepared(
        client,
        "SELECT out_claimed FROM appstream_claim_nonces($1, $2, $3) ORDER BY out_index",
    )?;
    let rows = client.query(
        &statement,
        &[
            &claims.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            &claims.iter().map(|c| c.at).collect::<Vec<_>>(),
            &claims.iter().map(|c| c.forget_before).collect::<Vec<_>>(),
        ],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
