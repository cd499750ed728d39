//! `portcullis cert`: make a CA and serving certificate for a webhook deployment.

use std::process::ExitCode;

use crate::cli::CertArgs;

/// Write ca.crt, tls.crt and tls.key into `--out` and print the caBundle.
pub fn run(args: CertArgs) -> ExitCode {
    let bundle = match crate::certs::generate(&args.dns_names) {
        Ok(b) => b,
        Err(e) => return super::fail("cannot generate certificates", e),
    };
    if let Err(e) = bundle.write_to(&args.out) {
        return super::fail("cannot write certificates", e);
    }
    eprintln!(
        "wrote {0}/ca.crt, {0}/tls.crt, {0}/tls.key; caBundle follows",
        args.out.display()
    );
    println!("{}", bundle.ca_bundle());
    ExitCode::SUCCESS
}
