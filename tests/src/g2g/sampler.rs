//! Reading latency and shown frames off the screen.
//!
//! Latency: at random times (exponential gaps, ~100 a second, so the
//! samples are blind to every period in the systems) one MIT-SHM GetImage
//! of a strip covering both bands, the game's at x = 0 and the display's at
//! x = area width; latency = game code − display code, both from the same
//! snapshot. A sample is rejected (and counted) when either band fails its
//! check or the difference is implausible.
//!
//! Frames shown: every drawing on the display's band raises a damage event;
//! the band is read right after (never used as a latency sample: those
//! reads are timed by the display, so biased), and the distinct frame
//! counters seen there and in the random samples are the frames shown.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use x11rb::connection::Connection;
use x11rb::protocol::Event;

use super::code::{BAND_HEIGHT_PX, Misread, TimeCode};
use super::x11::ShmGrabber;

/// Mean gap between latency samples.
const MEAN_GAP_MS: f64 = 10.0;
/// A difference beyond this is a misread that passed the check.
const MAX_PLAUSIBLE_MS: i64 = 5_000;

/// Why samples were not used.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Rejections {
    /// The display's band was unreadable (blur, half-drawn, not there).
    pub shown_ambiguous: u64,
    /// The display's band read clearly but failed its check code.
    pub shown_check: u64,
    /// The game's own band was unreadable.
    pub game: u64,
    /// Both read, but the difference was negative or over 5 s.
    pub implausible: u64,
}

impl Rejections {
    pub fn total(&self) -> u64 {
        self.shown_ambiguous + self.shown_check + self.game + self.implausible
    }
}

/// What one sampling window saw.
#[derive(Debug, Default)]
pub struct Sampling {
    pub latencies_ms: Vec<f64>,
    pub rejected: Rejections,
    /// Distinct game frames seen on the display.
    pub frames_shown: usize,
}

/// Samples for `duration`. The display's area starts at x = `area_width`.
pub fn sample(
    display: &str,
    area_width: u16,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Sampling> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let counter = scope.spawn(|| count_frames(display, area_width, &stop));
        let sampled = random_samples(display, area_width, duration, seed);
        stop.store(true, Ordering::Relaxed);
        let counted = counter
            .join()
            .map_err(|_| anyhow::anyhow!("the frame counter panicked"))?;
        let (mut sampling, mut counters) = sampled?;
        counters.extend(counted?);
        sampling.frames_shown = counters.len();
        Ok(sampling)
    })
}

/// The latency samples, and the display's frame counters they saw.
fn random_samples(
    display: &str,
    area_width: u16,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<(Sampling, HashSet<u16>)> {
    let band = BAND_HEIGHT_PX as u16;
    let grabber = ShmGrabber::open(display, usize::from(area_width) * 2 * usize::from(band) * 4)?;
    let stride = usize::from(area_width) * 2 * 4;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sampling = Sampling::default();
    let mut counters = HashSet::new();
    let end = Instant::now() + duration;
    let mut next = Instant::now();
    loop {
        let gap_ms = -MEAN_GAP_MS * (1.0 - rng.random::<f64>()).ln();
        next += Duration::from_secs_f64(gap_ms / 1000.0);
        if next >= end {
            break;
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let pixels = grabber.grab(0, 0, area_width * 2, band)?;
        let game = TimeCode::read(pixels, stride, 0);
        let shown = TimeCode::read(pixels, stride, usize::from(area_width));
        let rejected = &mut sampling.rejected;
        match (game, shown) {
            (_, Err(Misread::Ambiguous)) => rejected.shown_ambiguous += 1,
            (_, Err(Misread::Check)) => rejected.shown_check += 1,
            (Err(_), Ok(shown)) => {
                counters.insert(shown.counter);
                rejected.game += 1;
            }
            (Ok(game), Ok(shown)) => {
                counters.insert(shown.counter);
                let latency_ms = game.ms_after(&shown);
                if (0..=MAX_PLAUSIBLE_MS).contains(&latency_ms) {
                    sampling.latencies_ms.push(latency_ms as f64);
                } else {
                    rejected.implausible += 1;
                }
            }
        }
    }
    Ok((sampling, counters))
}

/// The display's frame counters read right after each drawing on its band.
fn count_frames(display: &str, area_width: u16, stop: &AtomicBool) -> anyhow::Result<HashSet<u16>> {
    let band = BAND_HEIGHT_PX as u16;
    let grabber = ShmGrabber::open(display, usize::from(area_width) * usize::from(band) * 4)?;
    grabber.listen_for_damage()?;
    let on_display_band = |event: &Event| {
        matches!(event, Event::DamageNotify(e)
            if i32::from(e.area.x) + i32::from(e.area.width) > i32::from(area_width)
                && e.area.y < band as i16)
    };
    let mut counters = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let mut drawn = false;
        while let Some(event) = grabber.conn.poll_for_event()? {
            drawn |= on_display_band(&event);
        }
        if !drawn {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let pixels = grabber.grab(area_width as i16, 0, area_width, band)?;
        if let Ok(shown) = TimeCode::read(pixels, usize::from(area_width) * 4, 0) {
            counters.insert(shown.counter);
        }
    }
    Ok(counters)
}

/// Waits until the band at x = `at_x` reads: the game (at 0) or a
/// system's display (beside it) is up.
pub fn wait_for_code(
    display: &str,
    at_x: u16,
    area_width: u16,
    timeout: Duration,
) -> anyhow::Result<()> {
    let band = BAND_HEIGHT_PX as u16;
    let grabber = ShmGrabber::open(display, usize::from(area_width) * usize::from(band) * 4)?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let pixels = grabber.grab(at_x as i16, 0, area_width, band)?;
        if TimeCode::read(pixels, usize::from(area_width) * 4, 0).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("no readable time code at x = {at_x} within {timeout:?}")
}
