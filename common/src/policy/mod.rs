//! IAM-style policies: parse and validate a document, then decide a request
//! (action, resource, context) against a principal's policies. Default deny;
//! an explicit Deny wins. Sans-IO: the time and the source address come in
//! with the request. Condition keys follow IAM: a key the request lacks is
//! absent, not false (see `condition`).

mod condition;
mod document;
mod json;
mod pattern;

use std::net::IpAddr;

use thiserror::Error;

pub use condition::ConditionError;
pub use document::StatementError;
pub use pattern::wildcard_match;

/// The 15 operations of the API, as IAM actions.
pub const ACTIONS: [&str; 15] = [
    "appstream:GetApiRoot",
    "appstream:GetApplications",
    "appstream:CreateApplication",
    "appstream:GetApplication",
    "appstream:UpdateApplication",
    "appstream:DeleteApplication",
    "appstream:GetApplicationStatus",
    "appstream:UpdateApplicationState",
    "appstream:GetApplicationErrors",
    "appstream:GetApplicationError",
    "appstream:GetSessions",
    "appstream:CreateSession",
    "appstream:GetSession",
    "appstream:GetSessionStatus",
    "appstream:UpdateSessionState",
];

/// Why a document was refused; the message says what and where
/// (statements are numbered from 1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// serde_json's message, with the line and column.
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("a policy must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("unknown top-level key {0:?} (expected Version, Id, Statement)")]
    UnknownKey(String),
    #[error("top-level key {0:?} appears twice")]
    DuplicateKey(String),
    #[error("missing Version (\"2012-10-17\")")]
    MissingVersion,
    #[error("Version must be \"2012-10-17\" or \"2008-10-17\", not {0}")]
    Version(String),
    #[error("Id must be a string, not {0}")]
    Id(&'static str),
    #[error("missing Statement")]
    MissingStatement,
    #[error("empty Statement list")]
    EmptyStatementList,
    #[error("Statement must be an object or a list of objects, not {0}")]
    StatementType(&'static str),
    #[error("statement {number}: {error}")]
    Statement {
        number: usize,
        error: StatementError,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    sid: Option<String>,
    allow: bool,
    actions: Vec<String>,
    not_action: bool,
    resources: Vec<String>,
    not_resource: bool,
    /// Names a principal: a trust policy's statement, never an API grant.
    principal: bool,
    conditions: Vec<condition::Condition>,
}

impl Statement {
    fn applies(&self, request: &RequestContext<'_>) -> bool {
        if self.principal {
            return false;
        }
        let action = self
            .actions
            .iter()
            .any(|p| wildcard_match(p, request.action, true));
        let resource = self
            .resources
            .iter()
            .any(|p| wildcard_match(p, request.resource, false));
        action != self.not_action
            && resource != self.not_resource
            && self.conditions.iter().all(|c| c.holds(request))
    }
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    version: String,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl Policy {
    /// Refuses the whole document on any problem, saying what and where.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        document::parse(json)
    }

    /// A trust policy says who may assume a role, not what it may do.
    pub fn is_trust_policy(&self) -> bool {
        self.statements.iter().any(|s| s.principal)
    }

    /// `2012-10-17` or `2008-10-17`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The `Sid` of each statement, in order (`None` where it has none).
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.statements.iter().map(|s| s.sid.as_deref())
    }
}

/// What is being asked, and in what circumstances.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    /// e.g. `appstream:CreateSession`.
    pub action: &'a str,
    /// e.g. `application/demo`, `application/demo/session/ID`, `*`.
    pub resource: &'a str,
    /// `aws:SourceIp`; None: no address known, the key is absent.
    pub source_ip: Option<IpAddr>,
    /// `aws:CurrentTime`, always present.
    pub current_time_unix_s: i64,
    /// `aws:MultiFactorAuthPresent`; None: the key is absent, as for
    /// long-term access keys (IAM never sets it for them). A condition on an
    /// absent key does not match, unless it is `...IfExists` or `Null`.
    pub mfa_present: Option<bool>,
    /// `aws:SecureTransport`, always present.
    pub secure_transport: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A decision and the statement that made it (none for an implicit deny).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    pub policy_index: Option<usize>,
    pub sid: Option<String>,
}

/// Default deny; any applicable Deny wins over any Allow. Statements that
/// name a Principal (trust policies) never grant an API action.
pub fn evaluate(policies: &[Policy], request: &RequestContext<'_>) -> Decision {
    explain(policies, request).decision
}

/// Like [`evaluate`], but also says which statement decided (the first
/// applicable Deny, else the first applicable Allow): for
/// `host policies simulate` and the audit log.
pub fn explain(policies: &[Policy], request: &RequestContext<'_>) -> Explanation {
    let mut allowed_by = None;
    for (index, policy) in policies.iter().enumerate() {
        for statement in policy.statements.iter().filter(|s| s.applies(request)) {
            if !statement.allow {
                return Explanation {
                    decision: Decision::ExplicitDeny,
                    policy_index: Some(index),
                    sid: statement.sid.clone(),
                };
            }
            allowed_by.get_or_insert((index, statement.sid.clone()));
        }
    }
    match allowed_by {
        Some((index, sid)) => Explanation {
            decision: Decision::Allow,
            policy_index: Some(index),
            sid,
        },
        None => Explanation {
            decision: Decision::ImplicitDeny,
            policy_index: None,
            sid: None,
        },
    }
}

#[cfg(test)]
mod absent_keys;
#[cfg(test)]
mod refusals;
#[cfg(test)]
mod tests;
