//! The JSON Patch of a mutation, computed only where the mutators that changed something
//! can have written.
//!
//! `json_patch::diff` over the whole object compared every field of a Pod although a
//! mutation touches a few: it was a fifth of the cost of a mutate call. Every write of a
//! mutator lies on its location: the walk only follows and creates the location's fields,
//! and below the first list selector it stays inside that list. So each changer has a
//! *footprint*, the leading object fields of its location, and a field on no footprint is
//! the same on both sides. [`diff`] walks the two objects as `json_patch::diff` does (the
//! new object's fields in order, then the removed ones), skips the fields off every
//! footprint, which would have yielded no operation, and diffs each footprint's end with
//! `json_patch`'s own algorithm (kept op for op, the unit tests compare the two). The
//! result is the very patch the whole diff gives.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::{Map, Value};

use super::path::Node;

/// The object fields a location can write under: its nodes up to the first list selector.
pub fn footprint(nodes: &[Node]) -> &[Node] {
    let end = nodes.iter().position(Node::is_list).unwrap_or(nodes.len());
    &nodes[..end]
}

/// The patch from `original` to `mutated`, equal to `json_patch::diff(original, mutated)`
/// provided every difference lies under one of `footprints` (see the module docs).
pub fn diff(original: &Value, mutated: &Value, footprints: &[&[Node]]) -> Patch {
    let (Value::Object(left), Value::Object(right)) = (original, mutated) else {
        let mut patch = Patch(Vec::new());
        diff_value(original, mutated, &mut PointerBuf::new(), &mut patch);
        return patch;
    };
    let mut patch = Patch(Vec::new());
    let mut pointer = PointerBuf::new();
    diff_fields(left, right, footprints, 0, &mut pointer, &mut patch);
    patch
}

/// The field a footprint names at `depth`, if it reaches that deep.
fn field_at(footprint: &[Node], depth: usize) -> Option<&str> {
    match footprint.get(depth) {
        Some(Node::Object(field)) => Some(field),
        _ => None,
    }
}

/// `json_patch`'s object diff restricted to the fields on `footprints` at `depth`.
fn diff_fields(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
    footprints: &[&[Node]],
    depth: usize,
    pointer: &mut PointerBuf,
    patch: &mut Patch,
) {
    let mut below: Vec<&[Node]> = Vec::new();
    for (key, new) in right {
        below.clear();
        below.extend(
            footprints
                .iter()
                .copied()
                .filter(|fp| field_at(fp, depth) == Some(key.as_str())),
        );
        if below.is_empty() {
            continue;
        }
        pointer.push_back(key.as_str());
        match left.get(key) {
            None => patch.0.push(PatchOperation::Add(AddOperation {
                path: pointer.clone(),
                value: new.clone(),
            })),
            Some(old) => {
                // A footprint ending here may have replaced the whole value: diff it all.
                let ends_here = below.iter().any(|fp| fp.len() == depth + 1);
                match (old, new) {
                    (Value::Object(l), Value::Object(r)) if !ends_here => {
                        diff_fields(l, r, &below, depth + 1, pointer, patch);
                    }
                    _ => diff_value(old, new, pointer, patch),
                }
            }
        }
        pointer.pop_back();
    }
    for key in left.keys() {
        if !right.contains_key(key)
            && footprints
                .iter()
                .any(|fp| field_at(fp, depth) == Some(key.as_str()))
        {
            pointer.push_back(key.as_str());
            patch.0.push(PatchOperation::Remove(RemoveOperation {
                path: pointer.clone(),
            }));
            pointer.pop_back();
        }
    }
}

/// `json_patch::diff` of two values at `pointer`, op for op, except that equal subtrees
/// are skipped by one `==` instead of being walked key by key with a JSON Pointer pushed
/// and popped at each: they yield no operation either way, and a Pod's containers are
/// mostly equal.
fn diff_value(old: &Value, new: &Value, pointer: &mut PointerBuf, patch: &mut Patch) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(left), Value::Object(right)) => {
            for (key, value) in right {
                pointer.push_back(key.as_str());
                match left.get(key) {
                    Some(prev) => diff_value(prev, value, pointer, patch),
                    None => patch.0.push(PatchOperation::Add(AddOperation {
                        path: pointer.clone(),
                        value: value.clone(),
                    })),
                }
                pointer.pop_back();
            }
            for key in left.keys() {
                if !right.contains_key(key) {
                    pointer.push_back(key.as_str());
                    patch.0.push(PatchOperation::Remove(RemoveOperation {
                        path: pointer.clone(),
                    }));
                    pointer.pop_back();
                }
            }
        }
        (Value::Array(left), Value::Array(right)) => diff_list(left, right, pointer, patch),
        _ => patch.0.push(PatchOperation::Replace(ReplaceOperation {
            path: pointer.clone(),
            value: new.clone(),
        })),
    }
}

/// Lists element by element as `json_patch` does: trailing elements removed one by one at
/// the same shifted index, or appended.
fn diff_list(left: &[Value], right: &[Value], pointer: &mut PointerBuf, patch: &mut Patch) {
    let mut shift = 0usize;
    for idx in 0..left.len().max(right.len()) {
        pointer.push_back(idx - shift);
        match (left.get(idx), right.get(idx)) {
            (Some(old), Some(new)) => diff_value(old, new, pointer, patch),
            (Some(_), None) => {
                shift += 1;
                patch.0.push(PatchOperation::Remove(RemoveOperation {
                    path: pointer.clone(),
                }));
            }
            (None, Some(new)) => patch.0.push(PatchOperation::Add(AddOperation {
                path: pointer.clone(),
                value: new.clone(),
            })),
            (None, None) => {}
        }
        pointer.pop_back();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::path::Path;
    use super::*;

    /// The restricted diff must equal the whole diff, op for op, and apply cleanly.
    fn same_as_whole(original: Value, mutated: Value, locations: &[&str]) {
        let paths: Vec<Path> = locations
            .iter()
            .map(|l| Path::parse(l).expect("test location parses"))
            .collect();
        let fps: Vec<&[Node]> = paths.iter().map(|p| footprint(&p.nodes)).collect();
        let ours = diff(&original, &mutated, &fps);
        assert_eq!(ours, json_patch::diff(&original, &mutated));
        let mut doc = original;
        json_patch::patch(&mut doc, &ours).expect("patch applies");
        assert_eq!(doc, mutated);
    }

    #[test]
    fn matches_the_whole_diff_on_nested_changes() {
        let original = json!({
            "metadata": {"name": "p", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "app"}], "volumes": [{"name": "v"}]},
            "status": {}
        });
        let mutated = json!({
            "metadata": {"name": "p", "labels": {"a": "1", "x/y~z": "2"},
                         "annotations": {"n": "ns"}},
            "spec": {"containers": [{"name": "app", "imagePullPolicy": "Always"},
                                    {"name": "side"}],
                     "volumes": [{"name": "v"}],
                     "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
            "status": {}
        });
        same_as_whole(
            original,
            mutated,
            &[
                "metadata.labels.\"x/y~z\"",
                "metadata.annotations.n",
                "spec.containers[name: *].imagePullPolicy",
                "spec.containers[name: side]",
                "spec.securityContext.seccompProfile",
            ],
        );
    }

    #[test]
    fn whole_value_replacements_and_type_changes() {
        let original = json!({"spec": {"a": {"b": 1, "c": 2}, "s": "x", "keep": [1, 2]}});
        let mutated = json!({"spec": {"a": {"d": 3}, "s": {"now": "object"}, "keep": [1, 2]}});
        same_as_whole(original, mutated, &["spec.a", "spec.s.now"]);
    }

    #[test]
    fn removed_fields_and_created_roots() {
        let original = json!({"spec": {"gone": 1, "stay": 2}, "other": 3});
        let mutated = json!({"spec": {"stay": 2}, "other": 3, "fresh": {"x": {"y": 1}}});
        same_as_whole(original, mutated, &["spec.gone", "fresh.x.y"]);
    }

    #[test]
    fn lists_grow_shrink_and_change_like_json_patch() {
        let original = json!({"spec": {"l": [{"a": 1}, {"b": 2}, 3, 4, 5], "m": [1]}});
        let mutated = json!({"spec": {"l": [{"a": 1}, {"b": 3, "c": [1]}], "m": [1, {"x": 2}]}});
        same_as_whole(original, mutated, &["spec.l[name: *].b", "spec.m"]);
        let scalar = json!({"spec": {"l": [1, 2]}});
        same_as_whole(
            scalar.clone(),
            json!({"spec": {"l": "now a string"}}),
            &["spec.l"],
        );
        same_as_whole(json!({"spec": 1}), json!({"spec": {"l": 1}}), &["spec.l"]);
    }

    #[test]
    fn footprint_stops_at_the_first_list_selector() {
        let p = Path::parse("spec.containers[name: a].env[name: B].value").expect("parses");
        assert_eq!(footprint(&p.nodes).len(), 2);
        let q = Path::parse("metadata.labels.app").expect("parses");
        assert_eq!(footprint(&q.nodes).len(), 3);
    }
}
