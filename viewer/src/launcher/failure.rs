//! Everything that can go wrong in the launcher, and the sentence the user
//! reads for it. The entitlement client's errors arrive as codes
//! (`wrong_password`, `totp_required`, ...) or as transport failures; each
//! becomes one [`Failure`], and each failure says what happened and what to do.

use common::client::ClientError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 401 `wrong_password`: the user name or the password is wrong.
    WrongPassword,
    /// 401 `totp_required`: the account has an authenticator.
    TotpRequired,
    /// 401 `wrong_totp`.
    WrongTotp,
    /// 429 `throttled`: too many failed sign-ins.
    Throttled { retry_after_s: Option<u64> },
    /// 429 `busy`: the host is checking many sign-ins at once (not the
    /// user's fault: nothing was counted against them).
    Busy,
    /// 409 `too_many_pending`: the user holds unused entitlements.
    TooManyPending,
    /// Connection refused, timed out, no route.
    HostUnreachable { address: String },
    /// The host presented another certificate than the one pinned.
    CertificateMismatch { presented_hex: String },
    /// 401 `refresh_expired`: "remember me" ran out.
    RefreshExpired,
    /// 401 `not_signed_in`: the sign-in token ran out.
    NotSignedIn,
    /// 403 `not_entitled`.
    NotEntitled,
    /// 409 `application_disabled`, or the stream was refused for it.
    ApplicationDisabled,
    /// 409 `application_full`.
    ApplicationFull,
    /// 404 `not_found`: the application is gone.
    ApplicationGone,
    /// 502 `host_unreachable`: the entitlement service could not reach the host's API.
    ServiceCannotReachHost,
    /// What the user typed is not an address.
    BadAddress(String),
    /// What the user typed is not a fingerprint.
    BadFingerprint(String),
    /// A field of the sign-in form is missing or malformed.
    Form(&'static str),
    /// The stream process could not be started.
    CannotStartStream(String),
    /// The stream process ended without saying why.
    StreamCrashed { exit: String },
    /// Anything else the service answered; `detail` is its own words.
    Unexpected { detail: String },
}

impl Failure {
    pub fn from_client_error(e: &ClientError) -> Failure {
        match e {
            ClientError::CertificateMismatch { presented, .. } => Failure::CertificateMismatch {
                presented_hex: presented.clone(),
            },
            ClientError::Unreachable { address, .. } => Failure::HostUnreachable {
                address: address.trim_start_matches("https://").to_string(),
            },
            ClientError::BadAddress(address) => Failure::BadAddress(address.clone()),
            ClientError::Api {
                status,
                code,
                reason,
            } => match (code.as_str(), status) {
                ("wrong_password", _) => Failure::WrongPassword,
                ("totp_required", _) => Failure::TotpRequired,
                ("wrong_totp", _) => Failure::WrongTotp,
                ("busy", _) => Failure::Busy,
                ("too_many_pending", _) => Failure::TooManyPending,
                ("throttled", _) | (_, 429) => Failure::Throttled {
                    retry_after_s: seconds_in(reason),
                },
                ("refresh_expired", _) => Failure::RefreshExpired,
                ("not_signed_in", _) => Failure::NotSignedIn,
                ("not_entitled", _) => Failure::NotEntitled,
                ("application_disabled", _) => Failure::ApplicationDisabled,
                ("application_full", _) => Failure::ApplicationFull,
                ("not_found", 404) => Failure::ApplicationGone,
                ("host_unreachable", _) => Failure::ServiceCannotReachHost,
                _ => Failure::Unexpected {
                    detail: short(reason),
                },
            },
            ClientError::Decode(detail) => Failure::Unexpected {
                detail: short(detail),
            },
        }
    }

    /// The sentence shown on screen.
    pub fn words(&self) -> String {
        match self {
            Failure::WrongPassword => "Wrong user name or password.".into(),
            Failure::TotpRequired => {
                "This account needs the 6-digit code from its authenticator app. \
                 Enter it and sign in again."
                    .into()
            }
            Failure::WrongTotp => "That authenticator code is wrong, too old or already used. \
                 Wait for the next one and enter it."
                .into(),
            Failure::Throttled {
                retry_after_s: Some(s),
            } => format!("Too many failed sign-ins. Wait {s} seconds, then try again."),
            Failure::Throttled {
                retry_after_s: None,
            } => "Too many failed sign-ins. Wait a minute, then try again.".into(),
            Failure::Busy => {
                "The host is busy checking other sign-ins. Try again in a second.".into()
            }
            Failure::TooManyPending => {
                "You already have streams starting. Wait a minute for them to finish or expire, \
                 then try again."
                    .into()
            }
            Failure::HostUnreachable { address } => {
                format!("Cannot reach the host at {address}. Is it running, and on this network?")
            }
            Failure::CertificateMismatch { presented_hex } => format!(
                "The host's certificate does not match the one saved for it (it presented {}…). \
                 Not connecting: the host was reinstalled, or someone is in the middle. \
                 If you trust it, remove the host and add it again.",
                &presented_hex[..presented_hex.len().min(16)]
            ),
            Failure::RefreshExpired => "Your saved sign-in has expired. Sign in again.".into(),
            Failure::NotSignedIn => "Your sign-in has expired. Sign in again.".into(),
            Failure::NotEntitled => "You are not allowed to use this application.".into(),
            Failure::ApplicationDisabled => {
                "An administrator has disabled this application.".into()
            }
            Failure::ApplicationFull => {
                "This application has no free place right now. Try again later.".into()
            }
            Failure::ApplicationGone => "This application no longer exists on the host.".into(),
            Failure::ServiceCannotReachHost => {
                "The sign-in service cannot reach the host right now. Try again in a moment.".into()
            }
            Failure::BadAddress(words) | Failure::BadFingerprint(words) => words.clone(),
            Failure::Form(words) => (*words).into(),
            Failure::CannotStartStream(why) => format!("The stream could not start: {why}."),
            Failure::StreamCrashed { exit } => {
                format!("The stream stopped unexpectedly ({exit}).")
            }
            Failure::Unexpected { detail } => {
                format!("The host answered something unexpected: {detail}")
            }
        }
    }
}

/// How a stream ended, from the stream process's last stdout line
/// `{"ended": CODE, "words": SENTENCE}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnding {
    pub code: String,
    pub words: String,
}

impl StreamEnding {
    /// Reads the line; None when it is not such an object.
    pub fn parse(line: &str) -> Option<StreamEnding> {
        let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        let code = value.get("ended")?.as_str()?.to_string();
        let words = value
            .get("words")
            .and_then(|w| w.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| default_words(&code));
        Some(StreamEnding { code, words })
    }

    /// An ordinary end that needs no red label.
    pub fn is_calm(&self) -> bool {
        matches!(self.code.as_str(), "user_quit")
    }
}

fn default_words(code: &str) -> String {
    match code {
        "user_quit" => "You ended the session.".into(),
        "app_exited" => "The application exited.".into(),
        "admin_terminated" => "An administrator ended the session.".into(),
        "entitlement_expired" => {
            "The link to start this application expired. Start it again.".into()
        }
        "application_disabled" => "An administrator has disabled this application.".into(),
        "host_unreachable" => "The host cannot be reached.".into(),
        "certificate_mismatch" => {
            "The host's certificate does not match the one this link was made for.".into()
        }
        "connection_lost" => "The connection to the host was lost.".into(),
        "timeout" => "The host stopped hearing from this viewer and ended the session.".into(),
        other => format!("The stream ended ({other})."),
    }
}

/// The first number in a sentence such as "try again in 30 s".
fn seconds_in(reason: &str) -> Option<u64> {
    reason
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

/// Outside text on screen: one line, short.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut out: String = line.chars().take(160).collect();
    if line.chars().count() > 160 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str, reason: &str) -> ClientError {
        ClientError::Api {
            status,
            code: code.into(),
            reason: reason.into(),
        }
    }

    fn words_of(e: ClientError) -> String {
        Failure::from_client_error(&e).words()
    }

    #[test]
    fn every_service_failure_is_said_in_words() {
        assert_eq!(
            words_of(api(401, "wrong_password", "wrong user name or password")),
            "Wrong user name or password."
        );
        assert!(words_of(api(401, "totp_required", "x")).contains("6-digit code"));
        assert!(words_of(api(401, "wrong_totp", "x")).contains("code is wrong"));
        assert_eq!(
            words_of(api(
                429,
                "throttled",
                "too many failed sign-ins; try again in 30 s"
            )),
            "Too many failed sign-ins. Wait 30 seconds, then try again."
        );
        assert!(words_of(api(429, "slow_down", "later")).starts_with("Too many failed"));
        let busy = words_of(api(429, "busy", "checking many sign-ins"));
        assert!(busy.contains("busy") && !busy.contains("failed"), "{busy}");
        assert!(words_of(api(409, "too_many_pending", "x")).contains("streams starting"));
        assert!(words_of(api(401, "refresh_expired", "x")).contains("saved sign-in has expired"));
        assert!(words_of(api(401, "not_signed_in", "x")).contains("Sign in again"));
        assert!(words_of(api(409, "application_disabled", "x")).contains("disabled"));
        assert!(words_of(api(409, "application_full", "x")).contains("no free place"));
        assert!(words_of(api(403, "not_entitled", "x")).contains("not allowed"));
        assert!(words_of(api(502, "host_unreachable", "x")).contains("cannot reach the host"));
        let odd = words_of(api(500, "internal", "disk full\nstack trace"));
        assert_eq!(odd, "The host answered something unexpected: disk full");
    }

    #[test]
    fn transport_failures_are_said_in_words() {
        let unreachable = words_of(ClientError::Unreachable {
            address: "https://127.0.0.1:1".into(),
            message: "error sending request: Connection refused (os error 111)".into(),
        });
        assert_eq!(
            unreachable,
            "Cannot reach the host at 127.0.0.1:1. Is it running, and on this network?"
        );
        let mismatch = words_of(ClientError::CertificateMismatch {
            expected: "00".repeat(32),
            presented: "ab".repeat(32),
        });
        assert!(mismatch.starts_with("The host's certificate does not match"));
        assert!(mismatch.contains("abababababababab…"));
        assert!(!mismatch.contains(&"ab".repeat(32)));
    }

    #[test]
    fn stream_endings_come_from_the_last_line() {
        let admin = StreamEnding::parse(
            r#"{"ended":"admin_terminated","words":"An administrator ended the session."}"#,
        )
        .unwrap();
        assert_eq!(admin.code, "admin_terminated");
        assert_eq!(admin.words, "An administrator ended the session.");
        assert!(!admin.is_calm());
        let quit = StreamEnding::parse(r#"{"ended":"user_quit"}"#).unwrap();
        assert!(quit.is_calm());
        assert_eq!(quit.words, "You ended the session.");
        for code in [
            "app_exited",
            "entitlement_expired",
            "application_disabled",
            "host_unreachable",
            "certificate_mismatch",
            "connection_lost",
            "timeout",
        ] {
            let ending = StreamEnding::parse(&format!(r#"{{"ended":"{code}"}}"#)).unwrap();
            assert!(ending.words.ends_with('.'), "{code}");
            assert!(!ending.is_calm(), "{code}");
        }
        assert_eq!(StreamEnding::parse("not json"), None);
        assert_eq!(StreamEnding::parse(r#"{"type":"stats"}"#), None);
    }
}
