//! Adding and editing an application: name, description, a command from the
//! ones the host's owner allows, its arguments, the session limit, the
//! stream defaults and an icon upload (multipart). Saved through the API as
//! the signed-in user (CreateApplication or UpdateApplication, then the
//! icon's PUT); a refusal shows the form again, as filled, with the reason.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::api::{Application, ApplicationPatch, NewApplication, StreamDefaults};
use maud::{Markup, html};

use super::{Console, Peer, call, pages, redirect_with_notice, source};

/// A form's body: its fields and at most one icon.
pub const MAX_FORM_BYTES: usize = crate::control_plane::icons::MAX_ICON_BYTES as usize + 64 * 1024;

/// The form's text fields, as typed (kept when a save is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fields {
    name: String,
    description: String,
    command: String,
    /// One argument per line.
    args: String,
    max_sessions: String,
    width: String,
    height: String,
    fps: String,
    /// Empty: by resolution.
    bitrate_kbps: String,
}

impl Fields {
    fn of(app: &Application) -> Self {
        Self {
            name: app.name.clone(),
            description: app.description.clone(),
            command: app.command.clone(),
            args: app.args.join("\n"),
            max_sessions: app.max_sessions.to_string(),
            width: app.stream.width.to_string(),
            height: app.stream.height.to_string(),
            fps: app.stream.fps.to_string(),
            bitrate_kbps: app
                .stream
                .bitrate_kbps
                .map(|kbps| kbps.to_string())
                .unwrap_or_default(),
        }
    }

    fn defaults() -> Self {
        let stream = StreamDefaults::default();
        Self {
            max_sessions: "4".into(),
            width: stream.width.to_string(),
            height: stream.height.to_string(),
            fps: stream.fps.to_string(),
            ..Self::default()
        }
    }

    fn from_map(mut map: HashMap<String, String>) -> Self {
        let mut take = |key: &str| map.remove(key).unwrap_or_default().trim().to_string();
        Self {
            name: take("name"),
            description: take("description"),
            command: take("command"),
            args: take("args"),
            max_sessions: take("max_sessions"),
            width: take("width"),
            height: take("height"),
            fps: take("fps"),
            bitrate_kbps: take("bitrate_kbps"),
        }
    }

    fn args(&self) -> Vec<String> {
        self.args
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect()
    }

    fn stream(&self) -> Result<StreamDefaults, String> {
        let bitrate_kbps = match self.bitrate_kbps.as_str() {
            "" => None,
            text => Some(number("Bitrate", text)?),
        };
        Ok(StreamDefaults {
            width: number("Width", &self.width)?,
            height: number("Height", &self.height)?,
            fps: number("Frames per second", &self.fps)?,
            bitrate_kbps,
        })
    }

    fn new_application(&self) -> Result<NewApplication, String> {
        Ok(NewApplication {
            name: self.name.clone(),
            description: self.description.clone(),
            command: self.command.clone(),
            args: self.args(),
            working_dir: None,
            icon: None,
            stream: self.stream()?,
            max_sessions: number("Max sessions", &self.max_sessions)?,
            state: common::api::ApplicationState::Enabled,
        })
    }

    fn patch(&self) -> Result<ApplicationPatch, String> {
        Ok(ApplicationPatch {
            description: Some(self.description.clone()),
            command: Some(self.command.clone()),
            args: Some(self.args()),
            stream: Some(self.stream()?),
            max_sessions: Some(number("Max sessions", &self.max_sessions)?),
            ..ApplicationPatch::default()
        })
    }
}

fn number(label: &str, text: &str) -> Result<u32, String> {
    text.parse()
        .map_err(|_| format!("{label} must be a whole number, not {text:?}"))
}

/// What a posted form carried.
struct Posted {
    csrf: String,
    fields: Fields,
    icon: Option<Bytes>,
}

async fn read_multipart(mut multipart: Multipart) -> Result<Posted, String> {
    let mut text = HashMap::new();
    let mut icon = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field.file_name().is_some_and(|f| !f.is_empty());
        let bytes = field
            .bytes()
            .await
            .map_err(|e| format!("the form could not be read: {e}"))?;
        if name == "icon" {
            if is_file && !bytes.is_empty() {
                icon = Some(bytes);
            }
        } else {
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| format!("the field {name:?} is not text"))?;
            text.insert(name, value);
        }
    }
    Ok(Posted {
        csrf: text.remove("csrf").unwrap_or_default(),
        fields: Fields::from_map(text),
        icon,
    })
}

/// What the form page shows.
struct FormPage<'a> {
    user: &'a str,
    csrf: &'a str,
    /// None: adding.
    editing: Option<&'a Application>,
    fields: &'a Fields,
    /// The commands the owner allows; None when any is.
    commands: Option<Vec<String>>,
    error: Option<String>,
}

fn render(page: &FormPage<'_>) -> Markup {
    let f = page.fields;
    let (title, action) = match page.editing {
        Some(app) => (
            format!("Edit {}", app.name),
            format!("/console/applications/{}/edit", app.name),
        ),
        None => (
            "Add an application".to_string(),
            "/console/applications/new".to_string(),
        ),
    };
    let body = html! {
        section.card {
            h2 { (title) }
            @if let Some(error) = &page.error { p.error role="alert" { (error) } }
            form #application-form method="post" action=(action) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(page.csrf);
                @if page.editing.is_none() {
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(f.name) required;
                }
                label for="description" { "Description" }
                input #description type="text" name="description" value=(f.description);
                label for="command" { "Command" }
                @match &page.commands {
                    Some(commands) => {
                        select #command name="command" {
                            option value="" selected[f.command.is_empty()] { "(the test pattern)" }
                            @for command in commands {
                                option value=(command) selected[*command == f.command] { (command) }
                            }
                            @if !f.command.is_empty() && !commands.contains(&f.command) {
                                option value=(f.command) selected { (f.command) " (no longer allowed)" }
                            }
                        }
                        p.hint { "The host's owner lists the commands applications may run (allowed-commands in host.toml or the data directory)." }
                    }
                    None => { input #command type="text" name="command" value=(f.command); }
                }
                label for="args" { "Arguments, one per line" }
                textarea #args name="args" rows="3" { (f.args) }
                label for="max_sessions" { "At most this many sessions at once" }
                input #max_sessions type="number" name="max_sessions" min="1" value=(f.max_sessions) required;
                fieldset {
                    legend { "Stream defaults" }
                    label for="width" { "Width" }
                    input #width type="number" name="width" min="64" value=(f.width) required;
                    label for="height" { "Height" }
                    input #height type="number" name="height" min="64" value=(f.height) required;
                    label for="fps" { "Frames per second" }
                    input #fps type="number" name="fps" min="1" value=(f.fps) required;
                    label for="bitrate_kbps" { "Bitrate in kbit/s (empty: by resolution)" }
                    input #bitrate_kbps type="number" name="bitrate_kbps" min="1" value=(f.bitrate_kbps);
                }
                label for="icon" { "Icon (PNG, at most 1 MiB)" }
                @if let Some(app) = page.editing.filter(|a| a.icon.is_some()) {
                    img.icon src={ "/console/applications/" (app.name) "/icon" } width="48" height="48" alt="";
                }
                input #icon type="file" name="icon" accept="image/png";
                p { button type="submit" { "Save" } }
            }
        }
    };
    pages::layout(&title, Some((page.user, page.csrf)), body)
}

/// The commands to offer: the owner's list (None: any command).
fn commands(console: &Console) -> Option<Vec<String>> {
    console.plane.commands.choices().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the allowed-commands file is unreadable");
        Some(Vec::new())
    })
}

fn form_response(status: StatusCode, page: &FormPage<'_>) -> Response {
    (status, Html(render(page).into_string())).into_response()
}

pub async fn new_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let page = FormPage {
        user: &signed_in.user,
        csrf: &signed_in.csrf,
        editing: None,
        fields: &Fields::defaults(),
        commands: commands(&console),
        error: None,
    };
    form_response(StatusCode::OK, &page)
}

pub async fn edit_page(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let path = format!("/api/applications/{app}");
    let address = source(peer);
    let found: Result<Application, _> = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::GET,
        &path,
        None,
    )
    .await;
    let application = match found {
        Ok(application) => application,
        Err(refused) => {
            let page = pages::message("Not shown", &refused.reason);
            return (refused.status, Html(page.into_string())).into_response();
        }
    };
    let page = FormPage {
        user: &signed_in.user,
        csrf: &signed_in.csrf,
        editing: Some(&application),
        fields: &Fields::of(&application),
        commands: commands(&console),
        error: None,
    };
    form_response(StatusCode::OK, &page)
}

/// Sends the icon, if one was chosen.
async fn upload_icon(
    console: &Console,
    user: &str,
    address: Option<std::net::IpAddr>,
    app: &str,
    icon: Option<Bytes>,
) -> Result<(), call::Refused> {
    let Some(icon) = icon else { return Ok(()) };
    let path = format!("/api/applications/{app}/icon");
    call::call_bytes(
        &console.api,
        user,
        address,
        Method::PUT,
        &path,
        "image/png",
        icon,
    )
    .await
    .map(|_| ())
}

pub async fn create(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let posted = match read_multipart(multipart).await {
        Ok(posted) => posted,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let signed_in = match console.posted_by(&headers, &posted.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let (user, address) = (signed_in.user.as_str(), source(peer));
    let refused = |status: StatusCode, error: String| {
        let page = FormPage {
            user,
            csrf: &signed_in.csrf,
            editing: None,
            fields: &posted.fields,
            commands: commands(&console),
            error: Some(error),
        };
        form_response(status, &page)
    };
    let new = match posted.fields.new_application() {
        Ok(new) => new,
        Err(why) => return refused(StatusCode::BAD_REQUEST, why),
    };
    let body = match serde_json::to_value(&new) {
        Ok(body) => body,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let created: Result<Application, _> = call::call(
        &console.api,
        user,
        address,
        Method::POST,
        "/api/applications",
        Some(body),
    )
    .await;
    let created = match created {
        Ok(created) => created,
        Err(e) => return refused(e.status, format!("Not added: {}", e.reason)),
    };
    match upload_icon(&console, user, address, &new.name, posted.icon.clone()).await {
        Ok(()) => redirect_with_notice("/console/applications", "application_added"),
        // Added without its icon: its edit form says why.
        Err(e) => {
            let page = FormPage {
                user,
                csrf: &signed_in.csrf,
                editing: Some(&created),
                fields: &Fields::of(&created),
                commands: commands(&console),
                error: Some(format!("Added, but the icon was refused: {}", e.reason)),
            };
            form_response(e.status, &page)
        }
    }
}

pub async fn update(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(app): Path<String>,
    multipart: Multipart,
) -> Response {
    let posted = match read_multipart(multipart).await {
        Ok(posted) => posted,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let signed_in = match console.posted_by(&headers, &posted.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let (user, address) = (signed_in.user.as_str(), source(peer));
    let path = format!("/api/applications/{app}");
    let current: Result<Application, _> =
        call::call(&console.api, user, address, Method::GET, &path, None).await;
    let current = match current {
        Ok(current) => current,
        Err(e) => {
            let page = pages::message("Not changed", &e.reason);
            return (e.status, Html(page.into_string())).into_response();
        }
    };
    let mut fields = posted.fields.clone();
    fields.name = current.name.clone();
    let refused = |status: StatusCode, error: String| {
        let page = FormPage {
            user,
            csrf: &signed_in.csrf,
            editing: Some(&current),
            fields: &fields,
            commands: commands(&console),
            error: Some(error),
        };
        form_response(status, &page)
    };
    let patch = match fields.patch() {
        Ok(patch) => patch,
        Err(why) => return refused(StatusCode::BAD_REQUEST, why),
    };
    let body = match serde_json::to_value(&patch) {
        Ok(body) => body,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let saved: Result<Application, _> = call::call(
        &console.api,
        user,
        address,
        Method::PATCH,
        &path,
        Some(body),
    )
    .await;
    if let Err(e) = saved {
        return refused(e.status, format!("Not changed: {}", e.reason));
    }
    match upload_icon(&console, user, address, &app, posted.icon).await {
        Ok(()) => redirect_with_notice("/console/applications", "application_saved"),
        Err(e) => refused(
            e.status,
            format!("Saved, but the icon was refused: {}", e.reason),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_an_application_or_say_which_number_is_wrong() {
        let mut fields = Fields::defaults();
        fields.name = "game".into();
        fields.command = "/usr/games/game".into();
        fields.args = "--fullscreen\n\n  --level 2 \n".into();
        let new = fields.new_application().unwrap();
        assert_eq!(new.args, ["--fullscreen", "--level 2"]);
        assert_eq!((new.stream.width, new.max_sessions), (1280, 4));
        assert_eq!(new.stream.bitrate_kbps, None);
        fields.fps = "sixty".into();
        assert_eq!(
            fields.new_application().unwrap_err(),
            "Frames per second must be a whole number, not \"sixty\""
        );
    }
}
