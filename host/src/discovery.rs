//! LAN discovery: while `host serve`/`host run` runs, an mDNS (DNS-SD)
//! advertisement of `common::discovery::HostAdvert` under `SERVICE_TYPE`,
//! withdrawn on shutdown. `--mdns off` sends nothing at all; `--mdns IFACE`
//! answers on that one interface only (the daemon still looks at every
//! interface once when it starts). Failing to advertise is one warning:
//! viewers can still type the address.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use common::discovery::{HostAdvert, MAX_NAME_BYTES, SERVICE_TYPE};
use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo};

/// Where the host advertises itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdnsMode {
    /// Every interface (what a user expects on a LAN).
    All,
    /// Not at all (tests, and hosts that should stay unlisted).
    Off,
    /// One network interface, by name.
    Interface(String),
}

impl FromStr for MdnsMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "all" => Ok(Self::All),
            "off" => Ok(Self::Off),
            name if (1..=15).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':') =>
            {
                Ok(Self::Interface(name.to_string()))
            }
            other => Err(format!(
                "--mdns {other:?}: expected all, off or a network interface name"
            )),
        }
    }
}

/// How long shutdown waits for the goodbye packets.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A running advertisement; `stop` withdraws it.
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertiser")
            .field("fullname", &self.fullname)
            .finish_non_exhaustive()
    }
}

/// The machine's name, as an advert's name (fits one DNS label).
pub fn default_name() -> String {
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|n| n.into_string().ok())
        .map(|n| n.split('.').next().unwrap_or_default().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "appstream-host".to_string());
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

impl Advertiser {
    /// Starts advertising `advert` for a server listening on `listen`; None
    /// (after one warning) when mDNS cannot be used, or with `--mdns off`.
    pub fn start(mode: &MdnsMode, advert: &HostAdvert, listen: SocketAddr) -> Option<Advertiser> {
        if *mode == MdnsMode::Off {
            return None;
        }
        match Self::try_start(mode, advert, listen) {
            Ok(advertiser) => Some(advertiser),
            Err(e) => {
                tracing::warn!(error = %e, "cannot advertise this host on the LAN (mDNS); viewers need its address");
                None
            }
        }
    }

    fn try_start(
        mode: &MdnsMode,
        advert: &HostAdvert,
        listen: SocketAddr,
    ) -> Result<Advertiser, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        if let MdnsMode::Interface(name) = mode {
            // Later selections win: nothing, then the one interface.
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Name(name.clone()))?;
        }
        let host_name = format!("{}.local.", advert.name.replace([' ', '.'], "-"));
        let properties = advert.to_properties();
        let mut info = if listen.ip().is_unspecified() {
            ServiceInfo::new(
                SERVICE_TYPE,
                &advert.name,
                &host_name,
                "",
                advert.port,
                properties.as_slice(),
            )?
            .enable_addr_auto()
        } else {
            ServiceInfo::new(
                SERVICE_TYPE,
                &advert.name,
                &host_name,
                listen.ip(),
                advert.port,
                properties.as_slice(),
            )?
        };
        if let MdnsMode::Interface(name) = mode {
            info.set_interfaces(vec![IfKind::Name(name.clone())]);
        }
        let fullname = info.get_fullname().to_string();
        let monitor = daemon.monitor()?;
        daemon.register(info)?;
        // Problems surface later (no multicast, ...): the first one is logged.
        std::thread::Builder::new()
            .name("mdns-monitor".into())
            .spawn(move || {
                while let Ok(event) = monitor.recv() {
                    if let DaemonEvent::Error(e) = event {
                        tracing::warn!(error = %e, "mDNS advertisement trouble; viewers may need the host's address");
                        break;
                    }
                }
            })
            .map_err(|e| mdns_sd::Error::Msg(e.to_string()))?;
        tracing::info!(service = %fullname, ?mode, "advertised on the LAN (mDNS)");
        Ok(Advertiser { daemon, fullname })
    }

    /// The advertised instance, e.g. `NAME._appstream._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    /// Withdraws the advertisement and stops the daemon (blocks up to a few
    /// seconds: call it off the async workers).
    pub fn stop(self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(done) => {
                let _ = done.recv_timeout(STOP_TIMEOUT);
            }
            Err(e) => tracing::debug!(error = %e, "mDNS unregister failed"),
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(STOP_TIMEOUT);
        }
        tracing::info!(service = %self.fullname, "mDNS advertisement withdrawn");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_interface_names_are_checked() {
        assert_eq!("all".parse(), Ok(MdnsMode::All));
        assert_eq!("off".parse(), Ok(MdnsMode::Off));
        assert_eq!("veth0".parse(), Ok(MdnsMode::Interface("veth0".into())));
        for bad in ["", "a b", "../x", "sixteen-chars-xx"] {
            assert!(bad.parse::<MdnsMode>().is_err(), "{bad:?}");
        }
        let name = default_name();
        assert!(!name.is_empty() && name.len() <= MAX_NAME_BYTES, "{name}");
    }
}
