//! Reading a policy document: the IAM grammar we support, checked whole.
//! Anything unknown or malformed refuses the document with a reason naming
//! the statement and the key, so nothing is ever half-applied.

use serde_json::{Map, Value};

use super::condition::parse_conditions;
use super::{Policy, PolicyError, Statement};

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];
const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

pub fn parse(json: &str) -> Result<Policy, PolicyError> {
    let value: Value = serde_json::from_str(json).map_err(|e| PolicyError::NotJson(e.to_string()))?;
    let document = value.as_object().ok_or(PolicyError::NotAnObject)?;
    for key in document.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(PolicyError::UnknownKey(key.clone()));
        }
    }
    match document.get("Version") {
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
        _ => return Err(PolicyError::Version),
    }
    let statements = match document.get("Statement") {
        None => return Err(PolicyError::NoStatement),
        Some(Value::Array(list)) if list.is_empty() => return Err(PolicyError::NoStatement),
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err(PolicyError::NoStatement),
    };
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| statement(i + 1, s))
        .collect::<Result<_, _>>()?;
    Ok(Policy { statements })
}

fn statement(number: usize, value: &Value) -> Result<Statement, PolicyError> {
    let err = |reason: String| PolicyError::Statement { number, reason };
    let object = value
        .as_object()
        .ok_or_else(|| err("is not an object".into()))?;
    for key in object.keys() {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            return Err(err(format!("unknown key {key:?}")));
        }
    }
    let sid = match object.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err("Sid must be a string".into())),
    };
    let allow = match object.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => true,
        Some(Value::String(e)) if e == "Deny" => false,
        Some(other) => {
            return Err(err(format!("Effect must be \"Allow\" or \"Deny\", not {other}")));
        }
        None => return Err(err("has no Effect".into())),
    };
    let (actions, not_action) = either(object, "Action", "NotAction", &err)?
        .ok_or_else(|| err("has neither Action nor NotAction".into()))?;
    for action in &actions {
        if action != "*" && !is_service_action(action) {
            return Err(err(format!("Action {action:?} is not service:Name or *")));
        }
    }
    let principal = object.contains_key("Principal") || object.contains_key("NotPrincipal");
    if let Some(p) = object.get("Principal").or_else(|| object.get("NotPrincipal")) {
        check_principal(p).map_err(&err)?;
    }
    let (resources, not_resource) = match either(object, "Resource", "NotResource", &err)? {
        Some(r) => r,
        // Trust policies name a principal instead of resources.
        None if principal => (Vec::new(), false),
        None => return Err(err("has neither Resource nor NotResource".into())),
    };
    let conditions = match object.get("Condition") {
        Some(block) => parse_conditions(number, block)?,
        None => Vec::new(),
    };
    Ok(Statement {
        sid,
        allow,
        actions,
        not_action,
        resources,
        not_resource,
        principal,
        conditions,
    })
}

/// Exactly one of two keys (e.g. Action / NotAction), as a list of strings.
fn either(
    object: &Map<String, Value>,
    positive: &str,
    negative: &str,
    err: &dyn Fn(String) -> PolicyError,
) -> Result<Option<(Vec<String>, bool)>, PolicyError> {
    match (object.get(positive), object.get(negative)) {
        (Some(_), Some(_)) => Err(err(format!("has both {positive} and {negative}"))),
        (Some(v), None) => Ok(Some((string_list(v, positive, err)?, false))),
        (None, Some(v)) => Ok(Some((string_list(v, negative, err)?, true))),
        (None, None) => Ok(None),
    }
}

fn string_list(
    value: &Value,
    key: &str,
    err: &dyn Fn(String) -> PolicyError,
) -> Result<Vec<String>, PolicyError> {
    let list = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| err(format!("{key} must be a string or a list of strings")))?,
        _ => return Err(err(format!("{key} must be a string or a non-empty list of strings"))),
    };
    if list.iter().any(String::is_empty) {
        return Err(err(format!("{key} has an empty entry")));
    }
    Ok(list)
}

fn is_service_action(action: &str) -> bool {
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
}

/// `"*"` or an object of type → string or list of strings.
fn check_principal(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) if s == "*" => Ok(()),
        Value::Object(types) if !types.is_empty() => {
            for (kind, names) in types {
                let ok = match names {
                    Value::String(_) => true,
                    Value::Array(items) => items.iter().all(Value::is_string),
                    _ => false,
                };
                if !ok {
                    return Err(format!("Principal {kind} must be a string or a list of strings"));
                }
            }
            Ok(())
        }
        _ => Err("Principal must be \"*\" or an object such as {\"Service\": [...]}".into()),
    }
}
