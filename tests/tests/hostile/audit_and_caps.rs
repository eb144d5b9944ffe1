//! Issue 14, items 7 and 9: what clients send reaches the audit log in
//! bounded form and the log has a retention; the replay cache records a
//! nonce only once its signature checks out, and when it is full of nonces
//! still inside the window it refuses requests rather than forget any.

use std::net::Ipv4Addr;
use std::time::Duration;

use common::client::Method;
use e2e::hostile::{RawTls, block_on, now_unix_s, sha256_hex, signin_request, wait_until};
use e2e::{HostProcess, scratch_dir};

use super::{api_client, code_of, text_of};

/// The principal column (second field) of `host audit` lines for sign-ins.
fn signin_principals(audit: &str) -> Vec<String> {
    audit
        .lines()
        .filter(|line| line.contains("/entitlement/signin"))
        .filter_map(|line| line.split(' ').nth(1).map(str::to_string))
        .collect()
}

/// How a user name longer than 64 bytes is stored: cut to 64 bytes, then
/// `…#` and the first 16 hex digits of the SHA-256 of the whole name.
fn bounded(name: &str) -> String {
    format!("{}…#{}", &name[..64], &sha256_hex(name.as_bytes())[..16])
}

/// Assumption: a sign-in with an over-long user name is still audited (in
/// bounded form); one of 1 MiB may also be refused before that (413), so a
/// 1,000-byte name is the one whose entry is required.
#[test]
fn long_user_names_reach_the_audit_log_cut_and_hashed() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-audit-names");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let raw = RawTls::new(&host.base_url, host.fingerprint).expect("raw TLS client");
    let huge = "A".repeat(1024 * 1024);
    let huge_too = format!("{}B", "A".repeat(1024 * 1024 - 1));
    let long = "A".repeat(1000);
    let answers = block_on(async {
        let mut answers = Vec::new();
        for (i, name) in [&huge, &huge_too, &long].into_iter().enumerate() {
            let source = Ipv4Addr::new(127, 0, 4, 1 + i as u8);
            let answer = raw
                .request_from(source, &signin_request(name, "some password"))
                .await
                .expect("answered");
            answers.push(answer);
        }
        answers
    });
    for answer in &answers {
        eprintln!(
            "a sign-in with a long name: {} {}",
            answer.status,
            answer.body_text()
        );
        assert!(
            (400..500).contains(&answer.status),
            "{} {}",
            answer.status,
            answer.body_text()
        );
    }
    let audit = host.admin(&["audit", "--limit", "20"], "").expect("audit");
    assert!(
        audit.len() < 16 * 1024,
        "the audit log holds {} bytes for 3 sign-ins",
        audit.len()
    );
    let principals = signin_principals(&audit);
    eprintln!("sign-in principals in the audit log: {principals:?}");
    assert!(
        principals.contains(&bounded(&long)),
        "no entry for the 1,000-byte name in bounded form ({}): {audit}",
        bounded(&long)
    );
    for principal in principals.iter().filter(|p| p.starts_with("AAAA")) {
        assert!(
            [bounded(&huge), bounded(&huge_too), bounded(&long)].contains(principal),
            "{principal:?} is not a bounded form of a name sent"
        );
    }
    // Two long names that differ only after 64 bytes stay distinct.
    assert_ne!(bounded(&huge), bounded(&huge_too));
}

/// Assumption: retention is applied as entries are written (or at least
/// within 30 s), so the count is polled with that deadline.
#[test]
fn the_audit_log_keeps_at_most_its_configured_rows() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-audit-rows");
    let host =
        HostProcess::start_with(&dir.join("host"), 320, 180, 30, &["--audit-max-rows", "50"])
            .expect("host starts");
    let raw = RawTls::new(&host.base_url, host.fingerprint).expect("raw TLS client");
    block_on(async {
        for i in 0..100u32 {
            // 50 addresses: most attempts are throttled (cheap), each audited.
            let source = Ipv4Addr::new(127, 0, 5, 1 + (i % 50) as u8);
            let answer = raw
                .request_from(source, &signin_request("demo", "a wrong password"))
                .await
                .expect("answered");
            assert!(matches!(answer.status, 401 | 429), "{}", answer.body_text());
        }
    });
    let rows = || {
        host.admin(&["audit", "--limit", "100000"], "")
            .map(|audit| audit.lines().count())
            .unwrap_or(usize::MAX)
    };
    let kept = wait_until(Duration::from_secs(30), || rows() <= 50);
    assert!(kept, "the audit log has {} rows (at most 50)", rows());
    assert!(rows() > 0, "retention kept the newest rows");
}

/// Assumption: only successful signed requests fill the cache (an unknown
/// key's nonces are never recorded), and the embedded entitlement service
/// makes no signed request while the test runs.
#[test]
fn a_full_replay_cache_refuses_requests_and_forgets_nothing() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-replay-cache");
    let host = HostProcess::start_with(
        &dir.join("host"),
        320,
        180,
        30,
        &["--replay-cache-capacity", "20"],
    )
    .expect("host starts");
    let admin = host.admin_api().expect("admin key");
    let stranger = api_client(
        &host,
        common::client::AccessKeyFile {
            key_id: "AKFFFFFFFFFFFFFFFF".into(),
            secret: "00".repeat(24),
        },
    );
    for _ in 0..25 {
        let answer = block_on(stranger.send_raw(Method::GET, "/api", Vec::new())).expect("sent");
        assert_eq!(answer.status, 401, "{}", text_of(&answer));
    }
    let first = admin.signed_headers(&Method::GET, "/api", b"", now_unix_s());
    let send_first = || {
        block_on(admin.send_with_headers(Method::GET, "/api", &first, Vec::new())).expect("sent")
    };
    let answer = send_first();
    assert_eq!(answer.status, 200, "{}", text_of(&answer));
    for i in 1..20 {
        let answer = block_on(admin.send_raw(Method::GET, "/api", Vec::new())).expect("sent");
        assert_eq!(
            answer.status,
            200,
            "request {}: {}",
            i + 1,
            text_of(&answer)
        );
    }
    let full = block_on(admin.send_raw(Method::GET, "/api", Vec::new())).expect("sent");
    assert_eq!(full.status, 503, "the 21st: {}", text_of(&full));
    assert_eq!(code_of(&full), "replay_cache_full");
    let replay = send_first();
    assert_eq!(
        replay.status,
        401,
        "a replay of the first: {}",
        text_of(&replay)
    );
}
