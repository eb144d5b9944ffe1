//! Audio capture with cpal from a chosen input device (on a desktop with
//! PulseAudio, the monitor of the application's output). The cpal stream
//! lives on its own thread (streams are not `Send`); samples reach the
//! pipeline's audio thread through a bounded queue that drops the oldest.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::AudioSource;

/// At most 200 ms of stereo at 48 kHz wait for the encoder.
const MAX_QUEUED_SAMPLES: usize = 48_000 * 2 / 5;

type Queue = Arc<Mutex<VecDeque<f32>>>;

pub struct CpalCapture {
    queue: Queue,
    /// Dropping it ends the stream's thread.
    _stop: mpsc::Sender<()>,
    pub underruns: u64,
}

/// The input devices cpal sees, as `id (name)` (for `--audio` and errors).
pub fn input_devices() -> Vec<String> {
    let Ok(devices) = cpal::default_host().input_devices() else {
        return Vec::new();
    };
    devices
        .map(|d| {
            let id = d.id().map(|id| id.id().to_string()).unwrap_or_default();
            let name = d
                .description()
                .map(|d| d.name().to_string())
                .unwrap_or_default();
            format!("{id} ({name})")
        })
        .collect()
}

/// `wanted` is the device's id (`null`, `pulse`, `hw:0,0`) or part of its name.
fn device_matches(device: &cpal::Device, wanted: &str) -> bool {
    device.id().is_ok_and(|id| id.id() == wanted)
        || device
            .description()
            .is_ok_and(|description| description.name().contains(wanted))
}

impl CpalCapture {
    /// Opens the input device with the id `name`, or whose name contains it
    /// (`default` for the default input), 48 kHz stereo f32.
    pub fn open(name: &str, sample_rate_hz: u32) -> anyhow::Result<CpalCapture> {
        let queue: Queue = Arc::default();
        let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let name = name.to_string();
        let stream_queue = queue.clone();
        std::thread::Builder::new()
            .name("audio-capture".into())
            .spawn(move || {
                match open_stream(&name, sample_rate_hz, stream_queue) {
                    Ok(stream) => {
                        let _ = ready_tx.send(Ok(()));
                        // Keeps the stream alive until the capture is dropped.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        ready_rx
            .recv()
            .context("the audio capture thread ended early")??;
        Ok(CpalCapture {
            queue,
            _stop: stop_tx,
            underruns: 0,
        })
    }
}

fn open_stream(name: &str, sample_rate_hz: u32, queue: Queue) -> anyhow::Result<cpal::Stream> {
    let host = cpal::default_host();
    let device = if name == "default" {
        host.default_input_device()
            .ok_or_else(|| anyhow!("no default audio input device"))?
    } else {
        host.input_devices()?
            .find(|d| device_matches(d, name))
            .ok_or_else(|| {
                anyhow!(
                    "no audio input device named like {name:?}; there are: {}",
                    input_devices().join(", ")
                )
            })?
    };
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: sample_rate_hz,
        buffer_size: cpal::BufferSize::Default,
    };
    let stream = device
        .build_input_stream(
            config,
            move |samples: &[f32], _| {
                let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                queue.extend(samples.iter().copied());
                let excess = queue.len().saturating_sub(MAX_QUEUED_SAMPLES);
                queue.drain(..excess);
            },
            |e| tracing::warn!(error = %e, "audio capture error"),
            None,
        )
        .context("opening the audio input at 48 kHz stereo")?;
    stream.play().context("starting the audio input")?;
    Ok(stream)
}

impl AudioSource for CpalCapture {
    fn read(&mut self, interleaved: &mut [f32]) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let available = queue.len().min(interleaved.len());
        for (out, sample) in interleaved.iter_mut().zip(queue.drain(..available)) {
            *out = sample;
        }
        if available < interleaved.len() {
            // Silence rather than a stall: the stream keeps its pace.
            interleaved[available..].fill(0.0);
            self.underruns += 1;
        }
    }
}
