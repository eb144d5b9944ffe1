//! Calls per second of concurrent clients, in rounds (the control plane's
//! benches): each round runs `clients` tasks calling `one` until it ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::stats::Percentiles;

pub const ROUNDS: usize = 3;
pub const ROUND: Duration = Duration::from_secs(5);

/// One round: the calls per second and every call's latency in ms.
/// Failures abort.
pub async fn round<F, Fut>(clients: usize, one: Arc<F>) -> (f64, Vec<f64>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < ROUND {
                    let t = Instant::now();
                    one(client).await.expect("call failed");
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    (
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        latencies,
    )
}

/// The table's header.
pub fn header() {
    println!(
        "| flow | clients | per second (median of {ROUNDS} rounds of {} s) | p50 ms | p99 ms | calls |",
        ROUND.as_secs()
    );
    println!("|---|---|---|---|---|---|");
}

/// A table row: the median rate, each round's, and latency percentiles.
pub fn report(name: &str, clients: usize, results: &[(f64, Vec<f64>)]) {
    let mut rates: Vec<f64> = results.iter().map(|r| r.0).collect();
    let all: Vec<f64> = results.iter().flat_map(|r| r.1.clone()).collect();
    let p = Percentiles::of(&all).expect("samples");
    let each = rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "| {name} | {clients} | {:.0} (rounds: {each}) | {:.1} | {:.1} | {} |",
        crate::bench::median(&mut rates),
        p.p50,
        p.p99,
        p.count
    );
}
