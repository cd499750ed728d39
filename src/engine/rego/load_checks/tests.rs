//! Tests of the load-time checks, on whole templates loaded as the engine loads them.

use crate::engine::rego::{RegoProgram, RegoSource};

fn load(rego: &str, libs: &[&str], v1: bool) -> Result<(), String> {
    let source = RegoSource {
        rego: rego.into(),
        libs: libs.iter().map(|l| l.to_string()).collect(),
        v1,
    };
    RegoProgram::new("k8stest", &source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn refused(rego: &str, libs: &[&str], v1: bool) -> String {
    load(rego, libs, v1).expect_err("must be refused")
}

const HEAD: &str = "package k8stest\n\nviolation[{\"msg\": msg}] {\n";

#[test]
fn an_unknown_function_is_refused_with_its_name_and_line() {
    let rego =
        format!("{HEAD}  x := input.review.object\n  not_a_builtin(x)\n  msg := \"m\"\n}}\n");
    let err = refused(&rego, &[], false);
    assert!(err.contains("k8stest"), "{err}");
    assert!(err.contains("k8stest.rego:5:"), "{err}");
    assert!(err.contains("unknown function not_a_builtin"), "{err}");
    // Inside a library, the library's file is named.
    let lib = "package lib.helpers\n\nok(x) {\n  strings.no_such_thing(x)\n}\n";
    let main = "package k8stest\nimport data.lib.helpers\n\nviolation[{\"msg\": \"m\"}] {\n  helpers.ok(input)\n}\n";
    let err = refused(main, &[lib], false);
    assert!(err.contains("k8stest.lib0.rego:4:"), "{err}");
    assert!(err.contains("strings.no_such_thing"), "{err}");
    // A builtin Gatekeeper disables by default, and ones portcullis lacks, are named as such.
    for call in [
        "http.send({})",
        "io.jwt.decode(\"x\")",
        "graph.reachable_paths({}, [])",
    ] {
        let rego = format!("{HEAD}  r := {call}\n  msg := sprintf(\"%v\", [r])\n}}\n");
        let err = refused(&rego, &[], false);
        let name = &call[..call.find('(').unwrap_or(0)];
        assert!(
            err.contains(&format!(
                "k8stest.rego:4: {name} is an OPA builtin that portcullis does not evaluate"
            )),
            "{err}"
        );
    }
    let rego = format!("{HEAD}  r := external_data({{\"provider\": \"p\", \"keys\": []}})\n  msg := sprintf(\"%v\", [r])\n}}\n");
    let err = refused(&rego, &[], false);
    assert!(
        err.contains("external data providers are not supported"),
        "{err}"
    );
}

#[test]
fn functions_resolve_like_the_interpreter() {
    let lib = "package lib.helpers\n\nhas(x) {\n  x.a\n}\n\nvalue(x) = y {\n  y := x.a\n}\n";
    let main = "package k8stest\nimport data.lib.helpers\nimport data.lib.helpers as h\nimport future.keywords.in\nimport future.keywords.contains\n\nviolation[{\"msg\": msg}] {\n  helpers.has(input)\n  v := h.value(input)\n  data.lib.helpers.has(input)\n  local(v)\n  re_match(\"a\", \"b\")\n  any([true])\n  walk(input, [p, w])\n  print(p)\n  contains(\"ab\", \"a\")\n  msg := sprintf(\"%v\", [count(input)])\n}\n\nlocal(x) {\n  x in [1]\n}\n";
    load(main, &[lib], false).expect("loads");
    let missing = main.replace("h.value(input)", "h.nothing(input)");
    let err = refused(&missing, &[lib], false);
    assert!(
        err.contains("unknown function h.nothing: no library defines it"),
        "{err}"
    );
    let arity = main.replace("local(v)", "local(v, 1, 2)");
    let err = refused(&arity, &[lib], false);
    assert!(
        err.contains("local called with 3 arguments; it takes 1"),
        "{err}"
    );
    let arity = main.replace("count(input)", "count(input, 1, 2)");
    assert!(refused(&arity, &[lib], false).contains("count called with 3 arguments"));
}

#[test]
fn deprecated_builtins_are_refused_in_rego_v1_only() {
    let v0 = format!(
        "{HEAD}  re_match(\"^a\", input.review.object.metadata.name)\n  msg := \"m\"\n}}\n"
    );
    load(&v0, &[], false).expect("v0 allows deprecated builtins");
    let v1 =
        "package k8stest\n\nviolation contains {\"msg\": \"m\"} if {\n  cast_string(input.x)\n}\n";
    let err = refused(v1, &[], true);
    assert!(err.contains("k8stest.rego:4:"), "{err}");
    assert!(err.contains("deprecated builtin cast_string"), "{err}");
}

#[test]
fn data_references_outside_inventory_and_lib_are_refused() {
    let ok = format!(
        "{HEAD}  x := data.inventory.namespace[_]\n  y := data[\"inventory\"].cluster\n  msg := sprintf(\"%v %v\", [x, y])\n}}\n"
    );
    load(&ok, &[], false).expect("inventory is allowed");
    for (body, shown) in [
        ("x := data.k8stest.other", "data.k8stest.other"),
        ("x := data", "data "),
        ("k := input.k\n  x := data[k]", "data "),
        ("x := data[\"secrets\"]", "data.secrets"),
        ("x := input with data.lib.x as 1", "data.lib"),
    ] {
        let rego = format!("{HEAD}  {body}\n  msg := sprintf(\"%v\", [x])\n}}\n");
        match load(&rego, &[], false) {
            Err(err) => {
                assert!(err.contains("is not allowed"), "{body}: {err}");
                assert!(
                    err.contains(&format!("reference {}", shown.trim())),
                    "{body}: {err}"
                );
            }
            // `with data.lib...` targets a library, which Gatekeeper allows.
            Ok(()) => assert_eq!(shown, "data.lib", "{body} must be refused"),
        }
    }
}

#[test]
fn recursion_is_refused_as_opa_does() {
    for (rego, cycle) in [
        (
            "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  f(1)\n}\nf(x) {\n  f(x)\n}\n",
            "data.k8stest.f -> data.k8stest.f",
        ),
        (
            "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  a\n}\na {\n  b\n}\nb {\n  a\n}\n",
            "data.k8stest.a -> data.k8stest.b -> data.k8stest.a",
        ),
        (
            "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  violation[_]\n}\n",
            "data.k8stest.violation -> data.k8stest.violation",
        ),
    ] {
        let err = refused(rego, &[], false);
        assert!(err.contains("is recursive"), "{err}");
        assert!(err.contains(cycle), "{err}");
    }
    // Across a library, through an import.
    let lib =
        "package lib.l\nimport data.k8stest\n\ng(x) {\n  data.lib.l.h(x)\n}\nh(x) {\n  g(x)\n}\n";
    let main = "package k8stest\nimport data.lib.l\nviolation[{\"msg\": \"m\"}] {\n  l.g(1)\n}\n";
    let err = refused(main, &[lib], false);
    assert!(err.contains("import data.k8stest is not allowed"), "{err}");
    let lib = "package lib.l\n\ng(x) {\n  data.lib.l.h(x)\n}\nh(x) {\n  g(x)\n}\n";
    let err = refused(main, &[lib], false);
    assert!(
        err.contains("data.lib.l.g -> data.lib.l.h -> data.lib.l.g"),
        "{err}"
    );
    // A variable named like a rule is the variable, not the rule.
    let shadow = "package k8stest\nviolation[{\"msg\": msg}] {\n  msg := \"m\"\n}\nmsg := 1\nx {\n  [msg, y] := [1, 2]\n  msg == y\n}\n";
    load(shadow, &[], false).expect("no cycle");
}

#[test]
fn imports_and_library_packages_are_checked() {
    for import in ["input.review", "data.inventory", "data.k8sother"] {
        let rego = format!(
            "package k8stest\nimport {import}\n\nviolation[{{\"msg\": \"m\"}}] {{\n  true\n}}\n"
        );
        let err = refused(&rego, &[], false);
        assert!(
            err.contains(&format!("import {import} is not allowed")),
            "{err}"
        );
        assert!(err.contains("k8stest.rego:2:"), "{err}");
    }
    let main = "package k8stest\n\nviolation[{\"msg\": \"m\"}] {\n  true\n}\n";
    let err = refused(main, &["package lib\n\nx := 1\n"], false);
    assert!(err.contains("not under lib"), "{err}");
    load(main, &["package lib.ok\n\nx := 1\n"], false).expect("lib.<name> is allowed");
}

#[test]
fn builtins_named_as_lacking_are_indeed_lacking() {
    for name in super::LACKING {
        assert!(super::builtin_arity(name).is_none(), "{name} is evaluated");
    }
}

/// OPA's compiler refuses two defaults for one rule, and an extra (output) argument on a
/// call nested inside a term; the output-argument form stays allowed as a whole statement.
#[test]
fn two_defaults_and_a_nested_extra_argument_are_refused() {
    let two = "package k8stest\n\ndefault limit = 1\ndefault limit = 2\n\nviolation[{\"msg\": \"m\"}] {\n  input.review.object.x > limit\n}\n";
    let err = refused(two, &[], false);
    assert!(
        err.contains("multiple default rules data.k8stest.limit"),
        "{err}"
    );
    assert!(err.contains("k8stest.rego:4:"), "{err}");

    let nested =
        format!("{HEAD}  count(input.review.object.spec.containers, 2) > 1\n  msg := \"m\"\n}}\n");
    let err = refused(&nested, &[], false);
    assert!(
        err.contains("count called with 2 arguments; it takes 1"),
        "{err}"
    );
    let assigned = format!("{HEAD}  n := count(input.review.object.spec.containers, 2)\n  msg := sprintf(\"%v\", [n])\n}}\n");
    assert!(load(&assigned, &[], false).is_err());

    let statement = format!(
        "{HEAD}  count(input.review.object.spec.containers, n)\n  n > 1\n  msg := \"m\"\n}}\n"
    );
    load(&statement, &[], false).expect("the output-argument form as a statement loads");
}
