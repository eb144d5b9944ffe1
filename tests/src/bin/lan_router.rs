//! `lan_router`: the middle of a three-namespace LAN (viewer ⇄ router ⇄
//! host). It bridges two interfaces frame by frame (AF_PACKET, pnet) and
//! passes what it forwards through the same seeded link emulator the
//! simulator uses (`common::testing::Link`): random and Gilbert-Elliott
//! loss, delay, jitter (with reordering or in order), duplication, a rate
//! cap with a 50 ms drop-tail queue, blackouts. Impairments hit UDP only,
//! or all traffic, and change while it runs: each line on stdin is a JSON
//! `RouterSettings`. On EOF or SIGTERM it prints what it forwarded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use common::testing::{Impairments, Link};
use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender, NetworkInterface};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "lan_router",
    about = "An impairing L2 bridge between two interfaces"
)]
struct Args {
    /// The interface towards the viewer.
    #[arg(long)]
    viewer_side: String,
    /// The interface towards the host.
    #[arg(long)]
    host_side: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What the router does now; a line of JSON on stdin replaces it:
/// `{"link": {...Impairments...}, "udp_only": true}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RouterSettings {
    link: Impairments,
    /// Impair UDP only (the control channel is TCP's business).
    udp_only: bool,
}

/// The settings with a version (so each direction notices a change), and
/// whether to stop.
#[derive(Default)]
struct Shared {
    settings: Mutex<(u64, RouterSettings)>,
    stop: AtomicBool,
}

/// IPv4 carrying UDP (EtherType 0x0800, protocol 17).
fn is_udp(frame: &[u8]) -> bool {
    frame.len() > 23 && frame[12] == 0x08 && frame[13] == 0x00 && frame[23] == 17
}

fn open(name: &str) -> anyhow::Result<(Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>)> {
    let interface: NetworkInterface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| anyhow::anyhow!("no interface {name}"))?;
    let config = Config {
        read_timeout: Some(Duration::from_millis(1)),
        promiscuous: true,
        ..Default::default()
    };
    match pnet_datalink::channel(&interface, config)? {
        Channel::Ethernet(tx, rx) => Ok((tx, rx)),
        _ => anyhow::bail!("{name}: not an Ethernet channel"),
    }
}

/// One direction: frames from `rx` go to `tx` through the emulator.
fn forward(
    mut rx: Box<dyn DataLinkReceiver>,
    mut tx: Box<dyn DataLinkSender>,
    shared: Arc<Shared>,
    seed: u64,
    start: Instant,
) -> [u64; 2] {
    let mut link = Link::new(Impairments::default(), seed);
    let (mut version, mut udp_only) = (u64::MAX, false);
    // Frames passed unimpaired, and through the emulator.
    let mut forwarded = [0u64; 2];
    while !shared.stop.load(Ordering::Relaxed) {
        {
            let current = shared.settings.lock().unwrap_or_else(|e| e.into_inner());
            if current.0 != version {
                version = current.0;
                link.impairments = current.1.link.clone();
                udp_only = current.1.udp_only;
            }
        }
        let now_us = start.elapsed().as_micros() as u64;
        match rx.next() {
            Ok(frame) if udp_only && !is_udp(frame) => {
                forwarded[0] += 1;
                let _ = tx.send_to(frame, None);
            }
            Ok(frame) => link.send(now_us, frame.to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => eprintln!("lan_router: receive: {e}"),
        }
        let now_us = start.elapsed().as_micros() as u64;
        while let Some(frame) = link.poll_receive(now_us) {
            forwarded[1] += 1;
            let _ = tx.send_to(&frame, None);
        }
    }
    forwarded
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (viewer_tx, viewer_rx) = open(&args.viewer_side)?;
    let (host_tx, host_rx) = open(&args.host_side)?;
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let (s, seed) = (shared.clone(), args.seed);
    let down = std::thread::spawn(move || forward(host_rx, viewer_tx, s, seed, start));
    let (s, seed) = (shared.clone(), args.seed.wrapping_add(1));
    let up = std::thread::spawn(move || forward(viewer_rx, host_tx, s, seed, start));
    eprintln!(
        "lan_router: {} <-> {} ready",
        args.viewer_side, args.host_side
    );
    for line in std::io::stdin().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RouterSettings>(&line) {
            Ok(new) => {
                eprintln!("lan_router: now {new:?}");
                let mut current = shared.settings.lock().unwrap_or_else(|e| e.into_inner());
                *current = (current.0 + 1, new);
            }
            Err(e) => eprintln!("lan_router: ignored a bad settings line ({e}): {line}"),
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let (down, up) = (down.join(), up.join());
    println!("{{\"host_to_viewer\":{down:?},\"viewer_to_host\":{up:?}}}");
    Ok(())
}
