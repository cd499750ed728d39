//! Admission of requests into evaluation: a memory budget for what is in flight, a bounded
//! set of evaluation threads, and the deadline every request is judged against.
//!
//! Evaluation is synchronous CPU work. Run on the async workers, one expensive policy would
//! stall every other request and the health probes behind it; run without bound, a burst of
//! large objects would decode into more memory than the Pod has. So each request first
//! reserves an estimate of the memory it will use (its body's bytes before reading, then the
//! decoded tree's estimate from [`crate::admission::scan`]), then waits for one of a fixed
//! number of evaluation slots, and runs on the blocking pool. A request that cannot get its
//! memory before its deadline is refused with 429, one that cannot get a slot with 503: the
//! API server treats either as a failed call and applies the webhook's failure policy.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::decision::FailurePolicy;

/// Memory is counted in units of this many bytes (semaphore permits are `u32`).
const UNIT: usize = 1024;

/// Limits on admission requests, resolved from `serve` flags.
#[derive(Debug, Clone)]
pub struct AdmissionLimits {
    /// Largest request body accepted (bytes); larger is answered 413.
    pub max_body: usize,
    /// Time to receive a request body once its headers have arrived.
    pub body_read_timeout: Duration,
    /// Deadline of one request, from its arrival to its answer; below the webhook's
    /// `timeoutSeconds` so that portcullis answers by its failure policy before the API
    /// server gives up.
    pub eval_timeout: Duration,
    /// Requests evaluated at once.
    pub eval_workers: usize,
    /// Memory budget of requests in flight (bytes, estimated).
    pub max_inflight_bytes: usize,
    /// What `/validate` answers when a request cannot be judged in time.
    pub validate_failure_policy: FailurePolicy,
    /// What `/mutate` answers when a mutation cannot finish in time or within its limits.
    pub mutate_failure_policy: FailurePolicy,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_body: super::DEFAULT_MAX_BODY,
            body_read_timeout: Duration::from_secs(10),
            eval_timeout: Duration::from_millis(2500),
            eval_workers: default_workers(),
            max_inflight_bytes: 256 * 1024 * 1024,
            validate_failure_policy: FailurePolicy::Fail,
            mutate_failure_policy: FailurePolicy::Ignore,
        }
    }
}

/// Four evaluation slots per core. Evaluation is CPU-bound, so one per core would be the
/// fastest for uniform work; but a few expensive requests (each stopped at its deadline)
/// would then hold every slot and queue the cheap ones behind them. With more slots than
/// cores the scheduler shares the cores, and ordinary reviews finish between the slices of
/// the expensive ones. Memory stays bounded by the in-flight budget whatever the count.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .saturating_mul(4)
}

/// The shared budgets behind [`AdmissionLimits`].
#[derive(Debug)]
pub struct Gate {
    /// The limits.
    pub limits: AdmissionLimits,
    memory: Arc<Semaphore>,
    memory_units: usize,
    workers: Arc<Semaphore>,
    /// The threads a slot's evaluation runs on, one per slot.
    pool: super::pool::EvalPool,
}

/// Memory reserved for one request; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    permits: Vec<OwnedSemaphorePermit>,
    units: usize,
}

impl Reservation {
    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.units.saturating_mul(UNIT)
    }
}

/// Why a reservation was not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than the whole budget: never admissible.
    TooLarge {
        /// Bytes asked for.
        wanted: usize,
        /// The whole budget.
        budget: usize,
    },
    /// Not granted before the deadline.
    Timeout,
}

impl Gate {
    /// Budgets for `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        let memory_units = (limits.max_inflight_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        let workers = limits.eval_workers.clamp(1, Semaphore::MAX_PERMITS);
        Gate {
            memory: Arc::new(Semaphore::new(memory_units)),
            memory_units,
            workers: Arc::new(Semaphore::new(workers)),
            pool: super::pool::EvalPool::new(workers),
            limits,
        }
    }

    /// Run an evaluation on one of the slots' threads (hold a [`slot`](Self::slot) first).
    pub fn evaluate<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        self.pool.run(f)
    }

    /// The memory budget in bytes.
    pub fn budget(&self) -> usize {
        self.memory_units.saturating_mul(UNIT)
    }

    /// Reserve `bytes` more for `held`, waiting until `deadline` at most.
    pub async fn reserve(
        &self,
        held: &mut Reservation,
        bytes: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), Refusal> {
        let want = bytes.div_ceil(UNIT).max(1);
        if want > self.memory_units {
            return Err(Refusal::TooLarge {
                wanted: bytes,
                budget: self.budget(),
            });
        }
        let more = want.saturating_sub(held.units);
        if more == 0 {
            return Ok(());
        }
        let n = u32::try_from(more).map_err(|_| Refusal::TooLarge {
            wanted: bytes,
            budget: self.budget(),
        })?;
        match tokio::time::timeout_at(deadline, self.memory.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => {
                held.permits.push(permit);
                held.units += more;
                Ok(())
            }
            // The semaphore is never closed; a closed one refuses like a full one.
            Ok(Err(_)) | Err(_) => Err(Refusal::Timeout),
        }
    }

    /// An empty reservation to grow with [`Gate::reserve`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            permits: Vec::new(),
            units: 0,
        }
    }

    /// An evaluation slot, waiting until `deadline` at most.
    pub async fn slot(&self, deadline: tokio::time::Instant) -> Option<OwnedSemaphorePermit> {
        match tokio::time::timeout_at(deadline, self.workers.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Bytes reserved by requests in flight.
    pub fn in_flight(&self) -> usize {
        (self.memory_units - self.memory.available_permits()).saturating_mul(UNIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(budget: usize, workers: usize) -> Gate {
        Gate::new(AdmissionLimits {
            max_inflight_bytes: budget,
            eval_workers: workers,
            ..AdmissionLimits::default()
        })
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(50)
    }

    #[tokio::test]
    async fn memory_is_reserved_grown_and_released() {
        let g = gate(10 * UNIT, 1);
        let mut a = g.reservation();
        g.reserve(&mut a, 4 * UNIT, soon()).await.expect("fits");
        g.reserve(&mut a, 6 * UNIT, soon())
            .await
            .expect("grows to 6");
        assert_eq!(a.bytes(), 6 * UNIT);
        assert_eq!(g.in_flight(), 6 * UNIT);
        let mut b = g.reservation();
        assert_eq!(
            g.reserve(&mut b, 5 * UNIT, soon()).await,
            Err(Refusal::Timeout),
            "only 4 units left"
        );
        assert!(matches!(
            g.reserve(&mut b, 11 * UNIT, soon()).await,
            Err(Refusal::TooLarge { .. })
        ));
        drop(a);
        g.reserve(&mut b, 5 * UNIT, soon()).await.expect("released");
    }

    #[tokio::test]
    async fn slots_are_bounded() {
        let g = gate(UNIT, 2);
        let a = g.slot(soon()).await;
        let b = g.slot(soon()).await;
        assert!(a.is_some() && b.is_some());
        assert!(g.slot(soon()).await.is_none(), "both taken");
        drop(a);
        assert!(g.slot(soon()).await.is_some());
    }
}
