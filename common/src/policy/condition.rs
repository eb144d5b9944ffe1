//! Policy conditions: `IpAddress`/`NotIpAddress` on `aws:SourceIp`, the
//! `Date*` operators on `aws:CurrentTime`, and `Bool` on
//! `aws:MultiFactorAuthPresent` / `aws:SecureTransport`. Parsed and checked
//! when the policy is read, so evaluation cannot fail.

use ipnet::IpNet;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{PolicyError, RequestContext};

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
    IpAddress { negated: bool, networks: Vec<IpNet> },
    Date { operator: DateOperator, times_unix_s: Vec<i64> },
    Bool { key: BoolKey, values: Vec<bool> },
}

impl Condition {
    pub fn holds(&self, request: &RequestContext<'_>) -> bool {
        match self {
            Condition::IpAddress { negated, networks } => match request.source_ip {
                // No address known: neither operator can be shown to hold.
                None => false,
                Some(ip) => networks.iter().any(|n| n.contains(&ip)) != *negated,
            },
            Condition::Date { operator, times_unix_s } => {
                let now = request.current_time_unix_s;
                times_unix_s.iter().any(|t| match operator {
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
pub fn parse_conditions(statement: usize, block: &Value) -> Result<Vec<Condition>, PolicyError> {
    let err = |reason: String| PolicyError::Condition { statement, reason };
    let operators = block
        .as_object()
        .ok_or_else(|| err("Condition must be an object of operators".into()))?;
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let keys = keys
            .as_object()
            .ok_or_else(|| err(format!("{operator} must be an object of condition keys")))?;
        if keys.is_empty() {
            return Err(err(format!("{operator} names no condition key")));
        }
        for (key, values) in keys {
            let values = strings(values).ok_or_else(|| {
                err(format!("{operator} {key}: values must be strings, numbers or booleans, or a list of them"))
            })?;
            conditions.push(parse_one(operator, key, &values).map_err(err)?);
        }
    }
    Ok(conditions)
}

fn parse_one(operator: &str, key: &str, values: &[String]) -> Result<Condition, String> {
    let key_lower = key.to_ascii_lowercase();
    let wrong_key = |expected: &str| format!("{operator} applies to {expected}, not {key:?}");
    match operator {
        "IpAddress" | "NotIpAddress" => {
            if key_lower != "aws:sourceip" {
                return Err(wrong_key("aws:SourceIp"));
            }
            let networks = values
                .iter()
                .map(|v| parse_network(v).ok_or_else(|| format!("{operator}: {v:?} is not an IP address or CIDR")))
                .collect::<Result<_, _>>()?;
            Ok(Condition::IpAddress { negated: operator == "NotIpAddress", networks })
        }
        "DateLessThan" | "DateLessThanEquals" | "DateGreaterThan" | "DateGreaterThanEquals" => {
            if key_lower != "aws:currenttime" {
                return Err(wrong_key("aws:CurrentTime"));
            }
            let operator_kind = match operator {
                "DateLessThan" => DateOperator::LessThan,
                "DateLessThanEquals" => DateOperator::LessThanEquals,
                "DateGreaterThan" => DateOperator::GreaterThan,
                _ => DateOperator::GreaterThanEquals,
            };
            let times_unix_s = values
                .iter()
                .map(|v| parse_time(v).ok_or_else(|| format!("{operator}: {v:?} is not an RFC 3339 time or epoch seconds")))
                .collect::<Result<_, _>>()?;
            Ok(Condition::Date { operator: operator_kind, times_unix_s })
        }
        "Bool" => {
            let key = match key_lower.as_str() {
                "aws:multifactorauthpresent" => BoolKey::MultiFactorAuthPresent,
                "aws:securetransport" => BoolKey::SecureTransport,
                _ => return Err(wrong_key("aws:MultiFactorAuthPresent or aws:SecureTransport")),
            };
            let values = values
                .iter()
                .map(|v| match v.to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!("Bool: {v:?} is not true or false")),
                })
                .collect::<Result<_, _>>()?;
            Ok(Condition::Bool { key, values })
        }
        other => Err(format!(
            "unsupported condition operator {other:?} (supported: IpAddress, NotIpAddress, \
             DateLessThan, DateLessThanEquals, DateGreaterThan, DateGreaterThanEquals, Bool)"
        )),
    }
}

/// A string, number or boolean, or a non-empty list of them, as strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        other => one(other).map(|s| vec![s]),
    }
}

fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}
