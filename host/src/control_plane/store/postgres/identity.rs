//! Principals (users and roles), their credentials, access keys, policies,
//! entitlements and the entitlement service's sign-in and refresh tokens:
//! one set for the whole fleet.

use postgres::Row;

use super::{PostgresStore, missing_reference, not_found, prepared};
use crate::control_plane::store::{
    AccessKey, Credentials, IdentityStore, Principal, PrincipalKind, RefreshUse, RefreshWrite,
    StoreError, StoreResult, TokenTable, refresh_outcome,
};

fn principal_from_row(row: &Row) -> Principal {
    let kind: String = row.get(1);
    Principal {
        name: row.get(0),
        kind: if kind == "role" {
            PrincipalKind::Role
        } else {
            PrincipalKind::User
        },
        enabled: row.get(2),
        has_password: row.get(3),
        has_totp: row.get(4),
    }
}

const PRINCIPAL_COLUMNS: &str =
    "name, kind, enabled, password_hash IS NOT NULL, totp_secret IS NOT NULL";

fn key_from_row(row: &Row) -> AccessKey {
    AccessKey {
        key_id: row.get(0),
        principal: row.get(1),
        secret: row.get(2),
        active: row.get(3),
        created_at: row.get(4),
        expires_at: row.get(5),
        session_token: row.get(6),
    }
}

const KEY_COLUMNS: &str =
    "key_id, principal, secret, active, created_at, expires_at, session_token";

fn owned(text: &str) -> String {
    text.to_string()
}

impl IdentityStore for PostgresStore {
    fn create_principal(&self, name: &str, kind: PrincipalKind, now: i64) -> StoreResult<()> {
        let name = owned(name);
        self.with(move |client| {
            let inserted = client.execute(
                "INSERT INTO principals (name, kind, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &kind.as_str(), &now],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "principal {name} already exists"
                )));
            }
            Ok(())
        })
    }

    fn principal(&self, name: &str) -> StoreResult<Principal> {
        self.cache.principal(name, || {
            let name = owned(name);
            self.with(move |client| {
                let statement = prepared(
                    client,
                    &format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = $1"),
                )?;
                client
                    .query_opt(&statement, &[&name])?
                    .map(|row| principal_from_row(&row))
                    .ok_or_else(|| StoreError::NotFound(format!("principal {name}")))
            })
        })
    }

    fn principals(&self) -> StoreResult<Vec<Principal>> {
        self.with(|client| {
            let rows = client.query(
                &format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY name"),
                &[],
            )?;
            Ok(rows.iter().map(principal_from_row).collect())
        })
    }

    fn delete_principal(&self, name: &str) -> StoreResult<()> {
        let name = owned(name);
        self.changing(move |client| {
            let changed = client.execute("DELETE FROM principals WHERE name = $1", &[&name])?;
            not_found(changed, format!("principal {name}"))
        })
    }

    fn set_principal_enabled(&self, name: &str, enabled: bool) -> StoreResult<()> {
        let name = owned(name);
        self.changing(move |client| {
            let changed = client.execute(
                "UPDATE principals SET enabled = $2 WHERE name = $1",
                &[&name, &enabled],
            )?;
            not_found(changed, format!("principal {name}"))
        })
    }

    fn set_password_hash(&self, user: &str, hash: &str) -> StoreResult<()> {
        let (user, hash) = (owned(user), owned(hash));
        self.changing(move |client| {
            let mut transaction = client.transaction()?;
            let changed = transaction.execute(
                "UPDATE principals SET password_hash = $2 WHERE name = $1 AND kind = 'user'",
                &[&user, &hash],
            )?;
            // A new password ends every remembered sign-in.
            transaction.execute("DELETE FROM refresh_tokens WHERE \"user\" = $1", &[&user])?;
            transaction.commit()?;
            not_found(changed, format!("user {user}"))
        })
    }

    fn set_totp_secret(&self, user: &str, secret_base32: Option<&str>) -> StoreResult<()> {
        let (user, secret) = (owned(user), secret_base32.map(owned));
        self.changing(move |client| {
            let mut transaction = client.transaction()?;
            let changed = transaction.execute(
                "UPDATE principals SET totp_secret = $2 WHERE name = $1 AND kind = 'user'",
                &[&user, &secret],
            )?;
            transaction.execute("DELETE FROM refresh_tokens WHERE \"user\" = $1", &[&user])?;
            transaction.commit()?;
            not_found(changed, format!("user {user}"))
        })
    }

    fn credentials(&self, user: &str) -> StoreResult<Credentials> {
        let user = owned(user);
        self.with(move |client| {
            client
                .query_opt(
                    "SELECT password_hash, totp_secret, enabled FROM principals \
                     WHERE name = $1 AND kind = 'user'",
                    &[&user],
                )?
                .map(|row| Credentials {
                    password_hash: row.get(0),
                    totp_secret_base32: row.get(1),
                    enabled: row.get(2),
                })
                .ok_or_else(|| StoreError::NotFound(format!("user {user}")))
        })
    }

    fn create_key(&self, key: &AccessKey) -> StoreResult<()> {
        let key = key.clone();
        self.with(move |client| {
            client
                .execute(
                    "INSERT INTO access_keys (key_id, principal, secret, active, created_at, \
                     expires_at, session_token) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &key.key_id,
                        &key.principal,
                        &key.secret,
                        &key.active,
                        &key.created_at,
                        &key.expires_at,
                        &key.session_token,
                    ],
                )
                .map_err(|e| missing_reference(e, format!("principal {}", key.principal)))?;
            Ok(())
        })
    }

    fn key(&self, key_id: &str) -> StoreResult<AccessKey> {
        self.cache.key(key_id, || {
            let key_id = owned(key_id);
            self.with(move |client| {
                let statement = prepared(
                    client,
                    &format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE key_id = $1"),
                )?;
                client
                    .query_opt(&statement, &[&key_id])?
                    .map(|row| key_from_row(&row))
                    .ok_or_else(|| StoreError::NotFound(format!("access key {key_id}")))
            })
        })
    }

    fn keys(&self, principal: Option<&str>) -> StoreResult<Vec<AccessKey>> {
        let principal = principal.map(owned);
        self.with(move |client| {
            let rows = client.query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM access_keys \
                     WHERE $1::TEXT IS NULL OR principal = $1 \
                     ORDER BY principal, created_at, key_id"
                ),
                &[&principal],
            )?;
            Ok(rows.iter().map(key_from_row).collect())
        })
    }

    fn set_key_active(&self, key_id: &str, active: bool) -> StoreResult<()> {
        let key_id = owned(key_id);
        self.changing(move |client| {
            let changed = client.execute(
                "UPDATE access_keys SET active = $2 WHERE key_id = $1",
                &[&key_id, &active],
            )?;
            not_found(changed, format!("access key {key_id}"))
        })
    }

    fn delete_key(&self, key_id: &str) -> StoreResult<()> {
        let key_id = owned(key_id);
        self.changing(move |client| {
            let changed =
                client.execute("DELETE FROM access_keys WHERE key_id = $1", &[&key_id])?;
            not_found(changed, format!("access key {key_id}"))
        })
    }

    fn purge_expired_keys(&self, now: i64) -> StoreResult<usize> {
        self.changing(move |client| {
            let gone = client.execute(
                "DELETE FROM access_keys WHERE expires_at IS NOT NULL AND expires_at <= $1",
                &[&now],
            )?;
            Ok(gone as usize)
        })
    }

    fn put_policy(&self, name: &str, document: &str, now: i64) -> StoreResult<()> {
        let (name, document) = (owned(name), owned(document));
        self.changing(move |client| {
            client.execute(
                "INSERT INTO policies (name, document, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET document = excluded.document, \
                 updated_at = excluded.updated_at",
                &[&name, &document, &now],
            )?;
            Ok(())
        })
    }

    fn policy(&self, name: &str) -> StoreResult<String> {
        let name = owned(name);
        self.with(move |client| {
            client
                .query_opt("SELECT document FROM policies WHERE name = $1", &[&name])?
                .map(|row| row.get(0))
                .ok_or_else(|| StoreError::NotFound(format!("policy {name}")))
        })
    }

    fn policy_names(&self) -> StoreResult<Vec<String>> {
        self.with(|client| {
            let rows = client.query("SELECT name FROM policies ORDER BY name", &[])?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn attach_policy(&self, principal: &str, policy: &str) -> StoreResult<()> {
        let (principal, policy) = (owned(principal), owned(policy));
        self.changing(move |client| {
            client
                .execute(
                    "INSERT INTO policy_attachments (principal, policy) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&principal, &policy],
                )
                .map_err(|e| {
                    missing_reference(e, format!("principal {principal} or policy {policy}"))
                })?;
            Ok(())
        })
    }

    fn detach_policy(&self, principal: &str, policy: &str) -> StoreResult<()> {
        let (principal, policy) = (owned(principal), owned(policy));
        self.changing(move |client| {
            let changed = client.execute(
                "DELETE FROM policy_attachments WHERE principal = $1 AND policy = $2",
                &[&principal, &policy],
            )?;
            not_found(changed, format!("policy {policy} attached to {principal}"))
        })
    }

    fn attached_policies(&self, principal: &str) -> StoreResult<Vec<(String, String)>> {
        self.cache.attached_policies(principal, || {
            let principal = owned(principal);
            self.with(move |client| {
                let statement = prepared(
                    client,
                    "SELECT p.name, p.document FROM policy_attachments a \
                     JOIN policies p ON p.name = a.policy WHERE a.principal = $1 \
                     ORDER BY p.name",
                )?;
                let rows = client.query(&statement, &[&principal])?;
                Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
            })
        })
    }

    fn entitle(&self, user: &str, application: &str) -> StoreResult<()> {
        let (user, application) = (owned(user), owned(application));
        self.with(move |client| {
            client
                .execute(
                    "INSERT INTO entitlements (\"user\", application) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&user, &application],
                )
                .map_err(|e| missing_reference(e, format!("user {user}")))?;
            Ok(())
        })
    }

    fn revoke_entitlement(&self, user: &str, application: &str) -> StoreResult<()> {
        let (user, application) = (owned(user), owned(application));
        self.with(move |client| {
            let changed = client.execute(
                "DELETE FROM entitlements WHERE \"user\" = $1 AND application = $2",
                &[&user, &application],
            )?;
            not_found(changed, format!("entitlement of {user} to {application}"))
        })
    }

    fn entitlements(&self, user: &str) -> StoreResult<Vec<String>> {
        let user = owned(user);
        self.with(move |client| {
            let rows = client.query(
                "SELECT application FROM entitlements WHERE \"user\" = $1 ORDER BY application",
                &[&user],
            )?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn store_signin_token(
        &self,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.insert_token(TokenTable::SignIn, token_hash, user, mfa, expires_at, "")
    }

    fn signin_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<(String, bool)>> {
        let token_hash = owned(token_hash);
        self.with(move |client| {
            Ok(client
                .query_opt(
                    "SELECT t.\"user\", t.mfa FROM signin_tokens t \
                     JOIN principals p ON p.name = t.\"user\" \
                     WHERE t.token_hash = $1 AND t.expires_at > $2 AND p.enabled",
                    &[&token_hash, &now],
                )?
                .map(|row| (row.get(0), row.get(1))))
        })
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
        self.insert_token(
            TokenTable::Enrolment,
            token_hash,
            user,
            false,
            expires_at,
            "",
        )
    }

    fn enrolment_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        let token_hash = owned(token_hash);
        self.with(move |client| {
            Ok(client
                .query_opt(
                    "SELECT \"user\" FROM console_enrolments \
                     WHERE token_hash = $1 AND expires_at > $2",
                    &[&token_hash, &now],
                )?
                .map(|row| row.get(0)))
        })
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
        self.insert_token(
            TokenTable::Refresh,
            token_hash,
            user,
            mfa,
            expires_at,
            family,
        )
    }

    fn take_refresh_token(&self, token_hash: &str, now: i64) -> StoreResult<RefreshUse> {
        let token_hash = owned(token_hash);
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            // The row lock: a token presented to two hosts at once is used
            // by one; the other sees it used.
            let row = transaction.query_opt(
                "SELECT \"user\", mfa, expires_at, family, used FROM refresh_tokens \
                 WHERE token_hash = $1 FOR UPDATE",
                &[&token_hash],
            )?;
            let row = row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)));
            let (outcome, write) = refresh_outcome(row, now);
            match write {
                RefreshWrite::Nothing => 0,
                RefreshWrite::MarkUsed => transaction.execute(
                    "UPDATE refresh_tokens SET used = TRUE WHERE token_hash = $1",
                    &[&token_hash],
                )?,
                RefreshWrite::RevokeFamily(family) => transaction.execute(
                    "DELETE FROM refresh_tokens WHERE family = $1 OR token_hash = $2",
                    &[&family, &token_hash],
                )?,
            };
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn claim_totp_step(&self, user: &str, step: i64) -> StoreResult<bool> {
        let user = owned(user);
        self.with(move |client| {
            // One statement: the row lock makes a step claimable once across
            // every host.
            let changed = client.execute(
                "UPDATE principals SET totp_last_step = $2 \
                 WHERE name = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                &[&user, &step],
            )?;
            Ok(changed == 1)
        })
    }

    fn revoke_refresh_token(&self, token_hash: &str) -> StoreResult<()> {
        self.delete_token(TokenTable::Refresh, token_hash)
    }
}

impl PostgresStore {
    fn insert_token(
        &self,
        table: TokenTable,
        token_hash: &str,
        user: &str,
        mfa: bool,
        expires_at: i64,
        family: &str,
    ) -> StoreResult<()> {
        let (token_hash, user, family) = (owned(token_hash), owned(user), owned(family));
        let name = table.name();
        let family_column = if matches!(table, TokenTable::Refresh) {
            ", family"
        } else {
            ""
        };
        let family_value = if family_column.is_empty() { "" } else { ", $5" };
        self.with(move |client| {
            // Old tokens go when new ones come: the table stays small.
            client.execute(
                &format!("DELETE FROM {name} WHERE expires_at <= $1"),
                &[&(expires_at - table.ttl_s())],
            )?;
            let sql = format!(
                "INSERT INTO {name} (token_hash, \"user\", mfa, expires_at{family_column}) \
                 VALUES ($1, $2, $3, $4{family_value})"
            );
            if family_column.is_empty() {
                client.execute(&sql, &[&token_hash, &user, &mfa, &expires_at])?;
            } else {
                client.execute(&sql, &[&token_hash, &user, &mfa, &expires_at, &family])?;
            }
            Ok(())
        })
    }

    fn delete_token(&self, table: TokenTable, token_hash: &str) -> StoreResult<()> {
        let token_hash = owned(token_hash);
        let name = table.name();
        self.with(move |client| {
            client.execute(
                &format!("DELETE FROM {name} WHERE token_hash = $1"),
                &[&token_hash],
            )?;
            Ok(())
        })
    }
}
