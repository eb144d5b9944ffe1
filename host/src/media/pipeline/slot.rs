//! The hand-over between the capture thread and the encode thread: one
//! slot where the newest captured picture waits. A picture still waiting
//! when a newer one is captured is replaced (and counted), never queued:
//! the encoder always takes the newest. The I420 frames go round between
//! the two threads and a free list, so nothing is allocated per picture.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::platform::I420Frame;

/// A captured picture on its way to the encoder.
#[derive(Debug)]
pub struct Captured {
    pub frame: I420Frame,
    /// Host clock at capture start (the frame's timestamp on the wire).
    pub capture_us: u64,
    pub capture_started: Instant,
    /// How long capture (with conversion) took, µs.
    pub capture_took_us: u64,
}

#[derive(Debug, Default)]
struct State {
    waiting: Option<Captured>,
    free: Vec<I420Frame>,
    closed: bool,
    replaced: u64,
}

/// The slot and the free frames behind it.
#[derive(Debug, Default)]
pub struct FrameSlot {
    state: Mutex<State>,
    filled: Condvar,
}

/// Frames in circulation: one being captured, one waiting, one being
/// encoded; so the capture thread always finds a free one.
pub const FRAMES: usize = 3;

impl FrameSlot {
    /// A slot with `FRAMES` frames of `width × height`.
    pub fn new(width: u32, height: u32) -> Self {
        let free = (0..FRAMES).map(|_| I420Frame::new(width, height)).collect();
        FrameSlot {
            state: Mutex::new(State {
                free,
                ..State::default()
            }),
            filled: Condvar::new(),
        }
    }

    /// A panic on one thread must not take the other down with a poisoned
    /// lock: the state is a few moves, consistent between statements.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A frame to capture into; the capture thread owns it until it
    /// publishes or returns it.
    pub fn take_free(&self) -> Option<I420Frame> {
        self.lock().free.pop()
    }

    /// A frame taken and not published (nothing new was captured).
    pub fn give_back(&self, frame: I420Frame) {
        self.lock().free.push(frame);
    }

    /// Puts `captured` in the slot; a picture still waiting there is
    /// replaced, its frame freed. Returns whether one was replaced.
    pub fn publish(&self, captured: Captured) -> bool {
        let mut state = self.lock();
        let replaced = match state.waiting.replace(captured) {
            Some(old) => {
                state.free.push(old.frame);
                state.replaced += 1;
                true
            }
            None => false,
        };
        drop(state);
        self.filled.notify_one();
        replaced
    }

    /// The newest picture, waiting for one; `None` once closed.
    pub fn next(&self) -> Option<Captured> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(captured) = state.waiting.take() {
                return Some(captured);
            }
            state = self
                .filled
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Pictures replaced before the encoder took them, so far.
    pub fn replaced(&self) -> u64 {
        self.lock().replaced
    }

    /// Ends the hand-over: `next` returns `None` from now on.
    pub fn close(&self) {
        self.lock().closed = true;
        self.filled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(slot: &FrameSlot, capture_us: u64) -> Captured {
        Captured {
            frame: slot.take_free().expect("a free frame"),
            capture_us,
            capture_started: Instant::now(),
            capture_took_us: 0,
        }
    }

    #[test]
    fn the_newest_picture_replaces_a_waiting_one() {
        let slot = FrameSlot::new(16, 16);
        assert!(!slot.publish(captured(&slot, 1)));
        assert!(slot.publish(captured(&slot, 2)));
        assert!(slot.publish(captured(&slot, 3)));
        assert_eq!(slot.replaced(), 2);
        let next = slot.next().expect("a picture");
        assert_eq!(next.capture_us, 3);
        // Two frames are free again: one capturing, one waiting is the most.
        assert_eq!(slot.lock().free.len(), FRAMES - 1);
        slot.give_back(next.frame);
        assert_eq!(slot.lock().free.len(), FRAMES);
    }

    #[test]
    fn capture_always_finds_a_frame_while_one_waits_and_one_encodes() {
        let slot = FrameSlot::new(16, 16);
        slot.publish(captured(&slot, 1));
        let encoding = slot.next().expect("a picture");
        for capture_us in 2..100 {
            slot.publish(captured(&slot, capture_us));
        }
        assert!(slot.take_free().is_some());
        slot.give_back(encoding.frame);
    }

    #[test]
    fn closing_wakes_the_encoder() {
        let slot = std::sync::Arc::new(FrameSlot::new(16, 16));
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.next().is_none())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        slot.close();
        assert!(waiter.join().unwrap());
    }
}
