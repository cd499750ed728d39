//! How two answers to one review differ: the comparison behind `portcullis replay` and the
//! shadow evaluator's disagreements.
//!
//! Answers are compared as the API server and the user see them: admitted or not, the
//! lines of the rejection message, the warnings, the patch. Each difference is attributed
//! to the constraints (or mutators) that make it, read from the `[<constraint>] ...` form of
//! message and warning lines: the recorded answer keeps nothing else, and the lines say
//! exactly what a user was told.

use std::collections::BTreeSet;

use serde::Serialize;

use super::record::RecordedDecision;

/// What changed between a baseline answer and a candidate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Admitted before, rejected now.
    NewlyDenied,
    /// Rejected before, admitted now.
    NewlyAllowed,
    /// Rejected both times, for other reasons (other lines, or another code).
    DenialChanged,
    /// Other warnings.
    WarningsChanged,
    /// Another patch (`/mutate`).
    PatchChanged,
}

impl Change {
    /// Every change, in report order.
    pub const ALL: [Change; 5] = [
        Change::NewlyDenied,
        Change::NewlyAllowed,
        Change::DenialChanged,
        Change::WarningsChanged,
        Change::PatchChanged,
    ];

    /// Report key.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::NewlyDenied => "newly_denied",
            Change::NewlyAllowed => "newly_allowed",
            Change::DenialChanged => "denial_changed",
            Change::WarningsChanged => "warnings_changed",
            Change::PatchChanged => "patch_changed",
        }
    }

    /// Report heading.
    pub fn title(self) -> &'static str {
        match self {
            Change::NewlyDenied => "newly denied",
            Change::NewlyAllowed => "newly allowed",
            Change::DenialChanged => "denied for other reasons",
            Change::WarningsChanged => "changed warnings",
            Change::PatchChanged => "changed patches",
        }
    }

    /// The `outcome` label of a shadow disagreement: what the shadow set would do.
    pub fn shadow_outcome(self) -> &'static str {
        match self {
            Change::NewlyDenied => "would_deny",
            Change::NewlyAllowed => "would_allow",
            Change::DenialChanged => "would_deny_differently",
            Change::WarningsChanged => "would_warn_differently",
            Change::PatchChanged => "would_patch_differently",
        }
    }
}

/// The attribution of a line that names no constraint (a truncation note, a mutation
/// failure).
pub const UNATTRIBUTED: &str = "(unattributed)";
/// The attribution of a patch change when no mutator is known.
pub const MUTATION: &str = "(mutation)";

/// The constraint a `[<constraint>] <message>` line names.
pub fn constraint_of(line: &str) -> &str {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty())
        .unwrap_or(UNATTRIBUTED)
}

fn constraints<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    lines
        .into_iter()
        .map(|l| constraint_of(l).to_string())
        .collect()
}

/// The lines in one set and not the other, attributed.
fn changed<'a>(before: &BTreeSet<&'a str>, after: &BTreeSet<&'a str>) -> BTreeSet<String> {
    constraints(before.symmetric_difference(after).copied())
}

/// Every way `candidate` answers differently from `baseline`, each with the constraints or
/// mutators it is attributed to (never empty). No change: an empty list.
pub fn compare(
    baseline: &RecordedDecision,
    candidate: &RecordedDecision,
) -> Vec<(Change, BTreeSet<String>)> {
    let mut out = Vec::new();
    let before: BTreeSet<&str> = baseline.denial_lines().collect();
    let after: BTreeSet<&str> = candidate.denial_lines().collect();
    let or_unattributed = |mut set: BTreeSet<String>| {
        if set.is_empty() {
            set.insert(UNATTRIBUTED.to_string());
        }
        set
    };
    match (baseline.allowed, candidate.allowed) {
        (true, false) => out.push((Change::NewlyDenied, or_unattributed(constraints(after)))),
        (false, true) => out.push((Change::NewlyAllowed, or_unattributed(constraints(before)))),
        (false, false) if before != after || baseline.code != candidate.code => {
            let mut names = changed(&before, &after);
            if names.is_empty() {
                names = constraints(after);
            }
            out.push((Change::DenialChanged, or_unattributed(names)));
        }
        _ => {}
    }
    let warned: BTreeSet<&str> = baseline.warnings.iter().map(String::as_str).collect();
    let warns: BTreeSet<&str> = candidate.warnings.iter().map(String::as_str).collect();
    if warned != warns {
        out.push((
            Change::WarningsChanged,
            or_unattributed(changed(&warned, &warns)),
        ));
    }
    if baseline.patch != candidate.patch {
        let before: BTreeSet<&String> = baseline.mutators.iter().collect();
        let after: BTreeSet<&String> = candidate.mutators.iter().collect();
        let mut names: BTreeSet<String> = before
            .symmetric_difference(&after)
            .map(|m| (*m).clone())
            .collect();
        if names.is_empty() {
            names = before.union(&after).map(|m| (*m).clone()).collect();
        }
        if names.is_empty() {
            names.insert(MUTATION.to_string());
        }
        out.push((Change::PatchChanged, names));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allowed() -> RecordedDecision {
        RecordedDecision {
            allowed: true,
            code: 200,
            ..RecordedDecision::default()
        }
    }

    fn denied(lines: &[&str]) -> RecordedDecision {
        RecordedDecision {
            allowed: false,
            code: 403,
            message: Some(lines.join("\n")),
            ..RecordedDecision::default()
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn attribution_reads_the_bracketed_name() {
        assert_eq!(constraint_of("[repos] bad image"), "repos");
        assert_eq!(constraint_of("[c] [Implied by expand] x"), "c");
        assert_eq!(constraint_of("... and 3 more"), UNATTRIBUTED);
        assert_eq!(constraint_of("[] x"), UNATTRIBUTED);
        assert_eq!(constraint_of("[unclosed"), UNATTRIBUTED);
    }

    #[test]
    fn same_answer_no_change() {
        assert!(compare(&allowed(), &allowed()).is_empty());
        let d = denied(&["[a] x", "[b] y"]);
        assert!(compare(&d, &d.clone()).is_empty());
        // Line order is not a change.
        assert!(compare(&d, &denied(&["[b] y", "[a] x"])).is_empty());
    }

    #[test]
    fn admission_flips() {
        assert_eq!(
            compare(&allowed(), &denied(&["[a] x", "[b] y", "[a] z"])),
            vec![(Change::NewlyDenied, names(&["a", "b"]))]
        );
        assert_eq!(
            compare(&denied(&["[a] x"]), &allowed()),
            vec![(Change::NewlyAllowed, names(&["a"]))]
        );
        let failed = RecordedDecision {
            allowed: false,
            code: 500,
            message: Some("mutation failed: boom".into()),
            ..RecordedDecision::default()
        };
        assert_eq!(
            compare(&allowed(), &failed),
            vec![(Change::NewlyDenied, names(&[UNATTRIBUTED]))]
        );
    }

    #[test]
    fn other_reasons_name_only_what_changed() {
        assert_eq!(
            compare(&denied(&["[a] x", "[b] y"]), &denied(&["[a] x", "[c] z"])),
            vec![(Change::DenialChanged, names(&["b", "c"]))]
        );
        let mut five_hundred = denied(&["[a] x"]);
        five_hundred.code = 500;
        assert_eq!(
            compare(&denied(&["[a] x"]), &five_hundred),
            vec![(Change::DenialChanged, names(&["a"]))]
        );
    }

    #[test]
    fn warnings_and_patches() {
        let mut b = allowed();
        b.warnings = vec!["[w] old".into(), "[keep] same".into()];
        let mut c = allowed();
        c.warnings = vec!["[keep] same".into(), "[w2] new".into()];
        assert_eq!(
            compare(&b, &c),
            vec![(Change::WarningsChanged, names(&["w", "w2"]))]
        );
        let mut p = allowed();
        p.patch = Some(json!([{"op": "add", "path": "/a", "value": 1}]));
        p.mutators = vec!["Assign/a".into()];
        let mut q = p.clone();
        q.patch = Some(json!([{"op": "add", "path": "/a", "value": 2}]));
        assert_eq!(
            compare(&p, &q),
            vec![(Change::PatchChanged, names(&["Assign/a"]))]
        );
        q.mutators.push("Assign/b".into());
        assert_eq!(
            compare(&p, &q),
            vec![(Change::PatchChanged, names(&["Assign/b"]))]
        );
        assert_eq!(
            compare(
                &allowed(),
                &RecordedDecision {
                    patch: Some(json!([])),
                    ..allowed()
                }
            ),
            vec![(Change::PatchChanged, names(&[MUTATION]))]
        );
        // A change of admission and of warnings at once reports both.
        let mut d = denied(&["[a] x"]);
        d.warnings = vec!["[w] hm".into()];
        let kinds: Vec<Change> = compare(&allowed(), &d)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(kinds, vec![Change::NewlyDenied, Change::WarningsChanged]);
    }
}
