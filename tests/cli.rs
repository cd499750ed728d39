//! The offline commands as a user runs them: `portcullis test`, `review` and `cert`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("RUST_LOG", "warn");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const BAD_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: miner, namespace: staging}
spec:
  containers:
  - name: app
    image: docker.io/evil/miner:latest
"#;

const GOOD_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: staging, labels: {owner: team-a}}
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.9
    resources:
      limits: {cpu: 500m, memory: 256Mi}
"#;

#[test]
fn test_command_exit_codes_and_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "bad.yaml", BAD_POD);
    let good = write(dir.path(), "good.yaml", GOOD_POD);

    let out = bin()
        .args(["test", "--policies", "policies"])
        .arg(&bad)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "deny-level violations exit 1: {stdout}"
    );
    assert!(
        stdout.contains("Pod staging/miner: [trusted-registries] "),
        "{stdout}"
    );
    assert!(stdout.contains("(deny)"), "{stdout}");
    assert!(
        stdout.contains("[no-latest-tag-dryrun]") && stdout.contains("(dryrun)"),
        "{stdout}"
    );

    let out = bin()
        .args(["test", "--policies", "policies"])
        .arg(&good)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = bin()
        .args(["test", "--policies", "policies", "--output", "json"])
        .arg(&bad)
        .output()
        .expect("run");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert!(
        report["summary"]["denied"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );

    // Usage and policy errors exit 2.
    let out = bin()
        .args(["test", "--policies", "/nonexistent"])
        .arg(&good)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let broken = tempfile::tempdir().expect("tempdir");
    write(
        broken.path(),
        "x.yaml",
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {name: x}\n",
    );
    let out = bin()
        .args(["test", "--policies"])
        .arg(broken.path())
        .arg(&good)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("x.yaml"),
        "the error names the file"
    );
}

#[test]
fn review_command_answers_like_the_webhook() {
    let out = bin()
        .args([
            "review",
            "--policies",
            "policies",
            "tests/fixtures/reviews/pod-untrusted-registry.json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "a refused request exits 1");
    let resp: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(
        resp["response"]["uid"],
        "7f0c1d2e-0001-4a5b-9c8d-000000000001"
    );
    assert_eq!(resp["response"]["allowed"], false);
    assert_eq!(resp["response"]["status"]["code"], 403);

    let out = bin()
        .args([
            "review",
            "--policies",
            "policies",
            "tests/fixtures/reviews/pod-trusted.json",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "an allowed request exits 0");
    let resp: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(resp["response"]["allowed"], true, "{resp}");

    let dir = tempfile::tempdir().expect("tempdir");
    let junk = write(dir.path(), "junk.json", "{\"kind\": \"Pod\"}");
    let out = bin()
        .args(["review", "--policies", "policies"])
        .arg(&junk)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AdmissionReview"));
}

#[test]
fn cert_command_writes_material_and_prints_ca_bundle() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(["cert", "--out"])
        .arg(dir.path())
        .args(["--dns-name", "portcullis.portcullis-system.svc"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let bundle = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(bundle)
        .expect("base64");
    assert_eq!(
        ca,
        std::fs::read(dir.path().join("ca.crt")).expect("ca.crt")
    );
    assert!(dir.path().join("tls.key").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expires on") && stderr.contains("(365 days)"),
        "{stderr}"
    );

    // An existing CA is never replaced silently; --force replaces it, --days sets the
    // validity from now.
    let again = bin()
        .args(["cert", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        ca,
        std::fs::read(dir.path().join("ca.crt")).expect("ca.crt"),
        "the CA is untouched"
    );
    let forced = bin()
        .args(["cert", "--force", "--days", "30", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(forced.status.code(), Some(0));
    assert_ne!(
        ca,
        std::fs::read(dir.path().join("ca.crt")).expect("ca.crt")
    );
    assert!(String::from_utf8_lossy(&forced.stderr).contains("(30 days)"));
}

#[test]
fn test_command_judges_captured_admission_reviews_by_their_request() {
    let out = bin()
        .args(["test", "--policies", "policies", "tests/fixtures/reviews/"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Pod default/web: [trusted-registries] "),
        "{stdout}"
    );
    assert!(
        stdout.contains("[owner-label-warn]") && stdout.contains("(warn)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 objects: 2 denied, 1 warnings"),
        "{stdout}"
    );
}

#[test]
fn test_command_denies_load_balancer_services_by_the_example_constraint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = write(
        dir.path(),
        "services.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: public, namespace: shop}\nspec: {type: LoadBalancer}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: internal, namespace: shop}\nspec: {type: ClusterIP}\n",
    );
    let out = bin()
        .args(["test", "--policies", "policies"])
        .arg(&services)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Service shop/public: [no-loadbalancer-services] User is not allowed to create service of type LoadBalancer"),
        "{stdout}"
    );
    assert!(!stdout.contains("Service shop/internal: ["), "{stdout}");
}

/// File mode refuses what `kubectl apply` (strict field validation) would: a misspelt match
/// field or parameter of a template with a schema, named in kubectl's words, instead of
/// matching every kind or ignoring the parameter.
#[test]
fn test_command_refuses_unknown_constraint_fields_as_kubectl_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/library/k8srequiredlabels.yaml"),
        policies.join("template.yaml"),
    )
    .expect("copy template");
    write(
        &policies,
        "owner.yaml",
        r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: owner}
spec:
  match:
    kind: [{apiGroups: [""], kinds: ["Pod"]}]
  parameters:
    labels: [{key: owner}]
    lables: []
"#,
    );
    let pod = write(dir.path(), "pod.yaml", GOOD_POD);
    let out = bin()
        .args(["test", "--policies"])
        .arg(&policies)
        .arg(&pod)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "strict decoding error: unknown field \"spec.match.kind\", unknown field \
             \"spec.parameters.lables\""
        ),
        "{stderr}"
    );
}

/// A mutator that fills in missing limits makes the Pod pass a limits constraint, as in a
/// cluster, where the mutating webhook runs before the validating one: `test --mutate` and
/// `review --mutate` judge the mutated object, and without `--mutate` the Pod is denied.
#[test]
fn mutation_runs_before_validation_when_both_are_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/library/k8scontainerlimits.yaml"),
        policies.join("template.yaml"),
    )
    .expect("copy template");
    write(
        &policies,
        "limits.yaml",
        r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sContainerLimits
metadata: {name: limits}
spec:
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}]}
  parameters: {cpu: "2", memory: "2Gi"}
---
apiVersion: mutations.gatekeeper.sh/v1
kind: Assign
metadata: {name: default-cpu}
spec:
  applyTo: [{groups: [""], kinds: ["Pod"], versions: ["v1"]}]
  location: "spec.containers[name:*].resources.limits.cpu"
  parameters:
    assign: {value: "500m"}
    pathTests: [{subPath: "spec.containers[name:*].resources.limits.cpu", condition: MustNotExist}]
---
apiVersion: mutations.gatekeeper.sh/v1
kind: Assign
metadata: {name: default-memory}
spec:
  applyTo: [{groups: [""], kinds: ["Pod"], versions: ["v1"]}]
  location: "spec.containers[name:*].resources.limits.memory"
  parameters:
    assign: {value: "256Mi"}
    pathTests: [{subPath: "spec.containers[name:*].resources.limits.memory", condition: MustNotExist}]
"#,
    );
    let pod = write(
        dir.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: apps}\n\
         spec: {containers: [{name: app, image: nginx}]}\n",
    );
    let test = |mutate: bool| {
        let mut cmd = bin();
        cmd.args(["test", "--policies"]).arg(&policies).arg(&pod);
        if mutate {
            cmd.arg("--mutate");
        }
        cmd.output().expect("runs")
    };
    let plain = test(false);
    assert_eq!(
        plain.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&plain.stdout)
    );
    let mutated = test(true);
    let stdout = String::from_utf8_lossy(&mutated.stdout);
    assert_eq!(mutated.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Assign/default-cpu"), "{stdout}");

    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "operation": "CREATE",
                    "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "namespace": "apps", "name": "web",
                    "object": {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "web", "namespace": "apps"},
                               "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    });
    let file = write(dir.path(), "review.json", &review.to_string());
    let out = bin()
        .args(["review", "--mutate", "--policies"])
        .arg(&policies)
        .arg(&file)
        .output()
        .expect("runs");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(0), "{answer}");
    assert_eq!(
        answer["mutate"]["response"]["patchType"], "JSONPatch",
        "{answer}"
    );
    assert_eq!(answer["validate"]["response"]["allowed"], true, "{answer}");
    assert_eq!(answer["validate"]["response"]["uid"], "u-1");
}

/// `portcullis crd` prints one CustomResourceDefinition per template, in YAML that reads
/// back, named and shaped as Gatekeeper names constraint CRDs.
#[test]
fn crd_command_prints_the_constraint_crd_of_every_template() {
    let out = bin()
        .args(["crd", "policies/library"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let templates = std::fs::read_dir("policies/library")
        .expect("library")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert_eq!(docs.len(), templates);
    let labels = docs
        .iter()
        .find(|d| d["spec"]["names"]["kind"] == "K8sRequiredLabels")
        .expect("K8sRequiredLabels CRD");
    assert_eq!(
        labels["metadata"]["name"],
        "k8srequiredlabels.constraints.gatekeeper.sh"
    );
    assert_eq!(labels["spec"]["group"], "constraints.gatekeeper.sh");
    assert_eq!(
        labels["metadata"]["labels"]["gatekeeper.sh/constraint"],
        "yes"
    );
    let params = &labels["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["parameters"];
    assert_eq!(params["properties"]["labels"]["type"], "array", "{params}");

    let none = bin()
        .args(["crd", "tests/fixtures/reviews/pod-trusted.json"])
        .output()
        .expect("runs");
    assert_eq!(none.status.code(), Some(2));
}

/// A Deployment is judged by the Pod it would create (the shipped ExpansionTemplates):
/// denied, with the violation implied by the template, as the README's tour shows.
#[test]
fn a_deployment_is_judged_by_the_pod_it_would_create() {
    let out = bin()
        .args([
            "test",
            "--policies",
            "policies",
            "tests/fixtures/manifests/deployment-untrusted.yaml",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "Deployment staging/miner: [container-limits] [Implied by expand-workloads] \
             container <app> has no cpu limit (deny)"
        ),
        "{stdout}"
    );
}

/// `portcullis expand` prints what the ExpansionTemplates generate, mutators applied: a
/// CronJob gives a Job and the Job a Pod.
#[test]
fn expand_command_prints_the_generated_resources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cronjob = write(
        dir.path(),
        "cronjob.yaml",
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: batch}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: registry.k8s.io/pause:3.9}]
"#,
    );
    let out = bin()
        .args(["expand", "--policies", "policies"])
        .arg(&cronjob)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("YAML");
    let kinds: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("Pod", "nightly-job-pod"), ("Job", "nightly-job")]
    );
    assert_eq!(docs[0]["metadata"]["namespace"], "batch");
}

/// Every command that reports results speaks text, json, yaml and junit.
#[test]
fn reports_come_as_json_yaml_and_junit_too() {
    let run = |args: &[&str]| {
        let out = bin().args(args).output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let deployment = "tests/fixtures/manifests/deployment-untrusted.yaml";
    let (code, xml) = run(&[
        "test",
        "--output",
        "junit",
        "--policies",
        "policies",
        deployment,
    ]);
    assert_eq!(code, Some(1), "the verdict does not change with the format");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"Deployment staging/miner\""),
        "{xml}"
    );
    let (_, yaml) = run(&[
        "test",
        "--output",
        "yaml",
        "--policies",
        "policies",
        deployment,
    ]);
    let doc: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
    assert_eq!(doc["summary"]["objects"], 1, "{yaml}");

    let audit = [
        "audit",
        "--policies",
        "tests/fixtures/audit/policies",
        "tests/fixtures/audit/manifests",
        "--output",
    ];
    let (code, xml) = run(&[&audit[..], &["junit"]].concat());
    assert_eq!(code, Some(1));
    assert!(
        xml.contains("<testcase name=\"PcUniqueIngressHost unique-ingress-host\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"2 deny violations\">"),
        "{xml}"
    );

    let (code, json) = run(&["verify", "--output", "json", "tests/suites"]);
    assert_eq!(code, Some(0));
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(doc["failed"], 0);
    assert!(doc["passed"].as_u64().unwrap_or(0) > 0, "{json}");
}
