//! Issue 14, items 4, 10 and 11 (sign-in): the throttle holds under
//! concurrency (an attempt is reserved before argon2 runs), a TOTP code works
//! once, and a refresh token used twice revokes its whole chain.

use std::net::Ipv4Addr;

use common::api::SignIn;
use e2e::hostile::{RawTls, block_on, signin_request};
use e2e::{HostProcess, scratch_dir};

#[test]
fn forty_concurrent_wrong_passwords_from_one_address_check_at_most_five() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-concurrent-signin");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let raw = RawTls::new(&host.base_url, host.fingerprint).expect("raw TLS client");
    let source = Ipv4Addr::new(127, 0, 2, 1);
    let answers = block_on(async {
        let attempts: Vec<_> = (0..40)
            .map(|i| {
                let raw = raw.clone();
                tokio::spawn(async move {
                    let request = signin_request(&format!("guess-{i}"), "wrong password");
                    raw.request_from(source, &request).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for attempt in attempts {
            answers.push(attempt.await.expect("task").expect("answered"));
        }
        answers
    });
    let count = |status: u16, code: &str| {
        answers
            .iter()
            .filter(|a| a.status == status && a.code().as_deref() == Some(code))
            .count()
    };
    let (checked, throttled, busy) = (
        count(401, "wrong_password"),
        count(429, "throttled"),
        count(429, "busy"),
    );
    println!(
        "40 concurrent wrong sign-ins from {source}: {checked} × 401, {throttled} × 429 throttled, {busy} × 429 busy"
    );
    assert_eq!(
        checked + throttled + busy,
        40,
        "other answers: {:?}",
        answers
            .iter()
            .map(|a| (a.status, a.body_text()))
            .collect::<Vec<_>>()
    );
    assert!(
        checked <= 5,
        "{checked} wrong passwords were checked (the throttle allows 5)"
    );
    // Whatever the argon2 pool said, the throttle refused the rest.
    assert!(throttled >= 35, "only {throttled} were throttled");
    for answer in answers.iter().filter(|a| a.status == 429) {
        assert!(
            answer.header("retry-after").is_some(),
            "a 429 without Retry-After: {}",
            answer.body_text()
        );
    }
}

fn totp_now(secret: &str) -> String {
    let now = e2e::hostile::now_unix_s();
    host::control_plane::entitlement::passwords::totp_code(secret, now).expect("TOTP code")
}

#[test]
fn a_totp_code_is_accepted_once() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-totp-reuse");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let secret = host
        .add_totp_user("bob", "correct horse battery", "demo")
        .expect("a user with an authenticator");
    let mut client = host.entitlement_client().expect("client");
    let code = totp_now(&secret);
    let first =
        block_on(client.sign_in("bob", "correct horse battery", Some(&code))).expect("first use");
    assert!(first.mfa);
    // The same code again, within its step or just after it.
    let again = block_on(client.sign_in("bob", "correct horse battery", Some(&code)))
        .expect_err("a code works once");
    assert_eq!(again.code(), Some("wrong_totp"), "{again}");
}

#[test]
fn a_refresh_token_used_twice_revokes_its_chain() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-refresh-reuse");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let password = host.demo_password().expect("password");
    let mut client = host.entitlement_client().expect("client");
    let signed_in = block_on(client.sign_in_with(&SignIn {
        user: "demo".into(),
        password,
        totp: None,
        remember: true,
    }))
    .expect("sign in, remembered");
    let first = signed_in.refresh_token.expect("a refresh token");
    let renewed = block_on(client.refresh(&first)).expect("the first use works");
    let second = renewed.refresh_token.expect("a new refresh token");

    // Someone else replays the first token (it was stolen): refused...
    let mut thief = host.entitlement_client().expect("client");
    let replay = block_on(thief.refresh(&first)).expect_err("a used token is refused");
    assert!(
        matches!(replay, common::client::ClientError::Api { status: 401, .. }),
        "{replay}"
    );
    // ...and the token its first use issued is revoked with it.
    let chained = block_on(client.refresh(&second)).expect_err("the chain is revoked");
    assert!(
        matches!(
            chained,
            common::client::ClientError::Api { status: 401, .. }
        ),
        "the token issued by the first use still works: {chained}"
    );
}
