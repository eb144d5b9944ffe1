//! HTTPS clients of the control plane (feature `client`): the signed API
//! client (entitlement service, admin tools, tests, benchmarks) and the
//! entitlement client (viewer sign-in). TLS is pinned to the host's
//! certificate fingerprint.
//!
//! Unlike the rest of `common` this does I/O (reqwest on tokio) and reads the
//! wall clock to date its requests; it is kept behind a feature for that.

mod api;
mod entitlement;
mod key_file;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::api::ErrorBody;
use crate::pinned_tls::PinnedCertificate;

pub use api::ApiClient;
pub use entitlement::EntitlementClient;
pub use key_file::{AccessKeyFile, KeyFileError};
pub use reqwest::Method;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("{0} is not an https:// address")]
    BadAddress(String),
    #[error(
        "certificate mismatch: expected {expected} but the host presented {presented}; refusing to connect"
    )]
    CertificateMismatch { expected: String, presented: String },
    #[error("host unreachable at {address}: {message}")]
    Unreachable { address: String, message: String },
    #[error("{status} {code}: {reason}")]
    Api {
        status: u16,
        code: String,
        reason: String,
    },
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// The API's error code, when the host answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A raw answer: status and body bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as `T` on 2xx, the API's error otherwise.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        if (200..300).contains(&self.status) {
            let body = if self.body.is_empty() {
                b"null".to_vec()
            } else {
                self.body
            };
            serde_json::from_slice(&body).map_err(|e| ClientError::Decode(e.to_string()))
        } else {
            Err(self.api_error())
        }
    }

    /// The body as is on 2xx (an icon, ...), the API's error otherwise.
    pub fn into_bytes(self) -> Result<Vec<u8>, ClientError> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            Err(self.api_error())
        }
    }

    fn api_error(self) -> ClientError {
        let error: ErrorBody = serde_json::from_slice(&self.body).unwrap_or(ErrorBody {
            code: "unknown".into(),
            reason: String::from_utf8_lossy(&self.body)
                .chars()
                .take(200)
                .collect(),
        });
        ClientError::Api {
            status: self.status,
            code: error.code,
            reason: error.reason,
        }
    }
}

/// An HTTPS connection pool to one host, pinned to its certificate.
#[derive(Debug, Clone)]
pub struct HttpsClient {
    http: reqwest::Client,
    base_url: String,
    verifier: Arc<PinnedCertificate>,
    fingerprint: [u8; 32],
}

impl HttpsClient {
    /// `base_url` like `https://127.0.0.1:47990`.
    pub fn new(base_url: &str, fingerprint: [u8; 32]) -> Result<Self, ClientError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        if !base_url.starts_with("https://") {
            return Err(ClientError::BadAddress(base_url));
        }
        let verifier = PinnedCertificate::new(fingerprint);
        let tls = verifier
            .client_config()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Self {
            http,
            base_url,
            verifier,
            fingerprint,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends a request with extra headers; the body is sent as is.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.base_url))
            .body(body);
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?
            .to_vec();
        Ok(RawResponse { status, body })
    }

    fn transport_error(&self, e: &reqwest::Error) -> ClientError {
        match self.verifier.mismatch() {
            Some(presented) => ClientError::CertificateMismatch {
                expected: hex::encode(self.fingerprint),
                presented: hex::encode(presented),
            },
            None => ClientError::Unreachable {
                address: self.base_url.clone(),
                message: error_chain(e),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}
