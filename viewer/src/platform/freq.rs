//! Dominant frequency of decoded audio (tests check the host's tone arrives).

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// The strongest frequency in `mono` (sampled at `sample_rate_hz`), refined
/// between FFT bins by parabolic interpolation. `None` for silence.
pub fn dominant_frequency_hz(mono: &[f32], sample_rate_hz: u32) -> Option<f64> {
    if mono.len() < 64 {
        return None;
    }
    let n = mono.len();
    let mut buffer: Vec<Complex<f32>> = mono
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            // Hann window to keep leakage from the edges out of the peak.
            let w = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / (n - 1) as f32).cos();
            Complex::new(s * w, 0.0)
        })
        .collect();
    FftPlanner::<f32>::new()
        .plan_fft_forward(n)
        .process(&mut buffer);
    let magnitudes: Vec<f32> = buffer[..n / 2].iter().map(|c| c.norm()).collect();
    let (peak, &peak_mag) = magnitudes
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if peak_mag < 1e-3 {
        return None;
    }
    let offset = if peak + 1 < magnitudes.len() {
        let (a, b, c) = (magnitudes[peak - 1], peak_mag, magnitudes[peak + 1]);
        let denom = a - 2.0 * b + c;
        if denom.abs() > f32::EPSILON {
            0.5 * (a - c) / denom
        } else {
            0.0
        }
    } else {
        0.0
    };
    Some((peak as f64 + f64::from(offset)) * f64::from(sample_rate_hz) / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_sine() {
        let rate = 48_000;
        let tone: Vec<f32> = (0..24_000)
            .map(|i| (std::f64::consts::TAU * 880.0 * f64::from(i) / f64::from(rate)).sin() as f32)
            .collect();
        let found = dominant_frequency_hz(&tone, rate).unwrap();
        assert!((found - 880.0).abs() < 2.0, "{found}");
        assert_eq!(dominant_frequency_hz(&vec![0.0; 4096], rate), None);
    }
}
