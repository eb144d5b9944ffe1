//! `host service install|uninstall|status`: the host as a systemd service.
//!
//! `install` writes a user unit (~/.config/systemd/user/appstream-host.service;
//! `--system`: /etc/systemd/system/, running as the dedicated user
//! `appstream-host` in /var/lib/appstream-host) that starts this very binary
//! as `host --data-dir DIR --config FILE serve`, restarts it when it fails
//! and logs to the journal; then enables and starts it. The unit's text is
//! `unit::render`, which also wrote the copy the package ships
//! (`assets/systemd/appstream-host.service`, checked by a test).
//!
//! - `unit`: the unit file's text (pure) and reading it back.
//! - `plan`: where it goes and what it holds, from the command line and the
//!   environment (pure).
//! - `actions`: the files and the systemctl calls of each command.
//! - `systemctl`: systemctl behind a trait; `account`: the system user.

mod account;
mod actions;
pub mod plan;
mod systemctl;
pub mod unit;

use std::path::Path;
use std::process::ExitCode;

use unit::Scope;

/// `host service ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ServiceCommand {
    /// Write the unit file, then enable and start it.
    ///
    /// The unit starts this binary as `host --data-dir DIR --config FILE
    /// serve` (the data directory and a config file with nothing set are
    /// made when missing). Run it again after moving the binary or changing
    /// --data-dir/--config.
    Install {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Only write the unit (and the files it names): ask nothing of
        /// systemd, which reads it at its next daemon-reload.
        #[arg(long)]
        no_enable: bool,
    },
    /// Stop and disable the unit and remove its file.
    ///
    /// The data directory stays. Nothing to remove is not an error.
    Uninstall {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Where the unit file is, what it starts, whether it runs.
    ///
    /// Exit code 1 when it is not installed, 3 when systemd says it is not
    /// running.
    Status {
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// Which unit: the person's own or the machine's.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ScopeArgs {
    /// The system unit (/etc/systemd/system), run as the user
    /// `appstream-host` with its data in /var/lib/appstream-host unless
    /// --data-dir says otherwise. Needs root.
    #[arg(long)]
    pub system: bool,
}

impl ScopeArgs {
    fn scope(self) -> Scope {
        if self.system {
            Scope::System
        } else {
            Scope::User
        }
    }
}

/// Runs a `host service` command. `config` is the config file the unit's
/// host reads (`--config`, else DATA_DIR/host.toml).
pub fn run(data_dir: &Path, config: &Path, command: ServiceCommand) -> anyhow::Result<ExitCode> {
    let env = plan::Environment::current()?;
    let mut out = std::io::stdout().lock();
    match command {
        ServiceCommand::Install { scope, no_enable } => {
            let scope = scope.scope();
            let plan = plan::plan(scope, data_dir, config, &env)?;
            actions::install(
                &plan,
                &env,
                !no_enable,
                &systemctl::Systemctl { scope },
                &mut out,
            )
        }
        ServiceCommand::Uninstall { scope } => {
            let scope = scope.scope();
            actions::uninstall(scope, &env, &systemctl::Systemctl { scope }, &mut out)
        }
        ServiceCommand::Status { scope } => {
            let scope = scope.scope();
            actions::status(scope, &env, &systemctl::Systemctl { scope }, &mut out)
        }
    }
}
