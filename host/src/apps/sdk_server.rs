//! The host's end of the SDK socket (protocol in `common::sdk`): one Unix
//! socket per launched application; the app may say `ready`, and hears
//! `session_connected` / `session_disconnected` with the user's name.
//! Events go out on a writer thread through a short queue: an application
//! that stops reading can never block the host's async runtime (the queue
//! drops events when full; a client that takes longer than
//! `WRITE_TIMEOUT` for one is disconnected).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use common::sdk::{LineBuffer, SdkMessage};

/// Events waiting for the writer thread.
const OUTBOX_EVENTS: usize = 64;
/// How long one client may take to accept one event.
const WRITE_TIMEOUT: Duration = Duration::from_millis(200);

pub struct SdkServer {
    path: PathBuf,
    clients: Arc<Mutex<Vec<UnixStream>>>,
    outbox: SyncSender<String>,
    pub dropped_events: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pub malformed_lines: Arc<AtomicU64>,
}

impl SdkServer {
    /// Listens at `path` (its directory should be private to the host's user).
    pub fn start(path: &Path) -> anyhow::Result<SdkServer> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .with_context(|| format!("creating the SDK socket {}", path.display()))?;
        let (outbox, events) = sync_channel(OUTBOX_EVENTS);
        let server = SdkServer {
            path: path.to_path_buf(),
            clients: Arc::default(),
            outbox,
            dropped_events: Arc::default(),
            ready: Arc::default(),
            stop: Arc::default(),
            malformed_lines: Arc::default(),
        };
        let (clients, ready, stop, malformed) = (
            server.clients.clone(),
            server.ready.clone(),
            server.stop.clone(),
            server.malformed_lines.clone(),
        );
        std::thread::Builder::new()
            .name("sdk-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                    let Ok(reader) = stream.try_clone() else {
                        continue;
                    };
                    clients
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(stream);
                    let (ready, malformed) = (ready.clone(), malformed.clone());
                    let _ = std::thread::Builder::new()
                        .name("sdk-client".into())
                        .spawn(move || read_client(reader, &ready, &malformed));
                }
            })?;
        let clients = server.clients.clone();
        std::thread::Builder::new()
            .name("sdk-writer".into())
            .spawn(move || write_events(&events, &clients))?;
        Ok(server)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The application said `ready`.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn client_count(&self) -> usize {
        self.clients.lock().map_or(0, |c| c.len())
    }

    /// Sends to every connected application; a client that cannot take it is dropped.
    /// Never blocks: the event is queued for the writer thread, or dropped
    /// (and counted) when the queue is full.
    pub fn broadcast(&self, message: &SdkMessage) {
        if self.outbox.try_send(message.to_line()).is_err()
            && self.dropped_events.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("the application does not read its SDK events; some are dropped");
        }
    }
}

/// Ends when the server (the queue's sender) is dropped.
fn write_events(events: &Receiver<String>, clients: &Mutex<Vec<UnixStream>>) {
    for line in events {
        let mut clients = clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain_mut(|client| client.write_all(line.as_bytes()).is_ok());
    }
}

fn read_client(mut stream: UnixStream, ready: &AtomicBool, malformed: &AtomicU64) {
    let mut lines = LineBuffer::default();
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => lines.push(&chunk[..n]),
        }
        while let Some(line) = lines.next_line() {
            match line.and_then(|l| SdkMessage::parse(&l)) {
                Ok(SdkMessage::Ready) => {
                    if !ready.swap(true, Ordering::Relaxed) {
                        tracing::info!("the application says it is ready");
                    }
                }
                Ok(other) => tracing::debug!(?other, "SDK message ignored"),
                Err(e) => {
                    if malformed.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(error = %e, "dropped a bad SDK line");
                    }
                }
            }
        }
    }
}

impl Drop for SdkServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::sdk::client::SdkClient;
    use std::time::{Duration, Instant};

    fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_app_says_ready_and_hears_about_sessions() {
        let dir = std::env::temp_dir().join(format!("sdk-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let server = SdkServer::start(&dir.join("sdk.sock")).expect("listening");
        let mut client = SdkClient::connect(server.path()).expect("connected");
        // Garbage first: dropped and counted, the connection stays.
        let mut raw = UnixStream::connect(server.path()).expect("raw");
        raw.write_all(b"{not json}\n").expect("written");
        client.ready().expect("ready sent");
        eventually("ready seen", || server.is_ready());
        eventually("bad line counted", || {
            server.malformed_lines.load(Ordering::Relaxed) == 1
        });
        let connected = SdkMessage::SessionConnected {
            session_id: "s-1".into(),
            user: "demo".into(),
        };
        eventually("client registered", || {
            server.clients.lock().map(|c| c.len() == 2).unwrap_or(false)
        });
        server.broadcast(&connected);
        let mut got = None;
        eventually("event received", || {
            got = client.poll().expect("open");
            got.is_some()
        });
        assert_eq!(got, Some(connected));
        drop(server);
        assert!(!dir.join("sdk.sock").exists());
    }

    #[test]
    fn an_app_that_never_reads_cannot_block_the_broadcaster() {
        let dir = std::env::temp_dir().join(format!("sdk-stuck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let server = SdkServer::start(&dir.join("sdk.sock")).expect("listening");
        // Connected, never reading: its socket buffer fills up.
        let _stuck = UnixStream::connect(server.path()).expect("connected");
        eventually("client registered", || server.client_count() == 1);
        let event = SdkMessage::SessionConnected {
            session_id: "s-1".repeat(200),
            user: "demo".into(),
        };
        // Far more than the socket buffer and the queue hold: every call
        // returns (this test would hang otherwise); the excess is dropped.
        for _ in 0..20_000 {
            server.broadcast(&event);
        }
        assert!(server.dropped_events.load(Ordering::Relaxed) > 0);
        // The writer gives up on the stuck client after its write timeout.
        eventually("stuck client dropped", || server.client_count() == 0);
    }
}
