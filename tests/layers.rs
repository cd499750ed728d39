//! The crate's top-level modules form layers: no module names one that names it back
//! (directly or through others), tests included. The model (`policy`, `matching`, `review`)
//! sits below the engines, the engines below the snapshot, and the snapshot below sources,
//! server, audit and commands; a cycle would let a change anywhere ripple everywhere.
//!
//! A module "names" another when any of its files (doc links included) spells
//! `crate::<other>`: stricter than the compiler's view, and simple enough to trust.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module of a file under `src/` (`src/engine/rego/mod.rs` is `engine`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// `crate::<name>` references in a text.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
        rest = after;
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "src/ not found or nearly empty");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("source file reads");
        let names = graph.entry(module.clone()).or_default();
        names.extend(named_modules(&text).into_iter().filter(|n| *n != module));
    }
    graph
}

/// A cycle through `start`, if any (depth-first search over the names).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let graph = graph();
    for layer in ["policy", "engine", "snapshot", "matching", "review"] {
        assert!(graph.contains_key(layer), "module {layer} not found");
    }
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_model_depends_on_no_engine_and_the_engines_on_no_snapshot() {
    let graph = graph();
    let names = |m: &str| graph.get(m).cloned().unwrap_or_default();
    for model in ["policy", "matching", "review"] {
        for above in [
            "engine", "snapshot", "sources", "server", "audit", "commands",
        ] {
            assert!(!names(model).contains(above), "{model} names {above}");
        }
    }
    for above in ["snapshot", "sources", "server", "audit", "commands"] {
        assert!(!names("engine").contains(above), "engine names {above}");
    }
}

#[test]
fn the_scanner_sees_references_and_cycles() {
    assert_eq!(
        named_modules("use crate::engine::X; // see [`crate::policy`]\nlet y = 1;"),
        ["engine", "policy"].map(String::from).into()
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        cycle_from(&g, "a").map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".to_string())
    );
    g.insert("c".to_string(), BTreeSet::new());
    assert_eq!(cycle_from(&g, "a"), None);
}
