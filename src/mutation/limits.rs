//! How big a mutation may get before it is refused.
//!
//! The patch of a mutation grows with the object: a glob location (`spec.containers[name:
//! *]...`) writes once per element, so a Pod of 100,000 empty containers (a 400 KB request)
//! made the example mutators write a 30 MB patch after 2.6–3.5 s and raise the server's
//! peak memory by about 900 MiB. No API server would apply such a patch, so building it is
//! pure cost. The limits below are counted while the mutators write and while the patch is
//! built, and the work stops as soon as one is passed, with
//! [`MutationError::LimitExceeded`](super::MutationError::LimitExceeded) naming the mutator
//! and the limit. That error counts as exhaustion
//! ([`MutationError::is_exhaustion`](super::MutationError::is_exhaustion)), so the server
//! answers as the webhook's failure policy says, as it would had the webhook timed out.

use std::fmt;

/// The bounds on one mutation's JSON Patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutationLimits {
    /// Most operations one patch may hold. Also bounds the changes one mutator may make in
    /// one pass over the object: each change to an element of a list the object brought
    /// lands in a distinct place and needs an operation of its own (unless a later change
    /// undoes it), so a mutator changing more places than this cannot lead to an
    /// acceptable patch, and stopping it early keeps the object from growing first.
    pub max_patch_operations: usize,
    /// Most bytes the patch may take as JSON (before the base64 of the response, which adds
    /// a third). Also bounds the bytes one mutator may write into the object in one pass
    /// (each change counted as its field name and value): what a change writes and keeps
    /// ends up in the patch, inside an operation of its own or of a parent created in the
    /// same mutation, so a large value assigned in many places is stopped before the object
    /// has grown by all of them.
    pub max_patch_bytes: usize,
}

impl MutationLimits {
    /// 10,000 operations: the API server itself refuses a JSON Patch request of more
    /// operations than that, so no legitimate client of Kubernetes relies on more. The
    /// library's mutators produce one to three operations per container and a few per
    /// Pod; all nine of the repository's example mutators applied together give 8
    /// operations (1.2 KB) on a one-container Pod, 35 on ten containers and 305 (33 KB)
    /// on a hundred (measured in `limits_tests`), so even a Pod of a thousand containers,
    /// far beyond real workloads, stays under a third of the limit. At about 110 bytes
    /// an operation, the limit also keeps the patch near 1 MB.
    ///
    /// 3 MiB of patch: the API server refuses request bodies over 3 MiB and etcd stores
    /// objects of at most 1.5 MiB by default, so a patch larger than the largest request
    /// the API server accepts cannot describe a change to an object it could store.
    pub const DEFAULT: MutationLimits = MutationLimits {
        max_patch_operations: 10_000,
        max_patch_bytes: 3 * 1024 * 1024,
    };
}

impl Default for MutationLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which limit of [`MutationLimits`] a mutation passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchLimit {
    /// The patch needs more than `max_patch_operations` operations.
    Operations,
    /// The patch needs more than `max_patch_bytes` bytes.
    Bytes,
    /// One mutator changed more places in one pass than `max_patch_operations`.
    Changes,
    /// One mutator wrote more bytes into the object in one pass than `max_patch_bytes`.
    Written,
}

impl PatchLimit {
    /// The sentence of an error: what exceeded which limit.
    pub(crate) fn describe(self, mutator: &str, max: usize) -> String {
        match self {
            PatchLimit::Operations => format!(
                "the patch written for mutator {mutator} (and any before it) needs more than \
                 {max} operations; the limit is max_patch_operations = {max}"
            ),
            PatchLimit::Bytes => format!(
                "the patch written for mutator {mutator} (and any before it) needs more than \
                 {max} bytes; the limit is max_patch_bytes = {max}"
            ),
            PatchLimit::Changes => format!(
                "mutator {mutator} changes more than {max} places of the object, more than a \
                 patch may carry; the limit is max_patch_operations = {max}"
            ),
            PatchLimit::Written => format!(
                "mutator {mutator} writes more than {max} bytes into the object, more than a \
                 patch may carry; the limit is max_patch_bytes = {max}"
            ),
        }
    }
}

impl fmt::Display for PatchLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchLimit::Operations => "max_patch_operations",
            PatchLimit::Bytes => "max_patch_bytes",
            PatchLimit::Changes => "max_patch_operations (changes per mutator)",
            PatchLimit::Written => "max_patch_bytes (bytes written per mutator)",
        })
    }
}
