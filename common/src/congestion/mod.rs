//! Congestion control split as in Google Congestion Control: the receiver
//! runs a delay-based detector (`DelayDetector`: a trendline over the
//! one-way delay of frames that arrived cleanly, against an adaptive
//! threshold) and reports its signal with the loss and the rate that got
//! through; the sender's `RateController` takes the lower of a delay-based
//! target (AIMD around an estimate of the path's capacity) and a loss-based
//! bound that ignores random loss up to 10 %.

mod detector;
mod rate;

pub use detector::DelayDetector;
pub use rate::{RateController, RateState};

use serde::{Deserialize, Serialize};

/// What the receiver's delay detector makes of the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelaySignal {
    /// No trend: the path keeps up.
    #[default]
    Normal,
    /// Delay is growing: a queue is filling somewhere.
    Overuse,
    /// Delay is falling: a queue is draining.
    Underuse,
}

/// One receiver report, as the sender's controller reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Feedback {
    pub signal: DelaySignal,
    /// Share of media datagrams lost since the last report (duplicates and
    /// late arrivals are not loss).
    pub loss: f64,
    /// What got through recently (media, parity and headers), kbps.
    pub received_kbps: f64,
}
