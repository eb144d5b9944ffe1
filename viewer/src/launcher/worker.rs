//! The launcher's network worker: one thread running a current-thread tokio
//! runtime that makes every call to the entitlement service. The UI sends
//! [`Request`]s and takes [`Reply`]s from channels; after each reply the
//! worker calls the waker (the UI's `request_repaint`).
//!
//! Each request runs as its own task, so a host that does not answer never
//! holds up another. Sign-ins are kept per host fingerprint; when a bearer
//! token runs out and a refresh token is at hand, the worker refreshes once
//! on its own and reports the rotated token ([`Reply::Rotated`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::api::SignIn;
use common::client::{ClientError, EntitlementClient, HttpsClient};
use tokio::sync::mpsc;

use super::credentials::{Remembered, Secret};
use super::failure::Failure;
use super::hosts::SavedHost;
use super::state::{AppEntry, IconImage, Reply, Request, Ticket};

/// How long one call may take before the host counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Requests waiting for the worker; the UI makes a few per click.
const REQUEST_QUEUE: usize = 64;
/// Replies waiting for the UI (icons come in bursts); when full, the worker waits.
const REPLY_QUEUE: usize = 256;
/// Icons larger than this are not shown (a tile is 96 px).
const MAX_ICON_SIDE_PX: u32 = 1024;

pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The UI's end of the worker.
pub struct Worker {
    requests: mpsc::Sender<Request>,
    replies: mpsc::Receiver<Reply>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn spawn(waker: Waker) -> std::io::Result<Worker> {
        let (request_tx, request_rx) = mpsc::channel(REQUEST_QUEUE);
        let (reply_tx, reply_rx) = mpsc::channel(REPLY_QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("launcher-worker".into())
            .spawn(move || runtime.block_on(serve(request_rx, Replies::new(reply_tx, waker))))?;
        Ok(Worker {
            requests: request_tx,
            replies: reply_rx,
        })
    }

    /// Queues a request; when the queue is full (the worker is stuck), the
    /// request is dropped and the failure returned for the UI to show.
    pub fn send(&self, request: Request) -> Result<(), Failure> {
        self.requests.try_send(request).map_err(|e| {
            tracing::warn!(error = %e, "launcher worker queue full; request dropped");
            Failure::Unexpected {
                detail: "the launcher is still busy with earlier requests; try again".into(),
            }
        })
    }

    /// The next reply, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }
}

#[derive(Clone)]
struct Replies {
    tx: mpsc::Sender<Reply>,
    waker: Waker,
}

impl Replies {
    fn new(tx: mpsc::Sender<Reply>, waker: Waker) -> Self {
        Replies { tx, waker }
    }

    async fn send(&self, reply: Reply) {
        // The UI is gone when this fails: nothing left to tell.
        if self.tx.send(reply).await.is_ok() {
            (self.waker)();
        }
    }

    async fn fail(&self, ticket: Ticket, e: &ClientError) {
        let failure = Failure::from_client_error(e);
        tracing::debug!(error = %e, "launcher request failed");
        self.send(Reply::Failed { ticket, failure }).await;
    }
}

/// A signed-in client for one host.
#[derive(Clone)]
struct Session {
    client: EntitlementClient,
    user: String,
    refresh_token: Option<Secret>,
}

/// Signed-in clients by host fingerprint, and a lock that lets one refresh
/// run at a time (a refresh token is single-use: two calls refreshing at
/// once would spend it twice and the second would be signed out).
#[derive(Default)]
struct SessionTable {
    by_host: Mutex<HashMap<String, Session>>,
    refreshing: tokio::sync::Mutex<()>,
}

type Sessions = Arc<SessionTable>;

async fn serve(mut requests: mpsc::Receiver<Request>, replies: Replies) {
    let sessions: Sessions = Arc::default();
    while let Some(request) = requests.recv().await {
        let (replies, sessions) = (replies.clone(), sessions.clone());
        tokio::spawn(async move { handle(request, &replies, &sessions).await });
    }
}

async fn handle(request: Request, replies: &Replies, sessions: &Sessions) {
    match request {
        Request::Probe {
            ticket,
            address,
            port,
        } => probe(ticket, &address, port, replies).await,
        Request::SignIn {
            ticket,
            host,
            user,
            password,
            totp,
            remember,
        } => {
            let body = SignIn {
                user,
                password: password.expose().to_string(),
                totp,
                remember,
            };
            let result = match client_for(&host) {
                Ok(mut client) => match timed(&host, client.sign_in_with(&body)).await {
                    Ok(signed_in) => Ok((client, signed_in)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            signed_in(ticket, &host, result, replies, sessions).await;
        }
        Request::Refresh {
            ticket,
            host,
            user: _,
            refresh_token,
        } => {
            let result = match client_for(&host) {
                Ok(mut client) => {
                    match timed(&host, client.refresh(refresh_token.expose())).await {
                        Ok(signed_in) => Ok((client, signed_in)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            signed_in(ticket, &host, result, replies, sessions).await;
        }
        Request::ListApps { ticket, host } => list_apps(ticket, &host, replies, sessions).await,
        Request::Entitle { ticket, host, app } => {
            let result = with_session(&host, replies, sessions, |client| {
                let app = app.clone();
                async move { client.entitle(&app).await }
            })
            .await;
            match result {
                Ok(entitlement) => {
                    replies
                        .send(Reply::Entitled {
                            ticket,
                            app,
                            url: Secret::new(entitlement.url),
                        })
                        .await
                }
                Err(e) => replies.fail(ticket, &e).await,
            }
        }
        Request::SignOut {
            host,
            refresh_token,
        } => {
            let session = lock(sessions).remove(&host.fingerprint_hex);
            let client = match session {
                Some(session) => session.client,
                None => match client_for(&host) {
                    Ok(client) => client,
                    Err(_) => return,
                },
            };
            let token = refresh_token.as_ref().map(Secret::expose);
            if let Err(e) = timed(&host, client.sign_out(token)).await {
                // Forgotten here either way; the service's copy expires on its own.
                tracing::info!(error = %e, "sign-out did not reach the service");
            }
        }
        Request::ListAudioDevices => {
            let devices = tokio::task::spawn_blocking(output_device_names)
                .await
                .unwrap_or_default();
            replies.send(Reply::AudioDevices(devices)).await;
        }
    }
}

/// Connects with a pin nobody matches and reports what the host presented.
async fn probe(ticket: Ticket, address: &str, port: u16, replies: &Replies) {
    let base_url = format!("https://{}", super::hosts::authority(address, port));
    let host = SavedHost {
        name: base_url.clone(),
        address: address.to_string(),
        port,
        fingerprint_hex: String::new(),
    };
    let result = match HttpsClient::new(&base_url, [0; 32]) {
        Ok(https) => {
            timed(
                &host,
                https.send(common::client::Method::GET, "/api", &[], Vec::new()),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Err(ClientError::CertificateMismatch { presented, .. }) => {
            replies
                .send(Reply::Probed {
                    ticket,
                    presented_hex: presented,
                })
                .await
        }
        Err(e) => replies.fail(ticket, &e).await,
        Ok(_) => {
            // Only a certificate hashing to zeros would get here.
            replies
                .send(Reply::Failed {
                    ticket,
                    failure: Failure::Unexpected {
                        detail: "the host's certificate could not be read".into(),
                    },
                })
                .await
        }
    }
}

async fn signed_in(
    ticket: Ticket,
    host: &SavedHost,
    result: Result<(EntitlementClient, common::api::SignedIn), ClientError>,
    replies: &Replies,
    sessions: &Sessions,
) {
    match result {
        Ok((client, signed_in)) => {
            let refresh_token = signed_in.refresh_token.map(Secret::new);
            let remembered = refresh_token.clone().map(|token| Remembered {
                user: signed_in.user.clone(),
                refresh_token: token,
                refresh_expires_at: signed_in.refresh_expires_at.clone(),
            });
            lock(sessions).insert(
                host.fingerprint_hex.clone(),
                Session {
                    client,
                    user: signed_in.user.clone(),
                    refresh_token,
                },
            );
            replies
                .send(Reply::SignedIn {
                    ticket,
                    user: signed_in.user,
                    remembered,
                })
                .await;
        }
        Err(e) => replies.fail(ticket, &e).await,
    }
}

async fn list_apps(ticket: Ticket, host: &SavedHost, replies: &Replies, sessions: &Sessions) {
    let listed = with_session(host, replies, sessions, |client| async move {
        client.applications().await
    })
    .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return replies.fail(ticket, &e).await,
    };
    let apps = listed
        .iter()
        .map(|a| AppEntry {
            name: a.name.clone(),
            description: a.description.clone(),
            enabled: a.state == common::api::ApplicationState::Enabled,
        })
        .collect();
    replies.send(Reply::Applications { ticket, apps }).await;
    let Some(client) = lock(sessions)
        .get(&host.fingerprint_hex)
        .map(|s| s.client.clone())
    else {
        return;
    };
    for app in listed.into_iter().filter(|a| a.icon.is_some()) {
        let (client, replies, host) = (client.clone(), replies.clone(), host.clone());
        tokio::spawn(async move {
            match timed(&host, client.icon(&app.name)).await {
                Ok(Some(png)) => match decode_icon(&png) {
                    Ok(icon) => {
                        replies
                            .send(Reply::Icon {
                                fingerprint_hex: host.fingerprint_hex.clone(),
                                app: app.name,
                                icon,
                            })
                            .await
                    }
                    Err(e) => tracing::info!(app = %app.name, error = %e, "icon not shown"),
                },
                Ok(None) => {}
                Err(e) => tracing::info!(app = %app.name, error = %e, "icon not fetched"),
            }
        });
    }
}

/// Runs a call with the host's signed-in client; on `not_signed_in` with a
/// refresh token at hand, refreshes once (reporting the rotated token) and
/// tries again.
async fn with_session<T, F, Fut>(
    host: &SavedHost,
    replies: &Replies,
    sessions: &Sessions,
    call: F,
) -> Result<T, ClientError>
where
    F: Fn(EntitlementClient) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let Some(session) = lock(sessions).get(&host.fingerprint_hex).cloned() else {
        return Err(not_signed_in());
    };
    match timed(host, call(session.client.clone())).await {
        Err(e) if e.code() == Some("not_signed_in") => {
            let _one_at_a_time = sessions.refreshing.lock().await;
            // Another call may have refreshed while this one waited.
            let current = lock(sessions).get(&host.fingerprint_hex).cloned();
            if let Some(current) = current
                && current.refresh_token.as_ref().map(Secret::expose)
                    != session.refresh_token.as_ref().map(Secret::expose)
            {
                return timed(host, call(current.client)).await;
            }
            let Some(refresh_token) = session.refresh_token else {
                return Err(e);
            };
            let mut client = session.client;
            let signed_in = match timed(host, client.refresh(refresh_token.expose())).await {
                Ok(signed_in) => signed_in,
                // The saved sign-in is used up or expired: sign in again.
                Err(e) if e.code() == Some("refresh_expired") => return Err(not_signed_in()),
                // Anything else (the host unreachable, say) is said as it is.
                Err(e) => return Err(e),
            };
            let refresh_token = signed_in.refresh_token.map(Secret::new);
            if let Some(token) = &refresh_token {
                replies
                    .send(Reply::Rotated {
                        fingerprint_hex: host.fingerprint_hex.clone(),
                        remembered: Remembered {
                            user: session.user.clone(),
                            refresh_token: token.clone(),
                            refresh_expires_at: signed_in.refresh_expires_at.clone(),
                        },
                    })
                    .await;
            }
            lock(sessions).insert(
                host.fingerprint_hex.clone(),
                Session {
                    client: client.clone(),
                    user: session.user,
                    refresh_token,
                },
            );
            timed(host, call(client)).await
        }
        other => other,
    }
}

fn not_signed_in() -> ClientError {
    ClientError::Api {
        status: 401,
        code: "not_signed_in".into(),
        reason: "sign in first".into(),
    }
}

fn client_for(host: &SavedHost) -> Result<EntitlementClient, ClientError> {
    Ok(EntitlementClient::new(HttpsClient::new(
        &host.base_url(),
        host.fingerprint(),
    )?))
}

/// A call that does not answer within [`CALL_TIMEOUT`] counts as unreachable.
async fn timed<T>(
    host: &SavedHost,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Unreachable {
                address: host.authority(),
                message: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
            })
        })
}

fn lock(sessions: &Sessions) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
    sessions.by_host.lock().unwrap_or_else(|e| e.into_inner())
}

/// PNG bytes to RGBA pixels, refusing absurd sizes.
pub fn decode_icon(png: &[u8]) -> Result<IconImage, image::ImageError> {
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_ICON_SIDE_PX);
    limits.max_image_height = Some(MAX_ICON_SIDE_PX);
    reader.limits(limits);
    let rgba = reader.decode()?.to_rgba8();
    Ok(IconImage {
        size: [rgba.width() as usize, rgba.height() as usize],
        rgba: rgba.into_raw(),
    })
}

/// The names of the audio output devices (blocking: ALSA can be slow).
fn output_device_names() -> Vec<String> {
    use cpal::traits::HostTrait;
    match cpal::default_host().output_devices() {
        Ok(devices) => {
            let mut names: Vec<String> = devices.map(|d| d.to_string()).collect();
            names.sort();
            names.dedup();
            names
        }
        Err(e) => {
            tracing::info!(error = %e, "cannot list audio output devices");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_decode_and_garbage_is_an_error() {
        let mut png = Vec::new();
        let picture = image::RgbaImage::from_pixel(4, 2, image::Rgba([255, 0, 0, 255]));
        picture
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let icon = decode_icon(&png).unwrap();
        assert_eq!(icon.size, [4, 2]);
        assert_eq!(&icon.rgba[..4], &[255, 0, 0, 255]);
        assert!(decode_icon(b"not a png").is_err());
    }

    #[test]
    fn an_unreachable_host_is_said_in_words() {
        let replies_seen = Arc::new(Mutex::new(0));
        let seen = replies_seen.clone();
        let mut worker = Worker::spawn(Arc::new(move || {
            *seen.lock().unwrap() += 1;
        }))
        .unwrap();
        // Port 1 on loopback: refused at once.
        worker
            .send(Request::Probe {
                ticket: 7,
                address: "127.0.0.1".into(),
                port: 1,
            })
            .unwrap();
        let reply = loop {
            if let Some(reply) = worker.try_recv() {
                break reply;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let Reply::Failed { ticket, failure } = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(ticket, 7);
        assert_eq!(
            failure.words(),
            "Cannot reach the host at 127.0.0.1:1. Is it running, and on this network?"
        );
        assert_eq!(*replies_seen.lock().unwrap(), 1, "the UI was woken");
    }
}
