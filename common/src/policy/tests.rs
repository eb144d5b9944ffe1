//! Tests: how parsed policies decide requests (default deny, explicit Deny
//! wins, wildcards, NotAction/NotResource, conditions, trust statements).

use std::net::IpAddr;

use super::*;

fn request<'a>(action: &'a str, resource: &'a str) -> RequestContext<'a> {
    RequestContext {
        action,
        resource,
        source_ip: Some("192.168.1.20".parse().unwrap()),
        current_time_unix_s: 1_800_000_000,
        mfa_present: None,
        secure_transport: true,
    }
}

fn policy(json: &str) -> Policy {
    Policy::parse(json).unwrap()
}

#[test]
fn default_deny_allow_and_explicit_deny_wins() {
    let allow = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"appstream:*","Resource":"*"}}"#,
    );
    let deny = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"appstream:Delete*","Resource":"application/prod-*"}]}"#,
    );
    let r = request("appstream:DeleteApplication", "application/prod-1");
    assert_eq!(evaluate(&[], &r), Decision::ImplicitDeny);
    assert_eq!(evaluate(std::slice::from_ref(&allow), &r), Decision::Allow);
    let both = [allow.clone(), deny];
    let e = explain(&both, &r);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(
        (e.policy_index, e.sid.as_deref()),
        (Some(1), Some("NoDelete"))
    );
    assert_eq!(
        evaluate(
            &both,
            &request("appstream:DeleteApplication", "application/test")
        ),
        Decision::Allow
    );
}

#[test]
fn not_action_and_not_resource() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"appstream:Delete*","NotResource":"application/secret"}}"#,
    );
    assert!(
        evaluate(
            std::slice::from_ref(&p),
            &request("appstream:GetApplication", "application/x")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            std::slice::from_ref(&p),
            &request("appstream:DeleteApplication", "application/x")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            std::slice::from_ref(&p),
            &request("appstream:GetApplication", "application/secret")
        )
        .is_allowed()
    );
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

    let mfa = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"appstream:Delete*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":false}}}]}"#,
    );
    let mut d = request("appstream:DeleteApplication", "application/a");
    // An access key carries no MFA key at all: `Bool ... false` does not match.
    assert_eq!(evaluate(std::slice::from_ref(&mfa), &d), Decision::Allow);
    d.mfa_present = Some(false);
    assert_eq!(
        evaluate(std::slice::from_ref(&mfa), &d),
        Decision::ExplicitDeny
    );
    d.mfa_present = Some(true);
    assert_eq!(evaluate(std::slice::from_ref(&mfa), &d), Decision::Allow);
    let not_ip = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.168.1.0/24"}}}}"#,
    );
    assert_eq!(
        evaluate(
            std::slice::from_ref(&not_ip),
            &request("appstream:GetApiRoot", "*")
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn documents_in_every_accepted_shape() {
    let p = policy(
        r#"{"Version":"2008-10-17","Id":"p1","Statement":[
        {"Sid":"A","Effect":"Allow","Action":"APPSTREAM:getapplication","Resource":["arn:aws:appstream:::application/x","application/demo"]},
        {"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::1:root","Service":["a","b"]}},
        {"Effect":"Deny","Action":"dynamodb:*","Resource":"*","Condition":{}}]}"#,
    );
    assert_eq!((p.version(), p.id()), ("2008-10-17", Some("p1")));
    assert_eq!(p.sids().collect::<Vec<_>>(), [Some("A"), None, None]);
    assert!(p.is_trust_policy());
    let e = explain(
        std::slice::from_ref(&p),
        &request("appstream:GetApplication", "application/demo"),
    );
    assert_eq!(
        e,
        Explanation {
            decision: Decision::Allow,
            policy_index: Some(0),
            sid: Some("A".into())
        }
    );
    assert!(
        !policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
        )
        .is_trust_policy()
    );
}

#[test]
fn a_statement_with_a_principal_never_grants_an_api_action() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"appstream:*","Resource":"*"}}"#,
    );
    for action in ACTIONS {
        assert_eq!(
            evaluate(std::slice::from_ref(&p), &request(action, "*")),
            Decision::ImplicitDeny
        );
    }
}

#[test]
fn resources_are_case_sensitive_and_stars_cross_slashes() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"appstream:*Session*","Resource":"application/demo/*"}}"#,
    );
    let ps = std::slice::from_ref(&p);
    assert!(
        evaluate(
            ps,
            &request("appstream:GetSessionStatus", "application/demo/session/s-1")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            ps,
            &request("appstream:GetSessionStatus", "application/Demo/session/s-1")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            ps,
            &request("appstream:GetSessionStatus", "application/demo")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            ps,
            &request("appstream:GetApplication", "application/demo/x")
        )
        .is_allowed()
    );
}

#[test]
fn an_ipv4_peer_seen_through_a_dual_stack_socket_still_matches() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.168.1.0/24"}}}}"#,
    );
    let mut r = request("appstream:GetApiRoot", "*");
    r.source_ip = Some("::ffff:192.168.1.20".parse().unwrap());
    assert!(evaluate(std::slice::from_ref(&p), &r).is_allowed());
    r.source_ip = Some("2001:db8::1".parse().unwrap());
    assert!(!evaluate(std::slice::from_ref(&p), &r).is_allowed());
}

#[test]
fn date_bounds_are_exact_to_the_second() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
        "DateGreaterThanEquals":{"aws:CurrentTime":1800000000},"DateLessThan":{"aws:CurrentTime":"2027-01-15T08:00:00.5Z"}}}}"#,
    );
    let ps = std::slice::from_ref(&p);
    let mut r = request("appstream:GetApiRoot", "*");
    let end_s = time::OffsetDateTime::parse(
        "2027-01-15T08:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    for (now, allowed) in [
        (1_799_999_999, false),
        (1_800_000_000, true),
        (end_s, true),
        (end_s + 1, false),
    ] {
        r.current_time_unix_s = now;
        assert_eq!(evaluate(ps, &r).is_allowed(), allowed, "at {now}");
    }
}
