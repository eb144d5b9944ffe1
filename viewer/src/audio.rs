//! The audio thread: Opus decoding with FFmpeg, a running estimate of the
//! tone's frequency (what tests check), and playback through cpal. With no
//! usable audio device it warns once and the stream goes on.

use std::collections::VecDeque;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use ffmpeg_next::{ChannelLayout, Packet, frame};

use crate::freq::dominant_frequency_hz;
use crate::stats::StreamStats;

pub const SAMPLE_RATE_HZ: u32 = 48_000;
/// Playback queue bound: beyond this the oldest samples go (latency over
/// completeness), ~200 ms of stereo.
const PLAYBACK_QUEUE_SAMPLES: usize = SAMPLE_RATE_HZ as usize * 2 / 5;
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

/// Packet-loss concealment by waveform repetition: a lost packet is replaced
/// by the last good one, fading by half on each further loss in a row.
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

type PlaybackQueue = Arc<Mutex<VecDeque<f32>>>;

/// Opens the default output device; `None` (after one warning) without one.
/// The returned stream must stay alive on this thread while playing.
fn open_playback(queue: PlaybackQueue) -> Option<cpal::Stream> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    let attempt = || -> anyhow::Result<cpal::Stream> {
        let device = cpal::default_host()
            .default_output_device()
            .ok_or_else(|| anyhow!("no default output device"))?;
        let config = cpal::StreamConfig {
            channels: 2,
            sample_rate: SAMPLE_RATE_HZ,
            buffer_size: cpal::BufferSize::Default,
        };
        let stream = device.build_output_stream(
            config,
            move |out: &mut [f32], _| {
                let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                for sample in out.iter_mut() {
                    *sample = queue.pop_front().unwrap_or(0.0);
                }
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

pub struct AudioThread {
    pub packets: Receiver<Vec<u8>>,
    pub stats: Arc<StreamStats>,
    pub play: bool,
}

impl AudioThread {
    pub fn run(self) -> anyhow::Result<()> {
        let mut decoder = OpusDecoder::new()?;
        let queue: PlaybackQueue = Arc::default();
        let _stream = if self.play {
            open_playback(queue.clone())
        } else {
            None
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
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    == 0
                {
                    tracing::warn!(error = %e, "audio decode error");
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
                let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                queue.extend(pcm.iter().copied());
                let excess = queue.len().saturating_sub(PLAYBACK_QUEUE_SAMPLES);
                queue.drain(..excess);
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
