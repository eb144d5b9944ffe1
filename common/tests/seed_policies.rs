//! The seed's example policies, loaded as they are, each deciding all 15
//! actions exactly as the seed describes (assets/fixtures/seed-policies/README.md).

use common::policy::{ACTIONS, Decision, Policy, RequestContext, evaluate};

fn load(name: &str) -> Policy {
    let path = format!(
        "{}/../assets/fixtures/seed-policies/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Policy::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn allowed(policy: &Policy) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .copied()
        .filter(|action| {
            // Every resource shape of the API.
            [
                "*",
                "application/*",
                "application/demo",
                "application/demo/session/s-1",
            ]
            .iter()
            .all(|resource| {
                let request = RequestContext {
                    action,
                    resource,
                    source_ip: Some([192, 168, 1, 10].into()),
                    current_time_unix_s: 1_800_000_000,
                    mfa_present: None,
                    secure_transport: true,
                };
                match evaluate(std::slice::from_ref(policy), &request) {
                    Decision::Allow => true,
                    // None of the seed policies has a Deny statement.
                    Decision::ImplicitDeny => false,
                    Decision::ExplicitDeny => panic!("{action} on {resource}: explicit deny"),
                }
            })
        })
        .map(|a| a.trim_start_matches("appstream:"))
        .collect()
}

fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
    v.sort_unstable();
    v
}

#[test]
fn full_access_allows_every_action() {
    let policy = load("full-access.json");
    assert_eq!(allowed(&policy).len(), 15);
    assert!(!policy.is_trust_policy());
}

#[test]
fn every_fixture_parses_and_only_the_trust_policy_is_one() {
    let dir = format!(
        "{}/../assets/fixtures/seed-policies",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    for name in names {
        assert_eq!(
            load(&name).is_trust_policy(),
            name == "trust-machine-role.json",
            "{name}"
        );
    }
}

#[test]
fn read_only_allows_the_nine_gets() {
    let got = allowed(&load("read-only.json"));
    assert_eq!(
        sorted(got),
        sorted(vec![
            "GetApiRoot",
            "GetApplications",
            "GetApplication",
            "GetApplicationStatus",
            "GetApplicationErrors",
            "GetApplicationError",
            "GetSessions",
            "GetSession",
            "GetSessionStatus",
        ])
    );
}

#[test]
fn modify_applications_and_sessions_allows_create_update_delete_only() {
    assert_eq!(
        sorted(allowed(&load("modify-applications-and-sessions.json"))),
        sorted(vec![
            "CreateApplication",
            "UpdateApplication",
            "DeleteApplication",
            "UpdateApplicationState",
            "CreateSession",
            "UpdateSessionState",
        ])
    );
}

#[test]
fn modify_applications_allows_the_four_application_changes() {
    assert_eq!(
        sorted(allowed(&load("modify-applications.json"))),
        sorted(vec![
            "CreateApplication",
            "UpdateApplication",
            "UpdateApplicationState",
            "DeleteApplication",
        ])
    );
}

#[test]
fn dynamodb_and_session_calls_allows_the_nine_listed_actions() {
    assert_eq!(
        sorted(allowed(&load("dynamodb-and-session-calls.json"))),
        sorted(vec![
            "CreateSession",
            "GetApiRoot",
            "GetApplication",
            "GetApplications",
            "GetApplicationStatus",
            "GetSession",
            "GetSessions",
            "GetSessionStatus",
            "UpdateSessionState",
        ])
    );
}

#[test]
fn the_trust_policy_parses_and_grants_no_api_action() {
    let policy = load("trust-machine-role.json");
    assert!(policy.is_trust_policy());
    assert!(allowed(&policy).is_empty());
}
