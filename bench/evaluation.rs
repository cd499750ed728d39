//! Evaluation micro-benchmarks: the per-request cost of decoding, matching, engines and
//! mutation, without the network. Run with `cargo bench --bench evaluation`.
//!
//! Rego and CEL figures need the Gatekeeper library beside the repository
//! (`../shared/conformance`); they are skipped with a note when it is absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::engine::{EngineChoice, EngineKind};
use portcullis::policy::enforcement::VALIDATION_POINT;
use portcullis::policy::Document;
use portcullis::snapshot::{BuildOptions, PolicySnapshot};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn library() -> Option<PathBuf> {
    let p = root().join("../shared/conformance/gatekeeper-library/library/general");
    p.is_dir().then_some(p)
}

fn docs(paths: &[PathBuf]) -> Vec<Document> {
    portcullis::manifests::read_paths(paths).expect("benchmark policies parse")
}

/// The 20 benchmark constraints renamed `copies` times (1 copy = 20 constraints).
fn constraints(copies: usize, keep: usize) -> Vec<Document> {
    let base = docs(&[root().join("bench/policies/constraints.yaml")]);
    let mut out = Vec::new();
    for i in 0..copies {
        for d in base.iter().take(keep) {
            let mut d = d.clone();
            let name = d.value["metadata"]["name"]
                .as_str()
                .unwrap_or("c")
                .to_string();
            d.value["metadata"]["name"] = Value::String(format!("{name}-{i}"));
            out.push(d);
        }
    }
    out
}

/// The 20 benchmark constraints, then `others` copies retargeted to 49 kinds a Pod is not
/// (as a large organisation's policy set covers many kinds): only the first 20 match.
fn constraints_over_many_kinds(others: usize) -> Vec<Document> {
    let mut out = constraints(1, 20);
    for (i, mut d) in constraints(others.div_ceil(20), 20)
        .into_iter()
        .take(others)
        .enumerate()
    {
        d.value["metadata"]["name"] = Value::String(format!("other-{i}"));
        d.value["spec"]["match"]["kinds"] = serde_json::json!([
            {"apiGroups": ["example.com"], "kinds": [format!("Kind{}", i % 49)]}
        ]);
        out.push(d);
    }
    out
}

fn try_snapshot(
    templates: Vec<Document>,
    mut rest: Vec<Document>,
    engine: EngineChoice,
) -> Result<PolicySnapshot, portcullis::policy::PolicyError> {
    let mut all = templates;
    all.append(&mut rest);
    all.extend(docs(&[root().join("bench/policies/namespaces.yaml")]));
    PolicySnapshot::build(&all, &BuildOptions { engine })
}

fn snapshot(templates: Vec<Document>, rest: Vec<Document>, engine: EngineChoice) -> PolicySnapshot {
    try_snapshot(templates, rest, engine).expect("benchmark snapshot builds")
}

fn native_templates() -> Vec<Document> {
    docs(&[root().join("policies/library")])
}

fn rego_templates(lib: &Path) -> Vec<Document> {
    let kinds = [
        "allowedrepos",
        "containerlimits",
        "containerrequests",
        "requiredlabels",
        "requiredprobes",
        "disallowedtags",
    ];
    docs(
        &kinds
            .iter()
            .map(|k| lib.join(k).join("template.yaml"))
            .collect::<Vec<_>>(),
    )
}

fn review_body() -> Vec<u8> {
    std::fs::read(root().join("bench/review-pod.json")).expect("bench review")
}

fn benches(c: &mut Criterion) {
    let body = review_body();
    let decoded = portcullis::admission::decode(&body).expect("decodes");
    let review = decoded.review.clone();

    c.bench_function("decode AdmissionReview (3 KiB Pod)", |b| {
        b.iter(|| portcullis::admission::decode(black_box(&body)).expect("decodes"))
    });

    for (copies, keep, label) in [(1, 1, 1), (1, 20, 20), (5, 20, 100)] {
        let snap = snapshot(
            native_templates(),
            constraints(copies, keep),
            EngineChoice::Preferred,
        );
        c.bench_function(&format!("match only, {label} constraints"), |b| {
            b.iter(|| {
                snap.constraints
                    .iter()
                    .filter(|a| {
                        a.constraint
                            .matcher
                            .matches(black_box(&review), &snap.namespaces)
                    })
                    .count()
            })
        });
        c.bench_function(&format!("validate native, {label} constraints"), |b| {
            b.iter(|| portcullis::evaluate::validate(&snap, black_box(&review), VALIDATION_POINT))
        });
    }

    // Issue target: 1,000 constraints of which 20 match a Pod cost at most 1.5 times the
    // 20-constraint case above (same run).
    let many = snapshot(
        native_templates(),
        constraints_over_many_kinds(980),
        EngineChoice::Preferred,
    );
    assert_eq!(many.constraints.len(), 1000);
    c.bench_function("validate native, 1000 constraints (20 match a Pod)", |b| {
        b.iter(|| portcullis::evaluate::validate(&many, black_box(&review), VALIDATION_POINT))
    });

    let mut muts = docs(&[root().join("bench/policies/mutators.yaml")]);
    let msnap = snapshot(
        native_templates(),
        std::mem::take(&mut muts),
        EngineChoice::Preferred,
    );
    c.bench_function("mutate, 5 mutators (diff included)", |b| {
        b.iter(|| {
            msnap
                .mutators
                .mutate(black_box(&review), &msnap.namespaces)
                .expect("mutates")
        })
    });
    // The same 5 among 1,000 mutators, the rest bound to 49 other kinds (same run).
    let mut many_muts = docs(&[root().join("bench/policies/mutators.yaml")]);
    let pull_policy = many_muts
        .iter()
        .find(|d| d.value["metadata"]["name"] == "bench-pull-policy")
        .cloned()
        .expect("bench-pull-policy mutator");
    for i in 0..995 {
        let mut d = pull_policy.clone();
        let kind = format!("Kind{}", i % 49);
        d.value["metadata"]["name"] = Value::String(format!("other-{i}"));
        d.value["spec"]["applyTo"] =
            serde_json::json!([{"groups": ["example.com"], "versions": ["v1"], "kinds": [kind]}]);
        d.value["spec"]["match"]["kinds"] =
            serde_json::json!([{"apiGroups": ["example.com"], "kinds": [kind]}]);
        many_muts.push(d);
    }
    let many_msnap = snapshot(native_templates(), many_muts, EngineChoice::Preferred);
    assert_eq!(many_msnap.mutators.len(), 1000);
    c.bench_function("mutate, 5 of 1000 mutators (diff included)", |b| {
        b.iter(|| {
            many_msnap
                .mutators
                .mutate(black_box(&review), &many_msnap.namespaces)
                .expect("mutates")
        })
    });

    let Some(lib) = library() else {
        eprintln!("note: ../shared/conformance is absent; Rego and CEL benchmarks skipped");
        return;
    };
    let rego20 = snapshot(
        rego_templates(&lib),
        constraints(1, 20),
        EngineChoice::Only(EngineKind::Rego),
    );
    c.bench_function("validate rego, 20 constraints", |b| {
        b.iter(|| portcullis::evaluate::validate(&rego20, black_box(&review), VALIDATION_POINT))
    });
    // The same constraints on regorus's interpreter, for comparison in the same run.
    let rego20_interpreter = snapshot(
        rego_templates(&lib),
        constraints(1, 20),
        EngineChoice::RegoInterpreter,
    );
    c.bench_function("validate rego-interpreter, 20 constraints", |b| {
        b.iter(|| {
            portcullis::evaluate::validate(
                &rego20_interpreter,
                black_box(&review),
                VALIDATION_POINT,
            )
        })
    });
    // One template on each engine: K8sRequiredLabels has Native, CEL and Rego code.
    let labels = docs(&[root().join("bench/policies/constraints.yaml")])
        .into_iter()
        .filter(|d| d.value["metadata"]["name"] == "label-owner")
        .collect::<Vec<_>>();
    for (engine, templates) in [
        (EngineKind::Native, native_templates()),
        (
            EngineKind::Cel,
            docs(&[lib.join("requiredlabels/template.yaml")]),
        ),
        (
            EngineKind::Rego,
            docs(&[lib.join("requiredlabels/template.yaml")]),
        ),
    ] {
        let snap = match try_snapshot(templates, labels.clone(), EngineChoice::Only(engine)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "note: k8srequiredlabels on {} skipped: {e}",
                    engine.as_str()
                );
                continue;
            }
        };
        c.bench_function(&format!("k8srequiredlabels on {}", engine.as_str()), |b| {
            b.iter(|| portcullis::evaluate::validate(&snap, black_box(&review), VALIDATION_POINT))
        });
    }
    for kind in [
        "requiredlabels",
        "allowedrepos",
        "containerlimits",
        "containerrequests",
        "requiredprobes",
        "disallowedtags",
    ] {
        let one = constraints(1, 20)
            .into_iter()
            .filter(|d| {
                d.value["kind"]
                    .as_str()
                    .is_some_and(|k| k.to_lowercase() == format!("k8s{kind}"))
            })
            .collect::<Vec<_>>();
        // All of the set's constraints of this kind on the compiled path: what sharing
        // between the constraints of one template saves shows against the single one.
        let all = snapshot(
            docs(&[lib.join(kind).join("template.yaml")]),
            one.clone(),
            EngineChoice::Only(EngineKind::Rego),
        );
        c.bench_function(
            &format!("rego k8s{kind}, all {} constraints, compiled", one.len()),
            |b| {
                b.iter(|| {
                    portcullis::evaluate::validate(&all, black_box(&review), VALIDATION_POINT)
                })
            },
        );
        let one = one.into_iter().take(1).collect::<Vec<_>>();
        for (path, choice) in [
            ("compiled", EngineChoice::Only(EngineKind::Rego)),
            ("interpreter", EngineChoice::RegoInterpreter),
        ] {
            let snap = snapshot(
                docs(&[lib.join(kind).join("template.yaml")]),
                one.clone(),
                choice,
            );
            c.bench_function(&format!("rego k8s{kind}, 1 constraint, {path}"), |b| {
                b.iter(|| {
                    portcullis::evaluate::validate(&snap, black_box(&review), VALIDATION_POINT)
                })
            });
        }
    }
}

criterion_group! {
    name = evaluation;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(evaluation);
