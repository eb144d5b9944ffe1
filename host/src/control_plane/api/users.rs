//! Users through the API (what the console's Users page calls): GetUsers,
//! GetUser, CreateUser, SetUserPassword, EnableUserTotp (only with a code
//! that proves the authenticator has the key), DisableUserTotp,
//! UpdateUserState, EntitleUser, RevokeEntitlement; and AttachPolicy and
//! DetachPolicy, for roles too. The same store calls as `host users`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use common::api::{
    NewUser, PrincipalPolicies, UserInfo, UserList, UserPassword, UserStateChange, UserTotp,
    validate_name,
};

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use crate::control_plane::ControlPlane;
use crate::control_plane::passwords;
use crate::control_plane::store::{Principal, PrincipalKind, StoreError};

/// Passwords set through the API (and so the console) are at least this
/// long, as the console's enrolment asks.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// And at most this long (argon2 takes any length; a bound is a bound).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// A TOTP key in base32 is at most this long (160 bits are 32 characters).
const MAX_TOTP_SECRET_CHARS: usize = 128;

type Plane = State<Arc<ControlPlane>>;
type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Arc<ControlPlane>> {
    Router::new()
        .route("/api/users", get(get_users).post(create_user))
        .route("/api/users/{user}", get(get_user))
        .route("/api/users/{user}/password", put(set_password))
        .route(
            "/api/users/{user}/totp",
            put(enable_totp).delete(disable_totp),
        )
        .route("/api/users/{user}/state", put(update_state))
        .route(
            "/api/users/{user}/entitlements/{app}",
            put(entitle).delete(revoke_entitlement),
        )
        .route(
            "/api/principals/{principal}/policies/{name}",
            put(attach_policy).delete(detach_policy),
        )
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_value", reason)
}

/// The user named, or 404 in words (a role is not a user).
fn user(plane: &ControlPlane, name: &str) -> Result<Principal, ApiError> {
    match plane.store.principal(name) {
        Ok(p) if p.kind == PrincipalKind::User => Ok(p),
        Ok(_) => Err(ApiError::not_found(format!(
            "user {name} does not exist ({name} is a role)"
        ))),
        Err(StoreError::NotFound(_)) => {
            Err(ApiError::not_found(format!("user {name} does not exist")))
        }
        Err(e) => Err(e.into()),
    }
}

fn info(plane: &ControlPlane, p: Principal) -> Result<UserInfo, ApiError> {
    let entitlements = plane.store.entitlements(&p.name)?;
    let policies = policy_names(plane, &p.name)?;
    Ok(UserInfo {
        name: p.name,
        enabled: p.enabled,
        has_password: p.has_password,
        has_totp: p.has_totp,
        entitlements,
        policies,
    })
}

fn policy_names(plane: &ControlPlane, principal: &str) -> Result<Vec<String>, ApiError> {
    Ok(plane
        .store
        .attached_policies(principal)?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// The user as it is now, as the answer to a change.
fn answer(plane: &ControlPlane, name: &str) -> ApiResult {
    let user = info(plane, user(plane, name)?)?;
    Ok(Json(user).into_response())
}

/// Refuses a password that is empty, too short or too long, in words.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if password.trim().is_empty() {
        return Err(invalid("the password is empty"));
    }
    if chars < MIN_PASSWORD_CHARS {
        return Err(invalid(format!(
            "the password has {chars} characters; it needs at least {MIN_PASSWORD_CHARS}"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(invalid(format!(
            "the password has {chars} characters; at most {MAX_PASSWORD_CHARS} are taken"
        )));
    }
    Ok(())
}

/// argon2 (19 MiB, tens of milliseconds) off the async threads.
async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || passwords::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub async fn get_users(State(plane): Plane) -> ApiResult {
    let users = plane
        .store
        .principals()?
        .into_iter()
        .filter(|p| p.kind == PrincipalKind::User)
        .map(|p| info(&plane, p))
        .collect::<Result<_, _>>()?;
    Ok(Json(UserList { users }).into_response())
}

pub async fn get_user(State(plane): Plane, Path(name): Path<String>) -> ApiResult {
    answer(&plane, &name)
}

pub async fn create_user(State(plane): Plane, body: Bytes) -> ApiResult {
    let NewUser { name, password } = parse_body(&body)?;
    validate_name("user", &name).map_err(invalid)?;
    let hashed = match password {
        Some(password) => {
            check_password(&password)?;
            Some(hash(password).await?)
        }
        None => None,
    };
    plane
        .store
        .create_principal(&name, PrincipalKind::User, plane.now())
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a user or role named {name} already exists"),
            ),
            e => e.into(),
        })?;
    if let Some(hashed) = hashed {
        plane.store.set_password_hash(&name, &hashed)?;
    }
    tracing::info!(user = %name, "user created through the API");
    let user = info(&plane, user(&plane, &name)?)?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

pub async fn set_password(State(plane): Plane, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let UserPassword { password } = parse_body(&body)?;
    user(&plane, &name)?;
    check_password(&password)?;
    let hashed = hash(password).await?;
    plane.store.set_password_hash(&name, &hashed)?;
    tracing::info!(user = %name, "password set through the API");
    answer(&plane, &name)
}

pub async fn enable_totp(State(plane): Plane, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let UserTotp { secret, code } = parse_body(&body)?;
    user(&plane, &name)?;
    let now = plane.now();
    let secret = secret.trim();
    if secret.len() > MAX_TOTP_SECRET_CHARS || passwords::totp_code(secret, now).is_none() {
        return Err(invalid(
            "the secret is not a TOTP key: base32 of 128 to 640 bits (A-Z, 2-7)",
        ));
    }
    let Some(step) = passwords::totp_step(secret, code.trim(), now) else {
        return Err(invalid(
            "the code does not match the secret: check the authenticator app's clock and \
             try the next code",
        ));
    };
    plane.store.set_totp_secret(&name, Some(secret))?;
    // The confirmation code cannot sign in afterwards.
    plane.store.claim_totp_step(&name, step)?;
    tracing::info!(user = %name, "TOTP enabled through the API");
    answer(&plane, &name)
}

pub async fn disable_totp(State(plane): Plane, Path(name): Path<String>) -> ApiResult {
    user(&plane, &name)?;
    plane.store.set_totp_secret(&name, None)?;
    tracing::info!(user = %name, "TOTP disabled through the API");
    answer(&plane, &name)
}

pub async fn update_state(
    State(plane): Plane,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let UserStateChange { enabled } = parse_body(&body)?;
    user(&plane, &name)?;
    let is_caller = caller.is_some_and(|Extension(c)| c.principal == name);
    if !enabled && is_caller {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{name} cannot disable itself; another administrator can"),
        ));
    }
    plane.store.set_principal_enabled(&name, enabled)?;
    tracing::info!(user = %name, enabled, "user state changed through the API");
    answer(&plane, &name)
}

pub async fn entitle(State(plane): Plane, Path((name, app)): Path<(String, String)>) -> ApiResult {
    user(&plane, &name)?;
    plane.store.application(&app)?;
    plane.store.entitle(&name, &app)?;
    tracing::info!(user = %name, application = %app, "entitled through the API");
    answer(&plane, &name)
}

pub async fn revoke_entitlement(
    State(plane): Plane,
    Path((name, app)): Path<(String, String)>,
) -> ApiResult {
    user(&plane, &name)?;
    plane.store.revoke_entitlement(&name, &app)?;
    tracing::info!(user = %name, application = %app, "entitlement revoked through the API");
    answer(&plane, &name)
}

pub async fn attach_policy(
    State(plane): Plane,
    Path((principal, policy)): Path<(String, String)>,
) -> ApiResult {
    plane.store.principal(&principal)?;
    plane.store.policy(&policy)?;
    plane.store.attach_policy(&principal, &policy)?;
    tracing::info!(%principal, %policy, "policy attached through the API");
    attachments(&plane, principal)
}

pub async fn detach_policy(
    State(plane): Plane,
    Path((principal, policy)): Path<(String, String)>,
) -> ApiResult {
    plane.store.principal(&principal)?;
    plane.store.detach_policy(&principal, &policy)?;
    tracing::info!(%principal, %policy, "policy detached through the API");
    attachments(&plane, principal)
}

fn attachments(plane: &ControlPlane, principal: String) -> ApiResult {
    let policies = policy_names(plane, &principal)?;
    Ok(Json(PrincipalPolicies {
        principal,
        policies,
    })
    .into_response())
}
