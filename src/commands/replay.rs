//! `portcullis replay`: recorded reviews judged with a candidate policy set; what would
//! change, by constraint and by namespace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{OutputFormat, ReplayArgs};
use crate::impact::diff::Change;
use crate::impact::replay::{Example, Group, JudgeOptions, Replay, Report};
use crate::snapshot::{BuildOptions, PolicySnapshot};
use crate::sources::file::FileSource;

/// Namespaces listed per change in the text report; the JSON report has them all.
const TEXT_NAMESPACES: usize = 20;

fn load(dir: &Path, args: &ReplayArgs) -> Result<PolicySnapshot, ExitCode> {
    FileSource::new(
        dir,
        BuildOptions {
            engine: crate::cli::engine_choice(args.engine),
        },
    )
    .load()
    .map_err(|e| super::fail(&format!("policy set {} rejected", dir.display()), e))
}

/// The record files named: files as given, directories' files by name.
fn record_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ExitCode> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| super::fail(&path.display().to_string(), e))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Replay, print the report, exit 1 when a review would be newly denied.
pub fn run(args: ReplayArgs) -> ExitCode {
    let candidate = match load(&args.policies, &args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let baseline = match &args.baseline {
        Some(dir) => match load(dir, &args) {
            Ok(s) => Some(s),
            Err(code) => return code,
        },
        None => None,
    };
    let files = match record_files(&args.records) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let replay = Replay {
        candidate: &candidate,
        baseline: baseline.as_ref(),
        options: JudgeOptions {
            enforcement: args.enforcement,
            eval_timeout: args.eval_timeout,
            ..JudgeOptions::default()
        },
    };
    let mut report = Report::new(args.examples);
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    for file in &files {
        let name = file.display().to_string();
        let result = if file.as_os_str() == "-" {
            replay.run("-", std::io::stdin().lock(), &mut report, jobs)
        } else {
            match std::fs::File::open(file) {
                Ok(f) => replay.run(&name, std::io::BufReader::new(f), &mut report, jobs),
                Err(e) => return super::fail(&name, e),
            }
        };
        if let Err(e) = result {
            return super::fail(&name, e);
        }
    }
    // A reader that went away (`| head`) ends the output, never the verdict.
    let _ = match args.output {
        OutputFormat::Text => super::emit(&text(&report, files.len())),
        OutputFormat::Json => super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )),
        OutputFormat::Yaml => super::emit(&serde_saphyr::to_string(&report).unwrap_or_default()),
        OutputFormat::Junit => super::emit(&junit(&report)),
    };
    if report.judged == 0 && report.unreadable > 0 {
        eprintln!("error: no record could be read");
        ExitCode::from(2)
    } else if report.count(Change::NewlyDenied) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The first line of an answer worth showing for a change.
fn summary(change: Change, ex: &Example) -> String {
    let first = |d: &crate::impact::RecordedDecision| {
        d.denial_lines().next().unwrap_or_default().to_string()
    };
    match change {
        Change::NewlyDenied => first(&ex.candidate),
        Change::NewlyAllowed => format!("was: {}", first(&ex.baseline)),
        Change::DenialChanged => {
            format!(
                "was: {} / now: {}",
                first(&ex.baseline),
                first(&ex.candidate)
            )
        }
        Change::WarningsChanged => format!(
            "warnings were: [{}] / now: [{}]",
            ex.baseline.warnings.join("; "),
            ex.candidate.warnings.join("; ")
        ),
        Change::PatchChanged => format!(
            "patch was: {} / now: {}",
            ex.baseline
                .patch
                .as_ref()
                .map_or("none".into(), |p| p.to_string()),
            ex.candidate
                .patch
                .as_ref()
                .map_or("none".into(), |p| p.to_string())
        ),
    }
}

fn object(ex: &Example) -> String {
    let name = if ex.namespace.is_empty() {
        ex.name.clone()
    } else {
        format!("{}/{}", ex.namespace, ex.name)
    };
    format!(
        "{} {} ({} {}, {})",
        crate::text::field(&ex.kind),
        crate::text::field(&name),
        ex.endpoint.as_str(),
        ex.operation,
        ex.at
    )
}

/// Groups, most reviews first.
fn ranked(groups: &std::collections::BTreeMap<String, Group>) -> Vec<(&String, &Group)> {
    let mut list: Vec<(&String, &Group)> = groups.iter().collect();
    list.sort_by(|a, b| b.1.reviews.cmp(&a.1.reviews).then(a.0.cmp(b.0)));
    list
}

fn text(report: &Report, files: usize) -> String {
    let mut out = format!(
        "replayed {} records from {files} file{}: {} judged, {} unchanged, {} unreadable\n",
        report.records,
        if files == 1 { "" } else { "s" },
        report.judged,
        report.unchanged,
        report.unreadable
    );
    for change in Change::ALL {
        let Some(category) = report.changes.get(change.as_str()) else {
            continue;
        };
        out.push_str(&format!(
            "{}: {} reviews\n",
            change.title(),
            category.reviews
        ));
        if category.reviews == 0 {
            continue;
        }
        // Examples under constraints only: the namespaces' would repeat them (the JSON
        // report has both).
        let mut section = |heading: &str,
                           groups: &std::collections::BTreeMap<String, Group>,
                           cap: usize,
                           examples: bool| {
            out.push_str(&format!("  by {heading}:\n"));
            let list = ranked(groups);
            for (name, group) in list.iter().take(cap) {
                out.push_str(&format!(
                    "    {}: {}\n",
                    crate::text::field(name),
                    group.reviews
                ));
                for ex in group.examples.iter().filter(|_| examples) {
                    out.push_str(&format!(
                        "      {}: {}\n",
                        object(ex),
                        crate::text::field(&summary(change, ex))
                    ));
                }
            }
            if list.len() > cap {
                out.push_str(&format!("    ... and {} more\n", list.len() - cap));
            }
        };
        section("constraint", &category.by_constraint, usize::MAX, true);
        section("namespace", &category.by_namespace, TEXT_NAMESPACES, false);
    }
    if !report.unreadable_examples.is_empty() {
        out.push_str("unreadable lines:\n");
        for line in &report.unreadable_examples {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// JUnit: a test case per change and constraint, failed for new denials; other changes
/// pass with their examples as output; unreadable lines are an error case.
fn junit(report: &Report) -> String {
    use super::junit::{render, Case};
    let mut cases = Vec::new();
    for change in Change::ALL {
        let Some(category) = report.changes.get(change.as_str()) else {
            continue;
        };
        for (name, group) in ranked(&category.by_constraint) {
            let examples: Vec<String> = group
                .examples
                .iter()
                .map(|ex| format!("{}: {}", object(ex), summary(change, ex)))
                .collect();
            let line = format!("{} reviews {}", group.reviews, change.title());
            let mut case = Case {
                name: name.clone(),
                classname: format!("replay.{}", change.as_str()),
                ..Case::default()
            };
            if change == Change::NewlyDenied {
                case.failure = Some((line, examples.join("\n")));
            } else {
                case.output = format!("{line}\n{}", examples.join("\n"));
            }
            cases.push(case);
        }
    }
    if report.unreadable > 0 {
        cases.push(Case {
            name: "unreadable records".into(),
            classname: "replay".into(),
            error: Some((
                format!("{} lines are not records", report.unreadable),
                report.unreadable_examples.join("\n"),
            )),
            ..Case::default()
        });
    }
    if cases.is_empty() {
        cases.push(Case {
            name: "recorded reviews".into(),
            classname: "replay".into(),
            output: format!(
                "{} reviews judged, none answered differently",
                report.judged
            ),
            ..Case::default()
        });
    }
    render("portcullis replay", &cases)
}
