//! The host's one TLS port: HTTP/1.1 (hyper) for the API and the entitlement
//! service, and the stream's WebSocket upgrade at `/stream`. Each connection
//! gets its peer address as axum's `ConnectInfo`, for policies and audit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tower::ServiceExt;

use crate::control_plane::api::error::ApiError;
use crate::control_plane::connection_limits::{ConnectionLimits, Slot};
use crate::stream::context::HostContext;

/// Slow clients get this long for the TLS handshake, and for their request
/// headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long for a whole request, body and answer included.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Keep-alive connections are closed at this age (between requests).
const CONNECTION_MAX_AGE: Duration = Duration::from_secs(60);

/// Routes of everything served: the API, the embedded entitlement service
/// (if any) and the stream upgrade; JSON 404/405 for the rest.
pub fn routes(ctx: Arc<HostContext>, entitlement: Option<Router>) -> Router {
    let mut router = crate::control_plane::api::router(ctx.plane.clone()).merge(
        Router::new()
            .route("/stream", axum::routing::get(stream_upgrade))
            .with_state(ctx),
    );
    if let Some(entitlement) = entitlement {
        router = router.merge(entitlement);
    }
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}

/// Accepts TLS connections until `shutdown` resolves; connections over the
/// caps are closed at once. Accept errors (out of file descriptors) back
/// off instead of spinning, and are logged once per streak.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = AcceptBackoff::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        let pause = backoff.failed(&e);
                        tokio::select! {
                            () = tokio::time::sleep(pause) => continue,
                            () = &mut shutdown => return,
                        }
                    }
                };
                backoff.succeeded();
                let slot = match limits.admit(peer.ip()) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        tracing::debug!(%peer, ?refused, "connection refused: over the cap");
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    if let Err(e) = connection(acceptor, tcp, peer, router, Arc::new(slot)).await {
                        tracing::debug!(%peer, error = %format!("{e:#}"), "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => return,
        }
    }
}

/// Exponential pause after accept errors, 10 ms up to 1 s.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        if self.failures == 0 {
            tracing::warn!(%error, "accept failed; backing off until it works again");
        }
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(10u64 << self.failures.min(7)).min(Duration::from_secs(1))
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
        }
        self.failures = 0;
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    slot: Arc<Slot>,
) -> anyhow::Result<()> {
    let tls = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(tcp)).await??;
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // A WebSocket upgrade takes the slot along: the connection
            // counts until its viewer is authenticated.
            request.extensions_mut().insert(slot.clone());
            let router = router.clone();
            async move {
                // The whole request (its body read by the handler included)
                // has a deadline: a client trickling its body is cut off.
                match tokio::time::timeout(REQUEST_DEADLINE, router.oneshot(request)).await {
                    Ok(response) => response,
                    Err(_) => Ok(request_timeout()),
                }
            }
        });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades();
    tokio::pin!(served);
    // A keep-alive connection is closed (after its current request) once it
    // is this old, so an idle client cannot keep a slot forever. A stream's
    // WebSocket has left hyper by then (the upgrade ends `served`).
    tokio::select! {
        result = served.as_mut() => result?,
        () = tokio::time::sleep(CONNECTION_MAX_AGE) => {
            served.as_mut().graceful_shutdown();
            // The request in progress gets its deadline, and its answer
            // that long to be read: a client that never reads is cut off.
            tokio::time::timeout(REQUEST_DEADLINE * 2, served).await??;
        }
    }
    Ok(())
}

fn request_timeout() -> Response {
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request was not received and answered within {} s",
            REQUEST_DEADLINE.as_secs()
        ),
    )
    .into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// `GET /stream` with `Upgrade: websocket`: answers 101 and runs the
/// session on the upgraded connection (tungstenite, as the viewer speaks).
async fn stream_upgrade(
    State(ctx): State<Arc<HostContext>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let slot = request.extensions().get::<Arc<Slot>>().cloned();
    let headers = request.headers();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return ApiError::bad_request("not_websocket", "/stream takes a WebSocket upgrade")
            .into_response();
    };
    if !is_upgrade || !version_ok {
        return ApiError::bad_request(
            "not_websocket",
            "/stream takes a WebSocket (version 13) upgrade",
        )
        .into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(crate::stream::ws::websocket_config()),
        )
        .await;
        if let Err(e) = crate::stream::session::run(ws, ctx, peer, slot).await {
            tracing::warn!(%peer, error = %format!("{e:#}"), "session ended with an error");
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
