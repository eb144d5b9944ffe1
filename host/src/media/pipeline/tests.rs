//! The video threads with stand-ins for the source and the encoder: the
//! newest picture wins over a slow encoder, an unchanged picture is
//! refreshed, a keyframe request gets a fresh picture, and dropping the
//! pipeline stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::control::{VideoCodec, VideoParams};
use tokio::sync::mpsc;

use super::*;
use crate::platform::{AudioEncoder, AudioSource, Captured, EncodedVideo, Grab, I420Frame};

/// Writes a picture number into the first luma samples (little-endian).
struct Counter {
    next: u64,
    /// Answers `Unchanged` whenever it may.
    still: bool,
}

impl VideoSource for Counter {
    fn size(&self) -> (u32, u32) {
        (64, 32)
    }

    fn capture(&mut self, _: u64, grab: Grab, frame: &mut I420Frame) -> anyhow::Result<Captured> {
        if self.still && grab == Grab::IfChanged {
            return Ok(Captured::Unchanged);
        }
        self.next += 1;
        frame.planes_mut().y[..8].copy_from_slice(&self.next.to_le_bytes());
        Ok(Captured::New)
    }
}

/// Takes `encode_ms` per picture; the unit is the picture's number.
struct SlowEncoder {
    encode_ms: u64,
    encoded: Arc<AtomicU64>,
}

impl VideoEncoder for SlowEncoder {
    fn encode(
        &mut self,
        frame: &mut I420Frame,
        force_keyframe: bool,
    ) -> anyhow::Result<Option<EncodedVideo>> {
        std::thread::sleep(Duration::from_millis(self.encode_ms));
        self.encoded.fetch_add(1, Ordering::Relaxed);
        Ok(Some(EncodedVideo {
            data: frame.plane(0).0[..8].to_vec(),
            keyframe: force_keyframe,
            encode_us: self.encode_ms * 1000,
        }))
    }

    fn set_bitrate_kbps(&mut self, _: u32) {}
}

struct NoAudio;

impl AudioSource for NoAudio {
    fn read(&mut self, interleaved: &mut [f32]) {
        interleaved.fill(0.0);
    }
}

impl AudioEncoder for NoAudio {
    fn frame_samples(&self) -> usize {
        480
    }

    fn encode(&mut self, _: &[f32]) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

fn start(still: bool, encode_ms: u64) -> (Pipeline, mpsc::Receiver<MediaUnit>, Arc<AtomicU64>) {
    let encoded = Arc::new(AtomicU64::new(0));
    let counted = encoded.clone();
    let parts = PipelineParts {
        video: VideoParams {
            codec: VideoCodec::H264,
            width: 64,
            height: 32,
            fps: 60,
            bitrate_kbps: 1000,
        },
        video_source: Box::new(move || Ok(Box::new(Counter { next: 0, still }))),
        video_encoder: Box::new(move || {
            Ok(Box::new(SlowEncoder {
                encode_ms,
                encoded: counted,
            }))
        }),
        audio_source: Box::new(|| Ok(Box::new(NoAudio))),
        audio_encoder: Box::new(|| Ok(Box::new(NoAudio))),
    };
    let (units_tx, units) = mpsc::channel(MEDIA_QUEUE_UNITS);
    (Pipeline::start(parts, units_tx).unwrap(), units, encoded)
}

fn picture_number(unit: &MediaUnit) -> u64 {
    u64::from_le_bytes(unit.data[..8].try_into().unwrap())
}

#[test]
fn a_slow_encoder_takes_the_newest_picture_and_the_others_are_replaced() {
    // Pictures every 16.7 ms, encodes of 50 ms: about two of three wait
    // too long and are replaced.
    let (pipeline, mut units, _) = start(false, 50);
    let numbers: Vec<u64> = (0..12)
        .map(|_| picture_number(&units.blocking_recv().expect("a unit")))
        .collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "pictures in capture order: {numbers:?}"
    );
    assert!(
        numbers.last() > Some(&(numbers.len() as u64)),
        "pictures were skipped: {numbers:?}"
    );
    assert!(pipeline.replaced() > 0, "the skipped ones were replaced");
    // A unit's times are recorded once it is handed over: by the next one.
    units.blocking_recv().expect("a unit");
    let times = pipeline.take_frame_times();
    assert!(times.len() >= 12);
    for frame in &times {
        assert_eq!(frame.encode_us, 50_000);
        assert!(frame.handed_us >= frame.capture_took_us + frame.encode_us);
    }
}

#[test]
fn an_unchanged_picture_is_refreshed_and_a_keyframe_request_grabs_one() {
    let (pipeline, mut units, encoded) = start(true, 1);
    let first = units.blocking_recv().expect("the first picture");
    assert_eq!(picture_number(&first), 1);
    // Nothing drawn: the next one comes with the refresh, a second later.
    let waited = Instant::now();
    let refresh = units.blocking_recv().expect("a refresh");
    assert!(waited.elapsed() >= Duration::from_millis(800));
    assert_eq!(picture_number(&refresh), 2);
    assert!(!refresh.keyframe);
    // A keyframe request does not wait for the refresh.
    pipeline.force_keyframe();
    let asked = units.blocking_recv().expect("a keyframe");
    assert!(asked.keyframe);
    assert_eq!(picture_number(&asked), 3);
    assert_eq!(encoded.load(Ordering::Relaxed), 3);
}

#[test]
fn dropping_the_pipeline_stops_its_threads() {
    let (pipeline, mut units, encoded) = start(false, 5);
    units.blocking_recv().expect("a unit");
    drop(pipeline);
    let count = encoded.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        encoded.load(Ordering::Relaxed),
        count,
        "nothing encodes after the drop"
    );
}

#[test]
fn a_source_of_the_wrong_size_is_refused() {
    let parts = PipelineParts {
        video: VideoParams {
            codec: VideoCodec::H264,
            width: 640,
            height: 360,
            fps: 60,
            bitrate_kbps: 1000,
        },
        video_source: Box::new(|| {
            Ok(Box::new(Counter {
                next: 0,
                still: false,
            }))
        }),
        video_encoder: Box::new(|| {
            Ok(Box::new(SlowEncoder {
                encode_ms: 1,
                encoded: Arc::default(),
            }))
        }),
        audio_source: Box::new(|| Ok(Box::new(NoAudio))),
        audio_encoder: Box::new(|| Ok(Box::new(NoAudio))),
    };
    let (units_tx, _units) = mpsc::channel(MEDIA_QUEUE_UNITS);
    let error = Pipeline::start(parts, units_tx).err().expect("refused");
    assert_eq!(
        error.to_string(),
        "the video source makes (64, 32) pictures for a 640x360 stream"
    );
}
