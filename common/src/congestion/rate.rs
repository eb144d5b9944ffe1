//! The sender's rate controller: AIMD around an estimate of the path's
//! capacity (GCC's AimdRateControl), bounded by loss above 10 %.
//!
//! Overuse cuts the target to 85 % of what got through and remembers that
//! rate as the capacity estimate; within three deviations of the estimate
//! the target grows additively (a queue builds slowly, so the detector sees
//! it before the bottleneck drops anything); below that band, once more
//! than the estimate got through (a cap lifted), or without an estimate,
//! it grows multiplicatively.

use super::{DelaySignal, Feedback};

/// Cut to this share of what got through, so the queue drains.
const DECREASE_FACTOR: f64 = 0.85;
/// Far from the last congestion point: +50 % a second...
const FAR_GROWTH_PER_S: f64 = 0.5;
/// ...near it, additively: this share of the estimate a second, at least
/// `NEAR_GROWTH_MIN_KBPS_PER_S`.
const NEAR_GROWTH_SHARE_PER_S: f64 = 0.08;
const NEAR_GROWTH_MIN_KBPS_PER_S: f64 = 80.0;
/// At most one cut per this long (a report arrives every 100 ms, and a cut
/// takes a round trip to show).
const DECREASE_INTERVAL_US: u64 = 200_000;
/// Random loss below this does not lower the target: FEC and NACK are its
/// answer. Above it, loss is taken as congestion.
const LOSS_BOUND: f64 = 0.10;
/// The bound reads loss averaged over about a second of reports: a burst
/// that takes a tenth of one report is noise too.
const LOSS_SMOOTHING: f64 = 0.1;
/// The capacity estimate's spread (normalised variance, GCC's bounds).
const VARIANCE_MIN: f64 = 0.4;
const VARIANCE_MAX: f64 = 2.5;
const ESTIMATE_SMOOTHING: f64 = 0.95;
/// Longest step of growth one report may take (a report late by seconds
/// must not multiply the target).
const MAX_STEP_S: f64 = 0.5;
/// Growth stops at this multiple of what got through (encoders fill
/// their target only roughly: a simple picture at the host's quality
/// floor makes far less than it).
const APPLICATION_LIMIT: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateState {
    Increase,
    /// After a cut or while a queue drains (underuse): neither up nor down.
    Hold,
}

/// The path's capacity as seen at overuse moments.
#[derive(Debug, Clone, Copy)]
struct Capacity {
    mean_kbps: f64,
    variance: f64,
}

impl Capacity {
    fn deviation_kbps(&self) -> f64 {
        (self.variance * self.mean_kbps).sqrt()
    }

    fn upper_kbps(&self) -> f64 {
        self.mean_kbps + 3.0 * self.deviation_kbps()
    }

    fn update(&mut self, sample_kbps: f64) {
        let error = self.mean_kbps - sample_kbps;
        self.mean_kbps =
            ESTIMATE_SMOOTHING * self.mean_kbps + (1.0 - ESTIMATE_SMOOTHING) * sample_kbps;
        let norm = self.mean_kbps.max(1.0);
        self.variance = (ESTIMATE_SMOOTHING * self.variance
            + (1.0 - ESTIMATE_SMOOTHING) * error * error / norm)
            .clamp(VARIANCE_MIN, VARIANCE_MAX);
    }
}

/// The target rate on the wire (media, parity and headers); the encoder
/// gets what is left after FEC and framing.
#[derive(Debug, Clone)]
pub struct RateController {
    pub min_kbps: u32,
    pub max_kbps: u32,
    target_kbps: f64,
    state: RateState,
    capacity: Option<Capacity>,
    last_feedback_us: Option<u64>,
    last_decrease_us: Option<u64>,
    loss_average: f64,
}

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
            capacity: None,
            last_feedback_us: None,
            last_decrease_us: None,
            loss_average: 0.0,
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps as u32
    }

    pub fn state(&self) -> RateState {
        self.state
    }

    /// The capacity estimate, once an overuse gave one.
    pub fn capacity_kbps(&self) -> Option<u32> {
        self.capacity.map(|c| c.mean_kbps as u32)
    }

    /// Feeds one receiver report, received at `now_us`.
    pub fn handle_feedback(&mut self, now_us: u64, feedback: &Feedback) {
        let step_s = self
            .last_feedback_us
            .map_or(0.0, |last| now_us.saturating_sub(last) as f64 / 1e6)
            .min(MAX_STEP_S);
        self.last_feedback_us = Some(now_us);
        let received = feedback.received_kbps;
        if let Some(capacity) = self.capacity
            && (received > capacity.upper_kbps()
                || self.target_kbps > capacity.upper_kbps() + 3.0 * capacity.deviation_kbps())
        {
            // More got through than the path carried at its last overuse, or
            // the target went well past it without a queue (an encoder that
            // does not fill its target): the path is not what it was.
            self.capacity = None;
        }
        let loss = feedback.loss.clamp(0.0, 1.0);
        self.loss_average += LOSS_SMOOTHING * (loss - self.loss_average);
        match feedback.signal {
            DelaySignal::Overuse => self.decrease(now_us, received),
            _ if self.loss_average > LOSS_BOUND => self.loss_decrease(now_us, self.loss_average),
            DelaySignal::Underuse => self.state = RateState::Hold,
            DelaySignal::Normal => match self.state {
                RateState::Hold => self.state = RateState::Increase,
                RateState::Increase => self.grow(step_s, received),
            },
        }
        self.target_kbps = self
            .target_kbps
            .clamp(f64::from(self.min_kbps), f64::from(self.max_kbps));
    }

    fn decrease(&mut self, now_us: u64, received_kbps: f64) {
        self.state = RateState::Hold;
        if self
            .last_decrease_us
            .is_some_and(|at| now_us < at + DECREASE_INTERVAL_US)
        {
            return;
        }
        self.last_decrease_us = Some(now_us);
        if received_kbps <= 0.0 {
            self.target_kbps *= DECREASE_FACTOR;
            return;
        }
        match &mut self.capacity {
            Some(capacity) => capacity.update(received_kbps),
            None => {
                self.capacity = Some(Capacity {
                    mean_kbps: received_kbps,
                    variance: VARIANCE_MIN,
                })
            }
        }
        self.target_kbps = self.target_kbps.min(DECREASE_FACTOR * received_kbps);
    }

    /// Loss above the bound without a queue: GCC's `1 - loss/2`, once per
    /// decrease interval (the loss of one window shows in the next too).
    fn loss_decrease(&mut self, now_us: u64, loss: f64) {
        if self
            .last_decrease_us
            .is_some_and(|at| now_us < at + DECREASE_INTERVAL_US)
        {
            return;
        }
        self.last_decrease_us = Some(now_us);
        self.target_kbps *= 1.0 - 0.5 * loss.min(1.0);
    }

    fn grow(&mut self, step_s: f64, received_kbps: f64) {
        let before = self.target_kbps;
        match self.capacity {
            // Within three deviations of the last congestion point: carefully.
            Some(capacity)
                if self.target_kbps >= capacity.mean_kbps - 3.0 * capacity.deviation_kbps() =>
            {
                let per_s =
                    (NEAR_GROWTH_SHARE_PER_S * capacity.mean_kbps).max(NEAR_GROWTH_MIN_KBPS_PER_S);
                self.target_kbps += per_s * step_s;
            }
            _ => self.target_kbps *= (1.0 + FAR_GROWTH_PER_S).powf(step_s),
        }
        // Growth is for what is sent: an encoder below its target (a still
        // picture) must not leave a target far above anything tested.
        if received_kbps > 0.0 {
            let ceiling = (APPLICATION_LIMIT * received_kbps).max(before);
            self.target_kbps = self.target_kbps.min(ceiling);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(signal: DelaySignal, loss: f64, received_kbps: f64) -> Feedback {
        Feedback {
            signal,
            loss,
            received_kbps,
        }
    }

    #[test]
    fn overuse_cuts_below_the_received_rate_then_climbs_back_carefully() {
        let mut control = RateController::new(10_000, 500, 50_000);
        control.handle_feedback(0, &report(DelaySignal::Overuse, 0.0, 5_000.0));
        assert_eq!(control.target_kbps(), 4_250);
        assert_eq!(control.state(), RateState::Hold);
        control.handle_feedback(100_000, &report(DelaySignal::Normal, 0.0, 4_250.0));
        assert_eq!(
            control.target_kbps(),
            4_250,
            "the first calm report ends the hold"
        );
        let mut now = 100_000;
        let mut at = |control: &mut RateController, until: u64| {
            while now < until {
                now += 100_000;
                control.handle_feedback(now, &report(DelaySignal::Normal, 0.0, 4_900.0));
            }
            control.target_kbps()
        };
        // Quickly back to the estimate's band (5,000 − 3 × 45 kbps)...
        let back = at(&mut control, 600_000);
        assert!((4_800..5_100).contains(&back), "{back}");
        // ...then about 8 % of the estimate a second (400 kbps/s) through
        // its band.
        let later = at(&mut control, 800_000);
        assert!((back + 40..back + 150).contains(&later), "{back} → {later}");
    }

    #[test]
    fn random_loss_up_to_ten_percent_does_not_lower_the_target() {
        let mut control = RateController::new(10_000, 500, 10_000);
        for i in 0..50 {
            control.handle_feedback(i * 100_000, &report(DelaySignal::Normal, 0.10, 10_000.0));
        }
        assert_eq!(control.target_kbps(), 10_000);
        // A burst in one report is not sustained loss...
        for i in 0..20 {
            control.handle_feedback(
                5_000_000 + i * 100_000,
                &report(DelaySignal::Normal, 0.05, 10_000.0),
            );
        }
        control.handle_feedback(7_000_000, &report(DelaySignal::Normal, 0.40, 10_000.0));
        assert_eq!(control.target_kbps(), 10_000);
        // ...30 % for a second is.
        for i in 1..=10 {
            control.handle_feedback(
                7_000_000 + i * 100_000,
                &report(DelaySignal::Normal, 0.30, 10_000.0),
            );
        }
        assert!(control.target_kbps() < 9_000, "{}", control.target_kbps());
    }

    #[test]
    fn a_lifted_cap_is_found_again_multiplicatively() {
        let mut control = RateController::new(10_000, 500, 12_500);
        control.handle_feedback(0, &report(DelaySignal::Overuse, 0.0, 3_000.0));
        let mut now = 0;
        // What got through follows the target once the cap is gone; 90 % of
        // the encoder's 10,000 kbps is about this much on the wire.
        while control.target_kbps() < 10_300 {
            now += 100_000;
            let through = f64::from(control.target_kbps());
            control.handle_feedback(now, &report(DelaySignal::Normal, 0.0, through));
            assert!(now < 10_000_000);
        }
        assert!(now <= 5_000_000, "back near the maximum after {now} µs");
    }

    #[test]
    fn a_late_report_does_not_multiply_the_target() {
        let mut control = RateController::new(1_000, 500, 100_000);
        control.handle_feedback(0, &report(DelaySignal::Normal, 0.0, 1_000.0));
        control.handle_feedback(60_000_000, &report(DelaySignal::Normal, 0.0, 1_000.0));
        assert!(control.target_kbps() < 1_300);
    }
}
