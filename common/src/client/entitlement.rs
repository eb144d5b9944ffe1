//! The entitlement client: sign in, list my applications, get an
//! entitlement URL for one.

use reqwest::Method;

use super::{ClientError, HttpsClient};
use crate::api::{EntitledApplication, EntitledApplications, Entitlement, SignIn, SignedIn};

#[derive(Debug, Clone)]
pub struct EntitlementClient {
    https: HttpsClient,
    token: Option<String>,
}

impl EntitlementClient {
    pub fn new(https: HttpsClient) -> Self {
        Self { https, token: None }
    }

    /// Resumes with a token from an earlier sign-in ("remember me").
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    pub async fn sign_in(
        &mut self,
        user: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Result<SignedIn, ClientError> {
        let body = SignIn {
            user: user.to_string(),
            password: password.to_string(),
            totp: totp.map(str::to_string),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ClientError::Decode(e.to_string()))?;
        let signed_in: SignedIn = self
            .https
            .send(Method::POST, "/entitlement/signin", &[], bytes)
            .await?
            .into_result()?;
        self.token = Some(signed_in.token.clone());
        Ok(signed_in)
    }

    pub async fn applications(&self) -> Result<Vec<EntitledApplication>, ClientError> {
        let list: EntitledApplications = self
            .authorized(Method::GET, "/entitlement/applications")
            .await?;
        Ok(list.applications)
    }

    pub async fn entitle(&self, application: &str) -> Result<Entitlement, ClientError> {
        self.authorized(
            Method::POST,
            &format!("/entitlement/applications/{application}/entitle"),
        )
        .await
    }

    async fn authorized<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        let token = self.token.clone().unwrap_or_default();
        self.https
            .send(
                method,
                path,
                &[("authorization", format!("Bearer {token}"))],
                Vec::new(),
            )
            .await?
            .into_result()
    }
}
