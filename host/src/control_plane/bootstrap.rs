//! First start: the principals, policies, keys and the demo application a
//! fresh host needs, each created only if missing (a restart changes
//! nothing). Secrets go to files private to the owner, never to the log.

use std::path::Path;

use anyhow::Context;
use common::api::{NewApplication, StreamDefaults};
use common::client::AccessKeyFile;
use rand::RngCore;

use crate::control_plane::passwords;
use crate::control_plane::store::{AccessKey, Store, StoreError};
use crate::platform::write_private;

/// The demo application's icon (the test pattern's colours).
const DEMO_ICON_PNG: &[u8] = include_bytes!("../../../assets/icons/desktop.png");

pub const ADMIN_USER: &str = "admin";
pub const DEMO_USER: &str = "demo";
pub const DEMO_APPLICATION: &str = "demo";
pub const ENTITLEMENT_ROLE: &str = "entitlement-service";
pub const MACHINE_ROLE: &str = "machine-role";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const ENTITLEMENT_KEY_FILE: &str = "entitlement.key";
pub const DEMO_PASSWORD_FILE: &str = "demo.password";

/// The seed's example policies, verbatim (assets/fixtures/seed-policies).
pub const FULL_ACCESS_POLICY: &str =
    include_str!("../../../assets/fixtures/seed-policies/full-access.json");
pub const SESSION_CALLS_POLICY: &str =
    include_str!("../../../assets/fixtures/seed-policies/dynamodb-and-session-calls.json");
pub const READ_ONLY_POLICY: &str =
    include_str!("../../../assets/fixtures/seed-policies/read-only.json");

/// What launched applications (the machine role's keys) may read: the
/// catalog and sessions. Not the seed's read-only policy (`Get*` on `*`),
/// which also shows users, key ids, policies and the audit log.
pub const MACHINE_ROLE_POLICY: (&str, &str) = (
    "machine-role-read",
    r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": "appstream:Get*", "Resource": "application/*" },
    { "Effect": "Allow", "Action": "appstream:GetApiRoot", "Resource": "*" }
  ]
}"#,
);

/// Gives the machine role `MACHINE_ROLE_POLICY` in place of the seed's
/// read-only policy, which data directories made before it carry.
fn machine_role_reads_applications_only(store: &dyn Store, now: i64) -> anyhow::Result<()> {
    let (name, document) = MACHINE_ROLE_POLICY;
    let attached = store.attached_policies(MACHINE_ROLE)?;
    if attached.iter().any(|(n, _)| n == "read-only") {
        // Another host of the fleet may have just done it.
        match store.detach_policy(MACHINE_ROLE, "read-only") {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if !attached.iter().any(|(n, _)| n == name) {
        store.put_policy(name, document, now)?;
        store.attach_policy(MACHINE_ROLE, name)?;
    }
    Ok(())
}

/// A new access key for `principal`, stored; the secret is returned once.
pub fn create_access_key(
    store: &dyn Store,
    principal: &str,
    now: i64,
) -> Result<AccessKeyFile, StoreError> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let file = AccessKeyFile {
        key_id: format!("AK{}", hex::encode_upper(id)),
        secret: hex::encode(secret),
    };
    store.create_key(&AccessKey {
        key_id: file.key_id.clone(),
        principal: principal.to_string(),
        secret: file.secret.clone(),
        active: true,
        created_at: now,
        expires_at: None,
        session_token: None,
    })?;
    Ok(file)
}

fn exists(store: &dyn Store, principal: &str) -> anyhow::Result<bool> {
    match store.principal(principal) {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Creates the principal unless it exists. Another host sharing the
/// database may create it at the same moment: that is no error.
fn create_if_missing(
    store: &dyn Store,
    name: &str,
    kind: crate::control_plane::store::PrincipalKind,
    now: i64,
) -> anyhow::Result<()> {
    match store.create_principal(name, kind, now) {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A principal with one policy and a key written to `key_file`.
fn principal_with_key(
    store: &dyn Store,
    data_dir: &Path,
    name: &str,
    kind: crate::control_plane::store::PrincipalKind,
    policy: (&str, &str),
    key_file: &str,
    now: i64,
) -> anyhow::Result<()> {
    let path = data_dir.join(key_file);
    if exists(store, name)? && path.exists() {
        return Ok(());
    }
    create_if_missing(store, name, kind, now)?;
    store.put_policy(policy.0, policy.1, now)?;
    store.attach_policy(name, policy.0)?;
    let key = create_access_key(store, name, now)?;
    write_private(&path, key.to_text().as_bytes())?;
    tracing::info!(principal = name, key_id = %key.key_id, file = %path.display(), "access key written");
    Ok(())
}

/// Makes sure the admin, the entitlement service's role, the machine role,
/// the demo user and the demo application exist. `demo_stream` is applied to
/// the demo application on every start (the host's --width/--height/--fps).
pub fn ensure(
    store: &dyn Store,
    data_dir: &Path,
    demo_stream: &StreamDefaults,
    now: i64,
) -> anyhow::Result<()> {
    use crate::control_plane::store::PrincipalKind::{Role, User};
    principal_with_key(
        store,
        data_dir,
        ADMIN_USER,
        User,
        ("full-access", FULL_ACCESS_POLICY),
        ADMIN_KEY_FILE,
        now,
    )?;
    principal_with_key(
        store,
        data_dir,
        ENTITLEMENT_ROLE,
        Role,
        ("entitlement-service", SESSION_CALLS_POLICY),
        ENTITLEMENT_KEY_FILE,
        now,
    )?;
    if !exists(store, MACHINE_ROLE)? {
        create_if_missing(store, MACHINE_ROLE, Role, now)?;
        store.put_policy("read-only", READ_ONLY_POLICY, now)?;
    }
    machine_role_reads_applications_only(store, now)?;

    // The demo's icon, for the viewer's application grid.
    let icon_path = data_dir
        .join(crate::control_plane::icons::ICONS_DIR)
        .join("demo.png");
    if !icon_path.exists() {
        std::fs::create_dir_all(data_dir.join(crate::control_plane::icons::ICONS_DIR))?;
        std::fs::write(&icon_path, DEMO_ICON_PNG)?;
    }
    match store.application(DEMO_APPLICATION) {
        Ok(_) => {
            let patch = common::api::ApplicationPatch {
                stream: Some(demo_stream.clone()),
                ..Default::default()
            };
            store.update_application(DEMO_APPLICATION, &patch, now)?;
        }
        Err(StoreError::NotFound(_)) => {
            let created = store.create_application(
                &NewApplication {
                    name: DEMO_APPLICATION.into(),
                    description: "Synthetic test pattern and tone".into(),
                    command: String::new(),
                    args: Vec::new(),
                    working_dir: None,
                    icon: Some(format!(
                        "{}/demo.png",
                        crate::control_plane::icons::ICONS_DIR
                    )),
                    stream: demo_stream.clone(),
                    max_sessions: 4,
                    state: common::api::ApplicationState::Enabled,
                },
                now,
            );
            match created {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    }

    let password_path = data_dir.join(DEMO_PASSWORD_FILE);
    if !exists(store, DEMO_USER)? || !password_path.exists() {
        create_if_missing(store, DEMO_USER, User, now)?;
        let password = passwords::random_password();
        store.set_password_hash(DEMO_USER, &passwords::hash_password(&password)?)?;
        write_private(&password_path, format!("{password}\n").as_bytes())
            .context("writing the demo password")?;
        tracing::info!(file = %password_path.display(), "demo user's password written");
    }
    store.entitle(DEMO_USER, DEMO_APPLICATION)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::control_plane::store::{IdentityStore, SqliteStore};
    use crate::control_plane::{CallContext, authorize};
    use common::policy::Decision;

    #[test]
    fn the_machine_role_reads_applications_but_not_users_keys_or_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        // A data directory from before: the role holds the seed's read-only policy.
        store
            .create_principal(
                MACHINE_ROLE,
                crate::control_plane::store::PrincipalKind::Role,
                0,
            )
            .unwrap();
        store.put_policy("read-only", READ_ONLY_POLICY, 0).unwrap();
        store.attach_policy(MACHINE_ROLE, "read-only").unwrap();
        ensure(&store, dir.path(), &StreamDefaults::default(), 0).unwrap();
        ensure(&store, dir.path(), &StreamDefaults::default(), 1).unwrap();
        let attached: Vec<String> = store
            .attached_policies(MACHINE_ROLE)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(attached, [MACHINE_ROLE_POLICY.0]);
        let context = CallContext {
            source_ip: None,
            mfa_present: None,
            secure_transport: true,
        };
        let decide = |action: &str, resource: &str| {
            authorize(&store, MACHINE_ROLE, action, resource, context, 2)
                .unwrap()
                .decision
        };
        assert_eq!(
            decide("appstream:GetApplications", "application/*"),
            Decision::Allow
        );
        assert_eq!(
            decide("appstream:GetSessionStatus", "application/demo/session/s-1"),
            Decision::Allow
        );
        assert_eq!(decide("appstream:GetApiRoot", "*"), Decision::Allow);
        for (action, resource) in [
            ("appstream:GetUsers", "user/*"),
            ("appstream:GetAccessKeys", "key/*"),
            ("appstream:GetAuditLog", "audit"),
            ("appstream:GetPolicies", "policy/*"),
            ("appstream:GetHosts", "host/*"),
            (
                "appstream:UpdateSessionState",
                "application/demo/session/s-1",
            ),
        ] {
            assert_ne!(decide(action, resource), Decision::Allow, "{action}");
        }
    }
}
