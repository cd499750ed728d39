//! Differential test against OPA itself: public ConstraintTemplates (tests/opa_corpus/),
//! each judged on many (constraint, review) cases, must give the violations OPA gave,
//! message for message, on both Rego paths (the compiled one and the interpreter).
//!
//! OPA's answers are in tests/opa_corpus/expected.json, made by
//! `python3 scripts/opa-diff/run.py` (which `--check` keeps honest); this test needs no
//! Python. How cases count:
//!
//! * OPA gave violations: portcullis must give the same `{msg, details}` pairs, as
//!   Gatekeeper reports them (a violation without `msg` dropped, absent details as `{}`,
//!   equal pairs once); a pair reported twice, other violations, or an error is a
//!   disagreement.
//! * OPA refused the template: portcullis must refuse it at load; loading it is a
//!   disagreement (and the reverse too: refusing a template OPA compiles).
//! * OPA failed at evaluation with a conflict or another error of the policy itself:
//!   portcullis must fail too. Such cases are tallied and printed as "both failed", never
//!   folded into the agreements.
//! * The embedded OPA runs with strict builtin errors, where Gatekeeper's OPA makes a
//!   failing builtin call undefined and goes on. Where a case stopped on an operand type
//!   error, the harness answered it again with the builtins involved guarded the way
//!   non-strict evaluation treats them (`nonstrict` in expected.json): those cases are
//!   compared like any other and counted apart. A builtin error left after that
//!   (`eval_type_error`, `eval_builtin_error`) means OPA's answer is not Gatekeeper's:
//!   such a case is printed as "not comparable" and judged neither way.
//!
//! Known disagreements are listed in tests/opa_corpus/known_differences.txt, one line per
//! known cause in one template (`<case pattern> | <text of the disagreement> | <reason>`);
//! the test fails on any disagreement no line covers, and on any line that covers none, so
//! the list cannot go stale.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis::deadline::Deadline;
use portcullis::engine::{self, EngineChoice, EngineKind, EvalInput, Violation};
use portcullis::policy::ConstraintTemplate;
use portcullis::review::Review;
use serde_json::{json, Value};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opa_corpus")
}

/// The two Rego paths, by the names case ids use.
const ENGINES: [(&str, EngineChoice); 2] = [
    ("compiled", EngineChoice::Only(EngineKind::Rego)),
    ("interpreter", EngineChoice::RegoInterpreter),
];

/// A JSON value with object keys sorted at every level, as text: the identity of a
/// violation whatever order maps keep their keys in.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(b.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

fn violations_of(found: &[Violation]) -> Vec<String> {
    let mut out: Vec<String> = found
        .iter()
        .map(|v| {
            let mut m = serde_json::Map::new();
            m.insert("msg".into(), Value::String(v.msg.clone()));
            // Gatekeeper reports absent details as `{}` (`object.get(r, "details", {})`).
            m.insert(
                "details".into(),
                v.details.clone().unwrap_or_else(|| json!({})),
            );
            canonical(&Value::Object(m))
        })
        .collect();
    out.sort();
    out
}

fn expected_violations(outcome: &Value) -> Option<Vec<String>> {
    let mut out: Vec<String> = outcome
        .get("violations")?
        .as_array()?
        .iter()
        .map(canonical)
        .collect();
    out.sort();
    Some(out)
}

/// One violation as people read it: the message, then the details unless they are `{}`.
fn readable(canonical: &str) -> String {
    let v: Value = serde_json::from_str(canonical).unwrap_or(Value::Null);
    let msg = match &v["msg"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match &v["details"] {
        Value::Object(m) if m.is_empty() => msg,
        details => format!("{msg} (details {details})"),
    }
}

/// What two violation lists (sorted canonical forms) differ by, in plain text: the
/// violations only OPA reports, then those only portcullis reports (a repeat counts).
fn difference(want: &[String], got: &[String]) -> String {
    let mut only_got: Vec<&String> = got.iter().collect();
    let mut only_want = Vec::new();
    for w in want {
        match only_got.iter().position(|g| *g == w) {
            Some(at) => {
                only_got.remove(at);
            }
            None => only_want.push(w),
        }
    }
    let list = |items: &[&String]| {
        items
            .iter()
            .map(|c| readable(c))
            .collect::<Vec<_>>()
            .join(" || ")
    };
    format!(
        "OPA only: [{}] portcullis only: [{}]",
        list(&only_want),
        list(&only_got)
    )
}

/// Whether OPA's error is a builtin rejecting an operand, which Gatekeeper's non-strict
/// evaluation turns into an undefined expression instead.
fn strict_builtin_error(message: &str) -> bool {
    message.contains("eval_type_error") || message.contains("eval_builtin_error")
}

#[derive(Default)]
struct Tally {
    agreed: usize,
    /// Of the compared cases, those OPA answered under emulated non-strict builtin errors.
    nonstrict: usize,
    both_failed: Vec<String>,
    not_comparable: Vec<String>,
    /// case id -> what differed
    disagreements: BTreeMap<String, String>,
}

fn load_template(rel: &str) -> Result<ConstraintTemplate, String> {
    let path = corpus().join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_saphyr::from_str(&text).map_err(|e| format!("{rel}: {e}"))?;
    ConstraintTemplate::from_value(&doc).map_err(|e| e.to_string())
}

fn review_of(doc: &Value) -> Review {
    let Value::Object(map) = doc.clone() else {
        panic!("a review in expected.json is not an object: {doc}");
    };
    let review = Review::from_request(map).unwrap_or_else(|e| panic!("bad review {doc}: {e}"));
    // The harness gave OPA this very document; portcullis must judge the same one.
    assert_eq!(
        &review.request, doc,
        "portcullis completes this review differently from what OPA was given"
    );
    review
}

fn short(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > 600 {
        format!("{}...", s.chars().take(600).collect::<String>())
    } else {
        s
    }
}

fn run_template(entry: &Value, shared: &[Value], tally: &mut [Tally; 2]) {
    let rel = entry["template"].as_str().expect("template path");
    let id = rel
        .trim_start_matches("templates/")
        .trim_end_matches("/template.yaml");
    let opa_refused = entry["compile_error"].as_str();
    let parsed = load_template(rel);
    let extra: Vec<Value> = entry["extra_reviews"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reviews: Vec<Review> = shared.iter().chain(extra.iter()).map(review_of).collect();
    let inventory = entry.get("inventory").cloned().unwrap_or(Value::Null);
    let constraints = entry["constraints"].as_array().cloned().unwrap_or_default();
    let outcomes = entry["outcomes"].as_array().cloned().unwrap_or_default();
    for (slot, (engine_name, choice)) in ENGINES.iter().enumerate() {
        let t = &mut tally[slot];
        let load_id = format!("{id}@{engine_name}#load");
        let program = parsed
            .clone()
            .and_then(|tpl| engine::compile_bounded(&tpl, *choice).map_err(|e| e.to_string()));
        let program = match (opa_refused, program) {
            (Some(_), Err(_)) => {
                t.both_failed.push(load_id);
                continue;
            }
            (Some(opa), Ok(_)) => {
                t.disagreements.insert(
                    load_id,
                    format!(
                        "OPA refuses the template, portcullis loads it ({})",
                        short(opa)
                    ),
                );
                continue;
            }
            (None, Err(e)) => {
                t.disagreements.insert(
                    load_id,
                    format!("portcullis refuses the template: {}", short(&e)),
                );
                continue;
            }
            (None, Ok(p)) => p,
        };
        for (k, constraint) in constraints.iter().enumerate() {
            let case_base = format!("{id}#c{k}");
            let bound = match program.bind(&constraint["parameters"]) {
                Ok(b) => b,
                Err(e) => {
                    t.disagreements.insert(
                        format!("{case_base}@{engine_name}#bind"),
                        format!(
                            "portcullis refuses the parameters: {}",
                            short(&e.to_string())
                        ),
                    );
                    continue;
                }
            };
            for (i, review) in reviews.iter().enumerate() {
                let case = format!("{case_base}#r{i}@{engine_name}");
                let want = &outcomes[k][i];
                let input = EvalInput::new(review, &inventory)
                    .with_deadline(Deadline::after(Duration::from_secs(10)));
                let got = bound.evaluate(&input);
                if want.get("nonstrict").is_some() {
                    t.nonstrict += 1;
                }
                match (want.get("error").and_then(Value::as_str), got) {
                    (Some(e), got) if strict_builtin_error(e) => t.not_comparable.push(format!(
                        "{case}: OPA (strict builtins): {}; portcullis: {}",
                        short(e),
                        match got {
                            Ok(v) => format!("{:?}", violations_of(&v)),
                            Err(err) => format!("error {}", short(&err.to_string())),
                        }
                    )),
                    (Some(_), Err(_)) => t.both_failed.push(case),
                    (Some(e), Ok(v)) => {
                        t.disagreements.insert(
                            case,
                            format!(
                                "OPA fails ({}), portcullis answers {:?}",
                                short(e),
                                violations_of(&v)
                            ),
                        );
                    }
                    (None, Err(err)) => {
                        t.disagreements.insert(
                            case,
                            format!(
                                "portcullis fails ({}), OPA answers {:?}",
                                short(&err.to_string()),
                                expected_violations(want)
                            ),
                        );
                    }
                    (None, Ok(v)) => {
                        let want = expected_violations(want)
                            .unwrap_or_else(|| panic!("{case}: malformed outcome {want}"));
                        let got = violations_of(&v);
                        if want == got {
                            t.agreed += 1;
                        } else {
                            t.disagreements.insert(case, difference(&want, &got));
                        }
                    }
                }
            }
        }
    }
}

/// One line of known_differences.txt: `<case pattern> | <text> | <reason>`. It covers the
/// disagreements whose case id matches the pattern (`*` stands for any run of characters)
/// and whose description contains the text, so a line admits one known cause and not
/// whatever else may go wrong in the same cases.
struct Known {
    line: usize,
    pattern: String,
    text: String,
}

/// Whether `id` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(p) => p,
        None => return id.is_empty(),
    };
    let Some(mut tail) = id.strip_prefix(first) else {
        return false;
    };
    for (n, part) in rest.iter().enumerate() {
        if n + 1 == rest.len() {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.is_empty()
}

fn known_differences() -> Vec<Known> {
    let path = corpus().join("known_differences.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(" | ").map(str::trim).collect();
        assert!(
            fields.len() == 3 && fields.iter().all(|f| !f.is_empty()),
            "known_differences.txt:{}: want `<case pattern> | <text> | <reason>`",
            n + 1
        );
        out.push(Known {
            line: n + 1,
            pattern: fields[0].to_string(),
            text: fields[1].to_string(),
        });
    }
    out
}

#[test]
fn portcullis_rego_agrees_with_opa_on_the_public_corpus() {
    let path = corpus().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    assert_eq!(expected["format"], json!(1), "expected.json format");
    let shared = expected["reviews"].as_array().expect("reviews").clone();
    let templates = expected["templates"].as_array().expect("templates");
    assert!(
        templates.len() >= 40,
        "the corpus has {} templates",
        templates.len()
    );

    // Every template on disk has OPA's answers, and every answer a template on disk: a
    // template added without rerunning the harness would otherwise go untested.
    let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(corpus().join("templates"))
        .expect("tests/opa_corpus/templates")
        .flatten()
        .flat_map(|source| {
            std::fs::read_dir(source.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|dir| dir.path().join("template.yaml").is_file())
        .filter_map(|dir| {
            let path = dir.path().join("template.yaml");
            let rel = path
                .strip_prefix(corpus())
                .ok()?
                .to_str()?
                .replace('\\', "/");
            Some(rel)
        })
        .collect();
    let answered: std::collections::BTreeSet<String> = templates
        .iter()
        .filter_map(|t| t["template"].as_str().map(String::from))
        .collect();
    assert_eq!(
        on_disk, answered,
        "templates on disk and in expected.json differ: run python3 scripts/opa-diff/run.py"
    );

    let mut tally: [Tally; 2] = Default::default();
    for entry in templates {
        run_template(entry, &shared, &mut tally);
    }

    let known = known_differences();
    let mut used = vec![false; known.len()];
    let mut report = String::new();
    let mut unexpected = Vec::new();
    for (slot, (engine_name, _)) in ENGINES.iter().enumerate() {
        let t = &tally[slot];
        report.push_str(&format!(
            "{engine_name}: {} agreed, {} disagreed, {} both failed (OPA and portcullis: {}), {} not comparable (OPA strict builtin error); {} of the compared cases against OPA's answer with non-strict builtin errors emulated\n",
            t.agreed,
            t.disagreements.len(),
            t.both_failed.len(),
            t.both_failed.join(", "),
            t.not_comparable.len(),
            t.nonstrict,
        ));
        for line in &t.not_comparable {
            report.push_str(&format!("  not comparable: {line}\n"));
        }
        for (case, what) in &t.disagreements {
            let mut covered = false;
            for (k, entry) in known.iter().enumerate() {
                if glob(&entry.pattern, case) && what.contains(&entry.text) {
                    used[k] = true;
                    covered = true;
                }
            }
            if !covered {
                unexpected.push(format!("{case} {what}"));
            }
        }
    }
    let stale: Vec<String> = known
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(k, _)| format!("line {}: {} | {}", k.line, k.pattern, k.text))
        .collect();
    eprintln!("{report}");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("opa_differential_report.txt");
    let mut full = report.clone();
    for (slot, (engine_name, _)) in ENGINES.iter().enumerate() {
        for (case, what) in &tally[slot].disagreements {
            full.push_str(&format!("{engine_name} {case} {what}\n"));
        }
    }
    let _ = std::fs::write(&out, full);
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} disagreement(s) with OPA not in known_differences.txt:\n{}\n\n{} line(s) of known_differences.txt that cover no disagreement any more (delete them):\n{}\n(full report: {})",
        unexpected.len(),
        unexpected.join("\n"),
        stale.len(),
        stale.join("\n"),
        out.display()
    );
}
