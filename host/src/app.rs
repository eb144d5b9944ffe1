//! `host serve`: wiring of the TLS WebSocket control server, the session
//! tokens and the media pipelines, with graceful shutdown on Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use common::control::{VideoCodec, VideoParams};
use common::stream_url::StreamUrl;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::pipeline::{AUDIO_SAMPLE_RATE_HZ, PipelineParts};
use crate::platform::ffmpeg_audio::OpusEncoder;
use crate::platform::ffmpeg_video::{EncoderSettings, FfmpegVideoEncoder};
use crate::platform::synthetic::{TONE_HZ, TestPattern, Tone};
use crate::tls::Identity;
use crate::tokens::TokenStore;

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
    pub tokens: TokenStore,
    /// Where and whom viewers connect to; the token part is minted per URL.
    pub url_base: StreamUrl,
    pub listen: SocketAddr,
    pub media_port: u16,
    pub video: VideoParams,
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

    /// Mints a single-use token and prints the URL that carries it. The host
    /// prints a fresh one each time a token is used, so it keeps serving.
    pub fn print_new_url(&self) {
        let url = StreamUrl {
            token: self.tokens.mint(),
            ..self.url_base.clone()
        };
        println!("stream URL: {url}");
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

/// Serves until `shutdown` resolves. Prints the stream URL once ready.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    ffmpeg_next::init().context("initialising FFmpeg")?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let identity = Identity::load_or_create(&config.data_dir)?;
    let acceptor = TlsAcceptor::from(identity.server_config()?);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let listen = listener.local_addr()?;
    let ctx = Arc::new(HostContext {
        tokens: TokenStore::default(),
        url_base: StreamUrl {
            host: connect_host(listen),
            port: listen.port(),
            token: String::new(),
            fingerprint: identity.fingerprint,
        },
        listen,
        media_port: config.media_port,
        video: config.video.clone(),
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
    println!(
        "certificate fingerprint (SHA-256): {}",
        hex::encode(identity.fingerprint)
    );
    ctx.print_new_url();
    tracing::info!(%listen, video = ?config.video, "host ready");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
                tokio::spawn(async move {
                    if let Err(e) = handle_connection(acceptor, tcp, peer, ctx).await {
                        tracing::warn!(%peer, error = %format!("{e:#}"), "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => {
                tracing::info!("shutting down");
                return Ok(());
            }
        }
    }
}

async fn handle_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: Arc<HostContext>,
) -> anyhow::Result<()> {
    let tls = acceptor.accept(tcp).await.context("TLS handshake")?;
    let ws =
        tokio_tungstenite::accept_async_with_config(tls, Some(crate::session::websocket_config()))
            .await
            .context("WebSocket handshake")?;
    crate::session::run(ws, ctx, peer).await
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
