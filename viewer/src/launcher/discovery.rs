//! Hosts on the LAN: browses `common::discovery::SERVICE_TYPE` with mdns-sd
//! and turns resolved services into [`Discovery`] events for the state. The
//! mdns-sd daemon has its own thread; one more thread here translates its
//! events, sends them on a bounded channel (when full, it waits for the UI)
//! and wakes the UI.

use std::net::IpAddr;
use std::sync::mpsc;

use common::discovery::{HostAdvert, SERVICE_TYPE};
use mdns_sd::{ResolvedService, ServiceDaemon, ServiceEvent};

use super::hosts::SavedHost;
use super::state::{DiscoveredHost, Discovery};
use super::worker::Waker;

const EVENT_QUEUE: usize = 64;

/// A running browse; stops on drop.
pub struct Browser {
    daemon: Option<ServiceDaemon>,
    events: mpsc::Receiver<Discovery>,
}

impl Browser {
    /// Starts browsing. Where multicast is impossible, the only event is
    /// [`Discovery::Unavailable`].
    pub fn start(waker: Waker) -> Browser {
        let (tx, events) = mpsc::sync_channel(EVENT_QUEUE);
        let daemon = match ServiceDaemon::new().and_then(|d| {
            let receiver = d.browse(SERVICE_TYPE)?;
            Ok((d, receiver))
        }) {
            Ok((daemon, receiver)) => {
                let spawned = std::thread::Builder::new()
                    .name("launcher-discovery".into())
                    .spawn(move || {
                        while let Ok(event) = receiver.recv() {
                            let Some(event) = translate(event) else {
                                continue;
                            };
                            if tx.send(event).is_err() {
                                break;
                            }
                            waker();
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start LAN discovery");
                }
                Some(daemon)
            }
            Err(e) => {
                tracing::info!(error = %e, "LAN discovery unavailable");
                let _ = tx.send(Discovery::Unavailable(format!(
                    "Hosts on this network cannot be found automatically here ({e}). \
                     Add one by its address."
                )));
                None
            }
        };
        Browser { daemon, events }
    }

    /// No browsing (`--no-discovery`): the hosts screen says so.
    pub fn off() -> Browser {
        let (tx, events) = mpsc::sync_channel(1);
        let _ = tx.send(Discovery::Unavailable(
            "Looking for hosts on this network is off (--no-discovery).".into(),
        ));
        Browser {
            daemon: None,
            events,
        }
    }

    pub fn try_recv(&self) -> Option<Discovery> {
        self.events.try_recv().ok()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let _ = daemon.shutdown();
        }
    }
}

fn translate(event: ServiceEvent) -> Option<Discovery> {
    match event {
        ServiceEvent::ServiceResolved(service) => match found(&service) {
            Ok(found) => Some(Discovery::Found(found)),
            Err(e) => {
                tracing::info!(service = %service.fullname, error = %e, "ignoring a malformed advert");
                None
            }
        },
        ServiceEvent::ServiceRemoved(_, fullname) => Some(Discovery::Lost { fullname }),
        _ => None,
    }
}

fn found(service: &ResolvedService) -> Result<DiscoveredHost, String> {
    let advert = HostAdvert::from_properties(
        service
            .txt_properties
            .iter()
            .map(|p| (p.key().to_string(), p.val_str().to_string())),
    )
    .map_err(|e| e.to_string())?;
    let addresses: Vec<IpAddr> = service.addresses.iter().map(|a| a.to_ip_addr()).collect();
    let address = pick_address(&addresses).ok_or("the advert has no address")?;
    Ok(DiscoveredHost {
        fullname: service.fullname.clone(),
        host: SavedHost {
            name: advert.name.clone(),
            address: address.to_string(),
            port: advert.port,
            fingerprint_hex: advert.fingerprint_hex.clone(),
        },
        protocol_version: advert.protocol_version,
    })
}

/// IPv4 first (no scope to carry), then global IPv6; loopback last.
fn pick_address(addresses: &[IpAddr]) -> Option<IpAddr> {
    let rank = |a: &IpAddr| match a {
        IpAddr::V4(v4) if !v4.is_loopback() => 0,
        IpAddr::V6(v6) if !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80 => 1,
        IpAddr::V4(_) => 2,
        IpAddr::V6(v6) if v6.is_loopback() => 3,
        IpAddr::V6(_) => 4,
    };
    addresses.iter().copied().min_by_key(rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_without_scopes_come_first() {
        let v4: IpAddr = "192.168.1.20".parse().unwrap();
        let link_local: IpAddr = "fe80::1".parse().unwrap();
        let global: IpAddr = "2001:db8::1".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(pick_address(&[link_local, global, v4]), Some(v4));
        assert_eq!(pick_address(&[link_local, global]), Some(global));
        assert_eq!(pick_address(&[link_local, loopback]), Some(loopback));
        assert_eq!(pick_address(&[]), None);
    }
}
