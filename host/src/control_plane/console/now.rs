//! The Now page: the hosts sharing the control plane (GetHosts) and the sessions
//! pending or streaming, each with what it sends, what its viewer reports
//! (bitrate, loss, latency p50) and a chart of the last two minutes, with
//! Terminate where the policy allows. It reloads itself every few seconds.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::api::{
    ApplicationList, HostInfo, HostList, Session, SessionList, SessionState, SessionStatus,
    StreamStats,
};
use maud::{Markup, html};

use super::{Console, Peer, call, chart, notice_shown, pages, read_notice, source};

/// How often the page reloads itself.
const REFRESH_S: u32 = 5;

/// One session as the page lists it.
struct SessionRow {
    session: Session,
    /// While it streams.
    stream: Option<StreamStats>,
    /// The signed-in user may terminate it (the policy says so).
    can_terminate: bool,
}

pub async fn page(State(console): State<Arc<Console>>, peer: Peer, headers: HeaderMap) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let (user, address) = (signed_in.user.as_str(), source(peer));
    let api = &console.api;
    let mut refusals = Vec::new();
    let mut rows = Vec::new();
    let listed: Result<ApplicationList, _> =
        call::call(api, user, address, Method::GET, "/api/applications", None).await;
    let applications = listed.map(|l| l.applications).unwrap_or_else(|refused| {
        refusals.push(format!("Applications: {}", refused.reason));
        Vec::new()
    });
    for application in applications {
        let path = format!("/api/applications/{}/sessions", application.name);
        let sessions: Result<SessionList, _> =
            call::call(api, user, address, Method::GET, &path, None).await;
        let sessions = match sessions {
            Ok(list) => list.sessions,
            Err(refused) => {
                refusals.push(format!("{}: {}", application.name, refused.reason));
                continue;
            }
        };
        let live = sessions
            .into_iter()
            .filter(|s| matches!(s.state, SessionState::Active | SessionState::Pending));
        for session in live {
            let resource = format!("application/{}/session/{}", session.application, session.id);
            let stream = if session.state == SessionState::Active {
                let path = format!(
                    "/api/applications/{}/sessions/{}/status",
                    session.application, session.id
                );
                let status: Result<SessionStatus, _> =
                    call::call(api, user, address, Method::GET, &path, None).await;
                status.ok().and_then(|s| s.stream)
            } else {
                None
            };
            rows.push(SessionRow {
                can_terminate: console.may(
                    user,
                    "appstream:UpdateSessionState",
                    &resource,
                    address,
                ),
                session,
                stream,
            });
        }
    }
    let notice = read_notice(&headers);
    // Every host sharing the control plane, as the signed-in user may see.
    let fleet: Result<HostList, _> =
        call::call(api, user, address, Method::GET, "/api/hosts", None).await;
    let fleet = fleet.map(|l| l.hosts).unwrap_or_else(|refused| {
        refusals.push(format!("Hosts: {}", refused.reason));
        Vec::new()
    });
    let body = html! {
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @for refusal in &refusals { p.error { (refusal) } }
        (hosts(&fleet))
        (sessions(&rows, &signed_in.csrf))
    };
    let page =
        pages::layout_refreshing("Now", Some((user, &signed_in.csrf)), Some(REFRESH_S), body);
    notice_shown(Html(page.into_string()).into_response(), notice)
}

fn hosts(fleet: &[HostInfo]) -> Markup {
    html! {
        section.card {
            h2 { "Hosts" }
            @if fleet.is_empty() {
                p #no-hosts { "No host has reported yet (each reports every few seconds)." }
            } @else {
                div.scroll {
                    table #hosts {
                        thead { tr {
                            th { "Host" } th { "State" } th { "Address" } th { "Streams" }
                            th { "CPU" } th { "Last heard" }
                        } }
                        tbody {
                            @for host in fleet {
                                tr {
                                    td data-label="Host" { (host.id) }
                                    td data-label="State" { (host.state.as_str()) }
                                    td data-label="Address" { (host.address) }
                                    td data-label="Streams" { (host.live_sessions) " of " (host.max_sessions) }
                                    td data-label="CPU" { (format!("{:.0} %", host.cpu_pct)) }
                                    td data-label="Last heard" { (host.last_heartbeat) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sessions(rows: &[SessionRow], csrf: &str) -> Markup {
    html! {
        section.card {
            h2 { "Live sessions" }
            @if rows.is_empty() {
                p #no-sessions { "No one is streaming." }
            } @else {
                div.scroll {
                    table #sessions {
                        thead { tr {
                            th { "User" } th { "Application" } th { "State" } th { "Since" }
                            th { "Stream" } th { "Bitrate" } th { "Loss" } th { "Latency p50" } th {}
                        } }
                        tbody {
                            @for row in rows { (session_row(row, csrf)) }
                        }
                    }
                }
            }
        }
    }
}

fn session_row(row: &SessionRow, csrf: &str) -> Markup {
    let s = &row.session;
    let since = s.activated_at.as_deref().unwrap_or(&s.created_at);
    let newest = row.stream.as_ref().and_then(|st| st.samples.last());
    html! {
        tr data-session=(s.id) {
            td data-label="User" { (s.user) }
            td data-label="Application" { (s.application) }
            td data-label="State" { (s.state.as_str()) }
            td data-label="Since" { (since) }
            td.stream {
                @if let Some(st) = &row.stream {
                    (st.width) "×" (st.height) " · " (st.fps) " fps · " (st.codec.label())
                    (chart::bitrate_and_latency(&st.samples, st.configured_kbps))
                }
            }
            td.bitrate {
                @if let Some(sample) = newest {
                    (format!("{:.0}", sample.received_kbps)) " kbit/s"
                    br;
                    small { "encoder " (sample.encoder_kbps) " kbit/s" }
                }
            }
            td.loss { @if let Some(sample) = newest { (format!("{:.1} %", sample.loss * 100.0)) } }
            td.latency {
                @if let Some(ms) = newest.and_then(|sample| sample.latency_p50_ms) {
                    (format!("{ms:.0} ms"))
                }
            }
            td {
                @if row.can_terminate {
                    form method="post" action={ "/console/sessions/" (s.application) "/" (s.id) "/terminate" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.danger type="submit" { "Terminate" }
                    }
                }
            }
        }
    }
}
