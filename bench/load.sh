#!/usr/bin/env bash
# Load benchmark: portcullis against a trivial TLS webhook, same machine, same run, same
# load generator (oha), on loopback. Prints requests/s, latency percentiles, RSS and the
# portcullis/trivial ratio for /validate and /mutate over HTTP/1.1 and HTTP/2.
#
# Two kinds of run. "max": as many requests as 32 connections can push (closed loop); there
# the latency of a server is tied to its throughput (a server half as fast has twice the
# queue), so its p99 ratio mostly restates the throughput ratio. "rate": a fixed offered load
# (RATE requests/s, open loop, latency counted from when each request was due, so a stall is
# not hidden by the generator waiting) that every server here sustains, as the API server
# offers its webhooks: the latency ratios of these runs compare the servers at equal load.
#
#   bench/load.sh                       # 10 s per run, 32 connections, rate runs at 3000/s x3
#   DURATION=30s CONNS=64 RATE=5000 ROUNDS=5 bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-32}
RATE=${RATE:-3000}
ROUNDS=${ROUNDS:-3}
CONFORMANCE=${CONFORMANCE:-../shared/conformance/gatekeeper-library/library}

command -v oha >/dev/null || cargo install oha --locked
cargo build --release --bin portcullis --example trivial-webhook >&2
BIN=target/release/portcullis
TRIVIAL=target/release/examples/trivial-webhook

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
$BIN cert --out "$work/certs" >/dev/null 2>&1

# Native policy set: the library's Native templates, 20 constraints, 5 mutators.
mkdir -p "$work/native" "$work/rego" "$work/native100"
cp policies/library/*.yaml bench/policies/*.yaml "$work/native/"
# Rego policy set: the same 20 constraints on the Gatekeeper library's Rego templates.
rego_ok=0
if [ -d "$CONFORMANCE" ]; then
  for t in allowedrepos containerlimits containerrequests requiredlabels requiredprobes disallowedtags; do
    cp "$CONFORMANCE/general/$t/template.yaml" "$work/rego/$t.yaml"
  done
  cp bench/policies/constraints.yaml bench/policies/namespaces.yaml "$work/rego/"
  rego_ok=1
fi
# 100 constraints: the 20 five times over under other names (memory figure).
cp policies/library/*.yaml bench/policies/namespaces.yaml "$work/native100/"
for i in 1 2 3 4 5; do
  sed "s/\"name\": \"\([a-z0-9-]*\)\"}/\"name\": \"\1-$i\"}/" bench/policies/constraints.yaml > "$work/native100/c$i.yaml"
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
port=18500
pid=
start_server() { # command... (the listen address is $addr)
  "$@" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    curl -sk -o /dev/null "https://$addr/healthz" && return 0
    sleep 0.1
  done
  echo "server did not start: $*" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
next_addr() { port=$((port + 1)); addr="127.0.0.1:$port"; }
serve() { # policy-dir [flags...]
  local dir=$1; shift
  start_server env RUST_LOG=warn "$BIN" serve --policies "$dir" --addr "$addr" \
    --tls-cert "$work/certs/tls.crt" --tls-key "$work/certs/tls.key" --metrics-addr 127.0.0.1:0 "$@"
}
results="$work/results.tsv"
run_load() { # label endpoint http-version [rate]: as fast as possible, or at `rate` req/s
  local label=$1 endpoint=$2 proto=$3 rate=${4:-}
  local url="https://$addr/$endpoint" mode=max pace=()
  if [ -n "$rate" ]; then mode="$rate/s"; pace=(-q "$rate" --latency-correction); fi
  oha --no-tui --insecure --output-format quiet -z "$WARMUP" -c "$CONNS" --http-version "$proto" \
    "${pace[@]}" -m POST -H 'content-type: application/json' -D bench/review-pod.json "$url" >/dev/null
  oha --no-tui --insecure --output-format json -z "$DURATION" -c "$CONNS" --http-version "$proto" \
    "${pace[@]}" -m POST -H 'content-type: application/json' -D bench/review-pod.json "$url" >"$work/oha.json"
  python3 - "$label" "$endpoint" "$proto" "$(rss_kib "$pid")" "$(hwm_kib "$pid")" "$work/oha.json" "$mode" >>"$results" <<'PY'
import json, sys
label, endpoint, proto, rss, hwm, path, mode = sys.argv[1:]
d = json.load(open(path))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
# oha cancels the requests in flight when the duration ends ("aborted due to deadline",
# about one per connection); those are not server failures.
errors = {k: v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k}
bad = sum(v for k, v in codes.items() if k != "200") + sum(errors.values())
print("\t".join([label, endpoint, proto, f"{s['requestsPerSec']:.0f}", f"{p['p50']*1e3:.3f}",
                 f"{p['p99']*1e3:.3f}", f"{p['p99.9']*1e3:.3f}", f"{int(rss)/1024:.1f}", f"{int(hwm)/1024:.1f}",
                 str(ok), str(bad), mode]))
PY
}

echo "load: $DURATION per run after $WARMUP warm-up, $CONNS connections, rate runs at $RATE/s, $(nproc) cores" >&2

next_addr
start_server "$TRIVIAL" "$addr" "$work/certs/tls.crt" "$work/certs/tls.key"
for ep in validate mutate; do for pr in 1.1 2; do run_load trivial "$ep" "$pr"; done; done
stop_server

next_addr
serve "$work/native"
idle_native=$(rss_kib "$pid")
for ep in validate mutate; do for pr in 1.1 2; do run_load portcullis "$ep" "$pr"; done; done
stop_server

if [ "$rego_ok" = 1 ]; then
  next_addr
  serve "$work/rego" --engine rego
  for pr in 1.1 2; do run_load portcullis-rego validate "$pr"; done
  stop_server
  # The same constraints on regorus's interpreter (no compiled path), for comparison.
  next_addr
  serve "$work/rego" --engine rego-interpreter
  run_load rego-interp validate 1.1
  stop_server
fi

next_addr
serve "$work/native100"
idle_100=$(rss_kib "$pid")
run_load portcullis-100 validate 1.1
stop_server

# Equal offered load: every server up at once (idle, they cost nothing), their runs taken in
# turns, ROUNDS times, so the drift of a shared machine falls on all of them alike; the table
# shows the median of the rounds.
declare -A pid_of addr_of
keep() { pid_of[$1]=$pid; addr_of[$1]=$addr; } # label: the server just started
next_addr; start_server "$TRIVIAL" "$addr" "$work/certs/tls.crt" "$work/certs/tls.key"; keep trivial
next_addr; serve "$work/native"; keep portcullis
if [ "$rego_ok" = 1 ]; then next_addr; serve "$work/rego" --engine rego; keep portcullis-rego; fi
next_addr; serve "$work/native100"; keep portcullis-100
rate_runs=("trivial validate" "trivial mutate" "portcullis validate" "portcullis mutate" "portcullis-100 validate")
[ "$rego_ok" = 1 ] && rate_runs+=("portcullis-rego validate")
for _ in $(seq "$ROUNDS"); do
  for run in "${rate_runs[@]}"; do
    read -r label ep <<<"$run"
    pid=${pid_of[$label]} addr=${addr_of[$label]}
    run_load "$label" "$ep" 1.1 "$RATE"
  done
done
for p in "${pid_of[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done

python3 - "$results" "$idle_native" "$idle_100" <<'PY'
import sys
import statistics
raw = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
# Repeated runs of one server, endpoint, protocol and load: the median of each figure
# (peak memory: the largest; failures: the sum).
groups = {}
for r in raw:
    groups.setdefault((r[0], r[1], r[2], r[11]), []).append(r)
rows = []
for (label, ep, proto, mode), rs in groups.items():
    med = lambda i: f"{statistics.median(float(r[i]) for r in rs):.3f}"
    rows.append([label, ep, proto, med(3), med(4), med(5), med(6),
                 f"{max(float(r[7]) for r in rs):.1f}", f"{max(float(r[8]) for r in rs):.1f}",
                 str(sum(int(r[9]) for r in rs)), str(sum(int(r[10]) for r in rs)), mode, len(rs)])
idle_native, idle_100 = int(sys.argv[2]) / 1024, int(sys.argv[3]) / 1024
base = {(r[1], r[2], r[11]): r for r in rows if r[0] == "trivial"}
# Ratios to the trivial webhook on the same endpoint and protocol in this run: throughput
# (higher is better), p99 and p99.9 latency (lower is better; on 2 shared cores absolute
# milliseconds say more about the load generator than about the server).
def ratio(r, column):
    b = base.get((r[1], r[2], r[11]))
    if not b or not float(b[column]):
        return float("nan")
    return float(r[column]) / float(b[column])
print(f"{'server':<16}{'endpoint':<10}{'http':<6}{'load':<8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'RSS MiB':>9}{'peak MiB':>10}{'failed':>9}{'rps x':>7}{'p99 x':>7}{'p99.9 x':>9}{'runs':>6}")
for r in rows:
    label, ep, proto, rps = r[0], r[1], r[2], float(r[3])
    print(f"{label:<16}{ep:<10}{proto:<6}{r[11]:<8}{rps:>9.0f}{float(r[4]):>9.3f}{float(r[5]):>9.3f}{float(r[6]):>10.3f}{float(r[7]):>9.1f}{float(r[8]):>10.1f}{r[10]:>9}{ratio(r, 3):>7.2f}{ratio(r, 5):>7.2f}{ratio(r, 6):>9.2f}{r[12]:>6}")
print(f"idle RSS: portcullis 20 constraints + 5 mutators {idle_native:.1f} MiB; 100 constraints {idle_100:.1f} MiB")
PY
