//! Golden tests for the location grammar and for Assign: every path form, parent and
//! element creation, globs, pathTests both ways, assignIf, fromMetadata and load errors.

use serde_json::json;

use super::path::{KeyValue, Node, Path};
use super::test_support::*;

#[test]
fn parses_every_path_form() {
    let p = Path::parse("spec.containers[name: foo].image").expect("constant test input");
    assert_eq!(
        p.nodes,
        vec![
            Node::Object("spec".into()),
            Node::Object("containers".into()),
            Node::List {
                key: "name".into(),
                value: Some(KeyValue::Str("foo".into()))
            },
            Node::Object("image".into()),
        ]
    );
    let g = Path::parse("spec.containers[name:*].securityContext").expect("constant test input");
    assert!(g.nodes[2].is_glob());
    let q = Path::parse(r#"metadata.annotations."example.com/x y"[k: 'a\'b']"#)
        .expect("constant test input");
    assert_eq!(q.nodes[2], Node::Object("example.com/x y".into()));
    assert_eq!(
        q.nodes[3],
        Node::List {
            key: "k".into(),
            value: Some(KeyValue::Str("a'b".into()))
        }
    );
    let i =
        Path::parse("spec.ports[ containerPort : 8080 ].protocol").expect("constant test input");
    assert_eq!(
        i.nodes[2],
        Node::List {
            key: "containerPort".into(),
            value: Some(KeyValue::Int(8080))
        }
    );
    // Display round-trips, quoting what needs quoting.
    assert_eq!(
        q.to_string(),
        r#"metadata.annotations."example.com/x y"[k: "a'b"]"#
    );
    assert_eq!(Path::parse(&q.to_string()).expect("constant test input"), q);
    assert_eq!(i.to_string(), "spec.ports[containerPort: 8080].protocol");
}

#[test]
fn rejects_bad_paths() {
    for bad in [
        "spec.",
        ".spec",
        "spec..x",
        "spec.containers[name]",
        "spec.containers[name: foo",
        "spec.containers[: foo]",
        "spec.containers[name: foo][id: 1]",
        "spec.*",
        "spec.1abc",
        "spec.\"unterminated",
        "spec.con$tainers",
        "spec containers",
        "[name: x].image",
        "spec.x[n: 99999999999999999999]",
    ] {
        assert!(Path::parse(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn creates_missing_parents() {
    let m = assign(
        "dns",
        "spec.dnsConfig.options",
        "    assign:\n      value: [{name: ndots, value: \"2\"}]",
    );
    let out = run_converged(vec![m], pod("  - name: app\n    image: app"));
    assert_eq!(
        out.object["spec"]["dnsConfig"]["options"][0]["name"],
        "ndots"
    );
    assert_eq!(out.applied, vec!["Assign/dns".to_string()]);
    let ops = serde_json::to_value(&out.patch).expect("constant test input");
    assert_eq!(ops[0]["op"], "add");
    assert_eq!(ops[0]["path"], "/spec/dnsConfig");
}

#[test]
fn keyed_element_created_with_its_key() {
    let m = assign(
        "pull",
        "spec.containers[name: sidecar].imagePullPolicy",
        "    assign:\n      value: Always",
    );
    let out = run_converged(vec![m], pod("  - name: app\n    image: app"));
    assert_eq!(
        out.object["spec"]["containers"][1],
        json!({"name": "sidecar", "imagePullPolicy": "Always"})
    );
}

#[test]
fn integer_keys_select_integers_only() {
    let m = assign(
        "proto",
        "spec.containers[name: app].ports[containerPort: 80].protocol",
        "    assign:\n      value: TCP",
    );
    let obj =
        pod("  - name: app\n    ports:\n    - containerPort: 80\n    - containerPort: \"80\"");
    let out = run_converged(vec![m], obj);
    let ports = &out.object["spec"]["containers"][0]["ports"];
    assert_eq!(ports[0]["protocol"], "TCP");
    assert!(ports[1].get("protocol").is_none());
}

#[test]
fn globs_reach_every_element_and_create_none() {
    let m = assign(
        "ro",
        "spec.containers[name: *].securityContext.readOnlyRootFilesystem",
        "    assign:\n      value: true",
    );
    let out = run_converged(
        vec![m.clone()],
        pod("  - name: a\n  - name: b\n    securityContext: {runAsUser: 1}\n  - name: c"),
    );
    for i in 0..3 {
        assert_eq!(
            out.object["spec"]["containers"][i]["securityContext"]["readOnlyRootFilesystem"],
            true
        );
    }
    assert_eq!(
        out.object["spec"]["containers"][1]["securityContext"]["runAsUser"],
        1
    );
    let empty = run_converged(vec![m], pod("  []"));
    assert!(empty.patch.0.is_empty());
}

#[test]
fn path_tests_both_ways() {
    let defaulting = assign(
        "user",
        "spec.containers[name: *].securityContext.runAsUser",
        "    pathTests:\n    - subPath: 'spec.containers[name: *].securityContext.runAsUser'\n      condition: MustNotExist\n    assign:\n      value: 1000",
    );
    let obj = pod("  - name: a\n    securityContext: {runAsUser: 5}\n  - name: b");
    let out = run_converged(vec![defaulting], obj);
    assert_eq!(
        out.object["spec"]["containers"][0]["securityContext"]["runAsUser"],
        5
    );
    assert_eq!(
        out.object["spec"]["containers"][1]["securityContext"]["runAsUser"],
        1000
    );

    let only_existing = assign(
        "policy",
        "spec.containers[name: app].imagePullPolicy",
        "    pathTests:\n    - subPath: 'spec.containers[name: app]'\n      condition: MustExist\n    assign:\n      value: Always",
    );
    let none = run_converged(vec![only_existing.clone()], pod("  - name: other"));
    assert!(
        none.patch.0.is_empty(),
        "MustExist must not create the element"
    );
    let some = run_converged(vec![only_existing], pod("  - name: app"));
    assert_eq!(
        some.object["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
}

#[test]
fn assign_if_in_and_not_in() {
    let upgrade = assign(
        "pp",
        "spec.containers[name: app].imagePullPolicy",
        "    assignIf:\n      in: [IfNotPresent]\n    assign:\n      value: Always",
    );
    let hit = run_converged(
        vec![upgrade.clone()],
        pod("  - name: app\n    imagePullPolicy: IfNotPresent"),
    );
    assert_eq!(
        hit.object["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    let miss = run_converged(vec![upgrade], pod("  - name: app"));
    assert!(
        miss.patch.0.is_empty(),
        "a missing value never satisfies `in`"
    );

    let keep = assign(
        "pp2",
        "spec.containers[name: app].imagePullPolicy",
        "    assignIf:\n      notIn: [Never]\n    assign:\n      value: Always",
    );
    let never = run_converged(
        vec![keep.clone()],
        pod("  - name: app\n    imagePullPolicy: Never"),
    );
    assert!(never.patch.0.is_empty());
    let absent = run_converged(vec![keep], pod("  - name: app"));
    assert_eq!(
        absent.object["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
}

#[test]
fn from_metadata_and_whole_element() {
    let ns = assign(
        "ns",
        "spec.containers[name: app].env[name: POD_NAMESPACE].value",
        "    assign:\n      fromMetadata:\n        field: namespace",
    );
    let el = assign(
        "side",
        "spec.containers[name: proxy]",
        "    assign:\n      value: {name: proxy, image: envoy}",
    );
    let out = run_converged(
        vec![ns, el],
        pod("  - name: app\n    image: a\n  - name: proxy\n    image: old"),
    );
    assert_eq!(
        out.object["spec"]["containers"][0]["env"][0],
        json!({"name": "POD_NAMESPACE", "value": "shop"})
    );
    assert_eq!(
        out.object["spec"]["containers"][1],
        json!({"name": "proxy", "image": "envoy"})
    );
    assert_eq!(
        out.object["spec"]["containers"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn type_mismatch_fails_the_mutation() {
    let m = assign("x", "spec.containers.image", "    assign:\n      value: a");
    let err = run(vec![m], pod("  - name: app")).unwrap_err();
    assert!(err.to_string().contains("Assign/x"), "{err}");
    assert!(matches!(err, super::MutationError::Failed(_)));
}

const HEAD: &str =
    "apiVersion: mutations.gatekeeper.sh/v1\nkind: Assign\nmetadata:\n  name: bad\nspec:\n";
const APPLY: &str = "  applyTo: [{groups: [\"\"], versions: [v1], kinds: [Pod]}]\n";

#[test]
fn load_errors_say_why() {
    let cases = [
        (format!("{HEAD}{APPLY}  location: 'spec.x['\n  parameters: {{assign: {{value: 1}}}}"), "invalid location"),
        (format!("{HEAD}{APPLY}  location: metadata.name\n  parameters: {{assign: {{value: x}}}}"), "can't change metadata"),
        (format!("{HEAD}{APPLY}  location: metadata.labels.a\n  parameters: {{assign: {{value: x}}}}"), "can't change metadata"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: a].name'\n  parameters: {{assign: {{value: b}}}}"), "list key"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: a]'\n  parameters: {{assign: {{value: {{name: b}}}}}}"), "must have name"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: *]'\n  parameters: {{assign: {{value: {{name: b}}}}}}"), "globbed"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: a]'\n  parameters: {{assign: {{value: 3}}}}"), "only objects"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: a]'\n  parameters: {{assign: {{fromMetadata: {{field: name}}}}}}"), "metadata field to a list"),
        (format!("{HEAD}{APPLY}  location: 'spec.containers[name: a]'\n  parameters: {{assignIf: {{in: [1]}}, assign: {{value: {{name: a}}}}}}"), "assignIf cannot"),
        (format!("{HEAD}{APPLY}  location: spec.x\n  parameters: {{pathTests: [{{subPath: '', condition: MustExist}}], assign: {{value: 1}}}}"), "must not be empty"),
        (format!("{HEAD}  location: spec.x\n  parameters: {{assign: {{value: 1}}}}"), "applyTo is required"),
        (format!("{HEAD}  applyTo: [{{groups: [\"\"], kinds: [Pod]}}]\n  location: spec.x\n  parameters: {{assign: {{value: 1}}}}"), "all of groups, versions and kinds"),
        (format!("{HEAD}  applyTo: [{{groups: [\"\"], versions: [v1], kinds: [Pod], operations: [DELETE]}}]\n  location: spec.x\n  parameters: {{assign: {{value: 1}}}}"), "invalid operation"),
        (format!("{HEAD}{APPLY}  parameters: {{assign: {{value: 1}}}}"), "location is required"),
        (format!("{HEAD}{APPLY}  location: spec.x\n  parameters: {{}}"), "assign is required"),
        (format!("{HEAD}{APPLY}  location: spec.x\n  parameters: {{assign: {{value: 1, fromMetadata: {{field: name}}}}}}"), "only one of"),
        (format!("{HEAD}{APPLY}  location: spec.x\n  parameters: {{assign: {{fromMetadata: {{field: uid}}}}}}"), "not recognized"),
        (format!("{HEAD}{APPLY}  location: spec.x\n  parameters: {{assign: {{externalData: {{provider: p}}}}}}"), "not supported"),
        (format!("{HEAD}{APPLY}  location: spec.x.y\n  parameters: {{pathTests: [{{subPath: spec.z, condition: MustExist}}], assign: {{value: 1}}}}"), "not a prefix"),
        (format!("{HEAD}{APPLY}  location: spec.x.y\n  parameters: {{pathTests: [{{subPath: spec.x, condition: Maybe}}], assign: {{value: 1}}}}"), "not a valid path test condition"),
        (format!("{HEAD}{APPLY}  location: spec.x.y\n  parameters: {{pathTests: [{{subPath: spec.x, condition: MustExist}}, {{subPath: spec.x, condition: MustNotExist}}], assign: {{value: 1}}}}"), "both"),
        (format!("{HEAD}{APPLY}  location: spec.x.y\n  parameters: {{pathTests: [{{subPath: spec.x.y, condition: MustExist}}, {{subPath: spec.x, condition: MustNotExist}}], assign: {{value: 1}}}}"), "parent"),
        ("apiVersion: mutations.gatekeeper.sh/v2\nkind: Assign\nmetadata: {name: a}\nspec: {}".to_string(), "not served"),
        ("apiVersion: mutations.gatekeeper.sh/v1\nkind: Assign\nmetadata: {}\nspec: {}".to_string(), "metadata.name is required"),
        (format!("apiVersion: mutations.gatekeeper.sh/v1\nkind: Assign\nmetadata: {{name: {}}}\nspec: {{}}", "a".repeat(64)), "63"),
    ];
    for (doc, want) in cases {
        let err = rejected(&doc);
        assert!(
            err.contains(want),
            "expected {want:?} in {err:?} for\n{doc}"
        );
        assert!(
            err.starts_with("Assign/"),
            "error must name the mutator: {err}"
        );
    }
}

/// Cases from Gatekeeper's parser tests: the same inputs are accepted or rejected.
#[test]
fn gatekeeper_parser_compatibility() {
    let ok = [
        "",
        r#""sp\"ec""#,
        "single_field",
        r#"spec.containers[name: "*"].securityContext"#,
        r#"spec.containers["my key": "foo bar"]"#,
        r#"spec.containers[name: ""].securityContext"#,
        r#"spec.containers["": "someValue"].securityContext"#,
        r#"foo."".bar"#,
        "    spec   .    containers    ",
        "spec.containers[name: opa].ports[containerPort: 8888].name",
        "spec[bignum: 9223372036854775807]",
        "-123-_456_",
        "area51",
        r#""012345""#,
        "spec.studio54.bar",
        "spec[not_octal: 0123]",
        "spec.\"foo\nbar\"",
        r#"spec."this object"."is very"["much full": 'of everyone\'s'].'favorite thing'"#,
        r#"'foo[bar:*]'"#,
        r#"'dot..dot'"#,
    ];
    for input in ok {
        let p = Path::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(
            Path::parse(&p.to_string()).as_ref(),
            Ok(&p),
            "round trip of {input:?}"
        );
    }
    let bad = [
        "spec.containers[my key: \"foo bar\"]",
        "spec.containers[key: foo bar]",
        "spec.containers[name: ].securityContext",
        "spec.containers[].securityContext",
        "spec.containers[:].securityContext",
        "spec.containers[*].securityContext",
        "[foo: bar][bar: *]",
        "spec.[foo: bar]",
        "spec.containers[123: opa]",
        "spec[bignum: 9223372036854775808]",
        "012345",
        "spec.123.bar",
        "spec[foo: 0x123]",
        "spec.foo bar",
        "*",
        "][",
        "foo[",
        ":",
    ];
    for input in bad {
        assert!(Path::parse(input).is_err(), "{input:?} should be rejected");
    }
    let star = Path::parse(r#"c[name: "*"]"#).expect("constant test input");
    assert!(
        !star.nodes[1].is_glob(),
        "a quoted * is a literal key value"
    );
    assert_eq!(
        Path::parse("spec[not_octal: 0123]")
            .expect("constant test input")
            .nodes[1],
        Node::List {
            key: "not_octal".into(),
            value: Some(KeyValue::Int(123))
        }
    );
}
