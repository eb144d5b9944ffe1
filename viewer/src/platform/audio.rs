//! The audio thread: Opus decoding with FFmpeg, a running estimate of the
//! tone's frequency (what tests check), and playback through cpal behind an
//! adaptive jitter buffer (`crate::platform::jitter`). With no usable audio device it
//! warns once and the stream goes on.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, anyhow};
use ffmpeg_next::{ChannelLayout, Packet, frame};

use crate::platform::freq::dominant_frequency_hz;
use crate::platform::jitter::JitterBuffer;
use crate::stats::StreamStats;

pub const SAMPLE_RATE_HZ: u32 = 48_000;
/// Playback is interleaved stereo.
const CHANNELS: usize = 2;
/// Frequency is estimated over one second of audio.
const ANALYSIS_SAMPLES: usize = SAMPLE_RATE_HZ as usize;

pub struct OpusDecoder {
    decoder: ffmpeg_next::decoder::Audio,
    decoded: frame::Audio,
}

impl OpusDecoder {
    pub fn new() -> anyhow::Result<Self> {
        let codec = ffmpeg_next::decoder::find(ffmpeg_next::codec::Id::OPUS)
            .ok_or_else(|| anyhow!("FFmpeg has no Opus decoder"))?;
        let context = ffmpeg_next::codec::context::Context::new_with_codec(codec);
        let mut audio = context
            .decoder()
            .audio()
            .context("opening the Opus decoder")?;
        audio.set_channel_layout(ChannelLayout::STEREO);
        Ok(OpusDecoder {
            decoder: audio,
            decoded: frame::Audio::empty(),
        })
    }

    /// Decodes one packet to interleaved stereo f32, appended to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), ffmpeg_next::Error> {
        self.decoder.send_packet(&Packet::copy(packet))?;
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            interleave(&self.decoded, out);
        }
        Ok(())
    }
}

/// Any float layout FFmpeg gives (planar or packed, mono or stereo) → stereo.
fn interleave(decoded: &frame::Audio, out: &mut Vec<f32>) {
    let samples = decoded.samples();
    if decoded.is_packed() {
        let data: &[f32] = decoded.plane(0);
        let channels = usize::from(decoded.channels()).max(1);
        for i in 0..samples {
            let left = data[i * channels];
            let right = data.get(i * channels + 1).copied().unwrap_or(left);
            out.extend_from_slice(&[left, right]);
        }
    } else {
        let left: &[f32] = decoded.plane(0);
        let right: &[f32] = if decoded.planes() > 1 {
            decoded.plane(1)
        } else {
            left
        };
        for i in 0..samples {
            out.extend_from_slice(&[left[i], right[i]]);
        }
    }
}

/// Packet-loss concealment by waveform repetition for the frequency
/// analysis (playback has its own, in the jitter buffer): a lost packet is
/// replaced by the last good one, fading by half on each further loss in a row.
#[derive(Debug, Default)]
pub struct Concealer {
    last: Vec<f32>,
    gain: f32,
}

impl Concealer {
    pub fn remember(&mut self, pcm: &[f32]) {
        self.last.clear();
        self.last.extend_from_slice(pcm);
        self.gain = 1.0;
    }

    pub fn conceal(&mut self, out: &mut Vec<f32>) {
        self.gain *= 0.5;
        let gain = self.gain;
        out.extend(self.last.iter().map(|s| s * gain));
    }
}

/// Decoded audio between the decoder thread and cpal's callback; both read
/// time from `clock` (µs since it was taken).
#[derive(Clone)]
struct Playback {
    jitter: Arc<Mutex<JitterBuffer>>,
    clock: Instant,
}

impl Playback {
    fn new() -> Playback {
        Playback {
            jitter: Arc::new(Mutex::new(JitterBuffer::new(SAMPLE_RATE_HZ, CHANNELS))),
            clock: Instant::now(),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, JitterBuffer> {
        self.jitter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The output device called `wanted` (as the launcher lists it, its id, or
/// part of its name), or the default one.
fn output_device(wanted: Option<&str>) -> anyhow::Result<cpal::Device> {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let Some(wanted) = wanted.filter(|w| *w != "default") else {
        return host
            .default_output_device()
            .ok_or_else(|| anyhow!("no default output device"));
    };
    host.output_devices()?
        .find(|d| {
            d.to_string() == wanted
                || d.id().is_ok_and(|id| id.id() == wanted)
                || d.description()
                    .is_ok_and(|desc| desc.name().contains(wanted))
        })
        .ok_or_else(|| anyhow!("no audio output device called {wanted:?}"))
}

/// Opens the output device; `None` (after one warning) without one.
/// The returned stream must stay alive on this thread while playing.
fn open_playback(playback: Playback, wanted: Option<&str>) -> Option<cpal::Stream> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let attempt = || -> anyhow::Result<cpal::Stream> {
        let device = output_device(wanted)?;
        let config = cpal::StreamConfig {
            channels: 2,
            sample_rate: SAMPLE_RATE_HZ,
            buffer_size: cpal::BufferSize::Default,
        };
        let stream = device.build_output_stream(
            config,
            move |out: &mut [f32], _| {
                let now_us = playback.now_us();
                playback.lock().pull(now_us, out);
            },
            |e| tracing::warn!(error = %e, "audio output error"),
            None,
        )?;
        stream.play()?;
        Ok(stream)
    };
    match attempt() {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no audio output; continuing without sound");
            None
        }
    }
}

/// Where sound goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioOutput {
    Muted,
    /// An output device by name; `None` for the default one.
    Device(Option<String>),
}

pub struct AudioThread {
    pub packets: Receiver<Vec<u8>>,
    pub stats: Arc<StreamStats>,
    pub output: AudioOutput,
}

impl AudioThread {
    pub fn run(self) -> anyhow::Result<()> {
        let mut decoder = OpusDecoder::new()?;
        let playback = Playback::new();
        let _stream = match &self.output {
            AudioOutput::Device(wanted) => open_playback(playback.clone(), wanted.as_deref()),
            AudioOutput::Muted => None,
        };
        let playing = _stream.is_some();
        let mut pcm = Vec::new();
        let mut analysis: Vec<f32> = Vec::with_capacity(ANALYSIS_SAMPLES);
        let mut concealer = Concealer::default();
        for packet in self.packets.iter() {
            pcm.clear();
            if packet.is_empty() {
                // A lost packet: play a faded copy of the last one instead of a click.
                concealer.conceal(&mut pcm);
                StreamStats::add(&self.stats.audio_concealed, 1);
            } else if let Err(e) = decoder.decode(&packet, &mut pcm) {
                if self
                    .stats
                    .audio_decode_errors
                    .fetch_add(1, Ordering::Relaxed)
                    == 0
                {
                    tracing::warn!(error = %e, "audio decode error");
                }
                if playing {
                    // A packet that will not decode leaves a gap like a lost one.
                    let now_us = playback.now_us();
                    playback.lock().push_lost(now_us);
                }
                continue;
            }
            if !packet.is_empty() {
                concealer.remember(&pcm);
            }
            analysis.extend(pcm.chunks_exact(2).map(|pair| pair[0]));
            if analysis.len() >= ANALYSIS_SAMPLES {
                if let Some(hz) = dominant_frequency_hz(&analysis, SAMPLE_RATE_HZ) {
                    self.stats.set_audio_freq_hz(hz);
                }
                analysis.clear();
            }
            if playing {
                let now_us = playback.now_us();
                let mut jitter = playback.lock();
                if packet.is_empty() {
                    jitter.push_lost(now_us);
                } else {
                    jitter.push(now_us, &pcm);
                }
                let buffer = jitter.stats();
                drop(jitter);
                let us = |ms: f64| (ms * 1000.0) as u64;
                let stats = &self.stats;
                stats
                    .audio_delay_us
                    .store(us(buffer.delay_ms), Ordering::Relaxed);
                stats
                    .audio_target_us
                    .store(us(buffer.target_ms), Ordering::Relaxed);
                stats
                    .audio_underruns
                    .store(buffer.underruns, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concealment_repeats_the_last_packet_fading() {
        let mut concealer = Concealer::default();
        concealer.remember(&[0.8, -0.8]);
        let mut out = Vec::new();
        concealer.conceal(&mut out);
        concealer.conceal(&mut out);
        assert_eq!(out, vec![0.4, -0.4, 0.2, -0.2]);
    }
}
