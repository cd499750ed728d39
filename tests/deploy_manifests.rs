//! The plain manifests in deploy/ (rendered from charts/portcullis; tests/helm_chart.rs
//! checks they are a fresh render) keep the promises the webhook depends on: scoped away
//! from the control plane, short timeouts, deliberate failure policies, HTTPS probes, the
//! ConfigMap and Secret names deploy/kind-e2e.sh creates; and the policy ConfigMap the kind
//! script builds loads as a valid policy set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn docs() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("deploy/portcullis.yaml")).expect("read");
    portcullis::manifests::parse_documents(&text, "deploy/portcullis.yaml")
        .expect("parses")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} missing"))
}

#[test]
fn webhooks_are_scoped_short_and_deliberate() {
    let docs = docs();
    for (kind, path, policy) in [
        ("ValidatingWebhookConfiguration", "/validate", "Fail"),
        ("MutatingWebhookConfiguration", "/mutate", "Ignore"),
    ] {
        let cfg = by_kind(&docs, kind);
        for hook in cfg["webhooks"].as_array().expect("webhooks") {
            assert_eq!(hook["failurePolicy"], policy, "{kind}");
            assert_eq!(hook["sideEffects"], "None");
            let timeout = hook["timeoutSeconds"].as_u64().expect("explicit timeout");
            assert!(
                timeout <= 5,
                "{kind}: timeout {timeout}s is too long for every API write"
            );
            assert_eq!(hook["clientConfig"]["service"]["path"], path);
            let versions = hook["admissionReviewVersions"]
                .as_array()
                .expect("versions");
            assert!(versions.contains(&Value::from("v1")));
            let exprs = hook["namespaceSelector"]["matchExpressions"]
                .as_array()
                .expect("namespaceSelector");
            let excluded = exprs
                .iter()
                .find(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
                .expect("excludes namespaces by name");
            for ns in ["kube-system", "portcullis-system"] {
                assert!(
                    excluded["values"]
                        .as_array()
                        .expect("values")
                        .contains(&Value::from(ns)),
                    "{kind} must never judge {ns}"
                );
            }
        }
    }
}

#[test]
fn deployment_probes_over_https_and_serves_mounted_files() {
    let docs = docs();
    let dep = by_kind(&docs, "Deployment");
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "serve");
    assert!(args.contains(&"--policies=/policies"));
    // deploy/kind-e2e.sh creates these two before applying the manifests.
    let volumes = &dep["spec"]["template"]["spec"]["volumes"];
    let mounted: Vec<&str> = volumes
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| {
            v["secret"]["secretName"]
                .as_str()
                .or(v["configMap"]["name"].as_str())
        })
        .collect();
    assert_eq!(mounted, ["portcullis-tls", "portcullis-policies"]);
    assert!(
        dep["spec"]["replicas"].as_u64().unwrap_or(0) >= 2,
        "no single point of failure"
    );
}

fn kubectl() -> Option<Command> {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("kubectl not installed: rendering checks skipped");
    }
    ok.then(|| {
        let mut c = Command::new("kubectl");
        c.current_dir(root());
        c
    })
}

#[test]
fn kubectl_renders_the_manifests_and_the_policy_configmap_loads() {
    let Some(mut k) = kubectl() else { return };
    let out = k.args(["kustomize", "deploy"]).output().expect("kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        rendered.matches("\nkind: ").count() + usize::from(rendered.starts_with("kind: ")),
        7
    );

    let Some(mut k) = kubectl() else { return };
    let out = k
        .args([
            "create",
            "configmap",
            "portcullis-policies",
            "-n",
            "portcullis-system",
            "--from-file=policies/library",
            "--from-file=policies/examples",
            "--from-file=policies/examples/mutations",
            "--dry-run=client",
            "-o",
            "json",
        ])
        .output()
        .expect("create configmap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cm: Value = serde_json::from_slice(&out.stdout).expect("json");
    // Lay the keys out as the kubelet mounts them and load them as the server would.
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in cm["data"].as_object().expect("data") {
        std::fs::write(dir.path().join(name), text.as_str().unwrap_or("")).expect("write");
    }
    let src = portcullis::sources::file::FileSource::new(dir.path(), Default::default());
    let snap = src.load().expect("the mounted policy set is valid");
    assert!(snap.constraints.len() >= 7 && snap.mutators.len() >= 5);
}
