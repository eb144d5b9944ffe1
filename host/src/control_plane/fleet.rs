//! A host among others on one database: its id, its heartbeat, and the
//! sweep that declares a silent host lost. On SQLite the fleet is this host
//! alone, and it beats all the same (GetHosts shows it).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use common::api::{HostInfo, SessionState};
use common::control::EndReason;
use common::stream_url::StreamUrl;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::control_plane::ControlPlane;
use crate::control_plane::store::{Change, Heartbeat};
use crate::platform::cpu::CpuMeter;

/// Between two heartbeats.
pub const HEARTBEAT_INTERVAL_S: i64 = 2;
/// A host silent this many intervals is UNAVAILABLE.
pub const LOST_AFTER_INTERVALS: i64 = 3;
/// Between two sweeps for lost hosts: half an interval, so a lost host is
/// found at most a second after it counts as lost (times are whole seconds).
const SWEEPS_PER_INTERVAL: u32 = 2;
/// While changes are heard, the slow resync runs every this many sweeps.
const RESYNC_EVERY_SWEEPS: u64 = 10;
/// The host's id, in its data directory.
pub const HOST_ID_FILE: &str = "host.id";

/// This host's id: made once, kept in the data directory.
pub fn host_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(HOST_ID_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = format!("h-{}", hex::encode(rand::random::<[u8; 6]>()));
    crate::platform::write_private(&path, format!("{id}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// What this host says of itself besides its load.
#[derive(Debug, Clone)]
pub struct Advertised {
    pub id: String,
    pub address: String,
    /// `--max-sessions`.
    pub max_sessions: u32,
    pub fingerprint: [u8; 32],
}

/// Beats every interval until aborted, sweeps for lost hosts, and acts on
/// the changes the database tells of.
pub async fn heartbeat(plane: Arc<ControlPlane>, me: Advertised) {
    let interval = std::time::Duration::from_secs(HEARTBEAT_INTERVAL_S.unsigned_abs());
    let mut tick = tokio::time::interval(interval / SWEEPS_PER_INTERVAL);
    let mut cpu = CpuMeter::default();
    let mut changes = plane.store.changes();
    let mut round = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                sweep(&plane, &me, &mut cpu, round, changes.is_some());
                round += 1;
            }
            heard = next_change(&mut changes) => match heard {
                Ok(change) => on_change(&plane, &me, &mut cpu, change),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "missed some of the fleet's changes; resyncing");
                    end_streams_ended_elsewhere(&plane, plane.live.ids());
                }
                Err(RecvError::Closed) => changes = None,
            },
        }
    }
}

fn sweep(plane: &ControlPlane, me: &Advertised, cpu: &mut CpuMeter, round: u64, hearing: bool) {
    let now = plane.now();
    if round.is_multiple_of(u64::from(SWEEPS_PER_INTERVAL)) {
        beat(plane, me, cpu, now);
    }
    let silent_since = now - HEARTBEAT_INTERVAL_S * LOST_AFTER_INTERVALS;
    match plane.store.mark_lost_hosts(silent_since, now) {
        Ok(lost) => {
            for host in lost {
                tracing::warn!(%host, "a host of the fleet went silent: UNAVAILABLE, its sessions ended (host_lost)");
            }
        }
        Err(e) => tracing::warn!(error = %e, "sweeping for lost hosts"),
    }
    // Heard changes end streams at once; the resync is the safety net.
    if !hearing || round.is_multiple_of(RESYNC_EVERY_SWEEPS) {
        end_streams_ended_elsewhere(plane, plane.live.ids());
    }
}

async fn next_change(changes: &mut Option<Receiver<Change>>) -> Result<Change, RecvError> {
    match changes {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// A session this host streams ended elsewhere: end it now. The catalog
/// changed: beat now, so placement sees what this host runs.
fn on_change(plane: &ControlPlane, me: &Advertised, cpu: &mut CpuMeter, change: Change) {
    match change {
        Change::Session {
            id,
            state: SessionState::Terminated,
            ..
        } if plane.live.ids().contains(&id) => end_streams_ended_elsewhere(plane, vec![id]),
        Change::Session {
            id,
            state: SessionState::Pending,
            host: Some(host),
        } if host == me.id => tracing::debug!(session = %id, "a session was placed on this host"),
        Change::Table(table) if table == "applications" => beat(plane, me, cpu, plane.now()),
        _ => {}
    }
}

/// A stream this host runs whose session the database has ended (another
/// host's API terminated it, or the fleet took this host for lost) ends
/// here too.
fn end_streams_ended_elsewhere(plane: &ControlPlane, running: Vec<String>) {
    if running.is_empty() {
        return;
    }
    match plane.store.ended_among(&running) {
        Ok(ended) => {
            for (id, reason) in ended {
                let why = match reason.as_deref() {
                    Some("admin_terminated") => EndReason::AdminTerminated,
                    _ => EndReason::HostShutdown,
                };
                tracing::info!(session = %id, ?reason, "the session was ended elsewhere in the fleet");
                plane.live.end(&id, why);
            }
        }
        Err(e) => tracing::warn!(error = %e, "checking the streams against the database"),
    }
}

fn beat(plane: &ControlPlane, me: &Advertised, cpu: &mut CpuMeter, now: i64) {
    let beat = Heartbeat {
        id: me.id.clone(),
        address: me.address.clone(),
        fingerprint: hex::encode(me.fingerprint),
        max_sessions: me.max_sessions,
        live_sessions: u32::try_from(plane.live.count()).unwrap_or(u32::MAX),
        cpu_pct: cpu.sample(),
        applications: runnable_applications(plane),
    };
    if let Err(e) = plane.store.heartbeat(&beat, now) {
        tracing::warn!(error = %e, "heartbeat not recorded");
    }
}

/// The entitlement URL of a session placed on `host`.
pub fn stream_url(host: &HostInfo, token: String) -> Result<StreamUrl, String> {
    let (name, port) = host.address.rsplit_once(':').ok_or_else(|| {
        format!(
            "host {} advertises {:?}, not HOST:PORT",
            host.id, host.address
        )
    })?;
    let port = port
        .parse()
        .map_err(|_| format!("host {} advertises a bad port: {:?}", host.id, host.address))?;
    let fingerprint = common::stream_url::parse_fingerprint(&host.fingerprint)
        .map_err(|e| format!("host {}'s fingerprint: {e}", host.id))?;
    Ok(StreamUrl {
        host: name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        token,
        fingerprint,
    })
}

/// The catalog's applications this host's allowed commands cover (those
/// without a command stream the synthetic pattern anywhere).
fn runnable_applications(plane: &ControlPlane) -> Vec<String> {
    match plane.store.applications() {
        Ok(apps) => apps
            .into_iter()
            .filter(|app| app.command.is_empty() || plane.commands.check(&app.command).is_ok())
            .map(|app| app.name)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the catalog for the heartbeat");
            Vec::new()
        }
    }
}
