//! `mdns_browse`: looks for AppStream hosts on the LAN with the launcher's
//! own discovery (`viewer::launcher::discovery`: mdns-sd, the service type
//! and TXT advert of `common::discovery`) and prints each host found as a
//! JSON line, as the launcher would list it; exits 0 after `--count` hosts,
//! 1 when the timeout passes first. Only meant for network namespaces in
//! tests: it sends mDNS queries on every interface it sees.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use viewer::launcher::discovery::Browser;
use viewer::launcher::messages::Discovery;

#[derive(Parser, Debug)]
#[command(
    name = "mdns_browse",
    about = "Find AppStream hosts advertised with mDNS, as the launcher does"
)]
struct Args {
    /// Give up after this long.
    #[arg(long, default_value_t = 20.0)]
    timeout_s: f64,
    /// Stop after this many hosts.
    #[arg(long, default_value_t = 1)]
    count: usize,
}

fn main() {
    let args = Args::parse();
    let browser = Browser::start(Arc::new(|| {}));
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout_s);
    let mut found = 0;
    while found < args.count && Instant::now() < deadline {
        match browser.try_recv() {
            Some(Discovery::Found(discovered)) => {
                let host = &discovered.host;
                let line = serde_json::json!({
                    "fullname": discovered.fullname,
                    "name": host.name,
                    "address": host.address,
                    "port": host.port,
                    "fingerprint_hex": host.fingerprint_hex,
                    "protocol_version": discovered.protocol_version,
                });
                println!("{line}");
                found += 1;
            }
            Some(Discovery::Unavailable(why)) => {
                eprintln!("mdns_browse: {why}");
                std::process::exit(1);
            }
            Some(Discovery::Lost { .. }) => {}
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    if found < args.count {
        eprintln!("mdns_browse: found {found} of {} hosts in time", args.count);
        std::process::exit(1);
    }
}
