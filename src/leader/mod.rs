//! Leader election on a `coordination.k8s.io/v1` Lease, for the work that must run once
//! per cluster (audit sweeps and other cluster-wide writers) while every replica serves
//! admission requests.
//!
//! Each replica runs an [`Elector`]: it reads the Lease every retry period and writes it
//! with the resourceVersion it read (optimistic concurrency: of two candidates writing the
//! same version, the API server accepts one and answers the other 409 Conflict; of two
//! creating a missing Lease, one gets 409 AlreadyExists). The holder renews every retry
//! period; one that has not renewed for the renew deadline, shorter than the lease, steps
//! down before any other candidate may consider the Lease expired, so two replicas never
//! lead at once. Leadership is published as a [`Leadership`] handle; [`while_leading`]
//! runs a task only while it holds. On graceful shutdown the holder releases the Lease
//! (no holder, one-second duration), and the next replica takes over on its next round.

pub mod record;

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use tokio::sync::{oneshot, watch};

use crate::metrics::{LeaseLabels, Metrics};
use record::{Observation, Round};

/// client-go's default lease duration.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default renew deadline.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default retry period.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// The chart's Lease name, and `serve`'s default.
pub const DEFAULT_LEASE_NAME: &str = "portcullis-leader";

/// client-go's jitter factor: the renew deadline must exceed this many retry periods.
const JITTER: f64 = 1.2;

/// Errors of configuring an election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The durations cannot give one leader at a time.
    #[error("leader election: {0}")]
    Timing(String),
    /// No identity: the Lease holder must name this replica.
    #[error("leader election needs this replica's identity (--pod-name or POD_NAME)")]
    NoIdentity,
}

/// Settings of an election.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the server's).
    pub namespace: String,
    /// This replica's identity, written as `holderIdentity`: its Pod name.
    pub identity: String,
    /// How long a Lease that stopped changing keeps others waiting.
    pub lease_duration: Duration,
    /// How long the holder keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Time between rounds.
    pub retry_period: Duration,
}

impl LeaseOptions {
    /// Options with client-go's default timing.
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        LeaseOptions {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Refuse timing that could give two leaders (the checks client-go makes).
    ///
    /// # Errors
    /// What is wrong.
    pub fn validate(&self) -> Result<(), LeaderError> {
        if self.identity.is_empty() {
            return Err(LeaderError::NoIdentity);
        }
        if self.retry_period.is_zero() {
            return Err(LeaderError::Timing(
                "the retry period must be more than 0".into(),
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(LeaderError::Timing(
                "the lease duration must be longer than the renew deadline".into(),
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER * self.retry_period.as_secs_f64() {
            return Err(LeaderError::Timing(format!(
                "the renew deadline must be longer than {JITTER} retry periods"
            )));
        }
        if self.lease_duration.as_secs() < 1 {
            return Err(LeaderError::Timing(
                "the lease duration must be at least one second".into(),
            ));
        }
        Ok(())
    }
}

/// Whether this replica leads, as the elector last decided. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<bool>);

impl Leadership {
    /// Leadership that always holds: for a single replica, or with election turned off.
    pub fn always() -> Self {
        Leadership(watch::channel(true).1)
    }

    /// Leadership decided elsewhere: it holds while `rx` says `true` (a test's switch, or
    /// another way of electing).
    pub fn following(rx: watch::Receiver<bool>) -> Self {
        Leadership(rx)
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.0.borrow()
    }

    /// Wait until this replica leads (at once if it does). Never returns if it never will.
    pub async fn leading(&mut self) {
        self.wait_for(true).await;
    }

    /// Wait until this replica stops leading (at once if it does not lead).
    pub async fn lost(&mut self) {
        self.wait_for(false).await;
    }

    async fn wait_for(&mut self, wanted: bool) {
        // With the sender gone, the last value is final (the elector sends `false` before
        // it goes): wait forever for a state that cannot come.
        if self.0.wait_for(|v| *v == wanted).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The elector's side of [`Leadership`]: publishes changes (and the `portcullis_leader`
/// gauge) and says `false` when dropped, so that an elector stopped in any way, even
/// aborted, never leaves its replica believing it leads.
struct Publisher {
    tx: watch::Sender<bool>,
    metrics: Option<Arc<Metrics>>,
    lease: String,
}

impl Publisher {
    fn set(&self, leading: bool) {
        self.tx
            .send_if_modified(|v| std::mem::replace(v, leading) != leading);
        if let Some(m) = &self.metrics {
            m.leader
                .get_or_create(&LeaseLabels {
                    lease: self.lease.clone(),
                })
                .set(i64::from(leading));
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// The running elector. Dropping it stops the election abruptly (as a crash would: the
/// Lease is left to expire); [`release`](Self::release) hands it over at once.
#[derive(Debug)]
pub struct ElectorHandle {
    task: tokio::task::JoinHandle<()>,
    release: Option<oneshot::Sender<()>>,
}

impl ElectorHandle {
    /// Stop leading and release the Lease if held, so another replica takes over on its
    /// next round; waits at most `timeout` for the release to be written.
    pub async fn release(mut self, timeout: Duration) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
        let task = &mut self.task;
        if tokio::time::timeout(timeout, task).await.is_err() {
            tracing::warn!("leader election: lease release did not finish in time");
        }
    }
}

impl Drop for ElectorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one round found.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// This replica holds the Lease (acquired or renewed).
    Held,
    /// Another replica holds it.
    Other(String),
    /// Another write came first (409); read again.
    Raced,
}

/// One replica's candidacy for a Lease.
pub struct Elector {
    api: Api<Lease>,
    options: LeaseOptions,
    metrics: Option<Arc<Metrics>>,
    seen: Observation,
    /// The Lease as last read or written (its resourceVersion is the next write's
    /// precondition).
    last: Option<Lease>,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Elector {
    /// A candidate for `options`' Lease through `client`.
    ///
    /// # Errors
    /// Timing that could give two leaders, or no identity.
    pub fn new(
        client: kube::Client,
        options: LeaseOptions,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, LeaderError> {
        options.validate()?;
        Ok(Elector {
            api: Api::namespaced(client, &options.namespace),
            options,
            metrics,
            seen: Observation::default(),
            last: None,
        })
    }

    /// Start the election; leadership is published on the returned handle.
    pub fn spawn(self) -> (Leadership, ElectorHandle) {
        let (tx, rx) = watch::channel(false);
        let publisher = Publisher {
            tx,
            metrics: self.metrics.clone(),
            lease: self.options.name.clone(),
        };
        publisher.set(false);
        let (release_tx, release_rx) = oneshot::channel();
        let task = tokio::spawn(self.run(publisher, release_rx));
        (
            Leadership(rx),
            ElectorHandle {
                task,
                release: Some(release_tx),
            },
        )
    }

    async fn run(mut self, publisher: Publisher, mut release: oneshot::Receiver<()>) {
        let o = self.options.clone();
        loop {
            // Candidate: a round every retry period (jittered, so candidates spread out).
            let mut acquired;
            loop {
                acquired = Instant::now();
                let attempt = tokio::time::timeout(o.retry_period, self.round());
                let outcome = tokio::select! {
                    _ = &mut release => return,
                    r = attempt => r,
                };
                match outcome {
                    Ok(Ok(Outcome::Held)) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(lease = %o.name, error = %e, "leader election: cannot read or write the lease")
                    }
                    Err(_) => {
                        tracing::warn!(lease = %o.name, "leader election: lease request timed out")
                    }
                }
                tokio::select! {
                    _ = &mut release => return,
                    _ = tokio::time::sleep(jittered(o.retry_period)) => {}
                }
            }
            publisher.set(true);
            tracing::info!(lease = %o.name, identity = %o.identity, "leader election: leading");
            // Counted from when the winning round began, not from when it ended.
            let mut renewed = acquired;
            // Leader: renew every retry period; step down once the renew deadline passes
            // without a renewal, or at once when another holds the Lease.
            let released = loop {
                tokio::select! {
                    _ = &mut release => break true,
                    _ = tokio::time::sleep(o.retry_period) => {}
                }
                let deadline = tokio::time::Instant::from_std(renewed + o.renew_deadline);
                let started = Instant::now();
                let outcome = tokio::select! {
                    _ = &mut release => break true,
                    r = tokio::time::timeout_at(deadline, self.round()) => r,
                };
                match outcome {
                    Ok(Ok(Outcome::Held)) => renewed = started,
                    Ok(Ok(Outcome::Other(holder))) => {
                        tracing::warn!(lease = %o.name, %holder, "leader election: another replica holds the lease");
                        break false;
                    }
                    Ok(Ok(Outcome::Raced)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(lease = %o.name, error = %e, "leader election: cannot renew the lease")
                    }
                    Err(_) => {}
                }
                if Instant::now() >= renewed + o.renew_deadline {
                    tracing::warn!(lease = %o.name, "leader election: renew deadline passed");
                    break false;
                }
            };
            publisher.set(false);
            if released {
                self.release().await;
                return;
            }
            tracing::warn!(lease = %o.name, "leader election: stopped leading");
        }
    }

    /// Read the Lease and act on it once.
    async fn round(&mut self) -> Result<Outcome, kube::Error> {
        let o = &self.options;
        let current = match self.api.get(&o.name).await {
            Ok(lease) => Some(lease),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        match &current {
            Some(lease) => self
                .seen
                .observe(&lease.spec.clone().unwrap_or_default(), now),
            None => self.seen.clear(),
        }
        let spec = match record::round(
            &self.seen,
            &o.identity,
            o.lease_duration,
            now,
            Timestamp::now(),
        ) {
            Round::Follow { holder } => return Ok(Outcome::Other(holder)),
            Round::Take(spec) => spec,
        };
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(o.name.clone()),
                        namespace: Some(o.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api
                    .replace(&o.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(lease) => {
                self.seen
                    .observe(&lease.spec.clone().unwrap_or_default(), Instant::now());
                self.last = Some(lease);
                Ok(Outcome::Held)
            }
            Err(e) if is_conflict(&e) => Ok(Outcome::Raced),
            Err(e) => Err(e),
        }
    }

    /// Leave the Lease without a holder, if this replica still holds the version it last
    /// wrote (a stale release is refused with 409 and changes nothing).
    async fn release(&mut self) {
        let Some(mut lease) = self.last.take() else {
            return;
        };
        let Some(spec) = &lease.spec else { return };
        if spec.holder_identity.as_deref() != Some(self.options.identity.as_str()) {
            return;
        }
        lease.spec = Some(record::released(spec, Timestamp::now()));
        match self
            .api
            .replace(&self.options.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.options.name, "leader election: lease released"),
            Err(e) => {
                tracing::warn!(lease = %self.options.name, error = %e, "leader election: cannot release the lease; it expires instead")
            }
        }
    }
}

/// A retry period stretched by up to client-go's jitter factor.
fn jittered(period: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    // A fraction in [0, 1) from the per-process random hasher state.
    let fraction = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    period.mul_f64(1.0 + JITTER * fraction)
}

/// Run the task `start` makes while `leadership` holds: started when this replica becomes
/// leader, aborted as soon as it stops, started anew when it leads again. The returned
/// task (abort it to stop) never ends on its own.
pub fn while_leading<F>(mut leadership: Leadership, mut start: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> tokio::task::JoinHandle<()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            leadership.leading().await;
            let work = AbortOnDrop(start());
            leadership.lost().await;
            drop(work);
        }
    })
}

/// A task aborted when this guard goes, so leader work never outlives leadership.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_go_defaults_are_valid_and_unsafe_timing_is_refused() {
        let ok = LeaseOptions::new("l", "ns", "pod-a");
        ok.validate().unwrap();
        let mut bad = ok.clone();
        bad.renew_deadline = bad.lease_duration;
        assert!(bad.validate().is_err());
        let mut bad = ok.clone();
        bad.retry_period = Duration::from_secs(9);
        assert!(bad.validate().is_err(), "deadline must exceed 1.2 retries");
        let mut bad = ok;
        bad.identity.clear();
        assert!(matches!(bad.validate(), Err(LeaderError::NoIdentity)));
    }

    #[test]
    fn jitter_stays_within_the_factor() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(2));
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(4400));
        }
    }

    #[tokio::test]
    async fn while_leading_starts_and_stops_with_leadership() {
        let (tx, rx) = watch::channel(false);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, s) = (running.clone(), started.clone());
        let _gate = while_leading(Leadership(rx), move || {
            let r = r.clone();
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                struct Count(Arc<std::sync::atomic::AtomicUsize>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _c = Count(r);
                std::future::pending::<()>().await;
            })
        });
        let load =
            |a: &Arc<std::sync::atomic::AtomicUsize>| a.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(load(&started), 0, "not leading: nothing runs");
        tx.send_replace(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((load(&started), load(&running)), (1, 1));
        tx.send_replace(false);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(load(&running), 0, "leadership lost: the work stops");
        tx.send_replace(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((load(&started), load(&running)), (2, 1));
    }

    #[tokio::test]
    async fn always_leads_and_never_loses() {
        let mut l = Leadership::always();
        assert!(l.is_leader());
        tokio::time::timeout(Duration::from_millis(100), l.leading())
            .await
            .expect("at once");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), l.lost())
                .await
                .is_err(),
            "never loses"
        );
    }

    #[tokio::test]
    async fn a_dropped_publisher_says_not_leading() {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = watch::channel(false);
        let leadership = Leadership(rx);
        let publisher = Publisher {
            tx,
            metrics: Some(metrics.clone()),
            lease: "l".into(),
        };
        publisher.set(true);
        assert!(leadership.is_leader());
        assert!(metrics
            .encode()
            .contains("portcullis_leader{lease=\"l\"} 1"));
        drop(publisher);
        assert!(!leadership.is_leader());
        assert!(metrics
            .encode()
            .contains("portcullis_leader{lease=\"l\"} 0"));
    }
}
