use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn request<'a>(action: &'a str, resource: &'a str) -> RequestContext<'a> {
    RequestContext {
        action,
        resource,
        source_ip: Some("192.168.1.20".parse().unwrap()),
        current_time_unix_s: 1_800_000_000,
        mfa_present: false,
        secure_transport: true,
    }
}

fn policy(json: &str) -> Policy {
    Policy::parse(json).unwrap()
}

#[test]
fn default_deny_allow_and_explicit_deny_wins() {
    let allow = policy(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"appstream:*","Resource":"*"}}"#);
    let deny = policy(r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"appstream:Delete*","Resource":"application/prod-*"}]}"#);
    let r = request("appstream:DeleteApplication", "application/prod-1");
    assert_eq!(evaluate(&[], &r), Decision::ImplicitDeny);
    assert_eq!(evaluate(std::slice::from_ref(&allow), &r), Decision::Allow);
    let both = [allow.clone(), deny];
    let e = explain(&both, &r);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!((e.policy_index, e.sid.as_deref()), (Some(1), Some("NoDelete")));
    assert_eq!(evaluate(&both, &request("appstream:DeleteApplication", "application/test")), Decision::Allow);
}

#[test]
fn not_action_and_not_resource() {
    let p = policy(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"appstream:Delete*","NotResource":"application/secret"}}"#);
    assert!(evaluate(std::slice::from_ref(&p), &request("appstream:GetApplication", "application/x")).is_allowed());
    assert!(!evaluate(std::slice::from_ref(&p), &request("appstream:DeleteApplication", "application/x")).is_allowed());
    assert!(!evaluate(std::slice::from_ref(&p), &request("appstream:GetApplication", "application/secret")).is_allowed());
}

#[test]
fn conditions_on_address_time_and_booleans() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.0/24"]},
                     "DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},
                     "DateLessThan":{"aws:CurrentTime":"2027-12-31T00:00:00Z"},
                     "Bool":{"aws:SecureTransport":"true"}}}}"#,
    );
    let ps = std::slice::from_ref(&p);
    let mut r = request("appstream:GetApiRoot", "*");
    assert!(evaluate(ps, &r).is_allowed());
    r.source_ip = Some("172.16.0.1".parse::<IpAddr>().unwrap());
    assert!(!evaluate(ps, &r).is_allowed());
    r.source_ip = None;
    assert!(!evaluate(ps, &r).is_allowed());
    r.source_ip = Some("10.1.2.3".parse().unwrap());
    r.secure_transport = false;
    assert!(!evaluate(ps, &r).is_allowed());
    r.secure_transport = true;
    r.current_time_unix_s = 1_900_000_000; // 2030
    assert!(!evaluate(ps, &r).is_allowed());

    let mfa = policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"appstream:Delete*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":false}}}]}"#);
    let mut d = request("appstream:DeleteApplication", "application/a");
    assert_eq!(evaluate(std::slice::from_ref(&mfa), &d), Decision::ExplicitDeny);
    d.mfa_present = true;
    assert_eq!(evaluate(std::slice::from_ref(&mfa), &d), Decision::Allow);
    let not_ip = policy(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.168.1.0/24"}}}}"#);
    assert_eq!(evaluate(std::slice::from_ref(&not_ip), &request("appstream:GetApiRoot", "*")), Decision::ImplicitDeny);
}

#[test]
fn malformed_documents_are_refused_whole_with_the_reason() {
    let cases = [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        (r#"{"Version":"2012-10-17","Statement":[],"Extra":1}"#, "unknown top-level key \"Extra\""),
        (r#"{"Version":"2020","Statement":[]}"#, "Version"),
        (r#"{"Version":"2012-10-17","Statement":[]}"#, "non-empty"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Actoin":"*","Resource":"*"}]}"#, "statement 1: unknown key \"Actoin\""),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#, "Effect must be"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#, "neither Action nor NotAction"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]}"#, "neither Resource"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appstream","Resource":"*"}]}"#, "not service:Name"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["*",3],"Resource":"*"}]}"#, "list of strings"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0/8"}}}]}"#, "statement 2: condition: IpAddress: \"10.0.0/8\""),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:username":"a"}}}]}"#, "unsupported condition operator \"StringLike\""),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#, "unsupported"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SourceIp":"true"}}}]}"#, "Bool applies to"),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}]}"#, "not an RFC 3339"),
    ];
    for (json, expected) in cases {
        let e = Policy::parse(json).unwrap_err().to_string();
        assert!(e.contains(expected), "{json}\n → {e}\n expected {expected:?}");
    }
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,400}") {
        let _ = Policy::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_policy_shaped_input(
        effect in "(Allow|Deny|x)",
        action in "[a-z:*?A-Z]{0,20}",
        resource in "[a-z/*?]{0,20}",
        op in "(IpAddress|NotIpAddress|Bool|DateLessThan|Foo)",
        key in "(aws:SourceIp|aws:CurrentTime|aws:SecureTransport|k)",
        value in ".{0,20}",
    ) {
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": action, "Resource": resource,
                           "Condition": {op: {key: value}}}]
        });
        if let Ok(p) = Policy::parse(&doc.to_string()) {
            let _ = evaluate(&[p], &request("appstream:GetApiRoot", "*"));
        }
    }
}
