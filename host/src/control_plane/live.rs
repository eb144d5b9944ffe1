//! Streams running right now, by session id, so the API can end one
//! (UpdateSessionState TERMINATED) and its control loop tells the viewer why;
//! and what each stream's viewer last reported, for GetSessionStatus and
//! the console's Now page.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use common::api::{StreamSample, StreamStats};
use common::control::{EndReason, VideoParams};
use tokio::sync::watch;

/// Samples kept per stream: two minutes at one a second.
pub const SAMPLES_KEPT: usize = 120;

#[derive(Debug)]
struct Running {
    ender: watch::Sender<Option<EndReason>>,
    video: Option<VideoParams>,
    samples: VecDeque<StreamSample>,
}

#[derive(Debug, Default)]
pub struct LiveSessions {
    running: Mutex<HashMap<String, Running>>,
}

impl LiveSessions {
    /// Registers a stream; the receiver turns `Some(reason)` when it must end.
    pub fn register(&self, session_id: &str) -> watch::Receiver<Option<EndReason>> {
        let (ender, receiver) = watch::channel(None);
        let running = Running {
            ender,
            video: None,
            samples: VecDeque::new(),
        };
        self.lock().insert(session_id.to_string(), running);
        receiver
    }

    pub fn unregister(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    /// Asks a running stream to end; false when none runs under that id.
    pub fn end(&self, session_id: &str, reason: EndReason) -> bool {
        match self.lock().get(session_id) {
            Some(running) => running.ender.send(Some(reason)).is_ok(),
            None => false,
        }
    }

    /// Ends every running stream (host shutdown).
    pub fn end_all(&self, reason: EndReason) {
        for running in self.lock().values() {
            let _ = running.ender.send(Some(reason));
        }
    }

    /// The ids of the running streams.
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// What the stream sends (codec, size, configured bitrate).
    pub fn set_video(&self, session_id: &str, video: &VideoParams) {
        if let Some(running) = self.lock().get_mut(session_id) {
            running.video = Some(video.clone());
        }
    }

    /// One reading of the stream; the oldest beyond `SAMPLES_KEPT` go.
    pub fn record(&self, session_id: &str, sample: StreamSample) {
        if let Some(running) = self.lock().get_mut(session_id) {
            if running.samples.len() == SAMPLES_KEPT {
                running.samples.pop_front();
            }
            running.samples.push_back(sample);
        }
    }

    /// The stream's parameters and recent readings; None when it is not
    /// streaming (pending, ended, or waiting for its pipeline).
    pub fn stats(&self, session_id: &str) -> Option<StreamStats> {
        let map = self.lock();
        let running = map.get(session_id)?;
        let video = running.video.as_ref()?;
        Some(StreamStats {
            codec: video.codec,
            width: video.width,
            height: video.height,
            fps: video.fps,
            configured_kbps: video.bitrate_kbps,
            samples: running.samples.iter().cloned().collect(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::control::VideoCodec;

    fn sample(at_ms: u64) -> StreamSample {
        StreamSample {
            at_ms,
            received_kbps: 1000.0,
            encoder_kbps: 1200,
            latency_p50_ms: Some(9.0),
            loss: 0.01,
            jitter_ms: 1.5,
        }
    }

    #[test]
    fn a_stream_keeps_its_newest_samples_until_it_ends() {
        let live = LiveSessions::default();
        let _ended = live.register("s-1");
        assert!(live.stats("s-1").is_none(), "no parameters yet");
        let video = VideoParams {
            codec: VideoCodec::H264,
            width: 1280,
            height: 720,
            fps: 60,
            bitrate_kbps: 8000,
        };
        live.set_video("s-1", &video);
        for at in 0..(SAMPLES_KEPT as u64 + 5) {
            live.record("s-1", sample(at));
        }
        live.record("unknown", sample(0));
        let stats = live.stats("s-1").expect("streaming");
        assert_eq!((stats.width, stats.configured_kbps), (1280, 8000));
        assert_eq!(stats.samples.len(), SAMPLES_KEPT);
        assert_eq!(stats.samples[0].at_ms, 5, "the oldest went first");
        live.unregister("s-1");
        assert!(live.stats("s-1").is_none());
    }
}
