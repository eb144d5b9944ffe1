//! Reliable input: the viewer numbers events and keeps those that must not
//! be lost (keys, buttons) until the host says it applied them, so a resume
//! can send them again; the host applies each number once, in order.

use std::collections::VecDeque;

use crate::control::InputEvent;

/// At most this many unapplied events are kept for a resume.
const MAX_UNACKED: usize = 4096;

/// The viewer's side.
#[derive(Debug, Default)]
pub struct InputQueue {
    next_seq: u64,
    unacked: VecDeque<(u64, InputEvent)>,
}

impl InputQueue {
    /// Numbers an event; keeps it unless it is a pointer move (a stale
    /// move is useless after a resume).
    pub fn push(&mut self, event: InputEvent) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if !matches!(
            event,
            InputEvent::MouseAbsolute { .. } | InputEvent::MouseRelative { .. }
        ) {
            if self.unacked.len() == MAX_UNACKED {
                self.unacked.pop_front();
            }
            self.unacked.push_back((seq, event));
        }
        seq
    }

    /// The host applied everything up to `seq`.
    pub fn applied(&mut self, seq: u64) {
        self.unacked.retain(|(sent, _)| *sent > seq);
    }

    /// Events to send again after a resume: those after what the host got.
    pub fn resend_after(&mut self, host_received: Option<u64>) -> Vec<(u64, InputEvent)> {
        if let Some(seq) = host_received {
            self.applied(seq);
        }
        self.unacked.iter().copied().collect()
    }

    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }
}

/// The host's side: each sequence number once.
#[derive(Debug, Default)]
pub struct InputDedup {
    last: Option<u64>,
}

impl InputDedup {
    /// Whether `seq` is new (and so to be applied).
    pub fn accept(&mut self, seq: u64) -> bool {
        if self.last.is_some_and(|last| seq <= last) {
            return false;
        }
        self.last = Some(seq);
        true
    }

    pub fn last(&self) -> Option<u64> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_until_applied_and_resent_after_a_resume() {
        let mut queue = InputQueue::default();
        let key = |usage| InputEvent::Key {
            usage,
            pressed: true,
        };
        assert_eq!(queue.push(key(4)), 0);
        assert_eq!(queue.push(InputEvent::MouseRelative { dx: 1, dy: 1 }), 1);
        assert_eq!(queue.push(key(5)), 2);
        queue.applied(0);
        assert_eq!(queue.resend_after(None), vec![(2, key(5))]);
        assert!(queue.resend_after(Some(2)).is_empty());
        let mut dedup = InputDedup::default();
        assert!(dedup.accept(0) && dedup.accept(2));
        assert!(!dedup.accept(2) && !dedup.accept(1));
    }
}
