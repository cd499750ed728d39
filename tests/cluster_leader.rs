//! Leader election over the fake API server: replicas contend for one Lease, exactly one
//! leads and audits at any time, a killed leader is replaced once its lease runs out, and a
//! released lease is taken over at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::labels_cluster;
use common::fake_apiserver::{FakeApiServer, Kind};
use common::metric_value;
use portcullis::audit::periodic::{self, SweepOptions};
use portcullis::leader::{while_leading, Elector, ElectorHandle, Leadership, LeaseOptions};
use portcullis::metrics::Metrics;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::json;

const NS: &str = "portcullis-system";
const LEASE: &str = "portcullis-leader";

fn lease_kind() -> Kind {
    Kind::new("coordination.k8s.io", "v1", "Lease", "leases", true)
}

/// Short timing, in client-go's proportions.
fn options(identity: &str, lease_secs: u64) -> LeaseOptions {
    LeaseOptions {
        lease_duration: Duration::from_secs(lease_secs),
        renew_deadline: Duration::from_millis(lease_secs * 1000 * 2 / 3),
        retry_period: Duration::from_millis(200),
        ..LeaseOptions::new(LEASE, NS, identity)
    }
}

/// One replica: its election, its policy source, and its audit loop gated on leadership.
struct Replica {
    name: String,
    leadership: Leadership,
    elector: Option<ElectorHandle>,
    metrics: Arc<Metrics>,
    _source: ClusterHandle,
    _audit: tokio::task::JoinHandle<()>,
}

impl Replica {
    fn start(fake: &FakeApiServer, name: &str, lease_secs: u64) -> Replica {
        let metrics = Arc::new(Metrics::new());
        let store = Arc::new(SnapshotStore::default());
        let source = ClusterSource::new(
            fake.client(),
            ClusterOptions {
                namespace: Some(NS.into()),
                debounce: Duration::from_millis(50),
                ..ClusterOptions::default()
            },
        )
        .spawn(store.clone(), metrics.clone());
        let elector = Elector::new(
            fake.client(),
            options(name, lease_secs),
            Some(metrics.clone()),
        )
        .unwrap();
        let (leadership, handle) = elector.spawn();
        let (client, m) = (fake.client(), metrics.clone());
        let audit = while_leading(leadership.clone(), move || {
            periodic::spawn(
                client.clone(),
                store.clone(),
                m.clone(),
                Duration::from_millis(200),
                SweepOptions::default(),
            )
        });
        Replica {
            name: name.into(),
            leadership,
            elector: Some(handle),
            metrics,
            _source: source,
            _audit: audit,
        }
    }

    fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }

    /// Audit sweeps finished so far.
    fn sweeps(&self) -> f64 {
        metric_value(
            &self.metrics.encode(),
            "portcullis_audit_duration_seconds_count",
        )
    }

    fn gauge(&self) -> f64 {
        metric_value(
            &self.metrics.encode(),
            &format!("portcullis_leader{{lease=\"{LEASE}\"}}"),
        )
    }
}

async fn cluster() -> FakeApiServer {
    let fake = labels_cluster().await;
    fake.serve_kind(lease_kind());
    fake
}

fn lease(fake: &FakeApiServer) -> serde_json::Value {
    fake.get(
        &json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE, "namespace": NS}}),
    )
    .expect("the lease exists")
}

/// Watch `replicas` for `span`, failing if two ever lead at once; returns the leaders seen.
async fn never_two_leaders(replicas: &[&Replica], span: Duration) -> Vec<String> {
    let until = Instant::now() + span;
    let mut seen = Vec::new();
    while Instant::now() < until {
        let leaders: Vec<&str> = replicas
            .iter()
            .filter(|r| r.is_leader())
            .map(|r| r.name.as_str())
            .collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        for l in leaders {
            if !seen.iter().any(|s| s == l) {
                seen.push(l.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen
}

/// Wait until `r` leads; how long it took.
async fn leads_within(r: &Replica, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut l = r.leadership.clone();
    tokio::time::timeout(limit, l.leading()).await.ok()?;
    Some(start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_exactly_one_leader_which_alone_audits() {
    let fake = cluster().await;
    let a = Replica::start(&fake, "replica-a", 2);
    let b = Replica::start(&fake, "replica-b", 2);
    let leaders = never_two_leaders(&[&a, &b], Duration::from_secs(4)).await;
    assert_eq!(leaders.len(), 1, "one leader throughout: {leaders:?}");
    let (leader, follower) = if a.is_leader() { (&a, &b) } else { (&b, &a) };
    assert!(leader.is_leader() && !follower.is_leader());
    assert!(leader.sweeps() >= 1.0, "the leader audits");
    assert_eq!(follower.sweeps(), 0.0, "the follower never audits");
    assert_eq!((leader.gauge(), follower.gauge()), (1.0, 0.0));

    let lease = lease(&fake);
    let spec = &lease["spec"];
    assert_eq!(spec["holderIdentity"], leader.name.as_str());
    assert_eq!(spec["leaseDurationSeconds"], 2);
    assert_eq!(spec["leaseTransitions"], 0);
    for field in ["acquireTime", "renewTime"] {
        let t = spec[field].as_str().unwrap();
        // MicroTime: RFC 3339 with microseconds.
        assert!(
            t.len() == "2026-01-01T00:00:00.000000Z".len() && t.ends_with('Z'),
            "{field}: {t}"
        );
    }
    // The leader renews: renewTime moves while the holder stays.
    let first = spec["renewTime"].clone();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = self::lease(&fake);
    assert_eq!(later["spec"]["holderIdentity"], leader.name.as_str());
    assert_ne!(later["spec"]["renewTime"], first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_after_its_lease_runs_out() {
    let fake = cluster().await;
    let mut a = Replica::start(&fake, "replica-a", 2);
    assert!(leads_within(&a, Duration::from_secs(5)).await.is_some());
    let b = Replica::start(&fake, "replica-b", 2);
    assert!(never_two_leaders(&[&a, &b], Duration::from_secs(1)).await == ["replica-a"]);

    // Killed: no release, the Lease is left as it was.
    let killed = Instant::now();
    drop(a.elector.take());
    // An aborted task is dropped by the runtime on its next turn.
    let mut lost = a.leadership.clone();
    tokio::time::timeout(Duration::from_secs(1), lost.lost())
        .await
        .expect("a stopped elector stops its leader work");
    let sweeps_before = a.sweeps();
    let took = leads_within(&b, Duration::from_secs(6))
        .await
        .expect("replaced within three lease durations");
    eprintln!("killed leader replaced after {took:?}");
    assert!(
        killed.elapsed() >= Duration::from_secs(1),
        "not before the lease ran out: {took:?}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(b.sweeps() >= 1.0, "the new leader audits");
    assert_eq!(a.sweeps(), sweeps_before, "the old one audits no more");
    let lease = lease(&fake);
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once() {
    let fake = cluster().await;
    // A long lease: only a release explains a quick handover.
    let mut a = Replica::start(&fake, "replica-a", 10);
    assert!(leads_within(&a, Duration::from_secs(5)).await.is_some());
    let b = Replica::start(&fake, "replica-b", 10);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.is_leader());

    let released = Instant::now();
    a.elector
        .take()
        .unwrap()
        .release(Duration::from_secs(2))
        .await;
    assert!(!a.is_leader());
    leads_within(&b, Duration::from_secs(3))
        .await
        .expect("taken over well within the lease duration");
    eprintln!("released lease taken over after {:?}", released.elapsed());
    assert!(released.elapsed() < Duration::from_secs(3));
    let lease = lease(&fake);
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 10);
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let fake = cluster().await;
    let a = Replica::start(&fake, "replica-a", 3);
    assert!(leads_within(&a, Duration::from_secs(5)).await.is_some());
    // Someone else takes the Lease behind the leader's back (as a partitioned leader
    // would find on its return): the leader's next renewal sees it and steps down.
    let mut taken = lease(&fake);
    taken["spec"]["holderIdentity"] = json!("intruder");
    let written = Instant::now();
    fake.apply(taken);
    let mut l = a.leadership.clone();
    tokio::time::timeout(Duration::from_secs(3), l.lost())
        .await
        .expect("steps down");
    assert!(written.elapsed() < Duration::from_secs(2));
    // ...and stays a follower while the intruder's lease has not run out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!a.is_leader());
}

/// A `portcullis serve` process, killed if the test ends first.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The whole binary, twice, against the fake API server through a kubeconfig: one replica
/// leads, both serve the certificate rotation made, and SIGTERM hands the Lease over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_replicas_elect_rotate_and_hand_over_on_sigterm() {
    use std::process::{Command, Stdio};
    let fake = cluster().await;
    for kind in [
        Kind::new("", "v1", "Secret", "secrets", true),
        Kind::new(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
        ),
    ] {
        fake.serve_kind(kind);
    }
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "portcullis-validation"},
        "webhooks": [{"name": "validation.portcullis.io", "clientConfig": {}}]}));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, NS);
    let start = |name: &str| {
        let (port, metrics) = common::free_ports();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .args([
                "serve",
                "--source",
                "cluster",
                "--namespace",
                NS,
                "--pod-name",
                name,
            ])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--cert-rotation", "--cert-poll", "1s"])
            .args([
                "--validating-webhook-configuration-name",
                "portcullis-validation",
            ])
            .args([
                "--leader-lease-duration",
                "6s",
                "--leader-renew-deadline",
                "4s",
            ])
            .args(["--leader-retry-period", "200ms", "--audit-interval", "1"])
            .args(["--shutdown-delay", "1s", "--shutdown-grace", "1s"])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn portcullis");
        (Process(child), port, metrics)
    };
    let (a, port_a, metrics_a) = start("replica-a");
    let (b, port_b, metrics_b) = start("replica-b");
    let holder = || {
        fake.get(
            &json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NS}}),
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    let elected =
        common::eventually(Duration::from_secs(30), || async { holder().is_some() }).await;
    assert!(elected, "a replica takes the Lease");

    // Both serve the certificate of the one Secret, which the webhook trusts.
    let secret_key = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "portcullis-tls", "namespace": NS}});
    let made = common::eventually(Duration::from_secs(20), || async {
        fake.get(&secret_key).is_some()
    })
    .await;
    assert!(made, "the Secret is made");
    let secret = fake.get(&secret_key).unwrap();
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let ca = b64(&secret["data"]["ca.crt"]);
    let hook = fake
        .get(&json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "portcullis-validation"}}))
        .unwrap();
    assert_eq!(b64(&hook["webhooks"][0]["clientConfig"]["caBundle"]), ca);
    let https = common::client(&ca, common::Proto::Http1);
    for port in [port_a, port_b] {
        let url = format!("https://localhost:{port}/healthz");
        let up = common::eventually(Duration::from_secs(20), || async {
            https
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(up, "replica on {port} serves the Secret's certificate");
    }

    // The leader's gauge says so; the follower's does not.
    let plain = https.clone();
    let gauge = |port: u16| {
        let plain = plain.clone();
        async move {
            let text = plain
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            metric_value(&text, &format!("portcullis_leader{{lease=\"{LEASE}\"}}"))
        }
    };
    let leader = holder().unwrap();
    let (mut leader_proc, follower, follower_metrics, leader_metrics) = if leader == "replica-a" {
        (a, "replica-b", metrics_b, metrics_a)
    } else {
        (b, "replica-a", metrics_a, metrics_b)
    };
    assert_eq!(gauge(leader_metrics).await, 1.0);
    assert_eq!(gauge(follower_metrics).await, 0.0);

    // SIGTERM: the leader releases the Lease as its shutdown begins; the follower takes it
    // well before the 6s lease could have run out.
    let term = Instant::now();
    let status = Command::new("kill")
        .arg(leader_proc.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let handed = common::eventually(Duration::from_secs(5), || async {
        holder().as_deref() == Some(follower)
    })
    .await;
    assert!(handed, "the follower takes the released Lease");
    eprintln!(
        "binary: lease handed over {:?} after SIGTERM",
        term.elapsed()
    );
    assert!(term.elapsed() < Duration::from_secs(4));
    let deadline = Instant::now() + Duration::from_secs(15);
    while leader_proc.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the old leader exits");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let follower_gauge = common::eventually(Duration::from_secs(3), || async {
        gauge(follower_metrics).await == 1.0
    })
    .await;
    assert!(follower_gauge);
}
