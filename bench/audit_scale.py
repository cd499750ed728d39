#!/usr/bin/env python3
"""How audit cost grows with the number of objects, offline and against a cluster.

Generates synthetic manifests (80% Pods, 10% Ingresses whose hosts repeat, 10% Services,
in `kind: List` files of 1,000 objects), audits each size with the release binary and the
repository's own `policies/` (which include the unique-Ingress-host rule), and prints wall
time and peak RSS per size and the growth ratio between consecutive sizes (linear work
gives about the size ratio).

`--source cluster` serves the same objects and policies from a fake API server in its own
process (bench/fake_cluster.rs; a Config syncs Ingresses into `data.inventory`) and runs
`portcullis audit --source cluster` against it in list pages of `--chunk-size` objects, so
the peak RSS is the audit's own: a page, the synced inventory and the report.

    cargo build --release --bin portcullis --example fake-cluster
    python3 bench/audit_scale.py [--source file|cluster] [--sizes 10000 100000] [--keep DIR]
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "portcullis")
FAKE = os.path.join(ROOT, "target", "release", "examples", "fake-cluster")
PER_FILE = 1000
REGISTRIES = ["registry.k8s.io/", "ghcr.io/example-org/", "docker.io/library/", "evil.example/"]


def pod(rng, i):
    containers = []
    for c in range(rng.randint(1, 3)):
        container = {
            "name": f"c{c}",
            "image": f"{rng.choice(REGISTRIES)}app{rng.randint(0, 50)}:{rng.choice(['1.0', 'latest'])}",
        }
        if rng.random() < 0.7:
            container["resources"] = {"limits": {"cpu": "500m", "memory": "256Mi"}}
        containers.append(container)
    labels = {"app": f"app{i % 97}"}
    if rng.random() < 0.5:
        labels["owner"] = "team-a"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{i}", "namespace": f"ns-{i % 50}", "labels": labels},
        "spec": {"containers": containers},
    }


def ingress(rng, i, distinct_hosts):
    host = f"h{rng.randrange(distinct_hosts)}.example.com"
    rule = {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}
    spec = {"rules": [rule]}
    if rng.random() < 0.5:
        spec["tls"] = [{"hosts": [host]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": f"ing-{i}", "namespace": f"ns-{i % 50}"},
        "spec": spec,
    }


def service(rng, i):
    kind = rng.choice(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": f"ns-{i % 50}"},
        "spec": {"type": kind, "ports": [{"port": 80}]},
    }


def generate(directory, count, seed=7):
    rng = random.Random(seed)
    distinct_hosts = max(1, count // 10 // 2)  # every host served about twice
    items = []
    written = 0
    for i in range(count):
        r = i % 10
        if r < 8:
            items.append(pod(rng, i))
        elif r == 8:
            items.append(ingress(rng, i, distinct_hosts))
        else:
            items.append(service(rng, i))
        if len(items) == PER_FILE or i == count - 1:
            path = os.path.join(directory, f"objects-{written:04}.json")
            with open(path, "w") as f:
                json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
            written += 1
            items = []
    return sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))


def measure(directory, source="file", chunk_size=500):
    """Wall seconds and peak RSS (KiB) of one audit run."""
    policies = os.path.join(ROOT, "policies")
    env = dict(os.environ)
    fake = None
    if source == "file":
        cmd = ["/usr/bin/time", "-f", "%M", BINARY, "audit", "--policies", policies,
               "--output", "json", directory]
    else:
        fake = subprocess.Popen([FAKE, policies, directory], stdout=subprocess.PIPE, text=True)
        line = fake.stdout.readline()
        if not line.startswith("listening on "):
            fake.kill()
            sys.exit(f"fake-cluster did not start: {line!r}")
        kubeconfig = os.path.join(directory, "..", f"kubeconfig-{os.path.basename(directory)}")
        with open(kubeconfig, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                       "clusters": [{"name": "fake", "cluster": {"server": line.split()[-1]}}],
                       "users": [{"name": "fake", "user": {}}],
                       "contexts": [{"name": "fake",
                                     "context": {"cluster": "fake", "user": "fake"}}]}, f)
        env["KUBECONFIG"] = kubeconfig
        cmd = ["/usr/bin/time", "-f", "%M", BINARY, "audit", "--source", "cluster",
               "--namespace", "portcullis-system", "--audit-chunk-size", str(chunk_size),
               "--output", "json"]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env=env)
    finally:
        if fake:
            fake.kill()
            fake.wait()
    elapsed = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"audit failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss_kib = int(proc.stderr.strip().splitlines()[-1])
    return elapsed, rss_kib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", help="generate under this directory and keep it")
    parser.add_argument("--source", choices=["file", "cluster"], default="file")
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    for binary in [BINARY] + ([FAKE] if args.source == "cluster" else []):
        if not os.path.exists(binary):
            sys.exit(f"{binary} missing: run "
                     "`cargo build --release --bin portcullis --example fake-cluster` first")
    base = args.keep or tempfile.mkdtemp(prefix="portcullis-audit-scale-")
    rows = []
    try:
        for size in args.sizes:
            directory = os.path.join(base, str(size))
            os.makedirs(directory, exist_ok=True)
            input_bytes = generate(directory, size)
            seconds, rss = measure(directory, args.source, args.chunk_size)
            rows.append((size, input_bytes, seconds, rss))
            print(f"{size:>8} objects  {input_bytes / 2**20:7.1f} MiB JSON  {seconds:7.2f} s  "
                  f"peak RSS {rss / 1024:7.1f} MiB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    for (n0, _, t0, r0), (n1, _, t1, r1) in zip(rows, rows[1:]):
        print(f"{n1}/{n0}: size x{n1 / n0:.1f}, time x{t1 / t0:.2f}, peak RSS x{r1 / r0:.2f}")


if __name__ == "__main__":
    main()
