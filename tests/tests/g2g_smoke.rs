//! The glass-to-glass bench, briefly: one 2 s round of the null copy and of
//! ours. The time codes must read off the screen and the figures be sane.
//! GStreamer is not asked for (CI does not install it).

use std::process::Command;

#[test]
fn the_bench_reads_latency_off_the_screen() {
    let out = Command::new(env!("CARGO_BIN_EXE_g2g_bench"))
        .args(["--systems", "null,ours", "--seconds", "2", "--rounds", "1"])
        .arg("--json")
        .output()
        .expect("running g2g_bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "g2g_bench failed: {stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("g2g_bench --json prints JSON");
    let systems = report["systems"].as_array().expect("systems");
    assert_eq!(systems.len(), 2, "{report}");
    for system in systems {
        let name = system["system"].as_str().expect("name");
        let m = &system["median"];
        let number = |key: &str| m[key].as_f64().unwrap_or(f64::NAN);
        // ~100 samples a second: even a slow machine takes 50 in 2 s.
        let (used, rejected) = (number("samples_used"), number("samples_rejected"));
        assert!(used >= 50.0, "{name}: {used} samples used\n{report}");
        assert!(
            rejected <= used / 4.0,
            "{name}: {rejected} rejected\n{report}"
        );
        let (p50, p99) = (number("p50_ms"), number("p99_ms"));
        assert!((0.0..=p99).contains(&p50) && p99 < 2000.0, "{name}: {m}");
        assert!(number("frames_shown_per_s") >= 5.0, "{name}: {m}");
        assert!(number("cpu_pct") > 0.0, "{name}: {m}");
        if name == "null" {
            // The floor: a copy inside the X server is a few ms at most.
            assert!(p50 < 20.0, "the null copy's p50 is {p50} ms: {m}");
        } else {
            assert!(number("wire_kbps") > 100.0, "{name}: {m}");
        }
    }
}
