//! `portcullis cert`: make a CA and serving certificate for a webhook deployment.

use std::process::ExitCode;

use crate::cli::CertArgs;

/// Write ca.crt, tls.crt and tls.key into `--out` and print the caBundle. An existing CA
/// is never replaced without `--force`: webhook configurations trust it, and a silent
/// replacement would break every admission call until their caBundle is updated.
pub fn run(args: CertArgs) -> ExitCode {
    let existing = args.out.join("ca.crt");
    if existing.exists() && !args.force {
        return super::fail(
            "cert",
            format!(
                "{} already holds a CA; pass --force to replace it (and update the caBundle of \
                 every webhook configuration that trusts it)",
                existing.display()
            ),
        );
    }
    let bundle = match crate::certs::generate_valid_for(&args.dns_names, args.days) {
        Ok(b) => b,
        Err(e) => return super::fail("cannot generate certificates", e),
    };
    if let Err(e) = bundle.write_to(&args.out) {
        return super::fail("cannot write certificates", e);
    }
    eprintln!(
        "wrote {0}/ca.crt, {0}/tls.crt, {0}/tls.key; the serving certificate expires on {1} \
         ({2} days); caBundle follows",
        args.out.display(),
        bundle.not_after,
        args.days
    );
    let _ = super::emit(&format!("{}\n", bundle.ca_bundle()));
    ExitCode::SUCCESS
}
