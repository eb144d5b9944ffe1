//! The receiver's delay-based overuse detector (GCC's trendline filter):
//! per frame, the change of one-way delay between consecutive frames
//! (arrival gap minus send gap, both stamped when sent and received, so
//! encode time and host scheduling cancel out) is accumulated and smoothed,
//! and the slope of a least-squares line over a window of such points is
//! compared with a threshold that adapts to the path's noise.

use std::collections::VecDeque;

use super::DelaySignal;

/// Points in the trendline's window.
const WINDOW: usize = 20;
/// Exponential smoothing of the accumulated delay.
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by the number of deltas seen (at most this) and gain.
const MAX_DELTAS: f64 = 60.0;
const TREND_GAIN: f64 = 4.0;
/// The threshold adapts between these (ms of modified trend)...
const THRESHOLD_INITIAL: f64 = 12.5;
const THRESHOLD_MIN: f64 = 6.0;
const THRESHOLD_MAX: f64 = 600.0;
/// ...upwards quickly when the trend sits above it (noise), down slowly.
const THRESHOLD_UP_PER_MS: f64 = 0.0087;
const THRESHOLD_DOWN_PER_MS: f64 = 0.039;
/// Outliers this far past the threshold do not move it.
const THRESHOLD_OUTLIER: f64 = 15.0;
/// Overuse must last this long (ms of send time) and two frames.
const OVERUSE_TIME_MS: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct DelayDetector {
    /// The previous clean frame: (arrival on our clock, send on the sender's), µs.
    previous: Option<(u64, u64)>,
    first_arrival_us: Option<u64>,
    deltas: f64,
    accumulated_ms: f64,
    smoothed_ms: f64,
    window: VecDeque<(f64, f64)>,
    threshold: f64,
    last_threshold_update_ms: Option<f64>,
    previous_trend: f64,
    overuse_ms: f64,
    overuse_count: u32,
    signal: DelaySignal,
}

impl Default for DelayDetector {
    fn default() -> Self {
        DelayDetector {
            previous: None,
            first_arrival_us: None,
            deltas: 0.0,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            window: VecDeque::with_capacity(WINDOW),
            threshold: THRESHOLD_INITIAL,
            last_threshold_update_ms: None,
            previous_trend: 0.0,
            overuse_ms: 0.0,
            overuse_count: 0,
            signal: DelaySignal::Normal,
        }
    }
}

impl DelayDetector {
    pub fn signal(&self) -> DelaySignal {
        self.signal
    }

    /// The current threshold, for reports and tests.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Forgets the history (after a blackout the old delays mean nothing).
    pub fn reset(&mut self) {
        *self = DelayDetector {
            threshold: self.threshold,
            ..DelayDetector::default()
        };
    }

    /// Feeds a frame that arrived cleanly: when its last shard arrived (our
    /// clock) and when that shard was sent (the sender's clock). Frames out
    /// of order are skipped.
    pub fn handle_frame(&mut self, arrival_us: u64, sent_us: u64) -> DelaySignal {
        let Some((last_arrival, last_sent)) = self.previous else {
            self.previous = Some((arrival_us, sent_us));
            self.first_arrival_us = Some(arrival_us);
            return self.signal;
        };
        if sent_us <= last_sent || arrival_us < last_arrival {
            return self.signal;
        }
        self.previous = Some((arrival_us, sent_us));
        let arrival_gap_ms = (arrival_us - last_arrival) as f64 / 1000.0;
        let send_gap_ms = (sent_us - last_sent) as f64 / 1000.0;
        self.deltas = (self.deltas + 1.0).min(1000.0);
        self.accumulated_ms += arrival_gap_ms - send_gap_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let since_first_ms =
            (arrival_us - self.first_arrival_us.unwrap_or(arrival_us)) as f64 / 1000.0;
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back((since_first_ms, self.smoothed_ms));
        if self.window.len() == WINDOW
            && let Some(slope) = slope(&self.window)
        {
            self.detect(slope, send_gap_ms, since_first_ms);
        }
        self.signal
    }

    fn detect(&mut self, trend: f64, send_gap_ms: f64, now_ms: f64) {
        let modified = self.deltas.min(MAX_DELTAS) * trend * TREND_GAIN;
        if modified > self.threshold {
            self.overuse_ms += send_gap_ms;
            self.overuse_count += 1;
            if self.overuse_ms > OVERUSE_TIME_MS
                && self.overuse_count > 1
                && trend >= self.previous_trend
            {
                self.overuse_ms = 0.0;
                self.overuse_count = 0;
                self.signal = DelaySignal::Overuse;
            }
        } else if modified < -self.threshold {
            self.overuse_ms = 0.0;
            self.overuse_count = 0;
            self.signal = DelaySignal::Underuse;
        } else {
            self.overuse_ms = 0.0;
            self.overuse_count = 0;
            self.signal = DelaySignal::Normal;
        }
        self.previous_trend = trend;
        self.adapt_threshold(modified, now_ms);
    }

    fn adapt_threshold(&mut self, modified: f64, now_ms: f64) {
        let last = *self.last_threshold_update_ms.get_or_insert(now_ms);
        if modified.abs() > self.threshold + THRESHOLD_OUTLIER {
            self.last_threshold_update_ms = Some(now_ms);
            return;
        }
        let k = if modified.abs() < self.threshold {
            THRESHOLD_DOWN_PER_MS
        } else {
            THRESHOLD_UP_PER_MS
        };
        let dt_ms = (now_ms - last).clamp(0.0, 100.0);
        self.threshold = (self.threshold + k * (modified.abs() - self.threshold) * dt_ms)
            .clamp(THRESHOLD_MIN, THRESHOLD_MAX);
        self.last_threshold_update_ms = Some(now_ms);
    }
}

/// Least-squares slope of `(x, y)` points; `None` when x does not vary.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_US: u64 = 16_667;

    #[test]
    fn a_steady_path_is_normal_and_a_growing_queue_is_overuse() {
        let mut detector = DelayDetector::default();
        for i in 0..120 {
            detector.handle_frame(i * FRAME_US + 10_000, i * FRAME_US);
        }
        assert_eq!(detector.signal(), DelaySignal::Normal);
        // Each frame waits 1 ms longer than the one before: a queue.
        let mut signal = DelaySignal::Normal;
        for i in 120..150 {
            signal = detector.handle_frame(i * FRAME_US + 10_000 + (i - 119) * 1_000, i * FRAME_US);
        }
        assert_eq!(signal, DelaySignal::Overuse);
    }

    #[test]
    fn send_time_jitter_is_not_a_queue() {
        // The sender is late by up to 8 ms at random (a busy CPU), but the
        // path adds the same delay to every frame.
        let mut detector = DelayDetector::default();
        let mut state = 7u64;
        for i in 0..600u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let late = (state >> 33) % 8_000;
            let sent = i * FRAME_US + late;
            let signal = detector.handle_frame(sent + 10_000, sent);
            assert_eq!(signal, DelaySignal::Normal, "frame {i}");
        }
    }

    #[test]
    fn arrival_jitter_raises_the_threshold_instead_of_signalling() {
        let mut detector = DelayDetector::default();
        let mut state = 11u64;
        let mut overuse = 0;
        for i in 0..1200u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter = (state >> 33) % 10_000;
            if detector.handle_frame(i * FRAME_US + 15_000 + jitter, i * FRAME_US)
                == DelaySignal::Overuse
            {
                overuse += 1;
            }
        }
        assert!(
            overuse < 60,
            "{overuse} of 1200 frames read ±5 ms jitter as a queue"
        );
    }
}
