//! Every timing constant and limit of a session, once: the host, the viewer
//! and the simulator all take a `SessionConfig`.

/// Timings in microseconds, as `now` is everywhere in `common::session`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    // ---- control channel ----
    /// The host waits this long for a connection's first message.
    pub hello_timeout_us: u64,
    /// The viewer pings this often (clock sync, liveness).
    pub ping_interval_us: u64,
    /// The viewer's receiver report; also sent at once when the delay
    /// detector's signal changes.
    pub receiver_report_interval_us: u64,
    /// The host's sender report.
    pub sender_report_interval_us: u64,
    /// The host hands the control plane a reading of the stream this often.
    pub stats_sample_interval_us: u64,
    /// The host hears nothing for this long: the connection is gone, the
    /// session parks for a resume.
    pub host_idle_timeout_us: u64,
    /// The viewer hears nothing for this long: it reconnects and resumes.
    pub viewer_silence_us: u64,
    /// A parked session waits this long for its viewer.
    pub resume_window_us: u64,
    /// The viewer retries a resume this often while the host is unreachable...
    pub resume_retry_us: u64,
    /// ...each attempt given this long.
    pub resume_attempt_timeout_us: u64,
    /// Connecting, the host launching the application included.
    pub connect_timeout_us: u64,
    /// After its goodbye the viewer waits this long for the host's last report.
    pub goodbye_grace_us: u64,

    // ---- media path ----
    /// The viewer probes UDP this often until media flows.
    pub probe_interval_us: u64,
    /// Neither a probe nor a switch to the WebSocket for this long: the host
    /// ends the session.
    pub media_start_timeout_us: u64,
    /// No UDP media for this long while the host still answers: media moves
    /// to the WebSocket.
    pub udp_silence_fallback_us: u64,
    /// A silence this long on the media path is an outage, not loss: the
    /// loss meter and delay detector start afresh after it.
    pub outage_gap_us: u64,

    // ---- loss repair ----
    /// A shard missing this long after its frame's first shard is asked
    /// for again (at least; twice the measured jitter when that is more).
    pub nack_min_wait_us: u64,
    /// A frame is asked for again at most once per round trip, and no more
    /// often than this.
    pub nack_repeat_min_us: u64,
    /// An incomplete frame blocks the frames behind it for at most this long
    /// (room for two NACK round trips); a complete keyframe ahead ends the wait.
    pub reassembly_wait_us: u64,
    /// The viewer repeats a keyframe request at most this often while the
    /// picture is broken (and at most once per round trip).
    pub keyframe_request_min_us: u64,
    /// The host makes at most one keyframe per this long, whatever is asked.
    pub keyframe_min_interval_us: u64,
    /// Frames the host keeps to answer NACKs.
    pub history_frames: usize,
    /// A NACK for a frame captured longer ago than this is not answered.
    pub retransmit_deadline_us: u64,
    /// FEC parity share: floor and ceiling, and the least a keyframe gets.
    pub parity_floor_pct: u32,
    pub parity_max_pct: u32,
    pub keyframe_parity_min_pct: u32,

    // ---- rate ----
    /// Congestion control never asks the encoder for less.
    pub min_bitrate_kbps: u32,
    /// The pacer sends at this multiple of the target rate, at least
    /// `min_pacing_kbps`; bursts up to `pacing_burst_bytes` leave at once.
    pub pacing_factor: f64,
    pub min_pacing_kbps: u32,
    pub pacing_burst_bytes: usize,
    /// What got through is measured over this window.
    pub received_rate_window_us: u64,
    /// A standing queue: every datagram in a window this long came later
    /// than the path's base delay by `standing_queue_us`.
    pub standing_queue_window_us: u64,
    pub standing_queue_us: u64,
    /// The encoder is told a new bitrate only when it changes by more than
    /// this share (FFmpeg's HEVC and AV1 encoders restart their rate
    /// control on every change).
    pub encoder_retune_share: f64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hello_timeout_us: 10_000_000,
            ping_interval_us: 500_000,
            receiver_report_interval_us: 100_000,
            sender_report_interval_us: 1_000_000,
            stats_sample_interval_us: 1_000_000,
            host_idle_timeout_us: 10_000_000,
            viewer_silence_us: 3_000_000,
            resume_window_us: 30_000_000,
            // A new connection on a LAN takes milliseconds: short attempts,
            // retried often, find the link soon after it returns.
            resume_retry_us: 100_000,
            resume_attempt_timeout_us: 600_000,
            connect_timeout_us: 20_000_000,
            goodbye_grace_us: 2_000_000,
            probe_interval_us: 100_000,
            media_start_timeout_us: 10_000_000,
            udp_silence_fallback_us: 1_000_000,
            outage_gap_us: 300_000,
            nack_min_wait_us: 4_000,
            nack_repeat_min_us: 10_000,
            reassembly_wait_us: 80_000,
            keyframe_request_min_us: 30_000,
            keyframe_min_interval_us: 50_000,
            history_frames: 32,
            retransmit_deadline_us: 150_000,
            parity_floor_pct: 10,
            parity_max_pct: 60,
            keyframe_parity_min_pct: 50,
            min_bitrate_kbps: *crate::api::STREAM_BITRATE_KBPS.start(),
            pacing_factor: 2.5,
            min_pacing_kbps: 8_000,
            pacing_burst_bytes: 24_000,
            received_rate_window_us: 500_000,
            standing_queue_window_us: 100_000,
            standing_queue_us: 20_000,
            encoder_retune_share: 0.05,
        }
    }
}
