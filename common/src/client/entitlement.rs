//! The entitlement client: sign in (optionally remembered with a refresh
//! token), list my applications and their icons, get an entitlement URL for
//! one, sign out.

use reqwest::Method;

use super::{ClientError, HttpsClient};
use crate::api::{
    EntitledApplication, EntitledApplications, Entitlement, Refresh, SignIn, SignOut, SignedIn,
};

#[derive(Debug, Clone)]
pub struct EntitlementClient {
    https: HttpsClient,
    token: Option<String>,
}

impl EntitlementClient {
    pub fn new(https: HttpsClient) -> Self {
        Self { https, token: None }
    }

    /// Resumes with a token from an earlier sign-in.
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
        self.sign_in_with(&SignIn {
            user: user.to_string(),
            password: password.to_string(),
            totp: totp.map(str::to_string),
            remember: false,
        })
        .await
    }

    /// Signs in; with `request.remember` the answer carries a refresh token.
    /// The bearer token is kept for the calls below.
    pub async fn sign_in_with(&mut self, request: &SignIn) -> Result<SignedIn, ClientError> {
        self.post_for_sign_in("/entitlement/signin", request).await
    }

    /// Trades a refresh token ("remember me") for a new sign-in and a new
    /// refresh token; the one given is used up. 401 `refresh_expired` when it
    /// is unknown, used or expired: sign in again.
    pub async fn refresh(&mut self, refresh_token: &str) -> Result<SignedIn, ClientError> {
        let body = Refresh {
            refresh_token: refresh_token.to_string(),
        };
        self.post_for_sign_in("/entitlement/refresh", &body).await
    }

    /// Ends the sign-in and forgets `refresh_token` at the service.
    pub async fn sign_out(&self, refresh_token: Option<&str>) -> Result<(), ClientError> {
        let body = SignOut {
            refresh_token: refresh_token.map(str::to_string),
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.https
            .send(
                Method::POST,
                "/entitlement/signout",
                &[self.bearer()],
                bytes,
            )
            .await?
            .into_result()
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

    /// The application's icon (PNG bytes); None when it has none the
    /// service can serve (404: no icon, or an https URL to fetch elsewhere).
    pub async fn icon(&self, application: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let response = self
            .https
            .send(
                Method::GET,
                &format!("/entitlement/applications/{application}/icon"),
                &[self.bearer()],
                Vec::new(),
            )
            .await?;
        if response.status == 404 {
            return Ok(None);
        }
        response.into_bytes().map(Some)
    }

    async fn post_for_sign_in(
        &mut self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<SignedIn, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        let signed_in: SignedIn = self
            .https
            .send(Method::POST, path, &[], bytes)
            .await?
            .into_result()?;
        self.token = Some(signed_in.token.clone());
        Ok(signed_in)
    }

    fn bearer(&self) -> (&'static str, String) {
        let token = self.token.as_deref().unwrap_or_default();
        ("authorization", format!("Bearer {token}"))
    }

    async fn authorized<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        self.https
            .send(method, path, &[self.bearer()], Vec::new())
            .await?
            .into_result()
    }
}
