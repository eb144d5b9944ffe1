//! `impair`: a UDP relay that applies seeded impairments (the same emulator
//! the simulations use) to real packets, in both directions. Point a client
//! at `--listen`; it forwards to `--to` and sends replies back to the client.
//! On Ctrl-C or SIGTERM it prints what it forwarded, dropped and delayed.

use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use common::testing::{Impairments, Link, LinkStats};
use tokio::net::UdpSocket;

#[derive(Parser, Debug)]
#[command(
    name = "impair",
    about = "UDP relay with seeded loss, delay, jitter, reordering and rate limits"
)]
struct Args {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    to: SocketAddr,
    /// Random loss, percent.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Share of time in loss bursts, percent (Gilbert-Elliott).
    #[arg(long, default_value_t = 0.0)]
    burst_loss: f64,
    /// Mean burst length.
    #[arg(long, default_value_t = 0.0)]
    burst_ms: f64,
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Packets held back behind later ones, percent.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    #[arg(long)]
    rate_kbps: Option<u32>,
    /// Drop everything (a blocked UDP port).
    #[arg(long)]
    block: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn print_stats(direction: &str, stats: &LinkStats) {
    println!(
        "{{\"direction\":\"{direction}\",\"sent\":{},\"forwarded\":{},\"dropped\":{},\"delayed\":{},\"reordered\":{},\"duplicated\":{}}}",
        stats.sent,
        stats.forwarded,
        stats.dropped,
        stats.delayed,
        stats.reordered,
        stats.duplicated
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let impairments = Impairments {
        loss_pct: args.loss,
        burst_loss_pct: args.burst_loss,
        burst_ms: args.burst_ms,
        delay_ms: args.delay_ms,
        jitter_ms: args.jitter_ms,
        reorder_pct: args.reorder,
        duplicate_pct: args.duplicate,
        keep_order: false,
        rate_kbps: args.rate_kbps,
        block: args.block,
    };
    let client_side = UdpSocket::bind(args.listen).await?;
    let unspecified: SocketAddr = if args.to.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    let server_side = UdpSocket::bind(unspecified).await?;
    server_side.connect(args.to).await?;
    let mut upstream = Link::new(impairments.clone(), args.seed);
    let mut downstream = Link::new(impairments, args.seed.wrapping_add(1));
    let mut client: Option<SocketAddr> = None;
    let start = Instant::now();
    let now_us = || start.elapsed().as_micros() as u64;
    eprintln!("impair: {} -> {} ready", client_side.local_addr()?, args.to);

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let (mut up_buf, mut down_buf) = (vec![0u8; 65_536], vec![0u8; 65_536]);
    loop {
        let next_due = [upstream.poll_timeout(), downstream.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match next_due {
                Some(due) => {
                    let wait = due.saturating_sub(now_us());
                    tokio::time::sleep(std::time::Duration::from_micros(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = client_side.recv_from(&mut up_buf) => {
                let (len, from) = received?;
                client = Some(from);
                upstream.send(now_us(), up_buf[..len].to_vec());
            }
            received = server_side.recv(&mut down_buf) => {
                // The server may be down for a moment (connection refused): go on.
                if let Ok(len) = received {
                    downstream.send(now_us(), down_buf[..len].to_vec());
                }
            }
            () = sleep => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
        let now = now_us();
        while let Some(packet) = upstream.poll_receive(now) {
            let _ = server_side.send(&packet).await;
        }
        if let Some(client) = client {
            while let Some(packet) = downstream.poll_receive(now) {
                let _ = client_side.send_to(&packet, client).await;
            }
        }
    }
    print_stats("to_server", &upstream.stats());
    print_stats("to_client", &downstream.stats());
    Ok(())
}
