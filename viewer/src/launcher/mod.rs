//! The launcher: the face of `viewer` with no arguments. An eframe window
//! (wgpu) to pick a host, sign in, pick an application and start its
//! stream as a child process (`viewer stream URL`).
//!
//! Split like a small rerun/alacritty: [`state`] is the screens and their
//! transitions (no UI, no I/O), [`worker`] makes every network call on its
//! own thread, [`discovery`] browses the LAN, [`settings`], [`hosts`] and
//! [`credentials`] are the files in the config directory, [`child`] runs the
//! stream process and [`ui`] draws. This file wires them together.

pub mod child;
pub mod credentials;
pub mod discovery;
pub mod failure;
pub mod hosts;
pub mod messages;
pub mod settings;
pub mod state;
pub mod ui;
pub mod worker;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use self::child::StreamChild;
use self::credentials::{CREDENTIALS_FILE, Credentials};
use self::discovery::Browser;
use self::hosts::{HOSTS_FILE, SavedHosts};
use self::settings::{SETTINGS_FILE, Settings};
use self::state::{Effect, Launcher, Reply};
use self::ui::Icons;
use self::worker::{Waker, Worker};

pub const WINDOW_TITLE: &str = "AppStream Viewer";

/// The same icon as the desktop entry's.
const WINDOW_ICON_PNG: &[u8] = include_bytes!("../../../assets/icons/appstream-viewer.png");

/// `viewer launcher`'s options (and what `viewer` alone means: none).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LauncherOptions {
    /// Add this host (HOST:PORT) and choose it.
    #[arg(long)]
    pub host: Option<String>,
    /// The host's certificate fingerprint (SHA-256, hex) as it printed it;
    /// without it the launcher shows the presented one and asks.
    #[arg(long, requires = "host")]
    pub fingerprint: Option<String>,
    /// Prefill the user name.
    #[arg(long)]
    pub user: Option<String>,
    /// Keep settings, hosts and sign-ins here instead of the platform's
    /// config directory ($XDG_CONFIG_HOME/viewer).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Do not look for hosts on the LAN (no mDNS traffic at all).
    #[arg(long)]
    pub no_discovery: bool,
}

/// Opens the launcher window; returns the process exit code.
pub fn run(options: LauncherOptions) -> i32 {
    let files = Files::new(options.config_dir.clone());
    let viewport = egui::ViewportBuilder::default()
        .with_title(WINDOW_TITLE)
        .with_app_id("appstream-viewer")
        .with_inner_size([960.0, 640.0])
        .with_min_inner_size([560.0, 400.0]);
    let viewport = match worker::decode_icon(WINDOW_ICON_PNG) {
        Ok(icon) => viewport.with_icon(egui::IconData {
            width: icon.size[0] as u32,
            height: icon.size[1] as u32,
            rgba: icon.rgba,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "the window icon does not decode");
            viewport
        }
    };
    let native = eframe::NativeOptions {
        viewport,
        // The newest frame on screen at once: a launcher has nothing to
        // gain from queueing frames (and screenshots see what was drawn).
        wgpu_options: egui_wgpu::WgpuConfiguration {
            surface: egui_wgpu::SurfaceConfig::LOW_LATENCY,
            ..Default::default()
        },
        ..Default::default()
    };
    let result = eframe::run_native(
        WINDOW_TITLE,
        native,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let waker: Waker = Arc::new(move || ctx.request_repaint());
            Ok(Box::new(LauncherApp::new(options, files, waker)?))
        }),
    );
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("viewer: cannot open the launcher window: {e}");
            1
        }
    }
}

/// `viewer stream`'s arguments for a link opened directly (`viewer
/// appstream://...`, what the desktop runs): the saved settings' flags,
/// then the URL.
pub fn direct_stream_arguments(url: &str) -> Vec<OsString> {
    let files = Files::new(None);
    let settings = match &files.dir {
        Some(dir) => {
            let (settings, problem) = Settings::load(&dir.join(SETTINGS_FILE));
            if let Some(problem) = problem {
                eprintln!("viewer: {problem}");
            }
            settings
        }
        None => Settings::default(),
    };
    let mut args = child::stream_arguments(&settings);
    args.push(url.into());
    args
}

/// Where the launcher's files live (None: nowhere to keep them).
#[derive(Debug, Clone)]
struct Files {
    dir: Option<PathBuf>,
}

impl Files {
    fn new(explicit: Option<PathBuf>) -> Files {
        let dir = settings::config_dir(explicit.as_deref());
        if dir.is_none() {
            tracing::warn!("no configuration directory (no HOME?); nothing will be saved");
        }
        Files { dir }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// Loads everything; problems come back as sentences for the screen.
    fn load(&self) -> (SavedHosts, Credentials, Settings, Vec<String>) {
        let mut problems = Vec::new();
        let Some(dir) = &self.dir else {
            return (
                SavedHosts::default(),
                Credentials::default(),
                Settings::default(),
                problems,
            );
        };
        tracing::info!(config_dir = %dir.display(), "launcher files");
        let (settings, problem) = Settings::load(&dir.join(SETTINGS_FILE));
        problems.extend(problem);
        let (hosts, problem) = SavedHosts::load(&dir.join(HOSTS_FILE));
        problems.extend(problem);
        let credentials = Credentials::load(&dir.join(CREDENTIALS_FILE));
        (hosts, credentials, settings, problems)
    }
}

struct LauncherApp {
    state: Launcher,
    worker: Worker,
    browser: Browser,
    stream: Option<StreamChild>,
    icons: Icons,
    files: Files,
    waker: Waker,
}

impl LauncherApp {
    fn new(options: LauncherOptions, files: Files, waker: Waker) -> std::io::Result<Self> {
        let (hosts, credentials, settings, problems) = files.load();
        let mut state = Launcher::new(hosts, credentials, settings, problems);
        let worker = Worker::spawn(waker.clone())?;
        let browser = if options.no_discovery {
            Browser::off()
        } else {
            Browser::start(waker.clone())
        };
        let effects = state.start_with(
            options.host.as_deref(),
            options.fingerprint.as_deref(),
            options.user.as_deref(),
        );
        let mut app = LauncherApp {
            state,
            worker,
            browser,
            stream: None,
            icons: Icons::new(),
            files,
            waker,
        };
        app.apply(effects);
        Ok(app)
    }

    /// Carries out what the state asked for.
    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(request) => {
                    if let Err(failure) = self.worker.send(request) {
                        self.state.report(failure.words());
                    }
                }
                Effect::SpawnStream { app, url } => {
                    tracing::info!(app = %app, "starting the stream process");
                    self.stream = Some(StreamChild::spawn(
                        &self.state.settings,
                        &url,
                        self.waker.clone(),
                    ));
                }
                Effect::SaveHosts => self.save(HOSTS_FILE, |s, p| s.hosts.save(p)),
                Effect::SaveCredentials => {
                    self.save(CREDENTIALS_FILE, |s, p| s.credentials.save(p))
                }
                Effect::SaveSettings => self.save(SETTINGS_FILE, |s, p| s.settings.save(p)),
                Effect::ForgetIcons => self.icons.clear(),
            }
        }
    }

    fn save(
        &mut self,
        name: &str,
        write: impl Fn(&Launcher, &std::path::Path) -> std::io::Result<()>,
    ) {
        let Some(path) = self.files.path(name) else {
            return;
        };
        if let Err(e) = write(&self.state, &path) {
            self.state
                .report(format!("Cannot save {}: {e}.", path.display()));
        }
    }

    fn show_icon(
        &mut self,
        ctx: &egui::Context,
        fingerprint_hex: &str,
        app: String,
        icon: state::IconImage,
    ) {
        let current = self
            .state
            .host
            .as_ref()
            .is_some_and(|h| h.fingerprint_hex == fingerprint_hex);
        if !current || icon.rgba.len() != icon.size[0] * icon.size[1] * 4 {
            return;
        }
        let image = egui::ColorImage::from_rgba_unmultiplied(icon.size, &icon.rgba);
        let texture = ctx.load_texture(format!("icon-{app}"), image, egui::TextureOptions::LINEAR);
        self.icons.insert(app, texture);
    }
}

impl eframe::App for LauncherApp {
    /// Drains the worker, discovery and the stream process.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Some(reply) = self.worker.try_recv() {
            if let Reply::Icon {
                fingerprint_hex,
                app,
                icon,
            } = reply
            {
                self.show_icon(ctx, &fingerprint_hex, app, icon);
                continue;
            }
            let effects = self.state.on_reply(reply);
            self.apply(effects);
        }
        while let Some(event) = self.browser.try_recv() {
            self.state.on_discovery(event);
        }
        let mut ended = false;
        if let Some(stream) = &self.stream {
            let mut events = Vec::new();
            while let Some(event) = stream.try_recv() {
                ended |= !matches!(event, state::StreamEvent::Connected);
                events.push(event);
            }
            for event in events {
                let effects = self.state.on_stream(event);
                self.apply(effects);
            }
        }
        if ended {
            self.stream = None;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let mut actions = Vec::new();
        ui::launcher_ui(ui, &mut self.state, &self.icons, &mut actions);
        for action in actions {
            let effects = self.state.act(action);
            self.apply(effects);
        }
    }

    fn on_exit(&mut self) {
        if let Some(stream) = &self.stream {
            // The stream has its own window and session: it goes on.
            tracing::info!(pid = stream.pid(), "launcher closed; the stream goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_icon_decodes() {
        let icon = worker::decode_icon(WINDOW_ICON_PNG).unwrap();
        assert!(icon.size[0] >= 32 && icon.size[0] == icon.size[1]);
    }
}
