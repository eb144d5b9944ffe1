//! Host clock estimation from ping/pong exchanges: the sample with the
//! smallest round trip among recent ones gives the offset (NTP's rule).

use std::collections::VecDeque;

const KEEP_SAMPLES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    rtt_us: u64,
    offset_us: i64,
}

#[derive(Debug, Default)]
pub struct ClockSync {
    samples: VecDeque<Sample>,
}

impl ClockSync {
    /// Records a pong: sent at `sent_us`, answered at `host_us` (host clock),
    /// received at `received_us` (our clock).
    pub fn handle_pong(&mut self, sent_us: u64, host_us: u64, received_us: u64) {
        if received_us < sent_us {
            return;
        }
        let rtt_us = received_us - sent_us;
        let midpoint = sent_us as i128 + i128::from(rtt_us / 2);
        let offset_us = (host_us as i128 - midpoint) as i64;
        if self.samples.len() == KEEP_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { rtt_us, offset_us });
    }

    fn best(&self) -> Option<Sample> {
        self.samples.iter().copied().min_by_key(|s| s.rtt_us)
    }

    /// Host clock minus our clock, if any sample arrived.
    pub fn offset_us(&self) -> Option<i64> {
        self.best().map(|s| s.offset_us)
    }

    pub fn rtt_us(&self) -> Option<u64> {
        self.samples.back().map(|s| s.rtt_us)
    }

    /// Converts a time on our clock to the host's clock (offset 0 until synced).
    pub fn to_host_us(&self, local_us: u64) -> u64 {
        local_us.saturating_add_signed(self.offset_us().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_tightest_sample() {
        let mut sync = ClockSync::default();
        // Host is 1_000 µs ahead; a slow exchange is skewed by queueing.
        sync.handle_pong(10_000, 11_000 + 4_000, 18_000);
        sync.handle_pong(20_000, 21_100, 20_200);
        assert_eq!(sync.offset_us(), Some(1_000));
        assert_eq!(sync.to_host_us(50_000), 51_000);
    }
}
