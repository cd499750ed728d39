//! Differential test: the compiled path against the regorus interpreter on Gatekeeper's
//! library (read from the shared conformance checkout, never copied into this tree).
//!
//! For every library template whose Rego compiles on the fast path, every object of its
//! gator suite is judged under every constraint of the suite, and then systematically
//! mutated variants of the objects (each field removed, retyped, or given values the
//! library's parsers care about: quantities, wildcards, empty strings) and of the
//! parameters are judged too. Both paths must give the same violations (message and
//! details), or both fail.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{Compiled, TemplateMemo};
use crate::deadline::Deadline;
use crate::engine::inventory_of;
use crate::engine::rego::{RegoProgram, RegoSource};
use crate::engine::{BoundProgram, EngineError, EvalInput, Program, Violation};
use crate::manifests::read_values as read_docs;
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// Mutated variants judged per template (spread over all candidate mutations).
const MUTATIONS_PER_TEMPLATE: usize = 1500;

fn template_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.join("template.yaml").is_file() && p.join("suite.yaml").is_file() {
                out.push(p.clone());
            }
            template_dirs(&p, out);
        }
    }
}

fn one(path: &Path) -> Option<Value> {
    read_docs(path).ok()?.into_iter().next()
}

/// One case of a suite: the review, its inventory and the parameters of its test.
struct Case {
    review: Review,
    inventory: Value,
    params: Value,
}

fn cases(dir: &Path) -> (Vec<Case>, Vec<Value>) {
    let mut out = Vec::new();
    let mut params = Vec::new();
    let Some(suite) = one(&dir.join("suite.yaml")) else {
        return (out, params);
    };
    for test in suite["tests"].as_array().into_iter().flatten() {
        let constraint = test["constraint"]
            .as_str()
            .and_then(|c| one(&dir.join(c)))
            .unwrap_or(Value::Null);
        let p = constraint
            .pointer("/spec/parameters")
            .cloned()
            .unwrap_or(Value::Null);
        if !params.contains(&p) {
            params.push(p.clone());
        }
        for case in test["cases"].as_array().into_iter().flatten() {
            let Some(obj) = case["object"].as_str().and_then(|o| one(&dir.join(o))) else {
                continue;
            };
            let Ok(review) = Review::from_case_object(obj) else {
                continue;
            };
            let inventory_objects: Vec<Value> = case["inventory"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .flat_map(|f| read_docs(&dir.join(f)).unwrap_or_default())
                .collect();
            let inventory = if inventory_objects.is_empty() {
                Value::Null
            } else {
                inventory_of(inventory_objects)
            };
            out.push(Case {
                review,
                inventory,
                params: p.clone(),
            });
        }
    }
    (out, params)
}

/// Paths of every node under `v` (object keys and array indexes).
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                prefix.push(json!(k));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(json!(i));
                out.push(prefix.clone());
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// Replacement values for a node (`None`: remove it).
fn variants(v: &Value) -> Vec<Option<Value>> {
    let mut out = vec![
        None,
        Some(Value::Null),
        Some(json!(true)),
        Some(json!(false)),
        Some(json!(0)),
        Some(json!(1.5)),
        Some(json!(-1)),
        Some(json!("")),
        Some(json!("*")),
        Some(json!([])),
        Some(json!({})),
    ];
    match v {
        Value::String(s) => {
            for suffix in ["m", "Mi", "Gi", "k", "E", "*", ":latest", "@sha256:abc"] {
                out.push(Some(json!(format!("{s}{suffix}"))));
            }
            for x in [
                "100m",
                "2",
                "1.5Gi",
                "12e3",
                "0.5",
                "docker.io/",
                "1Ki",
                "abc",
            ] {
                out.push(Some(json!(x)));
            }
            out.push(Some(json!(s.to_uppercase())));
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            out.push(Some(json!(f * 1000.0)));
            out.push(Some(json!(n.to_string())));
            out.push(Some(json!(-f)));
            out.push(Some(json!(f + 1.0)));
        }
        Value::Array(a) if !a.is_empty() => {
            let mut twice = a.clone();
            twice.push(a[0].clone());
            out.push(Some(Value::Array(twice)));
            out.push(Some(Value::Array(vec![a[0].clone()])));
        }
        _ => {}
    }
    out
}

fn at<'v>(root: &'v mut Value, path: &[Value]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |v, k| match (v, k) {
        (Value::Object(m), Value::String(s)) => m.get_mut(s),
        (Value::Array(a), Value::Number(i)) => a.get_mut(i.as_u64()? as usize),
        _ => None,
    })
}

/// `root` with the node at `path` replaced (or removed).
fn mutate(root: &Value, path: &[Value], with: Option<Value>) -> Option<Value> {
    let mut out = root.clone();
    let (last, parent) = path.split_last()?;
    let parent = at(&mut out, parent)?;
    match (parent, last, with) {
        (Value::Object(m), Value::String(k), None) => {
            m.remove(k);
        }
        (Value::Array(a), Value::Number(i), None) => {
            let i = i.as_u64()? as usize;
            (i < a.len()).then(|| a.remove(i))?;
        }
        (p, _, Some(w)) => *at(p, std::slice::from_ref(last))? = w,
        _ => return None,
    }
    Some(out)
}

fn sorted(mut v: Vec<Violation>) -> Vec<(String, String)> {
    v.sort_by(|a, b| a.msg.cmp(&b.msg));
    let mut out: Vec<(String, String)> = v
        .into_iter()
        .map(|x| (x.msg, x.details.map(|d| d.to_string()).unwrap_or_default()))
        .collect();
    out.sort();
    out
}

/// How the agreeing inputs came out, so that a run judging nothing useful shows.
#[derive(Default, Debug)]
struct Tally {
    clean: usize,
    violating: usize,
    errors: usize,
    /// Inputs where only the interpreter failed, on an operator type error.
    operator_type_errors: usize,
}

/// Judge one input on both paths; `Err` describes a disagreement.
#[allow(clippy::too_many_arguments)] // each argument is one part of the input judged
fn compare(
    interp: &dyn BoundProgram,
    compiled: &Compiled,
    review: &Review,
    params: &Value,
    inventory: &Value,
    uses_inventory: bool,
    shared: &TemplateMemo,
    tally: &mut Tally,
) -> Result<(), String> {
    let want = interp.evaluate(&EvalInput::new(review, inventory));
    let inv = (uses_inventory && !inventory.is_null()).then_some(inventory);
    let got = compiled.evaluate(
        &review.request,
        params,
        &compiled.bind(params),
        inv,
        Deadline::NONE,
        Some(shared),
    );
    match (want, got) {
        (Ok(w), Ok(g)) if sorted(w.clone()) == sorted(g.clone()) => {
            if w.is_empty() {
                tally.clean += 1;
            } else {
                tally.violating += 1;
            }
            Ok(())
        }
        (Err(_), Err(_)) => {
            tally.errors += 1;
            Ok(())
        }
        // The one known divergence: regorus's interpreter fails the query on an operator
        // whose operand has the wrong type, where OPA (and the compiled path) make the
        // expression undefined. Only that error is excused.
        (Err(EngineError::Evaluate { message, .. }), Ok(_)) if operator_type_error(&message) => {
            tally.operator_type_errors += 1;
            Ok(())
        }
        (w, g) => Err(format!(
            "object {}\nparameters {params}\n  interpreter: {w:?}\n  compiled:    {g:?}",
            review.request["object"]
        )),
    }
}

/// An error regorus's interpreter raises for an arithmetic or set operator on an operand
/// of the wrong type (OPA: a builtin error, undefined in non-strict evaluation).
pub(super) fn operator_type_error(message: &str) -> bool {
    message.contains("expects numeric argument")
        || message.contains("expects set argument")
        || message.contains("modulo on floating-point number")
}

/// Parameter variants: each top-level parameter removed, emptied or widened.
fn param_variants(params: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let Value::Object(m) = params else {
        return out;
    };
    for (k, v) in m {
        out.extend(mutate(params, &[json!(k)], None));
        for w in variants(v).into_iter().flatten().take(12) {
            out.extend(mutate(params, &[json!(k)], Some(w)));
        }
    }
    out
}

#[test]
fn compiled_path_agrees_with_the_interpreter_on_the_library() {
    let Some(library) = crate::test_data::library() else {
        return;
    };
    let mut dirs = Vec::new();
    template_dirs(&library, &mut dirs);
    assert!(!dirs.is_empty(), "no templates under {}", library.display());
    let (mut compiled_names, mut fallbacks, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let mut judged = 0usize;
    let mut tally = Tally::default();
    for dir in &dirs {
        let Some(doc) = one(&dir.join("template.yaml")) else {
            continue;
        };
        let Ok(template) = ConstraintTemplate::from_value(&doc) else {
            continue;
        };
        let Some(source) = RegoSource::of(&template) else {
            continue;
        };
        let name = template.name.clone();
        let mut interp = RegoProgram::new(&name, &source).expect("library template compiles");
        interp.compiled = None;
        let compiled = match Compiled::compile(&name, &source) {
            Ok(c) => c,
            Err(e) => {
                fallbacks.push(format!("{name}: {e}"));
                continue;
            }
        };
        compiled_names.push(name.clone());
        let uses_inventory = interp.uses_inventory;
        let (cases, all_params) = cases(dir);
        // `shared` is the memo of one request: the parameter sets of one review share it,
        // as the constraints of one template do, each judged against the interpreter.
        let mut check =
            |review: &Review, params: &Value, inventory: &Value, shared: &TemplateMemo| {
                judged += 1;
                let bound = interp.bind(params).expect("binds");
                if let Err(e) = compare(
                    bound.as_ref(),
                    &compiled,
                    review,
                    params,
                    inventory,
                    uses_inventory,
                    shared,
                    &mut tally,
                ) {
                    failures.push(format!("{name}: {e}"));
                }
            };
        let mut param_sets: Vec<Value> = all_params.clone();
        for p in &all_params {
            param_sets.extend(param_variants(p));
        }
        for case in &cases {
            let shared = TemplateMemo::default();
            for p in &param_sets {
                check(&case.review, p, &case.inventory, &shared);
            }
        }
        // Mutated objects, spread evenly over all (path, variant) candidates.
        let mut candidates: Vec<(usize, Vec<Value>, Option<Value>)> = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let mut ps = Vec::new();
            paths(&case.review.request["object"], &mut Vec::new(), &mut ps);
            for p in ps {
                let mut root = case.review.request["object"].clone();
                let node = at(&mut root, &p).cloned().unwrap_or(Value::Null);
                for w in variants(&node) {
                    candidates.push((i, p.clone(), w));
                }
            }
        }
        let stride = candidates.len().div_ceil(MUTATIONS_PER_TEMPLATE).max(1);
        for (i, path, with) in candidates.into_iter().step_by(stride) {
            let case = &cases[i];
            let Some(obj) = mutate(&case.review.request["object"], &path, with) else {
                continue;
            };
            let mut review = case.review.clone();
            review.request["object"] = obj;
            check(
                &review,
                &case.params,
                &case.inventory,
                &TemplateMemo::default(),
            );
        }
    }
    eprintln!(
        "compiled path: {} of {} library templates with Rego; {judged} inputs judged on both paths",
        compiled_names.len(),
        compiled_names.len() + fallbacks.len()
    );
    eprintln!("  agreeing outcomes: {tally:?}");
    let shown: Vec<&String> = failures.iter().take(20).collect();
    assert!(
        failures.is_empty(),
        "{} disagreements between the compiled path and the interpreter:\n{}",
        failures.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        tally.violating > 0 && tally.clean > 0,
        "the inputs must exercise both outcomes: {tally:?}"
    );
    // The README says every Rego template of the library runs on the compiled path.
    assert!(
        fallbacks.is_empty(),
        "not on the compiled path: {fallbacks:?}"
    );
}

/// Templates calling the builtins OPA has and regorus lacks (the deprecated ones among
/// them), and builtins that fail: each with the violations Gatekeeper gives on the first
/// object under the first parameters, then judged on both paths over every object and
/// parameter set below.
const BUILTIN_CORPUS: &[(&str, &str, &[&str])] = &[
    (
        "k8sdeprecated",
        r#"package k8sdeprecated

violation[{"msg": msg}] {
  labels := object.get(input.review.object.metadata, "labels", {})
  flags := [f | f := labels[_] == "true"]
  any(flags)
  msg := sprintf("any label true; all: %v; any of set: %v", [all(flags), any(cast_set(flags))])
}

violation[{"msg": msg}] {
  re_match(input.parameters.pattern, input.review.object.metadata.name)
  msg := sprintf("name %v matches %v", [input.review.object.metadata.name, input.parameters.pattern])
}

violation[{"msg": msg}] {
  labels := object.get(input.review.object.metadata, "labels", {})
  have := cast_set([k | labels[k]])
  missing := set_diff(cast_set(input.parameters.required), have)
  count(missing) > 0
  msg := sprintf("missing %v as array %v", [missing, cast_array(missing)])
}

violation[{"msg": msg}] {
  s := cast_string(input.review.object.metadata.name)
  b := cast_boolean(input.parameters.flag)
  n := cast_null(input.parameters.nothing)
  o := cast_object(input.review.object.metadata)
  msg := sprintf("casts %v %v %v %v", [s, b, n, count(o)])
}

violation[{"msg": msg}] {
  cidr := input.parameters.cidrs[_]
  ip := input.review.object.spec.ips[_]
  net.cidr_overlap(cidr, ip)
  msg := sprintf("%v in %v; intersects 10/8: %v", [ip, cidr, net.cidr_intersects(cidr, "10.0.0.0/8")])
}
"#,
        &[
            "any label true; all: false; any of set: true",
            "name bad-name matches ^bad",
            r#"missing {"c"} as array ["c"]"#,
            "casts bad-name true null 3",
            "10.1.2.3 in 10.0.0.0/8; intersects 10/8: true",
            "192.168.1.1 in 192.168.0.0/16; intersects 10/8: false",
        ],
    ),
    (
        "k8sbuiltinerrors",
        r#"package k8sbuiltinerrors

name := input.review.object.metadata.name

violation[{"msg": "to_number"}] { to_number(name) > 0 }
violation[{"msg": "json.unmarshal"}] { json.unmarshal(name) }
violation[{"msg": "substring"}] { substring(name, -1, 2) }
violation[{"msg": "sprintf"}] { sprintf(name, 1) }
violation[{"msg": "division"}] { x := 1 / (count(name) - count(name)); x }
violation[{"msg": "modulo"}] { x := count(name) % 0; x }
violation[{"msg": "range"}] { numbers.range_step(0, count(name), 0) }
violation[{"msg": "units"}] { units.parse_bytes(name) }
violation[{"msg": "cast"}] { cast_array(name) }
violation[{"msg": "any"}] { any(name) }
violation[{"msg": "cidr"}] { net.cidr_overlap(name, "10.0.0.1") }
violation[{"msg": "not of an error is true"}] { not to_number(name) }
violation[{"msg": "the review goes on"}] { true }
"#,
        &["not of an error is true", "the review goes on"],
    ),
    (
        "k8sotherbuiltins",
        r#"package k8sotherbuiltins

violation[{"msg": msg}] {
  ips := net.cidr_expand(input.parameters.expand)
  msg := sprintf("%v: %v; hex %v; query %v", [input.parameters.expand, ips, hex.encode("ab"), urlquery.encode("a b&c")])
}

violation[{"msg": msg}] {
  digest := crypto.sha256(input.parameters.expand)
  mac := crypto.hmac.sha256("m", "k")
  crypto.hmac.equal(mac, crypto.hmac.sha256("m", "k"))
  reach := graph.reachable({"a": ["b"], "b": ["c"], "c": [], "d": ["a"]}, ["a"])
  msg := sprintf("sha256 %v hmac %v reach %v md5 %v", [digest, mac, reach, crypto.md5("abc")])
}

violation[{"msg": msg}] {
  parts := strings.split_n(input.review.object.metadata.name, "-", 1)
  flat := array.flatten([parts, [input.parameters.expand], "x"])
  msg := sprintf("split %v flat %v", [parts, flat])
}

violation[{"msg": msg}] {
  m := net.cidr_contains_matches(input.parameters.matchcidrs, input.review.object.spec.hosts)
  count(m) > 0
  msg := sprintf("matches %v", [m])
}
"#,
        &[
            r#"10.0.0.0/30: {"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"}; hex 6162; query a+b%26c"#,
            r#"sha256 257425f2c266f752ab57a39a138e101a5ada9286aa03dfc0a552145f52f7d22c hmac b60090e3052297aeb5a080889ce2fc4bca957e756faeb4df7d31800ca1e771ec reach {"a", "b", "c"} md5 900150983cd24fb0d6963f7d28e17f72"#,
            "matches {[0, 0], [1, 1]}",
            r#"split ["bad"] flat ["bad", "10.0.0.0/30", "x"]"#,
        ],
    ),
];

#[test]
fn compiled_path_agrees_with_the_interpreter_on_builtins() {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "bad-name", "namespace": "d", "labels": {"a": "true", "b": "x"}},
               "spec": {"ips": ["10.1.2.3", "8.8.8.8", "bogus", "192.168.1.1"],
                        "hosts": ["10.1.2.3", "192.168.1.1", "8.8.8.8"]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "42", "labels": {"a": "true", "c": "true"}},
               "spec": {"ips": "10.0.0.1"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "{\"k\": 1}"}, "spec": {"ips": [1, null]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 7, "labels": []}}),
    ];
    let params = [
        json!({"pattern": "^bad", "required": ["a", "c"], "flag": true, "nothing": null,
               "cidrs": ["10.0.0.0/8", "192.168.0.0/16", "nonsense"], "expand": "10.0.0.0/30",
               "matchcidrs": ["10.0.0.0/8", ["192.168.0.0/16", "home"]]}),
        json!({"pattern": "(", "required": "a", "flag": "true", "nothing": 0, "cidrs": "10.0.0.0/8",
               "expand": "fd00::/127", "matchcidrs": {"a": "10.0.0.0/8"}}),
        json!({"pattern": 1, "required": [], "cidrs": [1], "expand": "::/0"}),
    ];
    let mut tally = Tally::default();
    for (name, rego, want) in BUILTIN_CORPUS {
        let source = super::tests::source(rego);
        let mut interp = RegoProgram::new(name, &source).expect("corpus template loads");
        interp.compiled = None;
        let compiled = Compiled::compile(name, &source)
            .unwrap_or_else(|e| panic!("{name} is not on the compiled path: {e}"));
        let review = Review::from_object(objects[0].clone());
        let first = interp
            .bind(&params[0])
            .expect("binds")
            .evaluate(&EvalInput::new(&review, &Value::Null))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got: Vec<String> = first.into_iter().map(|v| v.msg).collect();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{name} on the interpreter");
        for object in &objects {
            let review = Review::from_object(object.clone());
            let shared = TemplateMemo::default();
            for p in &params {
                let bound = interp.bind(p).expect("binds");
                if let Err(e) = compare(
                    bound.as_ref(),
                    &compiled,
                    &review,
                    p,
                    &Value::Null,
                    false,
                    &shared,
                    &mut tally,
                ) {
                    panic!("{name}: {e}");
                }
            }
        }
    }
    // Every template violates on some input and not on others; the expansion of ::/0 is a
    // size-limit error on both paths.
    assert!(
        tally.violating > 0 && tally.errors > 0 && tally.operator_type_errors == 0,
        "{tally:?}"
    );
}

/// An operator on an operand of the wrong type is a builtin error in OPA: undefined on
/// the compiled path; regorus's interpreter fails the query (the divergence excused above).
#[test]
fn operator_type_errors_are_undefined_on_the_compiled_path() {
    let rego = r#"package k8sops
violation[{"msg": "add"}] { x := input.review.object.metadata.name + 1; x }
violation[{"msg": "union"}] { x := {1} | input.review.object.metadata.name; x }
violation[{"msg": "difference"}] { x := {1} - input.review.object.metadata.name; x }
violation[{"msg": "modulo"}] { x := 1.5 % 1; x }
violation[{"msg": "the review goes on"}] { true }
"#;
    let source = super::tests::source(rego);
    let compiled = Compiled::compile("k8sops", &source).expect("on the compiled path");
    let review = Review::from_object(json!({"kind": "Pod", "metadata": {"name": "x"}}));
    let params = json!({});
    let got = compiled
        .judge(&review.request, &params, Deadline::NONE, None)
        .expect("no evaluation error");
    let msgs: Vec<String> = got.into_iter().map(|v| v.msg).collect();
    assert_eq!(msgs, ["the review goes on"]);
    let mut interp = RegoProgram::new("k8sops", &source).expect("loads");
    interp.compiled = None;
    let err = interp
        .bind(&params)
        .expect("binds")
        .evaluate(&EvalInput::new(&review, &Value::Null))
        .expect_err("regorus fails the query");
    assert!(operator_type_error(&err.to_string()), "{err}");
}
