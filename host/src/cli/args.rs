//! The host's command line: its subcommands and every option of `serve`
//! and `run` (what `host.toml` may also set).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "host",
    version,
    about = "Stream applications to viewers on your LAN"
)]
pub struct Cli {
    /// Where the certificate, the database and the key files are kept.
    #[arg(long, global = true, default_value = "host-data")]
    pub data_dir: PathBuf,
    /// The config file (`serve`/`run` options and the allowed commands);
    /// default DATA_DIR/host.toml when it exists. Flags override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The control plane's database: `sqlite:PATH`, or `postgres://...` for
    /// a fleet of hosts sharing one (default: SQLite in the data directory).
    /// From the environment, a password in the URL stays out of `ps`.
    #[arg(
        long,
        global = true,
        env = "APPSTREAM_DATABASE",
        hide_env_values = true
    )]
    pub database: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug)]
pub struct ServeOptions {
    #[arg(long, default_value = "127.0.0.1:47990")]
    listen: SocketAddr,
    /// Fixed UDP port for media (one session at a time); 0 picks one per session.
    #[arg(long, default_value_t = 0)]
    media_port: u16,
    /// The stream's width (even, at least 64).
    #[arg(long, default_value_t = 1280, value_parser = even_size)]
    width: u32,
    /// The stream's height (even, at least 64).
    #[arg(long, default_value_t = 720, value_parser = even_size)]
    height: u32,
    /// Frames per second (1 to 240).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
    fps: u32,
    /// Encoder bitrate; defaults by resolution (10 Mbps at 720p60).
    #[arg(long)]
    bitrate_kbps: Option<u32>,
    /// Append every input event of synthetic sessions to this file (JSON lines).
    #[arg(long)]
    input_log: Option<PathBuf>,
    /// What sessions show: `apps` (launch the application; the synthetic
    /// pattern for apps without a command), `desktop` (the whole X display),
    /// `desktop:X,Y,WxH` (a rectangle of it), or `synthetic`.
    #[arg(long, default_value = "apps")]
    capture: crate::media::planner::CaptureMode,
    /// Where applications are shown: `shared` (the X display in DISPLAY) or
    /// `virtual` (a private Xvfb per session, at the viewer's resolution).
    /// Default: shared when DISPLAY is set, else virtual.
    #[arg(long)]
    display: Option<DisplayArg>,
    /// Audio: `tone` (a test tone) or an input device (part of its name, or
    /// `default`; on PulseAudio pick the monitor of the app's output).
    #[arg(long, default_value = "tone")]
    audio: String,
    /// Advertise this host to viewers on the LAN (mDNS): `all` interfaces,
    /// `off`, or one interface by name (e.g. `eth0`).
    #[arg(long, default_value = "all")]
    mdns: crate::discovery::MdnsMode,
    /// Where viewers reach this host (HOST:PORT), as it tells the other
    /// hosts on a shared `--database`; default: the listen address.
    #[arg(long)]
    advertise: Option<String>,
    /// On a shared `--database`: the most sessions (pending or streaming)
    /// the fleet places on this host.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_sessions: u32,
    #[command(flatten)]
    guards: GuardOptions,
}

/// What the host's owner allows clients and applications.
#[derive(clap::Args, Debug)]
pub struct GuardOptions {
    /// Let the API give applications any command. Without it, commands must
    /// be listed in DATA_DIR/allowed-commands (one per line).
    #[arg(long)]
    allow_any_command: bool,
    /// How launched applications are confined: `auto` (`uid` as root, else
    /// `landlock`), `landlock`, `uid` (run as --app-user), `off`.
    #[arg(long, value_enum, default_value = "auto")]
    sandbox: crate::platform::sandbox::SandboxChoice,
    /// The user applications run as when the host runs as root.
    #[arg(long, default_value = "nobody")]
    app_user: String,
    /// A directory applications may write in (repeatable), besides their
    /// own private one, /tmp and their working directory. Under root the
    /// directory must also be writable by --app-user.
    #[arg(long)]
    app_writable: Vec<PathBuf>,
    /// Open connections in total; more are closed at once.
    #[arg(long, default_value_t = crate::control_plane::connection_limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Open connections from one address.
    #[arg(long, default_value_t = crate::control_plane::connection_limits::DEFAULT_MAX_PER_ADDRESS)]
    max_connections_per_address: usize,
    /// Unused entitlements one user may hold at once.
    #[arg(long, default_value_t = crate::control_plane::guards::DEFAULT_MAX_PENDING_PER_USER)]
    max_pending_per_user: u32,
    /// Audit entries kept (the newest).
    #[arg(long, default_value_t = crate::control_plane::guards::DEFAULT_AUDIT_MAX_ROWS)]
    audit_max_rows: u64,
    /// Days audit entries are kept.
    #[arg(long, default_value_t = crate::control_plane::guards::DEFAULT_AUDIT_MAX_DAYS)]
    audit_max_days: u64,
    /// Nonces of signed requests remembered (default: 2,000 requests/s over
    /// the 600 s replay window); when full, signed requests get 503.
    #[arg(long)]
    replay_cache_capacity: Option<usize>,
}

impl GuardOptions {
    fn guards(&self) -> anyhow::Result<crate::control_plane::guards::Guards> {
        anyhow::ensure!(
            self.max_connections >= 1 && self.max_connections_per_address >= 1,
            "--max-connections and --max-connections-per-address must be at least 1"
        );
        let defaults = crate::control_plane::guards::Guards::default();
        Ok(crate::control_plane::guards::Guards {
            connections: crate::control_plane::connection_limits::Limits {
                total: self.max_connections,
                per_address: self.max_connections_per_address,
            },
            max_pending_per_user: self.max_pending_per_user,
            audit: crate::control_plane::guards::AuditRetention {
                max_rows: self.audit_max_rows,
                max_age_s: i64::try_from(self.audit_max_days.saturating_mul(86_400))
                    .unwrap_or(i64::MAX),
            },
            replay_cache_capacity: self
                .replay_cache_capacity
                .unwrap_or(defaults.replay_cache_capacity),
            // Set from --database when the host serves.
            shared: false,
        })
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum DisplayArg {
    Shared,
    Virtual,
}

impl ServeOptions {
    pub fn into_config(
        self,
        data_dir: PathBuf,
        database: crate::control_plane::store::Database,
        run: Option<crate::app::RunSpec>,
        allowed_in_file: &[String],
    ) -> anyhow::Result<crate::app::ServeConfig> {
        let ServeOptions {
            listen,
            media_port,
            width,
            height,
            fps,
            bitrate_kbps,
            input_log,
            capture,
            display,
            audio,
            mdns,
            advertise,
            max_sessions,
            guards,
        } = self;
        let x_display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
        let display = match (display, x_display) {
            (Some(DisplayArg::Virtual), _) | (None, None) => {
                crate::apps::instance::DisplayChoice::Virtual
            }
            (Some(DisplayArg::Shared) | None, Some(d)) => {
                crate::apps::instance::DisplayChoice::Shared(d)
            }
            (Some(DisplayArg::Shared), None) => {
                anyhow::bail!("--display shared needs DISPLAY to name an X display")
            }
        };
        if matches!(capture, crate::media::planner::CaptureMode::Desktop(_))
            && !matches!(display, crate::apps::instance::DisplayChoice::Shared(_))
        {
            anyhow::bail!("--capture desktop needs DISPLAY to name the X display to stream");
        }
        let audio = match audio.as_str() {
            "tone" => crate::media::planner::AudioChoice::Tone,
            device => crate::media::planner::AudioChoice::Device(device.to_string()),
        };
        let mut commands = if guards.allow_any_command {
            crate::control_plane::allowed_commands::CommandPolicy::Any
        } else {
            crate::control_plane::allowed_commands::CommandPolicy::listed_in(&data_dir)
        };
        for command in allowed_in_file {
            commands = commands.also_allowing(command);
        }
        if let Some(run) = &run {
            // `host run -- CMD`: the owner names the command right here.
            commands = commands.also_allowing(&run.command);
        }
        for dir in &guards.app_writable {
            let inside = std::fs::canonicalize(dir)
                .ok()
                .zip(std::fs::canonicalize(&data_dir).ok())
                .is_some_and(|(dir, data)| dir.starts_with(data));
            anyhow::ensure!(
                !inside,
                "--app-writable {}: applications never get the data directory",
                dir.display()
            );
        }
        Ok(crate::app::ServeConfig {
            guards: guards.guards()?,
            commands,
            sandbox: guards.sandbox,
            app_user: guards.app_user.clone(),
            app_writable: guards.app_writable.clone(),
            data_dir,
            database,
            advertise,
            max_sessions,
            listen,
            media_port,
            input_log,
            video: crate::media::planner::video_params(width, height, fps, bitrate_kbps),
            capture,
            display,
            audio,
            run,
            mdns,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the catalog's applications (and the synthetic demo) to viewers.
    Serve {
        #[command(flatten)]
        options: ServeOptions,
    },
    /// Stream one command right away: it is launched now, every session
    /// shows its window, and the host stops when it exits.
    /// e.g. `host run -- demo-game --input-log game.jsonl`
    Run {
        #[command(flatten)]
        options: ServeOptions,
        /// The application's name in the catalog (default: the command's file name).
        #[arg(long)]
        name: Option<String>,
        /// Its icon for the launcher: a PNG file (copied into DATA_DIR/icons/)
        /// or an https URL.
        #[arg(long)]
        icon: Option<String>,
        /// The command and its arguments, after `--` (or host.toml's
        /// `[run] command`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Run the entitlement service alone, in front of a remote host's API.
    /// Uses --data-dir for its own user directory, certificate and audit log.
    Entitlement {
        #[arg(long, default_value = "127.0.0.1:47991")]
        listen: SocketAddr,
        /// The host's API, e.g. https://192.168.1.20:47990
        #[arg(long)]
        api: String,
        /// The host's certificate fingerprint (SHA-256, hex), as `host serve` prints it.
        #[arg(long)]
        api_fingerprint: String,
        /// This service's access key at the host (`key_id=`/`secret=` lines).
        #[arg(long)]
        key_file: PathBuf,
    },
    /// The effective settings and where each came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The web console's users.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// The hosts sharing this host's `--database`.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Check whether streaming can work here, and what to do where it cannot.
    Doctor {
        #[command(flatten)]
        args: crate::doctor::DoctorArgs,
    },
    /// Run the host as a systemd service.
    #[command(subcommand)]
    Service(crate::service::ServiceCommand),
    /// Internal: how the host starts a sandboxed application (drops to the
    /// application's user, applies the Landlock ruleset, execs COMMAND).
    #[command(hide = true)]
    SandboxExec {
        #[command(flatten)]
        args: crate::platform::sandbox::ExecArgs,
    },
    /// Administration of the data directory (applications, users, keys, policies).
    #[command(flatten)]
    Admin(crate::control_plane::admin::AdminCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the settings `serve` would use (flags given here override the
    /// file, as they would for `serve`), each with where it came from.
    Show {
        #[command(flatten)]
        options: ServeOptions,
    },
}

/// A picture side: even (4:2:0 chroma) and at least 64.
fn even_size(text: &str) -> Result<u32, String> {
    let size: u32 = text.parse().map_err(|e| format!("{e}"))?;
    if size < 64 || size % 2 == 1 {
        return Err(format!("{size} is not an even number of at least 64"));
    }
    Ok(size)
}

#[derive(Subcommand, Debug)]
pub enum FleetCommand {
    /// Every host, its state, address, load and applications.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ConsoleCommand {
    /// Print a one-time link (valid 10 minutes) where USER sets a password
    /// and enrols an authenticator app for the web console (a new user is
    /// created).
    Enrol {
        user: String,
        /// Also attach the ConsoleAdministrator policy (everything, with MFA).
        #[arg(long)]
        administrator: bool,
        /// The host's address as browsers reach it (default: from `listen`
        /// in the config file, else https://127.0.0.1:47990).
        #[arg(long)]
        url: Option<String>,
    },
}
