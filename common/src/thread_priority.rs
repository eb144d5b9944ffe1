//! The threads a frame passes through (capture, encode, receive, decode,
//! present) run ahead of everything else on a busy machine: each wait for a
//! core there is latency. As Sunshine and Moonlight do, they ask for a
//! higher priority (on Linux a nice value of −11); without the right to
//! (no CAP_SYS_NICE, no RLIMIT_NICE) they run as they are, and say so once.

use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};

/// On thread-priority's 0–99 scale; 75 is nice −11 on Linux.
const MEDIA_PRIORITY: u8 = 75;

/// Asks for the media priority for the calling thread; the error says why
/// it was refused (the thread then keeps its normal priority).
pub fn raise_for_media() -> Result<(), String> {
    let value = ThreadPriorityValue::try_from(MEDIA_PRIORITY)?;
    set_current_thread_priority(ThreadPriority::Crossplatform(value)).map_err(|error| {
        format!(
            "{error:?}: grant CAP_SYS_NICE or an RLIMIT_NICE for lower latency on a busy machine"
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_works_or_is_refused_without_panicking() {
        // Root here; a user without the right gets `false`.
        let raised = std::thread::spawn(super::raise_for_media).join().unwrap();
        if is_root() {
            assert_eq!(raised, Ok(()));
        }
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
    }
}
