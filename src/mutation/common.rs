//! Pieces every mutator kind shares: `applyTo`, `pathTests`, the location checks and
//! small readers that turn a wrong field type into a message naming the field.

use serde_json::Value;

use super::path::{Node, Path};
use super::walk::{Condition, Tester};
use crate::review::{Gvk, Operation};

/// One `spec.applyTo[]` entry: the group/version/kind triples (and operations) a
/// schema-bound mutator may touch. Gatekeeper requires it so it can detect schema
/// conflicts per kind; globs are not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyTo {
    /// API groups; `""` is the core group.
    pub groups: Vec<String>,
    /// API versions.
    pub versions: Vec<String>,
    /// Kinds.
    pub kinds: Vec<String>,
    /// `CREATE`, `UPDATE` or `*`; empty means both.
    pub operations: Vec<String>,
}

/// A (group, version, kind, operation) a mutator is bound to; schema trees are per binding.
pub type Binding = (String, String, String, &'static str);

impl ApplyTo {
    /// Does this entry cover the object kind and admission operation? Runs for every
    /// mutator on every pass, so it tests the operation in place rather than through
    /// [`ApplyTo::effective_operations`], which allocates; the two agree.
    pub fn matches(&self, gvk: &Gvk, op: Operation) -> bool {
        let op_ok = matches!(op, Operation::Create | Operation::Update) && {
            let name = op.as_str();
            self.operations.is_empty() || self.operations.iter().any(|o| o == "*" || o == name)
        };
        op_ok
            && self.groups.contains(&gvk.group)
            && self.versions.contains(&gvk.version)
            && self.kinds.contains(&gvk.kind)
    }

    /// The operations this entry applies to; mutation only ever runs on CREATE/UPDATE.
    pub fn effective_operations(&self) -> Vec<&'static str> {
        let all = self.operations.is_empty() || self.operations.iter().any(|o| o == "*");
        ["CREATE", "UPDATE"]
            .into_iter()
            .filter(|op| all || self.operations.iter().any(|o| o == op))
            .collect()
    }

    /// Every binding this entry produces.
    pub fn bindings(&self) -> Vec<Binding> {
        let mut out = Vec::new();
        for g in &self.groups {
            for v in &self.versions {
                for k in &self.kinds {
                    for op in self.effective_operations() {
                        out.push((g.clone(), v.clone(), k.clone(), op));
                    }
                }
            }
        }
        out
    }
}

/// Read `spec.applyTo`, rejecting missing parts the way Gatekeeper does.
pub fn parse_apply_to(spec: &Value) -> Result<Vec<ApplyTo>, String> {
    let Some(raw) = spec.get("applyTo").filter(|v| !v.is_null()) else {
        return Err("spec.applyTo is required".to_string());
    };
    let Some(entries) = raw.as_array() else {
        return Err("spec.applyTo must be a list".to_string());
    };
    if entries.is_empty() {
        return Err("spec.applyTo is required".to_string());
    }
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let field = |name: &str| string_list(e.get(name), &format!("spec.applyTo[{i}].{name}"));
        let a = ApplyTo {
            groups: field("groups")?,
            versions: field("versions")?,
            kinds: field("kinds")?,
            operations: field("operations")?,
        };
        if a.groups.is_empty() || a.versions.is_empty() || a.kinds.is_empty() {
            return Err(format!(
                "spec.applyTo[{i}]: all of groups, versions and kinds must be specified"
            ));
        }
        for (j, op) in a.operations.iter().enumerate() {
            if !matches!(op.as_str(), "CREATE" | "UPDATE" | "*") {
                return Err(format!(
                    "spec.applyTo[{i}].operations: invalid operation {op:?} (CREATE, UPDATE, *)"
                ));
            }
            if a.operations[..j].contains(op) {
                return Err(format!(
                    "spec.applyTo[{i}].operations: duplicate operation {op:?}"
                ));
            }
        }
        if a.operations.len() > 1 && a.operations.iter().any(|o| o == "*") {
            return Err(format!(
                "spec.applyTo[{i}].operations: \"*\" must not be combined with other operations"
            ));
        }
        out.push(a);
    }
    Ok(out)
}

/// A list of strings (absent or null is empty).
pub fn string_list(v: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{field} must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{field} must be a list of strings")),
    }
}

/// An optional string field.
pub fn opt_str<'a>(v: &'a Value, key: &str, field: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

/// Parse `spec.location`, which every kind requires.
pub fn parse_location(spec: &Value) -> Result<Path, String> {
    let loc = opt_str(spec, "location", "spec.location")?.unwrap_or_default();
    if loc.trim().is_empty() {
        return Err("spec.location is required".to_string());
    }
    Path::parse(loc).map_err(|e| format!("invalid location {loc:?}: {e}"))
}

/// Reject a location whose last field renames a keyed list element
/// (`spec.containers[name: foo].name`): the element would no longer be found by its key.
pub fn check_key_not_changed(path: &Path) -> Result<(), String> {
    let n = path.nodes.len();
    if n < 2 {
        return Ok(());
    }
    if let Node::List { key, .. } = &path.nodes[n - 2] {
        match &path.nodes[n - 1] {
            Node::List { .. } => {
                return Err("invalid location: the child of a list cannot be a list".into())
            }
            Node::Object(r) if r == key => {
                return Err(format!(
                    "invalid location: changing the list key {key:?} is not allowed"
                ))
            }
            Node::Object(_) => {}
        }
    }
    Ok(())
}

/// Parse `spec.parameters.pathTests` and build the tester for `location`.
pub fn parse_tester(params: &Value, location: &Path) -> Result<Tester, String> {
    let mut tests = Vec::new();
    match params.get("pathTests") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, t) in items.iter().enumerate() {
                let field = format!("spec.parameters.pathTests[{i}]");
                let sub = opt_str(t, "subPath", &format!("{field}.subPath"))?.unwrap_or_default();
                let path = Path::parse(sub)
                    .map_err(|e| format!("{field}.subPath {sub:?} is invalid: {e}"))?;
                let cond = opt_str(t, "condition", &format!("{field}.condition"))?
                    .ok_or_else(|| format!("{field}.condition is required"))?;
                tests.push((path, Condition::parse(cond)?));
            }
        }
        Some(_) => return Err("spec.parameters.pathTests must be a list".to_string()),
    }
    Tester::new(location, &tests)
}
