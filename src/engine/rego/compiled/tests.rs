//! Semantics of the compiled path, each case also run on the interpreter: both must give
//! the violations written here.

use serde_json::{json, Value};

use super::Compiled;
use crate::deadline::Deadline;
use crate::engine::rego::{RegoProgram, RegoSource};
use crate::engine::{EvalInput, Program};
use crate::review::Review;

/// A template source of one module (no libraries, Rego v0).
pub(super) fn source(rego: &str) -> RegoSource {
    RegoSource {
        rego: rego.to_string(),
        libs: Vec::new(),
        v1: false,
    }
}

/// Messages of `violation` on both paths (which must agree), or both paths' error.
fn run(rego: &str, params: Value, object: Value) -> Result<Vec<String>, String> {
    let src = source(rego);
    let compiled = Compiled::compile("t", &src).expect("compiles on the compiled path");
    let review = Review::from_object(object);
    let got = compiled
        .judge(&review.request, &params, Deadline::NONE, None)
        .map(|v| v.into_iter().map(|v| v.msg).collect::<Vec<_>>())
        .map_err(|e| e.to_string());
    let mut interp = RegoProgram::new("t", &src).expect("compiles on the interpreter");
    interp.compiled = None;
    let want = interp
        .bind(&params)
        .expect("binds")
        .evaluate(&EvalInput::new(&review, &Value::Null))
        .map(|v| v.into_iter().map(|v| v.msg).collect::<Vec<_>>())
        .map_err(|e| e.to_string());
    match (&got, &want) {
        (Ok(g), Ok(w)) => assert_eq!(g, w, "compiled and interpreter disagree"),
        (Err(_), Err(_)) => {}
        _ => panic!("compiled {got:?} vs interpreter {want:?}"),
    }
    got
}

fn msgs(rego: &str, params: Value, object: Value) -> Vec<String> {
    run(rego, params, object).expect("evaluates")
}

fn pod(spec: Value) -> Value {
    json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

#[test]
fn undefined_propagates_and_not_inverts_it() {
    let rego = r#"package t
violation[{"msg": m}] {
  x := input.review.object.spec.missing
  m := sprintf("never %v", [x])
}
violation[{"msg": "no host"}] {
  not input.review.object.spec.hostNetwork
}
violation[{"msg": "deep"}] {
  input.review.object.spec.a.b.c == 1
}
"#;
    assert_eq!(msgs(rego, json!({}), pod(json!({}))), ["no host"]);
    assert!(msgs(rego, json!({}), pod(json!({"hostNetwork": true}))).is_empty());
    // `false` fails the expression; `not` of false holds.
    assert_eq!(
        msgs(rego, json!({}), pod(json!({"hostNetwork": false}))),
        ["no host"]
    );
}

#[test]
fn object_get_of_input_reads_its_parts() {
    // `object.get(input, "parameters", literal)` is read as `input.parameters` (folded per
    // constraint); a default that is not a literal keeps the call as written, and an
    // undefined default makes it undefined on both paths.
    let rego = r#"package t
exempt(c) {
  images := object.get(object.get(input, "parameters", {}), "exemptImages", [])
  images[_] == c.image
}
violation[{"msg": sprintf("not exempt %v", [c.name])}] {
  c := input.review.object.spec.containers[_]
  not exempt(c)
}
violation[{"msg": sprintf("kind %v", [k])}] {
  k := object.get(input, "review", {"object": {}}).object.kind
}
violation[{"msg": "undefined default"}] {
  object.get(input, "parameters", input.review.object.spec.missing)
}
violation[{"msg": sprintf("other key %v", [x])}] {
  x := object.get(input, "other", "none")
}
"#;
    // The exemption list is the program's one folded expression.
    let compiled = Compiled::compile("t", &source(rego)).expect("compiles");
    assert_eq!(compiled.program.folds, 1);
    let obj =
        pod(json!({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}));
    assert_eq!(
        msgs(rego, json!({"exemptImages": ["x"]}), obj.clone()),
        ["kind Pod", "not exempt b", "other key none"]
    );
    assert_eq!(
        msgs(rego, json!({}), obj),
        ["kind Pod", "not exempt a", "not exempt b", "other key none"]
    );
}

#[test]
fn comprehensions_of_parameters_are_built_when_a_constraint_binds() {
    // Folded: the required set (parameters only) and the tag suffixes (a builtin over the
    // parameters, inside a comprehension of its own). Not folded: the provided set (the
    // review) and the per-container list (an outer variable). Folded but left to run per
    // request: a comprehension that calls a rule reading the review.
    let rego = r#"package t
kinds := {k | k := input.review.object.spec.containers[_].name}
violation[{"msg": sprintf("missing %v", [missing])}] {
  required := {l | l := input.parameters.labels[_].key}
  provided := {l | input.review.object.metadata.labels[l]}
  missing := required - provided
  count(missing) > 0
}
violation[{"msg": sprintf("%v has tag %v", [c.name, bad])}] {
  c := input.review.object.spec.containers[_]
  suffixes := [s | s := concat(":", ["", input.parameters.tags[_]])]
  mine := [x | x := c.image]
  bad := suffixes[_]
  endswith(mine[0], bad)
}
violation[{"msg": sprintf("named %v", [n])}] {
  n := {x | x := input.parameters.names[_]; kinds[x]}[_]
}
"#;
    let compiled = Compiled::compile("t", &source(rego)).expect("compiles");
    assert_eq!(compiled.program.folds, 3, "required, suffixes, names");
    let params = json!({"labels": [{"key": "owner"}, {"key": "team"}], "tags": ["latest", "dev"], "names": ["a"]});
    let folds = compiled.bind(&params);
    let values = folds
        .iter()
        .filter(|f| matches!(f, super::fold::Fold::Value(_)))
        .count();
    assert_eq!(
        values, 2,
        "the names comprehension reads the review: {folds:?}"
    );
    let obj = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"team": "x"}},
        "spec": {"containers": [{"name": "a", "image": "r/a:latest"}, {"name": "b", "image": "r/b:1"}]}});
    assert_eq!(
        msgs(rego, params, obj.clone()),
        ["a has tag :latest", "missing {\"owner\"}", "named a"]
    );
    // Parameters that are absent make empty comprehensions, as on the interpreter.
    assert!(msgs(rego, json!({}), obj).is_empty());
}

#[test]
fn a_partial_set_enumerated_by_constant_walks_only_what_the_constant_names() {
    // `violation` asks `found` for two fields by name. Its copies for "containers" and
    // "initContainers" read one field of the spec each instead of walking all of it: the
    // first body looks the field up, the second (another constant) and the third (no `field`
    // key) are left out of both, and the fourth (its key is a whole variable) is kept as
    // written. Members of other fields must not leak through either way.
    let rego = r#"package t
violation[{"msg": msg}] {
  found[{"msg": msg, "field": "containers"}]
}
violation[{"msg": msg}] {
  found[{"msg": msg, "field": "initContainers"}]
}
found[{"msg": msg, "field": field}] {
  c := input.review.object.spec[field][_]
  not c.resources
  msg := sprintf("%v in %v has no resources", [c.name, field])
}
found[{"msg": "volumes seen", "field": "volumes"}] {
  input.review.object.spec.volumes[_]
}
found[{"msg": "no field"}] {
  true
}
found[x] {
  c := input.review.object.spec.containers[_]
  c.name == "whole"
  x := {"msg": "whole key", "field": "containers"}
}
"#;
    let compiled = Compiled::compile("t", &source(rego)).expect("compiles");
    let copies: Vec<_> = compiled
        .program
        .rules
        .iter()
        .filter(|r| r.name == "t.found")
        .collect();
    assert_eq!(copies.len(), 3, "the rule and its two copies");
    for copy in &copies[1..] {
        assert_eq!(copy.defs.len(), 2, "the lookup body and the whole-key body");
        let walks_spec = copy.defs.iter().any(|d| {
            d.clauses[0].query.iter().any(|s| {
                matches!(s, super::ir::Stmt::Iter { coll: super::ir::Expr::Ref(_, steps), .. }
                    if matches!(steps.last(), Some(super::ir::Step::Field(f)) if &**f == "spec"))
            })
        });
        assert!(!walks_spec, "a copy still walks the spec: {:?}", copy.defs);
    }
    let obj = pod(json!({
        "containers": [{"name": "a"}, {"name": "whole", "resources": {}}],
        "initContainers": [{"name": "i"}],
        "volumes": [{"name": "v"}],
        "ephemeralContainers": [{"name": "e"}],
    }));
    assert_eq!(
        msgs(rego, json!({}), obj),
        [
            "a in containers has no resources",
            "i in initContainers has no resources",
            "whole key"
        ]
    );
    // A spec whose field is not a collection, or has no such field: nothing, on both paths.
    assert!(msgs(rego, json!({}), pod(json!({"containers": "x"}))).is_empty());
    assert!(msgs(rego, json!({}), pod(json!({}))).is_empty());
}

#[test]
fn copies_for_constants_stop_at_a_budget() {
    // Ten definitions of `found`, asked for by sixty different constants: copies of all
    // of them would be six hundred definitions. The copies stop at the budget, and every
    // reference still gives its members, copied or not.
    let mut rego = String::from("package t\n");
    for i in 0..10 {
        rego.push_str(&format!(
            "found[{{\"msg\": sprintf(\"%v {i}\", [f]), \"field\": f}}] {{ input.review.object.spec[f][_] }}\n"
        ));
    }
    for i in 0..60 {
        rego.push_str(&format!(
            "violation[{{\"msg\": m}}] {{ found[{{\"msg\": m, \"field\": \"f{i}\"}}] }}\n"
        ));
    }
    let compiled = Compiled::compile("t", &source(&rego)).expect("compiles");
    let defs: usize = compiled.program.rules.iter().map(|r| r.defs.len()).sum();
    let budget = super::specialize::MIN_BUDGET;
    assert!(defs <= 70 + budget, "{defs} definitions from 70");
    let copies = compiled
        .program
        .rules
        .iter()
        .filter(|r| r.name == "t.found")
        .count();
    assert_eq!(copies, 1 + budget / 10, "rules named found");
    let got = msgs(
        &rego,
        json!({}),
        pod(json!({"f0": [1], "f7": [1], "f59": [1], "other": [1]})),
    );
    assert_eq!(
        got.len(),
        30,
        "ten bodies for each of three fields: {got:?}"
    );
}

#[test]
fn split_follows_go_on_borrowed_and_built_strings() {
    // The compiled path's own `split` against the interpreter's: an empty delimiter splits
    // into characters with nothing at either end, an empty string gives `[""]` (or `[]` for
    // an empty delimiter), overlapping delimiters are cut left to right.
    let rego = r#"package t
violation[{"msg": sprintf("%v", [split(input.review.object.spec.s, input.parameters.d)])}] {
  true
}
violation[{"msg": sprintf("built %v", [split(concat("", [input.review.object.spec.s, "!"]), input.parameters.d)])}] {
  true
}
"#;
    for (s, d) in [
        ("a/b/c", "/"),
        ("/a//", "/"),
        ("", "/"),
        ("", ""),
        ("héllo", ""),
        ("aaaa", "aa"),
        ("registry.k8s.io/pause:3.9", ":"),
    ] {
        let got = msgs(rego, json!({"d": d}), pod(json!({"s": s})));
        assert_eq!(got.len(), 2, "{s:?} by {d:?}: {got:?}");
    }
    assert_eq!(
        msgs(rego, json!({"d": ""}), pod(json!({"s": "hé"}))),
        ["[\"h\", \"é\"]", "built [\"h\", \"é\", \"!\"]"]
    );
    // Not a string: undefined on both paths.
    assert!(msgs(rego, json!({"d": "/"}), pod(json!({"s": 1}))).is_empty());
}

#[test]
fn definitions_that_begin_alike_share_their_beginning() {
    // Four bodies of one partial set open with the same enumeration; the last two bind
    // different variables after it, one has nothing after it, and one other body begins
    // differently. Both paths must find the same members.
    let rego = r#"package t
named[{"msg": sprintf("%v has cpu %v", [c.name, cpu])}] {
  c := input.review.object.spec.containers[_]
  not c.skip
  cpu := c.resources.cpu
}
named[{"msg": sprintf("%v has no cpu", [c.name])}] {
  c := input.review.object.spec.containers[_]
  not c.skip
  not c.resources.cpu
}
named[{"msg": sprintf("%v uses %v", [c.name, img])}] {
  c := input.review.object.spec.containers[_]
  not c.skip
  img := c.image
  startswith(img, "bad/")
}
named[{"msg": "a container"}] {
  c := input.review.object.spec.containers[_]
}
named[{"msg": sprintf("init %v", [c.name])}] {
  c := input.review.object.spec.initContainers[_]
}
by_name[c.name] = c.image {
  c := input.review.object.spec.containers[_]
  c.image
}
by_name[c.name] = "none" {
  c := input.review.object.spec.containers[_]
  not c.image
}
violation[v] {
  named[v]
}
violation[{"msg": sprintf("%v -> %v", [k, v])}] {
  v := by_name[k]
}
"#;
    let compiled = Compiled::compile("t", &source(rego)).expect("compiles");
    let groups = |name: &str| {
        let rule = compiled
            .program
            .rules
            .iter()
            .find(|r| r.name == format!("t.{name}"))
            .expect("rule");
        rule.groups
            .iter()
            .map(|g| (g.defs.clone(), g.prefix))
            .collect::<Vec<_>>()
    };
    assert_eq!(groups("named"), [(vec![0, 1, 2, 3], 2), (vec![4], 0)]);
    assert_eq!(groups("by_name"), [(vec![0, 1], 2)]);
    let spec = json!({
        "containers": [
            {"name": "a", "image": "bad/x", "resources": {"cpu": "1"}},
            {"name": "b", "skip": true},
            {"name": "c", "image": "good/y"},
        ],
        "initContainers": [{"name": "i"}],
    });
    assert_eq!(
        msgs(rego, json!({}), pod(spec)),
        [
            "a -> bad/x",
            "a container",
            "a has cpu 1",
            "a uses bad/x",
            "b -> none",
            "c -> good/y",
            "c has no cpu",
            "init i",
        ]
    );
    // A body looks for an alike beginning among the latest groups only: past that many
    // other groups, an alike body starts a group of its own (and gives the same members).
    let mut far = String::from("package t\n");
    far.push_str("far[c.name] {\n  c := input.review.object.spec.containers[_]\n}\n");
    for i in 0..super::group::CANDIDATES {
        far.push_str(&format!(
            "far[\"x{i}\"] {{\n  input.review.object.spec.x{i}\n}}\n"
        ));
    }
    far.push_str("far[c.image] {\n  c := input.review.object.spec.containers[_]\n}\n");
    far.push_str("violation[{\"msg\": m}] {\n  far[m]\n}\n");
    let compiled = Compiled::compile("t", &source(&far)).expect("compiles");
    let rule = compiled
        .program
        .rules
        .iter()
        .find(|r| r.name == "t.far")
        .expect("rule");
    assert_eq!(rule.groups.len(), super::group::CANDIDATES + 2);
    assert_eq!(
        msgs(
            &far,
            json!({}),
            pod(json!({"x3": true, "containers": [{"name": "a", "image": "i"}]}))
        ),
        ["a", "i", "x3"]
    );
    // Two grouped bodies giving one key two values fail on both paths.
    let conflict = r#"package t
m[c.name] = 1 {
  c := input.review.object.spec.containers[_]
}
m[c.name] = 2 {
  c := input.review.object.spec.containers[_]
  c.image
}
violation[{"msg": "m"}] {
  m
}
"#;
    assert!(run(
        conflict,
        json!({}),
        pod(json!({"containers": [{"name": "a", "image": "x"}]}))
    )
    .is_err());
    assert_eq!(
        msgs(
            conflict,
            json!({}),
            pod(json!({"containers": [{"name": "a"}]}))
        ),
        ["m"]
    );
}

#[test]
fn else_default_and_function_bodies() {
    let rego = r#"package t
default level = "low"
level = "high" { input.parameters.n > 10 } else = "mid" { input.parameters.n > 5 }
kind(x) = "number" { is_number(x) }
kind(x) = "string" { is_string(x) }
kind(x) = "odd" { x == "odd" }
violation[{"msg": m}] {
  m := sprintf("%v %v", [level, kind(input.parameters.v)])
}
"#;
    let m = |p: Value| msgs(rego, p, pod(json!({})));
    assert_eq!(m(json!({"n": 20, "v": 1})), ["high number"]);
    assert_eq!(m(json!({"n": 7, "v": "s"})), ["mid string"]);
    assert_eq!(m(json!({"n": 1, "v": 1})), ["low number"]);
    // No body of `kind` holds for an array: the call is undefined, so is the message.
    assert!(m(json!({"n": 1, "v": []})).is_empty());
    // Two bodies with different values for the same input: an error on both paths.
    assert!(run(rego, json!({"n": 1, "v": "odd"}), pod(json!({}))).is_err());
}

#[test]
fn comprehensions_and_iteration() {
    let rego = r#"package t
import future.keywords
violation[{"msg": m}] {
  names := [c.name | c := input.review.object.spec.containers[_]]
  images := {c.image | some c in input.review.object.spec.containers}
  byname := {c.name: c.image | c := input.review.object.spec.containers[_]}
  m := sprintf("%v %v %v", [names, images, byname])
}
violation[{"msg": m}] {
  some i, c in input.review.object.spec.containers
  i > 0
  m := sprintf("second %v", [c.name])
}
violation[{"msg": "all named"}] {
  every c in input.review.object.spec.containers { c.name != "" }
}
"#;
    let spec = json!({"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x"}]});
    assert_eq!(
        msgs(rego, json!({}), pod(spec)),
        [
            r#"["b", "a"] {"x", "y"} {"a": "x", "b": "y"}"#,
            "all named",
            "second a"
        ]
    );
}

#[test]
fn unification_and_patterns() {
    let rego = r#"package t
pair[[k, v]] { some k; v := input.review.object.metadata.labels[k] }
violation[{"msg": m}] {
  [repo, tag] = split(input.review.object.spec.image, ":")
  m := sprintf("repo %v tag %v", [repo, tag])
}
violation[{"msg": m}] {
  pair[["team", v]]
  m := sprintf("team %v", [v])
}
violation[{"msg": "shape"}] {
  {"a": 1, "b": x} = input.review.object.spec.obj
  x == 2
}
"#;
    let obj = json!({"kind": "Pod", "metadata": {"labels": {"team": "t1", "x": "y"}},
                     "spec": {"image": "nginx:1.2", "obj": {"a": 1, "b": 2}}});
    assert_eq!(
        msgs(rego, json!({}), obj),
        ["repo nginx tag 1.2", "shape", "team t1"]
    );
    // Three parts do not unify with two variables. An object pattern only needs its own
    // keys (regorus's reading; OPA would also require no other keys).
    let obj = json!({"kind": "Pod", "metadata": {}, "spec": {"image": "a:b:c", "obj": {"a": 1, "b": 2, "c": 3}}});
    assert_eq!(msgs(rego, json!({}), obj), ["shape"]);
}

#[test]
fn numbers_sets_objects_and_membership() {
    let rego = r#"package t
import future.keywords
big := 1152921504606846976000
violation[{"msg": "big"}] { big * 2 > big }
violation[{"msg": "int equals float"}] { 1 == 1.0 }
violation[{"msg": "div by zero is undefined"}] { not 1 / 0 }
violation[{"msg": m}] {
  s := ({1, 2, 3} - {2}) | {9}
  t := s & {1, 9, 10}
  m := sprintf("%v %v %v", [s, t, 7 % 3])
}
violation[{"msg": "in"}] { "b" in ["a", "b"]; not "z" in {"a": "z0"} }
obj[k] = v { some k; v := input.parameters[k]; is_number(v) }
violation[{"msg": m}] { m := sprintf("%v", [obj]) }
"#;
    assert_eq!(
        msgs(rego, json!({"a": 1, "b": "x", "c": 2.5}), pod(json!({}))),
        [
            "big",
            "div by zero is undefined",
            "in",
            "int equals float",
            r#"{"a": 1, "c": 2.5}"#,
            "{1, 3, 9} {1, 9} 1"
        ]
    );
}

#[test]
fn statements_are_scheduled_after_what_they_read() {
    let rego = r#"package t
violation[{"msg": m}] {
  m = sprintf("%v=%v", [k, v])
  v = input.review.object.metadata.labels[k]
}
"#;
    let obj = json!({"kind": "Pod", "metadata": {"labels": {"a": "1"}}});
    assert_eq!(msgs(rego, json!({}), obj), ["a=1"]);
}

#[test]
fn negated_call_with_undefined_argument_fails_the_body() {
    // The compatibility rewrite hoists `p.ranges` out of the `not`; both paths read the
    // rewritten text.
    let rego = r#"package t
ok(x, r) { x == r }
violation[{"msg": "bad"}] {
  p := input.parameters
  not ok(1, p.ranges)
}
"#;
    assert!(msgs(rego, json!({}), pod(json!({}))).is_empty());
    assert_eq!(msgs(rego, json!({"ranges": 2}), pod(json!({}))), ["bad"]);
}

#[test]
fn unsupported_constructs_fall_back() {
    for rego in [
        "package t\nviolation[{\"msg\": \"m\"}] { input.x with input.x as 1 }\n",
        "package t\nviolation[{\"msg\": \"m\"}] { no_such_function(1) }\n",
        "package t\nviolation[{\"msg\": m}] { m := y }\n",
        "package t\np.q = 1\nviolation[{\"msg\": \"m\"}] { p.q }\n",
    ] {
        assert!(Compiled::compile("t", &source(rego)).is_err(), "{rego}");
    }
}

#[test]
fn function_of_no_arguments_named_without_parentheses_is_called() {
    let rego = "package t\nf() = x { x := \"a\" } else = y { y := \"b\" }\ng(p, d) = o { o := [p, d] }\nviolation[{\"msg\": m}] { m := sprintf(\"%v %v\", [f, g(1, f)]) }\n";
    assert_eq!(msgs(rego, json!({}), pod(json!({}))), [r#"a [1, "a"]"#]);
}

#[test]
fn function_named_without_parentheses_takes_one_solution() {
    let rego = "package t\nf() = x { x := input.parameters.p[_] }\nviolation[{\"msg\": m}] { m := sprintf(\"%v\", [f]) }\n";
    assert_eq!(msgs(rego, json!({"p": ["a"]}), pod(json!({}))), ["a"]);
    // Two solutions are an error for regorus even when they agree; so here.
    assert!(run(rego, json!({"p": ["a", "a"]}), pod(json!({}))).is_err());
    assert!(msgs(rego, json!({"p": []}), pod(json!({}))).is_empty());
}

/// Where OPA evaluates undefined parts (see `hoist`): the same answers on both paths.
#[test]
fn negations_keys_and_some_in_as_opa() {
    let rego = r#"package t
import future.keywords.in
key(n) = k { k := concat("/", ["a", n]) }
has(k) { input.review.object.metadata.annotations[k] }
named[c.name] = c { c := input.review.object.spec.containers[_] }
violation[{"msg": "nested"}] {
  not has(key(input.review.object.metadata.uid))
}
violation[{"msg": "count"}] {
  not count(input.review.object.spec.missing) > 0
}
violation[{"msg": "plain"}] {
  not input.review.object.spec.missing == 1
}
violation[{"msg": m}] {
  c := named[n]
  m := sprintf("named %v %v", [n, type_name(c)])
}
violation[{"msg": "in"}] {
  some x in input.review.object.spec.containers
  x
}
"#;
    let got = msgs(
        rego,
        json!({}),
        pod(json!({"containers": [{"image": "x"}, {"name": "b"}]})),
    );
    assert_eq!(got, ["in", "named b object", "plain"]);
    // Containers given as a string: `some .. in` is undefined, not an error.
    let got = msgs(rego, json!({}), pod(json!({"containers": "abc"})));
    assert_eq!(got, ["plain"]);
}

#[test]
fn empty_collections_are_the_same_values_however_they_are_made() {
    let rego = r#"package t
violation[{"msg": m}] {
  a := []
  o := {}
  built_a := [x | x := input.review.object.spec.none[_]]
  built_o := {k: v | v := input.review.object.spec.none[k]}
  a == built_a
  o == built_o
  a == input.review.object.spec.arr
  o == input.review.object.spec.obj
  count(a) == 0
  object.get(input.review.object.spec, "missing", {}) == o
  d := object.get(input.review.object.spec, "missing", [])
  not d[0]
  is_array(a)
  is_object(o)
  m := sprintf("%v %v %v %v", [a, o, [a, o], {"k": a}])
}
"#;
    let spec = json!({"none": [], "arr": [], "obj": {}});
    assert_eq!(
        msgs(rego, json!({}), pod(spec)),
        [r#"[] {} [[], {}] {"k": []}"#]
    );
}
