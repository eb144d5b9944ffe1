//! The 15 operations, the icon route, the audit log, policies, users and
//! access keys: which route is which IAM action on which resource. Reading an application's icon is reading the application
//! (`appstream:GetApplication`), so the seed's policies cover it as they are.

use axum::http::Method;

/// The path parameters a route captured, percent-decoded, exactly as the
/// handlers receive them through `Path`: authorization names the resource
/// the handler acts on, never the raw path (`%64emo` is `demo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteParams {
    pub app: Option<String>,
    pub id: Option<String>,
    /// A policy's name.
    pub name: Option<String>,
    pub user: Option<String>,
    /// A user's or a role's name.
    pub principal: Option<String>,
    /// An access key's id.
    pub key: Option<String>,
}

impl RouteParams {
    /// From the decoded captures; a capture that cannot be a name (a `/`
    /// decoded from `%2F`, control characters, ...) is refused, so no
    /// resource can be spelled by smuggling separators into a segment.
    pub fn from_captures<'a>(
        captures: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut params = Self::default();
        for (name, value) in captures {
            match name {
                "app" => {
                    common::api::validate_name("application", value)?;
                    params.app = Some(value.to_string());
                }
                "id" => {
                    common::api::validate_name("id", value)?;
                    params.id = Some(value.to_string());
                }
                "name" => {
                    common::api::validate_name("policy", value)?;
                    params.name = Some(value.to_string());
                }
                "user" => {
                    common::api::validate_name("user", value)?;
                    params.user = Some(value.to_string());
                }
                "principal" => {
                    common::api::validate_name("principal", value)?;
                    params.principal = Some(value.to_string());
                }
                "key" => {
                    common::api::validate_name("access key", value)?;
                    params.key = Some(value.to_string());
                }
                other => return Err(format!("unexpected path parameter {other:?}")),
            }
        }
        Ok(params)
    }
}

/// The IAM action and resource name of a request, from its method, the
/// route it matched and the route's decoded parameters. HEAD is its GET.
/// Resources: `*` (the root), `application/*` (the collection),
/// `application/NAME`, `application/NAME/session/ID`,
/// `application/NAME/error/ID`, `user/*`, `user/NAME`, `principal/NAME`,
/// `key/*`, `key/ID`, `host/*`.
pub fn action_and_resource(
    method: &Method,
    matched_route: &str,
    params: &RouteParams,
    body: &[u8],
) -> (&'static str, String) {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let app = params.app.as_deref().unwrap_or("");
    let item = params.id.as_deref().unwrap_or("");
    let application = format!("application/{app}");
    let action = match (method, matched_route) {
        ("GET", "/api") => return ("appstream:GetApiRoot", "*".into()),
        ("GET", "/api/audit") => return ("appstream:GetAuditLog", "audit".into()),
        ("GET", "/api/hosts") => return ("appstream:GetHosts", "host/*".into()),
        ("GET", "/api/policies") => return ("appstream:GetPolicies", "policy/*".into()),
        ("GET" | "PUT", "/api/policies/{name}") => {
            let name = params.name.as_deref().unwrap_or("");
            let action = if method == "GET" {
                "appstream:GetPolicy"
            } else {
                "appstream:PutPolicy"
            };
            return (action, format!("policy/{name}"));
        }
        ("POST", "/api/simulate") => {
            return ("appstream:SimulatePolicy", simulation_resource(body));
        }
        (_, route) if route.starts_with("/api/users") || route.starts_with("/api/principals/") => {
            return user_action(method, route, params, body);
        }
        (_, route) if route.starts_with("/api/keys") => {
            return key_action(method, route, params, body);
        }
        ("GET", "/api/applications") => {
            return ("appstream:GetApplications", "application/*".into());
        }
        ("POST", "/api/applications") => {
            return (
                "appstream:CreateApplication",
                new_application_resource(body),
            );
        }
        ("GET", "/api/applications/{app}" | "/api/applications/{app}/icon") => {
            "appstream:GetApplication"
        }
        // A new icon is a change to the application.
        ("PATCH", "/api/applications/{app}") | ("PUT", "/api/applications/{app}/icon") => {
            "appstream:UpdateApplication"
        }
        ("DELETE", "/api/applications/{app}") => "appstream:DeleteApplication",
        ("GET", "/api/applications/{app}/status") => "appstream:GetApplicationStatus",
        ("PUT", "/api/applications/{app}/state") => "appstream:UpdateApplicationState",
        ("GET", "/api/applications/{app}/errors") => "appstream:GetApplicationErrors",
        ("GET", "/api/applications/{app}/errors/{id}") => {
            return (
                "appstream:GetApplicationError",
                format!("{application}/error/{item}"),
            );
        }
        ("GET", "/api/applications/{app}/sessions") => "appstream:GetSessions",
        ("POST", "/api/applications/{app}/sessions") => "appstream:CreateSession",
        ("GET", "/api/applications/{app}/sessions/{id}") => {
            return (
                "appstream:GetSession",
                format!("{application}/session/{item}"),
            );
        }
        ("GET", "/api/applications/{app}/sessions/{id}/status") => {
            return (
                "appstream:GetSessionStatus",
                format!("{application}/session/{item}"),
            );
        }
        ("PUT", "/api/applications/{app}/sessions/{id}/state") => {
            return (
                "appstream:UpdateSessionState",
                format!("{application}/session/{item}"),
            );
        }
        _ => "appstream:Unknown",
    };
    (action, application)
}

/// The route template and decoded parameters a concrete path matches, for
/// `host policies simulate --request`: the same templates the router has.
pub fn match_route(path: &str) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    for template in ROUTES {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut captures = Vec::new();
        let matched = parts.iter().zip(&segments).all(|(part, segment)| {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match percent_decode(segment) {
                    Some(value) if !value.is_empty() => {
                        let name = match name {
                            "app" => "app",
                            "name" => "name",
                            "user" => "user",
                            "principal" => "principal",
                            "key" => "key",
                            _ => "id",
                        };
                        captures.push((name, value));
                        true
                    }
                    _ => false,
                },
                None => part == segment,
            }
        });
        if matched {
            return Some((template, captures));
        }
    }
    None
}

/// Every route template of the API, as `router` declares them.
pub const ROUTES: [&str; 26] = [
    "/api",
    "/api/audit",
    "/api/policies",
    "/api/policies/{name}",
    "/api/simulate",
    "/api/applications",
    "/api/applications/{app}",
    "/api/applications/{app}/status",
    "/api/applications/{app}/icon",
    "/api/applications/{app}/state",
    "/api/applications/{app}/errors",
    "/api/applications/{app}/errors/{id}",
    "/api/applications/{app}/sessions",
    "/api/applications/{app}/sessions/{id}",
    "/api/applications/{app}/sessions/{id}/status",
    "/api/applications/{app}/sessions/{id}/state",
    "/api/users",
    "/api/users/{user}",
    "/api/users/{user}/password",
    "/api/users/{user}/totp",
    "/api/users/{user}/state",
    "/api/users/{user}/entitlements/{app}",
    "/api/principals/{principal}/policies/{name}",
    "/api/keys",
    "/api/keys/{key}/rotate",
    "/api/keys/{key}/state",
];

/// One path segment decoded as the router decodes it; None when the bytes
/// are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// CreateApplication acts on the application it creates, named in the body.
fn new_application_resource(body: &[u8]) -> String {
    match body_name(body, "name", "application") {
        Some(name) => format!("application/{name}"),
        None => "application/*".into(),
    }
}

/// A valid name in the JSON body's `key`, if there is one.
fn body_name(body: &[u8], key: &str, kind: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get(key)?.as_str().map(str::to_string))
        .filter(|n| common::api::validate_name(kind, n).is_ok())
}

/// SimulatePolicy reads a principal's policies: its resource is
/// `principal/NAME` (of the body), `principal/*` when it names none.
fn simulation_resource(body: &[u8]) -> String {
    let name = body_name(body, "principal", "user");
    format!("principal/{}", name.as_deref().unwrap_or("*"))
}

/// The users' routes (and policy attachments, which roles have too):
/// each acts on `user/NAME` (`user/*` for the list, CreateUser on the
/// user of its body), attachments on `principal/NAME`.
fn user_action(
    method: &str,
    route: &str,
    params: &RouteParams,
    body: &[u8],
) -> (&'static str, String) {
    let user = format!("user/{}", params.user.as_deref().unwrap_or(""));
    let action = match (method, route) {
        ("GET", "/api/users") => return ("appstream:GetUsers", "user/*".into()),
        ("POST", "/api/users") => {
            let name = body_name(body, "name", "user");
            let resource = format!("user/{}", name.as_deref().unwrap_or("*"));
            return ("appstream:CreateUser", resource);
        }
        ("PUT" | "DELETE", "/api/principals/{principal}/policies/{name}") => {
            let principal = params.principal.as_deref().unwrap_or("");
            let action = if method == "PUT" {
                "appstream:AttachPolicy"
            } else {
                "appstream:DetachPolicy"
            };
            return (action, format!("principal/{principal}"));
        }
        ("GET", "/api/users/{user}") => "appstream:GetUser",
        ("PUT", "/api/users/{user}/password") => "appstream:SetUserPassword",
        ("PUT", "/api/users/{user}/totp") => "appstream:EnableUserTotp",
        ("DELETE", "/api/users/{user}/totp") => "appstream:DisableUserTotp",
        ("PUT", "/api/users/{user}/state") => "appstream:UpdateUserState",
        ("PUT", "/api/users/{user}/entitlements/{app}") => "appstream:EntitleUser",
        ("DELETE", "/api/users/{user}/entitlements/{app}") => "appstream:RevokeEntitlement",
        _ => "appstream:Unknown",
    };
    (action, user)
}

/// The access keys' routes: the list is `key/*`, a new key acts on the
/// principal of its body (`principal/NAME`), the others on `key/ID`.
fn key_action(
    method: &str,
    route: &str,
    params: &RouteParams,
    body: &[u8],
) -> (&'static str, String) {
    let key = format!("key/{}", params.key.as_deref().unwrap_or(""));
    match (method, route) {
        ("GET", "/api/keys") => ("appstream:GetAccessKeys", "key/*".into()),
        ("POST", "/api/keys") => {
            let name = body_name(body, "principal", "principal");
            let resource = format!("principal/{}", name.as_deref().unwrap_or("*"));
            ("appstream:CreateAccessKey", resource)
        }
        ("POST", "/api/keys/{key}/rotate") => ("appstream:RotateAccessKey", key),
        ("PUT", "/api/keys/{key}/state") => ("appstream:UpdateAccessKey", key),
        _ => ("appstream:Unknown", key),
    }
}
