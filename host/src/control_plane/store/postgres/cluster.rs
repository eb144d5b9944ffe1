//! A private PostgreSQL cluster for tests and benches: `initdb` into a
//! temporary directory and a server listening only on a Unix socket there
//! (no port to collide on, no other user let in), stopped and removed when
//! dropped, or by a watchdog once the process that started it is gone (a
//! cluster kept in a test binary's static is never dropped).
//!
//! `initdb` and `pg_ctl` refuse to run as root: as root they run as the
//! `postgres` user the server package creates (`scripts/setup` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    databases: AtomicU32,
}

impl PrivateCluster {
    /// Creates and starts a cluster; `settings` are extra `-c name=value`
    /// server settings (the benches print theirs).
    pub fn start(settings: &[&str]) -> anyhow::Result<Self> {
        let bin = server_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "appstream-pg-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let cluster = Self {
            dir,
            bin,
            databases: AtomicU32::new(0),
        };
        cluster.hand_to_server_user()?;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let mut options = format!(
            "-k {} -c listen_addresses='' -c max_connections=300",
            cluster.dir.display()
        );
        for setting in settings {
            options.push_str(&format!(" -c {setting}"));
        }
        cluster.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                &cluster.data().to_string_lossy(),
                "-l",
                &cluster.dir.join("server.log").to_string_lossy(),
                "-o",
                &options,
            ],
        )?;
        cluster.watch_this_process()?;
        Ok(cluster)
    }

    /// A new empty database, as a URL for `--database`.
    pub fn new_database(&self) -> anyhow::Result<String> {
        let name = format!("db{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.run(
            "createdb",
            &["-h", &self.dir.to_string_lossy(), "-U", "postgres", &name],
        )?;
        Ok(self.url(&name))
    }

    /// `postgres://postgres@%2Ftmp%2F...%2F/NAME`: the socket directory as
    /// the host.
    pub fn url(&self, database: &str) -> String {
        let host = self.dir.to_string_lossy().replace('/', "%2F");
        format!("postgres://postgres@{host}/{database}")
    }

    /// The server's log (for a failed test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_server_user(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .as_server_user(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    fn hand_to_server_user(&self) -> anyhow::Result<()> {
        if !is_root() {
            return Ok(());
        }
        let id = |flag: &str| -> anyhow::Result<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output()?;
            if !out.status.success() {
                bail!("no postgres user: run scripts/setup (it installs the postgresql package)");
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
        };
        std::os::unix::fs::chown(&self.dir, Some(id("-u")?), Some(id("-g")?))?;
        Ok(())
    }

    /// A shell that stops the server and removes the directory once this
    /// process has gone, however it went.
    fn watch_this_process(&self) -> anyhow::Result<()> {
        let stop = self.stop_command();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the cluster's watchdog")?;
        Ok(())
    }

    fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}{} stop -m immediate -D '{}'",
            pg_ctl.display(),
            self.data().display()
        )
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &format!("{} >/dev/null 2>&1", self.stop_command())])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The newest installed server's `bin` directory.
fn server_bin() -> anyhow::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server under {}: run scripts/setup (it installs the postgresql package)",
            root.display()
        ),
    }
}
