//! The media sender thread: packetize (with FEC parity) → seal → UDP or the
//! control WebSocket. It owns the sequence counter and keeps recent video
//! frames' shards so NACKed ones can be sent again while still useful.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::StreamKind;
use common::control::SenderReport;
use common::datagram::Header;
use common::packetizer::{DEFAULT_MAX_PAYLOAD, Packetizer};
use common::seal::Sealer;

use crate::clock::unix_now_us;

/// The pacer sends at this multiple of the encoder's bitrate...
const PACING_FACTOR: u64 = 5;
/// ...and never slower than this.
const MIN_PACING_KBPS: u64 = 20_000;
/// A burst this large (or two average frames) goes out unpaced.
const MIN_BURST_BYTES: u64 = 32_000;
/// Video frames kept for retransmission.
const HISTORY_FRAMES: usize = 32;
/// A frame older than this is past showing: NACKs for it are ignored.
const RETRANSMIT_DEADLINE_US: u64 = 100_000;

#[derive(Debug, Default)]
pub struct SenderCounters {
    pub frames_sent: AtomicU64,
    pub frames_dropped: AtomicU64,
    /// Captures skipped because nothing was drawn (XDamage).
    pub frames_unchanged: AtomicU64,
    pub audio_packets_sent: AtomicU64,
    pub audio_packets_dropped: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub shards_retransmitted: AtomicU64,
    pub encoder_kbps: AtomicU64,
}

impl SenderCounters {
    pub fn report(&self) -> SenderReport {
        SenderReport {
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            audio_packets_sent: self.audio_packets_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            encoder_kbps: self.encoder_kbps.load(Ordering::Relaxed),
            shards_retransmitted: self.shards_retransmitted.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct MediaUnit {
    pub stream: StreamKind,
    pub data: Vec<u8>,
    pub capture_us: u64,
    pub keyframe: bool,
}

/// Where sealed datagrams go: UDP to the viewer, or binary messages on the
/// control WebSocket once the viewer asks for it (UDP blocked).
pub struct MediaOutput {
    pub socket: UdpSocket,
    /// The viewer's UDP address; `None` when no probe ever got through.
    /// Shared with the session, which moves it when a resumed viewer's
    /// probe comes from a new address.
    pub udp_peer: Arc<std::sync::Mutex<Option<SocketAddr>>>,
    /// Datagrams for the WebSocket; bounded, the sender waits when it is full.
    pub websocket: tokio::sync::mpsc::Sender<Vec<u8>>,
    pub use_websocket: Arc<AtomicBool>,
}

impl MediaOutput {
    fn send(&self, datagram: Vec<u8>) -> std::io::Result<()> {
        let peer = *self.udp_peer.lock().unwrap_or_else(|e| e.into_inner());
        match peer {
            Some(peer) if !self.use_websocket.load(Ordering::Relaxed) => {
                send_datagram(&self.socket, &datagram, peer)
            }
            _ => self
                .websocket
                .blocking_send(datagram)
                .map_err(|_| std::io::Error::other("control channel closed")),
        }
    }
}

/// What the sender thread is asked to do.
pub(crate) enum SendWork {
    Unit(MediaUnit),
    Retransmit { frame_index: u32, shards: Vec<u16> },
}

/// Token bucket: ordinary frames leave at once, a keyframe's burst is
/// spread out so it does not overflow a bottleneck's queue.
struct Pacer {
    tokens: f64,
    last: Instant,
}

impl Pacer {
    fn new() -> Self {
        Pacer {
            tokens: MIN_BURST_BYTES as f64,
            last: Instant::now(),
        }
    }

    /// Waits until `bytes` may leave at the rate for `encoder_kbps`.
    fn pace(&mut self, bytes: usize, encoder_kbps: u64, fps: u32) {
        let rate_kbps = (encoder_kbps * PACING_FACTOR).max(MIN_PACING_KBPS);
        let bytes_per_us = rate_kbps as f64 / 8_000.0;
        let frame_bytes = encoder_kbps * 1000 / 8 / u64::from(fps.max(1));
        let capacity = MIN_BURST_BYTES.max(2 * frame_bytes) as f64;
        let now = Instant::now();
        self.tokens =
            (self.tokens + (now - self.last).as_micros() as f64 * bytes_per_us).min(capacity);
        self.last = now;
        self.tokens -= bytes as f64;
        if self.tokens < 0.0 {
            let wait_us = (-self.tokens / bytes_per_us) as u64;
            std::thread::sleep(Duration::from_micros(wait_us));
        }
    }
}

struct SentFrame {
    frame_index: u32,
    capture_us: u64,
    shards: Vec<(Header, Vec<u8>)>,
}

/// Runs until every producer is gone and the queue is drained.
pub(crate) fn send_loop(
    work: Receiver<SendWork>,
    output: MediaOutput,
    mut sealer: Sealer,
    counters: &SenderCounters,
    parity_pct: &AtomicU32,
    fps: u32,
) {
    let mut video = Packetizer::new(StreamKind::Video, DEFAULT_MAX_PAYLOAD);
    let mut pacer = Pacer::new();
    let mut audio = Packetizer::new(StreamKind::Audio, DEFAULT_MAX_PAYLOAD);
    let mut history: VecDeque<SentFrame> = VecDeque::with_capacity(HISTORY_FRAMES);
    let mut transmit = |sealer: &mut Sealer, header: &Header, payload: &[u8]| {
        let datagram = sealer.seal(*header, payload);
        pacer.pace(
            datagram.len(),
            counters.encoder_kbps.load(Ordering::Relaxed),
            fps,
        );
        let len = datagram.len() as u64;
        match output.send(datagram) {
            Ok(()) => {
                counters.bytes_sent.fetch_add(len, Ordering::Relaxed);
            }
            Err(e) => {
                if counters.send_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(error = %e, "media send failed");
                }
            }
        }
    };
    for job in work {
        match job {
            SendWork::Unit(unit) if unit.stream == StreamKind::Video => {
                video.set_parity_pct(parity_pct.load(Ordering::Relaxed));
                let shards = video.packetize(&unit.data, unit.capture_us, unit.keyframe);
                for (header, payload) in &shards {
                    transmit(&mut sealer, header, payload);
                }
                counters.frames_sent.fetch_add(1, Ordering::Relaxed);
                if history.len() == HISTORY_FRAMES {
                    history.pop_front();
                }
                history.push_back(SentFrame {
                    frame_index: shards[0].0.frame_index,
                    capture_us: unit.capture_us,
                    shards,
                });
            }
            SendWork::Unit(unit) => {
                // Opus packets are one shard each; a lost one is concealed.
                for (header, payload) in audio.packetize(&unit.data, unit.capture_us, false) {
                    transmit(&mut sealer, &header, &payload);
                }
                counters.audio_packets_sent.fetch_add(1, Ordering::Relaxed);
            }
            SendWork::Retransmit {
                frame_index,
                shards,
            } => {
                let Some(frame) = history.iter().find(|f| f.frame_index == frame_index) else {
                    continue;
                };
                if unix_now_us().saturating_sub(frame.capture_us) > RETRANSMIT_DEADLINE_US {
                    continue;
                }
                for (header, payload) in frame
                    .shards
                    .iter()
                    .filter(|(h, _)| shards.contains(&h.shard_index))
                {
                    transmit(&mut sealer, header, payload);
                    counters
                        .shards_retransmitted
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The socket is shared with the session's tokio task and so non-blocking:
/// a full send buffer is waited out briefly rather than dropping the shard.
fn send_datagram(socket: &UdpSocket, datagram: &[u8], peer: SocketAddr) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(50);
    loop {
        match socket.send_to(datagram, peer) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e),
        }
    }
}
