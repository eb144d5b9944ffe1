//! One viewer's session on the control channel, up to its driver: the
//! first message (a hello, or a resume handed to the session it resumes),
//! the entitlement, the media plan and the application, then the
//! `HostSession` and its driver (`crate::stream::driver`) until the end,
//! and the records afterwards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use common::api::STREAM_BITRATE_KBPS;
use common::control::{AudioParams, DisplayRequest, EndReason, ErrorCode, VideoParams};
use common::seal::MediaKey;
use common::session::{
    Hello, HostSession, HostSessionParams, Opening, Refusal, SessionConfig, open,
};
use rand::RngCore;
use tokio::sync::watch;
use tracing::Instrument;

use crate::apps::launcher::AppExit;
use crate::control_plane::store::RedeemError;
use crate::media::desk::session_desk;
use crate::media::pipeline::AUDIO_SAMPLE_RATE_HZ;
use crate::media::planner::{AppHandle, SessionMedia, can_encode};
use crate::stream::context::HostContext;
use crate::stream::driver::{Desk, Driver, StatsOut};
use crate::stream::input::InputWorker;
use crate::stream::resume::{ControlWs, Takeover};
use crate::stream::ws::{SEND_TIMEOUT, receive, send};

fn random_key() -> MediaKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    MediaKey::from_bytes(bytes)
}

/// Runs one session to its end. Errors are the session's, logged by the caller.
/// `admission` is the connection's place under the host's connection caps:
/// held while the viewer is unauthenticated, let go once its entitlement is
/// redeemed (a session is bounded by entitlements from then on, and may sit
/// parked for a resume long after its connection closed).
pub async fn run(
    mut ws: ControlWs,
    ctx: Arc<HostContext>,
    peer: SocketAddr,
    admission: impl Send,
) -> anyhow::Result<()> {
    let config = SessionConfig::default();
    let first = tokio::time::timeout(
        Duration::from_micros(config.hello_timeout_us),
        receive(&mut ws),
    )
    .await
    .context("no hello in time")??
    .context("the connection closed before a hello")?;
    // Checked before the entitlement is spent and before anything starts.
    let hello = match open(first) {
        Ok(Opening::Hello(hello)) => hello,
        Ok(Opening::Resume {
            session_id,
            resume_token,
        }) => {
            return resume(ws, &ctx, peer, &session_id, &resume_token).await;
        }
        Err(refusal) => {
            refuse(&mut ws, &refusal).await;
            bail!("refused a connection from {peer}: {}", refusal.message);
        }
    };
    let Hello {
        token,
        client,
        display,
    } = hello;
    let (session, app) = match ctx.plane.redeem(&token) {
        Ok(Ok(redeemed)) => redeemed,
        Ok(Err(e)) => {
            let code = match e {
                RedeemError::Unknown | RedeemError::AlreadyUsed | RedeemError::OtherHost => {
                    ErrorCode::BadToken
                }
                RedeemError::Expired => ErrorCode::EntitlementExpired,
                RedeemError::ApplicationDisabled => ErrorCode::ApplicationDisabled,
            };
            refuse(
                &mut ws,
                &Refusal {
                    code,
                    message: e.to_string(),
                },
            )
            .await;
            bail!("refused an entitlement from {peer}: {e}");
        }
        Err(e) => {
            let message = "the host cannot read its state".into();
            refuse(
                &mut ws,
                &Refusal {
                    code: ErrorCode::Internal,
                    message,
                },
            )
            .await;
            bail!("redeeming an entitlement: {e}");
        }
    };
    drop(admission);
    let video = session_video(&app, display);
    let span = tracing::info_span!("session", id = %session.id, app = %app.name, user = %session.user, %peer, %client);
    let ended = ctx.plane.live.register(&session.id);
    let planned = {
        let (ctx, app, id, video) = (ctx.clone(), app.clone(), session.id.clone(), video.clone());
        tokio::task::spawn_blocking(move || ctx.media.plan(&app, &id, &video))
            .instrument(span.clone())
            .await?
    };
    let mut media = match planned {
        Ok(media) => media,
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "launch failed");
            let failure = crate::apps::failures::AppFailure {
                kind: "launch_failed",
                message: e.to_string(),
                exit: e.exit(),
            };
            crate::apps::failures::record_app_error(
                ctx.plane.store.as_ref(),
                &app.name,
                Some(&session.id),
                &failure,
                ctx.plane.now(),
            );
            ctx.plane.session_ended(&session.id, "launch_failed");
            let refusal = Refusal {
                code: ErrorCode::LaunchFailed,
                message: e.to_string(),
            };
            refuse(&mut ws, &refusal).await;
            return Err(e.into());
        }
    };
    // The instance outlives the stream: it is told and ended afterwards.
    let instance = media.app.take();
    if let Some(app) = &instance {
        app.session_connected(&session.id, &session.user);
    }
    let app_exit = instance.as_ref().map(|app| app.exit());
    // The application's end is on record before the viewer hears of it.
    let record_exit = |reason: EndReason| {
        if reason == EndReason::AppExited
            && let Some(AppHandle::Owned(owned)) = &instance
            && let Some(exit) = owned.exit().borrow().clone()
        {
            crate::apps::failures::record_app_exit(
                ctx.plane.store.as_ref(),
                &app.name,
                Some(&session.id),
                &exit,
                ctx.plane.now(),
            );
        }
    };
    let run = SessionRun {
        ctx: &ctx,
        peer,
        session_id: &session.id,
        config,
        video,
        media,
        app_exit,
        ended,
    };
    let reason = stream_session(ws, run, record_exit).instrument(span).await;
    // A session ended by the API was recorded there; this is a no-op then.
    let recorded = match &reason {
        Ok(reason) => reason.as_str(),
        Err(_) => EndReason::ProtocolError.as_str(),
    };
    if let Some(instance) = instance {
        instance.session_disconnected(&session.id, &session.user, recorded);
        if let AppHandle::Owned(owned) = instance {
            // Ends the process group (may wait for it): off the runtime.
            tokio::task::spawn_blocking(move || drop(owned)).await?;
        }
    }
    ctx.plane.session_ended(&session.id, recorded);
    reason.map(|_| ())
}

/// Hands a new connection to the session it resumes, or refuses it.
async fn resume(
    ws: ControlWs,
    ctx: &HostContext,
    peer: SocketAddr,
    session_id: &str,
    resume_token: &str,
) -> anyhow::Result<()> {
    match ctx
        .resume
        .hand_over(session_id, resume_token, Takeover { ws, peer })
    {
        Ok(()) => {
            tracing::info!(session = %session_id, %peer, "viewer resumes its session");
            Ok(())
        }
        Err((why, takeover)) => {
            let mut ws = takeover.ws;
            let refusal = Refusal {
                code: ErrorCode::CannotResume,
                message: why.into(),
            };
            refuse(&mut ws, &refusal).await;
            bail!("refused a resume of {session_id} from {peer}: {why}");
        }
    }
}

/// The viewer's requested size, rate and bitrate where it gave them (within
/// limits), otherwise the application's defaults. A codec this host cannot
/// encode is answered with H.264 in the welcome.
fn session_video(app: &common::api::Application, request: Option<DisplayRequest>) -> VideoParams {
    let defaults = &app.stream;
    let Some(r) = request else {
        return crate::media::planner::video_params(
            defaults.width,
            defaults.height,
            defaults.fps,
            defaults.bitrate_kbps,
        );
    };
    let (width, height) = if (64..=7680).contains(&r.width) && (64..=4320).contains(&r.height) {
        (r.width & !1, r.height & !1)
    } else {
        (defaults.width, defaults.height)
    };
    let fps = if (1..=240).contains(&r.fps) {
        r.fps
    } else {
        defaults.fps
    };
    let bitrate_kbps = r
        .bitrate_kbps
        .filter(|kbps| STREAM_BITRATE_KBPS.contains(kbps))
        .or(defaults
            .bitrate_kbps
            .filter(|_| (width, height) == (defaults.width, defaults.height)));
    let mut params = crate::media::planner::video_params(width, height, fps, bitrate_kbps);
    match r.codec {
        Some(codec) if can_encode(codec) => params.codec = codec,
        Some(codec) => tracing::warn!(?codec, "cannot encode the codec asked for; H.264 instead"),
        None => {}
    }
    params
}

/// What a session streams, once its entitlement is redeemed.
struct SessionRun<'a> {
    ctx: &'a HostContext,
    peer: SocketAddr,
    session_id: &'a str,
    config: SessionConfig,
    video: VideoParams,
    media: SessionMedia,
    app_exit: Option<watch::Receiver<Option<AppExit>>>,
    ended: watch::Receiver<Option<EndReason>>,
}

/// Opens the media side (keys, the UDP port, capabilities, input) and
/// drives the `HostSession` to its end.
async fn stream_session(
    ws: ControlWs,
    run: SessionRun<'_>,
    before_goodbye: impl FnOnce(EndReason),
) -> anyhow::Result<EndReason> {
    let SessionRun {
        ctx,
        peer,
        session_id,
        config,
        video,
        media,
        app_exit,
        ended,
    } = run;
    tracing::info!(
        codec = ?video.codec,
        width = video.width,
        height = video.height,
        fps = video.fps,
        bitrate_kbps = video.bitrate_kbps,
        "session opened"
    );
    ctx.plane.live.set_video(session_id, &video);
    let (resume_token, takeovers) = ctx.resume.register(session_id);
    let udp = tokio::net::UdpSocket::bind(SocketAddr::new(ctx.listen.ip(), ctx.media_port))
        .await
        .with_context(|| format!("binding the media port {}", ctx.media_port))?;
    let session_desk = session_desk(
        media.input,
        media.clipboard_display.as_deref(),
        &ctx.gamepads,
    );
    let params = HostSessionParams {
        session_id: session_id.to_string(),
        video,
        audio: AudioParams {
            codec: "opus".into(),
            sample_rate_hz: AUDIO_SAMPLE_RATE_HZ,
            channels: 2,
            frame_ms: 10,
        },
        udp_port: udp.local_addr()?.port(),
        host_to_viewer: random_key(),
        viewer_to_host: random_key(),
        resume_token: Some(resume_token),
        capabilities: session_desk.capabilities,
        viewer_ip: peer.ip(),
    };
    let desk = Desk {
        input: InputWorker::start(session_desk.input)?,
        app_exit,
        clipboard: session_desk.clipboard,
        rumble: session_desk.rumble,
    };
    let driver = Driver {
        session: HostSession::new(config, params, crate::clock::unix_now_us()),
        ws: Some(ws),
        peer,
        udp,
        parts: Some(media.parts),
        desk,
        takeovers,
        ended,
        stats: StatsOut {
            plane: ctx.plane.clone(),
            session_id: session_id.to_string(),
        },
    };
    let reason = driver.run(before_goodbye).await;
    ctx.resume.unregister(session_id);
    tracing::info!(?reason, "session ended");
    Ok(reason)
}

async fn refuse(ws: &mut ControlWs, refusal: &Refusal) {
    let _ = send(ws, &refusal.message()).await;
    let _ = tokio::time::timeout(SEND_TIMEOUT, ws.close(None)).await;
}
