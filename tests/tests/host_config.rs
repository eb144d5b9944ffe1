//! `host.toml` read by the real binary: `host serve` listens where the
//! file says, and a bad file stops it with the line named.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{binary, scratch_dir};

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn serve_listens_where_host_toml_says() {
    let data = scratch_dir("host-config-serve");
    let port = free_tcp_port();
    std::fs::write(
        data.join("host.toml"),
        format!(
            "# a host as a service runs it\nlisten = \"127.0.0.1:{port}\"\ncapture = \"synthetic\"\nmdns = \"off\"\n"
        ),
    )
    .unwrap();
    let shown = Command::new(binary("host"))
        .args(["--data-dir"])
        .arg(&data)
        .args(["config", "show"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!("listen = \"127.0.0.1:{port}\""))
            && shown.contains("host.toml line 2"),
        "{shown}"
    );
    let mut host = Command::new(binary("host"))
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env_remove("DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let listening = loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break true;
        }
        if Instant::now() > deadline || host.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = host.kill();
    let _ = host.wait();
    assert!(
        listening,
        "the host did not listen on 127.0.0.1:{port} from host.toml"
    );
}

#[test]
fn a_bad_host_toml_stops_the_host_naming_line_and_key() {
    let data = scratch_dir("host-config-bad");
    std::fs::write(
        data.join("host.toml"),
        "fps = 60\nmdns = \"off\"\nlisten_addr = \"0.0.0.0:1\"\n",
    )
    .unwrap();
    let out = Command::new(binary("host"))
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("host.toml line 3: unknown key `listen_addr`"),
        "{stderr}"
    );
}
