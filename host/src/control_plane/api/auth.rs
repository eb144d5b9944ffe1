//! Every API request: read the signed headers and the body, check the
//! signature, the date, the nonce and the key, evaluate the principal's
//! policies for the route's action and resource, and write the decision to
//! the audit log. Handlers only run for allowed requests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::policy::Decision;
use common::signing::{self, SignedParts, SigningError};

use super::error::ApiError;
use super::routes::{RouteParams, action_and_resource};
use crate::control_plane::store::{AccessKey, AuditEntry, StoreError};
use crate::control_plane::{CallContext, ControlPlane};

/// Checked against when a request names no existing key (never matches
/// anything that matters: the request is refused either way).
const UNKNOWN_KEY_SECRET: &str = "no such key";

/// Request bodies above this are refused before they are read whole.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The route whose body may be as large as an icon.
const ICON_ROUTE: &str = "/api/applications/{app}/icon";

/// A request made in-process by the web console for its signed-in user:
/// evaluated as that user with MFA present. Only in-process code can put
/// it on a request (extensions never come from the network).
#[derive(Debug, Clone)]
pub struct ConsoleCaller {
    pub user: String,
}

/// Who is calling; handlers read it from the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: String,
    pub key_id: String,
}

pub async fn authenticate(
    State(plane): State<Arc<ControlPlane>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let matched = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let mut audit = AuditEntry {
        at: plane.now(),
        source_ip: source_ip.map(|ip| ip.to_string()),
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        ..Default::default()
    };

    // Only an icon upload is bigger than a JSON body.
    let limit = if matched == ICON_ROUTE {
        crate::control_plane::icons::MAX_ICON_BYTES as usize
    } else {
        MAX_BODY_BYTES
    };
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            let error = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {limit} bytes"),
            );
            return finish(&plane, audit, "refused", error.into_response());
        }
    };
    let params = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(raw) => RouteParams::from_captures(raw.iter()),
        Err(e) => Err(e.body_text()),
    };
    let params = match params {
        Ok(params) => params,
        Err(why) => {
            // No such name can exist: the same 404 a missing one gets.
            let error = ApiError::not_found(format!("no such resource: {why}"));
            audit.reason = Some(error.reason.clone());
            return finish(&plane, audit, "refused", error.into_response());
        }
    };
    let (action, resource) = action_and_resource(&parts.method, &matched, &params, &body);
    audit.action = Some(action.to_string());
    audit.resource = Some(resource.clone());

    // The console's in-process calls carry its signed-in user (MFA shown);
    // every other request is signed with an access key.
    let console = parts.extensions.get::<ConsoleCaller>().cloned();
    let (key, mfa_present) = match console {
        Some(console) => (console_key(console), Some(true)),
        None => match verify_signature(&plane, &parts.method, &parts.uri, &parts.headers, &body) {
            // Access keys carry no aws:MultiFactorAuthPresent at all (as in IAM).
            Ok(key) => (key, None),
            Err(error) => {
                audit.reason = Some(error.audit_reason());
                return finish(&plane, audit, "unauthenticated", error.into_response());
            }
        },
    };
    audit.principal = Some(key.principal.clone());
    audit.key_id = Some(key.key_id.clone());

    let context = CallContext {
        source_ip,
        mfa_present,
        secure_transport: true,
    };
    let explanation = match plane.authorize(&key.principal, action, &resource, context) {
        Ok(explanation) => explanation,
        Err(e) => return finish(&plane, audit, "error", ApiError::from(e).into_response()),
    };
    match explanation.decision {
        Decision::Allow => {}
        decision => {
            let why = match (decision, &explanation.sid) {
                (Decision::ExplicitDeny, Some(by)) => format!("explicitly denied by {by}"),
                (Decision::ExplicitDeny, None) => "explicitly denied".to_string(),
                _ => "no attached policy allows it".to_string(),
            };
            let error = ApiError::forbidden(
                "access_denied",
                format!(
                    "{} may not perform {action} on {resource}: {why}",
                    key.principal
                ),
            );
            audit.reason = Some(error.reason.clone());
            return finish(&plane, audit, "deny", error.into_response());
        }
    }
    audit.reason = explanation.sid.map(|by| format!("allowed by {by}"));
    parts.extensions.insert(Caller {
        principal: key.principal,
        key_id: key.key_id,
    });
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    finish(&plane, audit, "allow", response)
}

/// The console's caller as the key the audit log names (`console`).
fn console_key(caller: ConsoleCaller) -> AccessKey {
    AccessKey {
        key_id: "console".into(),
        principal: caller.user,
        secret: String::new(),
        active: true,
        created_at: 0,
        expires_at: None,
        session_token: None,
    }
}

fn finish(
    plane: &ControlPlane,
    mut audit: AuditEntry,
    decision: &str,
    response: Response,
) -> Response {
    audit.decision = decision.to_string();
    audit.status = response.status().as_u16();
    if let Err(e) = plane.store.audit(&audit) {
        tracing::error!(error = %e, "cannot write the audit log");
    }
    if decision != "allow" {
        tracing::info!(
            principal = audit.principal.as_deref().unwrap_or("-"),
            action = audit.action.as_deref().unwrap_or("-"),
            status = audit.status,
            reason = audit.reason.as_deref().unwrap_or("-"),
            "API request refused"
        );
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| signing_error(SigningError::MissingHeader(name)))
}

fn signing_error(e: SigningError) -> ApiError {
    let code = match e {
        SigningError::MissingHeader(_) => "missing_credentials",
        SigningError::MalformedAuthorization
        | SigningError::MalformedDate(_)
        | SigningError::MalformedNonce => "malformed_credentials",
        SigningError::StaleDate { .. } => "stale_request",
        SigningError::BadSignature => return invalid_credentials("the signature does not match"),
        SigningError::Replay => "replayed_request",
        // Not the caller's fault: the host is at capacity until nonces age out.
        SigningError::ReplayCacheFull => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return ApiError::new(status, "replay_cache_full", e.to_string()).retry_after(60);
        }
    };
    ApiError::unauthorized(code, e.to_string())
}

/// One answer for an unknown, deactivated or expired key, a bad signature
/// or session token alike, so a caller learns nothing about which key ids
/// exist; the audit log keeps `detail`.
fn invalid_credentials(detail: impl Into<String>) -> ApiError {
    ApiError::unauthorized(
        "invalid_credentials",
        "the request's credentials are not valid (unknown, inactive or expired key, or a wrong signature)",
    )
    .with_audit_detail(detail)
}

/// Checks everything about the signature; returns the key that signed.
fn verify_signature(
    plane: &ControlPlane,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<AccessKey, ApiError> {
    let authorization =
        signing::parse_authorization(header(headers, "authorization")?).map_err(signing_error)?;
    let date = header(headers, signing::DATE_HEADER)?;
    let nonce = header(headers, signing::NONCE_HEADER)?;
    signing::check_nonce(nonce).map_err(signing_error)?;
    let now = plane.now();
    let date_unix_s = signing::parse_date(date).map_err(signing_error)?;
    signing::check_skew(date_unix_s, now).map_err(signing_error)?;

    let parts = SignedParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        date,
        nonce,
        body,
    };
    let key = match plane.store.key(&authorization.key_id) {
        Ok(key) => key,
        Err(StoreError::NotFound(_)) => {
            // The same work as for a key that exists, so the answer's timing
            // does not tell which key ids do.
            let _ = signing::verify(UNKNOWN_KEY_SECRET, &parts, &authorization.signature_hex);
            return Err(invalid_credentials(format!(
                "access key {} does not exist",
                authorization.key_id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !signing::verify(&key.secret, &parts, &authorization.signature_hex) {
        return Err(signing_error(SigningError::BadSignature));
    }
    if !key.active {
        return Err(invalid_credentials(format!(
            "access key {} is deactivated",
            key.key_id
        )));
    }
    if let Some(expires_at) = key.expires_at
        && expires_at <= now
    {
        return Err(invalid_credentials(format!(
            "temporary access key {} has expired",
            key.key_id
        )));
    }
    if let Some(expected) = &key.session_token {
        let presented = headers
            .get(signing::SESSION_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok());
        // Comparing digests, not the tokens, keeps the timing independent
        // of how much of a guessed token is right.
        let matches = presented.is_some_and(|p| {
            crate::control_plane::store::token_hash(p)
                == crate::control_plane::store::token_hash(expected)
        });
        if !matches {
            return Err(invalid_credentials(
                "temporary credentials without their X-Session-Token",
            ));
        }
    }
    match plane.store.principal(&key.principal) {
        Ok(p) if p.enabled => {}
        Ok(_) => {
            return Err(ApiError::forbidden(
                "principal_disabled",
                format!("{} is disabled", key.principal),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // Only a correctly signed request may use up a nonce.
    if plane.guards.shared {
        let id = signing::nonce_id_hex(&key.key_id, nonce);
        if !plane
            .store
            .claim_nonce(&id, now, now - signing::REPLAY_WINDOW_S)?
        {
            return Err(signing_error(SigningError::Replay));
        }
    } else {
        plane
            .nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check_and_insert(&key.key_id, nonce, now)
            .map_err(signing_error)?;
    }
    Ok(key)
}
