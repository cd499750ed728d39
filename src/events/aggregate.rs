//! Aggregation and rate limiting of Events, kept free of I/O so that their bounds can be
//! tested with a clock in hand.
//!
//! The same occurrence repeated (one key: reason, constraint, involved object, message)
//! becomes one Event whose `count` grows: it is created on its first occurrence and then
//! patched at most once per [`Limits::key_interval`] while it keeps happening, never once per
//! occurrence. Every write, create or patch, takes a token from one global bucket, so a
//! burst of distinct keys cannot write faster than [`Limits::per_second`] either. Keys are
//! held in a table of bounded size: a key whose Event is written and older than
//! [`Limits::window`] is forgotten (its next occurrence starts a new Event, as Kubernetes
//! expires Events after an hour anyway), and when the table is full of keys not yet
//! written, new keys are dropped and counted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What makes two occurrences the same Event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Namespace the Event is written to.
    pub namespace: String,
    /// Event reason (`FailedAdmission`, `AuditViolation`, ...).
    pub reason: &'static str,
    /// `Kind/name` of the constraint.
    pub constraint: String,
    /// `kind/namespace/name/uid` of the involved object.
    pub involved: String,
    /// The Event's message.
    pub message: String,
}

/// Bounds of the aggregation and of the write rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Event writes per second, across every key (token bucket rate).
    pub per_second: f64,
    /// Writes allowed at once after a quiet spell (token bucket size).
    pub burst: u32,
    /// Least time between two writes of the same Event.
    pub key_interval: Duration,
    /// How long a key aggregates into the same Event.
    pub window: Duration,
    /// Keys held at most.
    pub max_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_second: 5.0,
            burst: 25,
            key_interval: Duration::from_secs(2),
            window: Duration::from_secs(600),
            max_keys: 4096,
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `size` held.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    size: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, size: u32, now: Instant) -> Self {
        let size = f64::from(size.max(1));
        TokenBucket {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                0.0
            },
            size,
            tokens: size,
            at: now,
        }
    }

    /// Take one token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.size);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One aggregated Event.
#[derive(Debug, Clone)]
struct Entry {
    /// The Event as first built (the body of its create).
    draft: Value,
    /// Occurrences so far.
    count: u64,
    /// `count` as last written; 0 before the Event exists.
    written: u64,
    /// The Event object's name once created.
    name: Option<String>,
    first_seen: Instant,
    last_seen: Instant,
    /// Wall-clock time of the last occurrence, as the Event's `lastTimestamp`.
    last_time: String,
    last_attempt: Option<Instant>,
}

impl Entry {
    fn dirty(&self) -> bool {
        self.count > self.written
    }
}

/// What to send to the API server for one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create the Event: the body, with `count` and `lastTimestamp` current.
    Create {
        /// The key it belongs to.
        key: Key,
        /// The Event object.
        body: Value,
    },
    /// Raise an existing Event's count.
    Patch {
        /// The key it belongs to.
        key: Key,
        /// The Event's name.
        name: String,
        /// `count`, `lastTimestamp` and `series`-free merge patch.
        patch: Value,
    },
}

/// What became of one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A key not held before.
    New,
    /// Counted into a held key.
    Aggregated,
    /// The table is full of keys not yet written: dropped.
    Dropped,
}

/// The table of aggregated Events and the write budget.
#[derive(Debug)]
pub struct Aggregator {
    limits: Limits,
    bucket: TokenBucket,
    entries: HashMap<Key, Entry>,
}

impl Aggregator {
    /// An empty table.
    pub fn new(limits: Limits, now: Instant) -> Self {
        Aggregator {
            limits,
            bucket: TokenBucket::new(limits.per_second, limits.burst, now),
            entries: HashMap::new(),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Count one occurrence; `draft` builds the Event for a new key (only called then).
    pub fn observe(
        &mut self,
        key: Key,
        now: Instant,
        time: &str,
        draft: impl FnOnce() -> Value,
    ) -> Observed {
        if let Some(entry) = self.entries.get_mut(&key) {
            if now.saturating_duration_since(entry.first_seen) < self.limits.window {
                entry.count += 1;
                entry.last_seen = now;
                entry.last_time = time.to_string();
                return Observed::Aggregated;
            }
            if entry.dirty() {
                // Not yet written past its window: keep counting into it rather than
                // losing the occurrences.
                entry.count += 1;
                entry.last_seen = now;
                entry.last_time = time.to_string();
                return Observed::Aggregated;
            }
            self.entries.remove(&key);
        }
        if self.entries.len() >= self.limits.max_keys && !self.evict(now) {
            return Observed::Dropped;
        }
        self.entries.insert(
            key,
            Entry {
                draft: draft(),
                count: 1,
                written: 0,
                name: None,
                first_seen: now,
                last_seen: now,
                last_time: time.to_string(),
                last_attempt: None,
            },
        );
        Observed::New
    }

    /// Make room for one key: forget expired written keys, else the written key seen
    /// longest ago. False when every key still waits to be written.
    fn evict(&mut self, now: Instant) -> bool {
        let window = self.limits.window;
        self.entries
            .retain(|_, e| e.dirty() || now.saturating_duration_since(e.first_seen) < window);
        if self.entries.len() < self.limits.max_keys {
            return true;
        }
        let oldest = self
            .entries
            .iter()
            .filter(|(_, e)| !e.dirty())
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                self.entries.remove(&k);
                true
            }
            None => false,
        }
    }

    /// The writes due now, as many as the bucket allows: new Events first (oldest first),
    /// then counts to raise on Events last written at least `key_interval` ago.
    pub fn due(&mut self, now: Instant) -> Vec<Write> {
        let interval = self.limits.key_interval;
        let mut ready: Vec<(&Key, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.dirty()
                    && e.last_attempt
                        .is_none_or(|at| now.saturating_duration_since(at) >= interval)
            })
            .collect();
        ready.sort_by_key(|(_, e)| (e.name.is_some(), e.first_seen));
        let mut out = Vec::new();
        let mut chosen = Vec::new();
        for (key, entry) in ready {
            if !self.bucket.take(now) {
                break;
            }
            chosen.push(key.clone());
            out.push(match &entry.name {
                None => {
                    let mut body = entry.draft.clone();
                    body["count"] = entry.count.into();
                    body["lastTimestamp"] = entry.last_time.clone().into();
                    Write::Create {
                        key: key.clone(),
                        body,
                    }
                }
                Some(name) => Write::Patch {
                    key: key.clone(),
                    name: name.clone(),
                    patch: serde_json::json!({
                        "count": entry.count,
                        "lastTimestamp": entry.last_time,
                    }),
                },
            });
        }
        for key in chosen {
            if let Some(e) = self.entries.get_mut(&key) {
                e.last_attempt = Some(now);
            }
        }
        out
    }

    /// A write succeeded: the Event `name` holds `count` occurrences.
    pub fn written(&mut self, key: &Key, name: &str, count: u64) {
        if let Some(e) = self.entries.get_mut(key) {
            e.name = Some(name.to_string());
            e.written = e.written.max(count);
        }
    }

    /// The Event is gone (expired or deleted): the next write creates it again.
    pub fn lost(&mut self, key: &Key) {
        if let Some(e) = self.entries.get_mut(key) {
            e.name = None;
            e.written = 0;
        }
    }

    /// Forget a key (its Event cannot be written at all).
    pub fn forget(&mut self, key: &Key) {
        self.entries.remove(key);
    }

    /// Keys whose occurrences are not all written.
    pub fn pending(&self) -> usize {
        self.entries.values().filter(|e| e.dirty()).count()
    }
}

/// The count a write carries.
pub fn count_of(write: &Write) -> u64 {
    let v = match write {
        Write::Create { body, .. } => &body["count"],
        Write::Patch { patch, .. } => &patch["count"],
    };
    v.as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(i: usize) -> Key {
        Key {
            namespace: "gk".into(),
            reason: "FailedAdmission",
            constraint: "K8sRequiredLabels/owner".into(),
            involved: format!("Pod/a/p{i}/"),
            message: "denied".into(),
        }
    }

    fn limits() -> Limits {
        Limits {
            per_second: 2.0,
            burst: 4,
            key_interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
            max_keys: 8,
        }
    }

    /// Apply every due write as if the API server accepted it.
    fn flush(agg: &mut Aggregator, now: Instant) -> Vec<Write> {
        let writes = agg.due(now);
        for w in &writes {
            match w {
                Write::Create { key, .. } => agg.written(key, "ev", count_of(w)),
                Write::Patch { key, name, .. } => agg.written(key, name, count_of(w)),
            }
        }
        writes
    }

    #[test]
    fn a_hot_loop_is_one_create_then_spaced_patches() {
        let t0 = Instant::now();
        let mut agg = Aggregator::new(limits(), t0);
        let mut writes = Vec::new();
        // 500 occurrences over 5 seconds, flushed every 100 ms.
        for i in 0..500u64 {
            let now = t0 + Duration::from_millis(i * 10);
            agg.observe(key(0), now, "t", || json!({"reason": "FailedAdmission"}));
            if i % 10 == 9 {
                writes.extend(flush(&mut agg, now));
            }
        }
        writes.extend(flush(&mut agg, t0 + Duration::from_secs(7)));
        assert!(matches!(writes[0], Write::Create { .. }), "{writes:?}");
        assert!(writes[1..].iter().all(|w| matches!(w, Write::Patch { .. })));
        // One write a second at most for the key: the create and about five patches.
        assert!(writes.len() <= 7, "{} writes", writes.len());
        assert_eq!(
            writes.last().map(count_of),
            Some(500),
            "every occurrence counted"
        );
        assert_eq!(agg.pending(), 0);
    }

    #[test]
    fn the_bucket_bounds_writes_of_distinct_keys() {
        let t0 = Instant::now();
        let mut agg = Aggregator::new(limits(), t0);
        for i in 0..8 {
            agg.observe(key(i), t0, "t", || json!({}));
        }
        // The burst first, then two a second.
        assert_eq!(flush(&mut agg, t0).len(), 4);
        assert_eq!(flush(&mut agg, t0 + Duration::from_millis(500)).len(), 1);
        assert_eq!(flush(&mut agg, t0 + Duration::from_millis(1500)).len(), 2);
        assert_eq!(flush(&mut agg, t0 + Duration::from_secs(10)).len(), 1);
        assert_eq!(agg.pending(), 0);
    }

    #[test]
    fn a_full_table_drops_new_keys_until_written_keys_can_go() {
        let t0 = Instant::now();
        let mut agg = Aggregator::new(limits(), t0);
        for i in 0..8 {
            assert_eq!(agg.observe(key(i), t0, "t", || json!({})), Observed::New);
        }
        assert_eq!(
            agg.observe(key(8), t0, "t", || json!({})),
            Observed::Dropped
        );
        assert_eq!(
            agg.observe(key(3), t0, "t", || json!({})),
            Observed::Aggregated
        );
        flush(&mut agg, t0);
        // Four are written now: the oldest written one makes room.
        assert_eq!(agg.observe(key(8), t0, "t", || json!({})), Observed::New);
        assert_eq!(agg.len(), 8);
    }

    #[test]
    fn after_its_window_a_key_starts_a_new_event() {
        let t0 = Instant::now();
        let mut agg = Aggregator::new(limits(), t0);
        agg.observe(key(0), t0, "t", || json!({}));
        flush(&mut agg, t0);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(agg.observe(key(0), later, "t", || json!({})), Observed::New);
        let writes = flush(&mut agg, later);
        assert!(
            matches!(&writes[..], [Write::Create { body, .. }] if body["count"] == 1),
            "{writes:?}"
        );
    }

    #[test]
    fn a_lost_event_is_created_again_with_its_count() {
        let t0 = Instant::now();
        let mut agg = Aggregator::new(limits(), t0);
        agg.observe(key(0), t0, "t", || json!({}));
        flush(&mut agg, t0);
        agg.observe(key(0), t0, "t2", || json!({}));
        agg.lost(&key(0));
        let writes = flush(&mut agg, t0 + Duration::from_secs(2));
        assert!(
            matches!(&writes[..], [Write::Create { body, .. }] if body["count"] == 2 && body["lastTimestamp"] == "t2"),
            "{writes:?}"
        );
    }

    #[test]
    fn a_zero_rate_bucket_gives_its_burst_and_then_nothing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 2, t0);
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0 + Duration::from_secs(3600)));
    }
}
