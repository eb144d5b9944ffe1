//! Issue 14, items 10 and 11 (access keys): a request signed with an access
//! key carries no `aws:MultiFactorAuthPresent` (absent, not false), so IAM's
//! MFA recipes decide as IAM does; an unknown key, a deactivated key and a
//! bad signature get the same answer, byte for byte.

use common::client::{AccessKeyFile, Method};
use e2e::hostile::block_on;
use e2e::{HostProcess, scratch_dir};

use super::{api_client, code_of, send, text_of, user_with_policy};

// IAM's MFA recipes, as the fixtures hold them (what each decides is in
// their expected.json, checked by common's mfa_recipes test).
const ALLOW_IF_MFA_FALSE: &str =
    include_str!("../../../assets/fixtures/mfa-recipes/allow-if-mfa-false.json");
const DENY_IF_MFA_FALSE: &str =
    include_str!("../../../assets/fixtures/mfa-recipes/deny-if-mfa-false.json");
/// IAM's recipe for "deny unless MFA".
const DENY_UNLESS_MFA: &str =
    include_str!("../../../assets/fixtures/mfa-recipes/deny-unless-mfa-ifexists.json");
const DENY_IF_MFA_ABSENT: &str =
    include_str!("../../../assets/fixtures/mfa-recipes/deny-if-mfa-key-absent.json");

#[test]
fn access_keys_carry_no_mfa_key_and_the_iam_recipes_decide_as_iam_does() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-mfa");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    for (user, policy, status) in [
        ("allow-if-false", ALLOW_IF_MFA_FALSE, 403),
        ("deny-if-false", DENY_IF_MFA_FALSE, 200),
        ("deny-unless-mfa", DENY_UNLESS_MFA, 403),
        ("deny-if-absent", DENY_IF_MFA_ABSENT, 403),
    ] {
        let api = api_client(&host, user_with_policy(&host, &dir, user, policy));
        let answer = send(&api, Method::GET, "/api/applications", None);
        assert_eq!(
            answer.status,
            status,
            "{user}'s access key: {}",
            text_of(&answer)
        );
    }
}

#[test]
fn unknown_deactivated_and_badly_signed_keys_get_one_answer() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-invalid-credentials");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let admin_key = host::app::read_key_file(&host.data_dir.join("admin.key")).expect("admin key");
    let retired = user_with_policy(
        &host,
        &dir,
        "retired",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appstream:*", "Resource": "*"}]}"#,
    );
    host.admin(&["keys", "deactivate", &retired.key_id], "")
        .expect("keys deactivate");
    let callers = [
        (
            "unknown key",
            AccessKeyFile {
                key_id: "AK0123456789ABCDEF".into(),
                secret: admin_key.secret.clone(),
            },
        ),
        (
            "bad signature",
            AccessKeyFile {
                key_id: admin_key.key_id.clone(),
                secret: "0".repeat(admin_key.secret.len()),
            },
        ),
        ("deactivated key", retired),
    ];
    let mut bodies = Vec::new();
    for (what, key) in callers {
        let api = api_client(&host, key);
        let answer = block_on(api.send_raw(Method::GET, "/api/applications", Vec::new()))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(answer.status, 401, "{what}: {}", text_of(&answer));
        assert_eq!(code_of(&answer), "invalid_credentials", "{what}");
        bodies.push((what, text_of(&answer)));
    }
    for (what, body) in &bodies[1..] {
        assert_eq!(
            body, &bodies[0].1,
            "{what} and {} are told apart",
            bodies[0].0
        );
    }
    // The audit log keeps what the answer does not say.
    let audit = host.admin(&["audit", "--limit", "10"], "").expect("audit");
    assert!(audit.contains("-> 401"), "{audit}");
}
