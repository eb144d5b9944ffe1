//! `host entitlement`: the entitlement service as its own process, with its
//! own data directory (user directory, certificate, audit log), calling a
//! remote host's API with its own access key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use common::client::{ApiClient, HttpsClient};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::clock::{Clock, SystemClock};
use crate::control_plane::api::error::ApiError;
use crate::control_plane::entitlement::EntitlementService;
use crate::control_plane::store::{SqliteStore, Store};
use crate::stream::tls::Identity;

#[derive(Debug, Clone)]
pub struct EntitlementConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The host's API base, `https://HOST:PORT`.
    pub api: String,
    pub api_fingerprint: [u8; 32],
    pub key_file: PathBuf,
}

pub async fn serve(
    config: EntitlementConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    crate::platform::private_dir::prepare(&config.data_dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in(&config.data_dir).context("opening the user directory")?);
    let key = crate::app::read_key_file(&config.key_file)?;
    let api = ApiClient::new(HttpsClient::new(&config.api, config.api_fingerprint)?, key);
    // Fail early, in words, when the host or the key is wrong.
    api.applications()
        .await
        .with_context(|| format!("calling the host's API at {}", config.api))?;
    let service = EntitlementService::new(store, api, clock, false)?;

    let identity = Identity::load_or_create(&config.data_dir)?;
    let acceptor = TlsAcceptor::from(identity.server_config()?);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let listen = listener.local_addr()?;
    let router = crate::control_plane::entitlement::router(service)
        .fallback(|| async { ApiError::not_found("no such route") });
    println!(
        "certificate fingerprint (SHA-256): {}",
        hex::encode(identity.fingerprint)
    );
    println!(
        "entitlement service: https://{listen}/entitlement (API at {})",
        config.api
    );
    let limits = crate::control_plane::connection_limits::ConnectionLimits::new(Default::default());
    crate::stream::server::serve(listener, acceptor, router, limits, shutdown).await;
    Ok(())
}
