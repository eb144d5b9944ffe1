//! The unit file's text: rendered from a `UnitSpec` by a pure function (the
//! one `host service install` writes and the one the package ships in
//! `assets/systemd/` both come from here), and read back for `status`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The unit's name, for systemctl and the file.
pub const UNIT_NAME: &str = "appstream-host.service";
/// The dedicated user of the system unit.
pub const SYSTEM_USER: &str = "appstream-host";
/// The data directory systemd makes for the unit (`StateDirectory=`), under
/// /var/lib (system) or ~/.local/state (user).
pub const STATE_DIRECTORY: &str = "appstream-host";
/// The system unit's default data directory (`/var/lib/` + `STATE_DIRECTORY`).
pub const SYSTEM_DATA_DIR: &str = "/var/lib/appstream-host";
/// Where the package installs the host binary: not /usr/bin/host, which
/// is bind9-host's (the DNS lookup tool).
pub const PACKAGED_EXE: &str = "/usr/bin/appstream-host";
/// Seconds systemd waits before restarting a host that failed.
pub const RESTART_SEC: u32 = 5;

/// Which systemd manager runs the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The person's own manager (`systemctl --user`), started at their login
    /// (or at boot with `loginctl enable-linger`).
    User,
    /// The machine's manager, as the dedicated user `SYSTEM_USER`.
    System,
}

impl Scope {
    pub fn describe(self) -> &'static str {
        match self {
            Scope::User => "user unit",
            Scope::System => "system unit",
        }
    }
}

/// Who wrote the unit: it says so in its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `host service install`.
    Installed,
    /// The appstream-host package (`assets/systemd/appstream-host.service`).
    Packaged,
}

/// A word of a command line in the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitArg {
    /// A path, escaped so that systemd reads back exactly these bytes.
    Path(PathBuf),
    /// A specifier expression (`%S/appstream-host`), written as it is.
    Specifier(String),
}

/// Everything that differs between the units we write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    pub scope: Scope,
    pub origin: Origin,
    /// The host binary.
    pub exe: UnitArg,
    pub data_dir: UnitArg,
    /// The config file the host reads (`--config`).
    pub config: UnitArg,
    /// `StateDirectory=`: systemd makes the data directory and gives it to
    /// the unit's user.
    pub state_directory: Option<String>,
    /// `Environment=` (DISPLAY and XAUTHORITY as they were at install time).
    pub environment: Vec<(String, String)>,
    /// `User=` (the system unit).
    pub user: Option<String>,
}

impl UnitSpec {
    /// The user unit the package installs as
    /// /usr/lib/systemd/user/appstream-host.service.
    pub fn packaged() -> UnitSpec {
        UnitSpec {
            scope: Scope::User,
            origin: Origin::Packaged,
            exe: UnitArg::Path(PathBuf::from(PACKAGED_EXE)),
            data_dir: UnitArg::Specifier(format!("%S/{STATE_DIRECTORY}")),
            config: UnitArg::Specifier(format!("%S/{STATE_DIRECTORY}/host.toml")),
            state_directory: Some(STATE_DIRECTORY.to_string()),
            environment: Vec::new(),
            user: None,
        }
    }
}

/// Why a unit cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("{what} {value:?} cannot go in a unit file: it is not UTF-8")]
    NotUtf8 { what: &'static str, value: String },
    #[error("{what} {value:?} cannot go in a unit file: it has a control character")]
    ControlCharacter { what: &'static str, value: String },
    #[error("{what} {value:?} must be an absolute path")]
    NotAbsolute { what: &'static str, value: String },
    #[error("environment variable name {0:?} is not a plain name")]
    BadVariableName(String),
}

/// The unit file's text.
pub fn render(spec: &UnitSpec) -> Result<String, UnitError> {
    let exe = command_word("the host binary", &spec.exe)?;
    let data_dir = command_word("the data directory", &spec.data_dir)?;
    let config = command_word("the config file", &spec.config)?;
    let mut text = String::new();
    let line = |text: &mut String, s: &str| {
        text.push_str(s);
        text.push('\n');
    };
    match (spec.origin, spec.scope) {
        (Origin::Packaged, _) => {
            line(
                &mut text,
                "# appstream-host: the streaming host as a systemd user service.",
            );
            line(
                &mut text,
                "# Installed by the appstream-host package. Start it with",
            );
            line(
                &mut text,
                "#   systemctl --user enable --now appstream-host",
            );
            line(
                &mut text,
                "# (and `loginctl enable-linger` to run it without a login).",
            );
            line(
                &mut text,
                "# Its data and config: ~/.local/state/appstream-host/ (host.toml);",
            );
            line(&mut text, "# its log: journalctl --user -u appstream-host");
        }
        (Origin::Installed, scope) => {
            let _ = writeln!(
                text,
                "# appstream-host: the streaming host as a systemd {}.",
                match scope {
                    Scope::User => "user service",
                    Scope::System => "system service",
                }
            );
            line(
                &mut text,
                "# Written by `host service install`; `host service uninstall` removes it.",
            );
        }
    }
    line(&mut text, "");
    line(&mut text, "[Unit]");
    line(
        &mut text,
        "Description=AppStream host: streams applications to viewers",
    );
    if spec.origin == Origin::Packaged {
        // Only the package installs the man page (`man host` is bind9's).
        line(&mut text, "Documentation=man:appstream-host(1)");
    }
    if spec.scope == Scope::System {
        line(&mut text, "After=network.target");
    }
    line(&mut text, "");
    line(&mut text, "[Service]");
    line(&mut text, "Type=simple");
    if let Some(user) = &spec.user {
        let user = plain_value("User=", user)?;
        let _ = writeln!(text, "User={user}");
    }
    if let Some(dir) = &spec.state_directory {
        let dir = plain_value("StateDirectory=", dir)?;
        let _ = writeln!(text, "StateDirectory={dir}");
        line(&mut text, "StateDirectoryMode=0700");
    }
    for (name, value) in &spec.environment {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(UnitError::BadVariableName(name.clone()));
        }
        let value = environment_value("an environment value", value)?;
        let _ = writeln!(text, "Environment=\"{name}={value}\"");
    }
    line(
        &mut text,
        "# The config file is made (empty) when it is missing; `-`: a read-only one is fine.",
    );
    let _ = writeln!(text, "ExecStartPre=-/bin/touch -a {config}");
    let _ = writeln!(
        text,
        "ExecStart={exe} --data-dir {data_dir} --config {config} serve"
    );
    line(&mut text, "Restart=on-failure");
    let _ = writeln!(text, "RestartSec={RESTART_SEC}");
    line(&mut text, "TimeoutStopSec=20");
    line(&mut text, "StandardOutput=journal");
    line(&mut text, "StandardError=journal");
    line(&mut text, "SyslogIdentifier=appstream-host");
    line(&mut text, "UMask=0077");
    // No PrivateTmp (the X server's socket is in /tmp/.X11-unix) and no
    // PrivateDevices (uinput for gamepads). NoNewPrivileges does not stop a
    // root host's sandbox from switching applications to --app-user (setuid
    // by a privileged process is not an exec gaining privileges), and
    // Landlock sets it anyway.
    line(&mut text, "NoNewPrivileges=yes");
    if spec.scope == Scope::System {
        line(&mut text, "ProtectSystem=full");
        line(&mut text, "ProtectKernelTunables=yes");
        line(&mut text, "ProtectKernelModules=yes");
        line(&mut text, "ProtectControlGroups=yes");
        line(&mut text, "RestrictSUIDSGID=yes");
        line(&mut text, "LockPersonality=yes");
    }
    line(&mut text, "");
    line(&mut text, "[Install]");
    match spec.scope {
        Scope::User => line(&mut text, "WantedBy=default.target"),
        Scope::System => line(&mut text, "WantedBy=multi-user.target"),
    }
    Ok(text)
}

/// One word of `ExecStart=`: a path escaped for systemd (`%` → `%%`, `$` →
/// `$$`, `\` and `"` backslashed, quoted when it has a space or quote).
fn command_word(what: &'static str, arg: &UnitArg) -> Result<String, UnitError> {
    match arg {
        UnitArg::Specifier(s) => Ok(s.clone()),
        UnitArg::Path(path) => {
            let text = checked_path(what, path)?;
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '%' => escaped.push_str("%%"),
                    '$' => escaped.push_str("$$"),
                    '\\' => escaped.push_str("\\\\"),
                    '"' => escaped.push_str("\\\""),
                    c => escaped.push(c),
                }
            }
            if text.chars().any(|c| c == ' ' || c == '\'' || c == '"') {
                Ok(format!("\"{escaped}\""))
            } else {
                Ok(escaped)
            }
        }
    }
}

/// An absolute, UTF-8 path with no control characters.
fn checked_path<'a>(what: &'static str, path: &'a Path) -> Result<&'a str, UnitError> {
    let text = path.to_str().ok_or_else(|| UnitError::NotUtf8 {
        what,
        value: path.to_string_lossy().into_owned(),
    })?;
    if text.chars().any(char::is_control) {
        return Err(UnitError::ControlCharacter {
            what,
            value: text.to_string(),
        });
    }
    if !path.is_absolute() {
        return Err(UnitError::NotAbsolute {
            what,
            value: text.to_string(),
        });
    }
    Ok(text)
}

/// A value inside `Environment="NAME=…"` (specifiers expand there; `$`
/// does not).
fn environment_value(what: &'static str, value: &str) -> Result<String, UnitError> {
    if value.chars().any(char::is_control) {
        return Err(UnitError::ControlCharacter {
            what,
            value: value.to_string(),
        });
    }
    Ok(value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%"))
}

/// A value written as it is (a user or directory name we chose).
fn plain_value<'a>(what: &'static str, value: &'a str) -> Result<&'a str, UnitError> {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err(UnitError::ControlCharacter {
            what,
            value: value.to_string(),
        });
    }
    Ok(value)
}

/// The values of `KEY=` lines (comments and sections skipped), in order.
pub fn directive<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .collect()
}

/// Splits a command line written by `command_word` back into its words:
/// shell quoting (`"…"`, `'…'`, `\\`, `\"`; shlex), then systemd's doubled
/// `%%` and `$$`; other specifiers are left as they are. Used by `status`
/// and the tests.
pub fn split_command(line: &str) -> Vec<String> {
    shlex::split(line)
        .unwrap_or_default()
        .into_iter()
        .map(|word| word.replace("%%", "%").replace("$$", "$"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(scope: Scope) -> UnitSpec {
        UnitSpec {
            scope,
            origin: Origin::Installed,
            exe: UnitArg::Path("/opt/app stream/host".into()),
            data_dir: UnitArg::Path("/home/ann/host-data".into()),
            config: UnitArg::Path("/home/ann/host-data/host.toml".into()),
            state_directory: None,
            environment: vec![("DISPLAY".into(), ":0".into())],
            user: None,
        }
    }

    fn exec_start(text: &str) -> Vec<String> {
        let lines = directive(text, "ExecStart");
        assert_eq!(lines.len(), 1, "one ExecStart in\n{text}");
        split_command(lines[0])
    }

    #[test]
    fn the_user_unit_starts_the_host_with_its_config_restarts_it_and_logs_to_the_journal() {
        let text = render(&installed(Scope::User)).expect("renders");
        assert_eq!(
            exec_start(&text),
            [
                "/opt/app stream/host",
                "--data-dir",
                "/home/ann/host-data",
                "--config",
                "/home/ann/host-data/host.toml",
                "serve"
            ]
        );
        assert!(text.contains("ExecStart=\"/opt/app stream/host\" --data-dir"));
        assert_eq!(directive(&text, "Restart"), ["on-failure"]);
        assert_eq!(directive(&text, "RestartSec"), ["5"]);
        assert_eq!(directive(&text, "StandardOutput"), ["journal"]);
        assert_eq!(directive(&text, "StandardError"), ["journal"]);
        assert_eq!(directive(&text, "WantedBy"), ["default.target"]);
        assert_eq!(directive(&text, "Environment"), ["\"DISPLAY=:0\""]);
        assert_eq!(directive(&text, "NoNewPrivileges"), ["yes"]);
        assert!(directive(&text, "User").is_empty());
        assert!(
            directive(&text, "PrivateTmp").is_empty(),
            "X sockets live in /tmp"
        );
    }

    #[test]
    fn the_system_unit_runs_as_the_dedicated_user_in_its_state_directory() {
        let spec = UnitSpec {
            scope: Scope::System,
            origin: Origin::Installed,
            exe: UnitArg::Path("/usr/local/bin/host".into()),
            data_dir: UnitArg::Path(SYSTEM_DATA_DIR.into()),
            config: UnitArg::Path(format!("{SYSTEM_DATA_DIR}/host.toml").into()),
            state_directory: Some(STATE_DIRECTORY.into()),
            environment: Vec::new(),
            user: Some(SYSTEM_USER.into()),
        };
        let text = render(&spec).expect("renders");
        assert_eq!(directive(&text, "User"), ["appstream-host"]);
        assert_eq!(directive(&text, "StateDirectory"), ["appstream-host"]);
        assert_eq!(directive(&text, "StateDirectoryMode"), ["0700"]);
        assert_eq!(directive(&text, "WantedBy"), ["multi-user.target"]);
        assert_eq!(directive(&text, "ProtectSystem"), ["full"]);
        assert_eq!(
            exec_start(&text),
            [
                "/usr/local/bin/host",
                "--data-dir",
                "/var/lib/appstream-host",
                "--config",
                "/var/lib/appstream-host/host.toml",
                "serve"
            ]
        );
    }

    #[test]
    fn the_shipped_unit_is_the_packaged_rendering() {
        let shipped = include_str!("../../../assets/systemd/appstream-host.service");
        let rendered = render(&UnitSpec::packaged()).expect("renders");
        assert!(
            shipped == rendered,
            "assets/systemd/appstream-host.service drifted from service::unit::render; \
             it should read:\n{rendered}"
        );
        assert_eq!(
            exec_start(shipped),
            [
                "/usr/bin/appstream-host",
                "--data-dir",
                "%S/appstream-host",
                "--config",
                "%S/appstream-host/host.toml",
                "serve"
            ]
        );
    }

    #[test]
    fn the_shipped_and_installed_units_agree_on_the_essentials() {
        let shipped = include_str!("../../../assets/systemd/appstream-host.service");
        let installed = render(&installed(Scope::User)).expect("renders");
        for key in [
            "Type",
            "Restart",
            "RestartSec",
            "StandardOutput",
            "StandardError",
            "SyslogIdentifier",
            "UMask",
            "NoNewPrivileges",
            "WantedBy",
        ] {
            assert_eq!(
                directive(shipped, key),
                directive(&installed, key),
                "{key}="
            );
        }
        // The host binary (any path), then the options, without their values.
        let shape = |words: Vec<String>| -> Vec<String> {
            assert!(
                words[0].starts_with('/') && words[0].ends_with("host"),
                "{words:?}"
            );
            words[1..].iter().step_by(2).cloned().collect()
        };
        assert_eq!(shape(exec_start(shipped)), shape(exec_start(&installed)));
        assert_eq!(
            shape(exec_start(shipped)),
            ["--data-dir", "--config", "serve"]
        );
    }

    #[test]
    fn odd_paths_are_escaped_and_read_back_verbatim() {
        let mut spec = installed(Scope::User);
        spec.data_dir = UnitArg::Path(r#"/d/100% "$HOME" it's \n"#.into());
        let text = render(&spec).expect("renders");
        assert_eq!(exec_start(&text)[2], r#"/d/100% "$HOME" it's \n"#);
    }

    #[test]
    fn relative_and_control_character_paths_are_refused() {
        let mut spec = installed(Scope::User);
        spec.data_dir = UnitArg::Path("host-data".into());
        assert!(matches!(render(&spec), Err(UnitError::NotAbsolute { .. })));
        spec.data_dir = UnitArg::Path("/a\nExecStartPost=/bin/evil".into());
        assert!(matches!(
            render(&spec),
            Err(UnitError::ControlCharacter { .. })
        ));
        let mut spec = installed(Scope::User);
        spec.environment = vec![("DISPLAY".into(), ":0\n[Install]".into())];
        assert!(matches!(
            render(&spec),
            Err(UnitError::ControlCharacter { .. })
        ));
        spec.environment = vec![("A=B".into(), "x".into())];
        assert!(matches!(render(&spec), Err(UnitError::BadVariableName(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_absolute_path_survives_the_round_trip(tail in "[ -~]{0,40}") {
            let path = format!("/{tail}");
            let mut spec = installed(Scope::User);
            spec.config = UnitArg::Path(path.clone().into());
            let text = render(&spec).expect("renders");
            let words = exec_start(&text);
            proptest::prop_assert_eq!(&words[4], &path);
            proptest::prop_assert_eq!(words.len(), 6);
        }
    }
}
