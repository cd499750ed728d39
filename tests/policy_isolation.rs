//! File mode, one bad object at a time, asked over HTTPS: a broken template among good
//! ones keeps denying what its last good version denied while the good objects update; a
//! file rewritten with invalid YAML keeps the objects it provided; two conflicting
//! mutators are not applied while the others are; the gauges show what is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{metric_value, post_review, review, Proto};
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::policy::ObjectKind;
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FileSource, Reload};
use serde_json::Value;

/// A Rego template denying Pods whose name is `parameters.name`.
fn deny_name_template(rego_tail: &str) -> String {
    format!(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {{name: k8sdenyname}}\n\
         spec:\n  crd:\n    spec:\n      names: {{kind: K8sDenyName}}\n      validation:\n        openAPIV3Schema:\n\
         \x20         type: object\n          properties: {{name: {{type: string}}}}\n\
         \x20 targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n\
         \x20       package k8sdenyname\n        violation[{{\"msg\": msg}}] {{\n\
         \x20         input.review.object.metadata.name == input.parameters.name\n{rego_tail}"
    )
}

const GOOD_TAIL: &str =
    "          msg := sprintf(\"name %v is taken\", [input.parameters.name])\n        }\n";
const BROKEN_TAIL: &str = "          msg := \n";

const DENY_NAME: &str = "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDenyName\nmetadata: {name: no-forbidden}\n\
spec:\n  match: {kinds: [{apiGroups: [\"\"], kinds: [\"Pod\"]}]}\n  parameters: {name: forbidden}\n";

fn write(dir: &Path, file: &str, content: &str) {
    std::fs::write(dir.join(file), content).expect("write policy file");
}

fn setup(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(
        root.join("library/k8sallowedrepos.yaml"),
        dir.join("repos-template.yaml"),
    )
    .expect("template");
    std::fs::copy(
        root.join("examples/allowed-repos.yaml"),
        dir.join("repos.yaml"),
    )
    .expect("constraint");
    write(dir, "name-template.yaml", &deny_name_template(GOOD_TAIL));
    write(dir, "name.yaml", DENY_NAME);
}

struct Served {
    https: common::Https,
    client: reqwest::Client,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    source: FileSource,
}

impl Served {
    fn start(dir: &Path) -> Served {
        let metrics = Arc::new(Metrics::new());
        let store = Arc::new(SnapshotStore::default());
        let source = FileSource::new(dir, BuildOptions::default());
        assert_eq!(source.reload(&store, &metrics), Reload::Published);
        let https = common::serve_store(store.clone(), metrics.clone(), ServerEnforcement::Deny);
        let client = common::client(&https.ca_pem, Proto::Http2);
        Served {
            https,
            client,
            store,
            metrics,
            source,
        }
    }

    async fn reload(&self) -> Reload {
        let (s, st, m) = (
            self.source.clone(),
            self.store.clone(),
            self.metrics.clone(),
        );
        tokio::task::spawn_blocking(move || s.reload(&st, &m))
            .await
            .expect("reload")
    }

    async fn post(&self, endpoint: &str, name: &str, image: &str) -> Value {
        let body = review(
            "admission.k8s.io/v1",
            name,
            "CREATE",
            common::pod("dev", name, image),
        );
        let url = format!("{}/{endpoint}", self.https.base);
        post_review(&self.client, &url, &body, Proto::Http2).await["response"].clone()
    }

    async fn allowed(&self, name: &str, image: &str) -> bool {
        self.post("validate", name, image).await["allowed"] == true
    }

    fn gauge(&self, series: &str) -> f64 {
        metric_value(&self.metrics.encode(), series)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_template_keeps_denying_while_the_good_objects_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let s = Served::start(dir.path());
    assert!(!s.allowed("forbidden", "registry.k8s.io/pause:3.9").await);
    assert!(!s.allowed("ok", "quay.io/x/y:1").await, "quay not trusted");

    // One team breaks its template; another adds a registry to its constraint.
    write(
        dir.path(),
        "name-template.yaml",
        &deny_name_template(BROKEN_TAIL),
    );
    let repos = std::fs::read_to_string(dir.path().join("repos.yaml")).expect("read");
    let added = repos.replace(
        "- \"registry.k8s.io/\"",
        "- \"registry.k8s.io/\"\n      - \"quay.io/\"",
    );
    assert_ne!(added, repos, "the example lists registry.k8s.io/");
    write(dir.path(), "repos.yaml", &added);
    assert_eq!(s.reload().await, Reload::Partial);
    assert!(
        s.allowed("ok", "quay.io/x/y:1").await,
        "the good constraint's change takes effect"
    );
    assert!(
        !s.allowed("forbidden", "registry.k8s.io/pause:3.9").await,
        "the broken template's last good version still denies"
    );
    let snap = s.store.load();
    let r = snap.refused.iter().next().expect("one refusal");
    assert_eq!(
        (r.kind, r.object.as_str(), r.kept),
        (ObjectKind::Template, "ConstraintTemplate/k8sdenyname", true)
    );
    assert!(r.location.ends_with("name-template.yaml#0"), "{r}");
    assert!(!r.reason().is_empty());
    assert_eq!(
        s.gauge("portcullis_policy_objects{kind=\"template\",state=\"refused\"}"),
        1.0
    );
    assert_eq!(
        s.gauge("portcullis_policy_objects{kind=\"template\",state=\"loaded\"}"),
        2.0
    );
    assert_eq!(
        s.gauge("portcullis_policy_refusals_total{kind=\"template\",reason=\"compile\"}"),
        1.0
    );

    // A change of the constraint of the broken template binds to its last good version.
    write(
        dir.path(),
        "name.yaml",
        &DENY_NAME.replace("name: forbidden}", "name: banned}"),
    );
    assert_eq!(s.reload().await, Reload::Partial);
    assert!(s.allowed("forbidden", "registry.k8s.io/pause:3.9").await);
    assert!(!s.allowed("banned", "registry.k8s.io/pause:3.9").await);

    // Fixed: nothing refused.
    write(
        dir.path(),
        "name-template.yaml",
        &deny_name_template(GOOD_TAIL),
    );
    assert_eq!(s.reload().await, Reload::Published);
    assert_eq!(
        s.gauge("portcullis_policy_objects{kind=\"template\",state=\"refused\"}"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_with_invalid_yaml_keeps_its_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let s = Served::start(dir.path());
    write(
        dir.path(),
        "name.yaml",
        "kind: K8sDenyName\nmetadata: {name: [\n",
    );
    assert_eq!(s.reload().await, Reload::Partial);
    assert!(
        !s.allowed("forbidden", "registry.k8s.io/pause:3.9").await,
        "the file's constraint still denies"
    );
    assert_eq!(
        s.gauge("portcullis_policy_objects{kind=\"file\",state=\"refused\"}"),
        1.0
    );
    assert_eq!(
        s.gauge("portcullis_policy_objects{kind=\"constraint\",state=\"loaded\"}"),
        2.0
    );
    std::fs::remove_file(dir.path().join("name.yaml")).expect("rm");
    assert_eq!(s.reload().await, Reload::Published);
    assert!(
        s.allowed("forbidden", "registry.k8s.io/pause:3.9").await,
        "a file deleted on purpose removes its objects"
    );
}

fn assign(name: &str, location: &str) -> String {
    format!(
        "apiVersion: mutations.gatekeeper.sh/v1\nkind: Assign\nmetadata: {{name: {name}}}\n\
         spec:\n  applyTo: [{{groups: [\"\"], versions: [v1], kinds: [Pod]}}]\n  location: {location:?}\n\
         \x20 parameters: {{assign: {{value: Always}}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_mutators_are_not_applied_and_the_others_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    std::fs::copy(
        root.join("standard-labels.yaml"),
        dir.path().join("labels.yaml"),
    )
    .expect("mutators");
    let s = Served::start(dir.path());
    let patch = |out: &Value| {
        use base64::Engine;
        let text = out["patch"].as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let before = patch(&s.post("mutate", "p", "registry.k8s.io/pause:3.9").await);
    assert!(before.contains("managed-by"), "{before}");

    write(
        dir.path(),
        "pull.yaml",
        &format!(
            "{}---\n{}",
            assign("keyed", "spec.containers[name: app].imagePullPolicy"),
            assign("object", "spec.containers.imagePullPolicy")
        ),
    );
    assert_eq!(s.reload().await, Reload::Partial);
    let after = patch(&s.post("mutate", "p", "registry.k8s.io/pause:3.9").await);
    assert!(
        after.contains("managed-by"),
        "the others still run: {after}"
    );
    assert!(!after.contains("imagePullPolicy"), "{after}");
    let snap = s.store.load();
    let conflicted: Vec<&str> = snap
        .refused
        .iter()
        .filter(|r| r.kind == ObjectKind::Mutator)
        .map(|r| r.object.as_str())
        .collect();
    assert_eq!(conflicted, ["Assign/keyed", "Assign/object"]);
    for r in snap.refused.iter() {
        assert!(r.reason().contains("conflicting schema"), "{r}");
    }
    assert_eq!(
        s.gauge("portcullis_policy_refusals_total{kind=\"mutator\",reason=\"conflict\"}"),
        2.0
    );

    // Only the keyed one left: it applies.
    write(
        dir.path(),
        "pull.yaml",
        &assign("keyed", "spec.containers[name: app].imagePullPolicy"),
    );
    assert_eq!(s.reload().await, Reload::Published);
    let fixed = patch(&s.post("mutate", "p", "registry.k8s.io/pause:3.9").await);
    assert!(fixed.contains("imagePullPolicy"), "{fixed}");
}
