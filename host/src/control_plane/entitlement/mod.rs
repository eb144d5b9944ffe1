//! The entitlement service: its own user directory (argon2id passwords,
//! optional TOTP, who may start what), sign-in with throttling, and
//! "entitle me": it calls the host's CreateSession with its own access key
//! (least privilege) and hands the viewer the single-use entitlement URL.
//! "Remember me" refresh tokens and sign-out are in `remember`, application
//! icons (proxied from the host's API) in `icon`.
//! Embedded in `host serve` by default; `host entitlement` runs it alone
//! against a remote host's API.

mod icon;
pub mod password_pool;
/// Moved up (the API, the console and the admin commands use it too).
pub use crate::control_plane::passwords;
mod remember;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::api::{EntitledApplication, EntitledApplications, Entitlement, SignIn, validate_name};
use common::client::{ApiClient, ClientError};

use crate::clock::Clock;
use crate::control_plane::api::error::{ApiError, parse_body};
use crate::control_plane::store::{AuditEntry, Store, StoreError, token_hash};
use throttle::{Refusal, Reservation, Throttle};

/// How long a sign-in waits for attempts in flight from the same user or
/// address before it is answered `busy`.
const SATURATED_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Bodies of the entitlement service are small JSON documents.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct EntitlementService {
    pub directory: Arc<dyn Store>,
    pub api: ApiClient,
    pub clock: Arc<dyn Clock>,
    throttle: Mutex<Throttle>,
    /// Hosts share the directory (a fleet): sign-in failures are counted
    /// in it, so a guess spread over hosts is throttled as on one.
    shared_guards: bool,
    /// Told whenever a reserved attempt resolves.
    resolved: tokio::sync::Notify,
    passwords: password_pool::PasswordChecker,
}

impl std::fmt::Debug for EntitlementService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntitlementService")
            .field("api_key", &self.api.key_id())
            .finish_non_exhaustive()
    }
}

impl EntitlementService {
    pub fn new(
        directory: Arc<dyn Store>,
        api: ApiClient,
        clock: Arc<dyn Clock>,
        shared_guards: bool,
    ) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            directory,
            api,
            clock,
            throttle: Mutex::new(Throttle::default()),
            shared_guards,
            resolved: tokio::sync::Notify::new(),
            passwords: password_pool::PasswordChecker::new(
                password_pool::DEFAULT_WORKERS,
                password_pool::DEFAULT_QUEUE,
            )?,
        }))
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves a sign-in attempt; while the allowance is taken by attempts
    /// in flight, waits (a bounded time) for one of them to resolve.
    async fn reserve_attempt(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Attempt<'_>, Refusal> {
        let deadline = tokio::time::Instant::now() + SATURATED_WAIT;
        loop {
            let resolved = self.resolved.notified();
            let now = self.clock.now_unix_s();
            self.adopt_shared_failures(Some(user), address, now);
            match self.throttle().reserve(user, address, now) {
                Err(Refusal::Saturated) => {}
                Err(refusal) => return Err(refusal),
                Ok(reservation) => {
                    return Ok(Attempt {
                        service: self,
                        reservation: Some(reservation),
                    });
                }
            }
            if tokio::time::timeout_at(deadline, resolved).await.is_err() {
                return Err(Refusal::Saturated);
            }
        }
    }

    /// In a fleet: the failures every host saw of these subjects, in place
    /// of this host's own count.
    fn adopt_shared_failures(&self, user: Option<&str>, address: Option<IpAddr>, now: i64) {
        if !self.shared_guards {
            return;
        }
        let keys = Throttle::shared_keys(user, address);
        match self
            .directory
            .signin_failures(&keys, now - throttle::WINDOW_S)
        {
            Ok(failures) => self.throttle().adopt_shared(user, address, &failures),
            Err(e) => tracing::warn!(error = %e, "reading the fleet's sign-in failures"),
        }
    }

    /// In a fleet: a failure every host will count.
    fn share_failure(&self, user: Option<&str>, address: Option<IpAddr>, now: i64) {
        if !self.shared_guards {
            return;
        }
        let keys = Throttle::shared_keys(user, address);
        if let Err(e) = self
            .directory
            .record_signin_failure(&keys, now, now - throttle::WINDOW_S)
        {
            tracing::warn!(error = %e, "recording a sign-in failure for the fleet");
        }
    }

    /// In a fleet: a good sign-in clears the user's record on every host.
    fn share_success(&self, user: &str) {
        if !self.shared_guards {
            return;
        }
        for key in Throttle::shared_keys(Some(user), None) {
            if let Err(e) = self.directory.clear_signin_failures(&key) {
                tracing::warn!(error = %e, "clearing the fleet's sign-in failures");
            }
        }
    }

    /// Resolves a reservation and wakes the attempts waiting for one.
    fn resolve(&self, resolution: impl FnOnce(&mut Throttle)) {
        resolution(&mut self.throttle());
        self.resolved.notify_waiters();
    }

    /// One audit line per sign-in, refresh or sign-out attempt (`outcome`
    /// like `signin_ok`, `refresh_failed`); `user` when known.
    pub fn audit(
        &self,
        user: Option<&str>,
        address: Option<IpAddr>,
        path: &str,
        outcome: &str,
        status: u16,
    ) {
        let action = match path {
            "/entitlement/refresh" => "entitlement:Refresh",
            "/entitlement/signout" => "entitlement:SignOut",
            "/console/enrol" => "console:Enrol",
            p if p.starts_with("/console") => "console:SignIn",
            _ => "entitlement:SignIn",
        };
        let entry = AuditEntry {
            at: self.clock.now_unix_s(),
            principal: user.map(str::to_string),
            source_ip: address.map(|a| a.to_string()),
            method: "POST".into(),
            path: path.into(),
            action: Some(action.into()),
            decision: outcome.into(),
            status,
            ..Default::default()
        };
        if let Err(e) = self.directory.audit(&entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// A reserved sign-in attempt; released if the request is dropped before
/// it resolves (the client went away, the request deadline passed).
struct Attempt<'a> {
    service: &'a EntitlementService,
    reservation: Option<Reservation>,
}

impl Attempt<'_> {
    fn resolve(mut self, resolution: impl FnOnce(&mut Throttle, Reservation)) {
        if let Some(reservation) = self.reservation.take() {
            self.service.resolve(|t| resolution(t, reservation));
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            self.service.resolve(|t| t.release(reservation));
        }
    }
}

pub fn router(service: Arc<EntitlementService>) -> Router {
    Router::new()
        .route("/entitlement/signin", post(sign_in))
        .route("/entitlement/refresh", post(remember::refresh))
        .route("/entitlement/signout", post(remember::sign_out))
        .route("/entitlement/applications", get(applications))
        .route("/entitlement/applications/{app}/entitle", post(entitle))
        .route("/entitlement/applications/{app}/icon", get(icon::icon))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

type Service = State<Arc<EntitlementService>>;

fn wrong_credentials() -> ApiError {
    ApiError::unauthorized("wrong_password", "wrong user name or password")
}

fn source(connect: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    connect.map(|Extension(ConnectInfo(peer))| peer.ip())
}

fn busy() -> ApiError {
    too_many_requests(
        "busy",
        "the host is checking many sign-ins right now; try again in a second".into(),
        1,
    )
}

fn too_many_requests(code: &'static str, reason: String, retry_after_s: i64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, reason).retry_after(retry_after_s)
}

async fn sign_in(
    State(service): Service,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SignIn = parse_body(&body)?;
    let address = source(connect);
    let now = service.clock.now_unix_s();
    let path = "/entitlement/signin";
    let checked = service
        .check_sign_in(
            &request.user,
            request.password,
            request.totp.as_deref(),
            address,
            path,
        )
        .await;
    let mfa = checked.map_err(|refused| match refused {
        SignInRefused::Throttled { retry_after_s } => too_many_requests(
            "throttled",
            format!("too many failed sign-ins; try again in {retry_after_s} s"),
            retry_after_s,
        ),
        SignInRefused::Busy => busy(),
        SignInRefused::WrongPassword => wrong_credentials(),
        SignInRefused::TotpRequired => ApiError::unauthorized(
            "totp_required",
            "this account needs the 6-digit code from its authenticator app",
        ),
        SignInRefused::WrongTotp => ApiError::unauthorized(
            "wrong_totp",
            "the authenticator code is wrong, too old or already used",
        ),
        SignInRefused::Store(e) => e.into(),
    })?;
    let signed_in = remember::issue(
        &service,
        request.user,
        mfa,
        remember::Remember::asked(request.remember),
        now,
    )?;
    service.audit(Some(&signed_in.user), address, path, "signin_ok", 200);
    tracing::info!(user = %signed_in.user, mfa, remember = request.remember, "signed in");
    Ok(Json(signed_in).into_response())
}

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum SignInRefused {
    /// Too many failures: wait this long.
    Throttled {
        retry_after_s: i64,
    },
    /// Too many checks in flight.
    Busy,
    /// Wrong user name or password (not told apart).
    WrongPassword,
    /// The password was right; the account also needs its TOTP code.
    TotpRequired,
    /// The code was wrong, too old or used already.
    WrongTotp,
    Store(StoreError),
}

impl EntitlementService {
    /// Checks a user's password, and TOTP code when the account has TOTP,
    /// under the sign-in throttle; failures are audited under `path`.
    /// Returns whether a second factor was shown (MFA present).
    pub async fn check_sign_in(
        &self,
        user: &str,
        password: String,
        totp: Option<&str>,
        address: Option<IpAddr>,
        path: &str,
    ) -> Result<bool, SignInRefused> {
        let now = self.clock.now_unix_s();
        // Counted before argon2 runs: concurrent attempts cannot all get in.
        let attempt = match self.reserve_attempt(user, address).await {
            Ok(attempt) => attempt,
            Err(refusal) => {
                let (outcome, refused) = match refusal {
                    Refusal::Throttled { retry_after_s } => (
                        "signin_throttled",
                        SignInRefused::Throttled { retry_after_s },
                    ),
                    Refusal::Saturated => ("signin_busy", SignInRefused::Busy),
                };
                self.audit(Some(user), address, path, outcome, 429);
                return Err(refused);
            }
        };
        let credentials = if validate_name("user", user).is_ok() {
            match self.directory.credentials(user) {
                Ok(c) if c.enabled => Some(c),
                Ok(_) | Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(SignInRefused::Store(e)),
            }
        } else {
            None
        };
        let stored_hash = credentials
            .as_ref()
            .and_then(|c| c.password_hash.clone())
            .unwrap_or_else(|| passwords::dummy_hash().to_string());
        let password_ok = match self.passwords.verify(password, stored_hash).await {
            Ok(ok) => ok,
            Err(password_pool::Busy) => {
                attempt.resolve(Throttle::release);
                self.audit(Some(user), address, path, "signin_busy", 429);
                return Err(SignInRefused::Busy);
            }
        };
        let Some(credentials) = credentials.filter(|_| password_ok) else {
            attempt.resolve(|t, r| t.failed(r, now));
            self.share_failure(Some(user), address, now);
            self.audit(Some(user), address, path, "signin_failed", 401);
            return Err(SignInRefused::WrongPassword);
        };
        let mfa = match (&credentials.totp_secret_base32, totp) {
            (None, _) => false,
            (Some(_), None) => {
                // The password was right: not a failure, but no sign-in either.
                attempt.resolve(Throttle::release);
                return Err(SignInRefused::TotpRequired);
            }
            (Some(secret), Some(code)) => {
                // A code works once: its step is claimed, so a code seen on the
                // wire (or over a shoulder) cannot sign in again.
                let claimed = match passwords::totp_step(secret, code, now) {
                    Some(step) => self
                        .directory
                        .claim_totp_step(user, step)
                        .map_err(SignInRefused::Store)?,
                    None => false,
                };
                if !claimed {
                    attempt.resolve(|t, r| t.failed(r, now));
                    self.share_failure(Some(user), address, now);
                    self.audit(Some(user), address, path, "signin_failed_totp", 401);
                    return Err(SignInRefused::WrongTotp);
                }
                true
            }
        };
        attempt.resolve(Throttle::succeeded);
        self.share_success(user);
        Ok(mfa)
    }
}

/// The `Bearer` token of a request, if it has one.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The signed-in user behind a `Bearer` token.
fn bearer_user(service: &EntitlementService, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer_token(headers)
        .ok_or_else(|| ApiError::unauthorized("not_signed_in", "sign in first"))?;
    match service
        .directory
        .signin_token(&token_hash(token), service.clock.now_unix_s())?
    {
        Some((user, _mfa)) => Ok(user),
        None => Err(ApiError::unauthorized(
            "not_signed_in",
            "the sign-in expired or is unknown; sign in again",
        )),
    }
}

fn api_failure(e: ClientError) -> ApiError {
    match e {
        ClientError::Api {
            status,
            code,
            reason,
        } if status == 409 || status == 404 => {
            let code = match code.as_str() {
                "application_disabled" => "application_disabled",
                "application_full" => "application_full",
                "too_many_pending" => "too_many_pending",
                _ => "not_found",
            };
            ApiError::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                code,
                reason,
            )
        }
        other => {
            tracing::warn!(error = %other, "the host's API refused or failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "host_unreachable",
                format!("the host's API failed: {other}"),
            )
        }
    }
}

async fn applications(State(service): Service, headers: HeaderMap) -> Result<Response, ApiError> {
    let user = bearer_user(&service, &headers)?;
    let mut applications = Vec::new();
    for name in service.directory.entitlements(&user)? {
        match service.api.application(&name).await {
            Ok(app) => applications.push(EntitledApplication {
                name: app.name,
                description: app.description,
                state: app.state,
                icon: app.icon,
            }),
            Err(ClientError::Api { status: 404, .. }) => continue,
            Err(e) => return Err(api_failure(e)),
        }
    }
    Ok(Json(EntitledApplications { applications }).into_response())
}

/// Refuses users not entitled to `app`.
fn check_entitled(service: &EntitlementService, user: &str, app: &str) -> Result<(), ApiError> {
    if service
        .directory
        .entitlements(user)?
        .iter()
        .any(|a| a == app)
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "not_entitled",
            format!("{user} is not entitled to {app}"),
        ))
    }
}

async fn entitle(
    State(service): Service,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let user = bearer_user(&service, &headers)?;
    check_entitled(&service, &user, &app)?;
    let created = service
        .api
        .create_session(&app, &user, None)
        .await
        .map_err(api_failure)?;
    tracing::info!(%user, application = %app, session = %created.session.id, "entitled");
    Ok(Json(Entitlement {
        url: created.entitlement_url,
        session_id: created.session.id,
        expires_at: created.session.expires_at,
    })
    .into_response())
}
