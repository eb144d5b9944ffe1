//! `host`: the command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "host",
    version,
    about = "Stream applications to viewers on your LAN"
)]
struct Cli {
    /// Where the certificate, the database and the key files are kept.
    #[arg(long, global = true, default_value = "host-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct ServeOptions {
    #[arg(long, default_value = "127.0.0.1:47990")]
    listen: SocketAddr,
    /// Fixed UDP port for media (one session at a time); 0 picks one per session.
    #[arg(long, default_value_t = 0)]
    media_port: u16,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value_t = 60)]
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
    capture: host::media::planner::CaptureMode,
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
    mdns: host::discovery::MdnsMode,
    #[command(flatten)]
    guards: GuardOptions,
}

/// What the host's owner allows clients and applications.
#[derive(clap::Args, Debug)]
struct GuardOptions {
    /// Let the API give applications any command. Without it, commands must
    /// be listed in DATA_DIR/allowed-commands (one per line).
    #[arg(long)]
    allow_any_command: bool,
    /// How launched applications are confined: `auto` (`uid` as root, else
    /// `landlock`), `landlock`, `uid` (run as --app-user), `off`.
    #[arg(long, value_enum, default_value = "auto")]
    sandbox: host::platform::sandbox::SandboxChoice,
    /// The user applications run as when the host runs as root.
    #[arg(long, default_value = "nobody")]
    app_user: String,
    /// A directory applications may write in (repeatable), besides their
    /// own private one, /tmp and their working directory. Under root the
    /// directory must also be writable by --app-user.
    #[arg(long)]
    app_writable: Vec<PathBuf>,
    /// Open connections in total; more are closed at once.
    #[arg(long, default_value_t = host::control_plane::connection_limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Open connections from one address.
    #[arg(long, default_value_t = host::control_plane::connection_limits::DEFAULT_MAX_PER_ADDRESS)]
    max_connections_per_address: usize,
    /// Unused entitlements one user may hold at once.
    #[arg(long, default_value_t = host::control_plane::guards::DEFAULT_MAX_PENDING_PER_USER)]
    max_pending_per_user: u32,
    /// Audit entries kept (the newest).
    #[arg(long, default_value_t = host::control_plane::guards::DEFAULT_AUDIT_MAX_ROWS)]
    audit_max_rows: u64,
    /// Days audit entries are kept.
    #[arg(long, default_value_t = host::control_plane::guards::DEFAULT_AUDIT_MAX_DAYS)]
    audit_max_days: u64,
    /// Nonces of signed requests remembered (default: 2,000 requests/s over
    /// the 600 s replay window); when full, signed requests get 503.
    #[arg(long)]
    replay_cache_capacity: Option<usize>,
}

impl GuardOptions {
    fn guards(&self) -> anyhow::Result<host::control_plane::guards::Guards> {
        anyhow::ensure!(
            self.max_connections >= 1 && self.max_connections_per_address >= 1,
            "--max-connections and --max-connections-per-address must be at least 1"
        );
        let defaults = host::control_plane::guards::Guards::default();
        Ok(host::control_plane::guards::Guards {
            connections: host::control_plane::connection_limits::Limits {
                total: self.max_connections,
                per_address: self.max_connections_per_address,
            },
            max_pending_per_user: self.max_pending_per_user,
            audit: host::control_plane::guards::AuditRetention {
                max_rows: self.audit_max_rows,
                max_age_s: i64::try_from(self.audit_max_days.saturating_mul(86_400))
                    .unwrap_or(i64::MAX),
            },
            replay_cache_capacity: self
                .replay_cache_capacity
                .unwrap_or(defaults.replay_cache_capacity),
        })
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum DisplayArg {
    Shared,
    Virtual,
}

impl ServeOptions {
    fn into_config(
        self,
        data_dir: PathBuf,
        run: Option<host::app::RunSpec>,
    ) -> anyhow::Result<host::app::ServeConfig> {
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
            guards,
        } = self;
        anyhow::ensure!(
            width >= 64 && height >= 64 && width % 2 == 0 && height % 2 == 0,
            "--width and --height must be even and at least 64"
        );
        anyhow::ensure!((1..=240).contains(&fps), "--fps must be between 1 and 240");
        let x_display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
        let display = match (display, x_display) {
            (Some(DisplayArg::Virtual), _) | (None, None) => {
                host::apps::instance::DisplayChoice::Virtual
            }
            (Some(DisplayArg::Shared) | None, Some(d)) => {
                host::apps::instance::DisplayChoice::Shared(d)
            }
            (Some(DisplayArg::Shared), None) => {
                anyhow::bail!("--display shared needs DISPLAY to name an X display")
            }
        };
        if matches!(capture, host::media::planner::CaptureMode::Desktop(_))
            && !matches!(display, host::apps::instance::DisplayChoice::Shared(_))
        {
            anyhow::bail!("--capture desktop needs DISPLAY to name the X display to stream");
        }
        let audio = match audio.as_str() {
            "tone" => host::media::planner::AudioChoice::Tone,
            device => host::media::planner::AudioChoice::Device(device.to_string()),
        };
        let mut commands = if guards.allow_any_command {
            host::control_plane::allowed_commands::CommandPolicy::Any
        } else {
            host::control_plane::allowed_commands::CommandPolicy::listed_in(&data_dir)
        };
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
        Ok(host::app::ServeConfig {
            guards: guards.guards()?,
            commands,
            sandbox: guards.sandbox,
            app_user: guards.app_user.clone(),
            app_writable: guards.app_writable.clone(),
            data_dir,
            listen,
            media_port,
            input_log,
            video: host::media::planner::video_params(width, height, fps, bitrate_kbps),
            capture,
            display,
            audio,
            run,
            mdns,
        })
    }
}

#[derive(Subcommand, Debug)]
enum Command {
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
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
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
    /// Internal: how the host starts a sandboxed application (drops to the
    /// application's user, applies the Landlock ruleset, execs COMMAND).
    #[command(hide = true)]
    SandboxExec {
        #[command(flatten)]
        args: host::platform::sandbox::ExecArgs,
    },
    /// Administration of the data directory (applications, users, keys, policies).
    #[command(flatten)]
    Admin(host::control_plane::admin::AdminCommand),
}

fn main() -> anyhow::Result<()> {
    // Before any file is created: everything the host writes is private.
    host::platform::private_dir::restrict_umask();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { options } => {
            let config = options.into_config(cli.data_dir, None)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let shutdown = runtime.block_on(shutdown_signal())?;
            runtime.block_on(host::app::serve(config, shutdown))
        }
        Command::Run {
            options,
            name,
            icon,
            command,
        } => {
            let (program, args) = command
                .split_first()
                .ok_or_else(|| anyhow::anyhow!("host run needs a command after --"))?;
            let name = match name {
                Some(name) => name,
                None => application_name(program),
            };
            common::api::validate_name("application", &name)
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let run = host::app::RunSpec {
                name,
                command: program.clone(),
                args: args.to_vec(),
                icon,
            };
            let config = options.into_config(cli.data_dir, Some(run))?;
            let runtime = tokio::runtime::Runtime::new()?;
            let shutdown = runtime.block_on(shutdown_signal())?;
            runtime.block_on(host::app::serve(config, shutdown))
        }
        Command::Entitlement {
            listen,
            api,
            api_fingerprint,
            key_file,
        } => {
            let fingerprint = common::stream_url::parse_fingerprint(&api_fingerprint)
                .map_err(anyhow::Error::msg)?;
            let config = host::standalone::EntitlementConfig {
                data_dir: cli.data_dir,
                listen,
                api,
                api_fingerprint: fingerprint,
                key_file,
            };
            let runtime = tokio::runtime::Runtime::new()?;
            let shutdown = runtime.block_on(shutdown_signal())?;
            runtime.block_on(host::standalone::serve(config, shutdown))
        }
        Command::SandboxExec { args } => match host::platform::sandbox::exec(args)? {},
        Command::Admin(command) => host::control_plane::admin::run(&cli.data_dir, command),
    }
}

/// A catalog name from a command's file name: `/usr/games/foo.sh` → `foo`.
fn application_name(program: &str) -> String {
    let stem = std::path::Path::new(program)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() { "run".into() } else { name }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this returns, before
/// anything is launched; the future it gives resolves on the first signal.
async fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}
