#!/usr/bin/env python3
"""Replay throughput: `portcullis replay` (release build) over a generated file of recorded
reviews, judged with the load benchmark's policy set (bench/policies/: 20 constraints over
Pods and 5 mutators on the native templates of policies/library/).

    bench/replay.py                 # 100,000 records
    bench/replay.py --records 20000

The records are the load benchmark's 3 KiB Pod review (bench/review-pod.json) with a fresh
uid, name and namespace each and one image in ten from an untrusted registry; four in five
are /validate records, one in five /mutate, all recorded as admitted. It prints the reviews
replayed per second (wall clock, and per CPU-second, which a busy machine
disturbs less) and the replay's peak RSS, once against the recorded answers and once
with the same set as --baseline (twice the judging per review).
"""

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "portcullis")


def generate(path, count):
    with open(os.path.join(ROOT, "bench", "review-pod.json")) as f:
        review = json.load(f)
    base = review["request"]
    with open(path, "w") as out:
        for i in range(count):
            request = copy.deepcopy(base)
            request["uid"] = f"00000000-0000-4000-8000-{i:012d}"
            request["namespace"] = f"team-{i % 50}"
            request["name"] = f"pod-{i}"
            obj = request["object"]
            obj["metadata"]["name"] = request["name"]
            obj["metadata"]["namespace"] = request["namespace"]
            if i % 10 == 3:
                obj["spec"]["containers"][0]["image"] = "docker.io/evil/miner:1.0"
            endpoint = "mutate" if i % 5 == 4 else "validate"
            record = {"time": 0, "endpoint": endpoint, "request": request,
                      "decision": {"allowed": True, "code": 200}}
            out.write(json.dumps(record, separators=(",", ":")))
            out.write("\n")


def run(args, count):
    """Replay once; wall seconds, CPU seconds and peak RSS (MiB) of the replay process alone
    (the rusage of all children would include the compiler of the build step)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([BIN, "replay", "--output", "json"] + args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 1):
        sys.exit(f"replay failed ({proc.returncode}): {stderr.decode()}")
    report = json.loads(stdout)
    if report["judged"] != count:
        sys.exit(f"judged {report['judged']} of {count}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=0,
                        help="replay --jobs (default: replay's own, one per core)")
    parser.add_argument("--no-build", action="store_true",
                        help="use target/release/portcullis as it is")
    opts = parser.parse_args()
    if not opts.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "portcullis"], cwd=ROOT,
                       check=True, stdout=sys.stderr)
    work = tempfile.mkdtemp()
    try:
        policies = os.path.join(work, "policies")
        os.mkdir(policies)
        for d in ("policies/library", "bench/policies"):
            for name in os.listdir(os.path.join(ROOT, d)):
                if name.endswith(".yaml"):
                    shutil.copy(os.path.join(ROOT, d, name), policies)
        records = os.path.join(work, "records.ndjson")
        generate(records, opts.records)
        size = os.path.getsize(records) / (1 << 20)
        print(f"{opts.records} records, {size:.0f} MiB")
        jobs = ["--jobs", str(opts.jobs)] if opts.jobs else []
        for label, extra in (("recorded baseline", []), ("--baseline set", ["--baseline", policies])):
            elapsed, used, rss, report = run(["--policies", policies] + jobs + extra + [records],
                                             opts.records)
            denied = report["changes"]["newly_denied"]["reviews"]
            patched = report["changes"]["patch_changed"]["reviews"]
            print(f"{label}: {opts.records / elapsed:,.0f} reviews/s ({elapsed:.2f} s wall, "
                  f"{opts.records / used:,.0f} reviews per CPU-second), peak RSS {rss:.0f} MiB; "
                  f"newly denied {denied}, patch changed {patched}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
