//! One round of a Lease election, free of I/O and of clocks: what this candidate saw of the
//! Lease and when, and what it should write next.
//!
//! The rules are those of Kubernetes' own leader election (client-go), so portcullis
//! replicas share a Lease the way every controller does:
//!
//! - A Lease held by another is free only once it has not changed for its
//!   `leaseDurationSeconds`, counted on *this* candidate's monotonic clock from when it saw
//!   the last change, never by comparing the holder's `renewTime` with the local wall
//!   clock: the nodes' clocks may disagree, the passage of time on one node does not.
//! - A Lease without a holder (released on graceful shutdown) is free at once.
//! - Taking a Lease from another holder (or an empty one) counts one `leaseTransitions`
//!   and sets `acquireTime`; renewing one's own keeps both and moves `renewTime`.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

/// What this candidate last saw of the Lease, and the local time it first saw it so.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    spec: Option<LeaseSpec>,
    at: Option<Instant>,
}

impl Observation {
    /// Record the Lease as read at `now`; the clock restarts only when the record changed
    /// (a holder that stopped renewing leaves it unchanged, and its time runs out).
    pub fn observe(&mut self, spec: &LeaseSpec, now: Instant) {
        if self.spec.as_ref() != Some(spec) {
            self.spec = Some(spec.clone());
            self.at = Some(now);
        }
    }

    /// Forget what was seen (the Lease is gone).
    pub fn clear(&mut self) {
        *self = Observation::default();
    }

    /// The holder last seen, if any.
    pub fn holder(&self) -> Option<&str> {
        self.spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            .filter(|h| !h.is_empty())
    }
}

/// What one round decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Round {
    /// Another candidate holds a Lease that has not expired: wait.
    Follow {
        /// Its identity.
        holder: String,
    },
    /// Write this record (create it when none was seen, else replace the one seen): it
    /// acquires a free Lease or renews this candidate's own.
    Take(LeaseSpec),
}

/// Decide a round for candidate `me`, offering leases of `duration`, at monotonic `now`
/// and wall-clock `wall` (which only goes into the record, never into the decision).
pub fn round(
    seen: &Observation,
    me: &str,
    duration: Duration,
    now: Instant,
    wall: Timestamp,
) -> Round {
    if let (Some(holder), Some(spec), Some(at)) = (seen.holder(), &seen.spec, seen.at) {
        if holder != me {
            let lease = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(duration, Duration::from_secs);
            if now < at + lease {
                return Round::Follow {
                    holder: holder.to_string(),
                };
            }
        }
    }
    Round::Take(take(seen, me, duration, wall))
}

/// The record that makes `me` the holder.
fn take(seen: &Observation, me: &str, duration: Duration, wall: Timestamp) -> LeaseSpec {
    let mut spec = seen.spec.clone().unwrap_or_default();
    let renewing = seen.holder() == Some(me);
    let existed = seen.spec.is_some();
    spec.holder_identity = Some(me.to_string());
    spec.lease_duration_seconds = Some(seconds(duration));
    spec.renew_time = Some(MicroTime(wall));
    if !renewing || spec.acquire_time.is_none() {
        spec.acquire_time = Some(MicroTime(wall));
    }
    let transitions = spec.lease_transitions.unwrap_or(0);
    spec.lease_transitions = Some(if renewing || !existed {
        transitions
    } else {
        transitions.saturating_add(1)
    });
    spec
}

/// The record a holder leaves on graceful shutdown: no holder, a one-second duration, so
/// that the next candidate takes it on its next round instead of waiting a whole lease.
pub fn released(seen: &LeaseSpec, wall: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        renew_time: Some(MicroTime(wall)),
        acquire_time: Some(MicroTime(wall)),
        lease_transitions: seen.lease_transitions,
        ..seen.clone()
    }
}

/// Whole seconds of a lease, at least one (the API field is an int32 of seconds).
pub fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(15);

    fn wall(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn held_by(holder: &str, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(wall(0))),
            renew_time: Some(MicroTime(wall(0))),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn taken(r: Round) -> LeaseSpec {
        match r {
            Round::Take(spec) => spec,
            other => panic!("expected to take the lease, got {other:?}"),
        }
    }

    #[test]
    fn no_lease_is_created_with_no_transition() {
        let spec = taken(round(
            &Observation::default(),
            "a",
            LEASE,
            Instant::now(),
            wall(5),
        ));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.acquire_time, Some(MicroTime(wall(5))));
        assert_eq!(spec.renew_time, Some(MicroTime(wall(5))));
    }

    #[test]
    fn another_holders_lease_is_respected_until_unchanged_for_its_duration() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        seen.observe(&held_by("b", 3), t0);
        let follow = Round::Follow { holder: "b".into() };
        assert_eq!(round(&seen, "a", LEASE, t0, wall(0)), follow);
        // Seeing the same record again does not restart the clock.
        seen.observe(&held_by("b", 3), t0 + Duration::from_secs(10));
        assert_eq!(
            round(&seen, "a", LEASE, t0 + Duration::from_secs(14), wall(14)),
            follow
        );
        let spec = taken(round(
            &seen,
            "a",
            LEASE,
            t0 + Duration::from_secs(15),
            wall(15),
        ));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(4), "a change of holder counts");
        assert_eq!(spec.acquire_time, Some(MicroTime(wall(15))));
    }

    #[test]
    fn a_renewed_lease_restarts_the_clock() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        seen.observe(&held_by("b", 0), t0);
        let mut renewed = held_by("b", 0);
        renewed.renew_time = Some(MicroTime(wall(10)));
        seen.observe(&renewed, t0 + Duration::from_secs(10));
        assert!(matches!(
            round(&seen, "a", LEASE, t0 + Duration::from_secs(20), wall(20)),
            Round::Follow { .. }
        ));
    }

    #[test]
    fn the_holders_own_duration_counts_not_the_candidates() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        let mut long = held_by("b", 0);
        long.lease_duration_seconds = Some(60);
        seen.observe(&long, t0);
        assert!(matches!(
            round(&seen, "a", LEASE, t0 + Duration::from_secs(30), wall(30)),
            Round::Follow { .. }
        ));
    }

    #[test]
    fn renewing_keeps_acquire_time_and_transitions() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        seen.observe(&held_by("a", 2), t0);
        let spec = taken(round(
            &seen,
            "a",
            LEASE,
            t0 + Duration::from_secs(2),
            wall(2),
        ));
        assert_eq!(spec.acquire_time, Some(MicroTime(wall(0))));
        assert_eq!(spec.renew_time, Some(MicroTime(wall(2))));
        assert_eq!(spec.lease_transitions, Some(2));
    }

    #[test]
    fn a_released_lease_is_free_at_once() {
        let t0 = Instant::now();
        let mut seen = Observation::default();
        let free = released(&held_by("b", 1), wall(3));
        assert_eq!(free.holder_identity, None);
        assert_eq!(free.lease_duration_seconds, Some(1));
        seen.observe(&free, t0);
        let spec = taken(round(&seen, "a", LEASE, t0, wall(3)));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(2));
    }

    #[test]
    fn the_record_serializes_micro_times() {
        let spec = taken(round(
            &Observation::default(),
            "a",
            LEASE,
            Instant::now(),
            Timestamp::from_microsecond(1_700_000_000_123_456).unwrap(),
        ));
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["renewTime"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(json["holderIdentity"], "a");
    }
}
