//! The entitlement service: its own user directory (argon2id passwords,
//! optional TOTP, who may start what), sign-in with throttling, and
//! "entitle me": it calls the host's CreateSession with its own access key
//! (least privilege) and hands the viewer the single-use entitlement URL.
//! Embedded in `host serve` by default; `host entitlement` runs it alone
//! against a remote host's API.

pub mod passwords;
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
use common::api::{
    EntitledApplication, EntitledApplications, Entitlement, SignIn, SignedIn, validate_name,
};
use common::client::{ApiClient, ClientError};
use rand::RngCore;

use crate::api::error::{ApiError, parse_body};
use crate::clock::Clock;
use crate::store::{AuditEntry, Store, StoreError, token_hash};
use throttle::Throttle;

/// How long a sign-in lasts ("remember me" keeps this token, never the password).
pub const SIGNIN_TOKEN_TTL_S: i64 = 12 * 3600;

pub struct EntitlementService {
    pub directory: Arc<dyn Store>,
    pub api: ApiClient,
    pub clock: Arc<dyn Clock>,
    throttle: Mutex<Throttle>,
}

impl std::fmt::Debug for EntitlementService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntitlementService")
            .field("api_key", &self.api.key_id())
            .finish_non_exhaustive()
    }
}

impl EntitlementService {
    pub fn new(directory: Arc<dyn Store>, api: ApiClient, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            directory,
            api,
            clock,
            throttle: Mutex::new(Throttle::default()),
        })
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn audit(&self, user: &str, address: Option<IpAddr>, path: &str, outcome: &str, status: u16) {
        let entry = AuditEntry {
            at: self.clock.now_unix_s(),
            principal: Some(user.to_string()),
            source_ip: address.map(|a| a.to_string()),
            method: "POST".into(),
            path: path.into(),
            action: Some("entitlement:SignIn".into()),
            decision: outcome.into(),
            status,
            ..Default::default()
        };
        if let Err(e) = self.directory.audit(&entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

pub fn router(service: Arc<EntitlementService>) -> Router {
    Router::new()
        .route("/entitlement/signin", post(sign_in))
        .route("/entitlement/applications", get(applications))
        .route("/entitlement/applications/{app}/entitle", post(entitle))
        .with_state(service)
}

type Service = State<Arc<EntitlementService>>;

fn wrong_credentials() -> ApiError {
    ApiError::unauthorized("wrong_password", "wrong user name or password")
}

fn source(connect: Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    connect.map(|Extension(ConnectInfo(peer))| peer.ip())
}

async fn sign_in(
    State(service): Service,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SignIn = parse_body(&body)?;
    let address = source(connect);
    let now = service.clock.now_unix_s();
    let user = request.user.clone();
    if let Err(retry_after_s) = service.throttle().check(&user, address, now) {
        service.audit(
            &user,
            address,
            "/entitlement/signin",
            "signin_throttled",
            429,
        );
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!("too many failed sign-ins; try again in {retry_after_s} s"),
        ));
    }
    let credentials = if validate_name("user", &user).is_ok() {
        match service.directory.credentials(&user) {
            Ok(c) if c.enabled => Some(c),
            Ok(_) | Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    // argon2 takes tens of milliseconds: off the async workers.
    let stored_hash = credentials
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| passwords::dummy_hash().to_string());
    let password = request.password;
    let password_ok =
        tokio::task::spawn_blocking(move || passwords::verify_password(&password, &stored_hash))
            .await
            .unwrap_or(false);
    let Some(credentials) = credentials.filter(|_| password_ok) else {
        service.throttle().record_failure(&user, address, now);
        service.audit(&user, address, "/entitlement/signin", "signin_failed", 401);
        return Err(wrong_credentials());
    };
    let mfa = match (&credentials.totp_secret_base32, &request.totp) {
        (None, _) => false,
        (Some(_), None) => {
            return Err(ApiError::unauthorized(
                "totp_required",
                "this account needs the 6-digit code from its authenticator app",
            ));
        }
        (Some(secret), Some(code)) => {
            if !passwords::verify_totp(secret, code, now) {
                service.throttle().record_failure(&user, address, now);
                service.audit(
                    &user,
                    address,
                    "/entitlement/signin",
                    "signin_failed_totp",
                    401,
                );
                return Err(ApiError::unauthorized(
                    "wrong_totp",
                    "the authenticator code is wrong or too old",
                ));
            }
            true
        }
    };
    service.throttle().record_success(&user);
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let expires_at = now + SIGNIN_TOKEN_TTL_S;
    service
        .directory
        .store_signin_token(&token_hash(&token), &user, mfa, expires_at)?;
    service.audit(&user, address, "/entitlement/signin", "signin_ok", 200);
    tracing::info!(%user, mfa, "signed in");
    Ok(Json(SignedIn {
        token,
        expires_at: common::signing::format_date(expires_at),
        user,
        mfa,
    })
    .into_response())
}

/// The signed-in user behind a `Bearer` token.
fn bearer_user(service: &EntitlementService, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("not_signed_in", "sign in first"))?;
    match service
        .directory
        .signin_token(&token_hash(token.trim()), service.clock.now_unix_s())?
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

async fn entitle(
    State(service): Service,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let user = bearer_user(&service, &headers)?;
    if !service.directory.entitlements(&user)?.contains(&app) {
        return Err(ApiError::forbidden(
            "not_entitled",
            format!("{user} is not entitled to {app}"),
        ));
    }
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
