//! "Remember me" and sign-out. A remembered sign-in also gets a refresh
//! token (30 days, single use, stored only as a hash, bound to the user and
//! to whether the sign-in had MFA); `POST /entitlement/refresh` trades it for
//! a new bearer token and a new refresh token. Sign-out revokes both.
//! Tokens are never logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::api::{Refresh, SignOut, SignedIn};
use common::signing::format_date;
use rand::RngCore;

use super::{EntitlementService, bearer_token, source};
use crate::control_plane::api::error::{ApiError, parse_body};
use crate::control_plane::store::{
    REFRESH_TOKEN_TTL_S, RefreshUse, SIGNIN_TOKEN_TTL_S, StoreError, token_hash,
};

const REFRESH_PATH: &str = "/entitlement/refresh";
const SIGNOUT_PATH: &str = "/entitlement/signout";

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether a sign-in also gets a refresh token, and of which chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Remember {
    No,
    /// A fresh sign-in: a new chain.
    NewChain,
    /// A refresh: the next token of the same chain.
    Chain(String),
}

impl Remember {
    pub(super) fn asked(remember: bool) -> Self {
        if remember { Self::NewChain } else { Self::No }
    }
}

/// Mints a sign-in (and with `remember` a refresh token) for `user`.
pub(super) fn issue(
    service: &EntitlementService,
    user: String,
    mfa: bool,
    remember: Remember,
    now: i64,
) -> Result<SignedIn, ApiError> {
    let token = new_token();
    let expires_at = now + SIGNIN_TOKEN_TTL_S;
    service
        .directory
        .store_signin_token(&token_hash(&token), &user, mfa, expires_at)?;
    let family = match remember {
        Remember::No => None,
        Remember::NewChain => Some(new_token()),
        Remember::Chain(family) => Some(family),
    };
    let (refresh_token, refresh_expires_at) = if let Some(family) = family {
        let refresh = new_token();
        let refresh_expires_at = now + REFRESH_TOKEN_TTL_S;
        service.directory.store_refresh_token(
            &token_hash(&refresh),
            &user,
            mfa,
            refresh_expires_at,
            &family,
        )?;
        (Some(refresh), Some(format_date(refresh_expires_at)))
    } else {
        (None, None)
    };
    Ok(SignedIn {
        token,
        expires_at: format_date(expires_at),
        user,
        mfa,
        refresh_token,
        refresh_expires_at,
    })
}

fn refresh_expired() -> ApiError {
    ApiError::unauthorized(
        "refresh_expired",
        "the saved sign-in has expired; sign in again",
    )
}

pub(super) async fn refresh(
    State(service): State<Arc<EntitlementService>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: Refresh = parse_body(&body)?;
    let address = source(connect);
    let now = service.clock.now_unix_s();
    service.adopt_shared_failures(None, address, now);
    if let Err(retry_after_s) = service.throttle().check_address(address, now) {
        service.audit(None, address, REFRESH_PATH, "refresh_throttled", 429);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!("too many failed sign-ins; try again in {retry_after_s} s"),
        )
        .retry_after(retry_after_s));
    }
    let taken = service
        .directory
        .take_refresh_token(&token_hash(request.refresh_token.trim()), now)?;
    let (user, mfa, family) = match taken {
        RefreshUse::Live { user, mfa, family } => (user, mfa, family),
        RefreshUse::Invalid => {
            service.throttle().record_address_failure(address, now);
            service.share_failure(None, address, now);
            service.audit(None, address, REFRESH_PATH, "refresh_failed", 401);
            return Err(refresh_expired());
        }
        RefreshUse::Reused { user } => {
            service.throttle().record_address_failure(address, now);
            service.share_failure(None, address, now);
            service.audit(Some(&user), address, REFRESH_PATH, "refresh_reused", 401);
            tracing::warn!(%user, "a refresh token was used twice: its whole chain is revoked");
            return Err(refresh_expired());
        }
    };
    let enabled = match service.directory.credentials(&user) {
        Ok(credentials) => credentials.enabled,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if !enabled {
        service.audit(Some(&user), address, REFRESH_PATH, "refresh_failed", 401);
        tracing::info!(%user, "refresh refused: the user is disabled");
        return Err(refresh_expired());
    }
    let signed_in = issue(&service, user, mfa, Remember::Chain(family), now)?;
    service.audit(
        Some(&signed_in.user),
        address,
        REFRESH_PATH,
        "refresh_ok",
        200,
    );
    tracing::info!(user = %signed_in.user, mfa, "signed in again with a refresh token");
    Ok(Json(signed_in).into_response())
}

/// Revokes the bearer token and the refresh token in the body, whichever
/// are given (expired or unknown ones too: signing out always works).
pub(super) async fn sign_out(
    State(service): State<Arc<EntitlementService>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SignOut = if body.iter().all(u8::is_ascii_whitespace) {
        SignOut::default()
    } else {
        parse_body(&body)?
    };
    let bearer = bearer_token(&headers);
    let refresh = request
        .refresh_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if bearer.is_none() && refresh.is_none() {
        return Err(ApiError::unauthorized("not_signed_in", "sign in first"));
    }
    let now = service.clock.now_unix_s();
    let user = match bearer {
        Some(token) => {
            let hash = token_hash(token);
            let user = service.directory.signin_token(&hash, now)?.map(|(u, _)| u);
            service.directory.revoke_signin_token(&hash)?;
            user
        }
        None => None,
    };
    if let Some(token) = refresh {
        service.directory.revoke_refresh_token(&token_hash(token))?;
    }
    service.audit(
        user.as_deref(),
        source(connect),
        SIGNOUT_PATH,
        "signout",
        204,
    );
    tracing::info!(
        user = user.as_deref().unwrap_or("-"),
        forgot_refresh_token = refresh.is_some(),
        "signed out"
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}
