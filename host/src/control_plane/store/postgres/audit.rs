//! The audit log: every API decision and every sign-in attempt, never a
//! secret; one log for the whole fleet.

use postgres::Client;

use super::{PostgresStore, prepared};
use crate::control_plane::store::{
    AuditEntry, AuditQuery, AuditStore, StoreResult, bounded_audit_entry,
};

impl AuditStore for PostgresStore {
    fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.audits.call(bounded_audit_entry(entry))
    }

    fn prune_audit(&self, max_rows: u64, older_than: i64) -> StoreResult<usize> {
        let max_rows = i64::try_from(max_rows).unwrap_or(i64::MAX);
        self.with(move |client| {
            let by_age = client.execute("DELETE FROM audit_log WHERE at < $1", &[&older_than])?;
            let by_count = client.execute(
                "DELETE FROM audit_log WHERE id <= \
                 (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET $1)",
                &[&max_rows],
            )?;
            Ok((by_age + by_count) as usize)
        })
    }

    fn audit_rows(&self) -> StoreResult<u64> {
        self.with(|client| {
            let rows: i64 = client
                .query_one("SELECT COUNT(*) FROM audit_log", &[])?
                .get(0);
            Ok(rows.max(0) as u64)
        })
    }

    fn audit_search(&self, query: &AuditQuery) -> StoreResult<Vec<(i64, AuditEntry)>> {
        let query = query.clone();
        self.with(move |client| {
            // Each filter is bound (NULL: no filter): one statement serves
            // every combination.
            let rows = client.query(
                "SELECT id, at, principal, key_id, source_ip, method, path, action, resource, \
                 decision, status, reason FROM audit_log \
                 WHERE ($1::TEXT IS NULL OR principal = $1) AND ($2::TEXT IS NULL OR action = $2) \
                 AND ($3::TEXT IS NULL OR decision = $3) AND ($4::BIGINT IS NULL OR at >= $4) \
                 AND ($5::BIGINT IS NULL OR at <= $5) AND ($6::BIGINT IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7",
                &[
                    &query.principal,
                    &query.action,
                    &query.decision,
                    &query.since,
                    &query.until,
                    &query.before,
                    &i64::try_from(query.limit).unwrap_or(i64::MAX),
                ],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    let entry = AuditEntry {
                        at: row.get(1),
                        principal: row.get(2),
                        key_id: row.get(3),
                        source_ip: row.get(4),
                        method: row.get(5),
                        path: row.get(6),
                        action: row.get(7),
                        resource: row.get(8),
                        decision: row.get(9),
                        status: u16::try_from(row.get::<_, i32>(10)).unwrap_or(0),
                        reason: row.get(11),
                    };
                    (row.get(0), entry)
                })
                .collect())
        })
    }
}

/// A batch of audit rows in one statement (see `batch`).
pub(super) fn write_batch(client: &mut Client, entries: &[AuditEntry]) -> StoreResult<Vec<()>> {
    let column = |f: fn(&AuditEntry) -> Option<String>| entries.iter().map(f).collect::<Vec<_>>();
    let statement = prepared(
        client,
        "INSERT INTO audit_log (at, principal, key_id, source_ip, method, path, action, \
         resource, decision, status, reason) \
         SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::INTEGER[], $11::TEXT[])",
    )?;
    client.execute(
        &statement,
        &[
            &entries.iter().map(|e| e.at).collect::<Vec<_>>(),
            &column(|e| e.principal.clone()),
            &column(|e| e.key_id.clone()),
            &column(|e| e.source_ip.clone()),
            &column(|e| Some(e.method.clone())),
            &column(|e| Some(e.path.clone())),
            &column(|e| e.action.clone()),
            &column(|e| e.resource.clone()),
            &column(|e| Some(e.decision.clone())),
            &entries
                .iter()
                .map(|e| i32::from(e.status))
                .collect::<Vec<_>>(),
            &column(|e| e.reason.clone()),
        ],
    )?;
    Ok(vec![(); entries.len()])
}
