//! The console calls the API in-process, as the signed-in user: the same
//! routes, policy evaluation, handlers and audit lines as a signed request,
//! with MFA present (the console's sign-in needs TOTP).

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::control_plane::api::auth::ConsoleCaller;

/// An API answer other than 2xx: its status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub reason: String,
}

/// An API answer as JSON.
pub async fn call<T: DeserializeOwned>(
    api: &Router,
    user: &str,
    source_ip: Option<IpAddr>,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, Refused> {
    let (_, bytes) = call_raw(api, user, source_ip, method, path, body).await?;
    serde_json::from_slice(&bytes).map_err(|e| internal(format!("unexpected API answer: {e}")))
}

/// An API answer as its content type and bytes (an icon).
pub async fn call_raw(
    api: &Router,
    user: &str,
    source_ip: Option<IpAddr>,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(Option<HeaderValue>, Bytes), Refused> {
    let body = body.map_or_else(Body::empty, |json| Body::from(json.to_string()));
    let caller = Caller {
        user,
        source_ip,
        content_type: "application/json",
    };
    send(api, caller, method, path, body).await
}

/// An upload (an icon's PNG bytes) as `content_type`.
pub async fn call_bytes(
    api: &Router,
    user: &str,
    source_ip: Option<IpAddr>,
    method: Method,
    path: &str,
    content_type: &'static str,
    bytes: Bytes,
) -> Result<(Option<HeaderValue>, Bytes), Refused> {
    let caller = Caller {
        user,
        source_ip,
        content_type,
    };
    send(api, caller, method, path, Body::from(bytes)).await
}

/// Who calls, from where, with what kind of body.
struct Caller<'a> {
    user: &'a str,
    source_ip: Option<IpAddr>,
    content_type: &'static str,
}

async fn send(
    api: &Router,
    caller: Caller<'_>,
    method: Method,
    path: &str,
    body: Body,
) -> Result<(Option<HeaderValue>, Bytes), Refused> {
    let Caller {
        user,
        source_ip,
        content_type,
    } = caller;
    let peer = SocketAddr::new(source_ip.unwrap_or(IpAddr::from([127, 0, 0, 1])), 0);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .extension(ConsoleCaller {
            user: user.to_string(),
        })
        .extension(ConnectInfo(peer))
        .body(body)
        .map_err(|e| internal(e.to_string()))?;
    let response = api
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| internal(e.to_string()))?;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 4 * 1024 * 1024)
        .await
        .map_err(|e| internal(e.to_string()))?;
    if !status.is_success() {
        let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["reason"].as_str().map(String::from))
            .unwrap_or_else(|| status.to_string());
        return Err(Refused { status, reason });
    }
    Ok((content_type, bytes))
}

fn internal(reason: String) -> Refused {
    Refused {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        reason,
    }
}
