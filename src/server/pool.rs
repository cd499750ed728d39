//! The threads that evaluate reviews: a fixed set, one per evaluation slot of the
//! [`Gate`](super::gate::Gate).
//!
//! Evaluation is CPU work that must not run on the async workers serving connections.
//! Tokio's blocking pool would do, but it grows a new thread whenever a task arrives
//! before a finishing one is back in the pool (a slot is released inside the task, so
//! under load that is nearly always), up to hundreds of threads, each keeping its own
//! allocator heap: under a steady load that alone held six times the memory the policies
//! need. A fixed set of threads, as many as there are slots, never grows.
//!
//! The threads have stacks of [`STACK`]: room for the compiled Rego path to evaluate
//! ordinary rule chains on the thread's own stack. Below its red zone it moves to stack
//! segments of its own (see `engine::rego::compiled`); on a default 2 MiB thread it did
//! so for every constraint, which cost a map and unmap of a segment each time.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Stack of an evaluation thread (address space; committed only as it is used).
pub const STACK: usize = 4 << 20;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of evaluation threads; they end when the pool is dropped.
#[derive(Debug)]
pub struct EvalPool {
    /// `None` when no thread could be started: jobs then go to tokio's blocking pool.
    jobs: Option<mpsc::Sender<Job>>,
}

impl EvalPool {
    /// Start `threads` evaluation threads (at least one is attempted). A thread the
    /// system refuses is logged and the pool runs with fewer.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("portcullis-eval-{i}"))
                .stack_size(STACK)
                .spawn(move || work(&rx));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start an evaluation thread"),
            }
        }
        EvalPool {
            jobs: (started > 0).then_some(tx),
        }
    }

    /// Run `f` on an evaluation thread. The receiver fails when `f` panicked (the thread
    /// survives it).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A receiver gone (the request timed out) needs no answer.
            let _ = tx.send(f());
        });
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return rx,
                // Every thread has ended (none can while the pool lives; kept safe).
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        tokio::task::spawn_blocking(move || {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
        });
        rx
    }
}

/// An evaluation thread: run jobs until the pool is dropped.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let rx = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A panicking evaluation drops its answer's sender, which the caller reports;
        // the thread goes on serving.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_a_fixed_set_of_threads() {
        let pool = EvalPool::new(2);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let name = pool
                .run(|| std::thread::current().name().map(str::to_string))
                .await
                .expect("answered");
            names.insert(name.expect("named thread"));
        }
        assert!(names.len() <= 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("portcullis-eval-")));
    }

    #[tokio::test]
    async fn a_panic_is_reported_and_the_thread_survives() {
        let pool = EvalPool::new(1);
        #[allow(clippy::panic)]
        let failed = pool.run(|| -> u8 { panic!("evaluation bug") }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run(|| 7).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn ordinary_rule_chains_fit_the_thread_stack() {
        let pool = EvalPool::new(1);
        // The compiled Rego path moves to a new segment when less than its red zone
        // (2 MiB) is left; a fresh evaluation thread must have more than that.
        let left = pool.run(stacker::remaining_stack).await.expect("answered");
        assert!(left.is_some_and(|l| l > 3 << 20), "{left:?}");
    }
}
