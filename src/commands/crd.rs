//! `portcullis crd`: the constraint CRDs of ConstraintTemplates, for clusters without
//! Gatekeeper's controller and for GitOps repositories that commit them.

use std::process::ExitCode;

use crate::cli::CrdArgs;
use crate::policy::crd::constraint_crd;

/// Print one YAML document per template found; exit 2 when a template is refused (naming
/// it) or no template is found.
pub fn run(args: CrdArgs) -> ExitCode {
    let docs = match crate::manifests::read_paths(&args.paths) {
        Ok(d) => d,
        Err(e) => return super::fail("cannot read templates", e),
    };
    let mut out = Vec::new();
    for d in &docs {
        if d.value.get("kind").and_then(serde_json::Value::as_str) != Some("ConstraintTemplate") {
            continue;
        }
        match constraint_crd(&d.value) {
            Ok(crd) => out.push(crd),
            Err(e) => return super::fail(&d.location, e),
        }
    }
    if out.is_empty() {
        return super::fail("crd", "no ConstraintTemplate among the documents");
    }
    for crd in &out {
        match serde_saphyr::to_string(crd) {
            Ok(yaml) => {
                if super::emit(&format!("---\n{yaml}")).is_err() {
                    return ExitCode::SUCCESS;
                }
            }
            Err(e) => return super::fail("cannot write YAML", e),
        }
    }
    ExitCode::SUCCESS
}
