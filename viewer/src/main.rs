//! `viewer`: the command line.

use std::time::Duration;

use clap::{Parser, Subcommand};
use common::stream_url::StreamUrl;

#[derive(Parser, Debug)]
#[command(
    name = "viewer",
    version,
    about = "Play applications streamed by a host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign in to an entitlement service and print an entitlement URL for
    /// an application (what the launcher does before a stream).
    Signin {
        /// The entitlement service, e.g. https://127.0.0.1:47990
        #[arg(long)]
        service: String,
        /// Its certificate fingerprint (SHA-256, hex), as the host printed it.
        #[arg(long)]
        fingerprint: String,
        #[arg(long)]
        user: String,
        /// A file holding the password (first line). Read from stdin when absent.
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
        /// The current code of the user's authenticator app, if they have one.
        #[arg(long)]
        totp: Option<String>,
        /// The application to start.
        application: String,
    },
    /// Stream from a host, given an entitlement URL.
    Stream {
        /// No window: print one JSON stats line per second and a summary.
        #[arg(long)]
        headless: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Do not open an audio device.
        #[arg(long)]
        mute: bool,
        /// Send media UDP to this address instead of the host (a relay).
        #[arg(long)]
        media_via: Option<std::net::SocketAddr>,
        /// Headless only: type this many synthetic key events (A..Z press and
        /// release) on the reliable control channel, to test input delivery.
        #[arg(long, default_value_t = 0)]
        send_keys: u64,
        /// Headless only: send this many synthetic events of every kind
        /// (keys, absolute and relative moves, clicks, wheel), in order.
        #[arg(long, default_value_t = 0, conflicts_with = "send_keys")]
        send_input: u64,
        /// Ask the host for this picture size (e.g. 1920x1080); a virtual
        /// display is made this size. Default: the application's.
        #[arg(long, value_parser = parse_resolution)]
        resolution: Option<(u32, u32)>,
        /// Headless only: put this text on the host's clipboard once media flows.
        #[arg(long)]
        clipboard: Option<String>,
        /// Frames per second to ask for (with --resolution).
        #[arg(long, default_value_t = 60)]
        fps: u32,
        /// appstream://HOST:PORT/stream?token=...&fp=...
        url: String,
    },
}

/// `WIDTHxHEIGHT`, even, 64 to 7680 × 64 to 4320.
fn parse_resolution(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a resolution like 1920x1080");
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(64..=7680).contains(&w) || !(64..=4320).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "{text:?}: width and height must be even, 64..7680 × 64..4320"
        ));
    }
    Ok((w, h))
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Signin {
            service,
            fingerprint,
            user,
            password_file,
            totp,
            application,
        } => match viewer::signin::run(
            &service,
            &fingerprint,
            &user,
            password_file.as_deref(),
            totp.as_deref(),
            &application,
        ) {
            Ok(url) => {
                println!("{url}");
                0
            }
            Err(e) => {
                eprintln!("viewer: {e:#}");
                2
            }
        },
        Command::Stream {
            headless,
            duration,
            mute,
            media_via,
            send_keys,
            send_input,
            resolution,
            fps,
            clipboard,
            url,
        } => {
            let request = resolution.map(|(width, height)| common::control::DisplayRequest {
                width,
                height,
                fps,
            });
            let synthetic = viewer::synthetic_input::SyntheticInput {
                count: send_keys.max(send_input),
                mixed: send_input > 0,
                clipboard,
            };
            let url = match StreamUrl::parse(&url) {
                Ok(url) => url,
                Err(e) => {
                    eprintln!("viewer: bad stream URL: {e}");
                    std::process::exit(2);
                }
            };
            let duration = duration.map(Duration::from_secs_f64);
            if headless {
                viewer::headless::run(url, media_via, synthetic, request, duration, !mute)
            } else {
                viewer::window::run(url, media_via, request, duration, !mute)
            }
        }
    };
    std::process::exit(code);
}
