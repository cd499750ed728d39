#!/usr/bin/env bash
# Fuzz portcullis's attack surfaces with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh                 # every target for 60 s each
#   scripts/fuzz.sh cel_compile 600 # one target for 10 minutes
#
# cargo-fuzz needs a nightly compiler for its sanitizer flags; with only a stable toolchain
# RUSTC_BOOTSTRAP=1 lets stable rustc accept them. Inputs that crash are left in
# fuzz/artifacts/<target>/; once fixed, copy them to fuzz/regressions/<target>/ so that
# `cargo test` (tests/fuzz_seeds.rs) keeps them fixed. New corpus entries stay in
# fuzz/corpus/ (ignored); the committed seeds are in fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
seconds="${2:-60}"
targets="${1:-}"
if [ -z "$targets" ]; then
  targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^portcullis-fuzz$')
fi
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "== $t ($seconds s)"
  # 8 MiB stack as on the server's evaluation threads; a 2 GiB RSS cap and 10 s per input
  # turn memory blow-ups and hangs into findings.
  ulimit -s 8192
  cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
