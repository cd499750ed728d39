//! Golden tests for AssignMetadata, ModifySet and AssignImage (including Gatekeeper's image
//! splitting and parameter validation).

use serde_json::json;

use super::image::{ImageRef, ImageSpec};
use super::test_support::*;

fn meta(name: &str, location: &str, value: &str) -> super::Mutator {
    mutator(&format!(
        "apiVersion: mutations.gatekeeper.sh/v1
kind: AssignMetadata
metadata: {{name: {name}}}
spec:
  location: '{location}'
  parameters:
    assign:
      {value}"
    ))
}

fn modify_set(name: &str, op: &str, location: &str, values: &str) -> super::Mutator {
    mutator(&format!(
        "apiVersion: mutations.gatekeeper.sh/v1
kind: ModifySet
metadata: {{name: {name}}}
spec:
  applyTo: [{{groups: [\"\"], versions: [v1], kinds: [Pod]}}]
  location: '{location}'
  parameters:
    operation: {op}
    values: {{fromList: {values}}}"
    ))
}

fn image(name: &str, params: &str) -> super::Mutator {
    mutator(&format!(
        "apiVersion: mutations.gatekeeper.sh/v1alpha1
kind: AssignImage
metadata: {{name: {name}}}
spec:
  applyTo: [{{groups: [\"\"], versions: [v1], kinds: [Pod]}}]
  location: 'spec.containers[name: *].image'
  parameters: {params}"
    ))
}

#[test]
fn assign_metadata_adds_but_never_overwrites() {
    let team = meta("team", "metadata.labels.team", "value: platform");
    let owner = meta(
        "owner",
        "metadata.annotations.\"example.com/owner\"",
        "fromMetadata: {field: name}",
    );
    let out = run_converged(vec![team.clone(), owner], pod("  - name: app"));
    assert_eq!(out.object["metadata"]["labels"]["team"], "platform");
    assert_eq!(
        out.object["metadata"]["annotations"]["example.com/owner"],
        "web"
    );
    let ops = serde_json::to_value(&out.patch).expect("constant test input");
    assert!(
        ops.to_string().contains("example.com~1owner")
            || ops.to_string().contains("/metadata/annotations")
    );

    let mut labelled = pod("  - name: app");
    labelled["metadata"]["labels"] = json!({"team": "mine"});
    let kept = run_converged(vec![team], labelled);
    assert!(kept.patch.0.is_empty());
    assert_eq!(kept.object["metadata"]["labels"]["team"], "mine");
}

#[test]
fn assign_metadata_load_errors() {
    let head = "apiVersion: mutations.gatekeeper.sh/v1beta1\nkind: AssignMetadata\nmetadata: {name: m}\nspec:\n";
    for (body, want) in [
        (
            "  location: metadata.name\n  parameters: {assign: {value: x}}",
            "may only set",
        ),
        (
            "  location: metadata.labels\n  parameters: {assign: {value: x}}",
            "may only set",
        ),
        (
            "  location: spec.labels.a\n  parameters: {assign: {value: x}}",
            "may only set",
        ),
        (
            "  location: 'metadata.labels[a: b]'\n  parameters: {assign: {value: x}}",
            "may only set",
        ),
        (
            "  location: metadata.labels.a\n  parameters: {assign: {value: 3}}",
            "must be a string",
        ),
        (
            "  location: metadata.labels.a\n  parameters: {}",
            "assign is required",
        ),
    ] {
        let err = rejected(&format!("{head}{body}"));
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

#[test]
fn modify_set_merge_and_prune() {
    let add = modify_set(
        "add",
        "merge",
        "spec.containers[name: *].args",
        "[--a, --b]",
    );
    let out = run_converged(
        vec![add],
        pod("  - name: x\n    args: [--b, --c]\n  - name: y"),
    );
    assert_eq!(
        out.object["spec"]["containers"][0]["args"],
        json!(["--b", "--c", "--a"])
    );
    assert_eq!(
        out.object["spec"]["containers"][1]["args"],
        json!(["--a", "--b"])
    );

    let drop = modify_set(
        "drop",
        "prune",
        "spec.containers[name: *].args",
        "[--c, --zzz]",
    );
    let out = run_converged(
        vec![drop.clone()],
        pod("  - name: x\n    args: [--b, --c, --c]\n  - name: y"),
    );
    assert_eq!(out.object["spec"]["containers"][0]["args"], json!(["--b"]));
    assert!(
        out.object["spec"]["containers"][1].get("args").is_none(),
        "prune creates nothing"
    );

    let err = run(vec![drop], pod("  - name: x\n    args: notalist")).unwrap_err();
    assert!(
        err.to_string().contains("cannot be treated as a set"),
        "{err}"
    );
}

#[test]
fn modify_set_load_errors() {
    let head = "apiVersion: mutations.gatekeeper.sh/v1\nkind: ModifySet\nmetadata: {name: s}\nspec:\n  applyTo: [{groups: [\"\"], versions: [v1], kinds: [Pod]}]\n";
    for (body, want) in [
        (
            "  location: 'spec.containers[name: a]'\n  parameters: {values: {fromList: [a]}}",
            "keyed list",
        ),
        (
            "  location: metadata.finalizers\n  parameters: {values: {fromList: [a]}}",
            "metadata",
        ),
        (
            "  location: spec.args\n  parameters: {operation: replace}",
            "merge or prune",
        ),
        (
            "  location: spec.args\n  parameters: {values: {fromList: a}}",
            "must be a list",
        ),
    ] {
        let err = rejected(&format!("{head}{body}"));
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

#[test]
fn image_splitting_matches_gatekeeper() {
    let cases = [
        ("nginx", ("", "nginx", "")),
        ("nginx:1.25", ("", "nginx", ":1.25")),
        ("library/nginx", ("", "library/nginx", "")),
        (
            "docker.io/library/nginx:latest",
            ("docker.io", "library/nginx", ":latest"),
        ),
        ("localhost/app", ("localhost", "app", "")),
        ("localhost:5000/app:v1", ("localhost:5000", "app", ":v1")),
        (
            "my.registry:443/team/app@sha256:abc",
            ("my.registry:443", "team/app", "@sha256:abc"),
        ),
        ("app@sha256:abc", ("", "app", "@sha256:abc")),
        ("", ("", "", "")),
    ];
    for (input, (d, p, t)) in cases {
        let r = ImageRef::parse(input);
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_str()),
            (d, p, t),
            "{input}"
        );
        assert_eq!(r.full(), input);
    }
}

#[test]
fn assign_image_rewrites_parts() {
    let digest = format!("@sha256:{}", "a".repeat(64));
    let spec = |d: &str, p: &str, t: &str| ImageSpec {
        domain: d.into(),
        path: p.into(),
        tag: t.into(),
    };
    let pin = spec("registry.example.com:5000", "", "");
    assert_eq!(pin.rewrite("nginx"), "registry.example.com:5000/nginx");
    assert_eq!(
        pin.rewrite("docker.io/library/nginx:1"),
        "registry.example.com:5000/library/nginx:1"
    );
    assert_eq!(
        pin.rewrite(&format!("localhost:5000/a{digest}")),
        format!("registry.example.com:5000/a{digest}")
    );
    let tag = spec("", "", ":v2");
    assert_eq!(tag.rewrite("a.io/x/y@sha256:00"), "a.io/x/y:v2");
    assert_eq!(tag.rewrite(""), ":v2");
    let path = spec("", "mirror/nginx", "");
    assert_eq!(
        path.rewrite("docker.io/nginx:1"),
        "docker.io/mirror/nginx:1"
    );
    assert_eq!(
        spec("", "", &digest).rewrite("nginx:1"),
        format!("nginx{digest}")
    );

    let m = image("pin", "{assignDomain: registry.example.com}");
    let out = run_converged(
        vec![m],
        pod("  - name: a\n    image: nginx:1\n  - name: b\n    image: quay.io/x/y"),
    );
    assert_eq!(
        out.object["spec"]["containers"][0]["image"],
        "registry.example.com/nginx:1"
    );
    assert_eq!(
        out.object["spec"]["containers"][1]["image"],
        "registry.example.com/x/y"
    );
}

#[test]
fn assign_image_validation() {
    let ok = |d: &str, p: &str, t: &str| {
        ImageSpec {
            domain: d.into(),
            path: p.into(),
            tag: t.into(),
        }
        .validate()
    };
    assert!(ok("a.b", "", "").is_ok());
    assert!(ok("localhost:5000", "x/y", ":v1").is_ok());
    assert!(ok("", "", &format!("@sha256:{}", "0".repeat(64))).is_ok());
    for (d, p, t, want) in [
        ("", "", "", "at least one"),
        ("a.b/c", "", "", "assignDomain"),
        ("nodots", "", "", "assignDomain"),
        ("", "", "v1", "assignTag"),
        ("", "", ":v1:v2", "assignTag"),
        ("", "", "@sha256:short", "assignTag"),
        ("", "Upper/case", "", "assignPath"),
        ("", "x:1", "", "assignPath"),
        ("", "a.io/x", "", "looks like a domain"),
        ("", "localhost/x", "", "looks like a domain"),
    ] {
        let err = ok(d, p, t).unwrap_err();
        assert!(err.contains(want), "{d:?} {p:?} {t:?}: {err}");
    }
    let err = rejected(
        "apiVersion: mutations.gatekeeper.sh/v1\nkind: AssignImage\nmetadata: {name: i}\nspec: {}",
    );
    assert!(err.contains("not served"), "{err}");
    let head = "apiVersion: mutations.gatekeeper.sh/v1alpha1\nkind: AssignImage\nmetadata: {name: i}\nspec:\n  applyTo: [{groups: [\"\"], versions: [v1], kinds: [Pod]}]\n";
    for (body, want) in [
        (
            "  location: 'spec.containers[name: a]'\n  parameters: {assignTag: ':v1'}",
            "list-type",
        ),
        (
            "  location: 'spec.containers[name: a].image'\n  parameters: {}",
            "at least one",
        ),
        (
            "  location: metadata.annotations.img\n  parameters: {assignTag: ':v1'}",
            "metadata",
        ),
    ] {
        let err = rejected(&format!("{head}{body}"));
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}
