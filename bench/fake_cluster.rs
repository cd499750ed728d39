//! A fake Kubernetes API server holding a policy directory and a directory of manifests,
//! for measuring `portcullis audit --source cluster` (bench/audit_scale.py --source
//! cluster) as a separate process: the audit's memory is then the audit's alone.
//!
//! Usage: fake-cluster POLICIES OBJECTS
//! Prints `listening on http://127.0.0.1:PORT` once every object is stored, then serves
//! until killed. A Config in `portcullis-system` syncs Ingresses into `data.inventory`, so
//! the unique-host rule reads the cluster's Ingresses as under Gatekeeper.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark tool
#![allow(dead_code)] // the fake's test-only helpers

#[path = "../tests/common/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::path::Path;

use fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use serde_json::{json, Value};

fn documents(path: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for file in portcullis::manifests::list_files(path).expect("list files") {
        for doc in portcullis::manifests::read_values(&file).expect("read manifests") {
            match doc["items"].as_array() {
                Some(items) if doc["kind"] == "List" => out.extend(items.iter().cloned()),
                _ => out.push(doc),
            }
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, policies, objects] = args.as_slice() else {
        panic!("usage: fake-cluster POLICIES OBJECTS");
    };
    let mut kinds = gatekeeper_kinds();
    kinds.push(Kind::new("", "v1", "Pod", "pods", true));
    kinds.push(Kind::new("", "v1", "Service", "services", true));
    let fake = FakeApiServer::start(kinds).await;

    let mut policy = documents(Path::new(policies));
    // Only what the fake serves: constraint kinds come from the templates.
    for template in policy.iter().filter(|d| d["kind"] == "ConstraintTemplate") {
        if let Some(kind) = template["spec"]["crd"]["spec"]["names"]["kind"].as_str() {
            fake.serve_kind(Kind::constraint(kind));
        }
    }
    policy.retain(|d| {
        let api = d["apiVersion"].as_str().unwrap_or_default();
        fake.serves(
            api.split_once('/').map_or("", |(g, _)| g),
            d["kind"].as_str().unwrap_or_default(),
        )
    });
    // FAKE_CLUSTER_SYNC=0 leaves the inventory empty (to tell its cost apart).
    if std::env::var("FAKE_CLUSTER_SYNC").as_deref() != Ok("0") {
        policy.push(
            json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "portcullis-system"},
        "spec": {"sync": {"syncOnly": [
            {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}]}}}),
        );
    }
    let mut namespaces = std::collections::BTreeSet::new();
    for doc in policy.into_iter().chain(documents(Path::new(objects))) {
        if let Some(ns) = doc["metadata"]["namespace"].as_str() {
            if namespaces.insert(ns.to_string()) {
                fake.apply(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns}}));
            }
        }
        fake.apply(doc);
    }
    // The watch history is for resuming watches; a freshly started audit lists instead.
    fake.compact();
    println!("listening on {}", fake.url);
    std::future::pending::<()>().await;
}
