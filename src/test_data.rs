//! Where the tests find Gatekeeper's conformance corpus: `../shared/conformance` beside the
//! crate, or the directory named by `PORTCULLIS_CONFORMANCE`.
//!
//! A test whose data is missing must not pass by skipping: [`conformance`] panics, naming
//! the places it looked, unless `PORTCULLIS_SKIP_CONFORMANCE=1` says that skipping is meant
//! (a checkout without the corpus beside it). CI never sets it.

use std::path::PathBuf;

/// The conformance corpus root (holding `gatekeeper-library/`), or `None` when the caller
/// asked to skip with `PORTCULLIS_SKIP_CONFORMANCE=1`.
///
/// # Panics
/// When the corpus is missing and skipping was not asked for.
pub fn conformance() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("PORTCULLIS_CONFORMANCE")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")])
        .collect();
    if let Some(found) = candidates
        .iter()
        .find(|p| p.join("gatekeeper-library").is_dir())
    {
        return Some(found.clone());
    }
    if std::env::var("PORTCULLIS_SKIP_CONFORMANCE").as_deref() == Ok("1") {
        eprintln!("skipping: PORTCULLIS_SKIP_CONFORMANCE=1 and no conformance corpus found");
        return None;
    }
    panic!(
        "the conformance corpus is missing (looked in {candidates:?}); put shared/conformance \
         beside the crate, point PORTCULLIS_CONFORMANCE at it, or set \
         PORTCULLIS_SKIP_CONFORMANCE=1 to skip the tests that need it"
    )
}

/// `gatekeeper-library/library` of the corpus (see [`conformance`]).
pub fn library() -> Option<PathBuf> {
    conformance().map(|c| c.join("gatekeeper-library/library"))
}
