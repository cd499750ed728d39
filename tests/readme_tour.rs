//! Every `cargo run --release -- ...` command the README shows (except `serve`, which the
//! HTTPS tests cover) runs as written on a fresh clone: it finds its files in the
//! repository and ends with a verdict (exit 0 or 1), never a usage or policy error (2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::path::Path;
use std::process::Command;

const PREFIX: &str = "cargo run --release -- ";

/// The commands of the README's shell blocks, as argument lists.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut in_shell = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_shell = line == "```sh";
            continue;
        }
        let Some(rest) = line.strip_prefix(PREFIX).filter(|_| in_shell) else {
            continue;
        };
        let command = rest.split(" #").next().unwrap_or("");
        let args: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        if args.first().is_some_and(|a| a != "serve") {
            out.push(args);
        }
    }
    out
}

#[test]
fn every_command_of_the_readme_runs_as_written() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 5,
        "README commands not found: {commands:?}"
    );
    for args in commands {
        // `cert` writes into a directory of its own; the rest read the repository.
        let scratch = tempfile::tempdir().expect("tempdir");
        let dir = if args[0] == "cert" {
            scratch.path().to_path_buf()
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
        };
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&args)
            .current_dir(&dir)
            .env("RUST_LOG", "warn")
            .output()
            .expect("runs");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "`portcullis {}` exited {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
