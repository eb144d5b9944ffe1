//! Principals (users and roles), their credentials, access keys, policies,
//! entitlements and the entitlement service's sign-in and refresh tokens.

use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::control_plane::store::{
    AccessKey, Credentials, IdentityStore, Principal, PrincipalKind, RefreshUse, RefreshWrite,
    StoreError, StoreResult, TokenTable, refresh_outcome,
};

fn principal_from_row(row: &Row<'_>) -> rusqlite::Result<Principal> {
    let kind: String = row.get(1)?;
    Ok(Principal {
        name: row.get(0)?,
        kind: if kind == "role" {
            PrincipalKind::Role
        } else {
            PrincipalKind::User
        },
        enabled: row.get(2)?,
        has_password: row.get(3)?,
        has_totp: row.get(4)?,
    })
}

const PRINCIPAL_COLUMNS: &str =
    "name, kind, enabled, password_hash IS NOT NULL, totp_secret IS NOT NULL";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<AccessKey> {
    Ok(AccessKey {
        key_id: row.get(0)?,
        principal: row.get(1)?,
        secret: row.get(2)?,
        active: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        session_token: row.get(6)?,
    })
}

const KEY_COLUMNS: &str =
    "key_id, principal, secret, active, created_at, expires_at, session_token";

fn not_found(what: String) -> impl FnOnce(usize) -> StoreResult<()> {
    move |changed| {
        if changed == 0 {
            Err(StoreError::NotFound(what))
        } else {
            Ok(())
        }
    }
}

/// A foreign key failure means the principal or policy named does not exist.
fn missing_reference(e: rusqlite::Error, what: String) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            StoreError::NotFound(what)
        }
        other => StoreError::Database(other),
    }
}

impl IdentityStore for SqliteStore {
    fn create_principal(&self, name: &str, kind: PrincipalKind, now: i64) -> StoreResult<()> {
        let inserted = self.lock().execute(
            "INSERT INTO principals (name, kind, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO NOTHING",
            params![name, kind.as_str(), now],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "principal {name} already exists"
            )));
        }
        Ok(())
    }

    fn principal(&self, name: &str) -> StoreResult<Principal> {
        self.lock()
            .query_row(
                &format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = ?1"),
                [name],
                principal_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("principal {name}")))
    }

    fn principals(&self) -> StoreResult<Vec<Principal>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY name"
        ))?;
        let rows = statement.query_map([], principal_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_principal(&self, name: &str) -> StoreResult<()> {
        let changed = self
            .lock()
            .execute("DELETE FROM principals WHERE name = ?1", [name])?;
        not_found(format!("principal {name}"))(changed)
    }

    fn set_principal_enabled(&self, name: &str, enabled: bool) -> StoreResult<()> {
        let changed = self.lock().execute(
            "UPDATE principals SET enabled = ?2 WHERE name = ?1",
            params![name, enabled],
        )?;
        not_found(format!("principal {name}"))(changed)
    }

    fn set_password_hash(&self, user: &str, hash: &str) -> StoreResult<()> {
        let connection = self.lock();
        let changed = connection.execute(
            "UPDATE principals SET password_hash = ?2 WHERE name = ?1 AND kind = 'user'",
            params![user, hash],
        )?;
        // A new password ends every remembered sign-in.
        connection.execute("DELETE FROM refresh_tokens WHERE user = ?1", [user])?;
        not_found(format!("user {user}"))(changed)
    }

    fn set_totp_secret(&self, user: &str, secret_base32: Option<&str>) -> StoreResult<()> {
        let connection = self.lock();
        let changed = connection.execute(
            "UPDATE principals SET totp_secret = ?2 WHERE name = ?1 AND kind = 'user'",
            params![user, secret_base32],
        )?;
        connection.execute("DELETE FROM refresh_tokens WHERE user = ?1", [user])?;
        not_found(format!("user {user}"))(changed)
    }

    fn credentials(&self, user: &str) -> StoreResult<Credentials> {
        self.lock()
            .query_row(
                "SELECT password_hash, totp_secret, enabled FROM principals \
                 WHERE name = ?1 AND kind = 'user'",
                [user],
                |row| {
                    Ok(Credentials {
                        password_hash: row.get(0)?,
                        totp_secret_base32: row.get(1)?,
                        enabled: row.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("user {user}")))
    }

    fn create_key(&self, key: &AccessKey) -> StoreResult<()> {
        self.lock()
            .execute(
                "INSERT INTO access_keys (key_id, principal, secret, active, created_at, expires_at, \
                 session_token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.key_id,
                    key.principal,
                    key.secret,
                    key.active,
                    key.created_at,
                    key.expires_at,
                    key.session_token
                ],
            )
            .map_err(|e| missing_reference(e, format!("principal {}", key.principal)))?;
        Ok(())
    }

    fn key(&self, key_id: &str) -> StoreResult<AccessKey> {
        self.lock()
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM access_keys WHERE key_id = ?1"
            ))?
            .query_row([key_id], key_from_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("access key {key_id}")))
    }

    fn keys(&self, principal: Option<&str>) -> StoreResult<Vec<AccessKey>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM access_keys WHERE ?1 IS NULL OR principal = ?1 \
             ORDER BY principal, created_at, key_id"
        ))?;
        let rows = statement.query_map([principal], key_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_key_active(&self, key_id: &str, active: bool) -> StoreResult<()> {
        let changed = self.lock().execute(
            "UPDATE access_keys SET active = ?2 WHERE key_id = ?1",
            params![key_id, active],
        )?;
        not_found(format!("access key {key_id}"))(changed)
    }

    fn delete_key(&self, key_id: &str) -> StoreResult<()> {
        let changed = self
            .lock()
            .execute("DELETE FROM access_keys WHERE key_id = ?1", [key_id])?;
        not_found(format!("access key {key_id}"))(changed)
    }

    fn purge_expired_keys(&self, now: i64) -> StoreResult<usize> {
        Ok(self.lock().execute(
            "DELETE FROM access_keys WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            [now],
        )?)
    }

    fn put_policy(&self, name: &str, document: &str, now: i64) -> StoreResult<()> {
        self.lock().execute(
            "INSERT INTO policies (name, document, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET document = excluded.document, \
             updated_at = excluded.updated_at",
            params![name, document, now],
        )?;
        Ok(())
    }

    fn policy(&self, name: &str) -> StoreResult<String> {
        self.lock()
            .query_row(
                "SELECT document FROM policies WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("policy {name}")))
    }

    fn policy_names(&self) -> StoreResult<Vec<String>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached("SELECT name FROM policies ORDER BY name")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn attach_policy(&self, principal: &str, policy: &str) -> StoreResult<()> {
        self.lock()
            .execute(
                "INSERT INTO policy_attachments (principal, policy) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                params![principal, policy],
            )
            .map_err(|e| {
                missing_reference(e, format!("principal {principal} or policy {policy}"))
            })?;
        Ok(())
    }

    fn detach_policy(&self, principal: &str, policy: &str) -> StoreResult<()> {
        let changed = self.lock().execute(
            "DELETE FROM policy_attachments WHERE principal = ?1 AND policy = ?2",
            params![principal, policy],
        )?;
        not_found(format!("policy {policy} attached to {principal}"))(changed)
    }

    fn attached_policies(&self, principal: &str) -> StoreResult<Vec<(String, String)>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT p.name, p.document FROM policy_attachments a \
             JOIN policies p ON p.name = a.policy WHERE a.principal = ?1 ORDER BY p.name",
        )?;
        let rows = statement.query_map([principal], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn entitle(&self, user: &str, application: &str) -> StoreResult<()> {
        self.lock()
            .execute(
                "INSERT INTO entitlements (user, application) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![user, application],
            )
            .map_err(|e| missing_reference(e, format!("user {user}")))?;
        Ok(())
    }

    fn revoke_entitlement(&self, user: &str, application: &str) -> StoreResult<()> {
        let changed = self.lock().execute(
            "DELETE FROM entitlements WHERE user = ?1 AND application = ?2",
            params![user, application],
        )?;
        not_found(format!("entitlement of {user} to {application}"))(changed)
    }

    fn entitlements(&self, user: &str) -> StoreResult<Vec<String>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT application FROM entitlements WHERE user = ?1 ORDER BY application",
        )?;
        let rows = statement.query_map([user], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn store_signin_token(
        &self,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.insert_token(TokenTable::SignIn, token_hash, user, mfa, expires_at)
    }

    fn signin_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<(String, bool)>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT t.user, t.mfa FROM signin_tokens t JOIN principals p ON p.name = t.user \
                 WHERE t.token_hash = ?1 AND t.expires_at > ?2 AND p.enabled",
                params![token_hash, now],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    fn revoke_signin_token(&self, token_hash: &str) -> StoreResult<()> {
        self.delete_token(TokenTable::SignIn, token_hash)
    }

    fn store_enrolment_token(
        &self,
        token_hash: &str,
        user: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.insert_token(TokenTable::Enrolment, token_hash, user, false, expires_at)
    }

    fn enrolment_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT user FROM console_enrolments WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn revoke_enrolment_token(&self, token_hash: &str) -> StoreResult<()> {
        self.delete_token(TokenTable::Enrolment, token_hash)
    }

    fn store_refresh_token(
        &self,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
        family: &str,
    ) -> StoreResult<()> {
        self.insert_token(TokenTable::Refresh, token_hash, user, mfa, expires_at)?;
        self.lock().execute(
            "UPDATE refresh_tokens SET family = ?2 WHERE token_hash = ?1",
            params![token_hash, family],
        )?;
        Ok(())
    }

    fn take_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let row = transaction
            .query_row(
                "SELECT user, mfa, expires_at, family, used FROM refresh_tokens WHERE token_hash = ?1",
                [token_hash],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
            )
            .optional()?;
        let (outcome, write) = refresh_outcome(row, now);
        match write {
            RefreshWrite::Nothing => 0,
            RefreshWrite::MarkUsed => transaction.execute(
                "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?1",
                [token_hash],
            )?,
            RefreshWrite::RevokeFamily(family) => transaction.execute(
                "DELETE FROM refresh_tokens WHERE family = ?1 OR token_hash = ?2",
                params![family, token_hash],
            )?,
        };
        transaction.commit()?;
        Ok(outcome)
    }

    fn claim_totp_step(&self, user: &str, step: i64) -> StoreResult<bool> {
        let changed = self.lock().execute(
            "UPDATE principals SET totp_last_step = ?2 \
             WHERE name = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![user, step],
        )?;
        Ok(changed == 1)
    }

    fn revoke_refresh_token(&self, token_hash: &str) -> StoreResult<()> {
        self.delete_token(TokenTable::Refresh, token_hash)
    }
}

impl SqliteStore {
    fn insert_token(
        &self,
        table: TokenTable,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
    ) -> StoreResult<()> {
        let connection = self.lock();
        let name = table.name();
        // Old tokens go when new ones come: the table stays small.
        connection.execute(
            &format!("DELETE FROM {name} WHERE expires_at <= ?1"),
            [expires_at - table.ttl_s()],
        )?;
        connection.execute(
            &format!(
                "INSERT INTO {name} (token_hash, user, mfa, expires_at) VALUES (?1, ?2, ?3, ?4)"
            ),
            params![token_hash, user, mfa, expires_at],
        )?;
        Ok(())
    }

    fn delete_token(&self, table: TokenTable, token_hash: &str) -> StoreResult<()> {
        let name = table.name();
        self.lock().execute(
            &format!("DELETE FROM {name} WHERE token_hash = ?1"),
            [token_hash],
        )?;
        Ok(())
    }
}
