//! Golden tests for the set: order, schema conflicts, the fixed point, non-convergence,
//! the patch, and loading real mutators (gatekeeper-library samples, our examples).

use std::path::Path as FsPath;

use serde_json::{json, Value};

use super::test_support::*;
use super::{MutationError, Mutator, MutatorSet};
use crate::review::{Operation, Review};

fn value(v: &str) -> String {
    format!("    assign:\n      value: {v}")
}

#[test]
fn order_is_by_kind_then_name() {
    let docs = [
        "apiVersion: mutations.gatekeeper.sh/v1\nkind: ModifySet\nmetadata: {name: a}\nspec: {applyTo: [{groups: [''], versions: [v1], kinds: [Pod]}], location: spec.s, parameters: {values: {fromList: [x]}}}",
        "apiVersion: mutations.gatekeeper.sh/v1\nkind: AssignMetadata\nmetadata: {name: a}\nspec: {location: metadata.labels.l, parameters: {assign: {value: x}}}",
        "apiVersion: mutations.gatekeeper.sh/v1alpha1\nkind: AssignImage\nmetadata: {name: z}\nspec: {applyTo: [{groups: [''], versions: [v1], kinds: [Pod]}], location: spec.i, parameters: {assignTag: ':v1'}}",
    ];
    let mut ms: Vec<Mutator> = docs.iter().map(|d| mutator(d)).collect();
    ms.push(assign("b", "spec.b", &value("1")));
    ms.push(assign("a", "spec.a", &value("1")));
    let set = MutatorSet::new(ms).expect("constant test input");
    let ids: Vec<&str> = set.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "Assign/a",
            "Assign/b",
            "AssignImage/z",
            "AssignMetadata/a",
            "ModifySet/a"
        ]
    );
    assert_eq!(set.len(), 5);
    assert!(!set.is_empty());
}

#[test]
fn first_in_order_wins_a_defaulting_race() {
    let test = "    pathTests: [{subPath: spec.priorityClassName, condition: MustNotExist}]\n";
    let late = assign(
        "zz",
        "spec.priorityClassName",
        &format!("{test}{}", value("low")),
    );
    let early = assign(
        "aa",
        "spec.priorityClassName",
        &format!("{test}{}", value("high")),
    );
    let out = run_converged(vec![late, early], pod("  []"));
    assert_eq!(out.object["spec"]["priorityClassName"], "high");
    assert_eq!(out.applied, vec!["Assign/aa".to_string()]);
}

#[test]
fn duplicates_and_schema_conflicts_are_rejected_by_name() {
    let dup = MutatorSet::new(vec![
        assign("a", "spec.x", &value("1")),
        assign("a", "spec.y", &value("1")),
    ]);
    assert!(dup
        .unwrap_err()
        .to_string()
        .contains("duplicate mutator Assign/a"));

    let keyed = assign("keyed", "spec.containers[name: a].image", &value("x"));
    let object = assign("object", "spec.containers.image", &value("x"));
    let err = MutatorSet::new(vec![keyed.clone(), object])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Assign/keyed") && err.contains("Assign/object"),
        "{err}"
    );
    assert!(err.contains("`spec.containers`"), "{err}");

    let other_key = assign("other", "spec.containers[image: x].name", &value("n"));
    let err = MutatorSet::new(vec![keyed.clone(), other_key])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("list keyed by `image` for Assign/other and by `name` for Assign/keyed"),
        "{err}"
    );

    let set = mutator("apiVersion: mutations.gatekeeper.sh/v1\nkind: ModifySet\nmetadata: {name: s}\nspec: {applyTo: [{groups: [''], versions: [v1], kinds: [Pod]}], location: spec.x.args, parameters: {values: {fromList: [a]}}}");
    let err = MutatorSet::new(vec![set, assign("deep", "spec.x.args.y", &value("1"))]).unwrap_err();
    assert!(err.to_string().contains("ModifySet/s") && err.to_string().contains("Assign/deep"));

    // Same path on different kinds, or an Assign's untyped last node, is no conflict.
    let mut dep = assign("dep", "spec.containers.image", &value("x"));
    dep.apply_to[0].kinds = vec!["Deployment".into()];
    assert!(MutatorSet::new(vec![keyed.clone(), dep]).is_ok());
    assert!(MutatorSet::new(vec![
        keyed,
        assign("whole", "spec.containers", &value("[]"))
    ])
    .is_ok());
}

#[test]
fn without_conflicts_leaves_out_every_mutator_of_a_conflict_and_keeps_the_rest() {
    let keyed = assign("keyed", "spec.containers[name: a].image", &value("x"));
    let object = assign("object", "spec.containers.image", &value("x"));
    let other_key = assign("other", "spec.containers[image: x].name", &value("n"));
    let fine = assign("fine", "spec.priority", &value("1"));
    let (set, left_out) = MutatorSet::without_conflicts(vec![object, fine, other_key, keyed]);
    let ids: Vec<&str> = set.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["Assign/fine"]);
    let out: Vec<(&str, usize)> = left_out
        .iter()
        .map(|(m, reasons)| (m.id.as_str(), reasons.len()))
        .collect();
    // keyed conflicts with both (object: list vs object; other: list keys name vs image).
    assert_eq!(
        out,
        [
            ("Assign/keyed", 2),
            ("Assign/object", 1),
            ("Assign/other", 2)
        ]
    );
    assert!(
        left_out[1].1[0].contains("Assign/keyed"),
        "{:?}",
        left_out[1]
    );
    // No conflict: everything serves, as with `new`.
    let (set, left_out) =
        MutatorSet::without_conflicts(vec![assign("fine", "spec.priority", &value("1"))]);
    assert_eq!((set.len(), left_out.len()), (1, 0));
}

#[test]
fn iterates_until_later_mutators_feed_earlier_ones() {
    let needs_x = assign(
        "a-copy",
        "spec.x.copy",
        &format!(
            "    pathTests: [{{subPath: spec.x, condition: MustExist}}]\n{}",
            value("2")
        ),
    );
    let sets_x = assign("b-set", "spec.x.val", &value("1"));
    let out = run_converged(vec![needs_x, sets_x], pod("  []"));
    assert_eq!(out.object["spec"]["x"], json!({"val": 1, "copy": 2}));
    assert_eq!(out.iterations, 3);
    assert_eq!(
        out.applied,
        vec!["Assign/b-set".to_string(), "Assign/a-copy".to_string()]
    );
}

#[test]
fn cancelling_mutators_converge_like_upstream() {
    let out = run_converged(
        vec![
            assign("a", "spec.x", &value("1")),
            assign("b", "spec.x", &value("2")),
        ],
        pod("  []"),
    );
    assert_eq!(out.object["spec"]["x"], 2);
    // Pass 2 sets x to 1 and back to 2: it ends where it began (its fingerprint at both
    // ends is the same), so the loop stops there.
    assert_eq!(out.iterations, 2);
}

#[test]
fn oscillation_fails_naming_the_mutators() {
    let cyc = |name: &str, to: &str, from: &str| {
        assign(
            name,
            "spec.x",
            &format!("    assignIf: {{in: [{from}]}}\n{}", value(to)),
        )
    };
    // Each pass moves x one step around A -> B -> C -> A, so no pass ends where it began.
    let ms = vec![cyc("a", "A", "C"), cyc("b", "C", "B"), cyc("c", "B", "A")];
    let mut obj = pod("  []");
    obj["spec"]["x"] = json!("A");
    match run(ms, obj) {
        Err(MutationError::Failed(msg)) => {
            assert!(msg.contains("not converging"), "{msg}");
            assert!(
                msg.contains("Assign/a") && msg.contains("Assign/b"),
                "{msg}"
            );
        }
        other => panic!("expected non-convergence, got {other:?}"),
    }
}

#[test]
fn patch_is_minimal_and_skips_other_operations() {
    let m = assign(
        "pull",
        "spec.containers[name: *].imagePullPolicy",
        &value("Always"),
    );
    let out = run_converged(
        vec![m.clone()],
        pod("  - name: a\n  - name: b\n    imagePullPolicy: Always"),
    );
    let ops = serde_json::to_value(&out.patch).expect("constant test input");
    assert_eq!(
        ops,
        json!([{"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "Always"}])
    );

    let mut review = Review::from_object(pod("  - name: a"));
    review.operation = Operation::Delete;
    let set = MutatorSet::new(vec![m]).expect("constant test input");
    let out = set
        .mutate_with(&review, &|m, r| m.applies_to(r))
        .expect("constant test input");
    assert!(out.patch.0.is_empty());
}

/// Every YAML document in a file.
fn docs(path: &FsPath) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn yaml_files(dir: &FsPath) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out.into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect()
}

/// Each `samples/` directory: its mutation files, applied one file at a time to every
/// example pod in its sub directories.
#[test]
fn gatekeeper_library_mutation_samples() {
    let Some(corpus) = crate::test_data::conformance() else {
        return;
    };
    let root_buf = corpus.join("gatekeeper-library/mutation");
    let root = root_buf.as_path();
    assert!(root.is_dir(), "{} is missing", root.display());
    let mut sample_dirs = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                if e.file_name() == "samples" {
                    sample_dirs.push(e.path());
                }
                stack.push(e.path());
            }
        }
    }
    sample_dirs.sort();
    let (mut runs, mut mutated) = (0, 0);
    for dir in &sample_dirs {
        let mut pods = Vec::new();
        for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if sub.path().is_dir() {
                for f in yaml_files(&sub.path()) {
                    pods.extend(docs(&f));
                }
            }
        }
        for f in yaml_files(dir) {
            let ms: Vec<Mutator> = docs(&f)
                .iter()
                .map(|d| Mutator::parse(d).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
                .collect();
            for p in &pods {
                let out = run_converged(ms.clone(), p.clone());
                runs += 1;
                mutated += usize::from(!out.patch.0.is_empty());
            }
        }
    }
    println!(
        "{} sample dirs, {runs} runs, {mutated} mutated",
        sample_dirs.len()
    );
    assert!(runs > 0 && mutated > 0);
}

/// The documented examples load as one set and do what their comments say.
#[test]
fn example_mutations_load_and_apply() {
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    let ms: Vec<Mutator> = yaml_files(&dir)
        .iter()
        .flat_map(|f| docs(f))
        .filter(|d| d.get("kind").and_then(Value::as_str) != Some("Namespace"))
        .map(|d| Mutator::parse(&d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(ms.len() >= 6, "examples: {}", ms.len());
    let first = run_converged(ms.clone(), pod("  - name: app\n    image: nginx:1.27"));
    let c = &first.object["spec"]["containers"];
    assert_eq!(
        c.as_array().map(Vec::len),
        Some(2),
        "sidecar added once: {c}"
    );
    assert_eq!(c[1]["name"], "log-shipper");
    assert!(c[0]["image"]
        .as_str()
        .unwrap_or("")
        .starts_with("registry.example.com/"));
    assert_eq!(
        first.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "portcullis"
    );
    // A user container with the sidecar's name is never replaced.
    let own = run_converged(ms, pod("  - name: log-shipper\n    image: mine"));
    assert_eq!(
        own.object["spec"]["containers"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(own.object["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .ends_with("/mine"));
}

/// End to end through the real matcher: namespace opt-in and the per-Pod escape hatch of
/// the sidecar example.
#[test]
fn sidecar_example_through_the_matcher() {
    use std::collections::BTreeMap;
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    let ms: Vec<Mutator> = yaml_files(&dir)
        .iter()
        .flat_map(|f| docs(f))
        .map(|d| Mutator::from_value(&d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let set = MutatorSet::new(ms).expect("constant test input");
    let mut namespaces: BTreeMap<String, crate::matching::Labels> = BTreeMap::new();
    namespaces.insert(
        "shop".into(),
        BTreeMap::from([(
            "logging.example.com/ship".to_string(),
            "enabled".to_string(),
        )]),
    );
    namespaces.insert("plain".into(), BTreeMap::new());
    let names = |obj: &Value| -> Vec<String> {
        obj["spec"]["containers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let opted = set
        .mutate(&Review::from_object(pod("  - name: app")), &namespaces)
        .expect("constant test input");
    assert_eq!(names(&opted.object), ["app", "log-shipper"]);
    let again = set
        .mutate(&Review::from_object(opted.object.clone()), &namespaces)
        .expect("constant test input");
    assert!(again.patch.0.is_empty(), "{:?}", again.patch);

    let mut other = pod("  - name: app");
    other["metadata"]["namespace"] = json!("plain");
    let plain = set
        .mutate(&Review::from_object(other), &namespaces)
        .expect("constant test input");
    assert_eq!(names(&plain.object), ["app"]);

    let mut opt_out = pod("  - name: app");
    opt_out["metadata"]["labels"] = json!({"sidecar.example.com/inject": "disabled"});
    let out = set
        .mutate(&Review::from_object(opt_out), &namespaces)
        .expect("constant test input");
    assert_eq!(names(&out.object), ["app"]);
}
