//! The webhook over real HTTPS: HTTP/1.1 and HTTP/2 by ALPN, a client that verifies the CA,
//! responses checked the way kube-apiserver checks them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::time::Duration;

use common::{eventually, pod, post_review, review, start, Proto};
use portcullis::decision::ServerEnforcement;
use serde_json::json;

const REPOS: &str = r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: trusted-registries}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    excludedNamespaces: ["kube-system"]
  parameters:
    repos: ["registry.k8s.io/"]
"#;

const OWNER_WARN: &str = r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: owner-warn}
spec:
  enforcementAction: warn
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
  parameters:
    labels: [{key: owner}]
"#;

const PROBES_OPT_IN: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {probes: required}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredProbes
metadata: {name: probes-opt-in}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    namespaceSelector: {matchLabels: {probes: required}}
  parameters:
    probes: ["readinessProbe"]
    probeTypes: ["httpGet"]
"#;

fn policies() -> Vec<(&'static str, &'static str)> {
    vec![
        ("repos.yaml", REPOS),
        ("owner.yaml", OWNER_WARN),
        ("probes.yaml", PROBES_OPT_IN),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_and_allows_over_http1_and_http2() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    for proto in [Proto::Http1, Proto::Http2] {
        let c = common::client(&srv.ca_pem, proto);
        let url = format!("{}/validate", srv.base);
        for api in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
            let bad = review(
                api,
                "uid-bad",
                "CREATE",
                pod("dev", "p", "docker.io/evil/x:1"),
            );
            let out = post_review(&c, &url, &bad, proto).await;
            assert_eq!(out["response"]["allowed"], false, "{out}");
            assert_eq!(out["response"]["status"]["code"], 403);
            let msg = out["response"]["status"]["message"].as_str().unwrap_or("");
            assert!(msg.starts_with("[trusted-registries] "), "{msg}");
            assert!(msg.contains("docker.io/evil/x:1"), "{msg}");

            // Gatekeeper's path answers the same, for webhook configurations written for it.
            let gk = post_review(&c, &format!("{}/v1/admit", srv.base), &bad, proto).await;
            assert_eq!(gk["response"]["allowed"], false, "{gk}");

            let good = review(
                api,
                "uid-good",
                "CREATE",
                pod("dev", "p", "registry.k8s.io/pause:3.9"),
            );
            let out = post_review(&c, &url, &good, proto).await;
            assert_eq!(out["response"]["allowed"], true, "{out}");
            assert!(out["response"].get("status").is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_excluded_namespaces_and_delete() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http2);
    let url = format!("{}/validate", srv.base);
    let mut p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    p["metadata"]["labels"] = json!({});
    let out = post_review(
        &c,
        &url,
        &review("admission.k8s.io/v1", "u1", "CREATE", p),
        Proto::Http2,
    )
    .await;
    assert_eq!(out["response"]["allowed"], true);
    let warnings = out["response"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(warnings[0]
        .as_str()
        .unwrap_or("")
        .starts_with("[owner-warn] "));

    // excludedNamespaces: kube-system is never judged by trusted-registries.
    let sys = review(
        "admission.k8s.io/v1",
        "u2",
        "CREATE",
        pod("kube-system", "p", "docker.io/evil/x:1"),
    );
    let out = post_review(&c, &url, &sys, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");

    // DELETE judges oldObject, as Gatekeeper does.
    let del = review(
        "admission.k8s.io/v1",
        "u3",
        "DELETE",
        pod("dev", "p", "docker.io/evil/x:1"),
    );
    let out = post_review(&c, &url, &del, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_selector_opt_in() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http1);
    let url = format!("{}/validate", srv.base);
    let prod = review(
        "admission.k8s.io/v1",
        "u1",
        "CREATE",
        pod("prod", "p", "registry.k8s.io/pause:3.9"),
    );
    let out = post_review(&c, &url, &prod, Proto::Http1).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
    assert!(out["response"]["status"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("[probes-opt-in]"));
    let dev = review(
        "admission.k8s.io/v1",
        "u2",
        "CREATE",
        pod("dev", "p", "registry.k8s.io/pause:3.9"),
    );
    let out = post_review(&c, &url, &dev, Proto::Http1).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_wide_dryrun_never_denies_but_counts() {
    let srv = start(&policies(), ServerEnforcement::Dryrun).await;
    let c = common::client(&srv.ca_pem, Proto::Http1);
    let bad = review(
        "admission.k8s.io/v1",
        "u1",
        "CREATE",
        pod("dev", "p", "docker.io/evil/x:1"),
    );
    let out = post_review(&c, &format!("{}/validate", srv.base), &bad, Proto::Http1).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    let text = srv.metrics.encode();
    assert!(text.contains("portcullis_dryrun_denials_total 1"), "{text}");
    assert!(
        text.contains("constraint=\"trusted-registries\",enforcement_action=\"deny\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_clear_errors() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http1);
    let url = format!("{}/validate", srv.base);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "JSON"),
        (vec![0xc3, 0x28], "UTF-8"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_vec(), "request"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v9","request":{}}"#.to_vec(), "apiVersion"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"kind":{"kind":"Pod"},"operation":"CREATE"}}"#.to_vec(), "uid"),
    ];
    for (body, needle) in cases {
        let resp = c.post(&url).body(body).send().await.expect("send");
        assert_eq!(resp.status(), 400);
        let v: serde_json::Value = resp.json().await.expect("json error body");
        let msg = v["error"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{msg:?} should mention {needle}");
    }
    // The server answers 413 without reading the whole body. Over HTTP/1.1 that closes the
    // connection while the client may still be writing (a broken pipe, not an answer), so
    // the oversized request goes over HTTP/2, where the stream is reset after the answer.
    let big = vec![b' '; 300 * 1024];
    let once = common::client(&srv.ca_pem, Proto::Http2);
    let resp = once.post(&url).body(big).send().await.expect("send");
    assert_eq!(resp.status(), 413);
    let resp = c.get(&url).send().await.expect("send");
    assert_eq!(resp.status(), 405);
    let resp = c
        .get(format!("{}/nope", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    // The server is still healthy after all of that.
    let resp = c
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let resp = c
        .get(format!("{}/readyz", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_good_and_broken_files() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http2);
    let url = format!("{}/validate", srv.base);
    let quay = review(
        "admission.k8s.io/v1",
        "u1",
        "CREATE",
        pod("dev", "p", "quay.io/team/app:1"),
    );
    let out = post_review(&c, &url, &quay, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], false);

    // A good change: quay.io becomes trusted.
    std::fs::write(
        srv.policy_dir.path().join("repos.yaml"),
        REPOS.replace(
            "[\"registry.k8s.io/\"]",
            "[\"registry.k8s.io/\", \"quay.io/\"]",
        ),
    )
    .expect("write");
    let reloaded =
        eventually(Duration::from_secs(10), || {
            let (c, url, quay) = (c.clone(), url.clone(), quay.clone());
            async move {
                post_review(&c, &url, &quay, Proto::Http2).await["response"]["allowed"] == true
            }
        })
        .await;
    assert!(reloaded, "the new policy set must be served");

    // A broken change: a constraint failing its template's schema. The last good set stays.
    std::fs::write(
        srv.policy_dir.path().join("broken.yaml"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {name: broken}\nspec:\n  parameters:\n    repos: 7\n",
    )
    .expect("write");
    let counted = eventually(Duration::from_secs(10), || {
        let text = srv.metrics.encode();
        async move { common::metric_value(&text, "portcullis_policy_reload_errors_total") >= 1.0 }
    })
    .await;
    assert!(counted, "the rejected reload is counted");
    let out = post_review(&c, &url, &quay, Proto::Http2).await;
    assert_eq!(
        out["response"]["allowed"], true,
        "last good set keeps serving"
    );
    let bad = review(
        "admission.k8s.io/v1",
        "u2",
        "CREATE",
        pod("dev", "p", "docker.io/evil/x:1"),
    );
    assert_eq!(
        post_review(&c, &url, &bad, Proto::Http2).await["response"]["allowed"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_prometheus_text() {
    let srv = start(&policies(), ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http1);
    let bad = review(
        "admission.k8s.io/v1",
        "m1",
        "CREATE",
        pod("dev", "p", "docker.io/evil/x:1"),
    );
    post_review(&c, &format!("{}/validate", srv.base), &bad, Proto::Http1).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(portcullis::server::serve_metrics(
        listener,
        srv.metrics.clone(),
        std::future::pending(),
    ));
    // Plain HTTP: the client's TLS settings are not used.
    let text = c
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    for needle in [
        "portcullis_admission_requests_total{endpoint=\"validate\",operation=\"CREATE\",kind=\"Pod\",decision=\"denied\"} 1",
        "portcullis_admission_request_duration_seconds_bucket{le=\"0.0001\",endpoint=\"validate\"}",
        "portcullis_violations_total{constraint=\"trusted-registries\",enforcement_action=\"deny\"} 1",
        "portcullis_policies{kind=\"constraint\"} 3",
        "portcullis_policy_reload_errors_total 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
