//! `portcullis vap`: CEL templates and their constraints as ValidatingAdmissionPolicies and
//! bindings, for the API server to enforce without the webhook.

use std::process::ExitCode;

use crate::cli::VapArgs;
use crate::vap::{export, functions, ExportOptions};

/// Print every policy and binding as YAML documents; name each template or constraint that
/// cannot be expressed, with the reason, on standard error. Exit 0 when everything was
/// exported, 1 when something was skipped, 2 when nothing could be exported or an input is
/// invalid (then nothing is printed).
pub fn run(args: VapArgs) -> ExitCode {
    let kubernetes = match functions::parse_version(&args.kubernetes_version) {
        Ok(v) => v,
        Err(e) => return super::fail("--kubernetes-version", e),
    };
    let docs = match crate::manifests::read_paths(&args.paths) {
        Ok(d) => d,
        Err(e) => return super::fail("cannot read policies", e),
    };
    let exported = match export(&docs, &ExportOptions { kubernetes }) {
        Ok(e) => e,
        Err(e) => return super::fail("vap", e),
    };
    for s in &exported.skipped {
        eprintln!("skipped: {}: {}", s.what, s.reason);
    }
    if exported.objects.is_empty() {
        return super::fail(
            "vap",
            "nothing to export (no K8sNativeValidation template that can be expressed)",
        );
    }
    for object in &exported.objects {
        match serde_saphyr::to_string(object) {
            Ok(yaml) => {
                if super::emit(&format!("---\n{yaml}")).is_err() {
                    break;
                }
            }
            Err(e) => return super::fail("cannot write YAML", e),
        }
    }
    if exported.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
