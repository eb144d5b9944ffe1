//! `host serve` and `host run`: wiring of the control plane (store, API,
//! entitlement service), the TLS server, the media planner (what sessions
//! stream), the machine role, the LAN advertisement, with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use common::control::VideoParams;
use common::stream_url::StreamUrl;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::apps::failures::{AppFailure, record_app_error, record_app_exit};
use crate::apps::instance::{AppInstance, DisplayChoice, InstanceSpec};
use crate::apps::runtime::AppRuntime;
use crate::clock::{Clock, SystemClock};
use crate::control_plane::ControlPlane;
use crate::control_plane::allowed_commands::CommandPolicy;
use crate::control_plane::connection_limits::ConnectionLimits;
use crate::control_plane::entitlement::EntitlementService;
use crate::control_plane::guards::Guards;
use crate::control_plane::store::Store;
use crate::media::planner::{AudioChoice, CaptureMode, MediaPlanner};
use crate::platform::sandbox::{Grants, Sandbox, SandboxChoice};
use crate::stream::context::HostContext;
use crate::stream::tls::Identity;
use common::api::StreamDefaults;
use common::client::{AccessKeyFile, ApiClient, HttpsClient};
use common::control::EndReason;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    /// The control plane's store: this host's SQLite file or a fleet's
    /// PostgreSQL.
    pub database: crate::control_plane::store::Database,
    /// Where viewers reach this host, as the fleet is told (default: the
    /// listen address).
    pub advertise: Option<String>,
    /// Sessions the fleet places on this host at most.
    pub max_sessions: u32,
    pub listen: SocketAddr,
    /// UDP port for media; 0 picks one per session.
    pub media_port: u16,
    pub video: VideoParams,
    /// Input of synthetic sessions is appended here, one JSON line each.
    pub input_log: Option<PathBuf>,
    pub capture: CaptureMode,
    /// Where launched applications are shown.
    pub display: DisplayChoice,
    pub audio: AudioChoice,
    /// `host run -- COMMAND ARGS`: launched once, right away, for every session.
    pub run: Option<RunSpec>,
    /// Where the host is advertised on the LAN (mDNS).
    pub mdns: crate::discovery::MdnsMode,
    /// Bounds on what clients may make the host hold.
    pub guards: Guards,
    /// Which commands the API may give applications.
    pub commands: CommandPolicy,
    /// How launched applications are confined, and as whom they run under
    /// root.
    pub sandbox: SandboxChoice,
    pub app_user: String,
    /// Directories applications may write in besides their own.
    pub app_writable: Vec<PathBuf>,
}

/// The command `host run` streams.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The application's name in the catalog.
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    /// `--icon`: a PNG file (copied into the data directory) or an https URL.
    pub icon: Option<String>,
}

/// How often PENDING sessions past their expiry are ended.
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves until `shutdown` resolves. Prints where everything is once ready.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    ffmpeg_next::init().context("initialising FFmpeg")?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    crate::platform::private_dir::prepare(&config.data_dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = config.database.open()?;
    let host_id = crate::control_plane::fleet::host_id(&config.data_dir)?;
    // In a shared database the live sessions may be other hosts': only
    // this host's end.
    let ended = if config.database.is_shared() {
        store.end_sessions_on_host(&host_id, "host_restart", clock.now_unix_s())?
    } else {
        store.end_sessions_of_previous_run(clock.now_unix_s())?
    };
    if ended > 0 {
        tracing::info!(
            sessions = ended,
            "sessions of the previous run marked TERMINATED (host_restart)"
        );
    }
    let demo_stream = StreamDefaults {
        width: config.video.width,
        height: config.video.height,
        fps: config.video.fps,
        bitrate_kbps: Some(config.video.bitrate_kbps),
    };
    crate::control_plane::bootstrap::ensure(
        store.as_ref(),
        &config.data_dir,
        &demo_stream,
        clock.now_unix_s(),
    )?;

    let identity = Identity::load_or_create(&config.data_dir)?;
    let acceptor = TlsAcceptor::from(identity.server_config()?);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let listen = listener.local_addr()?;
    let host = connect_host(listen);
    let plane = ControlPlane::serving(
        store.clone(),
        clock.clone(),
        StreamUrl {
            host: host.clone(),
            port: listen.port(),
            token: String::new(),
            fingerprint: identity.fingerprint,
        },
        config.data_dir.clone(),
        Guards {
            shared: config.database.is_shared(),
            ..config.guards.clone()
        },
        config.commands.clone(),
    );
    let sandbox = Sandbox::resolve(config.sandbox, &config.app_user)?;
    println!("applications run sandboxed: {}", sandbox.describe());
    let runtime = AppRuntime::create()?;
    let machine_role_file = runtime.machine_role_dir().join("credentials");
    let machine_role = crate::control_plane::machine_role::MachineRole::new(machine_role_file)
        .owned_by(sandbox.owner());
    let app_env = machine_role.environment();
    let rotation = tokio::spawn(rotate_machine_role(plane.clone(), machine_role));
    let app_grants = Grants {
        write: config.app_writable.clone(),
        own_read: vec![runtime.machine_role_dir()],
        hidden: vec![config.data_dir.clone(), runtime.root().to_path_buf()],
        ..Default::default()
    };
    let mut media = MediaPlanner {
        capture: config.capture.clone(),
        display: config.display.clone(),
        audio: config.audio.clone(),
        run_dir: runtime.instances(),
        app_env,
        sandbox,
        app_grants,
        shared: None,
        input_log: config.input_log.clone(),
    };
    tokio::pin!(shutdown);
    let mut app_exit = None;
    if let Some(run) = &config.run {
        let cancel = Arc::new(AtomicBool::new(false));
        let instance = {
            let starting = start_run(
                &config,
                run,
                &media,
                store.as_ref(),
                clock.now_unix_s(),
                cancel.clone(),
            );
            tokio::pin!(starting);
            tokio::select! {
                started = &mut starting => started?,
                () = &mut shutdown => {
                    // Stopped while the application was starting: it and its
                    // display end before the host does.
                    cancel.store(true, Ordering::Relaxed);
                    let _ = starting.await;
                    tracing::info!("stopped while the application was starting");
                    return Ok(());
                }
            }
        };
        app_exit = Some(instance.exit());
        media.shared = Some(instance);
    }
    let gamepads = crate::platform::gamepad::probe();
    if let crate::platform::gamepad::GamepadSupport::Unavailable(why) = &gamepads {
        tracing::warn!("{why}");
    }
    let ctx = Arc::new(HostContext {
        plane: plane.clone(),
        listen,
        media_port: config.media_port,
        media,
        gamepads,
        resume: Default::default(),
    });

    // The embedded entitlement service calls this host's API like a remote
    // one would: over HTTPS, with its own key and least-privilege policy.
    let base_url = format!("https://{host}:{}", listen.port());
    let key_path = config
        .data_dir
        .join(crate::control_plane::bootstrap::ENTITLEMENT_KEY_FILE);
    let key = read_key_file(&key_path)?;
    let api = ApiClient::new(HttpsClient::new(&base_url, identity.fingerprint)?, key);
    let entitlement = EntitlementService::new(
        store.clone(),
        api,
        clock.clone(),
        config.database.is_shared(),
    )?;
    // The console signs in with the entitlement service's checks (one
    // throttle for both) and calls the API as its user.
    let console =
        crate::control_plane::console::Console::new(ctx.plane.clone(), entitlement.clone());
    let router = crate::stream::server::routes(
        ctx.clone(),
        Some(
            crate::control_plane::entitlement::router(entitlement)
                .merge(crate::control_plane::console::router(console)),
        ),
    );

    println!(
        "certificate fingerprint (SHA-256): {}",
        hex::encode(identity.fingerprint)
    );
    println!(
        "console: {base_url}/console (first administrator: host console enrol NAME --administrator)"
    );
    println!(
        "API: {base_url}/api (admin key in {})",
        config
            .data_dir
            .join(crate::control_plane::bootstrap::ADMIN_KEY_FILE)
            .display()
    );
    println!(
        "entitlement service: {base_url}/entitlement (user demo, password in {})",
        config
            .data_dir
            .join(crate::control_plane::bootstrap::DEMO_PASSWORD_FILE)
            .display()
    );
    tracing::info!(%listen, "host ready");
    let advert = common::discovery::HostAdvert {
        name: crate::discovery::default_name(),
        port: listen.port(),
        fingerprint_hex: hex::encode(identity.fingerprint),
        protocol_version: common::control::PROTOCOL_VERSION,
    };
    let advertiser = crate::discovery::Advertiser::start(&config.mdns, &advert, listen);
    if let Some(advertiser) = &advertiser {
        println!(
            "mDNS: advertising {:?} as {}",
            advert.name,
            advertiser.fullname()
        );
    }

    let sweeper = tokio::spawn(expire_pending_sessions(plane.clone()));
    let _ = plane.host_id.set(host_id.clone());
    let heartbeat = tokio::spawn(crate::control_plane::fleet::heartbeat(
        plane.clone(),
        crate::control_plane::fleet::Advertised {
            id: host_id,
            address: config
                .advertise
                .clone()
                .unwrap_or_else(|| format!("{host}:{}", listen.port())),
            fingerprint: identity.fingerprint,
            max_sessions: config.max_sessions,
        },
    ));
    // `host run` ends with its application.
    let app_ended = async {
        match app_exit.as_mut() {
            Some(exit) => {
                let _ = exit.wait_for(Option::is_some).await;
            }
            None => std::future::pending().await,
        }
    };
    let mut ended_by_app = false;
    let limits = ConnectionLimits::new(config.guards.connections);
    crate::stream::server::serve(listener, acceptor, router, limits, async {
        tokio::select! {
            () = &mut shutdown => {}
            () = app_ended => ended_by_app = true,
        }
    })
    .await;
    sweeper.abort();
    heartbeat.abort();
    rotation.abort();
    tracing::info!("shutting down");
    if let Some(advertiser) = advertiser {
        let _ = tokio::task::spawn_blocking(move || advertiser.stop()).await;
    }
    if ended_by_app && let (Some(run), Some(shared)) = (&config.run, &ctx.media.shared) {
        let exit = shared.exit().borrow().clone();
        if let Some(exit) = exit {
            record_app_exit(plane.store.as_ref(), &run.name, None, &exit, plane.now());
            println!("{}; the host stops", exit.describe());
        }
        plane.live.end_all(EndReason::AppExited);
    } else {
        plane.live.end_all(EndReason::HostShutdown);
    }
    // Give running sessions a moment to say goodbye to their viewers.
    for _ in 0..20 {
        if plane.live.count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `host run`: puts the command in the catalog (entitling the demo user),
/// launches it and waits for its window.
async fn start_run(
    config: &ServeConfig,
    run: &RunSpec,
    media: &MediaPlanner,
    store: &dyn Store,
    now: i64,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Arc<AppInstance>> {
    use common::api::{ApplicationPatch, NewApplication};
    let stream = StreamDefaults {
        width: config.video.width,
        height: config.video.height,
        fps: config.video.fps,
        bitrate_kbps: Some(config.video.bitrate_kbps),
    };
    let icon = match &run.icon {
        Some(value) => Some(
            crate::control_plane::icons::import(&config.data_dir, &run.name, value)
                .map_err(|e| anyhow::anyhow!("--icon: {e}"))?,
        ),
        None => None,
    };
    let app = match store.application(&run.name) {
        Ok(_) => store.update_application(
            &run.name,
            &ApplicationPatch {
                command: Some(run.command.clone()),
                args: Some(run.args.clone()),
                stream: Some(stream),
                icon: icon.clone(),
                ..Default::default()
            },
            now,
        )?,
        Err(_) => store.create_application(
            &NewApplication {
                name: run.name.clone(),
                description: format!("{} (host run)", run.command),
                command: run.command.clone(),
                args: run.args.clone(),
                working_dir: None,
                icon,
                stream,
                max_sessions: 4,
                state: common::api::ApplicationState::Enabled,
            },
            now,
        )?,
    };
    store.entitle(crate::control_plane::bootstrap::DEMO_USER, &run.name)?;
    let display = media.display.clone();
    let spec_env = media.app_env.clone();
    let run_dir = media.run_dir.join(format!("run-{}", run.name));
    let size = (config.video.width, config.video.height);
    let (sandbox, grants) = (media.sandbox.clone(), media.app_grants.clone());
    let instance = tokio::task::spawn_blocking(move || {
        AppInstance::launch(InstanceSpec {
            app: &app,
            size,
            display: &display,
            env: spec_env,
            run_dir,
            sandbox: &sandbox,
            grants,
            cancel: Some(cancel),
        })
    })
    .await?;
    match instance {
        Ok(instance) => {
            println!(
                "streaming {:?} as application {} on display {} (window 0x{:x})",
                run.command, run.name, instance.display, instance.window
            );
            Ok(Arc::new(instance))
        }
        Err(e) => {
            let failure = AppFailure {
                kind: "launch_failed",
                message: e.to_string(),
                exit: e.exit(),
            };
            record_app_error(store, &run.name, None, &failure, now);
            Err(anyhow::anyhow!("{e}"))
        }
    }
}

/// Keeps the machine role's credentials fresh (a new set every hour).
async fn rotate_machine_role(
    plane: Arc<ControlPlane>,
    mut role: crate::control_plane::machine_role::MachineRole,
) {
    if let Some(dir) = role.file().parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(error = %e, "no directory for the machine role's credentials");
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = role.poll(plane.store.as_ref(), plane.now()) {
            tracing::warn!(error = %e, "cannot issue machine role credentials");
        }
    }
}

/// Reads an access key file (`key_id=...`, `secret=...`).
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<AccessKeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the access key file {}", path.display()))?;
    AccessKeyFile::parse(&text).with_context(|| format!("in {}", path.display()))
}

async fn expire_pending_sessions(plane: Arc<ControlPlane>) {
    let mut tick = tokio::time::interval(EXPIRY_SWEEP);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        match plane.store.expire_pending(plane.now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "unredeemed sessions expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire pending sessions"),
        }
        if plane.guards.shared {
            let before = plane.now() - common::signing::REPLAY_WINDOW_S;
            if let Err(e) = plane.store.forget_nonces(before) {
                tracing::warn!(error = %e, "cannot forget aged-out request nonces");
            }
        }
        if ticks.is_multiple_of(AUDIT_SWEEP_TICKS) {
            let plane = plane.clone();
            // A large prune is a long statement: off the async workers.
            let _ = tokio::task::spawn_blocking(move || prune_audit(&plane)).await;
        }
        ticks += 1;
    }
}

/// The audit log is pruned every few expiry sweeps.
const AUDIT_SWEEP_TICKS: u64 = 5;

/// Applies the audit retention (rows and age) once.
pub fn prune_audit(plane: &ControlPlane) {
    let retention = plane.guards.audit;
    match plane
        .store
        .prune_audit(retention.max_rows, plane.now() - retention.max_age_s)
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(entries = n, "old audit entries removed"),
        Err(e) => tracing::warn!(error = %e, "cannot prune the audit log"),
    }
}

/// The address a viewer should dial: the listen address, or loopback when
/// listening on every interface.
fn connect_host(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        listen.ip().to_string()
    }
}
