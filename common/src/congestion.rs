//! Congestion control in the spirit of Google Congestion Control: the
//! receiver measures the trend of one-way delay (queues building up show
//! there before loss does) and the loss; the sender's target bitrate drops
//! quickly to below what actually got through when the path is overused,
//! holds while it drains, and climbs back carefully.

/// Receiver side: per-frame one-way delay samples (receiver clock minus
/// capture time; the clock offset cancels in the trend) → trend per report.
#[derive(Debug, Default)]
pub struct DelayTrend {
    window: Vec<f64>,
    previous_mean_ms: Option<f64>,
    bytes: u64,
    /// RFC 3550 interarrival jitter over frames.
    jitter_ms: f64,
    last_transit_ms: Option<f64>,
}

/// What the receiver reports to the sender's controller.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PathReport {
    /// Change of the mean one-way delay since the last report.
    pub delay_trend_ms: f64,
    /// Share of datagrams lost since the last report.
    pub loss: f64,
    /// What arrived since the last report.
    pub received_kbps: f64,
    /// Interarrival jitter of frames (RFC 3550's running estimate).
    pub jitter_ms: f64,
}

impl DelayTrend {
    /// Records a delivered frame: its capture time (sender clock) and when
    /// its last shard arrived (receiver clock).
    pub fn handle_frame(&mut self, capture_us: u64, arrived_us: u64) {
        let transit_ms = (arrived_us as i128 - capture_us as i128) as f64 / 1000.0;
        if let Some(last) = self.last_transit_ms {
            self.jitter_ms += ((transit_ms - last).abs() - self.jitter_ms) / 16.0;
        }
        self.last_transit_ms = Some(transit_ms);
        self.window.push(transit_ms);
    }

    /// Counts a datagram's bytes as received (the wire rate, parity included).
    pub fn handle_datagram(&mut self, bytes: usize) {
        self.bytes += bytes as u64;
    }

    /// Closes a report window of `interval_us`, with the loss seen in it.
    pub fn report(&mut self, interval_us: u64, loss: f64) -> PathReport {
        let mean = (!self.window.is_empty())
            .then(|| self.window.iter().sum::<f64>() / self.window.len() as f64);
        let trend = match (mean, self.previous_mean_ms) {
            (Some(now), Some(before)) => now - before,
            _ => 0.0,
        };
        if mean.is_some() {
            self.previous_mean_ms = mean;
        }
        let report = PathReport {
            delay_trend_ms: trend,
            loss,
            received_kbps: self.bytes as f64 * 8.0 / 1000.0 / (interval_us.max(1) as f64 / 1e6),
            jitter_ms: self.jitter_ms,
        };
        self.window.clear();
        self.bytes = 0;
        report
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateState {
    Increase,
    /// After a decrease: wait for the queue to drain before climbing.
    Hold {
        until_us: u64,
    },
}

/// Sender side: the target rate on the wire (media, parity and headers);
/// the encoder gets what is left after FEC and framing (`encoder_kbps`).
#[derive(Debug)]
pub struct RateController {
    pub min_kbps: u32,
    pub max_kbps: u32,
    target_kbps: f64,
    state: RateState,
    /// What got through at the last overuse: the path's capacity estimate.
    ceiling_kbps: Option<f64>,
    /// When the target reached just under the ceiling (probing starts later).
    at_ceiling_since_us: Option<u64>,
    /// Consecutive reports with a growing delay.
    rising_reports: u32,
}

/// Delay growth per report that counts as overuse when it lasts two
/// reports (a queue is filling; one report can be encoder jitter)...
const OVERUSE_TREND_MS: f64 = 4.0;
/// ...or at once when this steep.
const SHARP_OVERUSE_TREND_MS: f64 = 15.0;
const HIGH_LOSS: f64 = 0.10;
const LOW_LOSS: f64 = 0.02;
const HOLD_US: u64 = 500_000;
/// Cut to this share of what got through, so the queue drains.
const DECREASE_FACTOR: f64 = 0.85;
/// Climb freely up to this share of the ceiling...
const CRUISE_SHARE: f64 = 0.95;
/// ...stay there this long, then probe above it slowly.
const PROBE_AFTER_US: u64 = 3_000_000;
const FAST_GROWTH_PER_S: f64 = 0.10;
const PROBE_GROWTH_PER_S: f64 = 0.03;
/// Probing this far past the ceiling without overuse: the path got faster.
const CEILING_FORGET_SHARE: f64 = 1.15;

impl RateController {
    /// A ceiling below the floor is raised to it (never a panic in
    /// `clamp`): the floor wins.
    pub fn new(start_kbps: u32, min_kbps: u32, max_kbps: u32) -> Self {
        let max_kbps = max_kbps.max(min_kbps);
        RateController {
            min_kbps,
            max_kbps,
            target_kbps: f64::from(start_kbps.clamp(min_kbps, max_kbps)),
            state: RateState::Increase,
            ceiling_kbps: None,
            at_ceiling_since_us: None,
            rising_reports: 0,
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps as u32
    }

    /// The encoder's share of the wire rate at `parity_pct` FEC overhead.
    pub fn encoder_kbps(&self, parity_pct: u32) -> u32 {
        // Header and tag: 48 bytes per ≤ 1200-byte shard.
        (self.target_kbps / (1.0 + f64::from(parity_pct) / 100.0) / 1.04) as u32
    }

    pub fn state(&self) -> RateState {
        self.state
    }

    /// Feeds one receiver report covering `interval_us`.
    pub fn handle_report(&mut self, now_us: u64, report: &PathReport, interval_us: u64) {
        self.rising_reports = if report.delay_trend_ms > OVERUSE_TREND_MS {
            self.rising_reports + 1
        } else {
            0
        };
        let overused = self.rising_reports >= 2
            || report.delay_trend_ms > SHARP_OVERUSE_TREND_MS
            || report.loss > HIGH_LOSS;
        if overused {
            if report.received_kbps > 0.0 {
                self.ceiling_kbps = Some(report.received_kbps);
                self.target_kbps = self.target_kbps.min(DECREASE_FACTOR * report.received_kbps);
            }
            self.at_ceiling_since_us = None;
            self.state = RateState::Hold {
                until_us: now_us + HOLD_US,
            };
        } else if let RateState::Hold { until_us } = self.state {
            // Climb again once the delay stopped falling: the queue is empty.
            if now_us >= until_us && report.delay_trend_ms.abs() <= 0.5 {
                self.state = RateState::Increase;
            }
        } else if report.loss < LOW_LOSS {
            self.grow(now_us, interval_us as f64 / 1e6);
        }
        self.target_kbps = self
            .target_kbps
            .clamp(f64::from(self.min_kbps), f64::from(self.max_kbps));
    }

    fn grow(&mut self, now_us: u64, seconds: f64) {
        let Some(ceiling) = self.ceiling_kbps else {
            self.target_kbps *= 1.0 + FAST_GROWTH_PER_S * seconds;
            return;
        };
        let cruise = CRUISE_SHARE * ceiling;
        if self.target_kbps < cruise {
            self.target_kbps = (self.target_kbps * (1.0 + FAST_GROWTH_PER_S * seconds)).min(cruise);
            return;
        }
        let since = *self.at_ceiling_since_us.get_or_insert(now_us);
        if now_us >= since + PROBE_AFTER_US {
            self.target_kbps *= 1.0 + PROBE_GROWTH_PER_S * seconds;
            if self.target_kbps > CEILING_FORGET_SHARE * ceiling {
                self.ceiling_kbps = None;
                self.at_ceiling_since_us = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overuse_cuts_below_the_received_rate_then_holds() {
        let mut control = RateController::new(10_000, 500, 50_000);
        let overuse = PathReport {
            delay_trend_ms: 30.0,
            received_kbps: 5_000.0,
            ..Default::default()
        };
        control.handle_report(0, &overuse, 100_000);
        assert_eq!(control.target_kbps(), 4_250);
        assert!(matches!(control.state(), RateState::Hold { .. }));
        let calm = PathReport {
            received_kbps: 4_250.0,
            ..Default::default()
        };
        control.handle_report(100_000, &calm, 100_000);
        assert_eq!(control.target_kbps(), 4_250, "holds while draining");
        control.handle_report(600_000, &calm, 100_000);
        control.handle_report(700_000, &calm, 100_000);
        assert!(control.target_kbps() > 4_250, "climbs after the hold");
    }

    #[test]
    fn delay_trend_sees_a_growing_queue() {
        let mut trend = DelayTrend::default();
        for i in 0..6 {
            trend.handle_frame(i * 16_000, i * 16_000 + 10_000);
            trend.handle_datagram(1_000);
        }
        assert_eq!(trend.report(100_000, 0.0).delay_trend_ms, 0.0);
        for i in 6..12 {
            trend.handle_frame(i * 16_000, i * 16_000 + 10_000 + (i - 5) * 5_000);
            trend.handle_datagram(1_000);
        }
        let report = trend.report(100_000, 0.0);
        assert!(report.delay_trend_ms > 10.0, "{report:?}");
        assert!((report.received_kbps - 480.0).abs() < 1.0);
    }
}
