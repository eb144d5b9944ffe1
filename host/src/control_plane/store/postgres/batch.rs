//! Group commit for the writes every request makes (its nonce, its audit
//! row, a CreateSession): calls that arrive while the previous batch is at
//! the database go together in one statement and one commit. Each caller
//! still waits for the commit that holds its write, so nothing is
//! acknowledged before it is durable; what is shared is the round trip, the
//! WAL flush and, for CreateSession, the placement lock.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use postgres::{Client, NoTls};

use crate::control_plane::store::{StoreError, StoreResult};

/// At most this many calls in one statement.
const MAX_BATCH: usize = 64;

type Waiting<R, A> = (R, mpsc::SyncSender<StoreResult<A>>);

struct Queue<R, A> {
    waiting: Vec<Waiting<R, A>>,
    /// The store is gone: the thread ends.
    closed: bool,
}

pub(super) struct Batcher<R, A> {
    queue: Arc<(Mutex<Queue<R, A>>, Condvar)>,
}

impl<R: Send + 'static, A: Send + 'static> Batcher<R, A> {
    /// A thread with its own connection that runs `work` on each batch;
    /// `work` answers one `A` per request, in order.
    pub(super) fn start(
        name: &str,
        config: postgres::Config,
        work: impl Fn(&mut Client, &[R]) -> StoreResult<Vec<A>> + Send + 'static,
    ) -> StoreResult<Self> {
        let queue = Arc::new((
            Mutex::new(Queue {
                waiting: Vec::new(),
                closed: false,
            }),
            Condvar::new(),
        ));
        let shared = queue.clone();
        // The client blocks on a runtime of its own: it connects on its own
        // thread, never on the caller's (which may be tokio's).
        let (ready, connected) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("postgres-{name}"))
            .spawn(move || {
                let mut client = match config.connect(NoTls) {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(e) => {
                        let _ = ready.send(Err(StoreError::from(e)));
                        return;
                    }
                };
                while let Some(batch) = next_batch(&shared) {
                    if client.is_closed() {
                        match config.connect(NoTls) {
                            Ok(fresh) => {
                                client = fresh;
                                super::forget_statements();
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot reconnect to the database")
                            }
                        }
                    }
                    answer(batch, |requests| work(&mut client, requests));
                }
            })
            .map_err(|e| StoreError::Backend(format!("a batch thread: {e}")))?;
        connected
            .recv()
            .map_err(|_| StoreError::Backend("a batch thread died".into()))??;
        Ok(Self { queue })
    }

    /// Queues `request` and waits for the commit that holds it.
    pub(super) fn call(&self, request: R) -> StoreResult<A> {
        let (reply, replied) = mpsc::sync_channel(1);
        let (lock, ready) = &*self.queue;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .push((request, reply));
        ready.notify_one();
        replied
            .recv()
            .map_err(|_| StoreError::Backend("the batch thread died mid-call".into()))?
    }
}

impl<R, A> Drop for Batcher<R, A> {
    fn drop(&mut self) {
        let (lock, ready) = &*self.queue;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        ready.notify_one();
    }
}

/// Waits for calls; None once the store is gone.
fn next_batch<R, A>(queue: &(Mutex<Queue<R, A>>, Condvar)) -> Option<Vec<Waiting<R, A>>> {
    let (lock, ready) = queue;
    let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if !queue.waiting.is_empty() {
            let take = queue.waiting.len().min(MAX_BATCH);
            return Some(queue.waiting.drain(..take).collect());
        }
        if queue.closed {
            return None;
        }
        queue = ready.wait(queue).unwrap_or_else(|e| e.into_inner());
    }
}

/// Runs one batch and hands each caller its answer (or the batch's error).
fn answer<R, A>(batch: Vec<Waiting<R, A>>, work: impl FnOnce(&[R]) -> StoreResult<Vec<A>>) {
    let (requests, replies): (Vec<R>, Vec<_>) = batch.into_iter().unzip();
    match work(&requests) {
        Ok(answers) if answers.len() == replies.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Ok(answers) => {
            let why = format!("{} answers to {} calls", answers.len(), replies.len());
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(why.clone())));
            }
        }
        Err(e) => {
            let why = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(why.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_gets_its_own_answer_or_the_batchs_error() {
        let (tx, rx) = mpsc::sync_channel(1);
        let (tx2, rx2) = mpsc::sync_channel(1);
        answer(vec![(1, tx), (2, tx2)], |requests: &[i32]| {
            Ok(requests.iter().map(|r| r * 10).collect())
        });
        assert_eq!(rx.recv().unwrap().unwrap(), 10);
        assert_eq!(rx2.recv().unwrap().unwrap(), 20);
        let (tx, rx) = mpsc::sync_channel::<StoreResult<i32>>(1);
        answer(vec![(1, tx)], |_: &[i32]| {
            Err(StoreError::Backend("down".into()))
        });
        assert!(rx.recv().unwrap().unwrap_err().to_string().contains("down"));
    }
}
