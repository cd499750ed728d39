//! `portcullis replay`: recorded reviews judged again with a candidate policy set, through
//! the decision functions the webhook's own judge calls ([`crate::decision::validate_within`],
//! [`crate::decision::mutate_within`]), each record decoded by the webhook's decoder, so that
//! a replayed answer is the answer the webhook would give with that policy set.
//!
//! Records are read a line at a time (a line over [`MAX_LINE_BYTES`] is skipped as
//! unreadable), so a file of any size replays in the memory of one review plus the report,
//! whose examples are bounded per group.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use serde::Serialize;

use super::diff::{self, Change};
use super::record::{Endpoint, Record, RecordedDecision};
use crate::deadline::Deadline;
use crate::decision::{self, Bounds, FailurePolicy, ServerEnforcement};
use crate::review::Review;
use crate::snapshot::PolicySnapshot;

/// Longest record line read: a review is at most the webhook's body limit (6 MiB by
/// default) and its record a little more.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Namespaces listed per change at most; the rest are counted under [`OTHER_NAMESPACES`].
pub const MAX_NAMESPACE_GROUPS: usize = 1000;
/// Where namespaces beyond [`MAX_NAMESPACE_GROUPS`] are counted.
pub const OTHER_NAMESPACES: &str = "(other namespaces)";
/// The namespace group of cluster-scoped objects.
pub const CLUSTER_SCOPED: &str = "(cluster-scoped)";
/// Unreadable lines quoted in the report at most.
const MAX_UNREADABLE_EXAMPLES: usize = 10;

/// How reviews are judged: as `serve` judges them with the same flags.
#[derive(Debug, Clone, Copy)]
pub struct JudgeOptions {
    /// `--enforcement`.
    pub enforcement: ServerEnforcement,
    /// `--eval-timeout`: each review's deadline.
    pub eval_timeout: Duration,
    /// `--validate-failure-policy`.
    pub validate_failure_policy: FailurePolicy,
    /// `--mutate-failure-policy`.
    pub mutate_failure_policy: FailurePolicy,
}

impl Default for JudgeOptions {
    fn default() -> Self {
        JudgeOptions {
            enforcement: ServerEnforcement::Deny,
            eval_timeout: Duration::from_millis(2500),
            validate_failure_policy: FailurePolicy::Fail,
            mutate_failure_policy: FailurePolicy::Ignore,
        }
    }
}

/// The answer the webhook gives to `review` at `endpoint` with `snapshot`.
pub fn judge(
    snapshot: &PolicySnapshot,
    endpoint: Endpoint,
    review: &Review,
    options: &JudgeOptions,
) -> RecordedDecision {
    let deadline = Deadline::after(options.eval_timeout);
    match endpoint {
        Endpoint::Validate => {
            let bounds = Bounds {
                deadline,
                failure_policy: options.validate_failure_policy,
            };
            let v = decision::validate_within(snapshot, review, options.enforcement, bounds);
            RecordedDecision::new(&v.decision, &[])
        }
        Endpoint::Mutate => match decision::mutate_within(snapshot, review, deadline) {
            Ok((d, outcome)) => {
                let applied = outcome.map(|o| o.applied).unwrap_or_default();
                RecordedDecision::new(&d, &applied)
            }
            Err(e) => RecordedDecision::new(
                &decision::mutation_failed(&e, options.mutate_failure_policy),
                &[],
            ),
        },
    }
}

/// Decode a recorded request with the webhook's decoder.
pub fn review_of(request: serde_json::Value) -> Result<Review, String> {
    // Built by hand: `json!` would copy the request value by value.
    let mut doc = serde_json::Map::new();
    doc.insert("apiVersion".into(), "admission.k8s.io/v1".into());
    doc.insert("kind".into(), "AdmissionReview".into());
    doc.insert("request".into(), request);
    crate::admission::from_value(serde_json::Value::Object(doc))
        .map(|d| d.review)
        .map_err(|e| e.to_string())
}

/// Lines of a reader, each at most [`MAX_LINE_BYTES`]; longer ones come back as `Err`.
pub struct Lines<R> {
    inner: R,
    max: usize,
    /// 1-based number of the last line returned.
    pub number: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `inner`.
    pub fn new(inner: R) -> Self {
        Lines::with_limit(inner, MAX_LINE_BYTES)
    }

    /// Lines of `inner` at most `max` bytes long.
    pub fn with_limit(inner: R, max: usize) -> Self {
        Lines {
            inner,
            max,
            number: 0,
        }
    }

    /// The next line (without its newline) into `buf`: `Ok(true)` read, `Ok(false)` the
    /// end, `Err` an I/O error. A line over the limit is consumed and left empty, with
    /// `too_long` set.
    pub fn next_into(&mut self, buf: &mut Vec<u8>, too_long: &mut bool) -> std::io::Result<bool> {
        buf.clear();
        *too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if any {
                    self.number += 1;
                }
                return Ok(any);
            }
            any = true;
            let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (available.get(..i).unwrap_or_default(), Some(i + 1)),
                None => (available, None),
            };
            if !*too_long {
                if buf.len() + chunk.len() > self.max {
                    *too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            let used = done.unwrap_or(available.len());
            self.inner.consume(used);
            if done.is_some() {
                self.number += 1;
                return Ok(true);
            }
        }
    }
}

/// One review that changed, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// `file:line` of the record.
    pub at: String,
    /// Which webhook.
    pub endpoint: Endpoint,
    /// CREATE, UPDATE, ...
    pub operation: &'static str,
    /// The object's kind.
    pub kind: String,
    /// Its namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The request uid.
    pub uid: String,
    /// The baseline's answer.
    pub baseline: RecordedDecision,
    /// The candidate's answer.
    pub candidate: RecordedDecision,
}

/// Reviews with one change, attributed to one constraint or one namespace.
#[derive(Debug, Default, Serialize)]
pub struct Group {
    /// How many.
    pub reviews: u64,
    /// The first few.
    pub examples: Vec<Example>,
}

/// Reviews with one kind of change.
#[derive(Debug, Default, Serialize)]
pub struct Category {
    /// How many reviews changed so.
    pub reviews: u64,
    /// By the constraint (or mutator) the change is attributed to; a review attributed to
    /// two constraints counts under both.
    pub by_constraint: BTreeMap<String, Group>,
    /// By the review's namespace.
    pub by_namespace: BTreeMap<String, Group>,
}

/// What a replay found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Record lines read.
    pub records: u64,
    /// Reviews judged.
    pub judged: u64,
    /// Reviews answered the same.
    pub unchanged: u64,
    /// Lines that were not a record of a review.
    pub unreadable: u64,
    /// The first unreadable lines, `file:line: why`.
    pub unreadable_examples: Vec<String>,
    /// Changes by kind (`newly_denied`, `newly_allowed`, `denial_changed`,
    /// `warnings_changed`, `patch_changed`).
    pub changes: BTreeMap<&'static str, Category>,
    /// Examples kept per group.
    #[serde(skip)]
    examples: usize,
}

impl Report {
    /// An empty report keeping `examples` examples per group.
    pub fn new(examples: usize) -> Self {
        Report {
            records: 0,
            judged: 0,
            unchanged: 0,
            unreadable: 0,
            unreadable_examples: Vec::new(),
            changes: Change::ALL
                .iter()
                .map(|c| (c.as_str(), Category::default()))
                .collect(),
            examples,
        }
    }

    /// Reviews with `change`.
    pub fn count(&self, change: Change) -> u64 {
        self.changes.get(change.as_str()).map_or(0, |c| c.reviews)
    }

    fn unreadable(&mut self, at: String, why: &str) {
        self.unreadable += 1;
        if self.unreadable_examples.len() < MAX_UNREADABLE_EXAMPLES {
            self.unreadable_examples
                .push(format!("{at}: {}", crate::text::field(why)));
        }
    }

    /// Add one judged review.
    pub fn add(
        &mut self,
        at: &dyn std::fmt::Display,
        endpoint: Endpoint,
        review: &Review,
        baseline: &RecordedDecision,
        candidate: &RecordedDecision,
    ) {
        self.judged += 1;
        let changes = diff::compare(baseline, candidate);
        if changes.is_empty() {
            self.unchanged += 1;
            return;
        }
        let limit = self.examples;
        let example = || Example {
            at: at.to_string(),
            endpoint,
            operation: review.operation.as_str(),
            kind: review.gvk.kind.clone(),
            namespace: review.namespace.clone(),
            name: review.name.clone(),
            uid: review.uid.clone(),
            baseline: baseline.clone(),
            candidate: candidate.clone(),
        };
        let add_to = |group: &mut Group| {
            group.reviews += 1;
            if group.examples.len() < limit {
                group.examples.push(example());
            }
        };
        let namespace = if review.namespace.is_empty() {
            CLUSTER_SCOPED
        } else {
            review.namespace.as_str()
        };
        for (change, names) in changes {
            let Some(category) = self.changes.get_mut(change.as_str()) else {
                continue;
            };
            category.reviews += 1;
            for name in names {
                add_to(category.by_constraint.entry(name).or_default());
            }
            let key = if category.by_namespace.contains_key(namespace)
                || category.by_namespace.len() < MAX_NAMESPACE_GROUPS
            {
                namespace
            } else {
                OTHER_NAMESPACES
            };
            add_to(category.by_namespace.entry(key.to_string()).or_default());
        }
    }
}

/// A replay: the candidate set, and the baseline set when one is given (else the recorded
/// answers are the baseline).
pub struct Replay<'a> {
    /// The policy set under test.
    pub candidate: &'a PolicySnapshot,
    /// The policy set serving now, if given.
    pub baseline: Option<&'a PolicySnapshot>,
    /// How to judge.
    pub options: JudgeOptions,
}

/// Lines judged together: read in order, judged by `jobs` threads, reported in order.
const BATCH_LINES: usize = 256;
/// A batch is also closed once it holds this many bytes, so that a file of large reviews
/// keeps a batch's memory bounded.
const BATCH_BYTES: usize = 32 << 20;

/// What one line came to.
enum Outcome {
    Blank,
    Unreadable(String),
    Judged(Box<Judged>),
}

/// A judged record: its review and the two answers.
struct Judged {
    endpoint: Endpoint,
    review: Review,
    baseline: RecordedDecision,
    candidate: RecordedDecision,
}

impl Replay<'_> {
    fn judge_line(&self, line: &[u8]) -> Outcome {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Outcome::Blank;
        }
        let record: Record = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return Outcome::Unreadable(e.to_string()),
        };
        let review = match review_of(record.request) {
            Ok(r) => r,
            Err(e) => return Outcome::Unreadable(e),
        };
        let candidate = judge(self.candidate, record.endpoint, &review, &self.options);
        let baseline = match self.baseline {
            Some(b) => judge(b, record.endpoint, &review, &self.options),
            None => record.decision,
        };
        Outcome::Judged(Box::new(Judged {
            endpoint: record.endpoint,
            review,
            baseline,
            candidate,
        }))
    }

    fn judge_batch(&self, batch: &[Result<Vec<u8>, ()>], jobs: usize) -> Vec<Outcome> {
        let one = |line: &Result<Vec<u8>, ()>| match line {
            Ok(bytes) => self.judge_line(bytes),
            Err(()) => Outcome::Unreadable("line longer than the 64 MiB limit".into()),
        };
        if jobs <= 1 || batch.len() < 2 {
            return batch.iter().map(one).collect();
        }
        let chunk = batch.len().div_ceil(jobs);
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(chunk)
                .map(|part| {
                    let handle = scope.spawn(move || part.iter().map(one).collect::<Vec<_>>());
                    (part.len(), handle)
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|(len, h)| {
                    // A judging thread that panicked: its lines are reported as unreadable
                    // rather than taking the replay down.
                    h.join().unwrap_or_else(|_| {
                        (0..len)
                            .map(|_| Outcome::Unreadable("judging this record failed".into()))
                            .collect()
                    })
                })
                .collect()
        })
    }

    /// Replay every record of `reader` (named `name` in the report) into `report`, judging
    /// with `jobs` threads (the report is the same for any number).
    ///
    /// # Errors
    /// Reading failed.
    pub fn run(
        &self,
        name: &str,
        reader: impl BufRead,
        report: &mut Report,
        jobs: usize,
    ) -> std::io::Result<()> {
        let mut lines = Lines::new(reader);
        let mut buf = Vec::new();
        let mut too_long = false;
        let mut more = true;
        while more {
            let first = lines.number + 1;
            let mut batch: Vec<Result<Vec<u8>, ()>> = Vec::new();
            let mut bytes = 0;
            while batch.len() < BATCH_LINES && bytes < BATCH_BYTES {
                more = lines.next_into(&mut buf, &mut too_long)?;
                if !more {
                    break;
                }
                bytes += buf.len();
                batch.push(if too_long {
                    Err(())
                } else {
                    Ok(std::mem::take(&mut buf))
                });
            }
            let outcomes = self.judge_batch(&batch, jobs);
            drop(batch);
            for (i, outcome) in (first..).zip(outcomes) {
                // Formatted only when an example or an unreadable line quotes it.
                let at = format_args!("{name}:{i}");
                match outcome {
                    Outcome::Blank => {}
                    Outcome::Unreadable(why) => {
                        report.records += 1;
                        report.unreadable(at.to_string(), &why);
                    }
                    Outcome::Judged(j) => {
                        report.records += 1;
                        report.add(&at, j.endpoint, &j.review, &j.baseline, &j.candidate);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8], max: usize) -> Vec<Result<String, ()>> {
        // A tiny buffer, so that lines straddle refills.
        let mut lines = Lines::with_limit(std::io::BufReader::with_capacity(3, text), max);
        let (mut buf, mut long) = (Vec::new(), false);
        let mut out = Vec::new();
        while lines.next_into(&mut buf, &mut long).expect("read") {
            out.push(if long {
                Err(())
            } else {
                Ok(String::from_utf8(buf.clone()).expect("utf8"))
            });
        }
        out
    }

    #[test]
    fn lines_are_capped_and_streamed() {
        assert_eq!(
            lines_of(b"ab\n\nabcdefgh\nxyz", 5),
            vec![
                Ok("ab".into()),
                Ok(String::new()),
                Err(()),
                Ok("xyz".into())
            ]
        );
        assert_eq!(lines_of(b"", 5), Vec::<Result<String, ()>>::new());
        assert_eq!(lines_of(b"a\n", 5), vec![Ok("a".into())]);
    }

    fn snapshot(repos: &[&str]) -> PolicySnapshot {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let template =
            std::fs::read_to_string(dir.join("library/k8sallowedrepos.yaml")).expect("template");
        let constraint = format!(
            "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {{name: repos}}\nspec:\n  match: {{kinds: [{{apiGroups: [\"\"], kinds: [Pod]}}]}}\n  parameters: {{repos: {repos:?}}}\n"
        );
        let docs =
            crate::manifests::parse_documents(&format!("{template}\n---\n{constraint}"), "test")
                .expect("documents");
        PolicySnapshot::build(&docs, &Default::default()).expect("snapshot")
    }

    fn record(uid: &str, ns: &str, image: &str, allowed: bool) -> String {
        let request = serde_json::json!({
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": ns, "name": uid,
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": uid, "namespace": ns},
                       "spec": {"containers": [{"name": "app", "image": image}]}},
        });
        let decision = RecordedDecision {
            allowed,
            code: if allowed { 200 } else { 403 },
            message: (!allowed).then(|| "[repos] recorded".to_string()),
            ..RecordedDecision::default()
        };
        let r = Record {
            time: 0,
            endpoint: Endpoint::Validate,
            request,
            decision,
        };
        serde_json::to_string(&r).expect("json")
    }

    #[test]
    fn replays_against_recorded_answers_and_a_baseline() {
        let records = [
            record("a", "prod", "registry.k8s.io/pause", true),
            record("b", "dev", "docker.io/library/nginx", true),
            record("c", "dev", "docker.io/library/redis", true),
            "not json".to_string(),
            record("d", "prod", "evil.io/x", false),
        ]
        .join("\n");
        let tight = snapshot(&["registry.k8s.io/"]);
        let loose = snapshot(&["registry.k8s.io/", "docker.io/library/"]);
        let mut report = Report::new(1);
        Replay {
            candidate: &tight,
            baseline: None,
            options: JudgeOptions::default(),
        }
        .run("r.ndjson", records.as_bytes(), &mut report, 3)
        .expect("replay");
        assert_eq!(
            (report.records, report.judged, report.unreadable),
            (5, 4, 1)
        );
        assert!(
            report.unreadable_examples[0].starts_with("r.ndjson:4: "),
            "{report:?}"
        );
        assert_eq!(report.count(Change::NewlyDenied), 2);
        let denied = &report.changes["newly_denied"];
        assert_eq!(denied.by_constraint["repos"].reviews, 2);
        assert_eq!(denied.by_constraint["repos"].examples.len(), 1, "bounded");
        assert_eq!(denied.by_namespace["dev"].reviews, 2);
        assert_eq!(denied.by_constraint["repos"].examples[0].name, "b");
        assert_eq!(denied.by_constraint["repos"].examples[0].at, "r.ndjson:2");
        // The recorded denial of d had another message: denied for other reasons.
        assert_eq!(report.count(Change::DenialChanged), 1);
        assert_eq!(report.count(Change::NewlyAllowed), 0);

        // With a baseline set, the recorded answers are not read: both sets deny d, with
        // messages that quote their own repository lists.
        let mut report = Report::new(3);
        Replay {
            candidate: &tight,
            baseline: Some(&loose),
            options: JudgeOptions::default(),
        }
        .run("r.ndjson", records.as_bytes(), &mut report, 1)
        .expect("replay");
        assert_eq!(report.count(Change::NewlyDenied), 2);
        assert_eq!(report.count(Change::DenialChanged), 1);
        let changed = &report.changes["denial_changed"].by_constraint["repos"].examples[0];
        assert_eq!(changed.name, "d");
        assert!(
            changed
                .baseline
                .message
                .as_deref()
                .unwrap_or("")
                .contains("docker.io/library/"),
            "the baseline's answer is judged, not read: {changed:?}"
        );
        assert_eq!(report.unchanged, 1);
    }

    #[test]
    fn any_number_of_threads_gives_the_same_report() {
        let mut lines: Vec<String> = (0..700)
            .map(|i| {
                let image = if i % 7 == 0 {
                    "evil.io/x"
                } else {
                    "docker.io/library/nginx"
                };
                record(&format!("u{i}"), &format!("ns{}", i % 5), image, true)
            })
            .collect();
        lines.insert(300, "{broken".into());
        lines.insert(10, String::new());
        let text = lines.join("\n");
        let tight = snapshot(&["registry.k8s.io/"]);
        let report_with = |jobs| {
            let mut report = Report::new(2);
            Replay {
                candidate: &tight,
                baseline: None,
                options: JudgeOptions::default(),
            }
            .run("r", text.as_bytes(), &mut report, jobs)
            .expect("replay");
            serde_json::to_value(&report).expect("json")
        };
        let one = report_with(1);
        assert_eq!(one["records"], 701, "the blank line is not a record");
        assert_eq!(
            one["unreadable_examples"][0]
                .as_str()
                .map(|s| s.starts_with("r:302: ")),
            Some(true),
            "{}",
            one["unreadable_examples"]
        );
        assert_eq!(one["changes"]["newly_denied"]["reviews"], 700);
        assert_eq!(
            one["changes"]["newly_denied"]["by_constraint"]["repos"]["examples"][1]["at"],
            "r:2"
        );
        for jobs in [2, 3, 8] {
            assert_eq!(report_with(jobs), one, "{jobs} threads");
        }
    }
}
