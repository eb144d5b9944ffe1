//! Policy conditions: `IpAddress`/`NotIpAddress` on `aws:SourceIp`, the
//! `Date*` operators on `aws:CurrentTime`, and `Bool` on
//! `aws:MultiFactorAuthPresent` / `aws:SecureTransport`. Parsed and checked
//! when the policy is read, so evaluation cannot fail.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::RequestContext;
use super::json::Json;

const OPERATORS: &str = "IpAddress, NotIpAddress, DateLessThan, DateLessThanEquals, \
                         DateGreaterThan, DateGreaterThanEquals, Bool";
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
        "condition operator {0:?} is not supported: no ...IfExists operators (a missing value never matches)"
    )]
    IfExists(String),
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

/// One operator with one key and its values (a list means any of them).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    IpAddress {
        negated: bool,
        networks: Vec<IpNet>,
    },
    /// Nanoseconds, so a fractional RFC 3339 time compares exactly.
    Date {
        operator: DateOperator,
        times_unix_ns: Vec<i128>,
    },
    Bool {
        key: BoolKey,
        values: Vec<bool>,
    },
}

impl Condition {
    pub fn holds(&self, request: &RequestContext<'_>) -> bool {
        match self {
            Condition::IpAddress { negated, networks } => match request.source_ip {
                // No address known: neither operator can be shown to hold.
                None => false,
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
            Condition::Bool { key, values } => {
                let actual = match key {
                    BoolKey::MultiFactorAuthPresent => request.mfa_present,
                    BoolKey::SecureTransport => request.secure_transport,
                };
                values.contains(&actual)
            }
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
        let kind = operator_kind(operator)?;
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
            conditions.push(parse_clause(operator, kind, key, values)?);
        }
    }
    Ok(conditions)
}

#[derive(Debug, Clone, Copy)]
enum OperatorKind {
    Ip { negated: bool },
    Date(DateOperator),
    Bool,
}

fn operator_kind(operator: &str) -> Result<OperatorKind, ConditionError> {
    Ok(match operator {
        "IpAddress" => OperatorKind::Ip { negated: false },
        "NotIpAddress" => OperatorKind::Ip { negated: true },
        "DateLessThan" => OperatorKind::Date(DateOperator::LessThan),
        "DateLessThanEquals" => OperatorKind::Date(DateOperator::LessThanEquals),
        "DateGreaterThan" => OperatorKind::Date(DateOperator::GreaterThan),
        "DateGreaterThanEquals" => OperatorKind::Date(DateOperator::GreaterThanEquals),
        "Bool" => OperatorKind::Bool,
        // Refused rather than ignored: a statement with a condition we skip
        // would grant (or fail to deny) more than its author meant.
        other if other.starts_with("ForAnyValue:") || other.starts_with("ForAllValues:") => {
            return Err(ConditionError::SetOperator(other.to_string()));
        }
        other if other.ends_with("IfExists") => {
            return Err(ConditionError::IfExists(other.to_string()));
        }
        other => return Err(ConditionError::UnsupportedOperator(other.to_string())),
    })
}

fn parse_clause(
    operator: &str,
    kind: OperatorKind,
    key: &str,
    values: &Json,
) -> Result<Condition, ConditionError> {
    let key_lower = key.to_ascii_lowercase();
    let mismatch = |expected: &'static str| ConditionError::KeyMismatch {
        operator: operator.to_string(),
        key: key.to_string(),
        expected,
    };
    if !matches!(
        key_lower.as_str(),
        "aws:sourceip" | "aws:currenttime" | "aws:multifactorauthpresent" | "aws:securetransport"
    ) {
        return Err(ConditionError::UnsupportedKey {
            operator: operator.to_string(),
            key: key.to_string(),
        });
    }
    let values = scalars(values).ok_or_else(|| ConditionError::ValueType {
        operator: operator.to_string(),
        key: key.to_string(),
        found: values.kind(),
    })?;
    let operator = operator.to_string();
    match kind {
        OperatorKind::Ip { negated } => {
            if key_lower != "aws:sourceip" {
                return Err(mismatch("aws:SourceIp"));
            }
            let networks = each(&values, network, |value| ConditionError::IpAddress {
                operator,
                value,
            })?;
            Ok(Condition::IpAddress { negated, networks })
        }
        OperatorKind::Date(date_operator) => {
            if key_lower != "aws:currenttime" {
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
            let key = match key_lower.as_str() {
                "aws:multifactorauthpresent" => BoolKey::MultiFactorAuthPresent,
                "aws:securetransport" => BoolKey::SecureTransport,
                _ => {
                    return Err(mismatch(
                        "aws:MultiFactorAuthPresent or aws:SecureTransport",
                    ));
                }
            };
            let values = each(&values, boolean, |value| ConditionError::Bool {
                operator,
                value,
            })?;
            Ok(Condition::Bool { key, values })
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
            values: vec![true, false]
        }));
    }
}
