//! The set's limits: a mutation whose patch would pass them is refused early with an error
//! naming the mutator and the limit, which counts as exhaustion; patches within them are
//! exactly what they were without limits.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::memory_tests::example_mutators;
use super::test_support::assign;
use super::{MutationError, MutationLimits, MutationOutcome, Mutator, MutatorSet, PatchLimit};
use crate::deadline::Deadline;
use crate::review::Review;

fn limits(max_patch_operations: usize, max_patch_bytes: usize) -> MutationLimits {
    MutationLimits {
        max_patch_operations,
        max_patch_bytes,
    }
}

const NONE: MutationLimits = MutationLimits {
    max_patch_operations: usize::MAX,
    max_patch_bytes: usize::MAX,
};

fn pod(containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": containers}})
}

fn named(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:1.27"}))
        .collect()
}

fn run(
    mutators: Vec<Mutator>,
    object: Value,
    limits: MutationLimits,
) -> Result<MutationOutcome, MutationError> {
    let set = MutatorSet::new(mutators)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_limits(limits);
    set.mutate_with(&Review::from_object(object), &|m, r| m.applies_to(r))
}

fn set_field(name: &str, field: &str) -> Mutator {
    assign(
        name,
        &format!("spec.containers[name: *].{field}"),
        "    assign:\n      value: v",
    )
}

#[test]
fn a_mutator_changing_too_many_places_is_stopped_naming_it() {
    let err = match run(
        vec![set_field("x", "a")],
        pod(named(101)),
        limits(100, 1 << 20),
    ) {
        Err(e) => e,
        Ok(o) => panic!("accepted a patch of {} operations", o.patch.0.len()),
    };
    assert!(err.is_exhaustion(), "{err}");
    match &err {
        MutationError::LimitExceeded {
            mutator,
            limit,
            max,
        } => {
            assert_eq!(
                (mutator.as_str(), *limit, *max),
                ("Assign/x", PatchLimit::Changes, 100)
            );
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("Assign/x") && text.contains("max_patch_operations = 100"),
        "{text}"
    );
    // At the limit it passes.
    let ok = run(
        vec![set_field("x", "a")],
        pod(named(100)),
        limits(100, 1 << 20),
    );
    assert_eq!(ok.map(|o| o.patch.0.len()).ok(), Some(100));
}

#[test]
fn the_patch_of_several_mutators_is_held_to_the_operation_limit() {
    // Each mutator changes 60 places (under the limit); together they need 120 operations.
    let err = run(
        vec![set_field("a", "a"), set_field("b", "b")],
        pod(named(60)),
        limits(100, 1 << 20),
    );
    match err {
        Err(MutationError::LimitExceeded { limit, max, .. }) => {
            assert_eq!((limit, max), (PatchLimit::Operations, 100));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_patch_is_held_to_the_byte_limit() {
    let mutators = || vec![set_field("a", "a")];
    let whole = run(mutators(), pod(named(20)), NONE).unwrap_or_else(|e| panic!("{e}"));
    let size = serde_json::to_vec(&whole.patch).map_or(0, |b| b.len());
    let exact = run(mutators(), pod(named(20)), limits(1_000, size));
    assert_eq!(exact.map(|o| o.patch).ok(), Some(whole.patch));
    match run(mutators(), pod(named(20)), limits(1_000, size - 1)) {
        Err(e @ MutationError::LimitExceeded { .. }) => {
            assert!(e.is_exhaustion());
            let text = e.to_string();
            assert!(
                text.contains("Assign/a")
                    && text.contains(&format!("max_patch_bytes = {}", size - 1)),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_large_value_written_in_many_places_is_stopped_before_the_object_grows() {
    // 2 KB written into each of 100 containers: 100 changes (under the limit of 1,000)
    // but 200 KB, over a byte limit of 64 KB, caught by the walk, not by the diff.
    let big = format!("    assign:\n      value: {}", "x".repeat(2_000));
    let m = || assign("big", "spec.containers[name: *].blob", &big);
    let Err(err) = run(vec![m()], pod(named(100)), limits(1_000, 64 * 1024)) else {
        panic!("a 200 KB write passed a 64 KB limit");
    };
    assert!(err.is_exhaustion());
    assert!(err.to_string().contains("max_patch_bytes = 65536"), "{err}");
    match err {
        MutationError::LimitExceeded {
            mutator,
            limit,
            max,
        } => assert_eq!(
            (mutator.as_str(), limit, max),
            ("Assign/big", PatchLimit::Written, 65_536)
        ),
        other => panic!("{other:?}"),
    }
    // Under the byte limit the same mutator passes.
    assert!(run(vec![m()], pod(named(20)), limits(1_000, 64 * 1024)).is_ok());
}

#[test]
fn an_expired_deadline_stops_the_mutation() {
    let set = MutatorSet::new(vec![set_field("x", "a")]).unwrap_or_else(|e| panic!("{e}"));
    let past = Deadline::at(Instant::now() - Duration::from_millis(1));
    let review = Review::from_object(pod(named(10)));
    let namespaces = std::collections::BTreeMap::new();
    match set.mutate_within(&review, &namespaces, past) {
        Err(e @ MutationError::DeadlineExceeded { .. }) => assert!(e.is_exhaustion()),
        other => panic!("{other:?}"),
    }
}

/// The repository's example mutators on realistic Pods: the same patch (and object) with
/// the default limits as with none, equal to `json_patch`'s whole diff, and far below the
/// operation limit. Prints the operation counts the default's documentation cites.
#[test]
fn realistic_patches_are_unchanged_by_the_limits() {
    for n in [1, 10, 100] {
        let object = pod(named(n));
        let bounded = run(example_mutators(), object.clone(), MutationLimits::DEFAULT)
            .unwrap_or_else(|e| panic!("{e}"));
        let free = run(example_mutators(), object.clone(), NONE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bounded.patch, free.patch);
        assert_eq!(bounded.object, free.object);
        assert_eq!(bounded.patch, json_patch::diff(&object, &bounded.object));
        let ops = bounded.patch.0.len();
        let bytes = serde_json::to_vec(&bounded.patch).map_or(0, |b| b.len());
        println!("example mutators, {n} containers: {ops} operations, {bytes} bytes");
        assert!(ops <= 3 * n + 10, "{n} containers: {ops} operations");
    }
}

/// 100,000 empty containers (a 400 KB request) used to yield a 30 MB patch; now the first
/// mutator to pass the limit stops the mutation, long before a patch exists.
#[test]
fn a_pod_of_100k_empty_containers_is_refused_quickly() {
    let containers: Vec<Value> = (0..100_000).map(|_| json!({})).collect();
    let start = Instant::now();
    let result = run(example_mutators(), pod(containers), MutationLimits::DEFAULT);
    let took = start.elapsed();
    match result {
        Err(MutationError::LimitExceeded { limit, max, .. }) => {
            assert_eq!((limit, max), (PatchLimit::Changes, 10_000));
        }
        other => panic!("{:?}", other.map(|o| o.patch.0.len())),
    }
    println!("100k empty containers refused in {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
