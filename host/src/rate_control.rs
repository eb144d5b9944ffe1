//! The quantizer of each H.264 picture, chosen so the stream keeps to its
//! bitrate: sans-IO (sizes in, quantizers out), so tests drive it with the
//! real encoder or any model of one.
//!
//! Why not x264's own bitrate modes: ABR and CRF first analyse a half-size
//! copy of every picture, which on `ultrafast` costs more than the encode
//! (720p on this machine: 3.0 ms a frame with it, 1.9 ms at a constant
//! quantizer; see BENCHMARKS.md). x264 runs at a constant quantizer and is
//! given each picture's (`platform::x264_video`).
//!
//! Model: bits ≈ complexity / qscale, qscale = 2^((qp − 12) / 6), x264's
//! own relation between the two. Complexity is learnt apart for keyframes
//! and predicted pictures from the sizes they came out at. Bits spent over
//! the budget are a debt the next pictures pay back; bits under it are not
//! saved up, so an easy picture never buys a burst later.

/// The lowest quantizer: below it x264 spends bits on detail no one sees,
/// so an easy picture (a still desktop, a slow scroll) costs less than the
/// bitrate allows, and encodes and decodes faster.
pub const MIN_QP: u8 = 18;
/// H.264's highest quantizer.
pub const MAX_QP: u8 = 51;
/// The first picture's quantizer, before any size is known.
pub const START_QP: u8 = 32;
/// A keyframe may take this many pictures' budget (the VBV the host had
/// with x264's own rate control): never much longer than that on the wire.
pub const KEYFRAME_BUDGET_FRAMES: f64 = 2.0;
/// A debt is paid back over this many pictures.
const PAYBACK_FRAMES: f64 = 6.0;
/// However deep the debt, a picture keeps this share of its budget.
const LEAST_BUDGET_SHARE: f64 = 0.25;
/// A keyframe over a predicted picture of the same scene, at one quantizer:
/// the guess before both kinds have been seen.
const KEYFRAME_OVER_PREDICTED: f64 = 6.0;
/// Quality improves by at most this many steps a picture (no see-saw).
const MAX_QP_FALL: u8 = 2;

#[derive(Debug, Clone)]
pub struct RateControl {
    budget_bits: f64,
    predicted: Option<f64>,
    keyframes: Option<f64>,
    debt_bits: f64,
    last_qp: u8,
}

/// x264's quantizer scale, less its constant (which cancels out).
fn qscale(qp: f64) -> f64 {
    ((qp - 12.0) / 6.0).exp2()
}

impl RateControl {
    pub fn new(bitrate_kbps: u32, fps: u32) -> Self {
        let mut control = RateControl {
            budget_bits: 0.0,
            predicted: None,
            keyframes: None,
            debt_bits: 0.0,
            last_qp: START_QP,
        };
        control.set_bitrate(bitrate_kbps, fps);
        control
    }

    /// Takes effect from the next picture; what was learnt stays.
    pub fn set_bitrate(&mut self, bitrate_kbps: u32, fps: u32) {
        self.budget_bits = f64::from(bitrate_kbps.max(1)) * 1000.0 / f64::from(fps.max(1));
    }

    /// One picture's share of the bitrate, in bits.
    pub fn budget_bits(&self) -> f64 {
        self.budget_bits
    }

    /// The quantizer for the next picture.
    pub fn plan(&self, keyframe: bool) -> u8 {
        let complexity = if keyframe {
            self.keyframes
                .or(self.predicted.map(|c| c * KEYFRAME_OVER_PREDICTED))
        } else {
            self.predicted
                .or(self.keyframes.map(|c| c / KEYFRAME_OVER_PREDICTED))
        };
        let Some(complexity) = complexity else {
            return START_QP;
        };
        let budget = if keyframe {
            self.budget_bits * KEYFRAME_BUDGET_FRAMES
        } else {
            (self.budget_bits - self.debt_bits / PAYBACK_FRAMES)
                .max(self.budget_bits * LEAST_BUDGET_SHARE)
        };
        let ideal = 12.0 + 6.0 * (complexity / budget).log2();
        let mut qp = ideal.ceil().clamp(f64::from(MIN_QP), f64::from(MAX_QP)) as u8;
        if !keyframe {
            qp = qp.max(self.last_qp.saturating_sub(MAX_QP_FALL));
        }
        qp
    }

    /// What a picture planned at `qp` came out at.
    pub fn record(&mut self, qp: u8, bits: u64, keyframe: bool) {
        let complexity = (bits.max(1) as f64) * qscale(f64::from(qp));
        let learnt = if keyframe {
            &mut self.keyframes
        } else {
            &mut self.predicted
        };
        *learnt = Some(match *learnt {
            // Keyframes are rare: the last one says most about the next.
            Some(_) if keyframe => complexity,
            Some(known) => 0.5 * known + 0.5 * complexity,
            None => complexity,
        });
        self.debt_bits = (self.debt_bits + bits as f64 - self.budget_bits).max(0.0);
        if !keyframe {
            self.last_qp = qp;
        }
    }
}

#[cfg(test)]
mod tests;
