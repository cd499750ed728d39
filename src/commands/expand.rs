//! `portcullis expand`: the resources the policy directory's ExpansionTemplates generate
//! from manifests, mutators applied, as the webhook judges them (and as `gator expand`
//! prints them).

use std::process::ExitCode;

use crate::cli::ExpandArgs;
use crate::deadline::Deadline;
use crate::review::Review;
use crate::snapshot::BuildOptions;
use crate::sources::file::FileSource;

/// Print one YAML document per generated resource; exit 2 on a policy error or when an
/// object cannot be expanded (naming it).
pub fn run(args: ExpandArgs) -> ExitCode {
    let snapshot = match FileSource::new(&args.policies, BuildOptions::default()).load() {
        Ok(s) => s,
        Err(e) => return super::fail("policy set rejected", e),
    };
    let docs = match crate::manifests::read_paths(&args.paths) {
        Ok(d) => d,
        Err(e) => return super::fail("cannot read manifests", e),
    };
    for d in docs {
        let review = Review::from_object(d.value);
        let resultants = match crate::expand::expand(&snapshot, &review, Deadline::NONE) {
            Ok(r) => r,
            Err(e) => return super::fail(&d.location, e),
        };
        for r in resultants {
            match serde_saphyr::to_string(r.review.object()) {
                Ok(yaml) => {
                    let doc = format!(
                        "---\n# generated from {} by {}\n{yaml}",
                        d.location, r.template
                    );
                    if super::emit(&doc).is_err() {
                        return ExitCode::SUCCESS;
                    }
                }
                Err(e) => return super::fail("cannot write YAML", e),
            }
        }
    }
    ExitCode::SUCCESS
}
