//! Kubernetes Events for violations, over the fake API server: a client retrying a denied
//! request in a hot loop costs a handful of Event writes with the repeats counted, never
//! more than the rate allows; distinct violations are written within the global rate; audit
//! violations become `AuditViolation` Events when asked for and none otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::fake_apiserver::{FakeApiServer, Kind};
use common::{eventually, metric_value, post_review, review, Proto};
use portcullis::audit::periodic::{self, SweepOptions};
use portcullis::decision::ServerEnforcement;
use portcullis::events::{self, EventOptions, EventSink, Limits, Placement};
use portcullis::metrics::Metrics;
use portcullis::server::{AppState, ConnectionLimits, Lifecycle, Stage};
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::{json, Value};

const SERVER_NS: &str = "portcullis-system";

/// A webhook in cluster mode whose violations go to `sink`.
struct Webhook {
    base: String,
    client: reqwest::Client,
    lifecycle: Lifecycle,
    _certs: tempfile::TempDir,
    _source: ClusterHandle,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.lifecycle.advance(Stage::Closing);
    }
}

async fn webhook(fake: &FakeApiServer, metrics: Arc<Metrics>, sink: EventSink) -> Webhook {
    let store = Arc::new(SnapshotStore::default());
    let options = ClusterOptions {
        namespace: Some(SERVER_NS.into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let source = ClusterSource::new(fake.client(), options).spawn(store.clone(), metrics.clone());
    let (certs, ca_pem, tls, _) = common::self_signed();
    let mut state = AppState::new(store.clone(), metrics);
    state.enforcement = ServerEnforcement::Deny;
    state.events = sink;
    let lifecycle = state.lifecycle.clone();
    let base = common::serve_state(state, tls, ConnectionLimits::default());
    let loaded = eventually(SETTLE, || async { store.is_loaded() }).await;
    assert!(loaded, "the cluster's policy set is listed");
    Webhook {
        base,
        client: common::client(&ca_pem, Proto::Http1),
        lifecycle,
        _certs: certs,
        _source: source,
    }
}

impl Webhook {
    async fn admit(&self, object: &Value) -> bool {
        let body = review("admission.k8s.io/v1", "uid-1", "CREATE", object.clone());
        let out = post_review(
            &self.client,
            &format!("{}/validate", self.base),
            &body,
            Proto::Http1,
        )
        .await;
        out["response"]["allowed"] == true
    }
}

fn event_kind() -> Kind {
    Kind::new("", "v1", "Event", "events", true)
}

fn pods_kind() -> Kind {
    Kind::new("", "v1", "Pod", "pods", true)
}

/// A Pod without the `owner` label the constraint requires.
fn unlabelled_pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
           "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
}

/// A fake cluster that serves Events and Pods, with a constraint requiring `owner`.
async fn cluster() -> FakeApiServer {
    let fake = labels_cluster().await;
    fake.serve_kind(event_kind());
    fake.serve_kind(pods_kind());
    fake.apply(required_labels("must-have-owner", "owner", None));
    fake
}

fn events_in(fake: &FakeApiServer) -> Vec<Value> {
    fake.objects("", "events")
}

fn options(admission: bool, audit: bool, limits: Limits) -> EventOptions {
    EventOptions {
        admission,
        audit,
        placement: Placement {
            namespace: SERVER_NS.into(),
            ..Placement::default()
        },
        limits,
        ..EventOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_loop_of_denials_is_a_handful_of_writes_with_the_count() {
    let fake = cluster().await;
    let metrics = Arc::new(Metrics::new());
    let limits = Limits::default();
    let (sink, _writer) =
        events::spawn(fake.client(), options(true, false, limits), metrics.clone());
    let hook = webhook(&fake, metrics.clone(), sink).await;
    let pod = unlabelled_pod("apps", "retry-me");
    assert!(
        eventually(SETTLE, || async { !hook.admit(&pod).await }).await,
        "the constraint denies"
    );
    // Denials of the settle loop above may already be counted: measure from here.
    let started = Instant::now();
    let before = metric_value(&metrics.encode(), "portcullis_events_written_total");
    let counted_before = events_in(&fake)
        .first()
        .and_then(|e| e["count"].as_u64())
        .unwrap_or(0);
    let mut slowest = Duration::ZERO;
    for _ in 0..500 {
        let t = Instant::now();
        assert!(!hook.admit(&pod).await, "denied every time");
        slowest = slowest.max(t.elapsed());
    }
    let denied = counted_before + 500;
    let all_counted = eventually(Duration::from_secs(20), || async {
        let evs = events_in(&fake);
        evs.len() == 1 && evs[0]["count"].as_u64().is_some_and(|c| c >= denied)
    })
    .await;
    let elapsed = started.elapsed();
    let evs = events_in(&fake);
    assert!(all_counted, "one Event counting every denial: {evs:#?}");
    let ev = &evs[0];
    assert_eq!(ev["reason"], "FailedAdmission");
    assert_eq!(ev["type"], "Warning");
    assert_eq!(ev["metadata"]["namespace"], SERVER_NS);
    assert_eq!(ev["involvedObject"]["kind"], "Pod");
    assert_eq!(ev["involvedObject"]["name"], "retry-me");
    assert_eq!(
        ev["involvedObject"]["uid"],
        "Pod/apps/retry-me/K8sRequiredLabels//must-have-owner"
    );
    assert_eq!(
        ev["metadata"]["annotations"]["constraint_name"],
        "must-have-owner"
    );
    assert_eq!(ev["metadata"]["annotations"]["request_username"], "tester");
    assert!(
        ev["message"].as_str().is_some_and(|m| m.starts_with(
            "Admission webhook \"validation.gatekeeper.sh\" denied request, Resource Namespace: apps, Constraint: must-have-owner, Message: "
        )),
        "{ev}"
    );
    // The writes: one create and a patch per key interval at most, whatever the number of
    // denials; and never more than the token bucket allows.
    let writes = fake.writes("", "events");
    let by_interval =
        2 + (elapsed.as_secs_f64() / limits.key_interval.as_secs_f64()).ceil() as usize;
    let by_bucket =
        limits.burst as usize + (elapsed.as_secs_f64() * limits.per_second).ceil() as usize;
    eprintln!(
        "{} denials in {:.2}s: {writes} Event writes (bounds {by_interval} by key interval, \
         {by_bucket} by rate); slowest admission {:?}",
        denied,
        elapsed.as_secs_f64(),
        slowest
    );
    assert!(
        writes <= by_interval && writes <= by_bucket,
        "{writes} writes"
    );
    assert!(writes <= 20, "a handful of writes, not {writes}");
    let written = metric_value(&metrics.encode(), "portcullis_events_written_total");
    assert!(written - before <= writes as f64);
    assert_eq!(
        metric_value(&metrics.encode(), "portcullis_events_dropped_total"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distinct_denials_are_written_within_the_rate() {
    let fake = cluster().await;
    let metrics = Arc::new(Metrics::new());
    let limits = Limits {
        per_second: 4.0,
        burst: 5,
        ..Limits::default()
    };
    let (sink, _writer) =
        events::spawn(fake.client(), options(true, false, limits), metrics.clone());
    let hook = webhook(&fake, metrics.clone(), sink).await;
    assert!(
        eventually(SETTLE, || async {
            !hook.admit(&unlabelled_pod("apps", "probe")).await
        })
        .await
    );
    let started = Instant::now();
    for i in 0..60 {
        assert!(!hook.admit(&unlabelled_pod("apps", &format!("p{i}"))).await);
    }
    // Sample the writes while the writer works through the backlog: at no point more than
    // the bucket allows since the start.
    let mut samples = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let writes = fake.writes("", "events");
        let allowed = limits.burst as usize + (started.elapsed().as_secs_f64() * limits.per_second).ceil() as usize
                // the probe's create and count patches, possibly before `started`
                + 2 + (started.elapsed().as_secs_f64() / limits.key_interval.as_secs_f64()).ceil() as usize;
        assert!(
            writes <= allowed,
            "{writes} writes after {:?}",
            started.elapsed()
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples > 10);
    let written = events_in(&fake).len();
    assert!(
        written < 61,
        "the rate holds the backlog back: {written} Events after 4s"
    );
    assert!(written >= 10, "the writer makes progress: {written}");
    // Given time, every distinct denial gets its Event.
    let all = eventually(Duration::from_secs(30), || async {
        events_in(&fake).len() == 61
    })
    .await;
    assert!(all, "{} Events", events_in(&fake).len());
}

async fn audit_with(sink: EventSink) -> (FakeApiServer, usize) {
    let fake = cluster().await;
    for i in 0..3 {
        fake.apply(unlabelled_pod("apps", &format!("old-{i}")));
    }
    let store = Arc::new(SnapshotStore::default());
    let options = ClusterOptions {
        namespace: Some(SERVER_NS.into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let _source =
        ClusterSource::new(fake.client(), options).spawn(store.clone(), Arc::new(Metrics::new()));
    assert!(eventually(SETTLE, || async { store.is_loaded() }).await);
    let sweep = SweepOptions {
        events: sink,
        ..SweepOptions::default()
    };
    let report = periodic::sweep_once(&fake.client(), store.load_full(), &sweep)
        .await
        .expect("sweep");
    let found = report
        .constraint("K8sRequiredLabels", "must-have-owner")
        .expect("listed")
        .total_violations;
    (fake, found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_violations_become_events_when_asked() {
    let metrics = Arc::new(Metrics::new());
    let fake = cluster().await;
    for i in 0..3 {
        fake.apply(unlabelled_pod("apps", &format!("old-{i}")));
    }
    let opts = EventOptions {
        placement: Placement {
            namespace: SERVER_NS.into(),
            audit_involved_namespace: true,
            ..Placement::default()
        },
        ..options(false, true, Limits::default())
    };
    let (sink, _writer) = events::spawn(fake.client(), opts, metrics.clone());
    let store = Arc::new(SnapshotStore::default());
    let cluster_options = ClusterOptions {
        namespace: Some(SERVER_NS.into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let _source = ClusterSource::new(fake.client(), cluster_options)
        .spawn(store.clone(), Arc::new(Metrics::new()));
    assert!(eventually(SETTLE, || async { store.is_loaded() }).await);
    let sweep = SweepOptions {
        events: sink,
        ..SweepOptions::default()
    };
    periodic::sweep_once(&fake.client(), store.load_full(), &sweep)
        .await
        .expect("sweep");
    let three = eventually(Duration::from_secs(10), || async {
        events_in(&fake).len() == 3
    })
    .await;
    let evs = events_in(&fake);
    assert!(three, "{evs:#?}");
    for ev in &evs {
        assert_eq!(ev["reason"], "AuditViolation");
        // With --audit-events-involved-namespace, the Pod's own namespace and identity.
        assert_eq!(ev["metadata"]["namespace"], "apps");
        let name = ev["involvedObject"]["name"].as_str().unwrap_or("");
        let stored = fake
            .get(&unlabelled_pod("apps", name))
            .expect("the pod exists");
        assert_eq!(ev["involvedObject"]["uid"], stored["metadata"]["uid"]);
        assert_eq!(
            ev["involvedObject"]["resourceVersion"],
            stored["metadata"]["resourceVersion"]
        );
        assert_eq!(ev["metadata"]["annotations"]["process"], "audit");
        assert_eq!(
            ev["metadata"]["annotations"]["event_type"],
            "violation_audited"
        );
        assert!(ev["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Constraint: must-have-owner, Message: ")));
    }
    // A second sweep finds the same violations: the same Events, counted twice.
    periodic::sweep_once(&fake.client(), store.load_full(), &sweep)
        .await
        .expect("sweep");
    let counted = eventually(Duration::from_secs(10), || async {
        let evs = events_in(&fake);
        evs.len() == 3 && evs.iter().all(|e| e["count"] == 2)
    })
    .await;
    assert!(counted, "{:#?}", events_in(&fake));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_audit_events_unless_asked() {
    // Admission events on, audit events off: an audit writes none.
    let probe = FakeApiServer::start(Vec::new()).await;
    let (sink, _writer) = events::spawn(
        probe.client(),
        options(true, false, Limits::default()),
        Arc::new(Metrics::new()),
    );
    let (fake, found) = audit_with(sink).await;
    assert_eq!(found, 3, "the audit found the violations");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(events_in(&fake).is_empty());
    assert_eq!(probe.writes("", "events"), 0);
    // And with no sink at all.
    let (fake, found) = audit_with(EventSink::disabled()).await;
    assert_eq!(found, 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(events_in(&fake).is_empty());
}

/// An API server that accepts connections and never answers.
async fn black_hole() -> (kube::Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let config = kube::Config::new(url.parse().expect("url"));
    (kube::Client::try_from(config).expect("client"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_api_server_never_slows_admission() {
    let fake = cluster().await;
    let metrics = Arc::new(Metrics::new());
    let (stuck, _hole) = black_hole().await;
    let opts = EventOptions {
        queue: 16,
        ..options(true, false, Limits::default())
    };
    let (sink, _writer) = events::spawn(stuck, opts, metrics.clone());
    let hook = webhook(&fake, metrics.clone(), sink).await;
    assert!(
        eventually(SETTLE, || async {
            !hook.admit(&unlabelled_pod("apps", "probe")).await
        })
        .await
    );
    // By now the writer has tried to create the probe's Event and hangs there.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let t = Instant::now();
        assert!(!hook.admit(&unlabelled_pod("apps", &format!("p{i}"))).await);
        slowest = slowest.max(t.elapsed());
    }
    let text = metrics.encode();
    let dropped = metric_value(&text, "portcullis_events_dropped_total");
    eprintln!("writer stuck: 200 denials, slowest {slowest:?}, {dropped} violations dropped");
    // The writer hangs on its first write; the queue (16) fills and the rest are dropped.
    assert!(dropped >= 200.0 - 16.0, "{dropped} dropped");
    assert_eq!(metric_value(&text, "portcullis_events_written_total"), 0.0);
    assert!(slowest < Duration::from_millis(500), "slowest {slowest:?}");
}
