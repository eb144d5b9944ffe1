//! The Users page's markup and the authenticator setup page (maud escapes
//! every value). A button appears only where the policy allows it.

use common::api::UserInfo;
use maud::{Markup, PreEscaped, html};

use super::pages::layout;

/// One user as the page lists it, with what the signed-in user may do.
pub struct UserRow {
    pub info: UserInfo,
    pub can_set_password: bool,
    pub can_change_state: bool,
    pub can_enable_totp: bool,
    pub can_disable_totp: bool,
    pub can_entitle: bool,
    pub can_revoke: bool,
    pub can_attach: bool,
    pub can_detach: bool,
    /// The API refuses to let a user disable itself: no button.
    pub is_signed_in_user: bool,
}

pub struct UsersPage<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    pub users: &'a [UserRow],
    /// What the entitle and attach selects offer.
    pub applications: &'a [String],
    pub policies: &'a [String],
    pub can_create: bool,
    pub refusals: &'a [String],
    pub notice: Option<&'a str>,
}

pub fn users(page: &UsersPage<'_>) -> Markup {
    layout(
        "Users",
        Some((page.user, page.csrf)),
        html! {
            @if let Some(notice) = page.notice { p.notice role="status" { (notice) } }
            @for refusal in page.refusals { p.error { (refusal) } }
            section.card {
                h2 { "Users" }
                @if page.users.is_empty() && page.refusals.is_empty() {
                    p #no-users { "No users yet." }
                } @else if !page.users.is_empty() {
                    div.scroll {
                        table #users {
                            thead { tr { th { "User" } th { "State" } th { "Password" } th { "Authenticator" } th { "Applications" } th { "Policies" } } }
                            tbody {
                                @for row in page.users { (user_row(page, row)) }
                            }
                        }
                    }
                }
            }
            @if page.can_create {
                section.card {
                    h2 { "Add a user" }
                    form #add-user method="post" action="/console/users" {
                        input type="hidden" name="csrf" value=(page.csrf);
                        label for="new-user" { "User name" }
                        input #new-user type="text" name="name" required autocomplete="off";
                        label for="new-password" { "Password (optional; at least 12 characters)" }
                        input #new-password type="password" name="password" autocomplete="new-password" minlength="12";
                        p { button type="submit" { "Add user" } }
                    }
                }
            }
        },
    )
}

fn user_row(page: &UsersPage<'_>, row: &UserRow) -> Markup {
    let user = &row.info;
    let base = format!("/console/users/{}", user.name);
    let csrf = html! { input type="hidden" name="csrf" value=(page.csrf); };
    // The selects offer only what the user does not have yet.
    let not_entitled: Vec<&String> = page
        .applications
        .iter()
        .filter(|app| !user.entitlements.contains(app))
        .collect();
    let not_attached: Vec<&String> = page
        .policies
        .iter()
        .filter(|policy| !user.policies.contains(policy))
        .collect();
    html! {
        tr data-user=(user.name) {
            td { strong { (user.name) } }
            td {
                @if user.enabled { "Enabled" } @else { strong { "Disabled" } }
                @if row.can_change_state && !(user.enabled && row.is_signed_in_user) {
                    form method="post" action={ (base) "/state" } {
                        (csrf)
                        @if user.enabled {
                            input type="hidden" name="enabled" value="false";
                            button.danger type="submit" { "Disable" }
                        } @else {
                            input type="hidden" name="enabled" value="true";
                            button type="submit" { "Enable" }
                        }
                    }
                }
            }
            td {
                @if user.has_password { "Password set" } @else { "No password" }
                @if row.can_set_password {
                    form method="post" action={ (base) "/password" } {
                        (csrf)
                        input type="password" name="password" aria-label={ "New password for " (user.name) } autocomplete="new-password" required minlength="12";
                        button type="submit" { "Set password" }
                    }
                }
            }
            td {
                @if user.has_totp { "Authenticator on" } @else { "No authenticator" }
                @if row.can_enable_totp {
                    form method="get" action={ (base) "/totp" } {
                        button type="submit" { "Set up authenticator" }
                    }
                }
                @if user.has_totp && row.can_disable_totp {
                    form method="post" action={ (base) "/totp/disable" } {
                        (csrf)
                        button.danger type="submit" { "Turn off authenticator" }
                    }
                }
            }
            td {
                ul.items {
                    @for app in &user.entitlements {
                        li {
                            (app)
                            @if row.can_revoke {
                                " "
                                form method="post" action={ (base) "/entitlements/" (app) "/revoke" } {
                                    (csrf)
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
                @if row.can_entitle && !not_entitled.is_empty() {
                    form method="post" action={ (base) "/entitlements" } {
                        (csrf)
                        select name="application" aria-label={ "Application to entitle " (user.name) " to" } {
                            @for app in &not_entitled { option value=(app) { (app) } }
                        }
                        " "
                        button type="submit" { "Entitle" }
                    }
                }
            }
            td {
                ul.items {
                    @for policy in &user.policies {
                        li {
                            (policy)
                            @if row.can_detach {
                                " "
                                form method="post" action={ (base) "/policies/" (policy) "/detach" } {
                                    (csrf)
                                    button.danger type="submit" { "Detach" }
                                }
                            }
                        }
                    }
                }
                @if row.can_attach && !not_attached.is_empty() {
                    form method="post" action={ (base) "/policies" } {
                        (csrf)
                        select name="policy" aria-label={ "Policy to attach to " (user.name) } {
                            @for policy in &not_attached { option value=(policy) { (policy) } }
                        }
                        " "
                        button type="submit" { "Attach" }
                    }
                }
            }
        }
    }
}

/// The authenticator setup page: a new key as a QR code and text, and the
/// form that turns it on with a code from the app.
pub struct TotpSetup<'a> {
    pub user: &'a str,
    pub csrf: &'a str,
    /// Whose authenticator it is.
    pub target: &'a str,
    pub secret: &'a str,
    pub qr_svg: &'a str,
    pub error: Option<&'a str>,
    pub can_enable: bool,
}

pub fn totp_setup(page: &TotpSetup<'_>) -> Markup {
    layout(
        "Set up an authenticator",
        Some((page.user, page.csrf)),
        html! {
            section.card {
                h2 { "Authenticator for " (page.target) }
                @if let Some(error) = page.error { p.error #totp-error role="alert" { (error) } }
                p {
                    "Scan this code with " (page.target) "'s authenticator app, or type the key in. "
                    "It is turned on once a code from the app confirms it; an authenticator set up before stops working then."
                }
                div.qr { (PreEscaped(page.qr_svg)) }
                p { "Key: " code #totp-secret { (page.secret) } }
                @if page.can_enable {
                    form method="post" action={ "/console/users/" (page.target) "/totp" } {
                        input type="hidden" name="csrf" value=(page.csrf);
                        input type="hidden" name="secret" value=(page.secret);
                        label for="code" { "The code the app shows now" }
                        input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required;
                        p { button type="submit" { "Turn on" } }
                    }
                } @else {
                    p { "You may not turn on an authenticator for " (page.target) "." }
                }
                p { a href="/console/users" { "Back to the users" } }
            }
        },
    )
}
