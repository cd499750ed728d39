//! Cost of the Native rules on hostile objects: linear in the object (and the inventory),
//! and cut off by the deadline.
//!
//! Timings are compared within one run, 15,000 against 60,000 containers: a linear rule
//! takes about 4 times as long, a quadratic one 16 times. The ratio is asserted below 8,
//! which leaves room for a noisy shared machine and still fails a quadratic rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::deadline::Deadline;
use crate::engine::{BoundProgram, EngineError, EvalInput};
use crate::review::Review;

type Bind = fn(&Value) -> Result<Arc<dyn BoundProgram>, EngineError>;

/// A Pod of `n` distinctly named containers, all with an untrusted, untagged image.
fn pod(n: usize) -> Review {
    let containers: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": "docker.io/evil/miner"}))
        .collect();
    Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": containers}
    }))
}

fn bound(bind: Bind, parameters: &Value) -> Arc<dyn BoundProgram> {
    match bind(parameters) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// Evaluate and return (number of violations, time taken).
/// The violation count and the fastest of three runs: a shared 2-core machine (parallel
/// tests, builds) stretches single runs by a factor of two now and then, and the minimum
/// is the run least disturbed, which is what a growth ratio must compare.
fn timed(rule: &dyn BoundProgram, review: &Review, inventory: &Value) -> (usize, Duration) {
    let mut best: Option<(usize, Duration)> = None;
    for _ in 0..3 {
        let start = Instant::now();
        let got = match rule.evaluate(&EvalInput::new(review, inventory)) {
            Ok(v) => v.len(),
            Err(e) => panic!("{e}"),
        };
        let took = start.elapsed();
        if best.is_none_or(|(_, t)| took < t) {
            best = Some((got, took));
        }
    }
    best.unwrap_or_default()
}

/// Time `rule` on 15,000 and 60,000 distinct containers, print both, and assert the ratio.
fn assert_linear(name: &str, bind: Bind, parameters: Value, per_container: usize) {
    let rule = bound(bind, &parameters);
    let (small, large) = (pod(15_000), pod(60_000));
    // Warm up allocator and caches so the first measurement is not penalised.
    let _ = timed(rule.as_ref(), &pod(2_000), &Value::Null);
    let (n_small, t_small) = timed(rule.as_ref(), &small, &Value::Null);
    let (n_large, t_large) = timed(rule.as_ref(), &large, &Value::Null);
    assert_eq!(n_small, 15_000 * per_container, "{name}");
    assert_eq!(n_large, 60_000 * per_container, "{name}");
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
    println!("{name}: 15k containers {t_small:?}, 60k containers {t_large:?}, ratio {ratio:.2}");
    assert!(
        ratio < 8.0,
        "{name}: 4x the containers took {ratio:.1}x the time ({t_small:?} -> {t_large:?})"
    );
}

#[test]
fn allowed_repos_is_linear_in_distinct_containers() {
    assert_linear(
        "k8sallowedrepos",
        super::allowedrepos::bind,
        json!({"repos": ["registry.example.com/"]}),
        1,
    );
}

#[test]
fn disallowed_tags_is_linear_in_distinct_containers() {
    assert_linear(
        "k8sdisallowedtags",
        super::disallowedtags::bind,
        json!({"tags": ["latest"]}),
        1,
    );
}

#[test]
fn container_limits_is_linear_in_distinct_containers() {
    // "has no resource limits" per container (without a section nothing else is judged).
    assert_linear(
        "k8scontainerlimits",
        super::containerlimits::bind,
        json!({"memory": "1Gi"}),
        1,
    );
}

#[test]
fn pod_security_rules_are_linear_in_distinct_containers() {
    assert_linear(
        "k8spspallowprivilegeescalationcontainer",
        super::pspallowprivilegeescalation::bind,
        Value::Null,
        1,
    );
    assert_linear(
        "k8srequiredprobes",
        super::requiredprobes::bind,
        json!({"probes": ["readinessProbe"], "probeTypes": ["httpGet"]}),
        1,
    );
}

/// Repeated containers still collapse into one violation each, first seen first.
#[test]
fn repeats_collapse_in_first_seen_order() {
    let rule = bound(
        super::allowedrepos::bind,
        &json!({"repos": ["registry.example.com/"]}),
    );
    let containers: Vec<Value> = (0..30_000)
        .map(|i| json!({"name": format!("c{}", (i * 7) % 3), "image": "evil"}))
        .collect();
    let review = Review::from_object(json!({"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p"}, "spec": {"containers": containers}}));
    let msgs: Vec<String> = match rule.evaluate(&EvalInput::new(&review, &Value::Null)) {
        Ok(v) => v.into_iter().map(|v| v.msg).collect(),
        Err(e) => panic!("{e}"),
    };
    let names: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m.split('<').nth(1))
        .filter_map(|m| m.split('>').next())
        .collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
}

#[test]
fn walks_stop_at_the_deadline() {
    let review = pod(60_000);
    let past = Deadline::at(Instant::now() - Duration::from_millis(1));
    for (name, bind, parameters) in [
        (
            "k8sallowedrepos",
            super::allowedrepos::bind as Bind,
            json!({"repos": ["x/"]}),
        ),
        ("k8sdisallowedtags", super::disallowedtags::bind, json!({})),
        (
            "k8scontainerlimits",
            super::containerlimits::bind,
            json!({}),
        ),
        (
            "k8spspprivilegedcontainer",
            super::pspprivilegedcontainer::bind,
            json!({}),
        ),
        (
            "k8srequiredprobes",
            super::requiredprobes::bind,
            json!({"probes": ["livenessProbe"]}),
        ),
    ] {
        let rule = bound(bind, &parameters);
        let input = EvalInput::new(&review, &Value::Null).with_deadline(past);
        assert!(
            matches!(rule.evaluate(&input), Err(EngineError::DeadlineExceeded)),
            "{name} ran past its deadline"
        );
    }
}

/// An Ingress of many hosts against an inventory of many Ingresses: each host is looked up,
/// not compared with every host of the inventory.
#[test]
fn unique_ingress_host_is_linear_in_hosts_and_inventory() {
    fn ingress(name: &str, hosts: impl Iterator<Item = String>) -> Value {
        let rules: Vec<Value> = hosts.map(|h| json!({"host": h})).collect();
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": name, "namespace": "web"}, "spec": {"rules": rules}})
    }
    let rule = bound(super::uniqueingresshost::bind, &Value::Null);
    let run = |n: usize| {
        let inventory = crate::engine::inventory_of(
            (0..n).map(|i| ingress(&format!("i{i}"), std::iter::once(format!("h{i}.example")))),
        );
        let object = ingress("new", (0..n).map(|i| format!("h{i}.example")));
        let review = Review::from_object(object);
        timed(rule.as_ref(), &review, &inventory)
    };
    let _ = run(1_000);
    let (n_small, t_small) = run(5_000);
    let (n_large, t_large) = run(20_000);
    assert_eq!((n_small, n_large), (5_000, 20_000));
    let ratio = t_large.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
    println!("k8suniqueingresshost: 5k hosts {t_small:?}, 20k hosts {t_large:?}, ratio {ratio:.2}");
    assert!(ratio < 8.0, "4x the hosts took {ratio:.1}x the time");
}
