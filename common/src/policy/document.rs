//! Reading a policy document: the IAM grammar we support, checked whole.
//! Anything unknown or malformed refuses the document with a reason naming
//! the statement (1-based) and the key, so nothing is ever half-applied.

use std::collections::BTreeSet;

use thiserror::Error;

use super::condition::{ConditionError, parse_conditions};
use super::json::Json;
use super::pattern::is_action_pattern;
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

/// What is wrong with one statement (`PolicyError::Statement` says which).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatementError {
    #[error("must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error(
        "unknown key {0:?} (expected Sid, Effect, Action, NotAction, Resource, NotResource, Principal, NotPrincipal, Condition)"
    )]
    UnknownKey(String),
    #[error("key {0:?} appears twice")]
    DuplicateKey(String),
    #[error("{key} must be {expected}, not {found}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("missing Effect (\"Allow\" or \"Deny\")")]
    MissingEffect,
    #[error("Effect must be \"Allow\" or \"Deny\", not {0}")]
    Effect(String),
    #[error("has neither Action nor NotAction")]
    NoAction,
    #[error(
        "has neither Resource nor NotResource (only a trust policy's statement, with a Principal, may leave them out)"
    )]
    NoResource,
    #[error("has both {0} and {1}")]
    Both(&'static str, &'static str),
    #[error("{0} is an empty list")]
    EmptyList(&'static str),
    #[error("{0} has an empty string")]
    EmptyString(&'static str),
    #[error("{key} {value} is not service:Name or *")]
    ActionForm { key: &'static str, value: String },
    #[error(
        "{0} must be \"*\" or a non-empty object such as {{\"Service\": [\"appstream.amazonaws.com\"]}}"
    )]
    Principal(&'static str),
    #[error("{key} {kind:?} must be a string or a non-empty list of strings")]
    PrincipalNames { key: &'static str, kind: String },
    #[error(transparent)]
    Condition(#[from] ConditionError),
}

/// The first key of `pairs` that is not in `allowed`, or that appears twice.
fn check_keys<'a>(pairs: &'a [(String, Json)], allowed: &[&str]) -> Result<(), (bool, &'a str)> {
    let mut seen = BTreeSet::new();
    for (key, _) in pairs {
        if !allowed.contains(&key.as_str()) {
            return Err((false, key));
        }
        if !seen.insert(key.as_str()) {
            return Err((true, key));
        }
    }
    Ok(())
}

fn get<'a>(pairs: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

pub fn parse(json: &str) -> Result<Policy, PolicyError> {
    // serde_json's message names the line and column of a syntax error.
    let value: Json =
        serde_json::from_str(json).map_err(|e| PolicyError::NotJson(e.to_string()))?;
    let Json::Object(document) = &value else {
        return Err(PolicyError::NotAnObject(value.kind()));
    };
    check_keys(document, &["Version", "Id", "Statement"]).map_err(|(duplicate, key)| {
        match duplicate {
            true => PolicyError::DuplicateKey(key.to_string()),
            false => PolicyError::UnknownKey(key.to_string()),
        }
    })?;
    let version = match get(document, "Version") {
        None => return Err(PolicyError::MissingVersion),
        Some(Json::String(v)) if VERSIONS.contains(&v.as_str()) => v.clone(),
        Some(other) => return Err(PolicyError::Version(other.describe())),
    };
    let id = match get(document, "Id") {
        None => None,
        Some(Json::String(id)) => Some(id.clone()),
        Some(other) => return Err(PolicyError::Id(other.kind())),
    };
    let statements: Vec<&Json> = match get(document, "Statement") {
        None => return Err(PolicyError::MissingStatement),
        Some(Json::List(list)) if list.is_empty() => return Err(PolicyError::EmptyStatementList),
        Some(Json::List(list)) => list.iter().collect(),
        Some(one @ Json::Object(_)) => vec![one],
        Some(other) => return Err(PolicyError::StatementType(other.kind())),
    };
    let statements = statements
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            statement(s).map_err(|error| PolicyError::Statement {
                number: i + 1,
                error,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        version,
        id,
        statements,
    })
}

fn statement(value: &Json) -> Result<Statement, StatementError> {
    let Json::Object(object) = value else {
        return Err(StatementError::NotAnObject(value.kind()));
    };
    check_keys(object, &STATEMENT_KEYS).map_err(|(duplicate, key)| match duplicate {
        true => StatementError::DuplicateKey(key.to_string()),
        false => StatementError::UnknownKey(key.to_string()),
    })?;
    let sid = match get(object, "Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type("Sid", "a string", other)),
    };
    let allow = match get(object, "Effect") {
        Some(Json::String(e)) if e == "Allow" => true,
        Some(Json::String(e)) if e == "Deny" => false,
        Some(other) => return Err(StatementError::Effect(other.describe())),
        None => return Err(StatementError::MissingEffect),
    };
    let (actions, not_action) =
        either(object, "Action", "NotAction")?.ok_or(StatementError::NoAction)?;
    let action_key = if not_action { "NotAction" } else { "Action" };
    if let Some(bad) = actions.iter().find(|a| !is_action_pattern(a)) {
        return Err(StatementError::ActionForm {
            key: action_key,
            value: Json::String(bad.clone()).describe(),
        });
    }
    let principal = match (get(object, "Principal"), get(object, "NotPrincipal")) {
        (Some(_), Some(_)) => return Err(StatementError::Both("Principal", "NotPrincipal")),
        (Some(p), None) => check_principal("Principal", p).map(|()| true)?,
        (None, Some(p)) => check_principal("NotPrincipal", p).map(|()| true)?,
        (None, None) => false,
    };
    let (resources, not_resource) = match either(object, "Resource", "NotResource")? {
        Some(r) => r,
        // Trust policies name a principal instead of resources.
        None if principal => (Vec::new(), false),
        None => return Err(StatementError::NoResource),
    };
    let conditions = match get(object, "Condition") {
        Some(block) => parse_conditions(block)?,
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

fn wrong_type(key: &'static str, expected: &'static str, found: &Json) -> StatementError {
    StatementError::WrongType {
        key,
        expected,
        found: found.kind(),
    }
}

/// Exactly one of two keys (e.g. Action / NotAction), as a list of strings;
/// `true` for the negative one.
fn either(
    object: &[(String, Json)],
    positive: &'static str,
    negative: &'static str,
) -> Result<Option<(Vec<String>, bool)>, StatementError> {
    match (get(object, positive), get(object, negative)) {
        (Some(_), Some(_)) => Err(StatementError::Both(positive, negative)),
        (Some(v), None) => Ok(Some((string_list(v, positive)?, false))),
        (None, Some(v)) => Ok(Some((string_list(v, negative)?, true))),
        (None, None) => Ok(None),
    }
}

fn string_list(value: &Json, key: &'static str) -> Result<Vec<String>, StatementError> {
    const EXPECTED: &str = "a string or a list of strings";
    let list = match value {
        Json::String(s) => vec![s.clone()],
        Json::List(items) if items.is_empty() => return Err(StatementError::EmptyList(key)),
        Json::List(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.clone()),
                other => Err(wrong_type(key, EXPECTED, other)),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(wrong_type(key, EXPECTED, other)),
    };
    if list.iter().any(String::is_empty) {
        return Err(StatementError::EmptyString(key));
    }
    Ok(list)
}

/// `"*"` or an object of principal type → name or names. Recorded, not
/// evaluated: a trust policy says who may assume a role.
fn check_principal(key: &'static str, value: &Json) -> Result<(), StatementError> {
    match value {
        Json::String(s) if s == "*" => Ok(()),
        Json::Object(types) if !types.is_empty() => {
            let mut seen = BTreeSet::new();
            for (kind, names) in types {
                if !seen.insert(kind.as_str()) {
                    return Err(StatementError::DuplicateKey(format!("{key}.{kind}")));
                }
                let ok = match names {
                    Json::String(s) => !s.is_empty(),
                    Json::List(items) => {
                        !items.is_empty()
                            && items
                                .iter()
                                .all(|i| matches!(i, Json::String(s) if !s.is_empty()))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(StatementError::PrincipalNames {
                        key,
                        kind: kind.clone(),
                    });
                }
            }
            Ok(())
        }
        _ => Err(StatementError::Principal(key)),
    }
}
