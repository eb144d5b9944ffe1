//! Tests: a malformed document is refused whole, with a message that says
//! what is wrong and where; parsing never panics, whatever the input.

use proptest::prelude::*;

use super::*;

/// One case per two lines: the input, then `→` and the start of the message.
/// Input shorthands: `S …` is a Statement value in a 2012-10-17 document;
/// `C …` is a Condition block in statement 1 (Allow, `*`, `*`).
const CASES: &str = r#"
{
→ not JSON: EOF while parsing an object at line 1 column 1
[]
→ a policy must be a JSON object, not a list
{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"},"Extra":1}
→ unknown top-level key "Extra" (expected Version, Id, Statement)
{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}
→ top-level key "Version" appears twice
{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}
→ missing Version ("2012-10-17")
{"Version":"2020","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}
→ Version must be "2012-10-17" or "2008-10-17", not "2020"
{"Version":"2012-10-17","Id":7,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}
→ Id must be a string, not a number
{"Version":"2012-10-17"}
→ missing Statement
S []
→ empty Statement list
S "x"
→ Statement must be an object or a list of objects, not a string
S [{"Effect":"Allow","Action":"*","Resource":"*"}, 3]
→ statement 2: must be a JSON object, not a number
S [{"Effect":"Allow","Actoin":"*","Resource":"*"}]
→ statement 1: unknown key "Actoin" (expected Sid, Effect, Action,
S [{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]
→ statement 1: key "Effect" appears twice
S [{"Effect":"allow","Action":"*","Resource":"*"}]
→ statement 1: Effect must be "Allow" or "Deny", not "allow"
S [{"Effect":true,"Action":"*","Resource":"*"}]
→ statement 1: Effect must be "Allow" or "Deny", not true
S [{"Action":"*","Resource":"*"}]
→ statement 1: missing Effect
S [{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}]
→ statement 1: Sid must be a string, not a number
S [{"Effect":"Allow","Resource":"*"}]
→ statement 1: has neither Action nor NotAction
S [{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]
→ statement 1: has both Action and NotAction
S [{"Effect":"Allow","Action":"*"}]
→ statement 1: has neither Resource nor NotResource (only a trust policy's statement, with a Principal,
S [{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"x"}]
→ statement 1: has both Resource and NotResource
S [{"Effect":"Allow","Action":"appstream","Resource":"*"}]
→ statement 1: Action "appstream" is not service:Name or *
S [{"Effect":"Allow","NotAction":["*","s3"],"Resource":"*"}]
→ statement 1: NotAction "s3" is not service:Name or *
S [{"Effect":"Allow","Action":["*",3],"Resource":"*"}]
→ statement 1: Action must be a string or a list of strings, not a number
S [{"Effect":"Allow","Action":[],"Resource":"*"}]
→ statement 1: Action is an empty list
S [{"Effect":"Allow","Action":"*","Resource":""}]
→ statement 1: Resource has an empty string
S [{"Effect":"Allow","Action":"*","Resource":{}}]
→ statement 1: Resource must be a string or a list of strings, not an object
S [{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"me"}]
→ statement 1: Principal must be "*" or a non-empty object such as {"Service": ["appstream.amazonaws.com"]}
S [{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":[]}}]
→ statement 1: Principal "AWS" must be a string or a non-empty list of strings
S [{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"a","AWS":"b"}}]
→ statement 1: key "Principal.AWS" appears twice
S [{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*","NotPrincipal":"*"}]
→ statement 1: has both Principal and NotPrincipal
S [{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0/8"}}}]
→ statement 2: condition IpAddress: "10.0.0/8" is not an IP address or CIDR
C []
→ statement 1: Condition must be an object of condition operators, not a list
C {"NotIpAddress":{"aws:SourceIp":[1]}}
→ statement 1: condition NotIpAddress: 1 is not an IP address or CIDR
C {"StringLike":{"aws:username":"a"}}
→ statement 1: condition operator "StringLike" is not supported (supported: IpAddress, NotIpAddress, DateLessThan,
C {"StringEqualsIfExists":{"aws:SourceIp":"10.0.0.0/8"}}
→ statement 1: condition operator "StringEqualsIfExists" is not supported (supported: IpAddress, NotIpAddress, DateLessThan,
C {"NullIfExists":{"aws:SourceIp":"true"}}
→ statement 1: condition operator "NullIfExists" is not supported (supported: IpAddress, NotIpAddress, DateLessThan, DateLessThanEquals, DateGreaterThan, DateGreaterThanEquals, Bool, each also as ...IfExists (e.g. BoolIfExists), and Null)
C {"ForAnyValue:BoolIfExists":{"aws:SecureTransport":"true"}}
→ statement 1: condition operator "ForAnyValue:BoolIfExists" is not supported: no ForAnyValue:/ForAllValues: set operators
C {"BoolIfExists":{"aws:SourceIp":"true"}}
→ statement 1: condition BoolIfExists: key "aws:SourceIp" does not go with BoolIfExists (it takes aws:MultiFactorAuthPresent or aws:SecureTransport)
C {"DateLessThanIfExists":{"aws:CurrentTime":"tomorrow"}}
→ statement 1: condition DateLessThanIfExists: "tomorrow" is not an RFC 3339 time or epoch seconds
C {"Null":{"aws:MultiFactorAuthPresent":"absent"}}
→ statement 1: condition Null: "absent" is not true or false
C {"Null":{"aws:username":"true"}}
→ statement 1: condition Null: key "aws:username" is not supported (supported: aws:SourceIp,
C {"Null":{"aws:SourceIp":[]}}
→ statement 1: condition Null: aws:SourceIp must be a string, number or boolean, or a non-empty list of them, not a list
C {"ForAnyValue:IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}
→ statement 1: condition operator "ForAnyValue:IpAddress" is not supported: no ForAnyValue:/ForAllValues: set operators
C {"ForAllValues:StringEquals":{"aws:TagKeys":"a"}}
→ statement 1: condition operator "ForAllValues:StringEquals" is not supported: no ForAnyValue:/ForAllValues:
C {"Bool":{"aws:SourceIp":"true"}}
→ statement 1: condition Bool: key "aws:SourceIp" does not go with Bool (it takes aws:MultiFactorAuthPresent or aws:SecureTransport)
C {"IpAddress":{"aws:CurrentTime":"10.0.0.1"}}
→ statement 1: condition IpAddress: key "aws:CurrentTime" does not go with IpAddress (it takes aws:SourceIp)
C {"DateLessThan":{"aws:SecureTransport":"10"}}
→ statement 1: condition DateLessThan: key "aws:SecureTransport" does not go with DateLessThan (it takes aws:CurrentTime)
C {"Bool":{"aws:username":"true"}}
→ statement 1: condition Bool: key "aws:username" is not supported (supported: aws:SourceIp,
C {"Bool":{"aws:SecureTransportIfExists":"true"}}
→ statement 1: condition Bool: key "aws:SecureTransportIfExists" is not supported
C {"Bool":{"aws:SecureTransport":"yes"}}
→ statement 1: condition Bool: "yes" is not true or false
C {"Bool":{"aws:SecureTransport":1}}
→ statement 1: condition Bool: 1 is not true or false
C {"DateLessThan":{"aws:CurrentTime":"tomorrow"}}
→ statement 1: condition DateLessThan: "tomorrow" is not an RFC 3339 time or epoch seconds
C {"DateGreaterThan":{"aws:CurrentTime":1.5}}
→ statement 1: condition DateGreaterThan: 1.5 is not an RFC 3339 time or epoch seconds
C {"DateLessThan":{"aws:CurrentTime":[]}}
→ statement 1: condition DateLessThan: aws:CurrentTime must be a string, number or boolean, or a non-empty list of them, not a list
C {"DateLessThan":{"aws:CurrentTime":null}}
→ statement 1: condition DateLessThan: aws:CurrentTime must be a string, number or boolean, or a non-empty list of them, not null
C {"Bool":{}}
→ statement 1: condition Bool: names no condition key
C {"Bool":"x"}
→ statement 1: condition Bool: must be an object of condition keys, not a string
C {"Bool":{"aws:SecureTransport":"true","AWS:securetransport":"false"}}
→ statement 1: condition Bool: key "AWS:securetransport" appears twice
C {"Bool":{"aws:SecureTransport":"true"},"Bool":{"aws:MultiFactorAuthPresent":"true"}}
→ statement 1: condition operator "Bool" appears twice
"#;

fn expand(input: &str) -> String {
    if let Some(statement) = input.strip_prefix("S ") {
        format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#)
    } else if let Some(condition) = input.strip_prefix("C ") {
        let statement =
            format!(r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}"#);
        format!(r#"{{"Version":"2012-10-17","Statement":{statement}}}"#)
    } else {
        input.to_string()
    }
}

#[test]
fn malformed_documents_are_refused_whole_with_the_reason() {
    let lines: Vec<&str> = CASES.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len() % 2, 0, "CASES pairs an input with its message");
    for case in lines.chunks(2) {
        let expected = case[1]
            .strip_prefix("→ ")
            .expect("a message line starts with →");
        let json = expand(case[0]);
        let refusal = Policy::parse(&json).expect_err(&json).to_string();
        assert!(
            refusal.starts_with(expected),
            "{json}\n → {refusal}\n expected {expected:?}"
        );
    }
    // Syntax errors say where.
    let refusal = Policy::parse("{\n  \"Version\": x}")
        .unwrap_err()
        .to_string();
    assert_eq!(refusal, "not JSON: expected value at line 2 column 14");
}

#[test]
fn errors_are_values_that_name_the_statement() {
    let e = Policy::parse(&expand(
        r#"S [{"Effect":"Allow","Actoin":"*","Resource":"*"}]"#,
    ));
    let unknown = StatementError::UnknownKey("Actoin".into());
    assert_eq!(
        e,
        Err(PolicyError::Statement {
            number: 1,
            error: unknown
        })
    );
    let e = Policy::parse(&expand(r#"C {"IpAddress":{"aws:SourceIp":"x"}}"#));
    let bad_ip = ConditionError::IpAddress {
        operator: "IpAddress".into(),
        value: "\"x\"".into(),
    };
    let error = StatementError::Condition(bad_ip);
    assert_eq!(e, Err(PolicyError::Statement { number: 1, error }));
}

#[test]
fn a_long_bad_value_is_cut_in_the_message() {
    let long = "x".repeat(10_000);
    let json = expand(&format!(
        r#"S {{"Effect":"{long}","Action":"*","Resource":"*"}}"#
    ));
    let refusal = Policy::parse(&json).unwrap_err().to_string();
    assert!(refusal.len() < 200, "{refusal}");
}

fn request(action: &str) -> RequestContext<'_> {
    RequestContext {
        action,
        resource: "application/demo",
        source_ip: Some([192, 168, 1, 20].into()),
        current_time_unix_s: 1_800_000_000,
        mfa_present: None,
        secure_transport: true,
    }
}

/// JSON-ish documents built from the policy grammar's own words, so the
/// generator reaches deep into validation instead of stopping at syntax.
fn json_ish() -> impl Strategy<Value = serde_json::Value> {
    let words = [
        "Version",
        "Statement",
        "Effect",
        "Allow",
        "Deny",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "Condition",
        "Sid",
        "IpAddress",
        "NotIpAddress",
        "DateLessThan",
        "Bool",
        "BoolIfExists",
        "IpAddressIfExists",
        "Null",
        "aws:MultiFactorAuthPresent",
        "aws:SourceIp",
        "aws:CurrentTime",
        "aws:SecureTransport",
        "2012-10-17",
        "appstream:*",
        "*",
        "10.0.0.0/8",
        "::1",
        "2026-01-01T00:00:00Z",
        "true",
        "application/*",
    ];
    let word = proptest::sample::select(words.to_vec()).prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        word.clone().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::vec((word.clone(), inner), 0..6)
                .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,400}") {
        let _ = Policy::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_json_ish_input(
        statements in json_ish(),
        version in prop_oneof![Just("2012-10-17"), Just("x")],
    ) {
        let doc = serde_json::json!({"Version": version, "Statement": statements});
        for text in [doc.to_string(), statements.to_string()] {
            if let Ok(p) = Policy::parse(&text) {
                for action in ACTIONS {
                    let e = explain(std::slice::from_ref(&p), &request(action));
                    prop_assert_eq!(e.decision, evaluate(std::slice::from_ref(&p), &request(action)));
                }
            }
        }
    }

    #[test]
    fn parse_never_panics_on_policy_shaped_input(
        effect in "(Allow|Deny|x)",
        action in "[a-z:*?A-Z]{0,20}",
        resource in "[a-z/*?]{0,20}",
        op in "(IpAddress|NotIpAddress|Bool|DateLessThan|Null|Foo)(IfExists)?",
        key in "(aws:SourceIp|aws:CurrentTime|aws:SecureTransport|aws:MultiFactorAuthPresent|k)",
        value in ".{0,20}",
    ) {
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": action, "Resource": resource,
                           "Condition": {op: {key: value}}}]
        });
        if let Ok(p) = Policy::parse(&doc.to_string()) {
            let _ = evaluate(&[p], &request("appstream:GetApiRoot"));
        }
    }

    #[test]
    fn a_parsed_policy_decides_every_action(
        effect in "(Allow|Deny)",
        action in "(\\*|appstream:\\*|appstream:Get\\*|appstream:\\?\\?\\?Session|dynamodb:\\*)",
        resource in "(\\*|application/\\*|application/demo|application/demo/session/\\*)",
    ) {
        let doc = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": {"Effect": effect, "Action": action, "Resource": resource}
        });
        let p = Policy::parse(&doc.to_string()).unwrap();
        for a in ACTIONS {
            let matches = wildcard_match(&action, a, true) && wildcard_match(&resource, "application/demo", false);
            let expected = match (matches, effect.as_str()) {
                (false, _) => Decision::ImplicitDeny,
                (true, "Allow") => Decision::Allow,
                (true, _) => Decision::ExplicitDeny,
            };
            prop_assert_eq!(evaluate(std::slice::from_ref(&p), &request(a)), expected);
        }
    }
}
