//! Opus encoding with FFmpeg's libopus: 48 kHz stereo, small frames.

use anyhow::{Context, anyhow};
use ffmpeg_next::format::Sample;
use ffmpeg_next::format::sample::Type as SampleType;
use ffmpeg_next::{ChannelLayout, Dictionary, Packet, Rational, frame};

use super::AudioEncoder;

pub struct OpusEncoder {
    encoder: ffmpeg_next::encoder::Audio,
    frame: frame::Audio,
    packet: Packet,
    frame_samples: usize,
    next_pts: i64,
}

impl OpusEncoder {
    pub fn new(sample_rate_hz: u32, frame_ms: u32) -> anyhow::Result<Self> {
        let codec = ffmpeg_next::encoder::find_by_name("libopus")
            .ok_or_else(|| anyhow!("FFmpeg has no libopus encoder"))?;
        let context = ffmpeg_next::codec::context::Context::new_with_codec(codec);
        let mut audio = context.encoder().audio()?;
        let format = Sample::F32(SampleType::Packed);
        audio.set_rate(sample_rate_hz as i32);
        audio.set_format(format);
        audio.set_channel_layout(ChannelLayout::STEREO);
        audio.set_channels(2);
        audio.set_time_base(Rational(1, sample_rate_hz as i32));
        audio.set_bit_rate(128_000);
        let mut options = Dictionary::new();
        options.set("frame_duration", &frame_ms.to_string());
        options.set("application", "lowdelay");
        let encoder = audio.open_with(options).context("opening libopus")?;
        let frame_samples = encoder.frame_size() as usize;
        anyhow::ensure!(frame_samples > 0, "libopus reported a zero frame size");
        let mut frame = frame::Audio::new(format, frame_samples, ChannelLayout::STEREO);
        frame.set_rate(sample_rate_hz);
        Ok(OpusEncoder {
            encoder,
            frame,
            packet: Packet::empty(),
            frame_samples,
            next_pts: 0,
        })
    }
}

impl AudioEncoder for OpusEncoder {
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    fn encode(&mut self, interleaved: &[f32]) -> anyhow::Result<Vec<Vec<u8>>> {
        anyhow::ensure!(
            interleaved.len() == self.frame_samples * 2,
            "expected {} stereo samples, got {}",
            self.frame_samples,
            interleaved.len() / 2
        );
        for (dst, src) in self
            .frame
            .plane_mut::<(f32, f32)>(0)
            .iter_mut()
            .zip(interleaved.chunks_exact(2))
        {
            *dst = (src[0], src[1]);
        }
        self.frame.set_pts(Some(self.next_pts));
        self.next_pts += self.frame_samples as i64;
        self.encoder.send_frame(&self.frame)?;
        let mut packets = Vec::new();
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            packets.push(self.packet.data().unwrap_or_default().to_vec());
        }
        Ok(packets)
    }
}
