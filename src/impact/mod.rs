//! Policy impact preview: what a policy change would do to real traffic before it serves.
//!
//! Three parts share one record format and one comparison:
//! - [`recorder`]: `serve --record DIR` writes the reviews the webhook judges (sampled,
//!   every denial kept), redacted ([`redact`]) before they reach disk, to size-bounded
//!   rotating files, without ever delaying or failing an admission;
//! - [`replay`]: `portcullis replay` judges recorded reviews with a candidate policy set,
//!   through the same decision code the webhook runs, and reports what would change;
//! - [`shadow`]: `serve --shadow-policies DIR` judges live traffic with a second policy set
//!   after the real answer is made, and counts where it would answer differently.
//!
//! [`diff`] compares two answers to one review; all three report through it, so that a
//! shadow disagreement and a replayed change mean the same thing.

#![deny(clippy::indexing_slicing)]

pub mod diff;
pub mod record;
pub mod recorder;
pub mod redact;
pub mod replay;
pub mod shadow;

use crate::admission::Decision;
use crate::review::Review;

pub use record::{Endpoint, RecordedDecision};

/// What the webhook hands over once it has answered a review: the recorder and the shadow
/// evaluator, each present when its flag is given. Every method returns at once.
#[derive(Debug, Default)]
pub struct Tap {
    /// `--record DIR`.
    pub recorder: Option<recorder::Recorder>,
    /// `--shadow-policies DIR`, or cluster mode's shadow-labelled objects.
    pub shadow: Option<shadow::Shadow>,
}

impl Tap {
    /// Hand over a judged review, on the evaluation thread, after its answer is made: a
    /// sampled or denied review goes to the recorder's queue, and every review to the
    /// shadow evaluator (which takes it only when it has a free slot).
    pub fn observe(
        &self,
        endpoint: Endpoint,
        review: Review,
        decision: &Decision,
        mutators: &[String],
    ) {
        let recorder = self
            .recorder
            .as_ref()
            .filter(|r| r.wants(&review.uid, decision.allowed));
        let shadow = self.shadow.as_ref().filter(|s| s.wants());
        if recorder.is_none() && shadow.is_none() {
            return;
        }
        let answered = RecordedDecision::new(decision, mutators);
        if let Some(recorder) = recorder {
            recorder.offer(endpoint, review.request.clone(), answered.clone());
        }
        if let Some(shadow) = shadow {
            shadow.offer(endpoint, review, answered);
        }
    }
}
