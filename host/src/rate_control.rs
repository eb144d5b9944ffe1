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
//!
//! x264 cannot take a picture back, so a sudden change (a scene cut) comes
//! out at the quantizer planned for the calm before it. The control keeps
//! the busiest recent picture in mind (for `PEAK_HOLD_FRAMES`, then
//! fading) and plans no quantizer at which that picture would take more
//! than `MAX_PICTURE_BUDGETS`: the bound a VBV of two pictures gave,
//! learnt from what the stream has shown.

/// The lowest quantizer: below it x264 spends bits on detail no one sees,
/// so an easy picture (a still desktop, a slow scroll) costs less than the
/// bitrate allows, and encodes and decodes faster.
pub const MIN_QP: u8 = 18;
/// H.264's highest quantizer.
pub const MAX_QP: u8 = 51;
/// The first keyframe, before any size is known, is planned as a busy
/// one: this many bits a pixel at `START_MODEL_QP` (the g2g bench's noise
/// texture measured 1.3 at QP 32). An easier first picture comes out
/// small, and the next ones climb to the quality the bitrate allows.
const START_BITS_PER_PIXEL: f64 = 1.3;
const START_MODEL_QP: f64 = 32.0;
/// No picture is planned to take more than this many pictures' budget: a
/// keyframe, nor the busiest recent picture were it to come again (the
/// VBV the host had with x264's own rate control), so none takes much
/// longer than that on the wire.
pub const MAX_PICTURE_BUDGETS: f64 = 2.0;
/// A debt is paid back over this many pictures.
const PAYBACK_FRAMES: f64 = 6.0;
/// However deep the debt, a picture keeps this share of its budget.
const LEAST_BUDGET_SHARE: f64 = 0.25;
/// A keyframe over a predicted picture of the same scene, at one quantizer:
/// the guess before both kinds have been seen.
const KEYFRAME_OVER_PREDICTED: f64 = 6.0;
/// Quality improves by at most this many steps a picture (no see-saw).
const MAX_QP_FALL: u8 = 2;
/// The busiest recent picture is kept in mind this long (5 s at 60 fps),
/// then fades with a half-life of `PEAK_HALF_LIFE_FRAMES` (1 s).
const PEAK_HOLD_FRAMES: u32 = 300;
const PEAK_HALF_LIFE_FRAMES: f64 = 60.0;

#[derive(Debug, Clone)]
pub struct RateControl {
    budget_bits: f64,
    predicted: Option<f64>,
    keyframes: Option<f64>,
    /// The busiest recent predicted picture's complexity, and how many
    /// pictures ago it came.
    peak: f64,
    peak_age: u32,
    debt_bits: f64,
    last_qp: u8,
    /// The first keyframe's complexity, from the picture's size.
    start: f64,
}

/// x264's quantizer scale, less its constant (which cancels out).
fn qscale(qp: f64) -> f64 {
    ((qp - 12.0) / 6.0).exp2()
}

/// The lowest quantizer at which a picture of `complexity` fits `bits`.
fn quantizer(complexity: f64, bits: f64) -> u8 {
    let ideal = 12.0 + 6.0 * (complexity.max(1.0) / bits).log2();
    ideal.ceil().clamp(f64::from(MIN_QP), f64::from(MAX_QP)) as u8
}

impl RateControl {
    pub fn new(bitrate_kbps: u32, fps: u32, pixels: u32) -> Self {
        let mut control = RateControl {
            budget_bits: 0.0,
            predicted: None,
            keyframes: None,
            peak: 0.0,
            peak_age: 0,
            debt_bits: 0.0,
            last_qp: MAX_QP,
            start: f64::from(pixels) * START_BITS_PER_PIXEL * qscale(START_MODEL_QP),
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
        let complexity = complexity.unwrap_or(self.start);
        let budget = if keyframe {
            self.budget_bits * MAX_PICTURE_BUDGETS
        } else {
            (self.budget_bits - self.debt_bits / PAYBACK_FRAMES)
                .max(self.budget_bits * LEAST_BUDGET_SHARE)
        };
        let mut qp = quantizer(complexity, budget);
        if !keyframe {
            let peak_fits = quantizer(self.peak, self.budget_bits * MAX_PICTURE_BUDGETS);
            qp = qp
                .max(peak_fits)
                .max(self.last_qp.saturating_sub(MAX_QP_FALL));
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
        if !keyframe || self.predicted.is_none() {
            // The stream's first predicted pictures climb from its first keyframe.
            self.last_qp = qp;
        }
        if !keyframe {
            self.peak_age += 1;
            if self.peak_age > PEAK_HOLD_FRAMES {
                self.peak *= 0.5f64.powf(1.0 / PEAK_HALF_LIFE_FRAMES);
            }
            // One nearly as busy renews it.
            if complexity >= 0.8 * self.peak {
                (self.peak, self.peak_age) = (complexity.max(self.peak), 0);
            }
        }
    }
}

#[cfg(test)]
mod tests;
