//! `mdns_browse`: looks for AppStream hosts on the LAN (mDNS, the service
//! type of `common::discovery`) and prints each one found as a JSON line
//! (the `HostAdvert`, the SRV port, the addresses); exits 0 after `--count`
//! hosts, 1 when the timeout passes first. Only meant for network
//! namespaces in tests: it sends mDNS queries on every interface it sees
//! (or on `--interface` only).

use std::time::{Duration, Instant};

use clap::Parser;
use common::discovery::{HostAdvert, SERVICE_TYPE};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};

#[derive(Parser, Debug)]
#[command(
    name = "mdns_browse",
    about = "Find AppStream hosts advertised with mDNS"
)]
struct Args {
    /// Give up after this long.
    #[arg(long, default_value_t = 20.0)]
    timeout_s: f64,
    /// Stop after this many hosts.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Browse on this network interface only.
    #[arg(long)]
    interface: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let daemon = ServiceDaemon::new()?;
    if let Some(name) = &args.interface {
        daemon.disable_interface(IfKind::All)?;
        daemon.enable_interface(IfKind::Name(name.clone()))?;
    }
    let events = daemon.browse(SERVICE_TYPE)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout_s);
    let mut found = 0;
    while found < args.count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = events.recv_timeout(left) else {
            break;
        };
        let ServiceEvent::ServiceResolved(service) = event else {
            continue;
        };
        let properties = service
            .txt_properties
            .iter()
            .map(|p| (p.key().to_string(), p.val_str().to_string()));
        match HostAdvert::from_properties(properties) {
            Ok(advert) => {
                let mut addresses: Vec<String> =
                    service.addresses.iter().map(|a| a.to_string()).collect();
                addresses.sort();
                let line = serde_json::json!({
                    "advert": advert,
                    "fullname": service.fullname,
                    "srv_port": service.port,
                    "addresses": addresses,
                });
                println!("{line}");
                found += 1;
            }
            Err(e) => eprintln!("mdns_browse: {} has a bad advert: {e}", service.fullname),
        }
    }
    if let Ok(done) = daemon.shutdown() {
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
    if found < args.count {
        eprintln!("mdns_browse: found {found} of {} hosts in time", args.count);
        std::process::exit(1);
    }
    Ok(())
}
