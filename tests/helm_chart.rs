//! charts/portcullis rendered and linted by real Helm (the Helm v4 library of the
//! `helm-python-sdk` wheel, driven by scripts/helm-chart.py): the objects each mode needs,
//! webhooks that can never judge the control plane or the release namespace, failure
//! policies and timeouts as configured, a caBundle that trusts the certificate the pods
//! serve, and deploy/ identical to a fresh render.
//!
//! Without the SDK these tests skip with a message; with `PORTCULLIS_REQUIRE_HELM=1` (set
//! by .ci/run) they fail instead, so CI never passes by skipping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod helm;

use std::sync::Arc;

use helm::{
    args, b64, container, deployment, helm_available, kinds, one, parse, render, root, script,
    selects, webhook_deployment, webhooks, with_sets,
};
use serde_json::{json, Value};

#[test]
fn lint_passes_for_each_mode() {
    if !helm_available() {
        return;
    }
    for sets in [
        vec![],
        vec!["mode=cluster", "crds.install=true"],
        vec!["tls.mode=certManager"],
        vec!["tls.mode=secret", "tls.secretName=tls", "tls.caBundle=Cg=="],
    ] {
        let out = script(&with_sets("lint", &sets))
            .unwrap_or_else(|e| panic!("lint {sets:?} failed:\n{e}"));
        assert!(out.contains("1 chart(s) linted, ok"), "{out}");
    }
}

#[test]
fn file_mode_renders_a_served_policy_configmap_and_no_api_access() {
    if !helm_available() {
        return;
    }
    // With a certificate made at render time: certificate rotation needs the API.
    let docs = render(&["tls.mode=generate"]);
    let mut got = kinds(&docs);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration"
        ]
    );
    let dep = webhook_deployment(&docs);
    let pod = &dep["spec"]["template"]["spec"];
    assert!(dep["spec"]["replicas"].as_u64().unwrap_or(0) >= 2);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert!(pod["topologySpreadConstraints"].as_array().is_some());
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = container(&docs);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(c["resources"]["requests"]["memory"].is_string());
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path);
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS");
    }
    let ports: Vec<&str> = c["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(ports, ["https", "metrics"]);
    let a = args(&docs);
    assert!(a.contains(&"--policies=/policies") && !a.iter().any(|x| x.contains("cluster")));
    let cm = one(&docs, "ConfigMap");
    assert_eq!(
        pod["volumes"][1]["configMap"]["name"],
        cm["metadata"]["name"]
    );
    assert_eq!(one(&docs, "PodDisruptionBudget")["spec"]["minAvailable"], 1);
}

#[test]
fn policy_files_given_as_values_load_as_a_policy_set() {
    if !helm_available() {
        return;
    }
    let template = root().join("policies/library/k8srequiredlabels.yaml");
    let file_arg = format!("policies.files.labels\\.yaml={}", template.display());
    let text = script(&["render", "--set-file", &file_arg]).expect("renders with --set-file");
    let docs = parse(&text);
    let data = &one(&docs, "ConfigMap")["data"];
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in data.as_object().expect("data") {
        std::fs::write(dir.path().join(name), text.as_str().unwrap_or("")).expect("write");
    }
    let snap = portcullis::sources::file::FileSource::new(dir.path(), Default::default())
        .load()
        .expect("the ConfigMap's files load");
    assert_eq!(snap.templates.len(), 1);
}

/// Cluster mode: one audit replica in a Deployment of its own, the webhook replicas with
/// the audit loop off, and both knowing their Pod name and namespace.
#[test]
fn cluster_mode_audits_from_one_separate_replica() {
    if !helm_available() {
        return;
    }
    let docs = render(&[
        "mode=cluster",
        "audit.intervalSeconds=120",
        "audit.separateDeployment=true",
    ]);
    let webhook = args(&docs);
    assert!(webhook.contains(&"--audit-interval=0"), "{webhook:?}");
    let audit = deployment(&docs, "portcullis-audit");
    assert_eq!(audit["spec"]["replicas"], 1);
    assert_eq!(audit["spec"]["strategy"]["type"], "Recreate");
    let c = &audit["spec"]["template"]["spec"]["containers"][0];
    let audit_args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(audit_args.contains(&"--source=cluster"));
    assert!(
        audit_args.contains(&"--audit-interval=120"),
        "{audit_args:?}"
    );
    assert!(audit_args.contains(&"--constraint-violations-limit=20"));
    // The webhook Deployment and Service must not select the audit pod.
    let audit_labels = &audit["spec"]["template"]["metadata"]["labels"];
    let selects_audit = |selector: &Value| {
        selector
            .as_object()
            .expect("selector labels")
            .iter()
            .all(|(k, v)| &audit_labels[k] == v)
    };
    assert!(!selects_audit(
        &webhook_deployment(&docs)["spec"]["selector"]["matchLabels"]
    ));
    assert!(!selects_audit(&one(&docs, "Service")["spec"]["selector"]));
    for env in [&container(&docs)["env"], &c["env"]] {
        let field = |name: &str| {
            env.as_array()
                .and_then(|e| e.iter().find(|v| v["name"] == name))
                .map(|v| v["valueFrom"]["fieldRef"]["fieldPath"].clone())
        };
        assert_eq!(field("POD_NAME"), Some(json!("metadata.name")));
        assert_eq!(field("POD_NAMESPACE"), Some(json!("metadata.namespace")));
    }
    let off = render(&["mode=cluster", "audit.enabled=false"]);
    assert_eq!(
        kinds(&off).iter().filter(|k| **k == "Deployment").count(),
        1
    );
    let file = render(&[]);
    assert_eq!(
        kinds(&file).iter().filter(|k| **k == "Deployment").count(),
        1
    );
}

#[test]
fn cluster_mode_gets_rbac_for_the_policy_api_and_inventory() {
    if !helm_available() {
        return;
    }
    let docs = render(&["mode=cluster", "crds.install=true", "tls.mode=generate"]);
    assert!(!kinds(&docs).contains(&"ConfigMap"), "no policy ConfigMap");
    assert!(args(&docs).contains(&"--source=cluster"));
    assert_eq!(
        webhook_deployment(&docs)["spec"]["template"]["spec"]["automountServiceAccountToken"],
        true
    );
    let rules = one(&docs, "ClusterRole")["rules"]
        .as_array()
        .expect("rules")
        .clone();
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            let has = |field: &str, v: &str| {
                r[field]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == v || x == "*"))
            };
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for (group, resource) in [
        ("templates.gatekeeper.sh", "constrainttemplates"),
        ("constraints.gatekeeper.sh", "k8sallowedrepos"),
        ("mutations.gatekeeper.sh", "assign"),
        ("config.gatekeeper.sh", "configs"),
        ("", "namespaces"),
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(grants(group, resource, verb), "{verb} {group}/{resource}");
        }
    }
    assert!(grants("constraints.gatekeeper.sh", "*/status", "update"));
    assert!(grants("apps", "deployments", "list") && grants("apps", "deployments", "watch"));
    assert!(
        !grants("apps", "deployments", "delete"),
        "read-only inventory"
    );
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "portcullis");
    assert_eq!(binding["subjects"][0]["namespace"], "portcullis-system");

    let crds: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    assert_eq!(crds.len(), 6);
    for crd in crds {
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        assert_eq!(versions.iter().filter(|v| v["storage"] == true).count(), 1);
        let spec = &versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true);
    }
    // Without the value, no CRDs and no API access in file mode.
    assert!(!kinds(&render(&["tls.mode=generate"])).contains(&"ClusterRole"));
}

#[test]
fn webhooks_never_judge_the_control_plane_or_their_own_namespace() {
    if !helm_available() {
        return;
    }
    for sets in [
        vec![],
        vec!["optIn.enabled=true"],
        vec!["excludedNamespaces={monitoring}"],
        // Extra expressions are ANDed: they can narrow the selector, never widen it.
        vec![
            "validatingWebhook.namespaceSelectorExpressions[0].key=kubernetes.io/metadata.name",
            "validatingWebhook.namespaceSelectorExpressions[0].operator=Exists",
        ],
    ] {
        let docs = render(&sets);
        for (kind, hook) in webhooks(&docs) {
            for ns in [
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "portcullis-system",
            ] {
                let opted_in = json!({"admission.portcullis.io/enforce": "true"});
                assert!(!selects(hook, ns, opted_in), "{kind} {sets:?} judges {ns}");
            }
            let ignored = json!({"admission.portcullis.io/ignore": "yes"});
            assert!(!selects(hook, "team-a", ignored), "{kind}: opt-out label");
            let opt_in = sets.contains(&"optIn.enabled=true");
            assert_eq!(
                selects(hook, "team-a", json!({})),
                !opt_in,
                "{kind} {sets:?}"
            );
            let labels = json!({"admission.portcullis.io/enforce": "true"});
            assert!(
                selects(hook, "team-a", labels),
                "{kind}: opted-in namespace"
            );
            if sets.contains(&"excludedNamespaces={monitoring}") {
                assert!(!selects(hook, "monitoring", json!({})));
            }
        }
    }
    // The release namespace follows the release.
    let text = script(&["render", "--namespace", "policy"]).expect("renders");
    for (kind, hook) in webhooks(&parse(&text)) {
        assert!(
            !selects(hook, "policy", json!({})),
            "{kind} judges its own namespace"
        );
    }
}

#[test]
fn timeouts_and_failure_policies_follow_the_values() {
    if !helm_available() {
        return;
    }
    let defaults = render(&[]);
    for (kind, hook) in webhooks(&defaults) {
        let expected = if kind.starts_with("Validating") {
            "Fail"
        } else {
            "Ignore"
        };
        assert_eq!(hook["failurePolicy"], expected, "{kind}");
        assert_eq!(hook["timeoutSeconds"], 3, "{kind}");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["admissionReviewVersions"], json!(["v1", "v1beta1"]));
        assert!(hook.get("matchConditions").is_none());
    }
    // The server answers cut-off requests by the same failure policies, before the API
    // server's timeout, and the pod gets the time to drain.
    let a = args(&defaults);
    for want in [
        "--eval-timeout=2500ms",
        "--validate-failure-policy=Fail",
        "--mutate-failure-policy=Ignore",
        "--max-inflight-memory=192Mi",
        "--shutdown-delay=5s",
        "--shutdown-grace=15s",
    ] {
        assert!(a.contains(&want), "{want} in {a:?}");
    }
    assert!(!a.contains(&"--allow-partial-load"), "{a:?}");
    assert_eq!(
        webhook_deployment(&defaults)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        25
    );
    let docs = render(&[
        "validatingWebhook.failurePolicy=Ignore",
        "validatingWebhook.timeoutSeconds=7",
        "mutatingWebhook.failurePolicy=Fail",
        "mutatingWebhook.timeoutSeconds=2",
        "validatingWebhook.matchConditions[0].name=no-leases",
        "validatingWebhook.matchConditions[0].expression=request.resource.resource != 'leases'",
    ]);
    for (kind, hook) in webhooks(&docs) {
        let (policy, timeout) = if kind.starts_with("Validating") {
            ("Ignore", 7)
        } else {
            ("Fail", 2)
        };
        assert_eq!(hook["failurePolicy"], policy, "{kind}");
        assert_eq!(hook["timeoutSeconds"], timeout, "{kind}");
    }
    let v = one(&docs, "ValidatingWebhookConfiguration");
    assert_eq!(v["webhooks"][0]["matchConditions"][0]["name"], "no-leases");
    let a = args(&docs);
    for want in [
        "--eval-timeout=1500ms",
        "--validate-failure-policy=Ignore",
        "--mutate-failure-policy=Fail",
    ] {
        assert!(a.contains(&want), "{want} in {a:?}");
    }
    for (bad, why) in [
        (
            "validatingWebhook.failurePolicy=Sometimes",
            "must be one of",
        ),
        ("mutatingWebhook.timeoutSeconds=60", "maximum"),
        ("mode=everywhere", "must be one of"),
    ] {
        let err = script(&["render", "--set", bad]).expect_err(bad);
        assert!(err.contains(why), "{bad}: {err}");
    }
    // values.schema.json refuses keys the chart does not know, so typos are not ignored.
    let err = script(&["render", "--set", "replicas=3"]).expect_err("unknown key");
    assert!(err.contains("'replicas' not allowed"), "{err}");
}

#[test]
fn generated_ca_bundle_trusts_the_served_certificate() {
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    if !helm_available() {
        return;
    }
    let docs = render(&["tls.mode=generate"]);
    let secret = one(&docs, "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let data = &secret["data"];
    let (ca, crt, key) = (
        b64(&data["ca.crt"]),
        b64(&data["tls.crt"]),
        b64(&data["tls.key"]),
    );
    for (kind, hook) in webhooks(&docs) {
        assert_eq!(b64(&hook["clientConfig"]["caBundle"]), ca, "{kind}");
    }
    // The pods load this pair as they would from the mounted Secret ...
    portcullis::server::tls::server_config(&crt, &key).expect("the server accepts the pair");
    // ... and kube-apiserver, trusting only caBundle, accepts it for the Service's name.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca).expect("CA PEM"))
        .expect("CA usable as a root");
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .expect("verifier");
    let leaf = CertificateDer::from_pem_slice(&crt).expect("cert PEM");
    let svc = one(&docs, "Service");
    let host = format!(
        "{}.{}.svc",
        svc["metadata"]["name"].as_str().expect("name"),
        svc["metadata"]["namespace"].as_str().expect("namespace")
    );
    let name = ServerName::try_from(host.clone()).expect("DNS name");
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        .unwrap_or_else(|e| panic!("caBundle does not trust the certificate for {host}: {e}"));
}

#[test]
fn other_tls_modes_wire_the_ca_bundle_without_generating() {
    if !helm_available() {
        return;
    }
    let docs = render(&[
        "tls.mode=secret",
        "tls.secretName=mine",
        "tls.caBundle=Q0E=",
    ]);
    assert!(!kinds(&docs).contains(&"Secret"));
    for (_, hook) in webhooks(&docs) {
        assert_eq!(hook["clientConfig"]["caBundle"], "Q0E=");
    }
    let vol = &webhook_deployment(&docs)["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(vol["secret"]["secretName"], "mine");

    let docs = render(&["tls.mode=certManager"]);
    let serving = docs
        .iter()
        .find(|d| d["kind"] == "Certificate" && d["metadata"]["name"] == "portcullis-serving")
        .expect("serving Certificate");
    assert_eq!(serving["spec"]["secretName"], "portcullis-tls");
    for (kind, hook) in webhooks(&docs) {
        assert!(hook["clientConfig"].get("caBundle").is_none(), "{kind}");
        let cfg = one(&docs, kind);
        assert_eq!(
            cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "portcullis-system/portcullis-serving"
        );
    }
}

#[test]
fn deploy_manifests_are_a_fresh_render_of_the_chart() {
    if !helm_available() {
        return;
    }
    let fresh = script(&["deploy", "--stdout"]).expect("deploy renders");
    let committed =
        std::fs::read_to_string(root().join("deploy/portcullis.yaml")).expect("deploy file");
    assert!(
        fresh == committed,
        "deploy/portcullis.yaml differs from the chart: run scripts/helm-chart.py deploy"
    );
}

/// Cluster-mode RBAC grants least privilege: no Secrets unless asked, CRD writes only with
/// CRD management (and an admission policy narrowing them to constraint CRDs), Pods read
/// only in the release namespace for status garbage collection.
#[test]
fn cluster_rbac_reads_no_secrets_and_writes_only_what_its_features_need() {
    if !helm_available() {
        return;
    }
    let grants = |docs: &[Value], kind: &str, group: &str, resource: &str, verb: &str| {
        docs.iter().filter(|d| d["kind"] == kind).any(|role| {
            role["rules"].as_array().into_iter().flatten().any(|r| {
                let has = |field: &str, v: &str| {
                    r[field]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == v || x == "*"))
                };
                has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
            })
        })
    };
    let docs = render(&["mode=cluster"]);
    let cluster = |g: &str, r: &str, v: &str| grants(&docs, "ClusterRole", g, r, v);
    for verb in ["get", "list", "watch"] {
        assert!(!cluster("", "secrets", verb), "{verb} secrets by default");
    }
    assert!(cluster("apps", "deployments", "list") && cluster("", "pods", "watch"));
    assert!(!cluster("example.com", "widgets", "list"), "builtin scope");
    for verb in ["create", "update", "delete", "watch"] {
        assert!(cluster(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            verb
        ));
    }
    assert!(!cluster("mutations.gatekeeper.sh", "widgets", "list"));
    assert!(!cluster("", "pods", "delete"));
    for role in docs.iter().filter(|d| d["kind"] == "Role") {
        assert_eq!(role["metadata"]["namespace"], "portcullis-system");
    }
    assert!(grants(&docs, "Role", "", "pods", "list"));
    assert!(!grants(&docs, "Role", "", "secrets", "list"));
    let policy = one(&docs, "ValidatingAdmissionPolicy");
    let condition = policy["spec"]["matchConditions"][0]["expression"]
        .as_str()
        .expect("condition");
    assert!(
        condition.contains("system:serviceaccount:portcullis-system:portcullis"),
        "{condition}"
    );
    assert_eq!(
        one(&docs, "ValidatingAdmissionPolicyBinding")["spec"]["policyName"],
        policy["metadata"]["name"]
    );
    // The CRD manager on every Pod; status GC where the audit runs: on the elected leader
    // (the webhook Pods compete), or on the audit Pod without leader election.
    let unelected = render(&["mode=cluster", "leaderElection.enabled=false"]);
    for (docs, name, gc) in [
        (&docs, "portcullis", "60"),
        (&unelected, "portcullis", "0"),
        (&unelected, "portcullis-audit", "60"),
    ] {
        let c = &deployment(docs, name)["spec"]["template"]["spec"]["containers"][0];
        let a: Vec<&str> = c["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(a.contains(&"--manage-crds=true"), "{name}: {a:?}");
        let interval = format!("--status-gc-interval={gc}");
        assert!(a.contains(&interval.as_str()), "{name}: {a:?}");
        assert!(
            a.contains(&"--status-gc-selector=app.kubernetes.io/instance=portcullis"),
            "{name}: {a:?}"
        );
    }

    let no_audit = render(&["mode=cluster", "audit.enabled=false"]);
    assert!(args(&no_audit).contains(&"--status-gc-interval=60"));
    // Off: no CRD writes, no admission policy, no Pod reads.
    let off = render(&[
        "mode=cluster",
        "crds.manage=false",
        "statusGc.intervalSeconds=0",
    ]);
    assert!(!grants(
        &off,
        "ClusterRole",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "create"
    ));
    assert!(!kinds(&off).contains(&"ValidatingAdmissionPolicy"));
    assert!(!grants(&off, "Role", "", "pods", "list"));
    assert!(args(&off).contains(&"--manage-crds=false"));

    // Generated ValidatingAdmissionPolicies: the flag and their write access, only when asked.
    let vap = render(&["mode=cluster", "vap.generate=true"]);
    assert!(args(&vap).contains(&"--generate-vap"));
    assert!(!args(&docs).contains(&"--generate-vap"));
    for verb in ["create", "update", "delete"] {
        for resource in [
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
        ] {
            let group = "admissionregistration.k8s.io";
            assert!(grants(&vap, "ClusterRole", group, resource, verb));
            assert!(!grants(&docs, "ClusterRole", group, resource, verb));
        }
    }

    // Asked for: Secrets, or every resource (which includes them).
    let secrets = render(&["mode=cluster", "rbac.secrets=true"]);
    assert!(grants(&secrets, "ClusterRole", "", "secrets", "list"));
    assert!(!grants(&secrets, "ClusterRole", "", "secrets", "get"));
    let all = render(&["mode=cluster", "rbac.inventoryScope=all"]);
    assert!(grants(
        &all,
        "ClusterRole",
        "example.com",
        "widgets",
        "list"
    ));
    let bad = script(&with_sets(
        "render",
        &["mode=cluster", "rbac.inventoryScope=some"],
    ));
    assert!(bad.is_err(), "an unknown scope is refused by the schema");
}

/// The rules of a rendered Role or ClusterRole as (apiGroup, resource, resourceNames, verbs).
fn rules_of(role: &Value) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                out.push((
                    group.clone(),
                    resource,
                    strings(&rule["resourceNames"]),
                    strings(&rule["verbs"]),
                ));
            }
        }
    }
    out
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// By default the replicas elect a leader (which audits) and rotate their certificate
/// themselves: no audit Deployment, no Secret or caBundle at render time, and RBAC for
/// exactly the Lease, the Secret and the two webhook configurations.
#[test]
fn leader_election_and_certificate_rotation_are_the_defaults() {
    if !helm_available() {
        return;
    }
    let docs = render(&["mode=cluster"]);
    assert_eq!(
        kinds(&docs).iter().filter(|k| **k == "Deployment").count(),
        1,
        "no separate audit Deployment"
    );
    assert!(!kinds(&docs).contains(&"Secret"), "made by the server");
    let a = args(&docs);
    for want in [
        "--leader-elect=true",
        "--leader-lease-name=portcullis-leader",
        "--leader-lease-duration=15s",
        "--leader-renew-deadline=10s",
        "--leader-retry-period=2s",
        "--audit-interval=60",
        "--cert-rotation",
        "--cert-secret-name=portcullis-tls",
        "--validating-webhook-configuration-name=portcullis-validation",
        "--mutating-webhook-configuration-name=portcullis-mutation",
        "--dns-name=portcullis.portcullis-system.svc",
    ] {
        assert!(a.contains(&want), "{want} in {a:?}");
    }
    assert!(!a.iter().any(|x| x.starts_with("--tls-cert")), "{a:?}");
    for (kind, hook) in webhooks(&docs) {
        assert!(hook["clientConfig"].get("caBundle").is_none(), "{kind}");
    }
    named(
        &docs,
        "ValidatingWebhookConfiguration",
        "portcullis-validation",
    );
    named(&docs, "MutatingWebhookConfiguration", "portcullis-mutation");
    let pod = &webhook_deployment(&docs)["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert!(pod.get("volumes").is_none(), "no certificate volume");

    let role = rules_of(named(&docs, "Role", "portcullis-coordination"));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        role,
        vec![
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                s(&["portcullis-leader"]),
                s(&["get", "update"])
            ),
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec![],
                s(&["create"])
            ),
            (
                "".into(),
                "secrets".into(),
                s(&["portcullis-tls"]),
                s(&["get", "update"])
            ),
            ("".into(), "secrets".into(), vec![], s(&["create"])),
        ]
    );
    let binding = named(&docs, "RoleBinding", "portcullis-coordination");
    assert_eq!(binding["subjects"][0]["name"], "portcullis");
    let webhook_ca = rules_of(named(&docs, "ClusterRole", "portcullis-webhook-ca"));
    assert_eq!(
        webhook_ca,
        vec![
            (
                "admissionregistration.k8s.io".into(),
                "validatingwebhookconfigurations".into(),
                s(&["portcullis-validation"]),
                s(&["get", "patch"])
            ),
            (
                "admissionregistration.k8s.io".into(),
                "mutatingwebhookconfigurations".into(),
                s(&["portcullis-mutation"]),
                s(&["get", "patch"])
            ),
        ]
    );

    // Without leader election, the audit runs in its own Deployment, which does not compete.
    let off = render(&["mode=cluster", "leaderElection.enabled=false"]);
    assert!(args(&off).contains(&"--leader-elect=false"));
    assert!(args(&off).contains(&"--audit-interval=0"));
    let audit = deployment(&off, "portcullis-audit");
    let audit_args = &audit["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(audit_args
        .as_array()
        .expect("args")
        .contains(&json!("--leader-elect=false")));
    assert!(audit_args
        .as_array()
        .expect("args")
        .contains(&json!("--cert-rotation")));
    let off_role = rules_of(named(&off, "Role", "portcullis-coordination"));
    assert!(off_role.iter().all(|r| r.1 != "leases"), "{off_role:?}");

    // File mode with rotation: API access for the certificate only.
    let file = render(&[]);
    let pod = &webhook_deployment(&file)["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    assert_eq!(pod["volumes"].as_array().expect("policies volume").len(), 1);
    assert!(args(&file).contains(&"--cert-rotation"));
    assert!(!args(&file).iter().any(|x| x.starts_with("--leader")));
    let file_role = rules_of(named(&file, "Role", "portcullis-coordination"));
    assert!(file_role.iter().all(|r| r.1 == "secrets"), "{file_role:?}");
    let cluster_roles: Vec<&Value> = file
        .iter()
        .filter(|d| d["kind"] == "ClusterRole")
        .map(|d| &d["metadata"]["name"])
        .collect();
    assert_eq!(
        cluster_roles,
        [&json!("portcullis-webhook-ca")],
        "nothing else"
    );
}
