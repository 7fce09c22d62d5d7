//! Large replies made off the async workers, on one thread of the lowest CPU
//! priority.
//!
//! Making and encoding a listing of tens of thousands of names takes
//! milliseconds of CPU. On an async worker it delays every small request
//! queued behind it; on the blocking pool it still competes at full
//! priority with the workers and the log writer, and several such clients
//! could take every core. Here such work runs one job at a time on one
//! thread at nice [`BULK_NICE`]: the scheduler lets the threads serving
//! small requests run first, and a client asking for huge replies gets its
//! answers later rather than slowing everybody else.
//!
//! Only work done after the state's lock is released comes here: a job
//! holding the lock at low priority could be preempted while writes wait.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;
use tracing::{debug, warn};

/// Nice value of the bulk thread (19: the lowest priority).
pub(crate) const BULK_NICE: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// The submitting end; the thread ends when it is dropped.
pub(crate) struct Bulk {
    tx: mpsc::Sender<Job>,
}

impl Bulk {
    /// Starts the bulk thread.
    pub(crate) fn start() -> std::io::Result<Bulk> {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("coord-bulk".into())
            .spawn(move || {
                // On Linux the who = 0 form of setpriority names the calling
                // thread only.
                if let Err(e) = rustix::process::setpriority_process(None, BULK_NICE) {
                    warn!(error = %e, "cannot lower the bulk reply thread's priority");
                }
                for job in rx {
                    job();
                }
                debug!("bulk reply thread stopped");
            })?;
        Ok(Bulk { tx })
    }

    /// Runs `f` on the bulk thread and waits for its result; `None` if the
    /// thread is gone (the server is stopping) or `f` panicked.
    pub(crate) async fn run<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.tx.send(job).ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_a_low_priority_thread() {
        let bulk = Bulk::start().unwrap();
        let nice = bulk
            .run(|| rustix::process::getpriority_process(None).unwrap())
            .await
            .unwrap();
        assert_eq!(nice, BULK_NICE);
        let mut results = Vec::new();
        for i in 0..3 {
            results.push(bulk.run(move || i * 2).await.unwrap());
        }
        assert_eq!(results, [0, 2, 4]);
    }
}
