//! CPU time of processes, from /proc/PID/stat (user + system time of all
//! their threads, in USER_HZ ticks: 100 a second on Linux, whatever the
//! kernel's own tick).

const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds `pid` has used so far; `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some((ticks(14)? + ticks(15)?) as f64 / TICKS_PER_SECOND)
}

/// CPU seconds of several processes together (the gone ones count 0).
pub fn total_cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|pid| cpu_seconds(*pid)).sum()
}

/// A child of `parent` whose command is `name` (e.g. our Xvfb).
pub fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1;
        let ppid: u32 = tail.split_whitespace().nth(1)?.parse().ok()?;
        (comm == name && ppid == parent).then_some(pid)
    })
}

/// A process that keeps one core busy (`--load`), stopped on drop.
pub struct Spinner(std::process::Child);

impl Spinner {
    pub fn start() -> anyhow::Result<Spinner> {
        let child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()?;
        Ok(Spinner(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
