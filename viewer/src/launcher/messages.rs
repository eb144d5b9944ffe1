//! The messages between the launcher's parts: the user's [`Action`]s, the
//! worker's [`Request`]s and [`Reply`]s, discovery's [`Discovery`] events,
//! the stream process's [`StreamEvent`]s, and the [`Effect`]s the state asks
//! the glue to carry out. Plain data: no behaviour here.

use super::credentials::{Remembered, Secret};
use super::failure::{Failure, StreamEnding};
use super::hosts::SavedHost;

/// Matches a worker reply to the request that asked for it; a reply to a
/// request the user has since walked away from is dropped.
pub type Ticket = u64;

/// A host found on the LAN (mDNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredHost {
    /// The DNS-SD instance's full name: its identity while it is advertised.
    pub fullname: String,
    pub host: SavedHost,
    pub protocol_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    Found(DiscoveredHost),
    Lost {
        fullname: String,
    },
    /// Browsing is impossible here (no multicast); said once, in grey.
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEntry {
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add the host typed into the add-host form.
    AddHost,
    /// A saved host, by fingerprint.
    ChooseHost(String),
    /// A discovered host, by full name.
    ChooseDiscovered(String),
    RemoveHost(String),
    /// The answer to "does this fingerprint match?".
    Trust(bool),
    SubmitSignIn,
    SignOut,
    BackToHosts,
    Launch(String),
    ReloadApps,
    OpenSettings,
    CloseSettings,
}

/// Network work for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Connect once and report the certificate presented (trust on first use).
    Probe {
        ticket: Ticket,
        address: String,
        port: u16,
    },
    SignIn {
        ticket: Ticket,
        host: SavedHost,
        user: String,
        password: Secret,
        totp: Option<String>,
        remember: bool,
    },
    Refresh {
        ticket: Ticket,
        host: SavedHost,
        user: String,
        refresh_token: Secret,
    },
    /// The applications, then their icons ([`Reply::Icon`]).
    ListApps {
        ticket: Ticket,
        host: SavedHost,
    },
    Entitle {
        ticket: Ticket,
        host: SavedHost,
        app: String,
    },
    SignOut {
        host: SavedHost,
        refresh_token: Option<Secret>,
    },
    ListAudioDevices,
}

/// An application icon, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconImage {
    pub size: [usize; 2],
    pub rgba: Vec<u8>,
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Probed {
        ticket: Ticket,
        presented_hex: String,
    },
    SignedIn {
        ticket: Ticket,
        user: String,
        /// With "remember me" (or after a refresh): the new refresh token.
        remembered: Option<Remembered>,
    },
    /// The worker refreshed an expired sign-in on its own: keep the new token.
    Rotated {
        fingerprint_hex: String,
        remembered: Remembered,
    },
    Applications {
        ticket: Ticket,
        apps: Vec<AppEntry>,
    },
    Icon {
        fingerprint_hex: String,
        app: String,
        icon: IconImage,
    },
    Entitled {
        ticket: Ticket,
        app: String,
        url: Secret,
    },
    AudioDevices(Vec<String>),
    Failed {
        ticket: Ticket,
        failure: Failure,
    },
}

/// What the stream process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Its stderr says it is connected.
    Connected,
    /// It exited; its last stdout line, parsed, if it said why.
    Ended {
        ending: Option<StreamEnding>,
        exit: String,
    },
    CouldNotStart(String),
}

/// What the glue must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send(Request),
    SpawnStream {
        app: String,
        url: Secret,
    },
    SaveHosts,
    SaveCredentials,
    SaveSettings,
    /// Another host: drop the icons of the previous one.
    ForgetIcons,
}
