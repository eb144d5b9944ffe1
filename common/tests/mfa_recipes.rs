//! The MFA recipes (assets/fixtures/mfa-recipes/README.md): each policy decides
//! every appstream action on every resource shape exactly as `expected.json`
//! says, for a request without `aws:MultiFactorAuthPresent` (a long-term
//! access key), with it `true`, and with it `false`.

use std::collections::BTreeMap;

use common::policy::{ACTIONS, Decision, Policy, RequestContext, evaluate};

fn dir() -> String {
    format!(
        "{}/../assets/fixtures/mfa-recipes",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn read(name: &str) -> String {
    let path = format!("{}/{name}", dir());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// policy name → context ("absent", "true", "false") → "allow" or "deny".
fn expected() -> BTreeMap<String, BTreeMap<String, String>> {
    serde_json::from_str(&read("expected.json")).expect("expected.json")
}

/// Every `*.json` except expected.json, without the extension, sorted.
fn recipe_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("assets/fixtures/mfa-recipes")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.into_string().expect("a UTF-8 file name"))
        .filter(|name| name != "expected.json")
        .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
}

const CONTEXTS: [(&str, Option<bool>); 3] = [
    ("absent", None),
    ("true", Some(true)),
    ("false", Some(false)),
];

const RESOURCES: [&str; 4] = [
    "*",
    "application/*",
    "application/demo",
    "application/demo/session/s-1",
];

#[test]
fn every_recipe_has_an_expectation_for_each_context() {
    let expected = expected();
    let names = recipe_names();
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(
        names,
        expected.keys().cloned().collect::<Vec<_>>(),
        "the recipes and expected.json name the same policies"
    );
    for (name, by_context) in &expected {
        let contexts: Vec<&str> = by_context.keys().map(String::as_str).collect();
        assert_eq!(contexts, ["absent", "false", "true"], "{name}");
        for decision in by_context.values() {
            assert!(["allow", "deny"].contains(&decision.as_str()), "{name}");
        }
    }
}

#[test]
fn every_recipe_decides_as_iam_does() {
    let expected = expected();
    for name in recipe_names() {
        let policy =
            Policy::parse(&read(&format!("{name}.json"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let policies = std::slice::from_ref(&policy);
        for (context, mfa_present) in CONTEXTS {
            let allow = match expected[&name][context].as_str() {
                "allow" => true,
                "deny" => false,
                other => panic!("{name}/{context}: {other:?} is neither allow nor deny"),
            };
            for action in ACTIONS {
                for resource in RESOURCES {
                    let request = RequestContext {
                        action,
                        resource,
                        source_ip: Some([192, 168, 1, 10].into()),
                        current_time_unix_s: 1_800_000_000,
                        mfa_present,
                        secure_transport: true,
                    };
                    let decision = evaluate(policies, &request);
                    assert_eq!(
                        decision == Decision::Allow,
                        allow,
                        "{name} with MFA {context}: {action} on {resource} → {decision:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn recipes_outside_appstream_decide_nothing() {
    // Each recipe names `appstream:*` only: another service is never allowed.
    for name in recipe_names() {
        let policy = Policy::parse(&read(&format!("{name}.json"))).unwrap();
        for (_, mfa_present) in CONTEXTS {
            let request = RequestContext {
                action: "dynamodb:GetItem",
                resource: "*",
                source_ip: None,
                current_time_unix_s: 1_800_000_000,
                mfa_present,
                secure_transport: true,
            };
            assert_eq!(
                evaluate(std::slice::from_ref(&policy), &request),
                Decision::ImplicitDeny,
                "{name}"
            );
        }
    }
}
