//! One audit sweep: every object from a source against every matching constraint at the
//! audit enforcement point, with the inventory and namespace labels of the same objects.

use std::collections::HashMap;

use super::report::AuditReport;
use super::{AuditError, AuditObject, ObjectSource, AUDIT_PROCESS, DEFAULT_VIOLATIONS_LIMIT};
use crate::engine::{inventory_of, namespace_labels};
use crate::engine::{Inventory, InventoryUse};
use crate::evaluate;
use crate::matching::Labels;
use crate::policy::enforcement::AUDIT_POINT;
use crate::review::Review;
use crate::snapshot::PolicySnapshot;

/// How a sweep reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Violations listed per constraint; the total is counted past it (Gatekeeper's
    /// `--constraint-violations-limit`, which keeps constraint status objects small).
    pub limit: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            limit: DEFAULT_VIOLATIONS_LIMIT,
        }
    }
}

/// Audit every object of `source` against `snapshot`.
///
/// Constraints act with their audit-point actions (a `scoped` constraint without
/// `audit.gatekeeper.sh` among its points is not evaluated at all); `deny`, `warn` and
/// `dryrun` violations are all reported, each with its action. Namespace labels are the
/// policy set's, overridden by Namespace objects of the source; `data.inventory` holds the
/// objects of the source that some template may read, so referential templates find
/// conflicts among them. Objects in namespaces that Gatekeeper's Config exempts from
/// `audit` are counted but not judged.
///
/// Memory: a source that can be read twice is read twice, a batch (a file) at a time: the
/// first pass keeps namespace labels and the inventory's objects only (what
/// [`crate::engine::inventory_use`] says the templates may read: none for most, Ingresses
/// for the unique-host rule, everything for Rego that reads `data` beyond `data.lib`), the
/// second judges each batch and drops it. So an audit holds one file's objects, the
/// inventory and the report (whose violation lists are capped), whatever the number of
/// objects. Standard input is read once and held whole.
pub fn audit(
    snapshot: &PolicySnapshot,
    source: &dyn ObjectSource,
    opts: &AuditOptions,
) -> Result<AuditReport, AuditError> {
    audit_observed(snapshot, source, opts, &mut |_, _| {})
}

/// What an audit hands each judged object's evaluation to besides its report (Events,
/// policy reports), before the report keeps only what its limit allows.
pub type Observer<'a> = dyn FnMut(&Review, &evaluate::Evaluation) + 'a;

/// [`audit`], handing every judged object's evaluation to `observe`.
pub fn audit_observed(
    snapshot: &PolicySnapshot,
    source: &dyn ObjectSource,
    opts: &AuditOptions,
    observe: &mut Observer<'_>,
) -> Result<AuditReport, AuditError> {
    let mut gathered = Gathered::new(snapshot);
    let mut report = AuditReport::new(snapshot, opts.limit);
    if !source.rereadable() {
        let objects = source.objects()?;
        gathered.add(&objects);
        let (inventory, namespaces) = gathered.finish();
        judge_into(
            &mut report,
            snapshot,
            objects,
            |review| evaluate::validate_in(snapshot, review, AUDIT_POINT, &inventory, &namespaces),
            observe,
        );
        return Ok(report);
    }
    source.for_each_batch(&mut |batch| {
        gathered.add(&batch);
        Ok(())
    })?;
    let (inventory, namespaces) = gathered.finish();
    source.for_each_batch(&mut |batch| {
        judge_into(
            &mut report,
            snapshot,
            batch,
            |review| evaluate::validate_in(snapshot, review, AUDIT_POINT, &inventory, &namespaces),
            &mut *observe,
        );
        Ok(())
    })?;
    Ok(report)
}

/// What the first pass of an audit keeps: namespace labels, and the objects the
/// templates may read from `data.inventory`.
struct Gathered {
    namespaces: HashMap<String, Labels>,
    /// Every object is kept (some Rego reads `data` freely).
    keep_all: bool,
    /// Otherwise, the kinds kept.
    keep_kinds: Vec<&'static str>,
    kept: Vec<serde_json::Value>,
}

impl Gathered {
    fn new(snapshot: &PolicySnapshot) -> Self {
        let mut keep_all = false;
        let mut keep_kinds = Vec::new();
        for compiled in snapshot.templates.values() {
            match crate::engine::inventory_use(&compiled.template, compiled.program.as_ref()) {
                InventoryUse::Nothing => {}
                InventoryUse::Kinds(kinds) => keep_kinds.extend_from_slice(kinds),
                InventoryUse::All => keep_all = true,
            }
        }
        Gathered {
            namespaces: snapshot.namespaces.as_ref().clone(),
            keep_all,
            keep_kinds,
            kept: Vec::new(),
        }
    }

    fn add(&mut self, batch: &[AuditObject]) {
        let objects = batch.iter().map(|o| &o.object).filter(|o| o.is_object());
        self.namespaces.extend(namespace_labels(objects.clone()));
        let (keep_all, keep_kinds) = (self.keep_all, &self.keep_kinds);
        self.kept.extend(
            objects
                .filter(|o| {
                    keep_all
                        || o.get("kind")
                            .and_then(serde_json::Value::as_str)
                            .is_some_and(|k| keep_kinds.contains(&k))
                })
                .cloned(),
        );
    }

    fn finish(self) -> (Inventory, HashMap<String, Labels>) {
        (Inventory::new(inventory_of(self.kept)), self.namespaces)
    }
}

/// Audit objects listed from a cluster against `snapshot` as it is, adding to a report
/// begun with [`AuditReport::new`] on the same snapshot (a sweep judges a page at a time).
/// Unlike [`audit`], `data.inventory` is the snapshot's (the kinds Config's
/// `spec.sync.syncOnly` names, as Gatekeeper's audit reads its synced cache) and namespace
/// labels are the cluster's.
pub fn audit_listed_into(
    report: &mut AuditReport,
    snapshot: &PolicySnapshot,
    objects: Vec<AuditObject>,
) {
    audit_listed_observed(report, snapshot, objects, &mut |_, _| {});
}

/// [`audit_listed_into`], handing every judged object's evaluation to `observe`.
pub fn audit_listed_observed(
    report: &mut AuditReport,
    snapshot: &PolicySnapshot,
    objects: Vec<AuditObject>,
    observe: &mut Observer<'_>,
) {
    judge_into(
        report,
        snapshot,
        objects,
        |review| evaluate::validate(snapshot, review, AUDIT_POINT),
        observe,
    );
}

/// Judge each object with `judge`, skipping (and counting) those in namespaces Config
/// exempts from audit.
fn judge_into(
    report: &mut AuditReport,
    snapshot: &PolicySnapshot,
    objects: Vec<AuditObject>,
    judge: impl Fn(&Review) -> evaluate::Evaluation,
    observe: &mut Observer<'_>,
) {
    for item in objects {
        if !item.object.is_object() {
            continue;
        }
        let review = Review::from_object(item.object);
        let ns = if review.is_namespace() {
            &review.name
        } else {
            &review.namespace
        };
        if snapshot.config.is_exempt(AUDIT_PROCESS, ns) {
            report.exempted += 1;
            continue;
        }
        let evaluation = judge(&review);
        observe(&review, &evaluation);
        report.record(&review, &item.location, evaluation);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::policy::{Action, Document};
    use crate::snapshot::BuildOptions;

    const TEMPLATE: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: auditowner}
spec:
  crd: {spec: {names: {kind: AuditOwner}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package auditowner
      violation[{"msg": msg}] {
        not input.review.object.metadata.labels.owner
        msg := sprintf("%v has no owner", [input.review.object.metadata.name])
      }
      violation[{"msg": msg}] {
        owner := input.review.object.metadata.labels.owner
        other := data.inventory.namespace[ns][_]["ConfigMap"][name]
        other.metadata.labels.owner == owner
        name != input.review.object.metadata.name
        msg := sprintf("owner %v also claims %v/%v", [owner, ns, name])
      }
"#;

    fn snapshot(constraints: &str) -> PolicySnapshot {
        let mut docs = crate::manifests::parse_documents(TEMPLATE, "template").expect("template");
        docs.extend(crate::manifests::parse_documents(constraints, "constraints").expect("c"));
        let docs: Vec<Document> = docs;
        PolicySnapshot::build(&docs, &BuildOptions::default()).expect("valid policy set")
    }

    fn cm(ns: &str, name: &str, owner: Option<&str>) -> AuditObject {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": name, "namespace": ns}});
        if let Some(o) = owner {
            object["metadata"]["labels"] = json!({"owner": o});
        }
        AuditObject {
            object,
            location: format!("{ns}/{name}"),
        }
    }

    fn ns(name: &str, labels: Value) -> AuditObject {
        AuditObject {
            object: json!({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": labels}}),
            location: name.to_string(),
        }
    }

    #[test]
    fn scoped_actions_at_the_audit_point_decide_what_is_reported() {
        let snap = snapshot(
            r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: AuditOwner
metadata: {name: audit-warns}
spec:
  match: {kinds: [{apiGroups: [""], kinds: [ConfigMap]}]}
  enforcementAction: scoped
  scopedEnforcementActions:
  - {action: deny, enforcementPoints: [{name: validation.gatekeeper.sh}]}
  - {action: warn, enforcementPoints: [{name: audit.gatekeeper.sh}]}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: AuditOwner
metadata: {name: webhook-only}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - {action: deny, enforcementPoints: [{name: validation.gatekeeper.sh}]}
"#,
        );
        let objects = vec![cm("a", "x", None)];
        let report = audit(&snap, &objects, &AuditOptions::default()).expect("audit");
        let warns = report
            .constraint("AuditOwner", "audit-warns")
            .expect("listed");
        assert_eq!(warns.total_violations, 1);
        assert_eq!(warns.violations[0].action, Action::Warn);
        let skipped = report
            .constraint("AuditOwner", "webhook-only")
            .expect("listed");
        assert_eq!(skipped.total_violations, 0);
        assert!(!report.denies());
    }

    #[test]
    fn inventory_and_namespace_labels_come_from_the_audited_objects() {
        let snap = snapshot(
            r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: AuditOwner
metadata: {name: owners}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
    namespaceSelector: {matchLabels: {audited: "yes"}}
"#,
        );
        let objects = vec![
            ns("a", json!({"audited": "yes"})),
            ns("b", json!({})),
            cm("a", "one", Some("team")),
            cm("a", "two", Some("team")),
            cm("b", "three", None),
        ];
        let report = audit(&snap, &objects, &AuditOptions { limit: 1 }).expect("audit");
        let owners = report.constraint("AuditOwner", "owners").expect("listed");
        // one and two claim the same owner; b is not selected by its labels.
        assert_eq!(owners.total_violations, 2, "{:?}", owners.violations);
        assert_eq!(owners.violations.len(), 1, "the limit caps the list");
        assert!(owners.violations[0].message.contains("also claims"));
        assert!(report.denies());
    }

    #[test]
    fn config_exempts_namespaces_from_audit() {
        let mut snap = snapshot(
            r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: AuditOwner
metadata: {name: owners}
spec: {match: {kinds: [{apiGroups: [""], kinds: [ConfigMap]}]}}
"#,
        );
        snap.config = std::sync::Arc::new(
            crate::policy::config::GatekeeperConfig::from_value(&json!({
                "spec": {"match": [{"excludedNamespaces": ["kube-*"], "processes": ["audit"]}]}
            }))
            .expect("config"),
        );
        let objects = vec![cm("kube-system", "x", None), cm("apps", "y", None)];
        let report = audit(&snap, &objects, &AuditOptions::default()).expect("audit");
        assert_eq!(report.exempted, 1);
        assert_eq!(report.total(Action::Deny), 1);
    }

    /// Streaming a directory file by file gives the report of judging every object at once,
    /// with conflicts found across files; the first pass kept only the Ingresses.
    #[test]
    fn streamed_files_are_judged_as_one_set() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut docs = crate::manifests::read_path(&root.join("policies/library")).expect("lib");
        docs.extend(
            crate::manifests::read_path(&root.join("policies/examples/unique-ingress-host.yaml"))
                .expect("constraint"),
        );
        let snap = PolicySnapshot::build(&docs, &BuildOptions::default()).expect("builds");
        let gathered = Gathered::new(&snap);
        assert!(!gathered.keep_all);
        assert_eq!(gathered.keep_kinds, vec!["Ingress"]);

        let dir = tempfile::tempdir().expect("tempdir");
        let ingress = |ns: &str, name: &str, host: &str| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": name, "namespace": ns},
                   "spec": {"rules": [{"host": host}]}})
        };
        let files = [
            (
                "1.json",
                vec![
                    ingress("a", "x", "shop.example.com"),
                    cm("a", "c", None).object,
                ],
            ),
            (
                "2.json",
                vec![
                    ingress("b", "y", "shop.example.com"),
                    ingress("b", "z", "z.example.com"),
                ],
            ),
        ];
        for (name, items) in &files {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            std::fs::write(dir.path().join(name), list.to_string()).expect("write");
        }
        let source = crate::audit::offline::ManifestSource::new(vec![dir.path().to_path_buf()]);
        assert!(crate::audit::ObjectSource::rereadable(&source));
        let streamed = audit(&snap, &source, &AuditOptions::default()).expect("audit");
        let whole = crate::audit::ObjectSource::objects(&source).expect("reads");
        assert_eq!(whole.len(), 4);
        let at_once = audit(&snap, &whole, &AuditOptions::default()).expect("audit");
        let hosts = |r: &AuditReport| {
            let c = r
                .constraint("K8sUniqueIngressHost", "unique-ingress-hosts")
                .expect("listed");
            let mut names: Vec<String> = c
                .violations
                .iter()
                .map(|v| format!("{}/{}", v.namespace, v.name))
                .collect();
            names.sort();
            (c.total_violations, names)
        };
        assert_eq!(
            hosts(&streamed),
            (2, vec!["a/x".to_string(), "b/y".to_string()])
        );
        assert_eq!(hosts(&streamed), hosts(&at_once));
    }
}
