//! The 15 operations, and the icon route: which route is which IAM action on
//! which resource. Reading an application's icon is reading the application
//! (`appstream:GetApplication`), so the seed's policies cover it as they are.

use axum::http::Method;

/// The path parameters a route captured, percent-decoded, exactly as the
/// handlers receive them through `Path`: authorization names the resource
/// the handler acts on, never the raw path (`%64emo` is `demo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteParams {
    pub app: Option<String>,
    pub id: Option<String>,
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
/// `application/NAME/error/ID`.
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
        ("PATCH", "/api/applications/{app}") => "appstream:UpdateApplication",
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
                        let name = if name == "app" { "app" } else { "id" };
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
pub const ROUTES: [&str; 12] = [
    "/api",
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
    let name = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(str::to_string))
        .filter(|n| common::api::validate_name("application", n).is_ok());
    match name {
        Some(name) => format!("application/{name}"),
        None => "application/*".into(),
    }
}
