//! `viewer signin`: sign in to the entitlement service and get an
//! entitlement URL for one application (the launcher's flow, for scripts).

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use common::client::{EntitlementClient, HttpsClient};

pub fn run(
    service: &str,
    fingerprint_hex: &str,
    user: &str,
    password_file: Option<&Path>,
    totp: Option<&str>,
    application: &str,
) -> anyhow::Result<String> {
    let fingerprint =
        common::stream_url::parse_fingerprint(fingerprint_hex).map_err(anyhow::Error::msg)?;
    let password = match password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = EntitlementClient::new(HttpsClient::new(service, fingerprint)?);
        client
            .sign_in(user, &password, totp)
            .await
            .context("signing in")?;
        let entitlement = client
            .entitle(application)
            .await
            .with_context(|| format!("starting {application}"))?;
        Ok(entitlement.url)
    })
}
