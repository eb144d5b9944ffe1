//! The signed API client: every request carries X-Date, X-Nonce and the
//! HMAC-SHA256 Authorization header of `signing`.

use rand::RngCore;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AccessKeyFile, ClientError, HttpsClient, RawResponse};
use crate::api::{Application, ApplicationList, CreatedSession, NewSession};
use crate::signing::{self, SignedParts};

#[derive(Debug, Clone)]
pub struct ApiClient {
    https: HttpsClient,
    key: AccessKeyFile,
    session_token: Option<String>,
}

impl ApiClient {
    pub fn new(https: HttpsClient, key: AccessKeyFile) -> Self {
        Self {
            https,
            key,
            session_token: None,
        }
    }

    /// Temporary credentials (machine role) also send their session token.
    pub fn with_session_token(mut self, token: String) -> Self {
        self.session_token = Some(token);
        self
    }

    pub fn key_id(&self) -> &str {
        &self.key.key_id
    }

    /// Signs and sends; `path_and_query` like `/api/applications?x=1`.
    pub async fn send_raw(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let headers = self.signed_headers(&method, path_and_query, &body, now_s);
        self.https
            .send(method, path_and_query, &headers, body)
            .await
    }

    /// The headers that sign a request made at `now_s` (tests vary them).
    pub fn signed_headers(
        &self,
        method: &Method,
        path_and_query: &str,
        body: &[u8],
        now_s: i64,
    ) -> Vec<(&'static str, String)> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let date = signing::format_date(now_s);
        let mut nonce_bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = hex::encode(nonce_bytes);
        let signature = signing::sign(
            &self.key.secret,
            &SignedParts {
                method: method.as_str(),
                path,
                query,
                date: &date,
                nonce: &nonce,
                body,
            },
        );
        let mut headers = vec![
            (
                "authorization",
                signing::format_authorization(&self.key.key_id, &signature),
            ),
            (signing::DATE_HEADER, date),
            (signing::NONCE_HEADER, nonce),
        ];
        if let Some(token) = &self.session_token {
            headers.push((signing::SESSION_TOKEN_HEADER, token.clone()));
        }
        headers
    }

    /// Sends pre-made headers and body (tests: replays, tampering).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        self.https.send(method, path_and_query, headers, body).await
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?
            }
            None => Vec::new(),
        };
        self.send_raw(method, path, bytes).await?.into_result()
    }

    pub async fn create_session(
        &self,
        application: &str,
        user: &str,
        expires_in_s: Option<u32>,
    ) -> Result<CreatedSession, ClientError> {
        let body = NewSession {
            user: user.to_string(),
            expires_in_s,
        };
        self.call(
            Method::POST,
            &format!("/api/applications/{application}/sessions"),
            Some(&body),
        )
        .await
    }

    pub async fn application(&self, name: &str) -> Result<Application, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/applications/{name}"),
            None::<&()>,
        )
        .await
    }

    /// GetApplication's icon: the PNG bytes. 404 `no_icon` when it has none,
    /// `icon_remote` when it is an https URL (in the reason).
    pub async fn application_icon(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        self.send_raw(
            Method::GET,
            &format!("/api/applications/{name}/icon"),
            Vec::new(),
        )
        .await?
        .into_bytes()
    }

    pub async fn applications(&self) -> Result<Vec<Application>, ClientError> {
        let list: ApplicationList = self
            .call(Method::GET, "/api/applications", None::<&()>)
            .await?;
        Ok(list.applications)
    }
}
