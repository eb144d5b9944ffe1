//! Issue 14, item 2: the data directory (admin secret, every key, the TLS
//! key, SQLite's `-wal`/`-shm`) is private to the host's user from the first
//! moment; a directory others could read is tightened, with a warning that
//! its secrets may have been read.

use std::path::{Path, PathBuf};

use common::client::Method;
use e2e::hostile::{mode_of, set_mode};
use e2e::{HostProcess, scratch_dir};

/// Every entry under `dir`, depth first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
    {
        let path = entry.path();
        found.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(walk(&path));
        }
    }
    found
}

/// Asserts: the directory is 0700, every regular file in it (at any depth)
/// 0600, and no directory in it open to others.
fn assert_private(data: &Path) {
    assert_eq!(
        mode_of(data).expect("mode"),
        0o700,
        "{} is not 0700",
        data.display()
    );
    let mut report = Vec::new();
    for path in walk(data) {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        let mode = mode_of(&path).expect("mode");
        report.push(format!("{mode:o} {}", path.display()));
        if meta.file_type().is_file() {
            assert_eq!(mode, 0o600, "{} is {mode:o}, not 0600", path.display());
        } else if meta.file_type().is_dir() {
            assert_eq!(
                mode & 0o077,
                0,
                "{} is {mode:o}: open to others",
                path.display()
            );
        }
    }
    eprintln!("data directory:\n{}", report.join("\n"));
}

#[test]
fn a_fresh_data_directory_and_every_file_in_it_are_private() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-fresh-dir");
    let data = dir.join("host");
    let host = HostProcess::start(&data, 320, 180, 30).expect("host starts");
    // Some writes, so the database has a live WAL.
    let _: common::api::ApplicationList = host
        .admin_call(Method::GET, "/api/applications", None)
        .expect("GetApplications");
    host.entitle().expect("entitled");
    let database = data.join("control-plane.sqlite3");
    for file in [
        database.clone(),
        data.join("admin.key"),
        data.join("entitlement.key"),
    ] {
        assert!(file.exists(), "{} is missing", file.display());
    }
    for suffix in ["-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", database.display()));
        eprintln!("{} exists: {}", path.display(), path.exists());
    }
    assert_private(&data);
    assert!(
        !host.log().contains("may have been read"),
        "a fresh directory is no reason for a warning"
    );
}

#[test]
fn a_data_directory_others_could_read_is_tightened_with_a_warning() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-open-dir");
    let data = dir.join("host");
    // A host of before the fix left its directory 0755 and its files 0644.
    HostProcess::start(&data, 320, 180, 30)
        .expect("host starts")
        .stop()
        .expect("host stops");
    set_mode(&data, 0o755).expect("chmod");
    for path in walk(&data) {
        let is_dir = path.is_dir();
        set_mode(&path, if is_dir { 0o755 } else { 0o644 }).expect("chmod");
    }

    let host = HostProcess::start(&data, 320, 180, 30).expect("host starts again");
    assert_private(&data);
    let log = host.log();
    assert!(
        log.contains("may have been read"),
        "no warning that the secrets may have leaked: {log}"
    );
    assert!(
        log.contains("host keys rotate"),
        "the warning does not say how to rotate the keys: {log}"
    );
}
