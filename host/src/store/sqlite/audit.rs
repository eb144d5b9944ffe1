//! The audit log: every API decision and every sign-in attempt, never a
//! secret.

use rusqlite::params;

use super::SqliteStore;
use crate::store::{AuditEntry, AuditStore, StoreResult};

impl AuditStore for SqliteStore {
    fn audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.lock()
            .prepare_cached(
                "INSERT INTO audit_log (at, principal, key_id, source_ip, method, path, action, \
                 resource, decision, status, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                entry.at,
                entry.principal,
                entry.key_id,
                entry.source_ip,
                entry.method,
                entry.path,
                entry.action,
                entry.resource,
                entry.decision,
                entry.status,
                entry.reason
            ])?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT at, principal, key_id, source_ip, method, path, action, resource, decision, \
             status, reason FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([limit as i64], |row| {
            Ok(AuditEntry {
                at: row.get(0)?,
                principal: row.get(1)?,
                key_id: row.get(2)?,
                source_ip: row.get(3)?,
                method: row.get(4)?,
                path: row.get(5)?,
                action: row.get(6)?,
                resource: row.get(7)?,
                decision: row.get(8)?,
                status: row.get(9)?,
                reason: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
