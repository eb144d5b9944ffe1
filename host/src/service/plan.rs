//! What a `host service` command works on: the unit file's path and the
//! unit it holds, decided from the command line and the environment (a
//! pure function of them, tested without touching the machine).

use std::path::{Path, PathBuf};

use super::unit::{
    Origin, STATE_DIRECTORY, SYSTEM_DATA_DIR, SYSTEM_USER, Scope, UNIT_NAME, UnitArg, UnitSpec,
};

/// `--data-dir`'s default on the command line (`host::cli`; the e2e suite
/// checks they agree). With `--system` it means "not chosen": the system
/// unit then uses /var/lib/appstream-host.
pub const CLI_DEFAULT_DATA_DIR: &str = "host-data";
/// Where system units are written.
pub const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";
/// Where the package installs its user unit.
pub const PACKAGED_USER_UNIT: &str = "/usr/lib/systemd/user/appstream-host.service";

/// What the commands read from the process's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// The running host binary: the unit starts this one.
    pub exe: PathBuf,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub display: Option<String>,
    pub xauthority: Option<String>,
    /// Running as root (needed for `--system`).
    pub root: bool,
    /// The package's user unit (`PACKAGED_USER_UNIT`), which `status` falls
    /// back to.
    pub packaged_user_unit: PathBuf,
}

impl Environment {
    pub fn current() -> anyhow::Result<Environment> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Environment {
            exe: std::env::current_exe()
                .map_err(|e| anyhow::anyhow!("finding the running host binary: {e}"))?,
            cwd: std::env::current_dir()
                .map_err(|e| anyhow::anyhow!("reading the current directory: {e}"))?,
            home: var("HOME").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            display: var("DISPLAY"),
            xauthority: var("XAUTHORITY"),
            root: nix::unistd::Uid::effective().is_root(),
            packaged_user_unit: PathBuf::from(PACKAGED_USER_UNIT),
        })
    }

    fn absolute(&self, path: &Path) -> PathBuf {
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.join(path)
        };
        // `a/./b` and `a/../b` lexically, as std::path::absolute does not.
        let mut clean = PathBuf::new();
        for part in joined.components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                other => clean.push(other),
            }
        }
        clean
    }

    /// The person's systemd user unit directory ($XDG_CONFIG_HOME/systemd/user).
    pub fn user_unit_dir(&self) -> anyhow::Result<PathBuf> {
        match (&self.xdg_config_home, &self.home) {
            (Some(config), _) if config.is_absolute() => Ok(config.join("systemd/user")),
            (_, Some(home)) => Ok(home.join(".config/systemd/user")),
            _ => anyhow::bail!(
                "neither XDG_CONFIG_HOME nor HOME is set: cannot tell where your systemd user units go"
            ),
        }
    }
}

/// The unit file's place and what goes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub scope: Scope,
    pub unit_path: PathBuf,
    pub spec: UnitSpec,
    pub data_dir: PathBuf,
    pub config: PathBuf,
}

/// Where the unit of `scope` lives.
pub fn unit_path(scope: Scope, env: &Environment) -> anyhow::Result<PathBuf> {
    Ok(match scope {
        Scope::User => env.user_unit_dir()?.join(UNIT_NAME),
        Scope::System => Path::new(SYSTEM_UNIT_DIR).join(UNIT_NAME),
    })
}

/// The unit `host service install` writes for `--data-dir data_dir` and
/// the config file `config` (`--config`, else DATA_DIR/host.toml).
pub fn plan(
    scope: Scope,
    data_dir: &Path,
    config: &Path,
    env: &Environment,
) -> anyhow::Result<Plan> {
    let (data_dir, config) = match scope {
        Scope::User => (env.absolute(data_dir), env.absolute(config)),
        Scope::System => {
            let default = Path::new(CLI_DEFAULT_DATA_DIR);
            if data_dir == default {
                let system = PathBuf::from(SYSTEM_DATA_DIR);
                let config = if config == default.join("host.toml") {
                    system.join("host.toml")
                } else {
                    env.absolute(config)
                };
                (system, config)
            } else {
                (env.absolute(data_dir), env.absolute(config))
            }
        }
    };
    let mut environment = Vec::new();
    if scope == Scope::User {
        // A user manager does not have the session's DISPLAY unless it was
        // imported; the unit carries the one this command saw.
        if let Some(display) = &env.display {
            environment.push(("DISPLAY".to_string(), display.clone()));
        }
        if let Some(xauthority) = &env.xauthority {
            environment.push(("XAUTHORITY".to_string(), xauthority.clone()));
        }
    }
    let state_directory = (scope == Scope::System && data_dir == Path::new(SYSTEM_DATA_DIR))
        .then(|| STATE_DIRECTORY.to_string());
    let spec = UnitSpec {
        scope,
        origin: Origin::Installed,
        exe: UnitArg::Path(env.exe.clone()),
        data_dir: UnitArg::Path(data_dir.clone()),
        config: UnitArg::Path(config.clone()),
        state_directory,
        environment,
        user: (scope == Scope::System).then(|| SYSTEM_USER.to_string()),
    };
    Ok(Plan {
        scope,
        unit_path: unit_path(scope, env)?,
        spec,
        data_dir,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            exe: "/home/ann/bin/host".into(),
            cwd: "/home/ann/games".into(),
            home: Some("/home/ann".into()),
            xdg_config_home: None,
            display: Some(":1".into()),
            xauthority: None,
            root: false,
            packaged_user_unit: "/nonexistent/appstream-host.service".into(),
        }
    }

    #[test]
    fn a_user_unit_gets_absolute_paths_the_display_and_the_xdg_config_dir() {
        let default = Path::new(CLI_DEFAULT_DATA_DIR);
        let p = plan(Scope::User, default, &default.join("host.toml"), &env()).expect("plan");
        assert_eq!(
            p.unit_path,
            Path::new("/home/ann/.config/systemd/user/appstream-host.service")
        );
        assert_eq!(p.data_dir, Path::new("/home/ann/games/host-data"));
        assert_eq!(p.config, Path::new("/home/ann/games/host-data/host.toml"));
        assert_eq!(p.spec.exe, UnitArg::Path("/home/ann/bin/host".into()));
        assert_eq!(
            p.spec.environment,
            [("DISPLAY".to_string(), ":1".to_string())]
        );
        assert_eq!(p.spec.user, None);
        assert_eq!(p.spec.state_directory, None);

        let mut env = env();
        env.xdg_config_home = Some("/xdg".into());
        env.display = None;
        let p = plan(
            Scope::User,
            Path::new("../data"),
            Path::new("/etc/host.toml"),
            &env,
        )
        .expect("plan");
        assert_eq!(
            p.unit_path,
            Path::new("/xdg/systemd/user/appstream-host.service")
        );
        assert_eq!(p.data_dir, Path::new("/home/ann/data"));
        assert_eq!(p.config, Path::new("/etc/host.toml"));
        assert!(p.spec.environment.is_empty());
    }

    #[test]
    fn a_system_unit_defaults_to_var_lib_and_runs_as_the_dedicated_user() {
        let default = Path::new(CLI_DEFAULT_DATA_DIR);
        let p = plan(Scope::System, default, &default.join("host.toml"), &env()).expect("plan");
        assert_eq!(
            p.unit_path,
            Path::new("/etc/systemd/system/appstream-host.service")
        );
        assert_eq!(p.data_dir, Path::new("/var/lib/appstream-host"));
        assert_eq!(p.config, Path::new("/var/lib/appstream-host/host.toml"));
        assert_eq!(p.spec.user.as_deref(), Some("appstream-host"));
        assert_eq!(p.spec.state_directory.as_deref(), Some("appstream-host"));
        assert!(p.spec.environment.is_empty(), "no session DISPLAY");

        // A chosen directory and config are kept (and not a StateDirectory).
        let p = plan(
            Scope::System,
            Path::new("/srv/host"),
            Path::new("/etc/appstream/host.toml"),
            &env(),
        )
        .expect("plan");
        assert_eq!(p.data_dir, Path::new("/srv/host"));
        assert_eq!(p.config, Path::new("/etc/appstream/host.toml"));
        assert_eq!(p.spec.state_directory, None);
        // The default data dir with a chosen config file.
        let p = plan(
            Scope::System,
            default,
            Path::new("/etc/appstream/host.toml"),
            &env(),
        )
        .expect("plan");
        assert_eq!(p.data_dir, Path::new("/var/lib/appstream-host"));
        assert_eq!(p.config, Path::new("/etc/appstream/host.toml"));
    }

    #[test]
    fn no_home_no_user_unit() {
        let mut env = env();
        env.home = None;
        let default = Path::new(CLI_DEFAULT_DATA_DIR);
        assert!(plan(Scope::User, default, &default.join("host.toml"), &env).is_err());
    }
}
