//! Audit results as `wgpolicyk8s.io/v1alpha2` PolicyReports, the format Kyverno, Kubewarden
//! and Policy Reporter read: one `PolicyReport` per namespace holding violations, one
//! `ClusterPolicyReport` for cluster-scoped objects, each named [`REPORT_NAME`] and
//! labelled [`MANAGED_BY`] so that portcullis touches only its own.
//!
//! One result per violation: `policy` is the constraint's name, `rule` its kind, `result`
//! `fail` for `deny` and `dryrun` (the object does not comply; dry-run only means it was
//! not refused, as Kyverno reports its Audit-mode policies) and `warn` for `warn`, with
//! the action in `properties`; a constraint that failed to evaluate on an object is an
//! `error` result. Reports only list what is wrong: `summary.pass` and `summary.skip`
//! stay 0, as no result of those kinds is written.
//!
//! Size is bounded: a report lists at most `limit` results (the first found); its summary
//! still counts every violation, and the annotation [`OMITTED_ANNOTATION`] says how many
//! results were left out, so a namespace with thousands of violating objects cannot make
//! an object etcd refuses.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::evaluate::Evaluation;
use crate::policy::Action;
use crate::review::Review;

/// API group and version of the reports.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// Name of every report portcullis writes.
pub const REPORT_NAME: &str = "portcullis-audit";
/// The label marking portcullis's reports (key, value).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "portcullis");
/// Annotation saying how many results a report leaves out.
pub const OMITTED_ANNOTATION: &str = "audit.portcullis.io/results-omitted";
/// `source` of every result.
pub const SOURCE: &str = "portcullis";
/// Results listed per report by default.
pub const DEFAULT_RESULTS_LIMIT: usize = 1000;
/// Longest result message kept.
const MAX_MESSAGE_CHARS: usize = 2048;

/// The `result` of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The object does not comply (deny or dryrun).
    Fail,
    /// The object does not comply with a warn constraint.
    Warn,
    /// The constraint could not be evaluated on the object.
    Error,
}

impl Outcome {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Error => "error",
        }
    }

    fn of(action: Action) -> Self {
        match action {
            Action::Deny | Action::Dryrun => Outcome::Fail,
            Action::Warn => Outcome::Warn,
        }
    }
}

/// One result: a constraint and an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    policy: String,
    rule: String,
    outcome: Outcome,
    /// The action at the audit point (none for errors).
    action: Option<&'static str>,
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    message: String,
}

/// What one report holds.
#[derive(Debug, Clone, Default)]
struct Bucket {
    entries: Vec<Entry>,
    fail: usize,
    warn: usize,
    error: usize,
}

impl Bucket {
    fn total(&self) -> usize {
        self.fail + self.warn + self.error
    }
}

/// The results of an audit, grouped by report, bounded per report.
#[derive(Debug, Clone)]
pub struct Findings {
    limit: usize,
    /// By namespace; `""` holds cluster-scoped objects.
    buckets: BTreeMap<String, Bucket>,
}

/// A result timestamp, as the CRD has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Nanoseconds past the second.
    pub nanos: i32,
}

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            seconds: i64::try_from(since.as_secs()).unwrap_or(0),
            nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
        }
    }
}

impl Findings {
    /// No findings yet; each report lists at most `limit` results.
    pub fn new(limit: usize) -> Self {
        Findings {
            limit,
            buckets: BTreeMap::new(),
        }
    }

    /// Add the evaluation of one object.
    pub fn record(&mut self, review: &Review, evaluation: &Evaluation) {
        if evaluation.hits.is_empty() && evaluation.failures.is_empty() {
            return;
        }
        let meta = &review.request["object"]["metadata"];
        let api_version = if review.gvk.group.is_empty() {
            review.gvk.version.clone()
        } else {
            format!("{}/{}", review.gvk.group, review.gvk.version)
        };
        let base = Entry {
            policy: String::new(),
            rule: String::new(),
            outcome: Outcome::Fail,
            action: None,
            api_version,
            kind: review.gvk.kind.clone(),
            namespace: review.namespace.clone(),
            name: review.name.clone(),
            uid: meta["uid"].as_str().unwrap_or_default().to_string(),
            message: String::new(),
        };
        let bucket = self.buckets.entry(review.namespace.clone()).or_default();
        let limit = self.limit;
        let mut add = |entry: Entry| {
            match entry.outcome {
                Outcome::Fail => bucket.fail += 1,
                Outcome::Warn => bucket.warn += 1,
                Outcome::Error => bucket.error += 1,
            }
            if bucket.entries.len() < limit {
                bucket.entries.push(entry);
            }
        };
        for hit in &evaluation.hits {
            add(Entry {
                policy: hit.constraint.clone(),
                rule: hit.kind.clone(),
                outcome: Outcome::of(hit.action),
                action: Some(hit.action.as_str()),
                message: crate::text::clip(&hit.msg, MAX_MESSAGE_CHARS).into_owned(),
                ..base.clone()
            });
        }
        for failure in &evaluation.failures {
            add(Entry {
                policy: failure.constraint.clone(),
                rule: failure.kind.clone(),
                outcome: Outcome::Error,
                action: None,
                message: crate::text::clip(&failure.error.to_string(), MAX_MESSAGE_CHARS)
                    .into_owned(),
                ..base.clone()
            });
        }
    }

    /// Namespaces with at least one result (`""` for cluster-scoped objects).
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.buckets.keys().map(String::as_str)
    }

    /// Every report, the ClusterPolicyReport (if any cluster-scoped object has results)
    /// first, then one PolicyReport per namespace in name order; every result stamped
    /// `timestamp`.
    pub fn reports(&self, timestamp: Timestamp) -> Vec<Value> {
        self.buckets
            .iter()
            .map(|(ns, bucket)| report(ns, bucket, timestamp))
            .collect()
    }
}

fn result(entry: &Entry, timestamp: Timestamp) -> Value {
    let mut resource = json!({
        "apiVersion": entry.api_version, "kind": entry.kind, "name": entry.name,
    });
    if !entry.namespace.is_empty() {
        resource["namespace"] = json!(entry.namespace);
    }
    if !entry.uid.is_empty() {
        resource["uid"] = json!(entry.uid);
    }
    let mut properties = json!({
        "constraintKind": entry.rule,
        "constraintGroup": crate::policy::constraint::CONSTRAINTS_GROUP,
    });
    if let Some(action) = entry.action {
        properties["enforcementAction"] = json!(action);
    }
    json!({
        "source": SOURCE,
        "policy": entry.policy,
        "rule": entry.rule,
        "result": entry.outcome.as_str(),
        "message": entry.message,
        "resources": [resource],
        "properties": properties,
        "timestamp": {"seconds": timestamp.seconds, "nanos": timestamp.nanos},
    })
}

/// One report object: a ClusterPolicyReport for `namespace == ""`.
fn report(namespace: &str, bucket: &Bucket, timestamp: Timestamp) -> Value {
    let mut entries = bucket.entries.clone();
    entries.sort();
    let mut metadata = json!({
        "name": REPORT_NAME,
        "labels": {MANAGED_BY.0: MANAGED_BY.1},
    });
    if !namespace.is_empty() {
        metadata["namespace"] = json!(namespace);
    }
    let omitted = bucket.total().saturating_sub(entries.len());
    if omitted > 0 {
        metadata["annotations"] = json!({OMITTED_ANNOTATION: omitted.to_string()});
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": if namespace.is_empty() { "ClusterPolicyReport" } else { "PolicyReport" },
        "metadata": metadata,
        "summary": {
            "pass": 0, "fail": bucket.fail, "warn": bucket.warn,
            "error": bucket.error, "skip": 0,
        },
        "results": entries.iter().map(|e| result(e, timestamp)).collect::<Vec<_>>(),
    })
}

/// A report's content without what changes on every sweep (result timestamps) and
/// without server-set metadata: two reports with equal content need no write.
pub fn content(report: &Value) -> Value {
    let mut results = report["results"].clone();
    if let Some(list) = results.as_array_mut() {
        for r in list {
            if let Some(map) = r.as_object_mut() {
                map.remove("timestamp");
            }
        }
    }
    json!({
        "summary": report["summary"],
        "results": results,
        "managedBy": report["metadata"]["labels"][MANAGED_BY.0],
        "omitted": report["metadata"]["annotations"][OMITTED_ANNOTATION],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Hit;

    fn review(ns: &str, kind: &str, name: &str) -> Review {
        let mut meta = json!({"name": name, "uid": format!("uid-{name}")});
        if !ns.is_empty() {
            meta["namespace"] = json!(ns);
        }
        Review::from_object(json!({"apiVersion": "v1", "kind": kind, "metadata": meta}))
    }

    fn hits(actions: &[Action]) -> Evaluation {
        Evaluation {
            hits: actions
                .iter()
                .enumerate()
                .map(|(i, a)| Hit {
                    kind: "K8sRequiredLabels".into(),
                    constraint: format!("c{i}"),
                    msg: format!("missing label {i}"),
                    details: None,
                    action: *a,
                })
                .collect(),
            failures: Vec::new(),
        }
    }

    #[test]
    fn one_report_per_namespace_and_one_for_the_cluster() {
        let mut f = Findings::new(10);
        f.record(
            &review("a", "Pod", "p"),
            &hits(&[Action::Deny, Action::Warn]),
        );
        f.record(&review("b", "Pod", "q"), &hits(&[Action::Dryrun]));
        f.record(&review("", "Namespace", "a"), &hits(&[Action::Deny]));
        f.record(&review("c", "Pod", "clean"), &hits(&[]));
        let ts = Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        let reports = f.reports(ts);
        let kinds: Vec<(&str, &str)> = reports
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap_or(""),
                    r["metadata"]["namespace"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("ClusterPolicyReport", ""),
                ("PolicyReport", "a"),
                ("PolicyReport", "b")
            ]
        );
        let a = &reports[1];
        assert_eq!(a["apiVersion"], API_VERSION);
        assert_eq!(a["metadata"]["name"], REPORT_NAME);
        assert_eq!(a["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        assert_eq!(
            a["summary"],
            json!({"pass": 0, "fail": 1, "warn": 1, "error": 0, "skip": 0})
        );
        let r = &a["results"][0];
        assert_eq!(
            (r["policy"].as_str(), r["rule"].as_str()),
            (Some("c0"), Some("K8sRequiredLabels"))
        );
        assert_eq!(r["result"], "fail");
        assert_eq!(r["source"], SOURCE);
        assert_eq!(r["properties"]["enforcementAction"], "deny");
        assert_eq!(
            r["resources"],
            json!([{"apiVersion": "v1", "kind": "Pod", "namespace": "a", "name": "p", "uid": "uid-p"}])
        );
        assert_eq!(
            r["timestamp"],
            json!({"seconds": 1_700_000_000, "nanos": 5})
        );
        // dryrun is a failing result; the action says it was not enforced.
        let b = &reports[2]["results"][0];
        assert_eq!(
            (
                b["result"].as_str(),
                b["properties"]["enforcementAction"].as_str()
            ),
            (Some("fail"), Some("dryrun"))
        );
        assert!(reports[0]["results"][0]["resources"][0]
            .get("namespace")
            .is_none());
    }

    #[test]
    fn the_limit_bounds_results_and_the_summary_counts_all() {
        let mut f = Findings::new(3);
        for i in 0..10 {
            f.record(
                &review("a", "Pod", &format!("p{i}")),
                &hits(&[Action::Deny]),
            );
        }
        let report = &f.reports(Timestamp::default())[0];
        assert_eq!(report["results"].as_array().map(Vec::len), Some(3));
        assert_eq!(report["summary"]["fail"], 10);
        assert_eq!(report["metadata"]["annotations"][OMITTED_ANNOTATION], "7");
        // Under the limit, nothing is said to be omitted.
        let mut small = Findings::new(3);
        small.record(&review("a", "Pod", "p"), &hits(&[Action::Deny]));
        assert!(small.reports(Timestamp::default())[0]["metadata"]
            .get("annotations")
            .is_none());
    }

    #[test]
    fn failures_are_error_results_and_messages_are_bounded() {
        let mut f = Findings::new(5);
        let mut eval = hits(&[Action::Warn]);
        eval.hits[0].msg = "x".repeat(100_000);
        eval.failures.push(crate::evaluate::EvalFailure {
            kind: "K8sRequiredLabels".into(),
            constraint: "broken".into(),
            denies: true,
            error: crate::engine::EngineError::Evaluate {
                engine: "rego",
                message: "boom".into(),
            },
        });
        f.record(&review("a", "Pod", "p"), &eval);
        let report = &f.reports(Timestamp::default())[0];
        assert_eq!(report["summary"]["error"], 1);
        assert_eq!(report["summary"]["warn"], 1);
        let results = report["results"].as_array().cloned().unwrap_or_default();
        let error = results
            .iter()
            .find(|r| r["result"] == "error")
            .expect("error result");
        assert!(error["message"]
            .as_str()
            .is_some_and(|m| m.contains("boom")));
        assert!(error["properties"].get("enforcementAction").is_none());
        let warn = results
            .iter()
            .find(|r| r["result"] == "warn")
            .expect("warn result");
        assert!(warn["message"].as_str().map(str::len).unwrap_or(0) < 4 * MAX_MESSAGE_CHARS);
    }

    #[test]
    fn content_ignores_timestamps_only() {
        let mut f = Findings::new(5);
        f.record(&review("a", "Pod", "p"), &hits(&[Action::Deny]));
        let one = &f.reports(Timestamp {
            seconds: 1,
            nanos: 0,
        })[0];
        let two = &f.reports(Timestamp {
            seconds: 2,
            nanos: 0,
        })[0];
        assert_ne!(one, two);
        assert_eq!(content(one), content(two));
        f.record(&review("a", "Pod", "q"), &hits(&[Action::Deny]));
        assert_ne!(content(&f.reports(Timestamp::default())[0]), content(one));
    }
}
