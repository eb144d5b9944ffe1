//! Adaptive audio jitter buffer with loss concealment, between the audio
//! decoder (which pushes decoded PCM) and the sound card's callback (which
//! pulls). The playout delay follows the measured arrival jitter, kept
//! between [`MIN_TARGET_MS`] and [`MAX_TARGET_MS`]: excess is shed (cut at
//! once when large, spliced out gradually when small), and a buffer that runs
//! dry plays a fading repeat of the last packet, then silence, never a click.
//!
//! Clock-free: every call takes `now_us` from one monotonic clock of the
//! caller's choosing, so tests drive it in virtual time.
//!
//! Jitter: each packet's transit is its arrival time minus its media time
//! (the audio pushed before it); the spread of transits over the last second
//! is how early the buffer must hold audio so the latest packet still makes
//! it. The target buffer level (seen by the consumer before it takes its
//! block) is that spread plus one packet or one pull, whichever is longer,
//! plus a safety margin that each underrun raises and time wears down.

use std::collections::VecDeque;

/// The playout delay never aims below this…
pub const MIN_TARGET_MS: f64 = 10.0;
/// …nor above this (latency over completeness).
pub const MAX_TARGET_MS: f64 = 40.0;
/// Transits older than this no longer count towards the jitter.
const JITTER_WINDOW_US: u64 = 1_000_000;
/// Bound on remembered transits, whatever the packet rate.
const JITTER_WINDOW_PACKETS: usize = 512;
/// Hysteresis: the level may exceed the target by this much before shedding.
const SHED_MARGIN_MS: f64 = 2.5;
/// Excess beyond this is cut at once rather than spliced out gradually.
const FLUSH_EXCESS_MS: f64 = 20.0;
/// Gradual shedding skips at most this share of the played audio…
const SHED_RATE: f64 = 0.1;
/// …in splices of at least this much.
const SHED_CHUNK_MS: f64 = 2.5;
/// Shedding credit saved up while nothing needs shedding, at most.
const SHED_CREDIT_MAX_MS: f64 = 10.0;
/// Each underrun adds this much to the target…
const UNDERRUN_SAFETY_STEP_MS: f64 = 2.5;
/// …up to this much…
const UNDERRUN_SAFETY_MAX_MS: f64 = 10.0;
/// …and the addition wears off at this many ms per second played.
const UNDERRUN_SAFETY_DECAY_MS_PER_S: f64 = 1.0;
/// Length of every crossfade (splices, concealment in and out, fade-in).
const CROSSFADE_MS: f64 = 1.0;
/// Concealment halves its loudness every this long…
const CONCEAL_HALF_LIFE_MS: f64 = 10.0;
/// …and falls silent after this long.
const CONCEAL_MAX_MS: f64 = 60.0;
/// Packet length assumed before the first packet arrives.
const DEFAULT_PACKET_MS: f64 = 10.0;
/// A consumer that stopped pulling cannot make the buffer grow past this.
const MAX_BUFFER_MS: f64 = 500.0;

/// A point-in-time view of the buffer. Frames are sample frames: one sample
/// per channel (a 10 ms stereo packet at 48 kHz is 480 frames).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Audio buffered when the consumer last pulled, before it took its block.
    pub delay_ms: f64,
    /// The level the buffer aims for.
    pub target_ms: f64,
    /// Spread of packet transits over the last second.
    pub jitter_ms: f64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Frames made up by concealment (lost packets and underruns).
    pub concealed_frames: u64,
    /// Frames skipped to bring the delay down.
    pub dropped_frames: u64,
    /// Packets reported lost by the network.
    pub lost_packets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Silent until the level reaches the target (at start, and after
    /// concealment faded out).
    Buffering,
    Playing,
}

/// The adaptive jitter buffer; see the module documentation.
#[derive(Debug)]
pub struct JitterBuffer {
    sample_rate_hz: u32,
    channels: usize,
    /// Interleaved samples waiting to be played.
    buffer: VecDeque<f32>,
    state: State,
    /// At least one real packet was pushed.
    has_audio: bool,
    /// The consumer is concealing a dry buffer right now.
    underrunning: bool,
    /// Frames left of the fade-in from silence.
    fade_in_left: usize,
    /// Frames left of the crossfade from concealment to real audio.
    resume_left: usize,
    /// The buffer's tail is concealment for a lost packet.
    lost_tail: bool,
    concealer: Concealer,
    /// The frame most recently handed to the consumer.
    last_out: Vec<f32>,
    /// One frame of room, so the sound card's callback never allocates.
    scratch: Vec<f32>,
    /// (arrival µs, transit µs) of recent packets.
    transits: VecDeque<(u64, i64)>,
    /// Media time of the next packet, in frames since the first.
    media_frames: u64,
    packet_frames: usize,
    pull_frames: usize,
    /// Added to the target after underruns.
    safety_frames: f64,
    target_frames: usize,
    shed_credit_frames: f64,
    delay_frames: usize,
    jitter_us: u64,
    underruns: u64,
    concealed_frames: u64,
    dropped_frames: u64,
    lost_packets: u64,
}

impl JitterBuffer {
    /// A buffer for interleaved f32 PCM; `channels` is at least 1.
    pub fn new(sample_rate_hz: u32, channels: usize) -> JitterBuffer {
        let sample_rate_hz = sample_rate_hz.max(1);
        let channels = channels.max(1);
        let frames = |ms: f64| ms_to_frames(sample_rate_hz, ms);
        let mut buffer = JitterBuffer {
            sample_rate_hz,
            channels,
            buffer: VecDeque::new(),
            state: State::Buffering,
            has_audio: false,
            underrunning: false,
            fade_in_left: 0,
            resume_left: 0,
            lost_tail: false,
            concealer: Concealer::new(
                channels,
                frames(CROSSFADE_MS),
                frames(CONCEAL_HALF_LIFE_MS),
                frames(CONCEAL_MAX_MS),
            ),
            last_out: vec![0.0; channels],
            scratch: vec![0.0; channels],
            transits: VecDeque::new(),
            media_frames: 0,
            packet_frames: frames(DEFAULT_PACKET_MS),
            pull_frames: 0,
            safety_frames: 0.0,
            target_frames: 0,
            shed_credit_frames: 0.0,
            delay_frames: 0,
            jitter_us: 0,
            underruns: 0,
            concealed_frames: 0,
            dropped_frames: 0,
            lost_packets: 0,
        };
        buffer.update_target();
        buffer
    }

    /// One decoded packet arrived at `now_us`. A trailing partial frame is
    /// ignored; an empty packet changes nothing.
    pub fn push(&mut self, now_us: u64, pcm: &[f32]) {
        let frames = pcm.len() / self.channels;
        if frames == 0 {
            return;
        }
        let pcm = &pcm[..frames * self.channels];
        let media_us = self.media_frames.saturating_mul(1_000_000) / u64::from(self.sample_rate_hz);
        let transit_us = now_us as i64 - media_us as i64;
        self.transits.push_back((now_us, transit_us));
        if self.transits.len() > JITTER_WINDOW_PACKETS {
            self.transits.pop_front();
        }
        self.prune_transits(now_us);
        self.media_frames += frames as u64;
        self.packet_frames = frames;

        if self.lost_tail {
            // Crossfade out of the concealment standing in for a lost packet.
            let fade = self.concealer.crossfade_frames.min(frames);
            let mut concealed = vec![0.0; self.channels];
            for (i, frame) in pcm.chunks_exact(self.channels).enumerate() {
                if i < fade {
                    self.concealer.next_frame(&mut concealed);
                    let w = ramp(i, fade);
                    self.buffer.extend(
                        frame
                            .iter()
                            .zip(&concealed)
                            .map(|(s, c)| c * (1.0 - w) + s * w),
                    );
                } else {
                    self.buffer.extend(frame);
                }
            }
            self.lost_tail = false;
        } else {
            self.buffer.extend(pcm);
        }
        self.concealer.remember(pcm);
        self.has_audio = true;
        self.bound_memory();
        self.update_target();
    }

    /// The network reported one packet lost at `now_us`: concealment takes
    /// its place in the buffer (unless the consumer is already concealing the
    /// gap it left).
    pub fn push_lost(&mut self, now_us: u64) {
        self.lost_packets += 1;
        self.media_frames += self.packet_frames as u64;
        self.prune_transits(now_us);
        let silent = self.state == State::Buffering && self.buffer.is_empty();
        if !self.has_audio || self.underrunning || silent {
            return;
        }
        if !self.lost_tail {
            let previous = self.last_buffered_frame();
            self.concealer.start(&previous);
        }
        let mut frame = vec![0.0; self.channels];
        for _ in 0..self.packet_frames {
            if self.concealer.next_frame(&mut frame) {
                self.concealed_frames += 1;
            }
            self.buffer.extend(&frame);
        }
        self.lost_tail = true;
        self.bound_memory();
    }

    /// Fills `out` (interleaved) for the sound card at `now_us`: buffered
    /// audio, else concealment, else silence. A trailing partial frame is
    /// zeroed.
    pub fn pull(&mut self, now_us: u64, out: &mut [f32]) {
        let channels = self.channels;
        let frames = out.len() / channels;
        out[frames * channels..].fill(0.0);
        if frames == 0 {
            return;
        }
        self.pull_frames = frames;
        let decay = UNDERRUN_SAFETY_DECAY_MS_PER_S / 1000.0;
        self.safety_frames = (self.safety_frames - frames as f64 * decay).max(0.0);
        self.prune_transits(now_us);
        self.update_target();
        self.delay_frames = self.level_frames();

        if self.state == State::Buffering {
            if self.has_audio && self.delay_frames >= self.target_frames.max(1) {
                self.state = State::Playing;
                self.underrunning = false;
                self.resume_left = 0;
                self.fade_in_left = self.concealer.crossfade_frames;
            } else {
                out.fill(0.0);
                self.last_out.fill(0.0);
                return;
            }
        }
        self.shed(frames);

        let mut concealed = std::mem::take(&mut self.scratch);
        for frame in out[..frames * channels].chunks_exact_mut(channels) {
            if self.buffer.len() >= channels {
                for sample in frame.iter_mut() {
                    *sample = self.buffer.pop_front().unwrap_or(0.0);
                }
                if self.underrunning {
                    self.underrunning = false;
                    self.resume_left = self.concealer.crossfade_frames;
                }
                if self.resume_left > 0 {
                    let fade = self.concealer.crossfade_frames;
                    let w = ramp(fade - self.resume_left, fade);
                    self.concealer.next_frame(&mut concealed);
                    for (s, c) in frame.iter_mut().zip(&concealed) {
                        *s = c * (1.0 - w) + *s * w;
                    }
                    self.resume_left -= 1;
                }
                if self.fade_in_left > 0 {
                    let fade = self.concealer.crossfade_frames;
                    let w = ramp(fade - self.fade_in_left, fade);
                    frame.iter_mut().for_each(|s| *s *= w);
                    self.fade_in_left -= 1;
                }
            } else if self.state == State::Playing {
                if !self.underrunning {
                    self.underrunning = true;
                    self.underruns += 1;
                    self.safety_frames = (self.safety_frames
                        + self.ms_frames(UNDERRUN_SAFETY_STEP_MS) as f64)
                        .min(self.ms_frames(UNDERRUN_SAFETY_MAX_MS) as f64);
                    self.resume_left = 0;
                    self.fade_in_left = 0;
                    if !self.lost_tail {
                        self.concealer.start(&self.last_out);
                    }
                    self.lost_tail = false;
                }
                if self.concealer.next_frame(frame) {
                    self.concealed_frames += 1;
                } else {
                    // Faded out: wait for a full buffer again, in silence.
                    self.state = State::Buffering;
                    self.underrunning = false;
                }
            } else {
                frame.fill(0.0);
            }
            self.last_out.copy_from_slice(frame);
        }
        self.scratch = concealed;
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats {
            delay_ms: self.frames_to_ms(self.delay_frames),
            target_ms: self.frames_to_ms(self.target_frames),
            jitter_ms: self.jitter_us as f64 / 1000.0,
            underruns: self.underruns,
            concealed_frames: self.concealed_frames,
            dropped_frames: self.dropped_frames,
            lost_packets: self.lost_packets,
        }
    }

    fn level_frames(&self) -> usize {
        self.buffer.len() / self.channels
    }

    fn frames_to_ms(&self, frames: usize) -> f64 {
        frames as f64 * 1000.0 / f64::from(self.sample_rate_hz)
    }

    fn ms_frames(&self, ms: f64) -> usize {
        ms_to_frames(self.sample_rate_hz, ms)
    }

    fn last_buffered_frame(&self) -> Vec<f32> {
        let len = self.buffer.len();
        if len >= self.channels {
            self.buffer.range(len - self.channels..).copied().collect()
        } else {
            self.last_out.clone()
        }
    }

    fn prune_transits(&mut self, now_us: u64) {
        while let Some(&(at_us, _)) = self.transits.front() {
            if now_us.saturating_sub(at_us) <= JITTER_WINDOW_US {
                break;
            }
            self.transits.pop_front();
        }
    }

    fn update_target(&mut self) {
        let (low, high) = self
            .transits
            .iter()
            .fold((i64::MAX, i64::MIN), |(low, high), &(_, t)| {
                (low.min(t), high.max(t))
            });
        self.jitter_us = if self.transits.len() >= 2 {
            high.saturating_sub(low).max(0) as u64
        } else {
            0
        };
        let spread_frames = (self.jitter_us as f64 * f64::from(self.sample_rate_hz) / 1e6) as usize;
        let wanted =
            spread_frames + self.packet_frames.max(self.pull_frames) + self.safety_frames as usize;
        self.target_frames =
            wanted.clamp(self.ms_frames(MIN_TARGET_MS), self.ms_frames(MAX_TARGET_MS));
    }

    /// Brings the level down towards the target: large excess at once,
    /// small excess in short splices at a bounded rate.
    fn shed(&mut self, pull_frames: usize) {
        let credit_max = self.ms_frames(SHED_CREDIT_MAX_MS) as f64;
        self.shed_credit_frames =
            (self.shed_credit_frames + pull_frames as f64 * SHED_RATE).min(credit_max);
        let excess = self.level_frames().saturating_sub(self.target_frames);
        if excess <= self.ms_frames(SHED_MARGIN_MS) {
            return;
        }
        let drop = if excess > self.ms_frames(FLUSH_EXCESS_MS) {
            excess
        } else if self.shed_credit_frames >= self.ms_frames(SHED_CHUNK_MS) as f64 {
            let drop = excess.min(self.shed_credit_frames as usize);
            self.shed_credit_frames -= drop as f64;
            drop
        } else {
            return;
        };
        self.splice_out(drop);
    }

    /// Removes `drop` frames from the front, crossfading what would have
    /// played into what follows the cut.
    fn splice_out(&mut self, drop: usize) {
        let channels = self.channels;
        let fade = self.concealer.crossfade_frames;
        let level = self.level_frames();
        if drop == 0 || drop + fade > level {
            return;
        }
        for i in 0..fade {
            let w = ramp(i, fade);
            for c in 0..channels {
                let before = self.buffer[i * channels + c];
                let after = &mut self.buffer[(drop + i) * channels + c];
                *after = before * (1.0 - w) + *after * w;
            }
        }
        self.buffer.drain(..drop * channels);
        self.dropped_frames += drop as u64;
    }

    fn bound_memory(&mut self) {
        let max_samples = self.ms_frames(MAX_BUFFER_MS) * self.channels;
        let excess = self.buffer.len().saturating_sub(max_samples);
        if excess > 0 {
            self.buffer.drain(..excess);
            self.dropped_frames += (excess / self.channels) as u64;
        }
    }
}

fn ms_to_frames(sample_rate_hz: u32, ms: f64) -> usize {
    (ms * f64::from(sample_rate_hz) / 1000.0).round() as usize
}

/// Crossfade weight of step `i` of `len`, rising from near 0 to near 1.
fn ramp(i: usize, len: usize) -> f32 {
    (i + 1) as f32 / (len + 1) as f32
}

/// Waveform repetition: loops the last good packet (its tail crossfaded
/// into its head, so the loop has no seam), fading out, entered from the
/// previous frame through a short blend.
#[derive(Debug)]
struct Concealer {
    channels: usize,
    crossfade_frames: usize,
    /// The loop, interleaved; replaced by `fresh` only when concealment
    /// starts, so one in progress never changes waveform.
    body: Vec<f32>,
    fresh: Vec<f32>,
    fresh_ready: bool,
    position_frames: usize,
    gain: f32,
    decay_per_frame: f32,
    produced_frames: usize,
    max_frames: usize,
    /// The frame concealment starts from, blended away over the crossfade.
    from: Vec<f32>,
    from_left: usize,
}

impl Concealer {
    fn new(
        channels: usize,
        crossfade_frames: usize,
        half_life_frames: usize,
        max_frames: usize,
    ) -> Concealer {
        Concealer {
            channels,
            crossfade_frames: crossfade_frames.max(1),
            body: Vec::new(),
            fresh: Vec::new(),
            fresh_ready: false,
            position_frames: 0,
            gain: 0.0,
            decay_per_frame: 0.5f32.powf(1.0 / half_life_frames.max(1) as f32),
            produced_frames: 0,
            max_frames,
            from: vec![0.0; channels],
            from_left: 0,
        }
    }

    /// Takes `pcm` (whole frames) as the waveform to repeat.
    fn remember(&mut self, pcm: &[f32]) {
        let channels = self.channels;
        let frames = pcm.len() / channels;
        let fade = self.crossfade_frames;
        self.fresh.clear();
        self.fresh_ready = true;
        if frames <= 2 * fade {
            self.fresh.extend_from_slice(&pcm[..frames * channels]);
            return;
        }
        // fresh[i] = pcm[fade + i]; its last `fade` frames blend into
        // pcm[..fade], which leads into fresh[0] without a seam.
        let loop_frames = frames - fade;
        self.fresh
            .extend_from_slice(&pcm[fade * channels..frames * channels]);
        for j in 0..fade {
            let w = ramp(j, fade);
            for c in 0..channels {
                let at = (loop_frames - fade + j) * channels + c;
                self.fresh[at] = self.fresh[at] * (1.0 - w) + pcm[j * channels + c] * w;
            }
        }
    }

    /// Begins concealing after the frame `previous`.
    fn start(&mut self, previous: &[f32]) {
        if self.fresh_ready {
            std::mem::swap(&mut self.body, &mut self.fresh);
            self.fresh_ready = false;
        }
        self.from.clear();
        self.from.extend_from_slice(previous);
        self.from.resize(self.channels, 0.0);
        self.from_left = self.crossfade_frames;
        self.position_frames = 0;
        self.produced_frames = 0;
        self.gain = 1.0;
    }

    /// Writes the next frame; false (and silence) once faded out.
    fn next_frame(&mut self, out: &mut [f32]) -> bool {
        let channels = self.channels;
        let body_frames = self.body.len() / channels;
        if body_frames == 0 || self.produced_frames >= self.max_frames {
            out.fill(0.0);
            return false;
        }
        let at = self.position_frames * channels;
        let blend = if self.from_left > 0 {
            let w = ramp(
                self.crossfade_frames - self.from_left,
                self.crossfade_frames,
            );
            self.from_left -= 1;
            Some(w)
        } else {
            None
        };
        for (c, sample) in out.iter_mut().enumerate().take(channels) {
            let looped = self.body[at + c] * self.gain;
            *sample = match blend {
                Some(w) => self.from[c] * (1.0 - w) + looped * w,
                None => looped,
            };
        }
        self.position_frames = (self.position_frames + 1) % body_frames;
        self.gain *= self.decay_per_frame;
        self.produced_frames += 1;
        true
    }
}

#[cfg(test)]
mod tests;
