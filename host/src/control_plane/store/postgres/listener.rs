//! One connection per host that `LISTEN`s on `appstream_changes` (the
//! triggers of schema V4 notify it at each commit): the identity cache
//! forgets on any change to keys, principals or policies, and the host hears
//! of sessions and catalog changes (`FleetStore::changes`). When the
//! connection drops, the cache stops caching until it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::api::SessionState;
use postgres::NoTls;
use postgres::fallible_iterator::FallibleIterator;
use tokio::sync::broadcast;

use super::cache::IdentityCache;
use crate::control_plane::store::Change;

pub(super) const CHANNEL: &str = "appstream_changes";
/// How often a quiet listener checks whether its store is gone.
const WAKE: Duration = Duration::from_secs(1);
/// Between two attempts to reconnect.
const RETRY: Duration = Duration::from_secs(1);
/// Tables whose change empties the identity cache.
const IDENTITY_TABLES: [&str; 4] = [
    "access_keys",
    "principals",
    "policies",
    "policy_attachments",
];

/// Stops the listener's thread when the store goes.
pub(super) struct Listening {
    stop: Arc<AtomicBool>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(super) fn start(
    config: postgres::Config,
    cache: Arc<IdentityCache>,
    changes: broadcast::Sender<Change>,
) -> std::io::Result<Listening> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("postgres-listen".into())
        .spawn(move || listen(&config, &cache, &changes, &stopped))?;
    Ok(Listening { stop })
}

fn listen(
    config: &postgres::Config,
    cache: &IdentityCache,
    changes: &broadcast::Sender<Change>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config
            .connect(NoTls)
            .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}")).map(|()| c))
        {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the fleet's changes; retrying");
                std::thread::sleep(RETRY);
                continue;
            }
        };
        cache.set_live(true);
        'heard: while !stop.load(Ordering::Relaxed) {
            let mut notifications = client.notifications();
            let mut heard = notifications.timeout_iter(WAKE);
            // A quiet WAKE ends the inner loop, to look at `stop`.
            loop {
                match heard.next() {
                    Ok(None) => break, // quiet for WAKE
                    Ok(Some(notification)) => {
                        let change = parse(notification.payload());
                        if matches!(&change, Change::Table(t) if IDENTITY_TABLES.contains(&t.as_str()))
                        {
                            cache.forget();
                        }
                        // No one subscribed yet is not an error.
                        let _ = changes.send(change);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the fleet's change listener lost its connection");
                        break 'heard;
                    }
                }
            }
            drop(heard);
            drop(notifications);
            if client.is_closed() {
                break;
            }
        }
        cache.set_live(false);
    }
}

/// `access_keys`, or `sessions STATE ID HOST` (HOST `-` when none).
fn parse(payload: &str) -> Change {
    let mut words = payload.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("sessions"), Some(state), Some(id), Some(host)) => Change::Session {
            id: id.to_string(),
            state: match state {
                "PENDING" => SessionState::Pending,
                "ACTIVE" => SessionState::Active,
                _ => SessionState::Terminated,
            },
            host: (host != "-").then(|| host.to_string()),
        },
        _ => Change::Table(payload.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_table_or_a_session() {
        assert_eq!(parse("access_keys"), Change::Table("access_keys".into()));
        assert_eq!(
            parse("sessions TERMINATED s-01 h-aa"),
            Change::Session {
                id: "s-01".into(),
                state: SessionState::Terminated,
                host: Some("h-aa".into()),
            }
        );
        assert_eq!(
            parse("sessions PENDING s-02 -"),
            Change::Session {
                id: "s-02".into(),
                state: SessionState::Pending,
                host: None,
            }
        );
    }
}
