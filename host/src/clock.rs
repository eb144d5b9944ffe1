//! Host clocks: microseconds for capture timestamps and pongs, and the
//! control plane's seconds, behind a trait so tests can move time.

use std::sync::atomic::{AtomicI64, Ordering};

/// Microseconds since the Unix epoch (wall clock, shared with the viewer's
/// estimate through the ping exchange).
pub fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Unix seconds for the control plane: token expiry, request dates, audit.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_unix_s(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_s(&self) -> i64 {
        (unix_now_us() / 1_000_000) as i64
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(unix_s: i64) -> Self {
        Self(AtomicI64::new(unix_s))
    }

    pub fn set(&self, unix_s: i64) {
        self.0.store(unix_s, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_s(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
