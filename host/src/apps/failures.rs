//! What went wrong with an application (it failed to launch, it exited),
//! recorded as an application error in the store (GetApplicationErrors).

use crate::apps::launcher::AppExit;
use crate::control_plane::store::{NewApplicationError, Store};

/// Records an application's exit as an application error (GetApplicationErrors).
pub fn record_app_exit(
    store: &dyn Store,
    application: &str,
    session: Option<&str>,
    exit: &AppExit,
    now: i64,
) {
    let failure = AppFailure {
        kind: "app_exited",
        message: exit.describe(),
        exit: Some(exit),
    };
    record_app_error(store, application, session, &failure, now);
}

/// What went wrong with an application, for its error record.
pub struct AppFailure<'a> {
    /// `app_exited` or `launch_failed`.
    pub kind: &'a str,
    pub message: String,
    pub exit: Option<&'a AppExit>,
}

/// Records an application error; the exit status is 128 + the signal for a
/// killed process, as shells report it.
pub fn record_app_error(
    store: &dyn Store,
    application: &str,
    session: Option<&str>,
    failure: &AppFailure<'_>,
    now: i64,
) {
    let exit = failure.exit;
    let error = NewApplicationError {
        application: application.to_string(),
        kind: failure.kind.to_string(),
        message: failure.message.clone(),
        session: session.map(str::to_string),
        exit_status: exit.and_then(|x| x.status.or(x.signal.map(|s| 128 + s))),
        stderr_tail: exit.map(|x| x.stderr_tail.clone()),
    };
    if let Err(e) = store.record_application_error(&error, now) {
        tracing::warn!(error = %e, "cannot record the application error");
    }
}
