//! `lan_scenarios`: every transport case with real processes across the
//! routed LAN and in the simulator, side by side, for each seed (the full
//! table in BENCHMARKS.md; `scripts/lan-scenarios` runs it on a release
//! build). Needs root.

use clap::Parser;
use e2e::scenarios::{TABLE_HEAD, cases, real, row, simulated};

#[derive(Parser, Debug)]
#[command(name = "lan_scenarios")]
struct Args {
    /// Seconds per case.
    #[arg(long, default_value_t = 20.0)]
    duration_s: f64,
    /// Seeds of the router and the simulator.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Only cases whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Print the viewer's statistics each second.
    #[arg(long)]
    verbose: bool,
}

fn main() {
    let args = Args::parse();
    println!("{TABLE_HEAD}");
    for case in cases(args.duration_s) {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !case.name.contains(only))
        {
            continue;
        }
        for &seed in &args.seeds {
            let sim = simulated(&case, args.duration_s, seed, 10_000);
            let real = real(&case, args.duration_s, seed, args.verbose);
            println!("{}", row(&case, seed, real.as_ref(), sim.as_ref()));
        }
    }
}
