//! `host`'s command line: parsing (`args`) and running what it asks (`run`).

mod args;
pub mod config;

pub use args::{
    Cli, Command, ConfigCommand, ConsoleCommand, DisplayArg, FleetCommand, GuardOptions,
    ServeOptions,
};

use std::process::ExitCode;

/// Parses the process's arguments and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    // Before any file is created: everything the host writes is private.
    crate::platform::private_dir::restrict_umask();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let settings = match config::parse(std::env::args_os().collect()) {
        Ok(settings) => settings,
        Err(config::SettingsError::Clap(e)) => e.exit(),
        Err(config::SettingsError::File(e)) => return Err(e.into()),
    };
    let config::Settings {
        cli,
        file,
        effective,
    } = settings;
    let allowed: Vec<String> = file
        .iter()
        .flat_map(|f| {
            f.allowed_commands
                .iter()
                .map(|(command, _)| command.clone())
        })
        .collect();
    // Checked by the commands that use a database.
    let database =
        crate::control_plane::store::Database::parse(cli.database.as_deref(), &cli.data_dir);
    match cli.command {
        Command::Config(ConfigCommand::Show { .. }) => {
            let text = config::render(file.as_ref(), &effective, &cli.data_dir);
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { options } => {
            let config = options.into_config(cli.data_dir, database?, None, &allowed)?;
            until_signalled(|shutdown| crate::app::serve(config, shutdown))
        }
        Command::Run {
            options,
            name,
            icon,
            command,
        } => {
            let (program, args) = command.split_first().ok_or_else(|| {
                anyhow::anyhow!(
                    "host run needs a command after -- (or `command` in host.toml's [run])"
                )
            })?;
            let name = match name {
                Some(name) => name,
                None => application_name(program),
            };
            common::api::validate_name("application", &name)
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let run = crate::app::RunSpec {
                name,
                command: program.clone(),
                args: args.to_vec(),
                icon,
            };
            let config = options.into_config(cli.data_dir, database?, Some(run), &allowed)?;
            until_signalled(|shutdown| crate::app::serve(config, shutdown))
        }
        Command::Entitlement {
            listen,
            api,
            api_fingerprint,
            key_file,
        } => {
            let fingerprint = common::stream_url::parse_fingerprint(&api_fingerprint)
                .map_err(anyhow::Error::msg)?;
            let config = crate::standalone::EntitlementConfig {
                data_dir: cli.data_dir,
                listen,
                api,
                api_fingerprint: fingerprint,
                key_file,
            };
            until_signalled(|shutdown| crate::standalone::serve(config, shutdown))
        }
        Command::Console(ConsoleCommand::Enrol {
            user,
            administrator,
            url,
        }) => {
            let config = cli.config.clone();
            let url = url.unwrap_or_else(|| console_url(&cli.data_dir, config.as_deref()));
            crate::platform::private_dir::prepare(&cli.data_dir)?;
            let store = database?.open()?;
            let now = crate::clock::Clock::now_unix_s(&crate::clock::SystemClock);
            let link = crate::control_plane::console::enrol_link(
                store.as_ref(),
                &user,
                administrator,
                &url,
                now,
            )?;
            println!("{user} enrols at this link (it works once, for 10 minutes):\n{link}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Fleet(FleetCommand::List) => {
            crate::platform::private_dir::prepare(&cli.data_dir)?;
            let store = database?.open()?;
            print!("{}", fleet_table(&store.hosts()?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { args } => crate::doctor::run(&cli.data_dir, &args),
        Command::Service(command) => {
            let config = cli
                .config
                .clone()
                .unwrap_or_else(|| cli.data_dir.join("host.toml"));
            crate::service::run(&cli.data_dir, &config, command)
        }
        Command::SandboxExec { args } => match crate::platform::sandbox::exec(args)? {},
        Command::Admin(command) => {
            crate::control_plane::admin::run(&cli.data_dir, &database?, command)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `host fleet list`: a line per host.
fn fleet_table(hosts: &[common::api::HostInfo]) -> String {
    let mut text = String::new();
    for host in hosts {
        text.push_str(&format!(
            "{}\t{}\t{}\tstreaming {} of {}\tcpu {:.0} %\tlast heartbeat {}\tapplications: {}\n",
            host.id,
            host.state.as_str(),
            host.address,
            host.live_sessions,
            host.max_sessions,
            host.cpu_pct,
            host.last_heartbeat,
            host.applications.join(", ")
        ));
    }
    if hosts.is_empty() {
        text.push_str("no host has started on this database yet\n");
    }
    text
}

/// Where browsers reach this host: `listen` of the config file (the
/// machine's name when it listens on every address), else the default.
fn console_url(data_dir: &std::path::Path, config: Option<&std::path::Path>) -> String {
    let file = config.map_or_else(|| data_dir.join(config::CONFIG_FILE_NAME), Into::into);
    let listen = config::ConfigFile::read(&file)
        .ok()
        .and_then(|f| {
            f.options
                .get("listen")
                .and_then(|e| e.value.as_str().map(String::from))
        })
        .and_then(|text| text.parse::<std::net::SocketAddr>().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 47990)));
    let host = if listen.ip().is_unspecified() {
        nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    } else {
        match listen.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    format!("https://{host}:{}", listen.port())
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

/// Runs a server on a new runtime until Ctrl-C or SIGTERM.
fn until_signalled<F, S>(server: S) -> anyhow::Result<ExitCode>
where
    S: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> F,
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Runtime::new()?;
    let shutdown = runtime.block_on(shutdown_signal())?;
    runtime.block_on(server(Box::pin(shutdown)))?;
    Ok(ExitCode::SUCCESS)
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
