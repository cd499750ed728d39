//! What an audit found, per constraint, in the shape of Gatekeeper's constraint status
//! (`totalViolations` and a `violations` list capped at a limit), with the text and JSON
//! renderings of `portcullis audit` and the status a cluster audit writes back.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::evaluate::Evaluation;
use crate::policy::{Action, Enforcement};
use crate::review::Review;
use crate::snapshot::PolicySnapshot;

/// One violation of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedViolation {
    /// The object's API group (empty for the core group).
    pub group: String,
    /// The object's API version.
    pub version: String,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// The template's message.
    pub message: String,
    /// The action at the audit point.
    pub action: Action,
    /// Where the object came from (file and document, or API resource).
    pub location: String,
}

/// A constraint whose program failed on one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedFailure {
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// Where the object came from.
    pub location: String,
    /// The engine's error.
    pub error: String,
}

/// The audit result of one constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintReport {
    /// Constraint kind.
    pub kind: String,
    /// Constraint name.
    pub name: String,
    /// `spec.enforcementAction` as declared (`deny`, `warn`, `dryrun` or `scoped`).
    pub enforcement_action: String,
    /// Every violation found, listed or not.
    pub total_violations: usize,
    /// Violations by action at the audit point, listed or not.
    pub totals: BTreeMap<Action, usize>,
    /// The first violations, at most the report's limit.
    pub violations: Vec<ReportedViolation>,
    /// Evaluation failures, at most the report's limit.
    pub failures: Vec<ReportedFailure>,
    /// Every failure, listed or not.
    pub total_failures: usize,
}

impl ConstraintReport {
    /// The constraint's status as a Gatekeeper audit writes it, for a status writer.
    pub fn status(&self, audit_timestamp: &str) -> Value {
        json!({
            "auditTimestamp": audit_timestamp,
            "totalViolations": self.total_violations,
            "violations": self.violations.iter().map(|v| json!({
                "enforcementAction": v.action.as_str(),
                "group": v.group, "version": v.version, "kind": v.kind,
                "name": v.name, "namespace": v.namespace, "message": v.message,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The result of one audit sweep.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// One entry per constraint of the policy set, in the set's order, violated or not.
    pub constraints: Vec<ConstraintReport>,
    /// Objects judged.
    pub objects: usize,
    /// Objects skipped because Config exempts their namespace from audit.
    pub exempted: usize,
    /// Violations and failures listed per constraint.
    pub limit: usize,
    index: HashMap<(String, String), usize>,
}

fn declared(enforcement: &Enforcement) -> String {
    match enforcement {
        Enforcement::Uniform(a) => a.as_str().to_string(),
        Enforcement::Scoped(_) => "scoped".to_string(),
    }
}

fn object_ref(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

impl AuditReport {
    /// An empty report with one entry per constraint of `snapshot`.
    pub fn new(snapshot: &PolicySnapshot, limit: usize) -> Self {
        let mut report = AuditReport {
            limit,
            ..AuditReport::default()
        };
        for (i, active) in snapshot.constraints.iter().enumerate() {
            let c = &active.constraint;
            report.index.insert((c.kind.clone(), c.name.clone()), i);
            report.constraints.push(ConstraintReport {
                kind: c.kind.clone(),
                name: c.name.clone(),
                enforcement_action: declared(&c.enforcement),
                total_violations: 0,
                totals: BTreeMap::new(),
                violations: Vec::new(),
                failures: Vec::new(),
                total_failures: 0,
            });
        }
        report
    }

    /// Add the evaluation of one object.
    pub fn record(&mut self, review: &Review, location: &str, evaluation: Evaluation) {
        self.objects += 1;
        for hit in evaluation.hits {
            let Some(&i) = self.index.get(&(hit.kind, hit.constraint)) else {
                continue;
            };
            let entry = &mut self.constraints[i];
            entry.total_violations += 1;
            *entry.totals.entry(hit.action).or_default() += 1;
            if entry.violations.len() < self.limit {
                entry.violations.push(ReportedViolation {
                    group: review.gvk.group.clone(),
                    version: review.gvk.version.clone(),
                    kind: review.gvk.kind.clone(),
                    name: review.name.clone(),
                    namespace: review.namespace.clone(),
                    message: hit.msg,
                    action: hit.action,
                    location: location.to_string(),
                });
            }
        }
        for failure in evaluation.failures {
            let Some(&i) = self.index.get(&(failure.kind, failure.constraint)) else {
                continue;
            };
            let entry = &mut self.constraints[i];
            entry.total_failures += 1;
            if entry.failures.len() < self.limit {
                entry.failures.push(ReportedFailure {
                    object: object_ref(&review.gvk.kind, &review.namespace, &review.name),
                    location: location.to_string(),
                    error: failure.error.to_string(),
                });
            }
        }
    }

    /// A constraint's entry by kind and name.
    pub fn constraint(&self, kind: &str, name: &str) -> Option<&ConstraintReport> {
        self.index
            .get(&(kind.to_string(), name.to_string()))
            .map(|&i| &self.constraints[i])
    }

    /// Violations with `action` over all constraints, listed or not.
    pub fn total(&self, action: Action) -> usize {
        self.constraints
            .iter()
            .filter_map(|c| c.totals.get(&action))
            .sum()
    }

    /// Evaluation failures over all constraints.
    pub fn total_failures(&self) -> usize {
        self.constraints.iter().map(|c| c.total_failures).sum()
    }

    /// True when any object violates a constraint that denies at the audit point.
    pub fn denies(&self) -> bool {
        self.total(Action::Deny) > 0
    }

    /// The summary line of the text report.
    pub fn summary(&self) -> String {
        format!(
            "{} objects audited ({} exempt), {} constraints: {} deny, {} warn, {} dryrun violations, {} evaluation errors",
            self.objects,
            self.exempted,
            self.constraints.len(),
            self.total(Action::Deny),
            self.total(Action::Warn),
            self.total(Action::Dryrun),
            self.total_failures()
        )
    }

    /// The human-readable report: per constraint its total and listed violations.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.constraints {
            let count = match c.total_violations {
                0 => "no violations".to_string(),
                1 => "1 violation".to_string(),
                n => format!("{n} violations"),
            };
            out += &format!(
                "{} {} ({}): {count}\n",
                c.kind, c.name, c.enforcement_action
            );
            for v in &c.violations {
                out += &format!(
                    "  {:<6} {}: {}  [{}]\n",
                    v.action.as_str(),
                    object_ref(&v.kind, &v.namespace, &v.name),
                    v.message,
                    v.location
                );
            }
            if c.total_violations > c.violations.len() {
                out += &format!(
                    "  ... {} more not listed (--limit {})\n",
                    c.total_violations - c.violations.len(),
                    self.limit
                );
            }
            for f in &c.failures {
                out += &format!(
                    "  error  {}: evaluation failed: {}  [{}]\n",
                    f.object, f.error, f.location
                );
            }
        }
        out += &self.summary();
        out.push('\n');
        out
    }

    /// The JSON report: per constraint `totalViolations` and `violations` as in
    /// Gatekeeper's constraint status, plus where each object came from.
    pub fn to_json(&self) -> Value {
        let constraints: Vec<Value> = self
            .constraints
            .iter()
            .map(|c| {
                json!({
                    "kind": c.kind, "name": c.name, "enforcementAction": c.enforcement_action,
                    "totalViolations": c.total_violations,
                    "violations": c.violations.iter().map(|v| json!({
                        "group": v.group, "version": v.version, "kind": v.kind,
                        "name": v.name, "namespace": v.namespace, "message": v.message,
                        "enforcementAction": v.action.as_str(), "source": v.location,
                    })).collect::<Vec<_>>(),
                    "totalErrors": c.total_failures,
                    "errors": c.failures.iter().map(|f| json!({
                        "object": f.object, "source": f.location, "error": f.error,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "constraints": constraints,
            "summary": {
                "objects": self.objects, "exempt": self.exempted, "limit": self.limit,
                "violations": {
                    "deny": self.total(Action::Deny),
                    "warn": self.total(Action::Warn),
                    "dryrun": self.total(Action::Dryrun),
                },
                "errors": self.total_failures(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Hit;

    fn report(limit: usize, hits: usize) -> AuditReport {
        let mut r = AuditReport {
            limit,
            ..AuditReport::default()
        };
        r.index.insert(("K".into(), "c".into()), 0);
        r.constraints.push(ConstraintReport {
            kind: "K".into(),
            name: "c".into(),
            enforcement_action: "deny".into(),
            total_violations: 0,
            totals: BTreeMap::new(),
            violations: Vec::new(),
            failures: Vec::new(),
            total_failures: 0,
        });
        let review = Review::from_object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a"}}));
        let evaluation = Evaluation {
            hits: (0..hits)
                .map(|i| Hit {
                    kind: "K".into(),
                    constraint: "c".into(),
                    msg: format!("m{i}"),
                    details: None,
                    action: Action::Deny,
                })
                .collect(),
            failures: Vec::new(),
        };
        r.record(&review, "f.yaml#0", evaluation);
        r
    }

    #[test]
    fn the_limit_caps_the_list_but_not_the_total() {
        let r = report(2, 3);
        let c = &r.constraints[0];
        assert_eq!((c.total_violations, c.violations.len()), (3, 2));
        assert_eq!(r.total(Action::Deny), 3);
        assert!(r.to_text().contains("... 1 more not listed (--limit 2)"));
    }

    #[test]
    fn status_has_gatekeeper_field_names() {
        let r = report(20, 1);
        let status = r.constraints[0].status("2026-01-01T00:00:00Z");
        assert_eq!(status["totalViolations"], 1);
        let v = &status["violations"][0];
        assert_eq!(v["enforcementAction"], "deny");
        assert_eq!((&v["group"], &v["version"]), (&json!("apps"), &json!("v1")));
        assert_eq!(
            (&v["kind"], &v["namespace"]),
            (&json!("Deployment"), &json!("a"))
        );
        assert_eq!(v["message"], "m0");
    }
}
