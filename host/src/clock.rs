//! The host clock that capture timestamps and pongs are read from.

/// Microseconds since the Unix epoch (wall clock, shared with the viewer's
/// estimate through the ping exchange).
pub fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
