//! Tests: keys a request lacks, as IAM evaluates them. An absent key is not
//! false: a condition on it does not match, its `...IfExists` form does, and
//! `Null` says whether it is there. By example, then by property.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

const KEYS: [&str; 4] = [
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:MultiFactorAuthPresent",
    "aws:SecureTransport",
];

fn request(mfa_present: Option<bool>, source_ip: Option<IpAddr>) -> RequestContext<'static> {
    RequestContext {
        action: "appstream:CreateSession",
        resource: "application/demo",
        source_ip,
        current_time_unix_s: 1_800_000_000,
        mfa_present,
        secure_transport: true,
    }
}

/// One Allow statement on everything with this Condition block.
fn allow_if(condition: serde_json::Value) -> Policy {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}
    });
    Policy::parse(&doc.to_string()).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

fn matches(condition: serde_json::Value, request: &RequestContext<'_>) -> bool {
    evaluate(&[allow_if(condition)], request).is_allowed()
}

#[test]
fn mfa_conditions_for_absent_true_and_false() {
    use serde_json::json;
    let lan = Some(IpAddr::from([192, 168, 1, 20]));
    // (condition, matches when absent, when true, when false)
    let cases = [
        (
            json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
            [false, true, false],
        ),
        (
            json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
            [false, false, true],
        ),
        (
            json!({"Bool": {"aws:MultiFactorAuthPresent": [true, false]}}),
            [false, true, true],
        ),
        (
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
            [true, true, false],
        ),
        (
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
            [true, false, true],
        ),
        (
            json!({"Null": {"aws:MultiFactorAuthPresent": "true"}}),
            [true, false, false],
        ),
        (
            json!({"Null": {"aws:MultiFactorAuthPresent": false}}),
            [false, true, true],
        ),
        (
            json!({"Null": {"aws:MultiFactorAuthPresent": ["true", "false"]}}),
            [true, true, true],
        ),
    ];
    for (condition, expected) in cases {
        for (mfa, expected) in [None, Some(true), Some(false)].into_iter().zip(expected) {
            assert_eq!(
                matches(condition.clone(), &request(mfa, lan)),
                expected,
                "{condition} with MFA {mfa:?}"
            );
        }
    }
}

#[test]
fn source_ip_and_always_present_keys() {
    use serde_json::json;
    let lan = Some(IpAddr::from([192, 168, 1, 20]));
    let wan = Some(IpAddr::from([203, 0, 113, 9]));
    // (condition, matches from the LAN, from elsewhere, with no address)
    let cases = [
        (
            json!({"IpAddress": {"aws:SourceIp": "192.168.1.0/24"}}),
            [true, false, false],
        ),
        (
            json!({"NotIpAddress": {"aws:SourceIp": "192.168.1.0/24"}}),
            [false, true, true],
        ),
        (
            json!({"IpAddressIfExists": {"aws:SourceIp": "192.168.1.0/24"}}),
            [true, false, true],
        ),
        (
            json!({"NotIpAddressIfExists": {"aws:SourceIp": "192.168.1.0/24"}}),
            [false, true, true],
        ),
        (
            json!({"Null": {"aws:SourceIp": "true"}}),
            [false, false, true],
        ),
        (
            json!({"Null": {"aws:SourceIp": "false"}}),
            [true, true, false],
        ),
        // Always present, whatever the address.
        (
            json!({"Null": {"aws:CurrentTime": "true"}}),
            [false, false, false],
        ),
        (
            json!({"Null": {"aws:SecureTransport": "false"}}),
            [true, true, true],
        ),
        (
            json!({"BoolIfExists": {"aws:SecureTransport": "false"}}),
            [false, false, false],
        ),
        (
            json!({"DateLessThanIfExists": {"aws:CurrentTime": 1_800_000_001}}),
            [true, true, true],
        ),
        (
            json!({"DateGreaterThanIfExists": {"aws:CurrentTime": 1_800_000_001}}),
            [false, false, false],
        ),
    ];
    for (condition, expected) in cases {
        for (ip, expected) in [lan, wan, None].into_iter().zip(expected) {
            assert_eq!(
                matches(condition.clone(), &request(Some(true), ip)),
                expected,
                "{condition} from {ip:?}"
            );
        }
    }
}

#[test]
fn deny_unless_mfa_denies_long_term_keys_only_with_if_exists() {
    let deny = |operator: &str| {
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "appstream:*", "Resource": "*"},
            {"Sid": "NoMfa", "Effect": "Deny", "Action": "appstream:*", "Resource": "*",
             "Condition": {operator: {"aws:MultiFactorAuthPresent": "false"}}}]});
        Policy::parse(&doc.to_string()).unwrap()
    };
    let access_key = request(None, None);
    assert_eq!(evaluate(&[deny("Bool")], &access_key), Decision::Allow);
    let e = explain(&[deny("BoolIfExists")], &access_key);
    assert_eq!(
        (e.decision, e.sid.as_deref()),
        (Decision::ExplicitDeny, Some("NoMfa"))
    );
}

/// A key's value in the request: None when absent.
fn key_value(key: &str, request: &RequestContext<'_>) -> Option<bool> {
    match key {
        "aws:MultiFactorAuthPresent" => request.mfa_present,
        "aws:SecureTransport" => Some(request.secure_transport),
        _ => unreachable!("{key} is not a boolean key"),
    }
}

fn key_is_present(key: &str, request: &RequestContext<'_>) -> bool {
    match key {
        "aws:SourceIp" => request.source_ip.is_some(),
        "aws:MultiFactorAuthPresent" => request.mfa_present.is_some(),
        _ => true,
    }
}

/// A boolean as a policy may spell it: JSON true/false or a string in any case.
fn spelled(value: bool, as_string: bool, upper: bool) -> serde_json::Value {
    match (as_string, upper) {
        (false, _) => value.into(),
        (true, false) => value.to_string().into(),
        (true, true) => value.to_string().to_ascii_uppercase().into(),
    }
}

fn context() -> impl Strategy<Value = RequestContext<'static>> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<[u8; 4]>().prop_map(IpAddr::from)),
        any::<bool>(),
        any::<i64>(),
    )
        .prop_map(|(mfa, ip, secure, now)| RequestContext {
            current_time_unix_s: now,
            secure_transport: secure,
            ..request(mfa, ip)
        })
}

proptest! {
    #[test]
    fn bool_bool_if_exists_and_null_follow_iam(
        operator in prop_oneof![Just("Bool"), Just("BoolIfExists"), Just("Null")],
        key_index in 0..KEYS.len(),
        values in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 1..3),
        deny in any::<bool>(),
        request in context(),
    ) {
        // Bool takes the two boolean keys only; Null takes all four.
        let key = match (operator, KEYS[key_index]) {
            ("Null", key) => key,
            (_, "aws:SourceIp") => "aws:MultiFactorAuthPresent",
            (_, "aws:CurrentTime") => "aws:SecureTransport",
            (_, key) => key,
        };
        let wanted: Vec<bool> = values.iter().map(|v| v.0).collect();
        let json_values: Vec<serde_json::Value> =
            values.iter().map(|&(v, as_string, upper)| spelled(v, as_string, upper)).collect();
        let expected = match operator {
            "Null" => wanted.contains(&!key_is_present(key, &request)),
            _ => match key_value(key, &request) {
                None => operator == "BoolIfExists",
                Some(actual) => wanted.contains(&actual),
            },
        };
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": {
            "Effect": if deny { "Deny" } else { "Allow" }, "Action": "*", "Resource": "*",
            "Condition": {operator: {key: json_values}}}});
        let policy = Policy::parse(&doc.to_string()).unwrap();
        let decision = evaluate(&[policy], &request);
        let expected = match (expected, deny) {
            (false, _) => Decision::ImplicitDeny,
            (true, false) => Decision::Allow,
            (true, true) => Decision::ExplicitDeny,
        };
        prop_assert_eq!(decision, expected, "{}", doc);
    }

    #[test]
    fn if_exists_is_the_base_operator_when_the_key_is_present(
        operator in prop_oneof![
            Just("IpAddress"), Just("NotIpAddress"), Just("DateLessThan"),
            Just("DateLessThanEquals"), Just("DateGreaterThan"),
            Just("DateGreaterThanEquals"), Just("Bool"),
        ],
        network in (any::<[u8; 4]>(), 0u8..=32),
        time_unix_s in any::<i64>().prop_map(|t| t / 4),
        wanted in any::<bool>(),
        request in context(),
    ) {
        let (key, value) = match operator {
            o if o.ends_with("IpAddress") => {
                let (address, prefix) = network;
                let cidr = format!("{}/{prefix}", IpAddr::from(address));
                ("aws:SourceIp", serde_json::Value::from(cidr))
            }
            o if o.starts_with("Date") => ("aws:CurrentTime", time_unix_s.into()),
            _ => ("aws:MultiFactorAuthPresent", wanted.into()),
        };
        let if_exists = format!("{operator}IfExists");
        let base = matches(serde_json::json!({operator: {key: value.clone()}}), &request);
        let or_absent = matches(serde_json::json!({if_exists.as_str(): {key: value}}), &request);
        if key_is_present(key, &request) {
            prop_assert_eq!(base, or_absent);
        } else {
            // A negated operator holds when its key is absent (IAM).
            prop_assert_eq!(base, operator.starts_with("Not"), "{} without {}", operator, key);
            prop_assert!(or_absent, "{} did not match without {}", if_exists, key);
        }
    }
}
