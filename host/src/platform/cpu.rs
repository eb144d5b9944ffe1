//! The machine's CPU use between two readings of `/proc/stat` (Linux), for
//! the fleet's heartbeat.

/// Busy and total jiffies at the last reading.
#[derive(Debug, Default)]
pub struct CpuMeter {
    last: Option<(u64, u64)>,
}

impl CpuMeter {
    /// Percent of all cores busy since the last call (0 the first time, or
    /// where `/proc/stat` cannot be read).
    pub fn sample(&mut self) -> f64 {
        let Some(now) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| busy_and_total(&text))
        else {
            return 0.0;
        };
        let percent = match self.last {
            Some((busy, total)) if now.1 > total => {
                100.0 * (now.0.saturating_sub(busy)) as f64 / (now.1 - total) as f64
            }
            _ => 0.0,
        };
        self.last = Some(now);
        percent.clamp(0.0, 100.0)
    }
}

/// (busy, total) from the `cpu` line: idle and iowait are not busy.
fn busy_and_total(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cpu_line_gives_busy_and_total() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(super::busy_and_total(stat), Some((150, 1000)));
        assert_eq!(super::busy_and_total("intr 1 2"), None);
    }
}
