//! `host serve`: wiring of the control plane (store, API, entitlement
//! service), the TLS server and the media pipelines, with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use common::control::{VideoCodec, VideoParams};
use common::stream_url::StreamUrl;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::clock::{Clock, SystemClock};
use crate::control_plane::ControlPlane;
use crate::entitlement::EntitlementService;
use crate::pipeline::{AUDIO_SAMPLE_RATE_HZ, PipelineParts};
use crate::platform::ffmpeg_audio::OpusEncoder;
use crate::platform::ffmpeg_video::{EncoderSettings, FfmpegVideoEncoder};
use crate::platform::synthetic::{TONE_HZ, TestPattern, Tone};
use crate::store::{SqliteStore, Store};
use crate::tls::Identity;
use common::api::StreamDefaults;
use common::client::{AccessKeyFile, ApiClient, HttpsClient};
use common::control::EndReason;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// UDP port for media; 0 picks one per session.
    pub media_port: u16,
    pub video: VideoParams,
    /// Append every input event received to this file, one JSON line each.
    pub input_log: Option<PathBuf>,
}

/// Default bitrate for a resolution at 60 fps (Moonlight-like: 10 Mbps at
/// 720p60, 20 at 1080p60), scaled by pixel rate.
pub fn default_bitrate_kbps(width: u32, height: u32, fps: u32) -> u32 {
    let pixels_per_second = u64::from(width) * u64::from(height) * u64::from(fps);
    let per_720p60 = 1280 * 720 * 60;
    ((pixels_per_second * 10_000 / per_720p60) as u32).clamp(1_000, 100_000)
}

pub fn video_params(width: u32, height: u32, fps: u32, bitrate_kbps: Option<u32>) -> VideoParams {
    VideoParams {
        codec: VideoCodec::H264,
        width,
        height,
        fps,
        bitrate_kbps: bitrate_kbps.unwrap_or_else(|| default_bitrate_kbps(width, height, fps)),
    }
}

pub type MakeParts = Box<dyn Fn(&VideoParams) -> PipelineParts + Send + Sync>;

/// Shared by every connection.
pub struct HostContext {
    pub plane: Arc<ControlPlane>,
    pub listen: SocketAddr,
    pub media_port: u16,
    pub make_parts: MakeParts,
    /// Input events received (no injector yet): a log for tests and debugging.
    pub input_log: Option<std::sync::Mutex<std::fs::File>>,
}

impl HostContext {
    /// Records one input event in the input log, if there is one.
    pub fn log_input(&self, seq: u64, event: &common::control::InputEvent) {
        use std::io::Write;
        if let Some(log) = &self.input_log {
            let line = serde_json::json!({ "seq": seq, "event": event });
            let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = writeln!(file, "{line}") {
                tracing::warn!(error = %e, "cannot write the input log");
            }
        }
    }
}

/// The synthetic test pattern and tone, encoded with FFmpeg.
pub fn synthetic_parts(video: &VideoParams) -> PipelineParts {
    let (source_video, encoder_video) = (video.clone(), video.clone());
    PipelineParts {
        video: video.clone(),
        video_source: Box::new(move || {
            Ok(Box::new(TestPattern::new(
                source_video.width,
                source_video.height,
                source_video.fps,
            )))
        }),
        video_encoder: Box::new(move || {
            Ok(Box::new(FfmpegVideoEncoder::new(
                &EncoderSettings::from_params(&encoder_video),
            )?))
        }),
        audio_source: Box::new(|| Ok(Box::new(Tone::new(TONE_HZ, AUDIO_SAMPLE_RATE_HZ)))),
        audio_encoder: Box::new(|| Ok(Box::new(OpusEncoder::new(AUDIO_SAMPLE_RATE_HZ, 10)?))),
    }
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
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_in(&config.data_dir).context("opening the control plane database")?,
    );
    let ended = store.end_sessions_of_previous_run(clock.now_unix_s())?;
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
    crate::bootstrap::ensure(
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
    let plane = ControlPlane::new(
        store.clone(),
        clock.clone(),
        StreamUrl {
            host: host.clone(),
            port: listen.port(),
            token: String::new(),
            fingerprint: identity.fingerprint,
        },
    );
    let ctx = Arc::new(HostContext {
        plane: plane.clone(),
        listen,
        media_port: config.media_port,
        make_parts: Box::new(synthetic_parts),
        input_log: match &config.input_log {
            Some(path) => Some(std::sync::Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the input log {}", path.display()))?,
            )),
            None => None,
        },
    });

    // The embedded entitlement service calls this host's API like a remote
    // one would: over HTTPS, with its own key and least-privilege policy.
    let base_url = format!("https://{host}:{}", listen.port());
    let key_path = config.data_dir.join(crate::bootstrap::ENTITLEMENT_KEY_FILE);
    let key = read_key_file(&key_path)?;
    let api = ApiClient::new(HttpsClient::new(&base_url, identity.fingerprint)?, key);
    let entitlement = EntitlementService::new(store.clone(), api, clock.clone());
    let router = crate::server::routes(ctx.clone(), Some(crate::entitlement::router(entitlement)));

    println!(
        "certificate fingerprint (SHA-256): {}",
        hex::encode(identity.fingerprint)
    );
    println!(
        "API: {base_url}/api (admin key in {})",
        config
            .data_dir
            .join(crate::bootstrap::ADMIN_KEY_FILE)
            .display()
    );
    println!(
        "entitlement service: {base_url}/entitlement (user demo, password in {})",
        config
            .data_dir
            .join(crate::bootstrap::DEMO_PASSWORD_FILE)
            .display()
    );
    tracing::info!(%listen, "host ready");

    let sweeper = tokio::spawn(expire_pending_sessions(plane.clone()));
    crate::server::serve(listener, acceptor, router, shutdown).await;
    sweeper.abort();
    tracing::info!("shutting down");
    plane.live.end_all(EndReason::HostShutdown);
    // Give running sessions a moment to say goodbye to their viewers.
    for _ in 0..20 {
        if plane.live.count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Reads an access key file (`key_id=...`, `secret=...`).
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<AccessKeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the access key file {}", path.display()))?;
    AccessKeyFile::parse(&text).with_context(|| format!("in {}", path.display()))
}

async fn expire_pending_sessions(plane: Arc<ControlPlane>) {
    let mut tick = tokio::time::interval(EXPIRY_SWEEP);
    loop {
        tick.tick().await;
        match plane.store.expire_pending(plane.now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "unredeemed sessions expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire pending sessions"),
        }
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
