//! Certificate rotation over the fake API server: the CA and serving certificate are made
//! into a Secret and the CA into both webhook configurations' caBundle; replicas starting
//! together converge on one Secret; a renewal (forced CA rotation, or a serving certificate
//! near its end) is served without a restart to clients that trust only the new CA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::fake_apiserver::{FakeApiServer, Kind};
use common::{eventually, Proto};
use portcullis::cert_rotation::material::{Material, Validity};
use portcullis::cert_rotation::{CertRotator, RotationOptions};
use portcullis::metrics::Metrics;
use portcullis::server::{tls::TlsHandle, AppState, ConnectionLimits, Lifecycle, Stage};
use portcullis::snapshot::SnapshotStore;
use serde_json::{json, Value};

const NS: &str = "portcullis-system";
const SECRET: &str = "portcullis-tls";
const VALIDATING: &str = "portcullis-validation";
const MUTATING: &str = "portcullis-mutation";

fn kinds() -> Vec<Kind> {
    vec![
        Kind::new("", "v1", "Secret", "secrets", true),
        Kind::new(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
        ),
        Kind::new(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
        ),
    ]
}

fn hook(name: &str, path: &str) -> Value {
    json!({"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": {"service": {"name": "portcullis", "namespace": NS, "path": path}}})
}

/// A fake cluster with both webhook configurations as the chart installs them (no caBundle).
async fn cluster() -> FakeApiServer {
    let fake = FakeApiServer::start(kinds()).await;
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": VALIDATING},
        "webhooks": [hook("validation.portcullis.io", "/validate"),
                     hook("audit-free.portcullis.io", "/validate")]}));
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": {"name": MUTATING},
        "webhooks": [hook("mutation.portcullis.io", "/mutate")]}));
    fake
}

fn options() -> RotationOptions {
    RotationOptions {
        dns_names: vec!["portcullis.portcullis-system.svc".into()],
        validating_webhook: Some(VALIDATING.into()),
        mutating_webhook: Some(MUTATING.into()),
        poll: Duration::from_millis(200),
        ..RotationOptions::new(SECRET, NS)
    }
}

fn secret(fake: &FakeApiServer) -> Value {
    fake.get(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NS}}))
        .expect("the Secret exists")
}

fn decode(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 text"))
        .expect("base64");
    String::from_utf8(bytes).expect("PEM text")
}

/// The Secret's trust bundle (`ca.crt`), PEM.
fn secret_bundle(fake: &FakeApiServer) -> String {
    decode(&secret(fake)["data"]["ca.crt"])
}

/// The caBundle (PEM) of every webhook of both configurations.
fn ca_bundles(fake: &FakeApiServer) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, name) in [
        ("ValidatingWebhookConfiguration", VALIDATING),
        ("MutatingWebhookConfiguration", MUTATING),
    ] {
        let config = fake
            .get(
                &json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": name}}),
            )
            .unwrap();
        for hook in config["webhooks"].as_array().unwrap() {
            // A webhook without one yet reads as empty.
            let bundle = &hook["clientConfig"]["caBundle"];
            out.push(if bundle.is_null() {
                String::new()
            } else {
                decode(bundle)
            });
        }
    }
    out
}

/// An HTTPS webhook server serving with `tls`: its health URL and lifecycle.
fn serve(tls: TlsHandle) -> (String, Lifecycle) {
    let state = AppState::new(Arc::new(SnapshotStore::default()), Arc::new(Metrics::new()));
    let lifecycle = state.lifecycle.clone();
    let base = common::serve_state(state, tls, ConnectionLimits::default());
    (format!("{base}/healthz"), lifecycle)
}

/// Whether a client trusting only `ca_pem` gets an answer from `url`.
async fn trusted(ca_pem: &str, url: &str) -> bool {
    let c = common::client(ca_pem, Proto::Http1);
    c.get(url).send().await.is_ok_and(|r| r.status() == 200)
}

/// The first certificate of a PEM text.
fn first_pem(text: &str) -> String {
    portcullis::cert_rotation::material::split_pem(text)
        .into_iter()
        .next()
        .expect("a certificate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_writes_the_secret_and_the_ca_bundle_of_every_webhook() {
    let fake = cluster().await;
    let rotator = CertRotator::new(fake.client(), options()).unwrap();
    let (tls, _task) = rotator.start().await;

    let secret = secret(&fake);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    for key in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
        assert!(secret["data"][key].is_string(), "{key} in {secret}");
    }
    let bundle = secret_bundle(&fake);
    assert_eq!(
        portcullis::cert_rotation::material::split_pem(&bundle).len(),
        1
    );
    let bundles = ca_bundles(&fake);
    assert_eq!(bundles.len(), 3, "both configurations, every webhook");
    assert!(bundles.iter().all(|b| *b == bundle), "{bundles:?}");

    let (url, lifecycle) = serve(tls);
    assert!(
        trusted(&bundle, &url).await,
        "served with the Secret's pair"
    );
    // The serving certificate names the Service.
    let cert = decode(&secret["data"]["tls.crt"]);
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()
    };
    let needle = b"portcullis.portcullis-system.svc";
    assert!(der.as_ref().windows(needle.len()).any(|w| w == needle));
    lifecycle.advance(Stage::Closing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_converge_on_one_secret() {
    let fake = cluster().await;
    let a = CertRotator::new(fake.client(), options()).unwrap();
    let b = CertRotator::new(fake.client(), options()).unwrap();
    let ((tls_a, _ta), (tls_b, _tb)) = tokio::join!(a.start(), b.start());
    let (url_a, la) = serve(tls_a);
    let (url_b, lb) = serve(tls_b);
    // Both serve the Secret's certificate: a client trusting only its CA reaches both.
    let bundle = secret_bundle(&fake);
    let ca = first_pem(&bundle);
    assert!(trusted(&ca, &url_a).await);
    assert!(trusted(&ca, &url_b).await);
    // ...and the webhooks trust it, whichever replica wrote last.
    let agreed = eventually(Duration::from_secs(5), || async {
        ca_bundles(&fake).iter().all(|b| *b == bundle)
    })
    .await;
    assert!(agreed, "{:?}", ca_bundles(&fake));
    assert_eq!(fake.objects("", "secrets").len(), 1);
    la.advance(Stage::Closing);
    lb.advance(Stage::Closing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_ca_is_served_without_restart_and_the_old_one_stays_trusted_meanwhile() {
    let fake = cluster().await;
    let serving = CertRotator::new(fake.client(), options()).unwrap();
    let (tls, _task) = serving.start().await;
    let (url, lifecycle) = serve(tls);
    let old_ca = first_pem(&secret_bundle(&fake));
    assert!(trusted(&old_ca, &url).await);

    // Another replica rotates the CA (as at the end of its validity, or on demand).
    let mut other = CertRotator::new(fake.client(), options()).unwrap();
    other.rotate_ca();
    other.check(None).await.unwrap();
    let bundle = secret_bundle(&fake);
    let cas = portcullis::cert_rotation::material::split_pem(&bundle);
    assert_eq!(cas.len(), 2, "new CA first, the old one kept");
    assert_eq!(cas[1], old_ca);
    let new_ca = cas[0].clone();
    assert!(
        ca_bundles(&fake).iter().all(|b| *b == bundle),
        "the webhooks trust both CAs"
    );

    // The running server picks up the new pair: a client trusting only the new CA is
    // served, with no restart.
    let url2 = url.clone();
    let served = eventually(Duration::from_secs(5), || trusted(&new_ca, &url2)).await;
    assert!(served, "the new certificate is served");
    assert!(
        !trusted(&old_ca, &url).await,
        "the new certificate is signed by the new CA only"
    );
    lifecycle.advance(Stage::Closing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_certificate_near_its_end_is_renewed_under_the_same_ca() {
    let fake = cluster().await;
    // A Secret whose serving certificate has 10 days left: inside the 90-day lookahead.
    let names = options().dns_names;
    let mut m = Material::create(&names, Validity::default()).unwrap();
    let (cert, key) =
        portcullis::certs::sign_serving(&m.ca_key, &names, time::Duration::days(10)).unwrap();
    m.cert = cert.clone();
    m.key = key;
    let data: serde_json::Map<String, Value> = m
        .to_data()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(v.0)),
            )
        })
        .collect();
    fake.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": SECRET, "namespace": NS,
                     "annotations": {"portcullis.io/dns-names": names.join(",")}},
        "data": data}),
    );

    let rotator = CertRotator::new(fake.client(), options()).unwrap();
    let (tls, _task) = rotator.start().await;
    let renewed = secret(&fake);
    assert_ne!(decode(&renewed["data"]["tls.crt"]), cert, "renewed");
    assert_eq!(
        decode(&renewed["data"]["ca.crt"]),
        m.bundle_pem(),
        "same CA, no caBundle change needed"
    );
    assert!(ca_bundles(&fake).iter().all(|b| *b == m.bundle_pem()));
    let (url, lifecycle) = serve(tls);
    assert!(trusted(&m.bundle[0], &url).await);
    lifecycle.advance(Stage::Closing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_made_by_other_means_is_taken_over_with_its_ca_still_trusted() {
    // As Helm's `generate` mode left it: ca.crt, tls.crt, tls.key, no ca.key.
    let fake = FakeApiServer::start(kinds()).await;
    let helm = portcullis::certs::generate(&[]).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    fake.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": SECRET, "namespace": NS},
        "data": {"ca.crt": b64(&helm.ca_pem), "tls.crt": b64(&helm.cert_pem),
                 "tls.key": b64(&helm.key_pem)}}),
    );
    let rotator = CertRotator::new(fake.client(), options()).unwrap();
    let (tls, first) = rotator.start().await;
    let cas = portcullis::cert_rotation::material::split_pem(&secret_bundle(&fake));
    assert_eq!(cas.len(), 2);
    assert_eq!(
        cas[1], helm.ca_pem,
        "the CA the pods served until now stays trusted"
    );
    assert!(secret(&fake)["data"]["ca.key"].is_string());
    let (url, lifecycle) = serve(tls);
    assert!(trusted(&cas[0], &url).await);

    first.abort();
    // The webhook configurations arrive after the pods (as Helm applies them last): their
    // caBundle is written within about a second, not a whole poll period.
    let slow = RotationOptions {
        poll: Duration::from_secs(60),
        ..options()
    };
    let mut late = CertRotator::new(fake.client(), slow).unwrap();
    late.check(None).await.unwrap();
    let (_, _task) = late.start().await;
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": VALIDATING},
        "webhooks": [hook("validation.portcullis.io", "/validate")]}));
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration", "metadata": {"name": MUTATING},
        "webhooks": [hook("mutation.portcullis.io", "/mutate")]}));
    let bundle = secret_bundle(&fake);
    let patched = eventually(Duration::from_secs(4), || async {
        ca_bundles(&fake).iter().all(|b| *b == bundle)
    })
    .await;
    assert!(
        patched,
        "caBundle written soon after the configurations appear"
    );
    lifecycle.advance(Stage::Closing);
}
