//! GetHosts: the hosts of a fleet sharing one control plane, as their
//! heartbeats last described them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HostState {
    Available,
    /// Silent for three heartbeat intervals: its sessions ended `host_lost`.
    Unavailable,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Available => "AVAILABLE",
            HostState::Unavailable => "UNAVAILABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Kept in the host's data directory: the same across restarts.
    pub id: String,
    /// Where viewers reach it (`--advertise`, else `--listen`).
    pub address: String,
    /// SHA-256 of its certificate, hex.
    pub fingerprint: String,
    pub state: HostState,
    /// `--max-sessions`: placement gives it no more.
    pub max_sessions: u32,
    pub live_sessions: u32,
    /// The machine's CPU use over the last interval, 0 to 100.
    pub cpu_pct: f64,
    /// The catalog's applications its allowed commands cover.
    pub applications: Vec<String>,
    /// RFC 3339.
    pub last_heartbeat: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostList {
    pub hosts: Vec<HostInfo>,
}
