//! Audit of a live cluster: which resources to list, and listing them in pages.
//!
//! The resources are found by API discovery (plurals of arbitrary kinds cannot be guessed)
//! and chosen by the constraints that act at the audit point: a resource is listed when some
//! constraint's `match.kinds` covers its group and kind. A constraint with no `match.kinds`
//! matches every kind, as in Gatekeeper, so its presence makes audit list every listable
//! resource the API server serves (the preferred version of each group, no subresources).
//! Gatekeeper does the same by default; name the kinds in `match.kinds` to keep a sweep
//! small.
//!
//! Lists are paged (`limit` and `continue`, Gatekeeper's audit chunk size) so a large
//! cluster is never fetched in one response, and a sweep judges each page as it arrives.

use std::collections::BTreeSet;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::discovery::{verbs, Discovery};
use serde_json::Value;

use super::{AuditError, AuditObject};
use crate::policy::enforcement::AUDIT_POINT;
use crate::snapshot::PolicySnapshot;

/// Objects per list request, like Gatekeeper's `--audit-chunk-size` default.
pub const DEFAULT_CHUNK_SIZE: u32 = 500;

/// A resource to audit, as discovery describes it.
#[derive(Debug, Clone)]
pub struct AuditedResource {
    /// Where it is served.
    pub resource: ApiResource,
}

/// True when the constraints acting at the audit point cover this group and kind.
fn wanted(snapshot: &PolicySnapshot, group: &str, kind: &str) -> bool {
    snapshot.constraints.iter().any(|active| {
        let c = &active.constraint;
        !c.enforcement.actions_at(AUDIT_POINT).is_empty()
            && (c.matcher.kinds.is_empty()
                || c.matcher.kinds.iter().any(|k| k.matches(group, kind)))
    })
}

/// The API groups discovery must query: `None` when some constraint could match any group
/// (no kinds, no groups, or `*`), which needs every group.
fn groups_needed(snapshot: &PolicySnapshot) -> Option<BTreeSet<String>> {
    let mut groups = BTreeSet::new();
    for active in snapshot.constraints.iter() {
        let c = &active.constraint;
        if c.enforcement.actions_at(AUDIT_POINT).is_empty() {
            continue;
        }
        if c.matcher.kinds.is_empty() {
            return None;
        }
        for k in &c.matcher.kinds {
            if k.api_groups.is_empty() || k.api_groups.iter().any(|g| g == "*") {
                return None;
            }
            groups.extend(k.api_groups.iter().cloned());
        }
    }
    Some(groups)
}

/// The resources the snapshot's constraints ask to audit, found by discovery.
pub async fn resources_to_audit(
    client: &kube::Client,
    snapshot: &PolicySnapshot,
) -> Result<Vec<AuditedResource>, AuditError> {
    let discovery = match groups_needed(snapshot) {
        Some(groups) if groups.is_empty() => return Ok(Vec::new()),
        Some(groups) => {
            let allow: Vec<&str> = groups.iter().map(String::as_str).collect();
            Discovery::new(client.clone()).filter(&allow)
        }
        None => Discovery::new(client.clone()),
    };
    let discovery = discovery
        .run()
        .await
        .map_err(|e| AuditError::List(format!("API discovery failed: {e}")))?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if caps.supports_operation(verbs::LIST)
                && wanted(snapshot, &resource.group, &resource.kind)
            {
                out.push(AuditedResource { resource });
            }
        }
    }
    Ok(out)
}

/// The audited form of a listed object: apiVersion and kind filled in (list items may
/// omit them), `managedFields` dropped since no policy reads them.
fn audited(obj: DynamicObject, resource: &ApiResource) -> Option<AuditObject> {
    let mut value = serde_json::to_value(obj).ok()?;
    let map = value.as_object_mut()?;
    map.insert("apiVersion".into(), resource.api_version.clone().into());
    map.insert("kind".into(), resource.kind.clone().into());
    let meta = map.get_mut("metadata").and_then(Value::as_object_mut)?;
    meta.remove("managedFields");
    let field = |f: &str| meta.get(f).and_then(Value::as_str).unwrap_or_default();
    let location = format!(
        "cluster:{}/{}/{}",
        resource.kind,
        field("namespace"),
        field("name")
    );
    Some(AuditObject {
        object: value,
        location,
    })
}

/// The pages of one resource's list: `chunk_size` objects each (0: one unpaged list), so a
/// sweep holds one page of a large resource at a time, not the whole resource.
pub struct Pager {
    api: Api<DynamicObject>,
    resource: ApiResource,
    chunk_size: u32,
    /// `None` before the first page; then the server's continue token, empty when done.
    token: Option<String>,
}

impl Pager {
    /// The pages of `resource` across all namespaces.
    pub fn new(client: &kube::Client, resource: &ApiResource, chunk_size: u32) -> Self {
        Pager {
            api: Api::all_with(client.clone(), resource),
            resource: resource.clone(),
            chunk_size,
            token: None,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<AuditObject>>, kube::Error> {
        let mut params = ListParams::default();
        if self.chunk_size > 0 {
            params = params.limit(self.chunk_size);
        }
        match self.token.as_deref() {
            Some("") => return Ok(None),
            Some(t) => params = params.continue_token(t),
            None => {}
        }
        let page = self.api.list(&params).await?;
        self.token = Some(page.metadata.continue_.clone().unwrap_or_default());
        Ok(Some(
            page.items
                .into_iter()
                .filter_map(|o| audited(o, &self.resource))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Document;
    use crate::snapshot::BuildOptions;

    fn snapshot(matches: &[&str]) -> PolicySnapshot {
        let mut docs: Vec<Document> = crate::manifests::parse_documents(
            r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: anything}
spec:
  crd: {spec: {names: {kind: Anything}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package anything
      violation[{"msg": "x"}] { false }
"#,
            "template",
        )
        .expect("template");
        for (i, m) in matches.iter().enumerate() {
            let doc = format!(
                "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: Anything\n\
                 metadata: {{name: c{i}}}\nspec: {{match: {m}}}\n"
            );
            docs.extend(crate::manifests::parse_documents(&doc, "c").expect("constraint"));
        }
        PolicySnapshot::build(&docs, &BuildOptions::default()).expect("valid policy set")
    }

    #[test]
    fn named_groups_limit_discovery_and_kinds_choose_resources() {
        let snap = snapshot(&[
            r#"{kinds: [{apiGroups: [""], kinds: [Pod]}]}"#,
            r#"{kinds: [{apiGroups: [networking.k8s.io], kinds: ["*"]}]}"#,
        ]);
        let groups = groups_needed(&snap).expect("groups are named");
        assert_eq!(
            groups.into_iter().collect::<Vec<_>>(),
            ["", "networking.k8s.io"]
        );
        assert!(wanted(&snap, "", "Pod"));
        assert!(!wanted(&snap, "", "ConfigMap"));
        assert!(wanted(&snap, "networking.k8s.io", "Ingress"));
    }

    #[test]
    fn a_constraint_without_kinds_audits_everything() {
        let snap = snapshot(&["{}"]);
        assert!(groups_needed(&snap).is_none());
        assert!(wanted(&snap, "apps", "Deployment"));
        let none = snapshot(&[]);
        assert_eq!(groups_needed(&none).map(|g| g.len()), Some(0));
    }

    #[test]
    fn listed_objects_get_their_kind_and_lose_managed_fields() {
        let resource = ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"),
            "ingresses",
        );
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "a", "managedFields": [{}]}}))
        .expect("object");
        let a = audited(obj, &resource).expect("audited");
        assert_eq!(a.object["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(a.object["kind"], "Ingress");
        assert!(a.object["metadata"].get("managedFields").is_none());
        assert_eq!(a.location, "cluster:Ingress/a/web");
    }
}
