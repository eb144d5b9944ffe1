//! Applications and their errors.

use common::api::{
    Application, ApplicationError, ApplicationPatch, ApplicationState, ApplicationStatus,
    NewApplication, StreamDefaults,
};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, rfc3339};
use crate::control_plane::store::{ApplicationStore, NewApplicationError, StoreError, StoreResult};

const COLUMNS: &str = "name, description, command, args, working_dir, icon, width, height, fps, \
                       bitrate_kbps, max_sessions, state, created_at, updated_at";

fn state_str(state: ApplicationState) -> &'static str {
    match state {
        ApplicationState::Enabled => "ENABLED",
        ApplicationState::Disabled => "DISABLED",
    }
}

fn application_from_row(row: &Row<'_>) -> rusqlite::Result<Application> {
    let args: String = row.get(3)?;
    let state: String = row.get(11)?;
    Ok(Application {
        name: row.get(0)?,
        description: row.get(1)?,
        command: row.get(2)?,
        args: serde_json::from_str(&args).unwrap_or_default(),
        working_dir: row.get(4)?,
        icon: row.get(5)?,
        stream: StreamDefaults {
            width: row.get(6)?,
            height: row.get(7)?,
            fps: row.get(8)?,
            bitrate_kbps: row.get(9)?,
        },
        max_sessions: row.get(10)?,
        state: if state == "DISABLED" {
            ApplicationState::Disabled
        } else {
            ApplicationState::Enabled
        },
        created_at: rfc3339(row.get(12)?),
        updated_at: rfc3339(row.get(13)?),
    })
}

pub(super) fn load_application(
    connection: &rusqlite::Connection,
    name: &str,
) -> StoreResult<Application> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM applications WHERE name = ?1"),
            [name],
            application_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("application {name}")))
}

/// (pending and not yet expired, active) sessions of an application. `IN`
/// rather than `!=`, so the (application, state) index skips ended sessions.
pub(super) fn live_counts(
    connection: &rusqlite::Connection,
    application: &str,
    now: i64,
) -> StoreResult<(u32, u32)> {
    Ok(connection.query_row(
        "SELECT \
           COALESCE(SUM(state = 'PENDING' AND expires_at > ?2), 0), \
           COALESCE(SUM(state = 'ACTIVE'), 0) \
         FROM sessions WHERE application = ?1 AND state IN ('PENDING', 'ACTIVE')",
        params![application, now],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?)
}

fn error_from_row(row: &Row<'_>) -> rusqlite::Result<ApplicationError> {
    Ok(ApplicationError {
        id: row.get(0)?,
        application: row.get(1)?,
        at: rfc3339(row.get(2)?),
        kind: row.get(3)?,
        message: row.get(4)?,
        session: row.get(5)?,
        exit_status: row.get(6)?,
        stderr_tail: row.get(7)?,
    })
}

const ERROR_COLUMNS: &str = "id, application, at, kind, message, session, exit_status, stderr_tail";

impl ApplicationStore for SqliteStore {
    fn create_application(&self, new: &NewApplication, now: i64) -> StoreResult<Application> {
        let connection = self.lock();
        let args = serde_json::to_string(&new.args).unwrap_or_else(|_| "[]".into());
        let inserted = connection.execute(
            "INSERT INTO applications (name, description, command, args, working_dir, icon, width, \
             height, fps, bitrate_kbps, max_sessions, state, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) \
             ON CONFLICT (name) DO NOTHING",
            params![
                new.name,
                new.description,
                new.command,
                args,
                new.working_dir,
                new.icon,
                new.stream.width,
                new.stream.height,
                new.stream.fps,
                new.stream.bitrate_kbps,
                new.max_sessions,
                state_str(new.state),
                now
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "application {} already exists",
                new.name
            )));
        }
        load_application(&connection, &new.name)
    }

    fn application(&self, name: &str) -> StoreResult<Application> {
        load_application(&self.lock(), name)
    }

    fn applications(&self) -> StoreResult<Vec<Application>> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!("SELECT {COLUMNS} FROM applications ORDER BY name"))?;
        let rows = statement.query_map([], application_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_application(
        &self,
        name: &str,
        patch: &ApplicationPatch,
        now: i64,
    ) -> StoreResult<Application> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let mut app = load_application(&transaction, name)?;
        patch.apply_to(&mut app);
        transaction.execute(
            "UPDATE applications SET description = ?2, command = ?3, args = ?4, working_dir = ?5, \
             icon = ?6, width = ?7, height = ?8, fps = ?9, bitrate_kbps = ?10, max_sessions = ?11, \
             updated_at = ?12 WHERE name = ?1",
            params![
                name,
                app.description,
                app.command,
                serde_json::to_string(&app.args).unwrap_or_else(|_| "[]".into()),
                app.working_dir,
                app.icon,
                app.stream.width,
                app.stream.height,
                app.stream.fps,
                app.stream.bitrate_kbps,
                app.max_sessions,
                now
            ],
        )?;
        let app = load_application(&transaction, name)?;
        transaction.commit()?;
        Ok(app)
    }

    fn delete_application(&self, name: &str) -> StoreResult<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        load_application(&transaction, name)?;
        let live: u32 = transaction.query_row(
            "SELECT COUNT(*) FROM sessions WHERE application = ?1 AND state IN ('PENDING', 'ACTIVE')",
            [name],
            |row| row.get(0),
        )?;
        if live > 0 {
            return Err(StoreError::Conflict(format!(
                "application {name} has {live} live sessions; terminate them first"
            )));
        }
        transaction.execute("DELETE FROM applications WHERE name = ?1", [name])?;
        transaction.execute("DELETE FROM entitlements WHERE application = ?1", [name])?;
        transaction.commit()?;
        Ok(())
    }

    fn set_application_state(
        &self,
        name: &str,
        state: ApplicationState,
        now: i64,
    ) -> StoreResult<Application> {
        let connection = self.lock();
        let changed = connection.execute(
            "UPDATE applications SET state = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, state_str(state), now],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("application {name}")));
        }
        load_application(&connection, name)
    }

    fn application_status(&self, name: &str, now: i64) -> StoreResult<ApplicationStatus> {
        let connection = self.lock();
        let app = load_application(&connection, name)?;
        let (pending, active) = live_counts(&connection, name, now)?;
        let error_count: u32 = connection.query_row(
            "SELECT COUNT(*) FROM application_errors WHERE application = ?1",
            [name],
            |row| row.get(0),
        )?;
        Ok(ApplicationStatus {
            accepting_sessions: app.state == ApplicationState::Enabled
                && pending + active < app.max_sessions,
            name: app.name,
            state: app.state,
            pending_sessions: pending,
            active_sessions: active,
            max_sessions: app.max_sessions,
            error_count,
        })
    }

    fn record_application_error(&self, error: &NewApplicationError, now: i64) -> StoreResult<i64> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO application_errors (application, at, kind, message, session, exit_status, \
             stderr_tail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                error.application,
                now,
                error.kind,
                error.message,
                error.session,
                error.exit_status,
                error.stderr_tail
            ],
        )?;
        Ok(connection.last_insert_rowid())
    }

    fn application_errors(&self, name: &str) -> StoreResult<Vec<ApplicationError>> {
        let connection = self.lock();
        load_application(&connection, name)?;
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {ERROR_COLUMNS} FROM application_errors WHERE application = ?1 ORDER BY id"
        ))?;
        let rows = statement.query_map([name], error_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn application_error(&self, name: &str, id: i64) -> StoreResult<ApplicationError> {
        let connection = self.lock();
        connection
            .query_row(
                &format!(
                    "SELECT {ERROR_COLUMNS} FROM application_errors WHERE application = ?1 AND id = ?2"
                ),
                params![name, id],
                error_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("error {id} of application {name}")))
    }
}
