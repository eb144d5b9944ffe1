//! argon2 checks on a few dedicated threads with a short queue. Each check
//! needs ~19 MiB of working memory: each thread allocates it once and keeps
//! it, so the number of threads bounds the memory, and a full queue answers
//! "busy" at once instead of piling up work a client chose to send.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Threads checking passwords, and attempts that may wait for one.
pub const DEFAULT_WORKERS: usize = 2;
pub const DEFAULT_QUEUE: usize = 8;

struct Job {
    password: String,
    phc: String,
    answer: oneshot::Sender<bool>,
}

/// Every checker is busy and the queue is full; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct PasswordChecker {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for PasswordChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecker").finish_non_exhaustive()
    }
}

impl PasswordChecker {
    /// Starts `workers` threads; they end when the checker is dropped.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(Self { jobs })
    }

    /// Verifies `password` against the PHC string; `Err(Busy)` at once
    /// when the queue is full.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, Busy> {
        let (answer, answered) = oneshot::channel();
        match self.jobs.try_send(Job {
            password,
            phc,
            answer,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Busy),
            Err(TrySendError::Disconnected(_)) => return Ok(false),
        }
        Ok(answered.await.unwrap_or(false))
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    // argon2's working memory, allocated once for this thread's life.
    let mut blocks = Vec::new();
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
            receiver.recv()
        };
        let Ok(job) = job else { return };
        // The client may have gone; the check is skipped then.
        if job.answer.is_closed() {
            continue;
        }
        let ok = super::passwords::verify_password_in(&mut blocks, &job.password, &job.phc);
        let _ = job.answer.send(ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_and_says_busy_when_the_queue_is_full() {
        let hash = super::super::passwords::hash_password("right").expect("hashed");
        let checker = PasswordChecker::new(1, 1).expect("started");
        assert_eq!(checker.verify("right".into(), hash.clone()).await, Ok(true));
        assert_eq!(
            checker.verify("wrong".into(), hash.clone()).await,
            Ok(false)
        );
        // One running, one queued, the rest busy.
        let attempts: Vec<_> = (0..6)
            .map(|_| checker.verify("wrong".into(), hash.clone()))
            .collect();
        let answers = futures_util::future::join_all(attempts).await;
        assert!(answers.contains(&Err(Busy)), "{answers:?}");
        assert!(answers.contains(&Ok(false)), "{answers:?}");
    }
}
