//! The hostile suite (issue 14): every numbered finding of the hardening
//! issue reproduced against real host processes, asserting the behaviour the
//! host promises once hardened (the README's security section). One module
//! per concern, under `hostile/`; shared set-up here.
//!
//! The load test (`connections`) asserts a response time, so it runs alone:
//! it takes the suite lock exclusively, every other test takes it shared.
//! Tests that run the demo game on the software GPU also take `GAME`.

#[path = "hostile/api_resource.rs"]
mod api_resource;
#[path = "hostile/audit_and_caps.rs"]
mod audit_and_caps;
#[path = "hostile/connections.rs"]
mod connections;
#[path = "hostile/credentials.rs"]
mod credentials;
#[path = "hostile/data_dir.rs"]
mod data_dir;
#[path = "hostile/leftovers.rs"]
mod leftovers;
#[path = "hostile/sandbox.rs"]
mod sandbox;
#[path = "hostile/session_limits.rs"]
mod session_limits;
#[path = "hostile/signin.rs"]
mod signin;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use common::client::{AccessKeyFile, ApiClient, HttpsClient, Method, RawResponse};
use e2e::HostProcess;

static SUITE: RwLock<()> = RwLock::new(());
static GAME: Mutex<()> = Mutex::new(());

/// Held by every test but the load test.
fn shared() -> RwLockReadGuard<'static, ()> {
    SUITE.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by the load test: nothing else of this suite runs meanwhile.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SUITE.write().unwrap_or_else(|e| e.into_inner())
}

/// One demo game on the software GPU at a time (2 cores).
fn game() -> MutexGuard<'static, ()> {
    GAME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new user with a password, `policy` (JSON) attached as `NAME-policy`,
/// and an access key, through the admin CLI as the host's owner would.
fn user_with_policy(host: &HostProcess, scratch: &Path, name: &str, policy: &str) -> AccessKeyFile {
    host.admin(
        &["users", "add", name, "--password-stdin"],
        &format!("{name}'s password\n"),
    )
    .expect("users add");
    let policy_name = format!("{name}-policy");
    let policy_file = scratch.join(format!("{policy_name}.json"));
    std::fs::write(&policy_file, policy).expect("policy file written");
    host.admin(
        &[
            "policies",
            "put",
            &policy_name,
            policy_file.to_str().expect("UTF-8 path"),
        ],
        "",
    )
    .expect("policies put");
    host.admin(&["policies", "attach", &policy_name, name], "")
        .expect("policies attach");
    let key_file = scratch.join(format!("{name}.key"));
    host.admin(
        &[
            "keys",
            "create",
            name,
            "--out",
            key_file.to_str().expect("UTF-8 path"),
        ],
        "",
    )
    .expect("keys create");
    host::app::read_key_file(&key_file).expect("key file")
}

/// A signed API client of `host` with `key`.
fn api_client(host: &HostProcess, key: AccessKeyFile) -> ApiClient {
    ApiClient::new(
        HttpsClient::new(&host.base_url, host.fingerprint).expect("HTTPS client"),
        key,
    )
}

/// One signed request, waited for: the raw answer (status and body).
fn send(
    api: &ApiClient,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> RawResponse {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    e2e::hostile::block_on(api.send_raw(method.clone(), path, bytes))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The `code` of a JSON error body.
fn code_of(response: &RawResponse) -> String {
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| v.get("code")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn text_of(response: &RawResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}
