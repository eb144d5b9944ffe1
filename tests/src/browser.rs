//! A real browser for the web console's tests: Debian's `chromium` driven
//! through `chromedriver` (package `chromium-driver`) over WebDriver, with
//! fantoccini on a plain HTTP connector (chromedriver listens on 127.0.0.1,
//! so the client brings no TLS stack of its own). scripts/setup installs
//! both packages; a missing one fails the test and says so.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// Page loads and element waits: generous, for a busy 2-core machine.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// An executable on PATH, or an error that says how to install it.
fn on_path(name: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "{name} is not installed: run scripts/setup (it installs Debian's chromium and \
                 chromium-driver; CI runs it first)"
            )
        })
}

/// A `chromedriver` on a free port of 127.0.0.1, in a process group of its
/// own: dropping it kills the group (chromedriver and every browser it
/// started).
pub struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    dir: PathBuf,
    profiles: usize,
}

impl Chromedriver {
    /// Starts chromedriver (its log and the browser profiles go under
    /// `dir`) and waits until it accepts connections.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let chromium = on_path("chromium")?;
        let chromedriver = on_path("chromedriver")?;
        std::fs::create_dir_all(dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting chromedriver")?;
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            dir: dir.to_path_buf(),
            profiles: 0,
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + PAGE_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err() {
            if let Some(status) = driver.child.try_wait()? {
                bail!(
                    "chromedriver exited ({status}) before listening; see {}",
                    dir.join("chromedriver.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not listen on {address} within {PAGE_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }

    /// A new headless browser (its own profile, so its own cookies) with a
    /// window of `width`×`height`, trusting the host's self-signed
    /// certificate.
    pub async fn browser(&mut self, width: u32, height: u32) -> anyhow::Result<Client> {
        self.profiles += 1;
        let profile = self.dir.join(format!("profile-{}", self.profiles));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--ignore-certificate-errors",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .with_context(|| {
                format!(
                    "starting chromium through chromedriver; see {}",
                    self.dir.join("chromedriver.log").display()
                )
            })?;
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(PAGE_TIMEOUT),
                Some(Duration::ZERO),
            ))
            .await?;
        Ok(client)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browsers it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to `PAGE_TIMEOUT`) for an element matching the CSS selector.
pub async fn wait_for(client: &Client, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
    client
        .wait()
        .at_most(PAGE_TIMEOUT)
        .every(Duration::from_millis(100))
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("no {css} within {PAGE_TIMEOUT:?}"))
}

/// The page's width against the window's: `(scrollWidth, innerWidth)`.
/// A page that scrolls sideways has the first larger. (WebDriver's scripts
/// are not subject to the page's CSP.)
pub async fn page_and_window_width(client: &Client) -> anyhow::Result<(u64, u64)> {
    let value = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            Vec::new(),
        )
        .await?;
    let pair = value
        .as_array()
        .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?)))
        .with_context(|| format!("widths: {value}"))?;
    Ok(pair)
}

/// Saves a PNG of the whole page (the window is made as tall as the page
/// for the shot, then put back) at `path`.
pub async fn screenshot(client: &Client, path: &Path) -> anyhow::Result<()> {
    let (width, height) = client.get_window_size().await?;
    let value = client
        .execute(
            "return [document.documentElement.scrollHeight, window.innerHeight];",
            Vec::new(),
        )
        .await?;
    let page = value
        .get(0)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let inner = value
        .get(1)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let taller = page > inner;
    if taller {
        let frame = height.saturating_sub(inner);
        client
            .set_window_size(width as u32, (page + frame) as u32)
            .await?;
    }
    let png = client.screenshot().await;
    if taller {
        client.set_window_size(width as u32, height as u32).await?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, png?).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
