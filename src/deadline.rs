//! The evaluation deadline of one request.
//!
//! The webhook sits in the path of every API write with a `timeoutSeconds` of a few seconds.
//! An expensive policy (a comprehension over every container times a long parameter list) or
//! a hostile object must not hold a request past that: the API server would give up anyway
//! and apply its failure policy, while the work went on burning a core. So every loop whose
//! length depends on the object or on a policy (Rego and CEL evaluation, mutation passes)
//! checks a [`Deadline`] and stops with [`DeadlineExceeded`], and the decision layer answers
//! as the webhook's failure policy says, naming the constraint or mutator that ran out.
//!
//! Reading the clock costs tens of nanoseconds, more than one step of most loops, so hot loops
//! use a [`Pacer`], which reads it once every [`Pacer::EVERY`] steps.

#![deny(clippy::indexing_slicing)]

use std::cell::Cell;
use std::time::{Duration, Instant};

/// When the evaluation of one request must stop; `Deadline::NONE` never expires (CLI tools,
/// tests and audit, which bound their work otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline {
    at: Option<Instant>,
}

/// The error of work cut off by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("evaluation deadline exceeded")]
pub struct DeadlineExceeded;

impl Deadline {
    /// A deadline that never expires.
    pub const NONE: Deadline = Deadline { at: None };

    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline {
            at: Instant::now().checked_add(budget),
        }
    }

    /// A deadline at a given instant.
    pub fn at(instant: Instant) -> Self {
        Deadline { at: Some(instant) }
    }

    /// The instant, if any.
    pub fn instant(&self) -> Option<Instant> {
        self.at
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Time left, `None` when there is no deadline; zero once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// `Err` once the deadline has passed.
    ///
    /// # Errors
    /// [`DeadlineExceeded`] when it has.
    pub fn check(&self) -> Result<(), DeadlineExceeded> {
        if self.expired() {
            Err(DeadlineExceeded)
        } else {
            Ok(())
        }
    }

    /// A pacer for a hot loop against this deadline.
    pub fn pacer(&self) -> Pacer {
        Pacer {
            deadline: *self,
            steps: Cell::new(0),
        }
    }
}

/// Checks a deadline from a hot loop without reading the clock at every step.
#[derive(Debug, Clone)]
pub struct Pacer {
    deadline: Deadline,
    steps: Cell<u32>,
}

impl Pacer {
    /// Steps between two readings of the clock. A step of the engines takes well under a
    /// microsecond, so the deadline is overrun by far less than a millisecond.
    pub const EVERY: u32 = 256;

    /// Count one step; read the clock every [`Pacer::EVERY`] steps.
    ///
    /// # Errors
    /// [`DeadlineExceeded`] when the deadline has passed at a reading.
    #[inline]
    pub fn tick(&self) -> Result<(), DeadlineExceeded> {
        if self.deadline.at.is_none() {
            return Ok(());
        }
        let n = self.steps.get().wrapping_add(1);
        self.steps.set(n);
        if n.is_multiple_of(Self::EVERY) {
            self.deadline.check()
        } else {
            Ok(())
        }
    }

    /// The deadline it paces.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_never_expires_and_past_deadlines_do() {
        assert!(!Deadline::NONE.expired());
        assert_eq!(Deadline::NONE.remaining(), None);
        assert!(Deadline::NONE.check().is_ok());
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        assert!(past.expired());
        assert_eq!(past.remaining(), Some(Duration::ZERO));
        assert_eq!(past.check(), Err(DeadlineExceeded));
        assert!(!Deadline::after(Duration::from_secs(60)).expired());
    }

    #[test]
    fn pacer_reads_the_clock_every_so_many_steps() {
        let pacer = Deadline::at(Instant::now() - Duration::from_millis(1)).pacer();
        for _ in 1..Pacer::EVERY {
            assert!(pacer.tick().is_ok(), "no reading before EVERY steps");
        }
        assert_eq!(pacer.tick(), Err(DeadlineExceeded));
        let never = Deadline::NONE.pacer();
        for _ in 0..10 * Pacer::EVERY {
            assert!(never.tick().is_ok());
        }
    }
}
