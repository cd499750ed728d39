//! The serving certificate is replaced on disk (as cert-manager or a Secret update does) and
//! the running server picks it up without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::time::Duration;

use common::{eventually, start, Proto};
use portcullis::decision::ServerEnforcement;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_is_served_without_restart() {
    let srv = start(&[], ServerEnforcement::Deny).await;
    let url = format!("{}/healthz", srv.base);
    let old = common::client(&srv.ca_pem, Proto::Http1);
    assert_eq!(old.get(&url).send().await.expect("old CA").status(), 200);

    let rotated = portcullis::certs::generate(&[]).expect("new material");
    rotated.write_to(srv.cert_dir.path()).expect("write");
    let served = eventually(Duration::from_secs(10), || {
        let c = common::client(&rotated.ca_pem, Proto::Http1);
        let url = url.clone();
        async move { c.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(served, "the new certificate must be served");
    // A fresh client that only trusts the old CA is now refused.
    let stale = common::client(&srv.ca_pem, Proto::Http1);
    assert!(stale.get(&url).send().await.is_err());

    // A broken pair is rejected and the rotated certificate keeps serving.
    std::fs::write(srv.cert_dir.path().join("tls.crt"), "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = common::client(&rotated.ca_pem, Proto::Http1);
    assert_eq!(
        c.get(&url).send().await.expect("still served").status(),
        200
    );
}
