//! Launching an application's process: its environment, its own process
//! group (so ending it ends its children too), the tail of its stderr kept
//! for the application error, and its exit reported on a watch channel.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use crate::platform::sandbox::{Grants, Sandbox, wrap};

/// Bytes of stderr kept for the application error.
const STDERR_TAIL_BYTES: usize = 4096;
/// After SIGTERM, this long before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub command: String,
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    pub env: Vec<(String, String)>,
    /// Where the process is confined (through `host sandbox-exec`).
    pub sandbox: Sandbox,
    pub grants: Grants,
}

/// Variables a sandboxed application inherits from the host; everything
/// else it gets is set for it (display, SDK socket, credentials, runtime
/// and temporary directories).
fn inherited_by_sandboxed_apps(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "LANG" | "LANGUAGE" | "TZ" | "TERM" | "RUST_LOG" | "RUST_BACKTRACE"
    ) || name.starts_with("LC_")
}

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppExit {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub stderr_tail: String,
}

impl AppExit {
    pub fn describe(&self) -> String {
        match (self.status, self.signal) {
            (Some(code), _) => format!("the application exited with status {code}"),
            (None, Some(signal)) => format!("the application was killed by signal {signal}"),
            (None, None) => "the application ended".into(),
        }
    }
}

#[derive(Default)]
struct StderrTail {
    bytes: VecDeque<u8>,
}

impl StderrTail {
    fn push_line(&mut self, line: &str) {
        self.bytes.extend(line.as_bytes());
        self.bytes.push_back(b'\n');
        let excess = self.bytes.len().saturating_sub(STDERR_TAIL_BYTES);
        self.bytes.drain(..excess);
    }

    fn text(&self) -> String {
        let bytes: Vec<u8> = self.bytes.iter().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A running application process.
pub struct Process {
    pub pid: u32,
    exit: watch::Receiver<Option<AppExit>>,
}

impl Process {
    pub fn spawn(spec: &LaunchSpec) -> anyhow::Result<Process> {
        let mut command = match &spec.sandbox {
            Sandbox::Off => {
                let mut command = Command::new(&spec.command);
                command.args(&spec.args);
                command
            }
            sandbox => {
                let (trampoline, argv) = wrap(sandbox, &spec.grants, &spec.command, &spec.args)?;
                let mut command = Command::new(trampoline);
                // Not the host's whole environment (it may name sockets and
                // agents of the host's user): only what a program needs.
                command
                    .args(argv)
                    .env_clear()
                    .envs(std::env::vars().filter(|(name, _)| inherited_by_sandboxed_apps(name)));
                command
            }
        };
        command
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {:?}", spec.command))?;
        let pid = child.id();
        let tail = Arc::new(Mutex::new(StderrTail::default()));
        let (read_all_tx, read_all) = std::sync::mpsc::channel::<()>();
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            std::thread::Builder::new()
                .name("app-stderr".into())
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        tracing::debug!(pid, %line, "application stderr");
                        tail.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_line(&line);
                    }
                    drop(read_all_tx);
                })?;
        }
        let (exit_tx, exit) = watch::channel(None);
        std::thread::Builder::new()
            .name("app-wait".into())
            .spawn(move || {
                let status = child.wait();
                // The pipe closes at exit: let the reader take the last lines
                // (not forever: a child left behind may hold the pipe open).
                let _ = read_all.recv_timeout(Duration::from_millis(500));
                let stderr_tail = tail.lock().unwrap_or_else(|e| e.into_inner()).text();
                let exit = match status {
                    Ok(status) => AppExit {
                        status: status.code(),
                        signal: status.signal(),
                        stderr_tail,
                    },
                    Err(_) => AppExit {
                        status: None,
                        signal: None,
                        stderr_tail,
                    },
                };
                tracing::info!(pid, status = ?exit.status, signal = ?exit.signal, "application exited");
                let _ = exit_tx.send(Some(exit));
            })?;
        tracing::info!(pid, command = %spec.command, "application started");
        Ok(Process { pid, exit })
    }

    /// Resolves when the process has exited (and is reaped).
    pub fn exit(&self) -> watch::Receiver<Option<AppExit>> {
        self.exit.clone()
    }

    pub fn has_exited(&self) -> Option<AppExit> {
        self.exit.borrow().clone()
    }

    /// SIGTERM to the process group, SIGKILL after a grace period.
    pub fn terminate(&self) {
        if self.has_exited().is_some() {
            return;
        }
        let group = Pid::from_raw(self.pid as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if self.has_exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// Resolves when the application exits; never when there is none.
pub(crate) async fn wait_for_exit(exit: &mut Option<watch::Receiver<Option<AppExit>>>) -> AppExit {
    if let Some(exit) = exit
        && let Ok(value) = exit.wait_for(Option::is_some).await
        && let Some(value) = value.clone()
    {
        return value;
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> LaunchSpec {
        LaunchSpec {
            command: "sh".into(),
            args: vec!["-c".into(), script.into()],
            working_dir: None,
            env: vec![("GREETING".into(), "hello".into())],
            sandbox: Sandbox::Off,
            grants: Grants::default(),
        }
    }

    fn wait(process: &Process) -> AppExit {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(exit) = process.has_exited() {
                return exit;
            }
            assert!(Instant::now() < deadline, "the process did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn exit_status_and_the_tail_of_stderr_are_kept() {
        let process = Process::spawn(&spec("echo \"$GREETING\" >&2; echo last >&2; exit 3"))
            .expect("spawned");
        let exit = wait(&process);
        assert_eq!(exit.status, Some(3));
        assert_eq!(exit.stderr_tail, "hello\nlast\n");
        assert!(exit.describe().contains("status 3"));
    }

    #[test]
    fn only_the_last_4_kib_of_stderr_are_kept() {
        let process = Process::spawn(&spec(
            "i=0; while [ $i -lt 500 ]; do echo line-$i >&2; i=$((i+1)); done",
        ))
        .expect("spawned");
        let exit = wait(&process);
        assert!(exit.stderr_tail.len() <= STDERR_TAIL_BYTES);
        assert!(exit.stderr_tail.ends_with("line-499\n"));
    }

    #[test]
    fn terminate_ends_the_whole_process_group() {
        let process = Process::spawn(&spec("sleep 30 & sleep 30")).expect("spawned");
        process.terminate();
        let exit = wait(&process);
        assert_eq!(exit.signal, Some(15));
    }
}
