//! `portcullis test`: judge manifests as CREATE requests (and captured AdmissionReviews by
//! their request), the way CI pipelines gate changes before they reach a cluster.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::cli::{OutputFormat, TestArgs};
use crate::engine::namespace_labels;
use crate::evaluate;
use crate::manifests;
use crate::policy::enforcement::GATOR_POINT;
use crate::policy::Action;
use crate::review::Review;
use crate::snapshot::{BuildOptions, PolicySnapshot};
use crate::sources::file::FileSource;

/// One judged object.
struct Judged {
    kind: String,
    namespace: String,
    name: String,
    location: String,
    hits: Vec<evaluate::Hit>,
    failures: Vec<evaluate::EvalFailure>,
    mutation: Option<Result<(Vec<String>, Value), String>>,
}

fn object_ref(j: &Judged) -> String {
    if j.namespace.is_empty() {
        format!("{} {}", j.kind, j.name)
    } else {
        format!("{} {}/{}", j.kind, j.namespace, j.name)
    }
}

/// Judge every object under `args.paths`.
pub fn run(args: TestArgs) -> ExitCode {
    let source = FileSource::new(
        &args.policies,
        BuildOptions {
            engine: crate::cli::engine_choice(args.engine),
        },
    );
    let mut snapshot = match source.load() {
        Ok(s) => s,
        Err(e) => return super::fail("policy set rejected", e),
    };
    let docs = match manifests::read_paths(&args.paths) {
        Ok(d) => d,
        Err(e) => return super::fail("cannot read manifests", e),
    };
    // Namespaces among the manifests count for namespaceSelector, as they would in a
    // cluster where they are applied first.
    Arc::make_mut(&mut snapshot.namespaces).extend(namespace_labels(docs.iter().map(|d| &d.value)));
    let judged: Vec<Judged> = docs
        .into_iter()
        .filter(|d| d.value.is_object())
        .map(|d| judge(&snapshot, d.value, d.location, args.mutate))
        .collect();
    let deny = judged
        .iter()
        .flat_map(|j| &j.hits)
        .filter(|h| h.action == Action::Deny)
        .count();
    let failed = judged.iter().map(|j| j.failures.len()).sum::<usize>();
    // A reader that went away (`| head`) ends the output, never the verdict.
    let _ = match args.output {
        OutputFormat::Text => super::emit(&text(&judged, deny, failed)),
        OutputFormat::Json => super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report(&judged, deny, failed)).unwrap_or_default()
        )),
        OutputFormat::Yaml => super::emit(
            &serde_saphyr::to_string(&report(&judged, deny, failed)).unwrap_or_default(),
        ),
        OutputFormat::Junit => super::emit(&junit(&judged)),
    };
    if failed > 0 {
        ExitCode::from(2)
    } else if deny > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn judge(snapshot: &PolicySnapshot, object: Value, location: String, mutate: bool) -> Judged {
    // A whole AdmissionReview (an UPDATE or DELETE captured from a cluster) is judged by its
    // request, as gator does; anything else is a CREATE of that object.
    let is_review = object.get("kind").and_then(Value::as_str) == Some("AdmissionReview");
    let review = if is_review {
        match Review::from_case_object(object) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%location, error = %e, "AdmissionReview without a usable request; skipped");
                Review::from_object(Value::Null)
            }
        }
    } else {
        Review::from_object(object)
    };
    // With --mutate, mutation runs first and the mutated object is what is validated, as
    // the API server chains the mutating and validating webhooks.
    let mut judged = None;
    let mutation = mutate.then(
        || match snapshot.mutators.mutate(&review, &snapshot.namespaces) {
            Ok(o) => {
                let patch = serde_json::to_value(&o.patch).unwrap_or(Value::Null);
                judged = Some(review.with_object(o.object));
                Ok((o.applied, patch))
            }
            Err(e) => Err(e.to_string()),
        },
    );
    let eval = evaluate::validate(snapshot, judged.as_ref().unwrap_or(&review), GATOR_POINT);
    Judged {
        kind: review.gvk.kind.clone(),
        namespace: review.namespace.clone(),
        name: review.name.clone(),
        location,
        hits: eval.hits,
        failures: eval.failures,
        mutation,
    }
}

/// The text report: a line per violation, failure and mutation, then a summary.
fn text(judged: &[Judged], deny: usize, failed: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut warn = 0;
    let mut dry = 0;
    for j in judged {
        for h in &j.hits {
            match h.action {
                Action::Warn => warn += 1,
                Action::Dryrun => dry += 1,
                Action::Deny => {}
            }
            let _ = writeln!(
                out,
                "{}: [{}] {} ({})",
                object_ref(j),
                h.constraint,
                h.msg,
                h.action.as_str()
            );
        }
        for f in &j.failures {
            let _ = writeln!(
                out,
                "{}: [{}] evaluation failed: {}",
                object_ref(j),
                f.constraint,
                f.error
            );
        }
        match &j.mutation {
            Some(Ok((applied, patch))) if !applied.is_empty() => {
                let _ = writeln!(out, "{}: mutated by {}", object_ref(j), applied.join(", "));
                let _ = writeln!(out, "{patch}");
            }
            Some(Err(e)) => {
                let _ = writeln!(out, "{}: mutation failed: {e}", object_ref(j));
            }
            _ => {}
        }
    }
    let _ = writeln!(
        out,
        "{} objects: {deny} denied, {warn} warnings, {dry} dry-run, {failed} evaluation errors",
        judged.len()
    );
    out
}

/// One JUnit test case per object: a failure when something denies it, an error when a
/// constraint could not judge it, warnings and dry-run findings as output.
fn junit(judged: &[Judged]) -> String {
    let cases: Vec<super::junit::Case> = judged
        .iter()
        .map(|j| {
            let lines = |keep: &dyn Fn(Action) -> bool| {
                j.hits
                    .iter()
                    .filter(|h| keep(h.action))
                    .map(|h| format!("[{}] {} ({})", h.constraint, h.msg, h.action.as_str()))
                    .collect::<Vec<_>>()
            };
            let denials = lines(&|a| a == Action::Deny);
            let others = lines(&|a| a != Action::Deny);
            let errors: Vec<String> = j
                .failures
                .iter()
                .map(|f| format!("[{}] {}", f.constraint, f.error))
                .collect();
            super::junit::Case {
                name: object_ref(j),
                classname: j.location.clone(),
                failure: denials
                    .first()
                    .map(|first| (first.clone(), denials.join("\n"))),
                error: errors
                    .first()
                    .map(|first| (first.clone(), errors.join("\n"))),
                output: others.join("\n"),
            }
        })
        .collect();
    super::junit::render("portcullis test", &cases)
}

fn report(judged: &[Judged], deny: usize, failed: usize) -> Value {
    let objects: Vec<Value> = judged
        .iter()
        .map(|j| {
            let mut o = json!({
                "kind": j.kind, "namespace": j.namespace, "name": j.name, "source": j.location,
                "violations": j.hits.iter().map(|h| json!({
                    "constraint": h.constraint, "constraintKind": h.kind,
                    "message": h.msg, "action": h.action.as_str(), "details": h.details,
                })).collect::<Vec<_>>(),
                "errors": j.failures.iter().map(|f| json!({
                    "constraint": f.constraint, "error": f.error.to_string(),
                })).collect::<Vec<_>>(),
            });
            if let Some(m) = &j.mutation {
                o["mutation"] = match m {
                    Ok((applied, patch)) => json!({"applied": applied, "patch": patch}),
                    Err(e) => json!({"error": e}),
                };
            }
            o
        })
        .collect();
    json!({
        "objects": objects,
        "summary": {"objects": judged.len(), "denied": deny, "errors": failed},
    })
}
