//! How a stream ended, in a stable code and in words for the user. The
//! window prints it as the last stdout line, `{"ended": CODE, "words": ...}`,
//! which is how the launcher learns why its stream process stopped.

use std::io::Write;

use common::control::{EndReason, ErrorCode};

use crate::stream::connect::ConnectError;
use crate::stream::net::StreamEnd;

/// A stable code (snake_case) and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub code: &'static str,
    pub words: String,
}

impl Ending {
    fn new(code: &'static str, words: impl Into<String>) -> Self {
        Ending {
            code,
            words: words.into(),
        }
    }

    /// The process exit code: 0 for an ordinary end, 1 for a lost
    /// connection, 2 when the stream could not start.
    pub fn exit_code(&self) -> i32 {
        match self.code {
            "connection_lost" => 1,
            _ if self.refused() => 2,
            _ => 0,
        }
    }

    fn refused(&self) -> bool {
        matches!(
            self.code,
            "host_unreachable"
                | "certificate_mismatch"
                | "entitlement_expired"
                | "bad_token"
                | "application_disabled"
                | "launch_failed"
                | "version_mismatch"
                | "protocol_error"
                | "bad_url"
        )
    }
}

pub fn of_reason(reason: EndReason) -> Ending {
    match reason {
        EndReason::UserQuit => Ending::new("user_quit", "You ended the session."),
        EndReason::AdminTerminated => {
            Ending::new("admin_terminated", "An administrator ended the session.")
        }
        EndReason::AppExited => Ending::new("app_exited", "The application exited."),
        EndReason::Timeout => Ending::new(
            "timeout",
            "The host stopped hearing from this viewer and ended the session.",
        ),
        EndReason::HostShutdown => Ending::new("host_shutdown", "The host shut down."),
        EndReason::ProtocolError => Ending::new(
            "protocol_error",
            "The host and the viewer misunderstood each other; the session ended.",
        ),
    }
}

pub fn of_result(end: &Result<StreamEnd, ConnectError>) -> Ending {
    match end {
        Ok(StreamEnd::Ended(reason)) => of_reason(*reason),
        Ok(StreamEnd::ConnectionLost(why)) => Ending::new(
            "connection_lost",
            format!("The connection to the host was lost and could not be resumed ({why})."),
        ),
        Err(e) => of_connect_error(e),
    }
}

pub fn of_connect_error(e: &ConnectError) -> Ending {
    match e {
        ConnectError::Unreachable { address, .. } => Ending::new(
            "host_unreachable",
            format!("The host at {address} cannot be reached. Is it running, and on this network?"),
        ),
        ConnectError::FingerprintMismatch { .. } => Ending::new(
            "certificate_mismatch",
            "The host's certificate does not match the one this link was made for. \
             Refusing to connect: the link is stale, or someone is in the middle.",
        ),
        ConnectError::Refused { code, message } => match code {
            ErrorCode::EntitlementExpired => Ending::new(
                "entitlement_expired",
                "The link to start this application has expired. Start it again from the launcher.",
            ),
            ErrorCode::BadToken => Ending::new(
                "bad_token",
                "The link to start this application was already used or is unknown.",
            ),
            ErrorCode::ApplicationDisabled => Ending::new(
                "application_disabled",
                "An administrator has disabled this application.",
            ),
            ErrorCode::LaunchFailed => Ending::new(
                "launch_failed",
                format!("The application could not start: {message}"),
            ),
            ErrorCode::VersionMismatch => Ending::new(
                "version_mismatch",
                format!("This viewer and the host speak different versions: {message}"),
            ),
            ErrorCode::CannotResume => Ending::new(
                "connection_lost",
                format!("The connection dropped and the session could not be resumed: {message}"),
            ),
            ErrorCode::BadMessage | ErrorCode::Internal => Ending::new(
                "protocol_error",
                format!("The host refused the session: {message}"),
            ),
        },
        ConnectError::Ended(reason) => of_reason(*reason),
        ConnectError::Tls(_) | ConnectError::WebSocket(_) | ConnectError::Protocol(_) => {
            Ending::new("protocol_error", format!("The connection failed: {e}"))
        }
    }
}

/// The last stdout line of a windowed stream, for the launcher.
pub fn print_end_line(code: &str, words: &str) {
    print_json_line(&serde_json::json!({ "ended": code, "words": words }));
}

/// One JSON object per stdout line. Write errors are ignored: whoever
/// reads may be gone (a closed launcher), and the stream must not panic.
pub fn print_json_line(value: &serde_json::Value) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{value}");
    let _ = stdout.flush();
}

/// A line for the person at the terminal (stderr), never panicking.
pub fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "viewer: {text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_has_words_and_a_code() {
        let admin = of_result(&Ok(StreamEnd::Ended(EndReason::AdminTerminated)));
        assert_eq!(admin.code, "admin_terminated");
        assert!(admin.words.contains("administrator"));
        assert_eq!(admin.exit_code(), 0);
        let expired = of_connect_error(&ConnectError::Refused {
            code: ErrorCode::EntitlementExpired,
            message: "expired".into(),
        });
        assert_eq!(expired.code, "entitlement_expired");
        assert_eq!(expired.exit_code(), 2);
        let lost = of_result(&Ok(StreamEnd::ConnectionLost("no answer".into())));
        assert_eq!(lost.exit_code(), 1);
    }
}
