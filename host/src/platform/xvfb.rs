//! A private X server (Xvfb) per session: headless hosts get a display, and
//! two sessions never see each other's windows.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb at `width × height`; it picks a free display number and
    /// tells us which (`-displayfd`), so concurrent starts never collide.
    pub fn start(width: u32, height: u32) -> anyhow::Result<Xvfb> {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-noreset",
                "-screen",
                "0",
            ])
            .arg(format!("{width}x{height}x24"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (install the xvfb package for virtual displays)")?;
        let stdout = child.stdout.take().context("Xvfb's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Ok(number) = line.trim().parse::<u32>() else {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("Xvfb did not start (it reported no display number)");
        };
        let display = format!(":{number}");
        let x_display = display.as_str();
        tracing::info!(x_display, width, height, "private X server started");
        Ok(Xvfb { child, display })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let x_display = self.display.as_str();
        tracing::info!(x_display, "private X server stopped");
    }
}
