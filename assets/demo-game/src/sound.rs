//! A short beep on key presses, through cpal; without an output device the
//! game says so once and stays silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const SAMPLE_RATE_HZ: u32 = 48_000;
const BEEP_HZ: f32 = 660.0;
const BEEP_SAMPLES: u32 = SAMPLE_RATE_HZ / 10;

pub struct Beeper {
    /// Samples of beep still to play; the audio callback counts it down.
    remaining: Arc<AtomicU32>,
    _stream: Option<cpal::Stream>,
}

impl Beeper {
    pub fn open() -> Beeper {
        let remaining = Arc::new(AtomicU32::new(0));
        let stream = match open_stream(remaining.clone()) {
            Ok(stream) => Some(stream),
            Err(e) => {
                eprintln!("demo-game: no audio output ({e:#}); playing silently");
                None
            }
        };
        Beeper {
            remaining,
            _stream: stream,
        }
    }

    pub fn beep(&self) {
        self.remaining.store(BEEP_SAMPLES, Ordering::Relaxed);
    }
}

fn open_stream(remaining: Arc<AtomicU32>) -> anyhow::Result<cpal::Stream> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    let device = cpal::default_host()
        .default_output_device()
        .ok_or_else(|| anyhow::anyhow!("no default output device"))?;
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: SAMPLE_RATE_HZ,
        buffer_size: cpal::BufferSize::Default,
    };
    let mut phase = 0f32;
    let stream = device.build_output_stream(
        config,
        move |out: &mut [f32], _| {
            for frame in out.chunks_exact_mut(2) {
                let left = remaining.load(Ordering::Relaxed);
                let sample = if left > 0 {
                    remaining.store(left - 1, Ordering::Relaxed);
                    phase = (phase + BEEP_HZ / SAMPLE_RATE_HZ as f32).fract();
                    (phase * std::f32::consts::TAU).sin() * 0.3
                } else {
                    0.0
                };
                frame.fill(sample);
            }
        },
        |e| eprintln!("demo-game: audio output error: {e}"),
        None,
    )?;
    stream.play()?;
    Ok(stream)
}
