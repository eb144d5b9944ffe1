//! What the viewer refuses and what the host refuses: a wrong certificate
//! fingerprint, a reused entitlement URL, a malformed URL.

use e2e::{HostProcess, run_headless_viewer, scratch_dir};

#[test]
fn wrong_fingerprint_is_refused_with_a_clear_message() {
    let dir = scratch_dir("pin");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let url = host.entitle().expect("entitled");
    let fp_at = url.find("fp=").expect("fp parameter") + 3;
    let mut forged = url.clone();
    forged.replace_range(fp_at..fp_at + 64, &"00".repeat(32));
    let run = run_headless_viewer(&forged, 2.0).expect("viewer runs");
    assert_eq!(run.exit_code, Some(2));
    assert!(
        run.stderr.contains("certificate mismatch"),
        "stderr: {}",
        run.stderr
    );
    assert_eq!(run.summary()["frames_received"], 0);
    // The refused attempt did not use up the token: the real URL still works.
    let ok = run_headless_viewer(&url, 1.5).expect("viewer runs");
    assert_eq!(ok.exit_code, Some(0), "{}", ok.stderr);
}

#[test]
fn an_entitlement_url_works_once() {
    let dir = scratch_dir("token");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let url = host.entitle().expect("entitled");
    let first = run_headless_viewer(&url, 1.5).expect("viewer runs");
    assert_eq!(first.exit_code, Some(0), "{}", first.stderr);
    assert!(first.summary()["frames_decoded"].as_u64().unwrap() > 0);
    let second = run_headless_viewer(&url, 1.5).expect("viewer runs");
    assert_eq!(second.exit_code, Some(2));
    assert!(
        second.stderr.contains("refused"),
        "stderr: {}",
        second.stderr
    );
}

#[test]
fn malformed_url_is_an_error_not_a_crash() {
    let run = run_headless_viewer("appstream://127.0.0.1:1/stream?token=x&fp=zz", 1.0)
        .expect("viewer runs");
    assert_eq!(run.exit_code, Some(2));
    assert!(run.stderr.contains("bad stream URL"), "{}", run.stderr);
}
