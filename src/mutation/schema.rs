//! Cross-mutator schema checks: two mutators bound to the same kind must agree on what
//! each node of their locations is. If one treats `spec.containers` as a list keyed by
//! `name` and another as an object, or a list keyed by `id`, the pair would fight over the
//! object forever, so Gatekeeper marks both as conflicting and applies neither (the other
//! mutators still run); portcullis does the same ([`super::MutatorSet::without_conflicts`]).
//!
//! As upstream, each (group, version, kind, operation) binding has a tree of the location
//! nodes; a node's type is decided by the next node of a location (or, for the last node,
//! by the mutator kind: a set for ModifySet, a string for AssignImage, unknown for Assign,
//! which conflicts with nothing).

use std::collections::{BTreeMap, BTreeSet};

use super::common::Binding;
use super::path::Node;
use super::Mutator;

/// What a location says a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeType {
    /// An object with fields.
    Object,
    /// A list of objects selected by a key field.
    List,
    /// A list of plain values (ModifySet).
    Set,
    /// A string (AssignImage).
    String,
    /// Anything (Assign's last node).
    Unknown,
}

impl NodeType {
    fn describe(self) -> &'static str {
        match self {
            NodeType::Object => "an object",
            NodeType::List => "a keyed list",
            NodeType::Set => "a set of values",
            NodeType::String => "a string",
            NodeType::Unknown => "any value",
        }
    }
}

#[derive(Debug, Default)]
struct SchemaNode {
    referenced_by: BTreeSet<usize>,
    children: BTreeMap<String, BTreeMap<NodeType, SchemaNode>>,
}

fn key_of(n: &Node) -> &str {
    match n {
        Node::Object(r) => r,
        Node::List { key, .. } => key,
    }
}

fn type_of(n: &Node) -> NodeType {
    if n.is_list() {
        NodeType::List
    } else {
        NodeType::Object
    }
}

impl SchemaNode {
    fn add(&mut self, id: usize, path: &[Node], terminal: NodeType) {
        self.referenced_by.insert(id);
        let Some(first) = path.first() else {
            return;
        };
        let ty = path.get(1).map(type_of).unwrap_or(terminal);
        self.children
            .entry(key_of(first).to_string())
            .or_default()
            .entry(ty)
            .or_default()
            .add(id, &path[1..], terminal);
    }

    /// Walk the tree and describe every disagreement; `at` is the display path so far.
    /// `in_list` is set when this node is a keyed list, whose children are its key fields.
    fn conflicts(
        &self,
        at: &str,
        in_list: bool,
        names: &dyn Fn(&BTreeSet<usize>) -> String,
        out: &mut Vec<(BTreeSet<usize>, String)>,
    ) {
        for (key, types) in &self.children {
            let here = if in_list {
                format!("{at}[{key}: ...]")
            } else if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            let known: Vec<_> = types
                .iter()
                .filter(|(t, _)| **t != NodeType::Unknown)
                .collect();
            if known.len() > 1 {
                let parts: Vec<String> = known
                    .iter()
                    .map(|(t, n)| format!("as {} by {}", t.describe(), names(&n.referenced_by)))
                    .collect();
                let ids = known
                    .iter()
                    .flat_map(|(_, n)| n.referenced_by.iter().copied())
                    .collect();
                out.push((ids, format!("`{here}` is used {}", parts.join(" and "))));
            }
            if let Some(list) = types.get(&NodeType::List) {
                if list.children.len() > 1 {
                    let mut all = BTreeSet::new();
                    let parts: Vec<String> = list
                        .children
                        .iter()
                        .map(|(k, t)| {
                            let ids: BTreeSet<usize> = t
                                .values()
                                .flat_map(|n| n.referenced_by.iter().copied())
                                .collect();
                            let line = format!("by `{k}` for {}", names(&ids));
                            all.extend(ids);
                            line
                        })
                        .collect();
                    out.push((
                        all,
                        format!("`{here}` is a list keyed {}", parts.join(" and ")),
                    ));
                }
            }
            for (ty, child) in types {
                child.conflicts(&here, *ty == NodeType::List, names, out);
            }
        }
    }
}

/// One schema conflict: the mutators involved (indices into the checked slice) and what
/// they disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Indices of the mutators in the conflict.
    pub members: BTreeSet<usize>,
    /// The disagreement, naming the mutators.
    pub message: String,
}

/// Every schema conflict among `mutators`, as sentences naming the mutators involved.
pub fn conflicts(mutators: &[Mutator]) -> Vec<String> {
    find_conflicts(mutators)
        .into_iter()
        .map(|c| c.message)
        .collect()
}

/// Every schema conflict among `mutators`, with the mutators each one involves.
pub fn find_conflicts(mutators: &[Mutator]) -> Vec<Conflict> {
    let mut trees: BTreeMap<Binding, SchemaNode> = BTreeMap::new();
    for (i, m) in mutators.iter().enumerate() {
        for a in &m.apply_to {
            for b in a.bindings() {
                trees
                    .entry(b)
                    .or_default()
                    .add(i, &m.location.nodes, m.terminal());
            }
        }
    }
    let names = |ids: &BTreeSet<usize>| -> String {
        let v: Vec<&str> = ids
            .iter()
            .filter_map(|i| mutators.get(*i).map(|m| m.id.as_str()))
            .collect();
        v.join(", ")
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ((group, version, kind, _op), tree) in &trees {
        let mut found = Vec::new();
        tree.conflicts("", false, &names, &mut found);
        let gv = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        for (members, f) in found {
            let message = format!("schema conflict for {gv} {kind}: {f}");
            if seen.insert(message.clone()) {
                out.push(Conflict { members, message });
            }
        }
    }
    out
}
