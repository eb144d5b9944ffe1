//! Issue 14, item 6: launched applications cannot read the host's data
//! (admin key, database, entitlement key, TLS key), yet keep their display,
//! SDK socket and credentials file: under a dedicated uid when the host runs
//! as root (the default here), and under Landlock. The demo game still
//! launches and streams under both. Commands come from the host's owner:
//! the API may only set commands listed in `DATA_DIR/allowed-commands`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::client::Method;
use e2e::hostile::{mode_of, set_mode, wait_until};
use e2e::{HostProcess, binary, host_command, run_headless_viewer_with, scratch_dir};
use host::control_plane::store::ApplicationStore;
use serde_json::json;

use super::{code_of, send, text_of};

/// Files of the data directory an application must not read.
const SECRETS: [&str; 4] = [
    "admin.key",
    "control-plane.sqlite3",
    "entitlement.key",
    "host-key.pem",
];

/// A `sh -c` script: reports on stderr (`probe NAME: read|refused`) what it
/// could read, copies whatever it could read into `out` (a 0777 directory
/// under /tmp, where both sandboxes let applications write),
/// and exits 3, so that the report is the tail of the application's stderr
/// the host records with the launch failure.
fn probe_script(data: &Path, out: &Path) -> String {
    let secrets = SECRETS.join(" ");
    format!(
        r#"data='{data}'; out='{out}'
echo "probe uid: $(id -u)" >&2
for f in {secrets}; do
  if cat "$data/$f" > /dev/null 2>&1; then
    echo "probe $f: read" >&2
    cat "$data/$f" > "$out/$f.copy" 2>/dev/null
  else
    echo "probe $f: refused" >&2
  fi
done
echo "probe credentials file: $AWS_SHARED_CREDENTIALS_FILE" >&2
# The host may write the credentials just after the launch: wait up to 10 s.
i=0
while [ $i -lt 100 ] && ! grep -q aws_access_key_id "$AWS_SHARED_CREDENTIALS_FILE" 2>/dev/null; do
  sleep 0.1; i=$((i+1))
done
if grep -q aws_access_key_id "$AWS_SHARED_CREDENTIALS_FILE" 2>/dev/null; then
  echo "probe credentials: read" >&2
else
  echo "probe credentials: refused ($(cat "$AWS_SHARED_CREDENTIALS_FILE" 2>&1 >/dev/null | head -c 200); $(ls -ld "$AWS_SHARED_CREDENTIALS_FILE" "$(dirname "$AWS_SHARED_CREDENTIALS_FILE")" 2>&1 | tr '\n' ';'))" >&2
fi
if [ -S "$APPSTREAM_SDK_SOCKET" ]; then echo "probe sdk socket: present" >&2; else echo "probe sdk socket: missing" >&2; fi
echo "probe done: yes" >&2
exit 3
"#,
        data = data.display(),
        out = out.display(),
    )
}

/// `probe NAME: VALUE` lines.
fn parse_report(tail: &str) -> BTreeMap<String, String> {
    tail.lines()
        .filter_map(|line| line.strip_prefix("probe "))
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The host options of a sandbox mode, for `host run`.
fn run_options<'a>(mode_options: &[&'a str]) -> Vec<&'a str> {
    let mut options = vec![
        "--display",
        "virtual",
        "--width",
        "320",
        "--height",
        "180",
        "--fps",
        "30",
    ];
    options.extend(mode_options);
    options
}

/// `host run OPTIONS -- sh -c PROBE`: the probe is launched as the
/// application (under the sandbox), reports and exits before showing a
/// window, so `host run` records the launch failure, with the tail of its
/// stderr, and stops. The report is read back from the database: stderr is
/// the one channel out of the sandbox that needs no grant (Landlock keeps a
/// 0777 scratch directory under target/ out of reach).
///
/// Assumptions: besides the contract's `admin.key` and database, the
/// entitlement key and the TLS key are refused too (the whole data directory
/// is left out); the credentials file may be written just after the launch.
fn probe_under(
    mode: &str,
    wrapper: &[&str],
    mode_options: &[&str],
    data: &Path,
) -> BTreeMap<String, String> {
    let out = PathBuf::from(format!(
        "/tmp/e2e-hostile-sandbox-{mode}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("out dir");
    set_mode(&out, 0o777).expect("chmod");
    let log = std::fs::File::create(data.with_extension("probe.log")).expect("log file");
    let mut host = host_command(wrapper)
        .arg("run")
        .args(run_options(mode_options))
        .args(["--listen", "127.0.0.1:0", "--mdns", "off", "--data-dir"])
        .arg(data)
        .args(["--", "sh", "-c", &probe_script(data, &out)])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("host run starts");
    let ended = wait_until(Duration::from_secs(60), || {
        host.try_wait().ok().flatten().is_some()
    });
    if !ended {
        let _ = host.kill();
        let _ = host.wait();
        panic!("{mode}: host run did not end when its probe exited");
    }
    let store = host::control_plane::store::SqliteStore::open_in(data).expect("the database");
    let errors = store.application_errors("sh").expect("application errors");
    let tail = errors
        .iter()
        .find_map(|e| e.stderr_tail.clone())
        .unwrap_or_else(|| {
            panic!(
                "{mode}: no application error with a stderr tail: {errors:?}\n{}",
                std::fs::read_to_string(data.with_extension("probe.log")).unwrap_or_default()
            )
        });
    eprintln!("{mode}: the application's report:\n{tail}");
    let copies: Vec<String> = std::fs::read_dir(&out)
        .expect("out dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    let report = parse_report(&tail);
    assert_eq!(
        report.get("done").map(String::as_str),
        Some("yes"),
        "the probe ran to its end: {tail}"
    );
    for secret in SECRETS {
        assert_eq!(
            report.get(secret).map(String::as_str),
            Some("refused"),
            "{mode}: the application could read {secret}"
        );
    }
    assert!(
        copies.is_empty(),
        "{mode}: the application copied the host's data out: {copies:?}"
    );
    assert_eq!(
        report.get("sdk socket").map(String::as_str),
        Some("present"),
        "{mode}: the application has no SDK socket"
    );
    assert_eq!(
        report.get("credentials").map(String::as_str),
        Some("read"),
        "{mode}: the application cannot read its credentials file"
    );
    report
}

/// `host run OPTIONS -- demo-game`: the game launches, draws and streams
/// under the sandbox. It is the command itself (not exec'd by a script):
/// Landlock grants the program's own directory, not other programs'.
fn game_streams_under(wrapper: &[&str], mode_options: &[&str], data: &Path) {
    let game = binary("demo-game").display().to_string();
    let mut args = vec!["run"];
    args.extend(run_options(mode_options));
    args.push("--");
    args.extend([
        game.as_str(),
        "--width",
        "320",
        "--height",
        "180",
        "--fps",
        "30",
    ]);
    let host = HostProcess::spawn_wrapped(wrapper, data, &args, &[])
        .expect("host run starts the demo game under the sandbox");
    assert_eq!(mode_of(data).expect("mode"), 0o700);
    let url = host
        .entitle_as(
            "demo",
            &host.demo_password().expect("password"),
            "demo-game",
        )
        .expect("entitled to the game");
    let run = run_headless_viewer_with(&url, 3.0, &[]).expect("viewer");
    let decoded = run.summary()["frames_decoded"].as_u64().unwrap_or(0);
    assert!(
        decoded >= 10,
        "the sandboxed game streamed {decoded} frames: {}",
        run.summary()
    );
    host.stop().expect("host stops");
}

/// `host run` as root with the default sandbox (`auto` → `uid`, as
/// `nobody`).
#[test]
fn as_root_the_application_runs_as_another_user_and_cannot_read_the_hosts_data() {
    let _suite = super::shared();
    let _game = super::game();
    let dir = scratch_dir("hostile-sandbox-uid");
    let data = dir.join("host");
    game_streams_under(&[], &[], &data);
    let report = probe_under("uid", &[], &[], &data);
    let uid = report.get("uid").cloned().unwrap_or_default();
    assert!(
        uid != "0" && !uid.is_empty(),
        "the application ran as uid {uid:?}"
    );
}

/// The host run by an unprivileged user (as `nobody`, through `setpriv`):
/// applications run as that same user, so only Landlock stands between
/// them and the data directory. As root, `--sandbox landlock` is refused
/// (the application would stay root).
#[test]
fn under_landlock_the_application_cannot_read_the_hosts_data() {
    let _suite = super::shared();
    let _game = super::game();
    let dir = scratch_dir("hostile-sandbox-landlock");
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    // The unprivileged host makes its data directory in a place of its own.
    let status = std::process::Command::new("chown")
        .args(["65534:65534"])
        .arg(&dir)
        .status()
        .expect("chown");
    assert!(status.success());
    let data = dir.join("host");
    game_streams_under(&nobody, &["--sandbox", "landlock"], &data);
    let report = probe_under("landlock", &nobody, &["--sandbox", "landlock"], &data);
    assert_eq!(
        report.get("uid").map(String::as_str),
        Some("65534"),
        "the application runs as the host's own user"
    );

    let refused = host_command(&[])
        .args([
            "run",
            "--sandbox",
            "landlock",
            "--mdns",
            "off",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.join("root-host"))
        .args(["--", "true"])
        .output()
        .expect("host runs");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("as root"), "{said}");
}

/// Assumption: the file is read at each check, but it is written before
/// the host starts all the same.
#[test]
fn the_api_may_only_set_commands_the_owner_listed() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-allowed-commands");
    let data = dir.join("host");
    std::fs::create_dir_all(&data).expect("data dir");
    set_mode(&data, 0o700).expect("chmod");
    std::fs::write(
        data.join("allowed-commands"),
        "# what the API may launch\n/usr/bin/true\n\n",
    )
    .expect("allowed-commands written");
    set_mode(&data.join("allowed-commands"), 0o600).expect("chmod");
    let host = HostProcess::start(&data, 320, 180, 30).expect("host starts");
    let api = host.admin_api().expect("admin key");
    let create = |name: &str, command: &str| {
        send(
            &api,
            Method::POST,
            "/api/applications",
            Some(json!({"name": name, "command": command, "args": ["-c", "id"]})),
        )
    };
    let refused = create("shell", "/bin/sh");
    assert_eq!(refused.status, 403, "{}", text_of(&refused));
    assert_eq!(code_of(&refused), "command_not_allowed");
    let listed = create("listed", "/usr/bin/true");
    assert_eq!(listed.status, 201, "{}", text_of(&listed));
    let patched = send(
        &api,
        Method::PATCH,
        "/api/applications/listed",
        Some(json!({"command": "/bin/sh"})),
    );
    assert_eq!(patched.status, 403, "{}", text_of(&patched));
    assert_eq!(code_of(&patched), "command_not_allowed");
    host.stop().expect("host stops");

    // The owner may allow any command.
    let host = HostProcess::start_with(&data, 320, 180, 30, &["--allow-any-command"])
        .expect("host starts");
    let api = host.admin_api().expect("admin key");
    let shell = send(
        &api,
        Method::POST,
        "/api/applications",
        Some(json!({"name": "shell", "command": "/bin/sh"})),
    );
    assert_eq!(shell.status, 201, "{}", text_of(&shell));
}
