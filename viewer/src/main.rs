//! `viewer`: the command line.
//!
//! On Windows viewer.exe is a GUI program, so a double-click, the Start
//! menu or an appstream:// link opens no console window beside the viewer;
//! output reaches pipes it is given. scripts/build-windows also ships
//! viewer-console.exe, the same program marked for the console, for use in
//! a terminal. Other targets ignore the attribute.
#![windows_subsystem = "windows"]

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "viewer",
    version,
    about = "Play applications streamed by a host"
)]
struct Cli {
    /// An appstream:// link to stream right away (what the desktop opens);
    /// with nothing at all, the launcher opens.
    #[arg(value_name = "URL")]
    url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
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
    Stream(viewer::stream::args::StreamArgs),
    /// Open the launcher (what `viewer` alone does), optionally with a host
    /// added and chosen and the user name filled in.
    Launcher(viewer::launcher::LauncherOptions),
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
    let command = match (cli.command, cli.url) {
        (Some(command), _) => command,
        (None, None) => Command::Launcher(Default::default()),
        // `viewer appstream://...`: as `viewer stream URL`, with the
        // launcher's saved settings.
        (None, Some(url)) if url.starts_with("appstream://") => {
            let args = std::iter::once("viewer".into())
                .chain(viewer::launcher::direct_stream_arguments(&url));
            match Cli::parse_from(args).command {
                Some(command @ Command::Stream(_)) => command,
                _ => std::process::exit(2),
            }
        }
        (None, Some(other)) => {
            eprintln!(
                "viewer: {other:?} is neither a command nor an appstream:// link; see viewer --help"
            );
            std::process::exit(2);
        }
    };
    let code = match command {
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
        Command::Stream(args) => args.run(),
        Command::Launcher(options) => viewer::launcher::run(options),
    };
    std::process::exit(code);
}
