//! Issue 14, item 1: an explicit IAM Deny holds however the path is spelled.
//! Authorization names the resource the handler acts on (the decoded path
//! segments), HEAD is its GET, and `policies simulate` decides the same.

use common::client::Method;
use e2e::{HostProcess, scratch_dir};
use serde_json::json;

use super::{api_client, code_of, send, text_of, user_with_policy};

/// Everything, except anything on the demo application.
const ALL_BUT_DEMO: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Everything", "Effect": "Allow", "Action": "appstream:*", "Resource": "*"},
    {"Sid": "NotDemo", "Effect": "Deny", "Action": "appstream:*", "Resource": "application/demo*"}
  ]
}"#;

/// Everything, except reading.
const NO_READS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Everything", "Effect": "Allow", "Action": "appstream:*", "Resource": "*"},
    {"Sid": "NoReads", "Effect": "Deny", "Action": "appstream:Get*", "Resource": "*"}
  ]
}"#;

#[test]
fn a_deny_on_an_application_holds_for_its_percent_encoded_name() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-encoded");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    host.admin(&["apps", "add", "other"], "").expect("apps add");
    let mallory = api_client(
        &host,
        user_with_policy(&host, &dir, "mallory", ALL_BUT_DEMO),
    );

    // The key works, and an encoded name that is allowed decodes to the
    // same application (so a refusal below is the Deny, not a parse error).
    for path in [
        "/api",
        "/api/applications/other",
        "/api/applications/%6Fther",
        "/api/applications/%6f%74%68%65%72/status",
    ] {
        let answer = send(&mallory, Method::GET, path, None);
        assert_eq!(answer.status, 200, "GET {path}: {}", text_of(&answer));
    }

    for path in [
        "/api/applications/demo",
        "/api/applications/%64emo",
        "/api/applications/%64%65%6D%6F",
        "/api/applications/d%65mo/status",
        "/api/applications/%64emo/icon",
        "/api/applications/%64emo/sessions",
        "/api/applications/%64emo/errors",
    ] {
        let answer = send(&mallory, Method::GET, path, None);
        assert_eq!(answer.status, 403, "GET {path}: {}", text_of(&answer));
        assert_eq!(code_of(&answer), "access_denied", "GET {path}");
    }
    for path in [
        "/api/applications/demo/sessions",
        "/api/applications/%64emo/sessions",
    ] {
        let answer = send(&mallory, Method::POST, path, Some(json!({"user": "demo"})));
        assert_eq!(answer.status, 403, "POST {path}: {}", text_of(&answer));
        assert!(
            !text_of(&answer).contains("appstream://"),
            "POST {path} handed out an entitlement URL: {}",
            text_of(&answer)
        );
    }
    let answer = send(
        &mallory,
        Method::PUT,
        "/api/applications/%64emo/state",
        Some(json!({"state": "DISABLED"})),
    );
    assert_eq!(answer.status, 403, "PUT state: {}", text_of(&answer));

    // Nothing was created or changed behind the Deny.
    let sessions: common::api::SessionList = host
        .admin_call(Method::GET, "/api/applications/demo/sessions", None)
        .expect("GetSessions as the admin");
    assert!(
        sessions.sessions.is_empty(),
        "sessions were created on demo: {:?}",
        sessions.sessions
    );
    let demo: common::api::Application = host
        .admin_call(Method::GET, "/api/applications/demo", None)
        .expect("GetApplication as the admin");
    assert_eq!(demo.state, common::api::ApplicationState::Enabled);
}

#[test]
fn head_is_authorized_as_its_get() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-head");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let reader = api_client(&host, user_with_policy(&host, &dir, "nosy", NO_READS));
    for path in ["/api", "/api/applications", "/api/applications/demo"] {
        let get = send(&reader, Method::GET, path, None);
        assert_eq!(get.status, 403, "GET {path}: {}", text_of(&get));
        let head = send(&reader, Method::HEAD, path, None);
        assert_eq!(head.status, 403, "HEAD {path} is its GET");
    }
    // The same HEAD is fine for someone who may read.
    let admin = host.admin_api().expect("admin key");
    let head = send(&admin, Method::HEAD, "/api/applications/demo", None);
    assert_eq!(head.status, 200, "HEAD as the admin");
}

/// `host policies simulate --request "METHOD PATH"` decides as the API
/// would for that request: a percent-encoded name is the application it
/// names, HEAD is its GET.
///
/// Assumption: `--request` (the option the lead named in `host/src/control_plane/admin.rs`)
/// takes "METHOD PATH" and derives action and resource as the router does.
#[test]
fn policies_simulate_decides_an_encoded_request_as_the_api_does() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-simulate");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    host.admin(&["apps", "add", "other"], "").expect("apps add");
    let _ = user_with_policy(&host, &dir, "mallory", ALL_BUT_DEMO);
    let _ = user_with_policy(&host, &dir, "nosy", NO_READS);
    let simulate = |principal: &str, request: &str| {
        host.admin(
            &[
                "policies",
                "simulate",
                "--principal",
                principal,
                "--request",
                request,
            ],
            "",
        )
        .unwrap_or_else(|e| panic!("policies simulate {request:?}: {e}"))
    };
    for request in [
        "GET /api/applications/demo",
        "GET /api/applications/%64emo",
        "POST /api/applications/%64emo/sessions",
        "PUT /api/applications/%64%65%6d%6f/state",
    ] {
        let verdict = simulate("mallory", request);
        assert!(
            verdict.contains("DENIED (explicit deny)"),
            "{request}: {verdict}"
        );
    }
    let verdict = simulate("mallory", "GET /api/applications/%6Fther");
    assert!(verdict.contains("ALLOWED"), "{verdict}");
    let verdict = simulate("nosy", "HEAD /api/applications/demo");
    assert!(
        verdict.contains("DENIED (explicit deny)") && verdict.contains("appstream:GetApplication"),
        "HEAD is GetApplication: {verdict}"
    );
}
