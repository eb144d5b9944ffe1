//! `install`, `uninstall` and `status`: files on disk and systemctl calls,
//! with every step said in plain words on `out`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::account;
use super::plan::{Environment, Plan, unit_path};
use super::systemctl::{Manager, command_line};
use super::unit::{self, SYSTEM_USER, Scope, UNIT_NAME};

/// `status` when the unit is installed but systemd says it is not running
/// (as `systemctl status` does).
pub const EXIT_NOT_ACTIVE: u8 = 3;

/// The config file `install` writes when there is none: nothing set, so
/// the host's defaults hold until the owner edits it.
pub const STARTER_CONFIG: &str = "\
# host.toml: settings of `host serve` (written by `host service install`).
# Each key is a flag's name; nothing is set, so the defaults hold. For
# example, to accept viewers on the LAN:
#   listen = \"0.0.0.0:47990\"
# Flags on the command line override this file; `host config show` prints
# the settings in effect and where each came from.
";

/// Writes the unit (and the data directory and config file it needs), then
/// enables and starts it; with `enable` false, asks nothing of systemd.
pub fn install(
    plan: &Plan,
    env: &Environment,
    enable: bool,
    manager: &dyn Manager,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let text = unit::render(&plan.spec)?;
    match plan.scope {
        Scope::User => prepare_user_files(plan, out)?,
        Scope::System => prepare_system_files(plan, env, out)?,
    }
    let existed = plan.unit_path.exists();
    write_unit(&plan.unit_path, &text)?;
    writeln!(
        out,
        "{} {} ({})",
        if existed { "updated" } else { "wrote" },
        plan.unit_path.display(),
        plan.scope.describe()
    )?;
    let exec_start = unit::directive(&text, "ExecStart").join(" ");
    writeln!(out, "  ExecStart={exec_start}")?;
    for (name, value) in &plan.spec.environment {
        writeln!(
            out,
            "  Environment {name}={value} (as it is now; run install again if it changes)"
        )?;
    }
    if plan.scope == Scope::User && env.display.is_none() {
        writeln!(
            out,
            "  no DISPLAY here: applications get a private virtual display (Xvfb) per session"
        )?;
    }
    let reload = ["daemon-reload"];
    let enable_now = ["enable", "--now", UNIT_NAME];
    let later = format!(
        "{} && {}",
        command_line(plan.scope, &reload),
        command_line(plan.scope, &enable_now)
    );
    if !enable {
        // Nothing asked of systemd: it reads the file on its next reload.
        writeln!(out, "not enabled (--no-enable); to start it: {later}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = manager.unavailable() {
        writeln!(out, "{why}:")?;
        writeln!(
            out,
            "  the unit was written but not enabled or started. Where systemd runs: {later}"
        )?;
        return Ok(ExitCode::FAILURE);
    }
    for args in [&reload[..], &enable_now[..]] {
        let outcome = manager.systemctl(args);
        if !outcome.success {
            writeln!(
                out,
                "`{}` failed: {}",
                command_line(plan.scope, args),
                outcome.words()
            )?;
            return Ok(ExitCode::FAILURE);
        }
        writeln!(out, "{}: ok", command_line(plan.scope, args))?;
    }
    let logs = match plan.scope {
        Scope::User => "journalctl --user -u appstream-host",
        Scope::System => "journalctl -u appstream-host",
    };
    writeln!(out, "started; its log: {logs}")?;
    if plan.scope == Scope::User {
        writeln!(
            out,
            "it starts when you log in; to start it at boot without a login: loginctl enable-linger"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The user unit's data directory (private, as the host makes it) and a
/// starter config file.
fn prepare_user_files(plan: &Plan, out: &mut dyn Write) -> anyhow::Result<()> {
    crate::platform::private_dir::prepare(&plan.data_dir)?;
    if write_starter_config(&plan.config, 0o600)? {
        writeln!(out, "wrote {} (nothing set yet)", plan.config.display())?;
    }
    Ok(())
}

/// The dedicated user, the binary it must be able to run, its data
/// directory and config file (given to it).
fn prepare_system_files(plan: &Plan, env: &Environment, out: &mut dyn Write) -> anyhow::Result<()> {
    if !env.root {
        let useradd = account::useradd_command(&plan.data_dir).join(" ");
        anyhow::bail!(
            "`host service install --system` must run as root: it writes {}, creates the user \
             {SYSTEM_USER} and gives it {}. Run:\n  sudo {useradd}   # if the user does not exist yet\n  \
             sudo {} --data-dir {} --config {} service install --system",
            plan.unit_path.display(),
            plan.data_dir.display(),
            env.exe.display(),
            plan.data_dir.display(),
            plan.config.display()
        );
    }
    if let Some(why) = account::unreachable_by_others(&env.exe) {
        anyhow::bail!(
            "the system unit runs {} as {SYSTEM_USER}, which cannot run it: {why}. Install the binary \
             where every user can run it and install the unit from there:\n  \
             install -m 0755 {} /usr/local/bin/host && /usr/local/bin/host service install --system",
            env.exe.display(),
            env.exe.display()
        );
    }
    let ids = account::ensure_user(&plan.data_dir, out)?;
    let existed = plan.data_dir.exists();
    crate::platform::private_dir::prepare(&plan.data_dir)?;
    account::give(&plan.data_dir, ids)?;
    writeln!(
        out,
        "data directory {}: {} (0700, owned by {SYSTEM_USER})",
        plan.data_dir.display(),
        if existed { "exists" } else { "created" }
    )?;
    if existed && account::foreign_entries(&plan.data_dir, ids.0) {
        writeln!(
            out,
            "  some files in it belong to another user, and the host (as {SYSTEM_USER}) cannot read them: \
             chown -R {SYSTEM_USER}: {}",
            plan.data_dir.display()
        )?;
    }
    let inside = plan.config.starts_with(&plan.data_dir);
    // Inside the data directory the config belongs to the host; elsewhere
    // it stays root's and the host's group may read it.
    if write_starter_config(&plan.config, if inside { 0o600 } else { 0o640 })? {
        if inside {
            account::give(&plan.config, ids)?;
        } else {
            nix::unistd::chown(&plan.config, None, Some(ids.1)).with_context(|| {
                format!(
                    "giving {} to the group {SYSTEM_USER}",
                    plan.config.display()
                )
            })?;
        }
        writeln!(out, "wrote {} (nothing set yet)", plan.config.display())?;
    }
    Ok(())
}

/// Writes `STARTER_CONFIG` at `path` unless a file is there; true if written.
fn write_starter_config(path: &Path, mode: u32) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(STARTER_CONFIG.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Writes the unit file whole (a temporary file renamed over it), 0644.
fn write_unit(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("the unit path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".{UNIT_NAME}.{}", std::process::id()));
    std::fs::write(&temporary, text).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Stops and disables the unit and removes its file; done again, it says
/// there is nothing to remove. The data directory and the user stay.
pub fn uninstall(
    scope: Scope,
    env: &Environment,
    manager: &dyn Manager,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let path = unit_path(scope, env)?;
    if !path.exists() {
        writeln!(
            out,
            "not installed: there is no {} (nothing to remove)",
            path.display()
        )?;
        if scope == Scope::User && env.packaged_user_unit.exists() {
            writeln!(
                out,
                "the package's unit {} stays: {}",
                env.packaged_user_unit.display(),
                command_line(scope, &["disable", "--now", UNIT_NAME])
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        scope == Scope::User || env.root,
        "`host service uninstall --system` must run as root (it removes {})",
        path.display()
    );
    let mut failed = false;
    let available = match manager.unavailable() {
        Some(why) => {
            writeln!(out, "{why}: nothing to stop or disable")?;
            false
        }
        None => {
            let args = ["disable", "--now", UNIT_NAME];
            let outcome = manager.systemctl(&args);
            if outcome.success {
                writeln!(out, "{}: ok", command_line(scope, &args))?;
            } else {
                failed = true;
                writeln!(
                    out,
                    "`{}` failed: {} (the host may still be running)",
                    command_line(scope, &args),
                    outcome.words()
                )?;
            }
            true
        }
    };
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    writeln!(out, "removed {}", path.display())?;
    if available {
        let outcome = manager.systemctl(&["daemon-reload"]);
        if !outcome.success {
            failed = true;
            writeln!(
                out,
                "`{}` failed: {}",
                command_line(scope, &["daemon-reload"]),
                outcome.words()
            )?;
        }
    }
    let data = match scope {
        Scope::User => "its data directory stays".to_string(),
        Scope::System => format!(
            "its data directory and the user {SYSTEM_USER} stay (userdel {SYSTEM_USER} removes the user)"
        ),
    };
    writeln!(out, "{data}")?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Where the unit is, what it starts, and what systemd says of it.
/// Exit: success, 1 when not installed, `EXIT_NOT_ACTIVE` when systemd
/// says it is not running.
pub fn status(
    scope: Scope,
    env: &Environment,
    manager: &dyn Manager,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let ours = unit_path(scope, env)?;
    let mut candidates = vec![ours.clone()];
    if scope == Scope::User {
        candidates.push(env.packaged_user_unit.clone());
    }
    let Some(path) = candidates.iter().find(|p| p.exists()) else {
        let places: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        writeln!(
            out,
            "{UNIT_NAME} ({}): not installed (no {})",
            scope.describe(),
            places.join(", no ")
        )?;
        let (other, flag) = match scope {
            Scope::User => (Scope::System, " --system"),
            Scope::System => (Scope::User, ""),
        };
        if unit_path(other, env).is_ok_and(|p| p.exists()) {
            writeln!(
                out,
                "there is a {}: host service status{flag}",
                other.describe()
            )?;
        }
        writeln!(
            out,
            "install it with: host service install{}",
            if scope == Scope::System {
                " --system"
            } else {
                ""
            }
        )?;
        return Ok(ExitCode::FAILURE);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    writeln!(
        out,
        "{UNIT_NAME} ({}): {}{}",
        scope.describe(),
        path.display(),
        if *path == ours {
            ""
        } else {
            " (the package's)"
        }
    )?;
    for line in unit::directive(&text, "ExecStart") {
        writeln!(out, "  ExecStart={line}")?;
        let words = unit::split_command(line);
        if let Some(config) = words
            .iter()
            .position(|w| w == "--config")
            .and_then(|i| words.get(i + 1))
            && !config.contains('%')
        {
            let state = if Path::new(config).exists() {
                "exists"
            } else {
                "missing: made empty when the unit starts"
            };
            writeln!(out, "  config file {config}: {state}")?;
        }
    }
    for line in unit::directive(&text, "Environment") {
        writeln!(out, "  Environment={line} (as it was at install time)")?;
    }
    for line in unit::directive(&text, "User") {
        writeln!(out, "  User={line}")?;
    }
    if let Some(why) = manager.unavailable() {
        writeln!(
            out,
            "{why}: whether it is enabled or running cannot be asked. Where systemd runs, \
             it starts the ExecStart line above"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let enabled = manager.systemctl(&["is-enabled", UNIT_NAME]);
    let active = manager.systemctl(&["is-active", UNIT_NAME]);
    writeln!(out, "  enabled: {}", enabled.words())?;
    writeln!(out, "  active: {}", active.words())?;
    if active.success {
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "its log: journalctl{} -u appstream-host",
            if scope == Scope::User { " --user" } else { "" }
        )?;
        Ok(ExitCode::from(EXIT_NOT_ACTIVE))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::PathBuf;

    use super::super::plan::{CLI_DEFAULT_DATA_DIR, plan};
    use super::super::systemctl::Outcome;
    use super::*;

    /// A systemd that answers every call with `answer` and remembers them.
    struct FakeManager {
        running: bool,
        answer: Outcome,
        calls: RefCell<Vec<String>>,
    }

    impl FakeManager {
        fn new(running: bool, success: bool, stdout: &str) -> Self {
            FakeManager {
                running,
                answer: Outcome {
                    success,
                    stdout: stdout.into(),
                    stderr: String::new(),
                },
                calls: RefCell::new(Vec::new()),
            }
        }
    }

    impl Manager for FakeManager {
        fn unavailable(&self) -> Option<String> {
            (!self.running).then(|| "systemd is not running on this machine".to_string())
        }
        fn systemctl(&self, args: &[&str]) -> Outcome {
            self.calls.borrow_mut().push(args.join(" "));
            self.answer.clone()
        }
    }

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("svc-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    fn env(dir: &Path) -> Environment {
        Environment {
            exe: "/usr/local/bin/host".into(),
            cwd: dir.to_path_buf(),
            home: Some(dir.join("home")),
            xdg_config_home: Some(dir.join("xdg")),
            display: Some(":7".into()),
            xauthority: None,
            root: false,
            packaged_user_unit: dir.join("packaged/appstream-host.service"),
        }
    }

    fn user_plan(env: &Environment) -> Plan {
        let data = Path::new(CLI_DEFAULT_DATA_DIR);
        plan(Scope::User, data, &data.join("host.toml"), env).expect("plan")
    }

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn install_status_uninstall_with_systemd_running() {
        let dir = scratch("running");
        let env = env(&dir);
        let plan = user_plan(&env);
        let manager = FakeManager::new(true, true, "");
        let mut out = Vec::new();
        let code = install(&plan, &env, true, &manager, &mut out).expect("install");
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(
            *manager.calls.borrow(),
            ["daemon-reload", "enable --now appstream-host.service"]
        );
        let unit = std::fs::read_to_string(dir.join("xdg/systemd/user/appstream-host.service"))
            .expect("unit written");
        assert_eq!(unit, unit::render(&plan.spec).expect("render"));
        let config = std::fs::read_to_string(dir.join("host-data/host.toml")).expect("config");
        assert_eq!(config, STARTER_CONFIG);
        let mode = std::fs::metadata(dir.join("host-data"))
            .expect("data dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let said = text(out);
        assert!(said.contains("Environment DISPLAY=:7"), "{said}");

        let manager = FakeManager::new(true, true, "enabled");
        let mut out = Vec::new();
        assert_eq!(
            status(Scope::User, &env, &manager, &mut out).expect("status"),
            ExitCode::SUCCESS
        );
        let said = text(out);
        assert!(
            said.contains("ExecStart=/usr/local/bin/host --data-dir"),
            "{said}"
        );
        assert!(said.contains("host-data/host.toml: exists"), "{said}");
        assert!(said.contains("enabled: enabled"), "{said}");

        let manager = FakeManager::new(true, false, "inactive");
        assert_eq!(
            status(Scope::User, &env, &manager, &mut Vec::new()).expect("status"),
            ExitCode::from(EXIT_NOT_ACTIVE)
        );

        let manager = FakeManager::new(true, true, "");
        let mut out = Vec::new();
        uninstall(Scope::User, &env, &manager, &mut out).expect("uninstall");
        assert_eq!(
            *manager.calls.borrow(),
            ["disable --now appstream-host.service", "daemon-reload"]
        );
        assert!(!plan.unit_path.exists());
        assert!(dir.join("host-data/host.toml").exists(), "the data stays");
        // Again: nothing to do, still fine.
        let manager = FakeManager::new(true, true, "");
        let mut out = Vec::new();
        assert_eq!(
            uninstall(Scope::User, &env, &manager, &mut out).expect("again"),
            ExitCode::SUCCESS
        );
        assert!(manager.calls.borrow().is_empty());
        assert!(text(out).contains("not installed"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_systemd_the_unit_is_written_and_status_says_so_plainly() {
        let dir = scratch("absent");
        let env = env(&dir);
        let plan = user_plan(&env);
        let manager = FakeManager::new(false, true, "");
        let mut out = Vec::new();
        let code = install(&plan, &env, true, &manager, &mut out).expect("install");
        assert_eq!(code, ExitCode::FAILURE, "asked to start it and could not");
        assert!(manager.calls.borrow().is_empty());
        assert!(plan.unit_path.exists());
        let said = text(out);
        assert!(said.contains("not running on this machine"), "{said}");
        assert!(
            said.contains("systemctl --user enable --now appstream-host.service"),
            "{said}"
        );
        assert_eq!(
            install(&plan, &env, false, &manager, &mut Vec::new()).expect("again"),
            ExitCode::SUCCESS
        );

        let mut out = Vec::new();
        assert_eq!(
            status(Scope::User, &env, &manager, &mut out).expect("status"),
            ExitCode::SUCCESS
        );
        let said = text(out);
        assert!(
            said.contains(&plan.unit_path.display().to_string()),
            "{said}"
        );
        assert!(said.contains("cannot be asked"), "{said}");
        assert!(said.contains("serve"), "{said}");

        uninstall(Scope::User, &env, &manager, &mut Vec::new()).expect("uninstall");
        let mut out = Vec::new();
        assert_eq!(
            status(Scope::User, &env, &manager, &mut out).expect("status"),
            ExitCode::FAILURE
        );
        assert!(text(out).contains("not installed"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_existing_config_is_never_overwritten() {
        let dir = scratch("keep");
        let env = env(&dir);
        let plan = user_plan(&env);
        std::fs::create_dir_all(dir.join("host-data")).expect("data");
        std::fs::write(dir.join("host-data/host.toml"), "listen = \"0.0.0.0:1\"\n").expect("cfg");
        install(
            &plan,
            &env,
            false,
            &FakeManager::new(false, true, ""),
            &mut Vec::new(),
        )
        .expect("install");
        assert_eq!(
            std::fs::read_to_string(dir.join("host-data/host.toml")).expect("cfg"),
            "listen = \"0.0.0.0:1\"\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_system_install_is_refused_without_root_with_the_commands_to_run() {
        let dir = scratch("noroot");
        let env = env(&dir);
        let data = Path::new(CLI_DEFAULT_DATA_DIR);
        let plan = plan(Scope::System, data, &data.join("host.toml"), &env).expect("plan");
        let error = install(
            &plan,
            &env,
            true,
            &FakeManager::new(true, true, ""),
            &mut Vec::new(),
        )
        .expect_err("refused");
        let words = format!("{error:#}");
        assert!(words.contains("must run as root"), "{words}");
        assert!(words.contains("useradd --system"), "{words}");
        assert!(words.contains("service install --system"), "{words}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
