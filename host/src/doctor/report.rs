//! What `host doctor` found: one `Check` per thing it looked at, and the
//! `Report` that decides the exit code and renders the result. Pure: the
//! probes that touch the system live beside it.

use std::process::ExitCode;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Streaming works, less well or without something (gamepads, audio).
    Warn,
    /// Streaming cannot work until this is fixed.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub found: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what_to_do: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, found: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Status::Ok,
            found: found.into(),
            what_to_do: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        found: impl Into<String>,
        what_to_do: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Status::Warn,
            found: found.into(),
            what_to_do: Some(what_to_do.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        found: impl Into<String>,
        what_to_do: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Status::Fail,
            found: found.into(),
            what_to_do: Some(what_to_do.into()),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Warnings (no gamepads, no audio) still let sessions stream.
    pub fn can_stream(&self) -> bool {
        self.checks.iter().all(|check| check.status != Status::Fail)
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.can_stream() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// One line per check, what to do indented under it, a verdict last.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        for check in &self.checks {
            text.push_str(&format!(
                "{:<4} {} — {}\n",
                check.status.label(),
                check.name,
                check.found
            ));
            if let Some(what_to_do) = &check.what_to_do {
                text.push_str(&format!("     → {what_to_do}\n"));
            }
        }
        let (warnings, failures) = (self.count(Status::Warn), self.count(Status::Fail));
        if failures == 0 {
            text.push_str(&format!(
                "\nStreaming can work here ({warnings} warning{}).\n",
                plural(warnings)
            ));
        } else {
            text.push_str(&format!(
                "\nStreaming cannot work here: {failures} check{} failed ({warnings} warning{}).\n",
                plural(failures),
                plural(warnings)
            ));
        }
        text
    }

    pub fn render_json(&self) -> String {
        let value = serde_json::json!({
            "can_stream": self.can_stream(),
            "checks": self.checks,
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<Check>) -> Report {
        Report { checks }
    }

    #[test]
    fn warnings_alone_exit_zero_and_a_failure_does_not() {
        let warned = report(vec![
            Check::ok("X display :0", "reachable"),
            Check::warn("/dev/uinput", "missing", "modprobe uinput"),
        ]);
        assert!(warned.can_stream());
        assert_eq!(warned.exit_code(), ExitCode::SUCCESS);

        let mut failed = warned.clone();
        failed
            .checks
            .push(Check::fail("H.264 encoder", "no libx264", "install it"));
        assert!(!failed.can_stream());
        assert_eq!(failed.exit_code(), ExitCode::from(1));

        assert!(report(Vec::new()).can_stream());
    }

    #[test]
    fn text_names_each_check_and_what_to_do() {
        let text = report(vec![
            Check::ok("XTest on :0", "present"),
            Check::warn("/dev/uinput", "missing", "load the uinput module"),
            Check::fail("port 127.0.0.1:47990", "in use", "choose --listen"),
        ])
        .render_text();
        assert!(text.contains("ok   XTest on :0 — present\n"), "{text}");
        assert!(text.contains("warn /dev/uinput — missing\n     → load the uinput module\n"));
        assert!(text.contains("FAIL port 127.0.0.1:47990 — in use\n     → choose --listen\n"));
        assert!(text.contains("cannot work here: 1 check failed (1 warning)"));
        // A check without advice gets no arrow line.
        assert_eq!(text.matches('→').count(), 2);
    }

    #[test]
    fn json_carries_the_verdict_and_every_check() {
        let json = report(vec![
            Check::ok("Opus", "libopus"),
            Check::warn("Landlock", "absent", "upgrade the kernel"),
        ])
        .render_json();
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(value["can_stream"], true);
        assert_eq!(value["checks"][0]["status"], "ok");
        assert!(value["checks"][0].get("what_to_do").is_none());
        assert_eq!(value["checks"][1]["status"], "warn");
        assert_eq!(value["checks"][1]["what_to_do"], "upgrade the kernel");
    }
}
