//! The machine role (AppStream 2.0): an application the host launches gets
//! temporary credentials in a credentials profile named
//! `appstream_machine_role`, valid 6 hours, a new set every hour; the
//! previous set stays valid until it expires. They carry only the role's
//! policy: requests signed with them are evaluated as the role.

use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::control_plane::bootstrap::MACHINE_ROLE;
use crate::control_plane::store::{AccessKey, Store, StoreResult};
use crate::platform::write_private;

pub const PROFILE: &str = "appstream_machine_role";
pub const VALIDITY_S: i64 = 6 * 3600;
pub const ROTATION_S: i64 = 3600;
/// The environment variable (the AWS SDKs' name) that points at the file.
pub const CREDENTIALS_FILE_ENV: &str = "AWS_SHARED_CREDENTIALS_FILE";

#[derive(Clone)]
pub struct TemporaryCredentials {
    pub key_id: String,
    pub secret: String,
    pub session_token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl TemporaryCredentials {
    /// The credentials file, in the shared-credentials INI format.
    pub fn profile_text(&self) -> String {
        format!(
            "[{PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n\
             expiration = {}\n",
            self.key_id,
            self.secret,
            self.session_token,
            common::signing::format_date(self.expires_at)
        )
    }
}

/// Issues and rotates one application's machine-role credentials.
#[derive(Debug)]
pub struct MachineRole {
    file: PathBuf,
    last_issued_at: Option<i64>,
    owner: Option<(u32, u32)>,
}

impl MachineRole {
    pub fn new(file: PathBuf) -> Self {
        Self {
            file,
            last_issued_at: None,
            owner: None,
        }
    }

    /// The file is handed to this uid/gid after each write (applications
    /// running as another user read it).
    pub fn owned_by(mut self, owner: Option<(u32, u32)>) -> Self {
        self.owner = owner;
        self
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// What the launched application's environment gets.
    pub fn environment(&self) -> Vec<(String, String)> {
        vec![
            (
                CREDENTIALS_FILE_ENV.to_string(),
                self.file.display().to_string(),
            ),
            ("AWS_PROFILE".to_string(), PROFILE.to_string()),
        ]
    }

    /// Issues a new set when none was issued or the last is an hour old,
    /// writes it to the file, and purges sets that have expired.
    pub fn poll(
        &mut self,
        store: &dyn Store,
        now: i64,
    ) -> StoreResult<Option<TemporaryCredentials>> {
        if self.last_issued_at.is_some_and(|t| now - t < ROTATION_S) {
            return Ok(None);
        }
        store.purge_expired_keys(now)?;
        let credentials = issue(store, now)?;
        let written = write_private(&self.file, credentials.profile_text().as_bytes())
            .and_then(|()| crate::platform::sandbox::give_to(&self.file, self.owner));
        if let Err(e) = written {
            tracing::error!(error = %format!("{e:#}"), "cannot write the machine role's credentials");
        }
        self.last_issued_at = Some(now);
        Ok(Some(credentials))
    }
}

/// One set of temporary credentials for the machine role.
pub fn issue(store: &dyn Store, now: i64) -> StoreResult<TemporaryCredentials> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 24];
    let mut token = [0u8; 32];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    rand::rng().fill_bytes(&mut token);
    let credentials = TemporaryCredentials {
        key_id: format!("TK{}", hex::encode_upper(id)),
        secret: hex::encode(secret),
        session_token: hex::encode(token),
        expires_at: now + VALIDITY_S,
    };
    store.create_key(&AccessKey {
        key_id: credentials.key_id.clone(),
        principal: MACHINE_ROLE.to_string(),
        secret: credentials.secret.clone(),
        active: true,
        created_at: now,
        expires_at: Some(credentials.expires_at),
        session_token: Some(credentials.session_token.clone()),
    })?;
    Ok(credentials)
}
