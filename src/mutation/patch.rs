//! The JSON Patch of a mutation, computed only where the mutators that changed something
//! can have written, and refused as soon as it outgrows the [`MutationLimits`].
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
//!
//! Each operation is counted, and its JSON measured, before it is added (and before its
//! value is copied into it): the diff stops at the first operation past a limit, so a
//! patch that will be refused never exists in memory whole.

use std::io;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde::Serialize;
use serde_json::{Map, Value};

use super::path::Node;
use super::{MutationLimits, PatchLimit};
use crate::deadline::Pacer;

/// The object fields a location can write under: its nodes up to the first list selector.
pub fn footprint(nodes: &[Node]) -> &[Node] {
    let end = nodes.iter().position(Node::is_list).unwrap_or(nodes.len());
    &nodes[..end]
}

/// Where one mutator that changed the object can have written, and its id for errors.
#[derive(Debug, Clone, Copy)]
pub struct Footprint<'a> {
    /// [`footprint`] of its location.
    pub nodes: &'a [Node],
    /// `Kind/name` of the mutator.
    pub mutator: &'a str,
}

/// Why [`diff`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffStop {
    /// The patch passed a limit; `mutator` wrote under the footprint being diffed.
    Limit {
        /// Which limit.
        limit: PatchLimit,
        /// Its value.
        max: usize,
        /// `Kind/name` of a mutator whose footprint the operation lies on.
        mutator: String,
    },
    /// The deadline passed.
    Deadline,
}

impl From<crate::deadline::DeadlineExceeded> for DiffStop {
    fn from(_: crate::deadline::DeadlineExceeded) -> Self {
        DiffStop::Deadline
    }
}

/// The patch from `original` to `mutated`, equal to `json_patch::diff(original, mutated)`
/// provided every difference lies under one of `footprints` (see the module docs), unless
/// it passes `limits` (or `pacer`'s deadline passes) first.
///
/// # Errors
/// [`DiffStop::Limit`] at the first operation past a limit, [`DiffStop::Deadline`].
pub fn diff(
    original: &Value,
    mutated: &Value,
    footprints: &[Footprint<'_>],
    limits: &MutationLimits,
    pacer: &Pacer,
) -> Result<Patch, DiffStop> {
    diff_measured(original, mutated, footprints, limits, pacer).map(|(patch, _)| patch)
}

/// [`diff`], with the size of the patch as JSON.
fn diff_measured(
    original: &Value,
    mutated: &Value,
    footprints: &[Footprint<'_>],
    limits: &MutationLimits,
    pacer: &Pacer,
) -> Result<(Patch, usize), DiffStop> {
    let mut out = Builder {
        ops: Vec::new(),
        bytes: 2,
        limits,
        pacer,
        blame: footprints.first().map_or("", |f| f.mutator),
    };
    let mut pointer = PointerBuf::new();
    match (original, mutated) {
        (Value::Object(left), Value::Object(right)) => {
            out.diff_fields(left, right, footprints, 0, &mut pointer)?;
        }
        _ => out.diff_value(original, mutated, &mut pointer)?,
    }
    Ok((Patch(out.ops), out.bytes))
}

/// The field a footprint names at `depth`, if it reaches that deep.
fn field_at<'a>(footprint: &Footprint<'a>, depth: usize) -> Option<&'a str> {
    match footprint.nodes.get(depth) {
        Some(Node::Object(field)) => Some(field),
        _ => None,
    }
}

/// An operation as `json_patch` serialises it (`{"op":..,"path":..,"value":..}`), but
/// borrowing its path and value, so its size is known before anything is copied.
#[derive(Serialize)]
struct OpRef<'a> {
    op: &'static str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
}

/// Counts bytes written and fails once they pass `room`, so measuring a huge value stops
/// as soon as it is known not to fit.
struct Meter {
    written: usize,
    room: usize,
}

impl io::Write for Meter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        if self.written > self.room {
            return Err(io::Error::other("patch byte limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The patch being built with its running size.
struct Builder<'a> {
    ops: Vec<PatchOperation>,
    /// Bytes of the patch as JSON so far, brackets and commas included.
    bytes: usize,
    limits: &'a MutationLimits,
    pacer: &'a Pacer,
    /// The mutator named if a limit is passed: one whose footprint is being diffed.
    blame: &'a str,
}

#[derive(Clone, Copy)]
enum Kind {
    Add,
    Remove,
    Replace,
}

impl<'a> Builder<'a> {
    fn stop(&self, limit: PatchLimit, max: usize) -> DiffStop {
        DiffStop::Limit {
            limit,
            max,
            mutator: self.blame.to_string(),
        }
    }

    /// Count, measure and add one operation.
    fn emit(&mut self, kind: Kind, pointer: &PointerBuf, value: &Value) -> Result<(), DiffStop> {
        let max_ops = self.limits.max_patch_operations;
        if self.ops.len() >= max_ops {
            return Err(self.stop(PatchLimit::Operations, max_ops));
        }
        let max_bytes = self.limits.max_patch_bytes;
        let comma = usize::from(!self.ops.is_empty());
        let mut meter = Meter {
            written: 0,
            room: max_bytes.saturating_sub(self.bytes + comma),
        };
        let op = OpRef {
            op: match kind {
                Kind::Add => "add",
                Kind::Remove => "remove",
                Kind::Replace => "replace",
            },
            path: pointer.as_str(),
            value: (!matches!(kind, Kind::Remove)).then_some(value),
        };
        if serde_json::to_writer(&mut meter, &op).is_err() {
            return Err(self.stop(PatchLimit::Bytes, max_bytes));
        }
        self.bytes += comma + meter.written;
        let path = pointer.clone();
        self.ops.push(match kind {
            Kind::Add => PatchOperation::Add(AddOperation {
                path,
                value: value.clone(),
            }),
            Kind::Remove => PatchOperation::Remove(RemoveOperation { path }),
            Kind::Replace => PatchOperation::Replace(ReplaceOperation {
                path,
                value: value.clone(),
            }),
        });
        Ok(())
    }

    /// `json_patch`'s object diff restricted to the fields on `footprints` at `depth`.
    fn diff_fields(
        &mut self,
        left: &Map<String, Value>,
        right: &Map<String, Value>,
        footprints: &[Footprint<'a>],
        depth: usize,
        pointer: &mut PointerBuf,
    ) -> Result<(), DiffStop> {
        let mut below: Vec<Footprint<'a>> = Vec::new();
        for (key, new) in right {
            below.clear();
            below.extend(
                footprints
                    .iter()
                    .copied()
                    .filter(|fp| field_at(fp, depth) == Some(key.as_str())),
            );
            let Some(first) = below.first() else {
                continue;
            };
            let outer = std::mem::replace(&mut self.blame, first.mutator);
            pointer.push_back(key.as_str());
            match left.get(key) {
                None => self.emit(Kind::Add, pointer, new)?,
                Some(old) => {
                    // A footprint ending here may have replaced the whole value: diff it
                    // all.
                    let ends_here = below.iter().any(|fp| fp.nodes.len() == depth + 1);
                    match (old, new) {
                        (Value::Object(l), Value::Object(r)) if !ends_here => {
                            self.diff_fields(l, r, &below, depth + 1, pointer)?;
                        }
                        _ => self.diff_value(old, new, pointer)?,
                    }
                }
            }
            pointer.pop_back();
            self.blame = outer;
        }
        for (key, old) in left {
            if right.contains_key(key) {
                continue;
            }
            if let Some(fp) = footprints
                .iter()
                .find(|fp| field_at(fp, depth) == Some(key.as_str()))
            {
                let outer = std::mem::replace(&mut self.blame, fp.mutator);
                pointer.push_back(key.as_str());
                self.emit(Kind::Remove, pointer, old)?;
                pointer.pop_back();
                self.blame = outer;
            }
        }
        Ok(())
    }

    /// `json_patch::diff` of two values at `pointer`, op for op, except that equal
    /// subtrees are skipped by one `==` instead of being walked key by key with a JSON
    /// Pointer pushed and popped at each: they yield no operation either way, and a Pod's
    /// containers are mostly equal.
    fn diff_value(
        &mut self,
        old: &Value,
        new: &Value,
        pointer: &mut PointerBuf,
    ) -> Result<(), DiffStop> {
        self.pacer.tick()?;
        if old == new {
            return Ok(());
        }
        match (old, new) {
            (Value::Object(left), Value::Object(right)) => {
                for (key, value) in right {
                    pointer.push_back(key.as_str());
                    match left.get(key) {
                        Some(prev) => self.diff_value(prev, value, pointer)?,
                        None => self.emit(Kind::Add, pointer, value)?,
                    }
                    pointer.pop_back();
                }
                for (key, prev) in left {
                    if !right.contains_key(key) {
                        pointer.push_back(key.as_str());
                        self.emit(Kind::Remove, pointer, prev)?;
                        pointer.pop_back();
                    }
                }
            }
            (Value::Array(left), Value::Array(right)) => self.diff_list(left, right, pointer)?,
            _ => self.emit(Kind::Replace, pointer, new)?,
        }
        Ok(())
    }

    /// Lists element by element as `json_patch` does: trailing elements removed one by
    /// one at the same shifted index, or appended.
    fn diff_list(
        &mut self,
        left: &[Value],
        right: &[Value],
        pointer: &mut PointerBuf,
    ) -> Result<(), DiffStop> {
        let mut shift = 0usize;
        for idx in 0..left.len().max(right.len()) {
            self.pacer.tick()?;
            pointer.push_back(idx - shift);
            match (left.get(idx), right.get(idx)) {
                (Some(old), Some(new)) => self.diff_value(old, new, pointer)?,
                (Some(old), None) => {
                    shift += 1;
                    self.emit(Kind::Remove, pointer, old)?;
                }
                (None, Some(new)) => self.emit(Kind::Add, pointer, new)?,
                (None, None) => {}
            }
            pointer.pop_back();
        }
        Ok(())
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
        let fps: Vec<Footprint<'_>> = paths
            .iter()
            .map(|p| Footprint {
                nodes: footprint(&p.nodes),
                mutator: "Assign/test",
            })
            .collect();
        let ours = diff(
            &original,
            &mutated,
            &fps,
            &MutationLimits::DEFAULT,
            &crate::deadline::Deadline::NONE.pacer(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        // The running byte count is the patch's JSON, exactly.
        assert_eq!(
            measured(&original, &mutated, &fps),
            serde_json::to_vec(&ours).map(|b| b.len()).unwrap_or(0)
        );
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

    fn measured(original: &Value, mutated: &Value, fps: &[Footprint<'_>]) -> usize {
        let pacer = crate::deadline::Deadline::NONE.pacer();
        match diff_measured(original, mutated, fps, &MutationLimits::DEFAULT, &pacer) {
            Ok((_, bytes)) => bytes,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// A list of `n` empty objects and the same with a field added to each: `n` operations.
    fn grown(n: usize) -> (Value, Value) {
        let before: Vec<Value> = (0..n).map(|_| json!({})).collect();
        let after: Vec<Value> = (0..n).map(|_| json!({"x": "yyyy"})).collect();
        (
            json!({"spec": {"l": before}}),
            json!({"spec": {"l": after}}),
        )
    }

    fn limited(
        original: &Value,
        mutated: &Value,
        limits: MutationLimits,
    ) -> Result<Patch, DiffStop> {
        let path = Path::parse("spec.l[name: *].x").expect("parses");
        let fps = [Footprint {
            nodes: footprint(&path.nodes),
            mutator: "Assign/grow",
        }];
        diff(
            original,
            mutated,
            &fps,
            &limits,
            &crate::deadline::Deadline::NONE.pacer(),
        )
    }

    #[test]
    fn operation_limit_stops_at_the_first_operation_past_it() {
        let (before, after) = grown(101);
        let at = |max_patch_operations| MutationLimits {
            max_patch_operations,
            ..MutationLimits::DEFAULT
        };
        assert_eq!(
            limited(&before, &after, at(101)).map(|p| p.0.len()),
            Ok(101)
        );
        assert_eq!(
            limited(&before, &after, at(100)),
            Err(DiffStop::Limit {
                limit: PatchLimit::Operations,
                max: 100,
                mutator: "Assign/grow".into()
            })
        );
    }

    #[test]
    fn byte_limit_is_the_exact_json_size() {
        let (before, after) = grown(50);
        let whole = limited(&before, &after, MutationLimits::DEFAULT).expect("fits");
        let size = serde_json::to_vec(&whole).map(|b| b.len()).unwrap_or(0);
        let at = |max_patch_bytes| MutationLimits {
            max_patch_bytes,
            ..MutationLimits::DEFAULT
        };
        assert_eq!(limited(&before, &after, at(size)), Ok(whole));
        assert!(matches!(
            limited(&before, &after, at(size - 1)),
            Err(DiffStop::Limit { limit: PatchLimit::Bytes, max, .. }) if max == size - 1
        ));
        // One value too big for the whole budget is refused while it is being measured.
        let huge = json!({"spec": {"l": [{"x": "z".repeat(10_000)}]}});
        let one = json!({"spec": {"l": [{}]}});
        assert!(matches!(
            limited(&one, &huge, at(1_000)),
            Err(DiffStop::Limit {
                limit: PatchLimit::Bytes,
                ..
            })
        ));
    }

    #[test]
    fn diff_stops_at_the_deadline() {
        let (before, after) = grown(5_000);
        let path = Path::parse("spec.l[name: *].x").expect("parses");
        let fps = [Footprint {
            nodes: footprint(&path.nodes),
            mutator: "Assign/grow",
        }];
        let past = crate::deadline::Deadline::at(
            std::time::Instant::now() - std::time::Duration::from_millis(1),
        );
        assert_eq!(
            diff(
                &before,
                &after,
                &fps,
                &MutationLimits::DEFAULT,
                &past.pacer()
            ),
            Err(DiffStop::Deadline)
        );
    }

    #[test]
    fn footprint_stops_at_the_first_list_selector() {
        let p = Path::parse("spec.containers[name: a].env[name: B].value").expect("parses");
        assert_eq!(footprint(&p.nodes).len(), 2);
        let q = Path::parse("metadata.labels.app").expect("parses");
        assert_eq!(footprint(&q.nodes).len(), 3);
    }
}
