//! The audit log: every API decision and every sign-in attempt, never a
//! secret.

use rusqlite::params;

use super::SqliteStore;
use crate::control_plane::store::{
    AuditEntry, AuditQuery, AuditStore, StoreResult, bounded_audit_entry,
};

impl AuditStore for SqliteStore {
    fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let e = bounded_audit_entry(entry);
        self.lock()
            .prepare_cached(
                "INSERT INTO audit_log (at, principal, key_id, source_ip, method, path, action, \
                 resource, decision, status, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                e.at,
                e.principal,
                e.key_id,
                e.source_ip,
                e.method,
                e.path,
                e.action,
                e.resource,
                e.decision,
                e.status,
                e.reason
            ])?;
        Ok(())
    }

    fn prune_audit(&self, max_rows: u64, older_than: i64) -> StoreResult<usize> {
        let connection = self.lock();
        let by_age = connection.execute("DELETE FROM audit_log WHERE at < ?1", [older_than])?;
        // Rows beyond the newest `max_rows` (ids grow with time).
        let by_count = connection.execute(
            "DELETE FROM audit_log WHERE id <= \
             (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [i64::try_from(max_rows).unwrap_or(i64::MAX)],
        )?;
        Ok(by_age + by_count)
    }

    fn audit_rows(&self) -> StoreResult<u64> {
        let rows: i64 = self
            .lock()
            .query_row("SELECT COUNT(*) FROM audit_log", [], |row| row.get(0))?;
        Ok(rows.max(0) as u64)
    }

    fn audit_search(&self, query: &AuditQuery) -> StoreResult<Vec<(i64, AuditEntry)>> {
        // Each filter is bound (NULL: no filter), so one cached statement
        // serves every combination.
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT id, at, principal, key_id, source_ip, method, path, action, resource, \
             decision, status, reason FROM audit_log \
             WHERE (?1 IS NULL OR principal = ?1) AND (?2 IS NULL OR action = ?2) \
             AND (?3 IS NULL OR decision = ?3) AND (?4 IS NULL OR at >= ?4) \
             AND (?5 IS NULL OR at <= ?5) AND (?6 IS NULL OR id < ?6) \
             ORDER BY id DESC LIMIT ?7",
        )?;
        let parameters = params![
            query.principal,
            query.action,
            query.decision,
            query.since,
            query.until,
            query.before,
            i64::try_from(query.limit).unwrap_or(i64::MAX)
        ];
        let rows = statement.query_map(parameters, |row| {
            let entry = AuditEntry {
                at: row.get(1)?,
                principal: row.get(2)?,
                key_id: row.get(3)?,
                source_ip: row.get(4)?,
                method: row.get(5)?,
                path: row.get(6)?,
                action: row.get(7)?,
                resource: row.get(8)?,
                decision: row.get(9)?,
                status: row.get(10)?,
                reason: row.get(11)?,
            };
            Ok((row.get(0)?, entry))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
