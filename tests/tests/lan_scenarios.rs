//! One short pass of the transport's LAN cases with real processes
//! (viewer ⇄ impairing router ⇄ host in three namespaces), each beside the
//! same case in the simulator. The real runs are on a noisy machine: they
//! are reported, and held only to generous bounds; the simulator asserts
//! the thresholds (`common/tests/simulation.rs`). Needs root (CI
//! runs as root); without it the test says so and passes.

use e2e::routed_lan::RoutedLan;
use e2e::scenarios::{TABLE_HEAD, cases, real, row, simulated};

const DURATION_S: f64 = 10.0;

#[test]
fn every_case_streams_across_the_routed_lan() {
    if RoutedLan::create("pr", 1).is_none() {
        eprintln!("SKIPPED: the routed LAN needs root, iproute2 and ethtool");
        return;
    }
    let mut rows = vec![TABLE_HEAD.to_string()];
    let mut failures = Vec::new();
    for case in cases(DURATION_S) {
        let sim = simulated(&case, DURATION_S, 1, 10_000);
        let real = real(&case, DURATION_S, 1, false).expect("the routed LAN runs the case");
        rows.push(row(&case, 1, Some(&real), sim.as_ref()));
        // Generous: the stream went on to its end and most frames were shown
        // (a 5 s outage in 10 s shows about half).
        let floor = if case.name.contains("outage") {
            30.0
        } else {
            60.0
        };
        if real.ended_early || real.shown_pct < floor {
            failures.push(format!("{}: {real:?}", case.name));
        }
        if case.name.contains("outage") && real.resumes != 1 {
            failures.push(format!("{}: resumed {} times", case.name, real.resumes));
        }
        if case.name == "UDP blocked" && real.fallback_ms.is_none() {
            failures.push(format!("{}: no fallback to the WebSocket", case.name));
        }
    }
    eprintln!("{}", rows.join("\n"));
    assert!(failures.is_empty(), "{failures:#?}");
}
