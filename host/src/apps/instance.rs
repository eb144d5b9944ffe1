//! One running instance of an application: its display (shared, or a
//! private Xvfb), its process, its SDK socket and its window. Launching
//! waits until the window is mapped (and, for an app that speaks the SDK,
//! until it says `ready`); dropping the instance ends the process group.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::api::Application;
use common::sdk::{SOCKET_ENV, SdkMessage};
use thiserror::Error;
use tokio::sync::watch;

use crate::apps::launcher::{AppExit, LaunchSpec, Process};
use crate::apps::sdk_server::SdkServer;
use crate::platform::sandbox::{Grants, Sandbox, give_to};
use crate::platform::x11::capture::Target;
use crate::platform::x11::window::WindowFinder;
use crate::platform::xvfb::Xvfb;

/// How long an application may take to map its window.
const WINDOW_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an app that connected to the SDK may take to say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where applications are displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayChoice {
    /// An existing X display (`DISPLAY`), shared by every session.
    Shared(String),
    /// A private Xvfb per instance, at the stream's size.
    Virtual,
}

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error("no display for the application: {0:#}")]
    Display(anyhow::Error),
    #[error("the application could not be started: {0:#}")]
    Spawn(anyhow::Error),
    #[error("the application showed no window within {} s", WINDOW_TIMEOUT.as_secs())]
    NoWindow,
    #[error("{} before showing a window", .0.describe())]
    Exited(AppExit),
    #[error("the host is stopping")]
    Cancelled,
}

impl LaunchError {
    pub fn exit(&self) -> Option<&AppExit> {
        match self {
            LaunchError::Exited(exit) => Some(exit),
            _ => None,
        }
    }
}

pub struct InstanceSpec<'a> {
    pub app: &'a Application,
    pub size: (u32, u32),
    pub display: &'a DisplayChoice,
    /// More environment (the machine role's credentials file, ...).
    pub env: Vec<(String, String)>,
    /// A private directory for this instance (the SDK socket lives there),
    /// outside the data directory; the application's own.
    pub run_dir: PathBuf,
    /// The confinement and what it grants besides `run_dir`.
    pub sandbox: &'a Sandbox,
    pub grants: Grants,
    /// Set when the host is stopping: the launch gives up.
    pub cancel: Option<Arc<AtomicBool>>,
}

pub struct AppInstance {
    pub name: String,
    pub display: String,
    pub window: u32,
    process: Process,
    sdk: SdkServer,
    run_dir: PathBuf,
    _xvfb: Option<Xvfb>,
}

impl AppInstance {
    /// Starts the application and waits for its window. Blocking.
    pub fn launch(spec: InstanceSpec<'_>) -> Result<AppInstance, LaunchError> {
        let (width, height) = spec.size;
        let xvfb = match spec.display {
            DisplayChoice::Virtual => {
                Some(Xvfb::start(width, height).map_err(LaunchError::Display)?)
            }
            DisplayChoice::Shared(_) => None,
        };
        let display = match (spec.display, &xvfb) {
            (_, Some(xvfb)) => xvfb.display.clone(),
            (DisplayChoice::Shared(display), None) => display.clone(),
            (DisplayChoice::Virtual, None) => unreachable!("a virtual display was started"),
        };
        let owner = spec.sandbox.owner();
        create_private_dir(&spec.run_dir).map_err(LaunchError::Spawn)?;
        give_to(&spec.run_dir, owner).map_err(LaunchError::Spawn)?;
        let sdk = SdkServer::start(&spec.run_dir.join("sdk.sock")).map_err(LaunchError::Spawn)?;
        give_to(sdk.path(), owner).map_err(LaunchError::Spawn)?;
        let finder = WindowFinder::new(&display).map_err(LaunchError::Display)?;
        let run_dir_text = spec.run_dir.display().to_string();
        let mut env = vec![
            ("DISPLAY".to_string(), display.clone()),
            (SOCKET_ENV.to_string(), sdk.path().display().to_string()),
            // Its own private places for runtime and temporary files.
            ("XDG_RUNTIME_DIR".to_string(), run_dir_text.clone()),
            ("TMPDIR".to_string(), run_dir_text.clone()),
            ("HOME".to_string(), run_dir_text),
        ];
        env.extend(spec.env);
        // Its own directory; not its working directory, which the API sets
        // (a caller must not be able to widen the sandbox).
        let mut grants = spec.grants;
        grants.own_write.push(spec.run_dir.clone());
        let process = Process::spawn(&LaunchSpec {
            command: spec.app.command.clone(),
            args: spec.app.args.clone(),
            working_dir: spec.app.working_dir.clone(),
            env,
            sandbox: spec.sandbox.clone(),
            grants,
        })
        .map_err(LaunchError::Spawn)?;
        let started = Instant::now();
        let window = loop {
            if let Some(exit) = process.has_exited() {
                return Err(LaunchError::Exited(exit));
            }
            if spec
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                process.terminate();
                return Err(LaunchError::Cancelled);
            }
            if let Some(window) = finder.find(process.pid).map_err(LaunchError::Display)? {
                break window;
            }
            if started.elapsed() > WINDOW_TIMEOUT {
                process.terminate();
                return Err(LaunchError::NoWindow);
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        if let Err(e) = finder.place(window, width, height) {
            tracing::warn!(error = %e, "cannot resize or focus the application's window");
        }
        let ready_deadline = Instant::now() + READY_TIMEOUT;
        // An app that connected to the SDK is waited for until it says `ready`.
        while !sdk.is_ready() && sdk.client_count() > 0 && Instant::now() < ready_deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let x_display = display.as_str();
        tracing::info!(
            app = %spec.app.name,
            x_display,
            window,
            ready = sdk.is_ready(),
            after_ms = started.elapsed().as_millis() as u64,
            "application window mapped"
        );
        Ok(AppInstance {
            name: spec.app.name.clone(),
            display,
            window,
            process,
            sdk,
            run_dir: spec.run_dir,
            _xvfb: xvfb,
        })
    }

    pub fn target(&self) -> Target {
        Target::Window(self.window)
    }

    /// Becomes `Some` when the process exits.
    pub fn exit(&self) -> watch::Receiver<Option<AppExit>> {
        self.process.exit()
    }

    pub fn session_connected(&self, session_id: &str, user: &str) {
        self.sdk.broadcast(&SdkMessage::SessionConnected {
            session_id: session_id.into(),
            user: user.into(),
        });
    }

    pub fn session_disconnected(&self, session_id: &str, user: &str, reason: &str) {
        self.sdk.broadcast(&SdkMessage::SessionDisconnected {
            session_id: session_id.into(),
            user: user.into(),
            reason: reason.into(),
        });
    }
}

fn create_private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))
}

impl Drop for AppInstance {
    fn drop(&mut self) {
        self.process.terminate();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}
