//! FEC throughput: Reed-Solomon encode (data → data + parity shards) and
//! recovery (as many data shards lost as there is parity), in MB/s of frame
//! data. `cargo run --release -p e2e --bin fec_bench`

use std::time::Instant;

use common::fec;

const RUNS: usize = 5;
const ITERATIONS: usize = 400;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    println!("| frame | parity | data+parity shards | encode MB/s | recover MB/s |");
    println!("|---|---|---|---|---|");
    for (frame_bytes, parity_pct) in [
        (13_000usize, 10u32),
        (13_000, 25),
        (27_000, 25),
        (100_000, 25),
        (100_000, 60),
    ] {
        let frame: Vec<u8> = (0..frame_bytes).map(|i| (i * 31 % 251) as u8).collect();
        let (data, shards) = fec::encode(&frame, 1200, parity_pct);
        let parity = shards.len() - data;
        let mut encode_rates = Vec::new();
        let mut recover_rates = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            for _ in 0..ITERATIONS {
                std::hint::black_box(fec::encode(std::hint::black_box(&frame), 1200, parity_pct));
            }
            encode_rates
                .push((frame_bytes * ITERATIONS) as f64 / started.elapsed().as_secs_f64() / 1e6);
            // Lose the first `parity` data shards: the worst case, all rebuilt.
            let received: Vec<Option<Vec<u8>>> = shards
                .iter()
                .enumerate()
                .map(|(i, s)| (i >= parity).then(|| s.clone()))
                .collect();
            let started = Instant::now();
            for _ in 0..ITERATIONS {
                let rebuilt =
                    fec::decode(data, std::hint::black_box(&received)).expect("recoverable");
                std::hint::black_box(rebuilt);
            }
            recover_rates
                .push((frame_bytes * ITERATIONS) as f64 / started.elapsed().as_secs_f64() / 1e6);
        }
        println!(
            "| {} KB | {parity_pct} % | {data}+{parity} | {:.0} | {:.0} |",
            frame_bytes / 1000,
            median(encode_rates),
            median(recover_rates)
        );
    }
}
