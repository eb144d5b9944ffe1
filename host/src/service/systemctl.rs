//! Talking to systemd: `systemctl [--user] …` behind a small trait, so the
//! install, uninstall and status logic is tested without a systemd.

use std::process::Command;

use super::unit::Scope;

/// What a systemctl call said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    /// stdout, trimmed (`enabled`, `active`, …).
    pub stdout: String,
    /// stderr, trimmed (why it failed).
    pub stderr: String,
}

impl Outcome {
    /// What to show a person: stdout, else stderr, else the exit status.
    pub fn words(&self) -> String {
        if !self.stdout.is_empty() {
            self.stdout.clone()
        } else if !self.stderr.is_empty() {
            self.stderr.clone()
        } else if self.success {
            "ok".into()
        } else {
            "failed".into()
        }
    }
}

/// The service manager of one scope.
pub trait Manager {
    /// Why this manager cannot be asked anything here (no systemd running),
    /// or None.
    fn unavailable(&self) -> Option<String>;
    /// `systemctl [--user] ARGS…`.
    fn systemctl(&self, args: &[&str]) -> Outcome;
}

/// The real systemctl.
#[derive(Debug, Clone, Copy)]
pub struct Systemctl {
    pub scope: Scope,
}

impl Manager for Systemctl {
    fn unavailable(&self) -> Option<String> {
        // sd_booted(): systemd is PID 1 when /run/systemd/system exists.
        if std::path::Path::new("/run/systemd/system").is_dir() {
            return None;
        }
        let pid1 = std::fs::read_to_string("/proc/1/comm")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Some(format!(
            "systemd is not running on this machine (PID 1 is `{pid1}`, and /run/systemd/system is missing: \
             a container or another init)"
        ))
    }

    fn systemctl(&self, args: &[&str]) -> Outcome {
        let mut command = Command::new("systemctl");
        if self.scope == Scope::User {
            command.arg("--user");
        }
        command.args(args);
        match command.output() {
            Ok(output) => Outcome {
                success: output.status.success(),
                stdout: String::from_utf8_lossy(&output.stdout).trim().to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            },
            Err(error) => Outcome {
                success: false,
                stdout: String::new(),
                stderr: format!("could not run systemctl: {error}"),
            },
        }
    }
}

/// The command a person would type, for messages.
pub fn command_line(scope: Scope, args: &[&str]) -> String {
    let mut words = vec!["systemctl"];
    if scope == Scope::User {
        words.push("--user");
    }
    words.extend(args);
    words.join(" ")
}
