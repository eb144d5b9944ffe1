//! Bodies of the API's users and access keys (what the console's Users and
//! Keys pages call): users with their credentials' state, entitlements and
//! policies; keys without their secrets, except once when one is made.
//! Bodies that carry a secret redact it in their Debug.

use serde::{Deserialize, Serialize};

/// GetUser, and the answer to every change of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub enabled: bool,
    pub has_password: bool,
    pub has_totp: bool,
    /// The applications the user may start.
    pub entitlements: Vec<String>,
    /// The names of the policies attached to the user.
    pub policies: Vec<String>,
}

/// GetUsers: users (not roles), by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<UserInfo>,
}

/// CreateUser's body; without a password the user has none until one is set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// SetUserPassword's body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPassword {
    pub password: String,
}

/// EnableUserTotp's body: the new key (base32) and a code from the
/// authenticator app that proves the app has it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTotp {
    pub secret: String,
    pub code: String,
}

/// UpdateUserState's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStateChange {
    pub enabled: bool,
}

/// AttachPolicy's and DetachPolicy's answer: the principal's policies now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalPolicies {
    pub principal: String,
    pub policies: Vec<String>,
}

/// An access key as GetAccessKeys lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyInfo {
    pub key_id: String,
    pub principal: String,
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// Temporary credentials (the machine role's) expire; RFC 3339.
    pub expires_at: Option<String>,
    /// Temporary credentials: listed, never rotated.
    pub temporary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyList {
    pub keys: Vec<AccessKeyInfo>,
}

/// CreateAccessKey's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessKey {
    pub principal: String,
}

/// CreateAccessKey's and RotateAccessKey's answer: the only time the
/// secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedAccessKey {
    pub key_id: String,
    pub principal: String,
    pub secret: String,
}

/// UpdateAccessKey's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyStateChange {
    pub active: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for UserPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPassword").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UserTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTotp").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreatedAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAccessKey")
            .field("key_id", &self.key_id)
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_and_unknown_fields_are_refused() {
        let new: NewUser = serde_json::from_str(r#"{"name":"ann"}"#).unwrap();
        assert_eq!(new.password, None);
        let with: NewUser =
            serde_json::from_str(r#"{"name":"ann","password":"hunter2hunter2"}"#).unwrap();
        assert!(!format!("{with:?}").contains("hunter2"));
        let totp = UserTotp {
            secret: "JBSWY3DPEHPK3PXP".into(),
            code: "123456".into(),
        };
        assert!(!format!("{totp:?}").contains("JBSW"));
        let key = CreatedAccessKey {
            key_id: "AK1".into(),
            principal: "ann".into(),
            secret: "s3cr3t".into(),
        };
        assert!(!format!("{key:?}").contains("s3cr3t"));
        assert!(
            !format!(
                "{:?}",
                UserPassword {
                    password: "pw".into()
                }
            )
            .contains("pw\"")
        );
        assert!(serde_json::from_str::<UserStateChange>(r#"{"enabled":true,"x":1}"#).is_err());
        assert!(serde_json::from_str::<NewAccessKey>(r#"{"user":"ann"}"#).is_err());
    }
}
