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

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve streams (synthetic test pattern and tone) to viewers.
    Serve {
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
        /// Append every input event received to this file (JSON lines).
        #[arg(long)]
        input_log: Option<PathBuf>,
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
    /// Administration of the data directory (applications, users, keys, policies).
    #[command(flatten)]
    Admin(host::admin::AdminCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            media_port,
            width,
            height,
            fps,
            bitrate_kbps,
            input_log,
        } => {
            anyhow::ensure!(
                width >= 64 && height >= 64 && width % 2 == 0 && height % 2 == 0,
                "--width and --height must be even and at least 64"
            );
            anyhow::ensure!((1..=240).contains(&fps), "--fps must be between 1 and 240");
            let config = host::app::ServeConfig {
                data_dir: cli.data_dir,
                listen,
                media_port,
                input_log,
                video: host::app::video_params(width, height, fps, bitrate_kbps),
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(host::app::serve(config, shutdown_signal()))
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
            runtime.block_on(host::standalone::serve(config, shutdown_signal()))
        }
        Command::Admin(command) => host::admin::run(&cli.data_dir, command),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
