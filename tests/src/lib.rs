//! Helpers for the end-to-end suite: real `host` and `viewer` processes,
//! a private Xvfb, screenshots. The binaries come from the same target
//! directory as the test (scripts/test builds them first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `target/<profile>/NAME`, next to the running test's `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (scripts/test does)",
        path.display()
    );
    path
}

/// A fresh scratch directory under the target directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    let base = binary("host")
        .parent()
        .expect("target dir")
        .join("e2e-scratch");
    let dir = base.join(format!("{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The `host` binary as a command, started through `wrapper` (a command
/// that execs the rest, e.g. `setpriv --reuid=65534`) when one is given.
pub fn host_command(wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(binary("host"));
            command
        }
        None => Command::new(binary("host")),
    }
}

/// A running `host serve`, killed on drop.
pub struct HostProcess {
    child: Child,
    /// `https://127.0.0.1:PORT`: the API, the entitlement service, `/stream`.
    pub base_url: String,
    pub fingerprint: [u8; 32],
    pub data_dir: PathBuf,
}

impl HostProcess {
    pub fn start(data_dir: &Path, width: u32, height: u32, fps: u32) -> anyhow::Result<Self> {
        Self::start_with(data_dir, width, height, fps, &[])
    }

    /// Starts `host serve` with extra arguments.
    pub fn start_with(
        data_dir: &Path,
        width: u32,
        height: u32,
        fps: u32,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        Self::start_with_env(data_dir, width, height, fps, extra, &[])
    }

    /// The same, with environment variables (e.g. `RUST_LOG`).
    pub fn start_with_env(
        data_dir: &Path,
        width: u32,
        height: u32,
        fps: u32,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let size = [
            "--width".to_string(),
            width.to_string(),
            "--height".to_string(),
            height.to_string(),
            "--fps".to_string(),
            fps.to_string(),
        ];
        let mut args: Vec<&str> = vec!["serve"];
        args.extend(size.iter().map(String::as_str));
        args.extend(extra);
        Self::spawn(data_dir, &args, env)
    }

    /// `host run [OPTIONS] -- COMMAND...` (the options go before `--`).
    pub fn start_run(
        data_dir: &Path,
        options: &[&str],
        command: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut args = vec!["run"];
        args.extend(options);
        args.push("--");
        args.extend(command);
        Self::spawn(data_dir, &args, env)
    }

    /// Starts `host ARGS... --listen 127.0.0.1:0 --mdns off --data-dir DIR`
    /// and waits until it says where its API is. Never advertised on the
    /// machine's network (tests run many hosts; mDNS is tested in namespaces).
    fn spawn(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn_wrapped(&[], data_dir, args, env)
    }

    /// `host ARGS...` (as `start_with_env` / `start_run` take them) started
    /// through `wrapper`, a command that execs the rest (e.g. `prlimit
    /// --nofile=64:64`); an empty wrapper starts the host directly.
    pub fn spawn_wrapped(
        wrapper: &[&str],
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let mut child = host_command(wrapper)
            .envs(env.iter().copied())
            .args(&args[..split])
            .args(["--listen", "127.0.0.1:0", "--mdns", "off", "--data-dir"])
            .arg(data_dir)
            .args(&args[split..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting host")?;
        tee_stderr(&mut child, &data_dir.with_extension("log"))?;
        match wait_until_ready(&mut child) {
            Ok((fingerprint, base_url)) => Ok(HostProcess {
                child,
                base_url,
                fingerprint,
                data_dir: data_dir.to_path_buf(),
            }),
            Err(e) => {
                let _ = child.kill();
                Err(e)
            }
        }
    }

    /// Adds a user with a password and an authenticator, entitled to
    /// `application`; returns the authenticator's secret (base32).
    pub fn add_totp_user(
        &self,
        user: &str,
        password: &str,
        application: &str,
    ) -> anyhow::Result<String> {
        self.admin(
            &["users", "add", user, "--password-stdin"],
            &format!("{password}\n"),
        )?;
        self.admin(&["users", "entitle", user, application], "")?;
        let out = self.admin(&["users", "enable-totp", user], "")?;
        anyhow::ensure!(out.contains("otpauth://totp/"), "no otpauth URL: {out}");
        out.lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .map(str::to_string)
            .context("no secret printed")
    }

    /// Signs in as the demo user and returns an entitlement URL for the demo
    /// application: what a person does before every stream.
    pub fn entitle(&self) -> anyhow::Result<String> {
        self.entitle_as("demo", &self.demo_password()?, "demo")
    }

    pub fn entitle_as(&self, user: &str, password: &str, app: &str) -> anyhow::Result<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut client = self.entitlement_client()?;
            client.sign_in(user, password, None).await?;
            Ok(client.entitle(app).await?.url)
        })
    }

    pub fn demo_password(&self) -> anyhow::Result<String> {
        Ok(
            std::fs::read_to_string(self.data_dir.join("demo.password"))?
                .trim()
                .to_string(),
        )
    }

    pub fn entitlement_client(&self) -> anyhow::Result<common::client::EntitlementClient> {
        Ok(common::client::EntitlementClient::new(
            common::client::HttpsClient::new(&self.base_url, self.fingerprint)?,
        ))
    }

    /// An API client signing with the admin key the host wrote.
    pub fn admin_api(&self) -> anyhow::Result<common::client::ApiClient> {
        let key = host::app::read_key_file(&self.data_dir.join("admin.key"))?;
        Ok(common::client::ApiClient::new(
            common::client::HttpsClient::new(&self.base_url, self.fingerprint)?,
            key,
        ))
    }

    /// Waits for the application's session to be ACTIVE and ends it as an
    /// administrator would (UpdateSessionState TERMINATED); its id.
    pub fn terminate_active_session(&self, application: &str) -> anyhow::Result<String> {
        use common::client::Method;
        let sessions = format!("/api/applications/{application}/sessions");
        let deadline = Instant::now() + Duration::from_secs(30);
        let active = loop {
            let list: common::api::SessionList = self.admin_call(Method::GET, &sessions, None)?;
            if let Some(active) = list
                .sessions
                .into_iter()
                .find(|s| s.state == common::api::SessionState::Active)
            {
                break active;
            }
            anyhow::ensure!(Instant::now() < deadline, "no active session within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        };
        let _: common::api::Session = self.admin_call(
            Method::PUT,
            &format!("{sessions}/{}/state", active.id),
            Some(serde_json::json!({"state": "TERMINATED"})),
        )?;
        Ok(active.id)
    }

    /// One signed call to the host's API as the admin, waited for.
    pub fn admin_call<T: serde::de::DeserializeOwned>(
        &self,
        method: common::client::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let api = self.admin_api()?;
        Ok(runtime.block_on(api.call(method, path, body.as_ref()))?)
    }

    /// Waits for the host to stop by itself (`host run` ends with its
    /// application); its exit status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("host did not stop within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the host as Ctrl-C / SIGTERM would, and waits for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("host did not stop within 10 s of SIGTERM")
    }
}

/// Reads a starting host's stdout until it says where its API is: its
/// certificate fingerprint and `https://ADDR:PORT`. Keeps draining stdout
/// afterwards so the host never blocks on a full pipe.
pub fn wait_until_ready(child: &mut Child) -> anyhow::Result<([u8; 32], String)> {
    let stdout = child.stdout.take().context("host stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fingerprint = None;
    while Instant::now() < deadline {
        let Some(line) = lines.next() else { break };
        let line = line?;
        if let Some(hex) = line.strip_prefix("certificate fingerprint (SHA-256): ") {
            fingerprint =
                Some(common::stream_url::parse_fingerprint(hex).map_err(anyhow::Error::msg)?);
        }
        if let Some(rest) = line.strip_prefix("API: ") {
            let base_url = rest.split("/api").next().context("API line")?.to_string();
            std::thread::spawn(move || for _ in lines {});
            let fingerprint = fingerprint.context("no fingerprint before the API line")?;
            return Ok((fingerprint, base_url));
        }
    }
    bail!("host did not say where its API is")
}

/// Copies the child's stderr to ours (visible when a test fails) and to a
/// file a test can search (`HostProcess::log`).
fn tee_stderr(child: &mut Child, path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let stderr = child.stderr.take().context("host stderr")?;
    let mut file = std::fs::File::create(path)?;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let _ = writeln!(file, "{line}");
        }
    });
    Ok(())
}

impl HostProcess {
    /// Kills the host without a word (SIGKILL), as a crash or a pulled
    /// plug would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The host's process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// Runs an admin command (`host --data-dir DIR ARGS`) with `stdin`; returns stdout.
    pub fn admin(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        admin_command(&self.data_dir, args, stdin)
    }
}

/// `host --data-dir DIR ARGS` with `stdin`; stdout, or an error with stderr.
pub fn admin_command(data_dir: &Path, args: &[&str], stdin: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = Command::new(binary("host"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "host {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a headless viewer printed.
#[derive(Debug)]
pub struct ViewerRun {
    pub exit_code: Option<i32>,
    pub lines: Vec<serde_json::Value>,
    pub stderr: String,
}

impl ViewerRun {
    pub fn summary(&self) -> &serde_json::Value {
        self.lines.last().expect("the viewer printed no summary")
    }
}

/// Runs `viewer stream --headless --duration SECONDS URL` to its end.
pub fn run_headless_viewer(url: &str, seconds: f64) -> anyhow::Result<ViewerRun> {
    run_headless_viewer_with(url, seconds, &[])
}

/// The same, with extra viewer options.
pub fn run_headless_viewer_with(
    url: &str,
    seconds: f64,
    extra: &[&str],
) -> anyhow::Result<ViewerRun> {
    let options: Vec<&str> = std::iter::once("--mute")
        .chain(extra.iter().copied())
        .collect();
    run_headless_viewer_via(Command::new(binary("viewer")), url, seconds, &options)
}

/// The same through `viewer`, a command that runs a viewer (the Windows
/// build under Wine, say), with exactly the `options` given (not muted
/// unless they say so).
pub fn run_headless_viewer_via(
    mut viewer: Command,
    url: &str,
    seconds: f64,
    extra: &[&str],
) -> anyhow::Result<ViewerRun> {
    let output = viewer
        .args(["stream", "--headless", "--duration", &seconds.to_string()])
        .args(extra)
        .arg(url)
        .output()
        .context("running viewer")?;
    let stdout = String::from_utf8(output.stdout)?;
    let lines = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("stdout line is not JSON: {line}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ViewerRun {
        exit_code: output.status.code(),
        lines,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A private X server (the host's own Xvfb helper), stopped on drop.
pub struct Xvfb {
    _server: host::platform::xvfb::Xvfb,
    pub display: String,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let server = host::platform::xvfb::Xvfb::start(width, height)?;
        Ok(Xvfb {
            display: server.display.clone(),
            _server: server,
        })
    }

    /// `viewer ARGS...` on this display, with a private runtime and config
    /// directory under `dir` (stdout discarded).
    pub fn viewer(&self, dir: &Path, args: &[&str]) -> anyhow::Result<Child> {
        Command::new(binary("viewer"))
            .args(args)
            .env("DISPLAY", &self.display)
            .env("XDG_RUNTIME_DIR", runtime_dir(dir))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .spawn()
            .context("starting the viewer")
    }

    /// Takes a screenshot of the whole screen with imagemagick's `import`.
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<image::RgbaImage> {
        let status = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(path)
            .status()
            .context("running import (imagemagick)")?;
        anyhow::ensure!(status.success(), "import failed");
        Ok(image::open(path)?.to_rgba8())
    }

    /// Screenshots into `path` every quarter second until `check` passes
    /// one, and returns it; after `timeout`, the last failure (of `check`
    /// or of the screenshot).
    pub fn screenshot_until(
        &self,
        path: &Path,
        timeout: Duration,
        check: impl Fn(&image::RgbaImage) -> Result<(), String>,
    ) -> Result<image::RgbaImage, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let failure = match self.screenshot(path) {
                Ok(shot) => match check(&shot) {
                    Ok(()) => return Ok(shot),
                    Err(e) => e,
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(failure);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// A private 0700 runtime directory for wgpu/winit under Xvfb.
pub fn runtime_dir(base: &Path) -> PathBuf {
    let dir = base.join("xdg-runtime");
    std::fs::create_dir_all(&dir).expect("runtime dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    dir
}

pub mod lan;
/// The launcher driven on a private Xvfb: its log lines and screenshots.
pub mod launcher;
/// The host's test pattern on a screen.
pub mod pattern;
pub mod routed_lan;
pub mod scenarios;

/// Import circles among a crate's modules, read from its sources.
pub mod module_graph;

/// The glass-to-glass latency bench's parts.
pub mod g2g;

/// Helpers of the `hostile` suite: raw TLS from chosen addresses, /proc.
pub mod hostile;

/// A real browser (chromium through chromedriver) for the web console's tests.
pub mod browser;

/// Calls per second of concurrent clients (the control plane's benches).
pub mod throughput;

/// Helpers of the benchmark binaries.
pub mod bench {
    use std::time::Instant;

    pub fn micros(since: Instant) -> f64 {
        since.elapsed().as_secs_f64() * 1e6
    }

    pub fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
}

/// Runs `xdotool ARGS...` on an X display; its stdout.
pub fn xdotool(display: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .context("running xdotool")?;
    anyhow::ensure!(
        out.status.success(),
        "xdotool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits for a window whose title matches `name`; its id.
pub fn wait_for_window(display: &str, name: &str, timeout: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(found) = xdotool(display, &["search", "--name", name])
            && let Some(id) = found.lines().next()
        {
            return Ok(id.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("no window named {name:?} within {timeout:?}")
}

/// A window's size as xdotool reports it.
pub fn window_size(display: &str, window: &str) -> anyhow::Result<(u32, u32)> {
    let text = xdotool(display, &["getwindowgeometry", "--shell", window])?;
    let field = |key: &str| -> anyhow::Result<u32> {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .context("geometry field")?
            .trim()
            .parse()
            .context("geometry number")
    };
    Ok((field("WIDTH=")?, field("HEIGHT=")?))
}

/// Gives a window the keyboard focus (there is no window manager to do it),
/// retrying while it is still being mapped.
pub fn focus_window(display: &str, window: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match xdotool(display, &["windowfocus", "--sync", window]) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
