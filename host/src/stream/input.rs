//! The session's input thread: applies the viewer's events to the sink in
//! order, and reports how far it got.
//!
//! Channel policy: bounded; when full the control loop waits (the viewer's
//! TCP stream backs up), so key and button events are never dropped.
//! Consecutive pointer moves waiting in the queue are coalesced into one.

use std::thread::JoinHandle;

use common::control::InputEvent;
use tokio::sync::{mpsc, watch};

use crate::clock::unix_now_us;
pub use crate::media::desk::SinkFactory;

const INPUT_QUEUE: usize = 1024;

pub struct InputWorker {
    pub events: mpsc::Sender<(u64, InputEvent)>,
    /// The last sequence number injected, and when (host µs).
    pub applied: watch::Receiver<(u64, u64)>,
    thread: Option<JoinHandle<()>>,
}

impl InputWorker {
    pub fn start(make_sink: SinkFactory) -> anyhow::Result<InputWorker> {
        let (events, mut queue) = mpsc::channel::<(u64, InputEvent)>(INPUT_QUEUE);
        let (applied_tx, applied) = watch::channel((0, 0));
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                let mut sink = match make_sink() {
                    Ok(sink) => {
                        let _ = ready_tx.send(Ok(()));
                        sink
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut errors = 0u64;
                let mut batch = Vec::new();
                while let Some(first) = queue.blocking_recv() {
                    batch.push(first);
                    while let Ok(next) = queue.try_recv() {
                        batch.push(next);
                    }
                    let last_seq = batch.last().map_or(0, |(seq, _)| *seq);
                    for (seq, event) in coalesce(std::mem::take(&mut batch)) {
                        if let Err(e) = sink.apply(seq, &event) {
                            errors += 1;
                            if errors == 1 {
                                tracing::warn!(error = %format!("{e:#}"), "input injection failed");
                            }
                        }
                    }
                    if let Err(e) = sink.flush() {
                        tracing::warn!(error = %format!("{e:#}"), "input flush failed");
                    }
                    let _ = applied_tx.send((last_seq, unix_now_us()));
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the input thread ended early"))??;
        Ok(InputWorker {
            events,
            applied,
            thread: Some(thread),
        })
    }

    /// Applies what is queued, then ends the thread.
    pub fn stop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.events, closed));
        if let Some(thread) = self.thread.take() {
            // Joining from async code: the thread only has the queue left to drain.
            let _ = thread.join();
        }
    }
}

/// Merges runs of pointer moves: absolute moves keep the last, relative
/// moves add up. Everything else passes through in order.
pub fn coalesce(events: Vec<(u64, InputEvent)>) -> Vec<(u64, InputEvent)> {
    let mut out: Vec<(u64, InputEvent)> = Vec::with_capacity(events.len());
    for (seq, event) in events {
        match (out.last_mut(), event) {
            (
                Some((last_seq, InputEvent::MouseAbsolute { x, y })),
                InputEvent::MouseAbsolute { x: nx, y: ny },
            ) => {
                (*last_seq, *x, *y) = (seq, nx, ny);
            }
            (
                Some((last_seq, InputEvent::MouseRelative { dx, dy })),
                InputEvent::MouseRelative { dx: ndx, dy: ndy },
            ) => {
                (*last_seq, *dx, *dy) = (seq, dx.saturating_add(ndx), dy.saturating_add(ndy));
            }
            _ => out.push((seq, event)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::control::MouseButton;

    #[test]
    fn only_runs_of_moves_are_merged() {
        let key = |usage, pressed| InputEvent::Key { usage, pressed };
        let abs = |x, y| InputEvent::MouseAbsolute { x, y };
        let rel = |dx, dy| InputEvent::MouseRelative { dx, dy };
        let click = InputEvent::MouseButton {
            button: MouseButton::Left,
            pressed: true,
        };
        let events = vec![
            (0, key(4, true)),
            (1, abs(0.1, 0.1)),
            (2, abs(0.2, 0.3)),
            (3, click),
            (4, rel(1, 2)),
            (5, rel(3, -4)),
            (6, key(4, false)),
            (7, abs(0.5, 0.5)),
        ];
        assert_eq!(
            coalesce(events),
            vec![
                (0, key(4, true)),
                (2, abs(0.2, 0.3)),
                (3, click),
                (5, rel(4, -2)),
                (6, key(4, false)),
                (7, abs(0.5, 0.5)),
            ]
        );
    }
}
