//! The control plane: the store, the policies, the HTTPS API, the
//! entitlement service, the admin commands, and the guards of the host's
//! HTTPS port.
//!
//! This module holds its shared state: the store, the clock, the replay cache,
//! the running streams, and the pieces every front end (API, entitlement
//! service, admin commands, the stream's hello) asks: "who may do what" and
//! "redeem this entitlement".

pub mod admin;
pub mod allowed_commands;
pub mod api;
pub mod bootstrap;
pub mod connection_limits;
pub mod console;
pub mod entitlement;
pub mod fleet;
pub mod guards;
pub mod icons;
pub mod live;
pub mod machine_role;
pub mod passwords;
pub mod store;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::api::{Application, Session};
use common::policy::{Explanation, Policy, RequestContext};
use common::signing::NonceCache;
use common::stream_url::StreamUrl;

use crate::clock::Clock;
use crate::control_plane::allowed_commands::CommandPolicy;
use crate::control_plane::guards::Guards;
use crate::control_plane::live::LiveSessions;
use crate::control_plane::store::{RedeemError, Store, StoreResult, token_hash};

pub struct ControlPlane {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub nonces: Mutex<NonceCache>,
    pub live: LiveSessions,
    /// Where entitlement URLs point (host, port, certificate fingerprint);
    /// the token is minted per session.
    pub stream_base: StreamUrl,
    /// The host's data directory, where application icon paths point;
    /// None: no icon files are served.
    pub data_dir: Option<PathBuf>,
    /// The owner's bounds on what clients may make the host hold.
    pub guards: Guards,
    /// Which commands applications may be given through the API.
    pub commands: CommandPolicy,
    /// This host's id in the fleet (`host serve` sets it): sessions
    /// redeemed here are recorded as streaming from it.
    pub host_id: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("stream_base", &self.stream_base.redacted())
            .finish_non_exhaustive()
    }
}

/// What a request is evaluated against besides action and resource.
#[derive(Debug, Clone, Copy)]
pub struct CallContext {
    pub source_ip: Option<IpAddr>,
    /// `aws:MultiFactorAuthPresent`; None: absent (long-term access keys).
    pub mfa_present: Option<bool>,
    pub secure_transport: bool,
}

impl ControlPlane {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, stream_base: StreamUrl) -> Arc<Self> {
        Self::build(
            store,
            clock,
            stream_base,
            None,
            Guards::default(),
            CommandPolicy::Any,
        )
    }

    /// The same, serving application icons from `data_dir`.
    pub fn with_data_dir(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stream_base: StreamUrl,
        data_dir: PathBuf,
    ) -> Arc<Self> {
        let (guards, commands) = (Guards::default(), CommandPolicy::Any);
        Self::serving(store, clock, stream_base, data_dir, guards, commands)
    }

    /// A host's control plane: icons from `data_dir`, the owner's guards
    /// and command policy.
    pub fn serving(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stream_base: StreamUrl,
        data_dir: PathBuf,
        guards: Guards,
        commands: CommandPolicy,
    ) -> Arc<Self> {
        Self::build(store, clock, stream_base, Some(data_dir), guards, commands)
    }

    fn build(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        stream_base: StreamUrl,
        data_dir: Option<PathBuf>,
        guards: Guards,
        commands: CommandPolicy,
    ) -> Arc<Self> {
        Arc::new(Self {
            nonces: Mutex::new(NonceCache::new(guards.replay_cache_capacity)),
            guards,
            commands,
            store,
            clock,
            live: LiveSessions::default(),
            stream_base,
            data_dir,
            host_id: std::sync::OnceLock::new(),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix_s()
    }

    /// Evaluates the principal's attached policies. A stored policy that no
    /// longer parses counts as absent (it was validated when put; this only
    /// guards against a hand-edited database) and is logged.
    pub fn authorize(
        &self,
        principal: &str,
        action: &str,
        resource: &str,
        context: CallContext,
    ) -> StoreResult<Explanation> {
        authorize(
            self.store.as_ref(),
            principal,
            action,
            resource,
            context,
            self.now(),
        )
    }

    /// Redeems an entitlement token: PENDING → ACTIVE.
    pub fn redeem(&self, token: &str) -> StoreResult<Result<(Session, Application), RedeemError>> {
        let hash = token_hash(token);
        if let Some(me) = self.host_id.get()
            && let Some(placed) = self.store.placed_host(&hash)?
            && placed != *me
        {
            // Placed elsewhere in the fleet: that host streams it.
            return Ok(Err(RedeemError::OtherHost));
        }
        let redeemed = self.store.redeem(&hash, self.now())?;
        if let (Ok((session, _)), Some(host)) = (&redeemed, self.host_id.get()) {
            // Where it streams: if this host goes silent, the fleet ends it.
            self.store.set_session_host(&session.id, host)?;
        }
        Ok(redeemed)
    }

    /// Records the end of a session (idempotent).
    pub fn session_ended(&self, session_id: &str, reason: &str) {
        self.live.unregister(session_id);
        if let Err(e) = self.store.terminate_session(session_id, reason, self.now()) {
            tracing::warn!(session = session_id, error = %e, "cannot record the session's end");
        }
    }
}

/// Policy evaluation for a principal, shared with `host policies simulate`.
pub fn authorize(
    store: &dyn Store,
    principal: &str,
    action: &str,
    resource: &str,
    context: CallContext,
    now: i64,
) -> StoreResult<Explanation> {
    let documents = store.attached_policies(principal)?;
    let (names, policies): (Vec<&String>, Vec<Policy>) = documents
        .iter()
        .filter_map(|(name, document)| match Policy::parse(document) {
            Ok(policy) => Some((name, policy)),
            Err(e) => {
                tracing::error!(policy = %name, error = %e, "stored policy does not parse; ignored");
                None
            }
        })
        .unzip();
    let request = RequestContext {
        action,
        resource,
        source_ip: context.source_ip,
        current_time_unix_s: now,
        mfa_present: context.mfa_present,
        secure_transport: context.secure_transport,
    };
    let mut explanation = common::policy::explain(&policies, &request);
    // Name the policy, not its index, for people reading the audit log.
    if let Some(index) = explanation.policy_index
        && let Some(name) = names.get(index)
    {
        explanation.sid = Some(match explanation.sid.take() {
            Some(sid) => format!("{name}/{sid}"),
            None => (*name).clone(),
        });
    }
    Ok(explanation)
}
