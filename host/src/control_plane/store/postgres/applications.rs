//! Applications and their errors.

use common::api::{
    Application, ApplicationError, ApplicationPatch, ApplicationState, ApplicationStatus,
    NewApplication, StreamDefaults,
};
use postgres::{GenericClient, Row};

use super::{PostgresStore, to_u32};
use crate::control_plane::store::rfc3339;
use crate::control_plane::store::{ApplicationStore, NewApplicationError, StoreError, StoreResult};

const COLUMNS: &str = "name, description, command, args, working_dir, icon, width, height, fps, \
                       bitrate_kbps, max_sessions, state, created_at, updated_at";

fn state_str(state: ApplicationState) -> &'static str {
    match state {
        ApplicationState::Enabled => "ENABLED",
        ApplicationState::Disabled => "DISABLED",
    }
}

fn application_from_row(row: &Row) -> Application {
    let args: String = row.get(3);
    let state: String = row.get(11);
    Application {
        name: row.get(0),
        description: row.get(1),
        command: row.get(2),
        args: serde_json::from_str(&args).unwrap_or_default(),
        working_dir: row.get(4),
        icon: row.get(5),
        stream: StreamDefaults {
            width: to_u32(row.get(6)),
            height: to_u32(row.get(7)),
            fps: to_u32(row.get(8)),
            bitrate_kbps: row.get::<_, Option<i64>>(9).map(to_u32),
        },
        max_sessions: to_u32(row.get(10)),
        state: if state == "DISABLED" {
            ApplicationState::Disabled
        } else {
            ApplicationState::Enabled
        },
        created_at: rfc3339(row.get(12)),
        updated_at: rfc3339(row.get(13)),
    }
}

/// The application; `FOR UPDATE` in `lock` holds it until the transaction
/// ends (CreateSession's count and insert).
pub(super) fn load_application(
    client: &mut impl GenericClient,
    name: &str,
    lock: bool,
) -> StoreResult<Application> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM applications WHERE name = $1{suffix}"),
            &[&name],
        )?
        .map(|row| application_from_row(&row))
        .ok_or_else(|| StoreError::NotFound(format!("application {name}")))
}

/// (pending and not yet expired, active) sessions of an application.
pub(super) fn live_counts(
    client: &mut impl GenericClient,
    application: &str,
    now: i64,
) -> StoreResult<(u32, u32)> {
    let row = client.query_one(
        "SELECT COUNT(*) FILTER (WHERE state = 'PENDING' AND expires_at > $2), \
                COUNT(*) FILTER (WHERE state = 'ACTIVE') \
         FROM sessions WHERE application = $1 AND state IN ('PENDING', 'ACTIVE')",
        &[&application, &now],
    )?;
    Ok((to_u32(row.get(0)), to_u32(row.get(1))))
}

fn error_from_row(row: &Row) -> ApplicationError {
    ApplicationError {
        id: row.get(0),
        application: row.get(1),
        at: rfc3339(row.get(2)),
        kind: row.get(3),
        message: row.get(4),
        session: row.get(5),
        exit_status: row.get(6),
        stderr_tail: row.get(7),
    }
}

const ERROR_COLUMNS: &str = "id, application, at, kind, message, session, exit_status, stderr_tail";

fn args_json(args: &[String]) -> String {
    serde_json::to_string(args).unwrap_or_else(|_| "[]".into())
}

impl ApplicationStore for PostgresStore {
    fn create_application(&self, new: &NewApplication, now: i64) -> StoreResult<Application> {
        let new = new.clone();
        self.with(move |client| {
            let inserted = client.execute(
                "INSERT INTO applications (name, description, command, args, working_dir, icon, \
                 width, height, fps, bitrate_kbps, max_sessions, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
                 ON CONFLICT (name) DO NOTHING",
                &[
                    &new.name,
                    &new.description,
                    &new.command,
                    &args_json(&new.args),
                    &new.working_dir,
                    &new.icon,
                    &i64::from(new.stream.width),
                    &i64::from(new.stream.height),
                    &i64::from(new.stream.fps),
                    &new.stream.bitrate_kbps.map(i64::from),
                    &i64::from(new.max_sessions),
                    &state_str(new.state),
                    &now,
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "application {} already exists",
                    new.name
                )));
            }
            load_application(client, &new.name, false)
        })
    }

    fn application(&self, name: &str) -> StoreResult<Application> {
        let name = name.to_string();
        self.with(move |client| load_application(client, &name, false))
    }

    fn applications(&self) -> StoreResult<Vec<Application>> {
        self.with(|client| {
            let rows = client.query(
                &format!("SELECT {COLUMNS} FROM applications ORDER BY name"),
                &[],
            )?;
            Ok(rows.iter().map(application_from_row).collect())
        })
    }

    fn update_application(
        &self,
        name: &str,
        patch: &ApplicationPatch,
        now: i64,
    ) -> StoreResult<Application> {
        let (name, patch) = (name.to_string(), patch.clone());
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            let mut app = load_application(&mut transaction, &name, true)?;
            patch.apply_to(&mut app);
            transaction.execute(
                "UPDATE applications SET description = $2, command = $3, args = $4, \
                 working_dir = $5, icon = $6, width = $7, height = $8, fps = $9, \
                 bitrate_kbps = $10, max_sessions = $11, updated_at = $12 WHERE name = $1",
                &[
                    &name,
                    &app.description,
                    &app.command,
                    &args_json(&app.args),
                    &app.working_dir,
                    &app.icon,
                    &i64::from(app.stream.width),
                    &i64::from(app.stream.height),
                    &i64::from(app.stream.fps),
                    &app.stream.bitrate_kbps.map(i64::from),
                    &i64::from(app.max_sessions),
                    &now,
                ],
            )?;
            let app = load_application(&mut transaction, &name, false)?;
            transaction.commit()?;
            Ok(app)
        })
    }

    fn delete_application(&self, name: &str) -> StoreResult<()> {
        let name = name.to_string();
        self.with(move |client| {
            let mut transaction = client.transaction()?;
            load_application(&mut transaction, &name, true)?;
            let live: i64 = transaction
                .query_one(
                    "SELECT COUNT(*) FROM sessions \
                     WHERE application = $1 AND state IN ('PENDING', 'ACTIVE')",
                    &[&name],
                )?
                .get(0);
            if live > 0 {
                return Err(StoreError::Conflict(format!(
                    "application {name} has {live} live sessions; terminate them first"
                )));
            }
            transaction.execute("DELETE FROM applications WHERE name = $1", &[&name])?;
            transaction.execute("DELETE FROM entitlements WHERE application = $1", &[&name])?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn set_application_state(
        &self,
        name: &str,
        state: ApplicationState,
        now: i64,
    ) -> StoreResult<Application> {
        let name = name.to_string();
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE applications SET state = $2, updated_at = $3 WHERE name = $1",
                &[&name, &state_str(state), &now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("application {name}")));
            }
            load_application(client, &name, false)
        })
    }

    fn application_status(&self, name: &str, now: i64) -> StoreResult<ApplicationStatus> {
        let name = name.to_string();
        self.with(move |client| {
            let app = load_application(client, &name, false)?;
            let (pending, active) = live_counts(client, &name, now)?;
            let errors: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM application_errors WHERE application = $1",
                    &[&name],
                )?
                .get(0);
            Ok(ApplicationStatus {
                accepting_sessions: app.state == ApplicationState::Enabled
                    && pending + active < app.max_sessions,
                name: app.name,
                state: app.state,
                pending_sessions: pending,
                active_sessions: active,
                max_sessions: app.max_sessions,
                error_count: to_u32(errors),
            })
        })
    }

    fn record_application_error(&self, error: &NewApplicationError, now: i64) -> StoreResult<i64> {
        let error = error.clone();
        self.with(move |client| {
            let row = client.query_one(
                "INSERT INTO application_errors (application, at, kind, message, session, \
                 exit_status, stderr_tail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &error.application,
                    &now,
                    &error.kind,
                    &error.message,
                    &error.session,
                    &error.exit_status,
                    &error.stderr_tail,
                ],
            )?;
            Ok(row.get(0))
        })
    }

    fn application_errors(&self, name: &str) -> StoreResult<Vec<ApplicationError>> {
        let name = name.to_string();
        self.with(move |client| {
            load_application(client, &name, false)?;
            let rows = client.query(
                &format!(
                    "SELECT {ERROR_COLUMNS} FROM application_errors WHERE application = $1 \
                     ORDER BY id"
                ),
                &[&name],
            )?;
            Ok(rows.iter().map(error_from_row).collect())
        })
    }

    fn application_error(&self, name: &str, id: i64) -> StoreResult<ApplicationError> {
        let name = name.to_string();
        self.with(move |client| {
            client
                .query_opt(
                    &format!(
                        "SELECT {ERROR_COLUMNS} FROM application_errors \
                         WHERE application = $1 AND id = $2"
                    ),
                    &[&name, &id],
                )?
                .map(|row| error_from_row(&row))
                .ok_or_else(|| StoreError::NotFound(format!("error {id} of application {name}")))
        })
    }
}
