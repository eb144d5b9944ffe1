//! Policy conditions: `IpAddress`/`NotIpAddress` on `aws:SourceIp`, the
//! `Date*` operators on `aws:CurrentTime`, `Bool` on
//! `aws:MultiFactorAuthPresent` / `aws:SecureTransport`, each also as
//! `...IfExists`, and `Null` on any of the four keys. Parsed and checked when
//! the policy is read, so evaluation cannot fail.
//!
//! Keys the request lacks follow IAM: `aws:MultiFactorAuthPresent` is absent
//! for long-term access keys and `aws:SourceIp` when no address is known
//! (`aws:CurrentTime` and `aws:SecureTransport` are always present). A
//! condition on an absent key does not match (so `Bool "false"` is not true
//! for a request without the key); its `...IfExists` form matches; `Null
//! "true"` matches exactly when the key is absent, `Null "false"` when present.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::RequestContext;
use super::json::Json;

const OPERATORS: &str = "IpAddress, NotIpAddress, DateLessThan, DateLessThanEquals, \
                         DateGreaterThan, DateGreaterThanEquals, Bool, each also as ...IfExists \
                         (e.g. BoolIfExists), and Null";
const KEYS: &str = "aws:SourceIp, aws:CurrentTime, aws:MultiFactorAuthPresent, aws:SecureTransport";

/// What is wrong with a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConditionError {
    #[error("Condition must be an object of condition operators, not {0}")]
    NotAnObject(&'static str),
    #[error("condition operator {0:?} appears twice")]
    DuplicateOperator(String),
    #[error("condition operator {0:?} is not supported (supported: {OPERATORS})")]
    UnsupportedOperator(String),
    #[error(
        "condition operator {0:?} is not supported: no ForAnyValue:/ForAllValues: set operators (our keys are single-valued)"
    )]
    SetOperator(String),
    #[error("condition {operator}: must be an object of condition keys, not {found}")]
    OperatorNotAnObject {
        operator: String,
        found: &'static str,
    },
    #[error("condition {0}: names no condition key")]
    NoKey(String),
    #[error("condition {operator}: key {key:?} is not supported (supported: {KEYS})")]
    UnsupportedKey { operator: String, key: String },
    #[error("condition {operator}: key {key:?} does not go with {operator} (it takes {expected})")]
    KeyMismatch {
        operator: String,
        key: String,
        expected: &'static str,
    },
    #[error("condition {operator}: key {key:?} appears twice")]
    DuplicateKey { operator: String, key: String },
    #[error(
        "condition {operator}: {key} must be a string, number or boolean, or a non-empty list of them, not {found}"
    )]
    ValueType {
        operator: String,
        key: String,
        found: &'static str,
    },
    #[error("condition {operator}: {value} is not an IP address or CIDR")]
    IpAddress { operator: String, value: String },
    #[error("condition {operator}: {value} is not an RFC 3339 time or epoch seconds")]
    Date { operator: String, value: String },
    #[error("condition {operator}: {value} is not true or false")]
    Bool { operator: String, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOperator {
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolKey {
    MultiFactorAuthPresent,
    SecureTransport,
}

impl BoolKey {
    /// None: the request lacks the key.
    fn value(self, request: &RequestContext<'_>) -> Option<bool> {
        match self {
            BoolKey::MultiFactorAuthPresent => request.mfa_present,
            BoolKey::SecureTransport => Some(request.secure_transport),
        }
    }
}

/// The condition keys we support, for `Null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionKey {
    SourceIp,
    CurrentTime,
    MultiFactorAuthPresent,
    SecureTransport,
}

impl ConditionKey {
    fn is_present(self, request: &RequestContext<'_>) -> bool {
        match self {
            ConditionKey::SourceIp => request.source_ip.is_some(),
            ConditionKey::MultiFactorAuthPresent => request.mfa_present.is_some(),
            ConditionKey::CurrentTime | ConditionKey::SecureTransport => true,
        }
    }
}

/// One operator with one key and its values (a list means any of them).
/// `if_exists`: the `...IfExists` form, which matches when the key is absent.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    IpAddress {
        negated: bool,
        networks: Vec<IpNet>,
        if_exists: bool,
    },
    /// Nanoseconds, so a fractional RFC 3339 time compares exactly.
    /// `aws:CurrentTime` is always present, so `Date*IfExists` is the same.
    Date {
        operator: DateOperator,
        times_unix_ns: Vec<i128>,
    },
    Bool {
        key: BoolKey,
        values: Vec<bool>,
        if_exists: bool,
    },
    /// `values` are the accepted answers to "is the key absent?".
    Null {
        key: ConditionKey,
        values: Vec<bool>,
    },
}

impl Condition {
    pub fn holds(&self, request: &RequestContext<'_>) -> bool {
        match self {
            Condition::IpAddress {
                negated,
                networks,
                if_exists,
            } => match request.source_ip {
                // No address known: the key is absent. As in IAM, a
                // condition that needs the key to match does not hold, one
                // that needs it not to match (NotIpAddress) does, and the
                // ...IfExists forms hold.
                None => *if_exists || *negated,
                Some(ip) => {
                    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
                    let canonical = ip.to_canonical();
                    let inside = networks
                        .iter()
                        .any(|n| n.contains(&ip) || n.contains(&canonical));
                    inside != *negated
                }
            },
            Condition::Date {
                operator,
                times_unix_ns,
            } => {
                let now = i128::from(request.current_time_unix_s) * 1_000_000_000;
                times_unix_ns.iter().any(|t| match operator {
                    DateOperator::LessThan => now < *t,
                    DateOperator::LessThanEquals => now <= *t,
                    DateOperator::GreaterThan => now > *t,
                    DateOperator::GreaterThanEquals => now >= *t,
                })
            }
            Condition::Bool {
                key,
                values,
                if_exists,
            } => match key.value(request) {
                None => *if_exists,
                Some(actual) => values.contains(&actual),
            },
            Condition::Null { key, values } => values.contains(&!key.is_present(request)),
        }
    }
}

/// Parses a statement's `Condition` block: operator → { key → value(s) }.
/// Every clause must hold (AND); a list of values means any of them (OR).
pub fn parse_conditions(block: &Json) -> Result<Vec<Condition>, ConditionError> {
    let Json::Object(operators) = block else {
        return Err(ConditionError::NotAnObject(block.kind()));
    };
    let mut seen_operators = BTreeSet::new();
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        if !seen_operators.insert(operator.as_str()) {
            return Err(ConditionError::DuplicateOperator(operator.clone()));
        }
        let (kind, if_exists) = operator_kind(operator)?;
        let Json::Object(keys) = keys else {
            return Err(ConditionError::OperatorNotAnObject {
                operator: operator.clone(),
                found: keys.kind(),
            });
        };
        if keys.is_empty() {
            return Err(ConditionError::NoKey(operator.clone()));
        }
        // Condition keys compare case-insensitively, so do duplicates.
        let mut seen_keys = BTreeSet::new();
        for (key, values) in keys {
            if !seen_keys.insert(key.to_ascii_lowercase()) {
                return Err(ConditionError::DuplicateKey {
                    operator: operator.clone(),
                    key: key.clone(),
                });
            }
            conditions.push(parse_clause(operator, kind, if_exists, key, values)?);
        }
    }
    Ok(conditions)
}

#[derive(Debug, Clone, Copy)]
enum OperatorKind {
    Ip { negated: bool },
    Date(DateOperator),
    Bool,
    Null,
}

/// The operator's kind, and whether it is the `...IfExists` form.
fn operator_kind(operator: &str) -> Result<(OperatorKind, bool), ConditionError> {
    // Refused rather than ignored: a statement with a condition we skip
    // would grant (or fail to deny) more than its author meant.
    if operator.starts_with("ForAnyValue:") || operator.starts_with("ForAllValues:") {
        return Err(ConditionError::SetOperator(operator.to_string()));
    }
    let (base, if_exists) = match operator.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (operator, false),
    };
    let kind = match base {
        "IpAddress" => OperatorKind::Ip { negated: false },
        "NotIpAddress" => OperatorKind::Ip { negated: true },
        "DateLessThan" => OperatorKind::Date(DateOperator::LessThan),
        "DateLessThanEquals" => OperatorKind::Date(DateOperator::LessThanEquals),
        "DateGreaterThan" => OperatorKind::Date(DateOperator::GreaterThan),
        "DateGreaterThanEquals" => OperatorKind::Date(DateOperator::GreaterThanEquals),
        "Bool" => OperatorKind::Bool,
        // Null tests existence itself: there is no NullIfExists.
        "Null" if !if_exists => OperatorKind::Null,
        _ => return Err(ConditionError::UnsupportedOperator(operator.to_string())),
    };
    Ok((kind, if_exists))
}

fn parse_clause(
    operator: &str,
    kind: OperatorKind,
    if_exists: bool,
    key: &str,
    values: &Json,
) -> Result<Condition, ConditionError> {
    let mismatch = |expected: &'static str| ConditionError::KeyMismatch {
        operator: operator.to_string(),
        key: key.to_string(),
        expected,
    };
    let condition_key = match key.to_ascii_lowercase().as_str() {
        "aws:sourceip" => ConditionKey::SourceIp,
        "aws:currenttime" => ConditionKey::CurrentTime,
        "aws:multifactorauthpresent" => ConditionKey::MultiFactorAuthPresent,
        "aws:securetransport" => ConditionKey::SecureTransport,
        _ => {
            return Err(ConditionError::UnsupportedKey {
                operator: operator.to_string(),
                key: key.to_string(),
            });
        }
    };
    let values = scalars(values).ok_or_else(|| ConditionError::ValueType {
        operator: operator.to_string(),
        key: key.to_string(),
        found: values.kind(),
    })?;
    let operator = operator.to_string();
    match kind {
        OperatorKind::Ip { negated } => {
            if condition_key != ConditionKey::SourceIp {
                return Err(mismatch("aws:SourceIp"));
            }
            let networks = each(&values, network, |value| ConditionError::IpAddress {
                operator,
                value,
            })?;
            Ok(Condition::IpAddress {
                negated,
                networks,
                if_exists,
            })
        }
        OperatorKind::Date(date_operator) => {
            if condition_key != ConditionKey::CurrentTime {
                return Err(mismatch("aws:CurrentTime"));
            }
            let times_unix_ns = each(&values, time_unix_ns, |value| ConditionError::Date {
                operator,
                value,
            })?;
            Ok(Condition::Date {
                operator: date_operator,
                times_unix_ns,
            })
        }
        OperatorKind::Bool => {
            let key = match condition_key {
                ConditionKey::MultiFactorAuthPresent => BoolKey::MultiFactorAuthPresent,
                ConditionKey::SecureTransport => BoolKey::SecureTransport,
                ConditionKey::SourceIp | ConditionKey::CurrentTime => {
                    return Err(mismatch(
                        "aws:MultiFactorAuthPresent or aws:SecureTransport",
                    ));
                }
            };
            let values = each(&values, boolean, |value| ConditionError::Bool {
                operator,
                value,
            })?;
            Ok(Condition::Bool {
                key,
                values,
                if_exists,
            })
        }
        OperatorKind::Null => {
            let values = each(&values, boolean, |value| ConditionError::Bool {
                operator,
                value,
            })?;
            Ok(Condition::Null {
                key: condition_key,
                values,
            })
        }
    }
}

/// Converts every value, or names the first one that does not convert.
fn each<T>(
    values: &[&Json],
    convert: fn(&Json) -> Option<T>,
    error: impl FnOnce(String) -> ConditionError,
) -> Result<Vec<T>, ConditionError> {
    match values.iter().find(|v| convert(v).is_none()) {
        Some(bad) => Err(error(bad.describe())),
        None => Ok(values.iter().filter_map(|v| convert(v)).collect()),
    }
}

/// A string, number or boolean, or a non-empty list of them.
fn scalars(value: &Json) -> Option<Vec<&Json>> {
    let scalar = |v: &Json| matches!(v, Json::String(_) | Json::Number(_) | Json::Bool(_));
    match value {
        Json::List(items) if !items.is_empty() && items.iter().all(scalar) => {
            Some(items.iter().collect())
        }
        one if scalar(one) => Some(vec![one]),
        _ => None,
    }
}

fn network(value: &Json) -> Option<IpNet> {
    let Json::String(text) = value else {
        return None;
    };
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn time_unix_ns(value: &Json) -> Option<i128> {
    let seconds = match value {
        Json::Number(n) => n.as_i64(),
        Json::String(text) => text.parse::<i64>().ok(),
        _ => return None,
    };
    if let Some(seconds) = seconds {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    match value {
        Json::String(text) => OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp_nanos()),
        _ => None,
    }
}

fn boolean(value: &Json) -> Option<bool> {
    match value {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Json::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<Condition>, ConditionError> {
        parse_conditions(&serde_json::from_str::<Json>(json).unwrap())
    }

    #[test]
    fn values_in_every_accepted_form() {
        let c = parse(r#"{"DateLessThan":{"aws:currenttime":["2026-01-01T00:00:00.5Z", 1800000000, "1900000000"]},
                          "Bool":{"AWS:SecureTransport":[true,"FALSE"]},
                          "IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::1","192.168.1.7"]}}"#)
        .unwrap();
        assert_eq!(c.len(), 3);
        let ns = 1_000_000_000_i128;
        assert!(c.contains(&Condition::Date {
            operator: DateOperator::LessThan,
            times_unix_ns: vec![
                1_767_225_600 * ns + ns / 2,
                1_800_000_000 * ns,
                1_900_000_000 * ns
            ],
        }));
        assert!(c.contains(&Condition::Bool {
            key: BoolKey::SecureTransport,
            values: vec![true, false],
            if_exists: false,
        }));
    }

    #[test]
    fn if_exists_forms_and_null() {
        let c = parse(
            r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"},
                "NotIpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"},
                "DateGreaterThanIfExists":{"aws:CurrentTime":1800000000},
                "Null":{"aws:SourceIp":"true","AWS:multifactorauthpresent":[false]}}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            [
                Condition::Bool {
                    key: BoolKey::MultiFactorAuthPresent,
                    values: vec![true],
                    if_exists: true,
                },
                Condition::IpAddress {
                    negated: true,
                    networks: vec!["10.0.0.0/8".parse().unwrap()],
                    if_exists: true,
                },
                Condition::Date {
                    operator: DateOperator::GreaterThan,
                    times_unix_ns: vec![1_800_000_000_000_000_000],
                },
                Condition::Null {
                    key: ConditionKey::SourceIp,
                    values: vec![true],
                },
                Condition::Null {
                    key: ConditionKey::MultiFactorAuthPresent,
                    values: vec![false],
                },
            ]
        );
        for refused in [
            "NullIfExists",
            "IfExists",
            "StringEqualsIfExists",
            "boolIfExists",
        ] {
            let json = format!(r#"{{"{refused}":{{"aws:SourceIp":"true"}}}}"#);
            assert_eq!(
                parse(&json),
                Err(ConditionError::UnsupportedOperator(refused.to_string()))
            );
        }
    }
}
