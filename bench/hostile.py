#!/usr/bin/env python3
"""Cost of hostile requests: time and peak memory of the release server on the payloads a
tenant can send, against the trivial webhook (TLS, JSON parse, allow) on the same payloads
in the same run, so the figures say what portcullis adds on top of reading the request.

    bench/hostile.py                  # builds the release binaries first
    bench/hostile.py --repeat 5

Payloads (each an AdmissionReview):
  empty-100k     a Pod of 100,000 empty containers (400 KB), to /mutate and /validate
  empty-1m       a Pod of 1,000,000 empty containers (3 MB), to /mutate
  distinct-60k   a Pod of 60,000 distinctly named containers with an untrusted image
                 (2.4 MB), to /validate
  configmap-6m   a ConfigMap of 6 MB of string data (few values), to /validate
  pods-6m        a List-like Pod of realistic containers filling 6 MB, to /validate

For each: the HTTP status, the answer's size, median and worst time over the repeats, and
the server's peak RSS during the payload (VmHWM reset before each payload), with the same
for the trivial webhook.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def review(obj: dict, kind: str = "Pod", resource: str = "pods") -> bytes:
    req = {
        "uid": "bench",
        "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": resource},
        "name": obj["metadata"]["name"],
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "bench"},
        "object": obj,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}).encode()


def pod(containers: list) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": containers}}


def payloads() -> list[tuple[str, str, bytes]]:
    realistic = {
        "name": "app", "image": "registry.example.com/team/app:1.2.3",
        "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
        "env": [{"name": "A", "value": "b"}], "ports": [{"containerPort": 8080}],
    }
    per = len(json.dumps(realistic)) + 1
    many = [dict(realistic, name=f"app-{i}") for i in range(6_000_000 // per)]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "default"},
          "data": {f"k{i}": "x" * 60_000 for i in range(100)}}
    return [
        ("empty-100k", "/mutate", review(pod([{}] * 100_000))),
        ("empty-100k", "/validate", review(pod([{}] * 100_000))),
        ("empty-1m", "/mutate", review(pod([{}] * 1_000_000))),
        ("distinct-60k", "/validate",
         review(pod([{"name": f"c{i}", "image": "docker.io/evil/miner:1.0"} for i in range(60_000)]))),
        ("configmap-6m", "/validate", review(cm, "ConfigMap", "configmaps")),
        ("pods-6m", "/validate", review(pod(many))),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, ca: str) -> None:
        self.name, self.port, self.ca = name, port, ca
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "RUST_LOG": "error"})
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = self.conn()
                c.request("GET", "/healthz")
                c.getresponse().read()
                c.close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{name} did not start")

    def conn(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=self.ca)
        return http.client.HTTPSConnection("localhost", self.port, context=ctx, timeout=120)

    def send(self, path: str, body: bytes) -> tuple[int, int, float]:
        c = self.conn()
        started = time.time()
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        took = time.time() - started
        c.close()
        return r.status, len(data), took

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "portcullis", "--example", "trivial-webhook"],
                       cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "portcullis")
    trivial = os.path.join(ROOT, "target", "release", "examples", "trivial-webhook")
    work = tempfile.mkdtemp(prefix="portcullis-hostile-")
    try:
        certs = os.path.join(work, "certs")
        subprocess.run([binary, "cert", "--out", certs], check=True, capture_output=True)
        ca = os.path.join(certs, "ca.crt")
        pport, tport = free_port(), free_port()
        servers = [
            Server("portcullis", [binary, "serve", "--policies", os.path.join(ROOT, "policies"),
                                  "--cert-dir", certs, "--addr", f"127.0.0.1:{pport}",
                                  "--metrics-addr", f"127.0.0.1:{free_port()}"], pport, ca),
            Server("trivial", [trivial, f"127.0.0.1:{tport}", os.path.join(certs, "tls.crt"),
                               os.path.join(certs, "tls.key")], tport, ca),
        ]
        time.sleep(1)
        print(f"{'payload':<14} {'path':<10} {'body':>8} | {'server':<10} {'status':>6} {'answer':>9} "
              f"{'median':>8} {'worst':>8} {'peak RSS':>9}")
        for name, path, body in payloads():
            for s in servers:
                reset_hwm(s.proc.pid)
                times, status, size = [], 0, 0
                for _ in range(args.repeat):
                    status, size, took = s.send(path, body)
                    times.append(took)
                peak = hwm_kib(s.proc.pid) / 1024
                print(f"{name:<14} {path:<10} {len(body) / 1e6:>6.1f}MB | {s.name:<10} {status:>6} "
                      f"{size:>8}B {statistics.median(times) * 1000:>6.0f}ms {max(times) * 1000:>6.0f}ms "
                      f"{peak:>7.0f}MiB", flush=True)
        for s in servers:
            s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
