//! The console's pages, server-rendered (maud escapes every value).

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The page frame: the signed-in user and sign-out when there is one.
pub fn layout(title: &str, signed_in: Option<(&str, &str)>, body: Markup) -> Markup {
    layout_refreshing(title, signed_in, None, body)
}

/// The frame of a page that reloads itself every `refresh_s` seconds (the
/// Now page's live figures, with no script).
pub fn layout_refreshing(
    title: &str,
    signed_in: Option<(&str, &str)>,
    refresh_s: Option<u32>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh_s {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · AppStream console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    h1 { "AppStream console" }
                    @if signed_in.is_some() {
                        nav {
                            a href="/console" { "Now" } " "
                            a href="/console/applications" { "Applications" } " "
                            a href="/console/users" { "Users" } " "
                            a href="/console/keys" { "Keys" } " "
                            a href="/console/policies" { "Policies" } " "
                            a href="/console/audit" { "Audit" }
                        }
                    }
                    @if let Some((user, csrf)) = signed_in {
                        span { "Signed in as " strong { (user) } }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn sign_in(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card {
                h2 { "Sign in" }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                form method="post" action="/console/sign-in" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="user" { "User name" }
                    input #user type="text" name="user" autocomplete="username" required;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    label for="code" { "Authenticator code" }
                    input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    p { button type="submit" { "Sign in" } }
                }
            }
        },
    )
}

/// What the enrolment form shows: the new TOTP secret as a QR code and text.
pub struct EnrolForm<'a> {
    pub user: &'a str,
    pub token: &'a str,
    pub csrf: &'a str,
    pub secret: &'a str,
    pub qr_svg: &'a str,
    pub error: Option<&'a str>,
}

pub fn enrol(form: &EnrolForm<'_>) -> Markup {
    layout(
        "Enrol",
        None,
        html! {
            section.card {
                h2 { "Set up " (form.user) }
                @if let Some(error) = form.error { p.error role="alert" { (error) } }
                p { "Scan this code with an authenticator app, or type the key in." }
                div.qr { (PreEscaped(form.qr_svg)) }
                p { "Key: " code { (form.secret) } }
                form method="post" action="/console/enrol" {
                    input type="hidden" name="csrf" value=(form.csrf);
                    input type="hidden" name="token" value=(form.token);
                    input type="hidden" name="secret" value=(form.secret);
                    label for="password" { "New password (at least 12 characters)" }
                    input #password type="password" name="password" autocomplete="new-password" required minlength="12";
                    label for="again" { "The password again" }
                    input #again type="password" name="again" autocomplete="new-password" required;
                    label for="code" { "The code your app shows now" }
                    input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                    p { button type="submit" { "Enrol" } }
                }
            }
        },
    )
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        html! { section.card { h2 { (title) } p { (text) } } },
    )
}

/// The audit page: its filters (as given), a page of entries, and the
/// link to the older page.
pub struct AuditPage<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub filters: &'a [(&'static str, &'static str, String)],
    pub entries: &'a [common::api::AuditRecord],
    pub older_href: Option<String>,
    pub refusal: Option<&'a str>,
}

pub fn audit(page: &AuditPage<'_>) -> Markup {
    layout(
        "Audit",
        Some((page.user, page.csrf)),
        html! {
            section.card {
                h2 { "Audit log" }
                form #audit-filter method="get" action="/console/audit" {
                    @for (name, label, value) in page.filters {
                        label for=(name) { (label) }
                        input id=(name) type="text" name=(name) value=(value);
                    }
                    p { button type="submit" { "Filter" } }
                }
                @if let Some(refusal) = page.refusal { p.error role="alert" { (refusal) } }
                @if page.entries.is_empty() && page.refusal.is_none() {
                    p #no-entries { "No entries match." }
                } @else if !page.entries.is_empty() {
                    div.scroll {
                        table #audit {
                            thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Resource" } th { "Outcome" } th { "Why" } } }
                            tbody {
                                @for e in page.entries {
                                    tr data-entry=(e.id) {
                                        td { (e.at) }
                                        td { (e.principal.as_deref().unwrap_or("–")) br; small { (e.source_ip.as_deref().unwrap_or("")) } }
                                        td { (e.action.as_deref().unwrap_or(&e.path)) }
                                        td { (e.resource.as_deref().unwrap_or("")) }
                                        td { (e.decision) " " small { (e.status) } }
                                        td { (e.reason.as_deref().unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(href) = &page.older_href {
                    p { a #older href=(href) { "Older entries →" } }
                }
            }
        },
    )
}

/// The policy page: the stored policies, the editor, the simulator.
pub struct PoliciesPage<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub names: &'a [String],
    /// The policy being edited (name, document), if any.
    pub editing: (&'a str, &'a str),
    pub can_save: bool,
    pub notice: Option<&'a str>,
    /// Why the document (or the page) was refused, in words.
    pub error: Option<&'a str>,
    pub simulation: &'a SimulationForm,
    pub verdict: Option<&'a str>,
}

/// What the simulator was asked (kept in its fields).
#[derive(Debug, Default, serde::Deserialize)]
pub struct SimulationForm {
    #[serde(default)]
    pub principal: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub source_ip: String,
    /// `present`, `absent` or `false`.
    #[serde(default)]
    pub mfa: String,
}

pub fn policies(page: &PoliciesPage<'_>) -> Markup {
    let (name, document) = page.editing;
    layout(
        "Policies",
        Some((page.user, page.csrf)),
        html! {
            @if let Some(notice) = page.notice { p.notice role="status" { (notice) } }
            section.card {
                h2 { "Policies" }
                ul #policy-names {
                    @for listed in page.names {
                        li { a href={ "/console/policies?name=" (listed) } { (listed) } }
                    }
                }
            }
            section.card {
                h2 { "Edit a policy" }
                @if let Some(error) = page.error { p.error #policy-error role="alert" { (error) } }
                form method="post" action="/console/policies" {
                    input type="hidden" name="csrf" value=(page.csrf);
                    label for="policy-name" { "Name" }
                    input #policy-name type="text" name="name" value=(name) required;
                    label for="policy-document" { "Document (IAM JSON)" }
                    textarea #policy-document name="document" rows="14" spellcheck="false" { (document) }
                    @if page.can_save { p { button type="submit" { "Save" } } }
                }
            }
            section.card {
                h2 { "Simulate a decision" }
                form #simulate method="get" action="/console/policies" {
                    @for (field, label, value) in [
                        ("principal", "Principal", &page.simulation.principal),
                        ("action", "Action", &page.simulation.action),
                        ("resource", "Resource", &page.simulation.resource),
                        ("source_ip", "Source IP (optional)", &page.simulation.source_ip),
                    ] {
                        label for={ "sim-" (field) } { (label) }
                        input id={ "sim-" (field) } type="text" name=(field) value=(value);
                    }
                    label for="sim-mfa" { "MFA" }
                    select #sim-mfa name="mfa" {
                        @for (value, label) in [("present", "present (console, sign-in with TOTP)"), ("absent", "key absent (access keys)"), ("false", "false")] {
                            option value=(value) selected[page.simulation.mfa == value] { (label) }
                        }
                    }
                    p { button type="submit" { "Simulate" } }
                }
                @if let Some(verdict) = page.verdict { p #verdict role="status" { strong { (verdict) } } }
            }
        },
    )
}

/// One application as the Applications page lists it.
pub struct ApplicationRow {
    pub name: String,
    pub description: String,
    pub command: String,
    pub enabled: bool,
    pub has_icon: bool,
    pub max_sessions: u32,
    /// The newest errors: (when, kind, message).
    pub errors: Vec<(String, String, String)>,
    pub can_change_state: bool,
    pub can_edit: bool,
    pub can_remove: bool,
}

pub struct ApplicationsPage<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub applications: &'a [ApplicationRow],
    /// The policy lets the user add applications.
    pub can_add: bool,
    pub refusals: &'a [String],
    pub notice: Option<&'a str>,
}

pub fn applications(page: &ApplicationsPage<'_>) -> Markup {
    layout(
        "Applications",
        Some((page.user, page.csrf)),
        html! {
            @if let Some(notice) = page.notice { p.notice role="status" { (notice) } }
            @for refusal in page.refusals { p.error { (refusal) } }
            @if page.can_add {
                p { a.button #add-application href="/console/applications/new" { "Add an application" } }
            }
            @for app in page.applications {
                section.card.application data-application=(app.name) {
                    h2 {
                        @if app.has_icon {
                            img.icon src={ "/console/applications/" (app.name) "/icon" } alt="" width="48" height="48";
                            " "
                        }
                        (app.name)
                    }
                    @if !app.description.is_empty() { p { (app.description) } }
                    p {
                        "Command: " code { @if app.command.is_empty() { "(the test pattern)" } @else { (app.command) } }
                        " · at most " (app.max_sessions) " sessions · "
                        strong { @if app.enabled { "enabled" } @else { "disabled" } }
                    }
                    @if app.can_change_state || app.can_edit || app.can_remove {
                        div.actions {
                            @if app.can_edit {
                                a.button href={ "/console/applications/" (app.name) "/edit" } { "Edit" }
                            }
                            @if app.can_change_state {
                                form method="post" action={ "/console/applications/" (app.name) "/state" } {
                                    input type="hidden" name="csrf" value=(page.csrf);
                                    @if app.enabled {
                                        input type="hidden" name="state" value="DISABLED";
                                        button type="submit" { "Disable" }
                                    } @else {
                                        input type="hidden" name="state" value="ENABLED";
                                        button type="submit" { "Enable" }
                                    }
                                }
                            }
                            @if app.can_remove {
                                form method="post" action={ "/console/applications/" (app.name) "/remove" } {
                                    input type="hidden" name="csrf" value=(page.csrf);
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                    @if !app.errors.is_empty() {
                        h3 { "Recent errors" }
                        ul.errors {
                            @for (at, kind, message) in &app.errors {
                                li { (at) " " strong { (kind) } ": " (message) }
                            }
                        }
                    }
                }
            }
            @if page.applications.is_empty() && page.refusals.is_empty() {
                p #no-applications { "No applications yet." }
            }
        },
    )
}
