//! Bodies of the AppStream-style control plane API and of the entitlement
//! service, shared by the host (which serves them) and every client. Request
//! bodies refuse unknown fields, so a typo is an error, not a silent no-op.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod fleet;
mod identity;
pub use fleet::*;
pub use identity::*;

/// Names of applications and users: 1 to 64 of `[A-Za-z0-9._-]`, starting
/// with a letter or digit (they appear in resource names and URLs).
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
            name.chars().take(80).collect::<String>()
        ))
    }
}

/// The bitrates a stream may have: what the host's rate controller can run
/// (its floor is 500 kbps). Applications' defaults and viewers' requests
/// are checked against it.
pub const STREAM_BITRATE_KBPS: std::ops::RangeInclusive<u32> = 500..=500_000;

/// Every error of the API and of the entitlement service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `unknown_field`, `not_found`, ...
    pub code: String,
    /// For people: says what was wrong.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationState {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionState {
    Pending,
    Active,
    Terminated,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Terminated => "TERMINATED",
        }
    }
}

/// What a session streams unless the viewer asks otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamDefaults {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// None: by resolution (10 Mbps at 720p60).
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
}

impl Default for StreamDefaults {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 60,
            bitrate_kbps: None,
        }
    }
}

impl StreamDefaults {
    pub fn validate(&self) -> Result<(), String> {
        if !(64..=7680).contains(&self.width) || !(64..=4320).contains(&self.height) {
            return Err(format!(
                "stream resolution {}x{} must be within 64x64 and 7680x4320",
                self.width, self.height
            ));
        }
        if !self.width.is_multiple_of(2) || !self.height.is_multiple_of(2) {
            return Err("stream width and height must be even".into());
        }
        if !(1..=240).contains(&self.fps) {
            return Err(format!("stream fps {} must be 1 to 240", self.fps));
        }
        if let Some(kbps) = self.bitrate_kbps
            && !STREAM_BITRATE_KBPS.contains(&kbps)
        {
            return Err(format!(
                "stream bitrate_kbps {kbps} must be {} to {}",
                STREAM_BITRATE_KBPS.start(),
                STREAM_BITRATE_KBPS.end()
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub description: String,
    /// Launch command; empty for the built-in synthetic source.
    pub command: String,
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    /// A path under the host's data directory or an https URL.
    pub icon: Option<String>,
    pub stream: StreamDefaults,
    pub max_sessions: u32,
    pub state: ApplicationState,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of CreateApplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub stream: StreamDefaults,
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
    #[serde(default = "default_state")]
    pub state: ApplicationState,
}

fn default_max_sessions() -> u32 {
    4
}

fn default_state() -> ApplicationState {
    ApplicationState::Enabled
}

/// Body of UpdateApplication: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
}

impl ApplicationPatch {
    /// The fields present replace the application's.
    pub fn apply_to(&self, app: &mut Application) {
        if let Some(v) = &self.description {
            app.description.clone_from(v);
        }
        if let Some(v) = &self.command {
            app.command.clone_from(v);
        }
        if let Some(v) = &self.args {
            app.args.clone_from(v);
        }
        if let Some(v) = &self.working_dir {
            app.working_dir = Some(v.clone());
        }
        if let Some(v) = &self.icon {
            app.icon = Some(v.clone());
        }
        if let Some(v) = &self.stream {
            app.stream = v.clone();
        }
        if let Some(v) = self.max_sessions {
            app.max_sessions = v;
        }
    }
}

pub const MAX_SESSIONS_LIMIT: u32 = 10_000;

impl NewApplication {
    pub fn validate(&self) -> Result<(), String> {
        validate_name("application", &self.name)?;
        validate_common(&self.description, self.max_sessions, &self.stream)
    }
}

impl ApplicationPatch {
    pub fn validate(&self) -> Result<(), String> {
        validate_common(
            self.description.as_deref().unwrap_or(""),
            self.max_sessions.unwrap_or(1),
            &self.stream.clone().unwrap_or_default(),
        )
    }
}

fn validate_common(
    description: &str,
    max_sessions: u32,
    stream: &StreamDefaults,
) -> Result<(), String> {
    if description.len() > 1000 {
        return Err("description is longer than 1000 bytes".into());
    }
    if !(1..=MAX_SESSIONS_LIMIT).contains(&max_sessions) {
        return Err(format!(
            "max_sessions {max_sessions} must be 1 to {MAX_SESSIONS_LIMIT}"
        ));
    }
    stream.validate()
}

/// Body of UpdateApplicationState.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationStateChange {
    pub state: ApplicationState,
}

/// GetApplicationStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationStatus {
    pub name: String,
    pub state: ApplicationState,
    pub pending_sessions: u32,
    pub active_sessions: u32,
    pub max_sessions: u32,
    /// Enabled and below its session limit.
    pub accepting_sessions: bool,
    pub error_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationError {
    pub id: i64,
    pub application: String,
    pub at: String,
    /// e.g. `app_exited`, `launch_failed`.
    pub kind: String,
    pub message: String,
    pub session: Option<String>,
    pub exit_status: Option<i32>,
    pub stderr_tail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub application: String,
    pub user: String,
    pub state: SessionState,
    /// Why it ended (`user_quit`, `admin_terminated`, `expired`, `host_restart`, ...).
    pub reason: Option<String>,
    pub created_at: String,
    /// Until when a PENDING session can be redeemed.
    pub expires_at: String,
    pub activated_at: Option<String>,
    pub terminated_at: Option<String>,
}

/// GetSessionStatus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub id: String,
    pub state: SessionState,
    pub reason: Option<String>,
    /// While it streams: what it sends and what its viewer reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamStats>,
}

/// A streaming session's parameters and its viewer's recent reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStats {
    pub codec: crate::control::VideoCodec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The most the encoder may use; congestion control may choose less.
    pub configured_kbps: u32,
    /// About one a second, oldest first, the last two minutes at most.
    pub samples: Vec<StreamSample>,
}

/// One reading of a stream: the viewer's receiver report and the encoder's
/// bitrate at that moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSample {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// Media arriving at the viewer.
    pub received_kbps: f64,
    pub encoder_kbps: u32,
    /// Capture to presentation, the viewer's median; None before it knows.
    pub latency_p50_ms: Option<f64>,
    /// Share of media datagrams lost (0.0..=1.0).
    pub loss: f64,
    pub jitter_ms: f64,
}

/// Body of CreateSession.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The user the session is for (the entitlement service vouches for them).
    pub user: String,
    /// How long the entitlement URL stays redeemable (default 60, at most 600).
    #[serde(default)]
    pub expires_in_s: Option<u32>,
}

pub const DEFAULT_ENTITLEMENT_TTL_S: u32 = 60;
pub const MAX_ENTITLEMENT_TTL_S: u32 = 600;

/// Answer to CreateSession: the session and its single-use entitlement URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSession {
    pub session: Session,
    pub entitlement_url: String,
}

/// Body of UpdateSessionState.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStateChange {
    /// Only TERMINATED is accepted.
    pub state: SessionState,
}

/// GetApiRoot: where everything is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoot {
    pub name: String,
    pub version: String,
    pub links: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationList {
    pub applications: Vec<Application>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// GetPolicies: the names of the stored policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyList {
    pub policies: Vec<String>,
}

/// GetPolicy's answer and PutPolicy's body (the IAM JSON, as text, so it
/// is kept exactly as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    pub document: String,
}

/// SimulatePolicy's body: the request to decide for `principal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    pub principal: String,
    pub action: String,
    pub resource: String,
    #[serde(default)]
    pub source_ip: Option<std::net::IpAddr>,
    /// `aws:MultiFactorAuthPresent`; absent: the key is absent (access keys).
    #[serde(default)]
    pub mfa: Option<bool>,
}

/// SimulatePolicy's answer: `ALLOW`, `EXPLICIT_DENY` or `IMPLICIT_DENY`,
/// and the policy/statement that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulationResult {
    pub decision: String,
    pub decided_by: Option<String>,
}

/// One audit log entry (GetAuditLog): who asked for what, and the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub principal: Option<String>,
    pub key_id: Option<String>,
    pub source_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub action: Option<String>,
    pub resource: Option<String>,
    /// `allow`, `deny`, `unauthenticated`, `refused`, `error`, or a sign-in
    /// outcome (`signin_ok`, `signin_failed`, ...).
    pub decision: String,
    pub status: u16,
    pub reason: Option<String>,
}

/// A page of the audit log, newest first; `older` is the `before` of the
/// next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLogPage {
    pub entries: Vec<AuditRecord>,
    pub older: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationErrorList {
    pub errors: Vec<ApplicationError>,
}

// ---- entitlement service ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub user: String,
    pub password: String,
    /// The current TOTP code, for users who have a second factor.
    #[serde(default)]
    pub totp: Option<String>,
    /// "Remember me": also issue a refresh token (see `Refresh`).
    #[serde(default)]
    pub remember: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// Bearer token for the calls below.
    pub token: String,
    pub expires_at: String,
    pub user: String,
    pub mfa: bool,
    /// With `remember`: a single-use token that `POST /entitlement/refresh`
    /// trades for a new sign-in (and a new refresh token). Keep it secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<String>,
}

/// Body of `POST /entitlement/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    pub refresh_token: String,
}

/// Optional body of `POST /entitlement/signout`: the refresh token to forget too.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SignOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOut")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "..."))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitledApplication {
    pub name: String,
    pub description: String,
    pub state: ApplicationState,
    pub icon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitledApplications {
    pub applications: Vec<EntitledApplication>,
}

/// The answer to "entitle me to this application".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub url: String,
    pub session_id: String,
    pub expires_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("application", "demo-game_2.0").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(65), "é"] {
            assert!(validate_name("application", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<NewApplication>(r#"{"name":"a","colour":"red"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let ok: NewApplication = serde_json::from_str(r#"{"name":"a"}"#).unwrap();
        assert_eq!(ok.max_sessions, 4);
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn states_are_upper_case_on_the_wire() {
        let change: ApplicationStateChange =
            serde_json::from_str(r#"{"state":"DISABLED"}"#).unwrap();
        assert_eq!(change.state, ApplicationState::Disabled);
        assert!(serde_json::from_str::<ApplicationStateChange>(r#"{"state":"off"}"#).is_err());
    }

    #[test]
    fn remember_me_fields_are_optional_on_the_wire() {
        let old: SignIn = serde_json::from_str(r#"{"user":"a","password":"p"}"#).unwrap();
        assert!(!old.remember);
        let signed_in = SignedIn {
            token: "t".into(),
            expires_at: "x".into(),
            user: "a".into(),
            mfa: false,
            refresh_token: None,
            refresh_expires_at: None,
        };
        let json = serde_json::to_string(&signed_in).unwrap();
        assert!(!json.contains("refresh"), "{json}");
        let back: SignedIn =
            serde_json::from_str(r#"{"token":"t","expires_at":"x","user":"a","mfa":false}"#)
                .unwrap();
        assert_eq!(back, signed_in);
        assert!(serde_json::from_str::<Refresh>(r#"{"refresh_token":"r","x":1}"#).is_err());
        let forget: SignOut = serde_json::from_str("{}").unwrap();
        assert_eq!(forget.refresh_token, None);
        assert!(
            !format!(
                "{:?}",
                Refresh {
                    refresh_token: "secret".into()
                }
            )
            .contains("secret")
        );
    }
}
