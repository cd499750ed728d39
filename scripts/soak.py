#!/usr/bin/env python3
"""Soak test: the release server under mixed valid, hostile and slow traffic, with policy
files rewritten in place and the serving certificate replaced while it runs.

    cargo build --release
    scripts/soak.py [--duration 600] [--binary target/release/portcullis] [--json out.json]

Traffic, from several threads at once:
  valid    trusted Pods (must be admitted) and untrusted Pods (must be denied) on /validate,
           Pods on /mutate (must get a JSONPatch answer);
  slow     Pods in namespace `slow`, judged by a constraint whose Rego takes seconds: each
           must be answered near the deadline by the failure policy (denied, code 500);
  hostile  100,000-container Pods on /mutate and /validate, 60,000 distinct bad containers,
           random kinds, malformed JSON, half-sent headers, idle connections.
Changes: the allowed-repos constraint is rewritten in place (truncate, write in pieces)
every 15 s, always to a version that denies the untrusted image; the certificate is
regenerated in the certificate directory every 60 s.

Every 10 s a line reports requests, failed requests (an answer that is not what the
request class expects), wrong decisions (an untrusted Pod admitted, a trusted one denied),
p50/p99 of valid requests, the server's RSS and its open connections. Exit status 1 when
anything failed or was decided wrong.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXPENSIVE_TEMPLATE = """\
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8ssoakexpensive}
spec:
  crd:
    spec:
      names: {kind: K8sSoakExpensive}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8ssoakexpensive
        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          a := input.parameters.items[_]
          b := input.parameters.items[_]
          concat("/", [c.name, a, b]) == "never"
          msg := "unreachable"
        }
"""


def expensive_constraint(items: int) -> str:
    names = ", ".join(f'"item-{i}"' for i in range(items))
    return (
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sSoakExpensive\n"
        "metadata: {name: soak-slow}\nspec:\n  match:\n"
        '    kinds: [{apiGroups: [""], kinds: ["Pod"]}]\n    namespaces: ["slow"]\n'
        f"  parameters:\n    items: [{names}]\n"
    )


def review(uid: str, obj: dict, op: str = "CREATE") -> bytes:
    api = obj.get("apiVersion", "v1")
    group, _, version = api.rpartition("/")
    req = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "Pod")},
        "resource": {"group": group, "version": version, "resource": "pods"},
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"].get("namespace", ""),
        "operation": op,
        "userInfo": {"username": "soak"},
        "object": obj,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}).encode()


def pod(ns: str, name: str, image: str, containers: list | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "soak"}},
        "spec": {
            "containers": containers
            if containers is not None
            else [
                {
                    "name": "app",
                    "image": image,
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                }
            ]
        },
    }


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self.wrong = 0
        self.latencies: list[float] = []
        self.examples: list[str] = []

    def count(self, cls: str, ok: bool, why: str = "") -> None:
        with self.lock:
            self.requests[cls] = self.requests.get(cls, 0) + 1
            if not ok:
                self.failed[cls] = self.failed.get(cls, 0) + 1
                if len(self.examples) < 20:
                    self.examples.append(f"{cls}: {why}"[:300])

    def wrong_decision(self, why: str) -> None:
        with self.lock:
            self.wrong += 1
            if len(self.examples) < 20:
                self.examples.append(f"WRONG: {why}"[:300])

    def latency(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def window(self) -> tuple[dict, dict, int, list[float]]:
        with self.lock:
            lat, self.latencies = self.latencies, []
            return dict(self.requests), dict(self.failed), self.wrong, lat


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = tempfile.mkdtemp(prefix="portcullis-soak-")
        self.policies = os.path.join(self.work, "policies")
        self.certs = os.path.join(self.work, "certs")
        # Every CA the server has used: clients trust old and new while a rotation lands.
        self.trust = os.path.join(self.work, "trust.pem")
        self.stats = Stats()
        self.stop = threading.Event()
        self.port = free_port()
        self.metrics_port = free_port()
        self.server: subprocess.Popen | None = None

    # --- setup -------------------------------------------------------------------------
    def prepare(self) -> None:
        shutil.copytree(os.path.join(ROOT, "policies"), self.policies)
        with open(os.path.join(self.policies, "soak-expensive-template.yaml"), "w") as f:
            f.write(EXPENSIVE_TEMPLATE)
        with open(os.path.join(self.policies, "soak-expensive.yaml"), "w") as f:
            f.write(expensive_constraint(3000))
        os.makedirs(self.certs)
        subprocess.run([self.args.binary, "cert", "--out", self.certs], check=True, capture_output=True)
        shutil.copy(os.path.join(self.certs, "ca.crt"), self.trust)

    def start(self) -> None:
        self.server = subprocess.Popen(
            [
                self.args.binary, "serve", "--policies", self.policies, "--cert-dir", self.certs,
                "--addr", f"127.0.0.1:{self.port}", "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
                "--log-format", "json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.work, "server.log"), "w"),
            env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, _ = self.get("/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not become ready")

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.trust)

    def connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", self.port, context=self.context(), timeout=15)

    def get(self, path: str) -> tuple[int, bytes]:
        c = self.connect()
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    # --- traffic -----------------------------------------------------------------------
    def post(self, conn: http.client.HTTPSConnection, path: str, body: bytes) -> tuple[int, dict | None, float]:
        started = time.time()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        took = time.time() - started
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("response"), dict):
            doc = None
        return r.status, doc, took

    def valid_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = self.connect()
        i = 0
        while not self.stop.is_set():
            i += 1
            kind = rng.random()
            try:
                if kind < 0.45:
                    body = review(f"t{seed}-{i}", pod("default", f"ok-{i}", "registry.example.com/app:1.0"))
                    status, doc, took = self.post(conn, "/validate", body)
                    self.stats.latency(took)
                    allowed = bool(doc and doc["response"]["allowed"])
                    self.stats.count("valid", status == 200, f"status {status}")
                    if status == 200 and not allowed:
                        self.stats.wrong_decision(f"trusted Pod denied: {doc}")
                elif kind < 0.9:
                    body = review(f"u{seed}-{i}", pod("default", f"bad-{i}", "docker.io/evil/miner:1.0"))
                    status, doc, took = self.post(conn, "/validate", body)
                    self.stats.latency(took)
                    self.stats.count("valid", status == 200, f"status {status}")
                    if status == 200 and doc and doc["response"]["allowed"]:
                        self.stats.wrong_decision("untrusted Pod admitted")
                else:
                    body = review(f"m{seed}-{i}", pod("default", f"mut-{i}", "registry.example.com/app:1.0"))
                    status, doc, took = self.post(conn, "/mutate", body)
                    self.stats.latency(took)
                    ok = status == 200 and doc is not None and doc["response"]["allowed"]
                    self.stats.count("valid", ok, f"mutate status {status}")
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.stats.count("valid", False, f"connection: {e}")
                conn.close()
                conn = self.connect()

    def slow_worker(self) -> None:
        conn = self.connect()
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                body = review(f"s{i}", pod("slow", f"slow-{i}", "registry.example.com/app:1.0"))
                status, doc, took = self.post(conn, "/validate", body)
                if status == 200:
                    resp = doc["response"] if doc else {}
                    ok = resp.get("allowed") is False and resp.get("status", {}).get("code") == 500
                    self.stats.count("slow", ok and took < 4.0, f"slow answer {resp} in {took:.2f}s")
                else:
                    # Refused before evaluation (no slot or memory): a failed call, which the
                    # API server answers by the failure policy; acceptable under load.
                    self.stats.count("slow", status in (429, 503), f"slow status {status}")
            except (OSError, http.client.HTTPException) as e:
                self.stats.count("slow", False, f"connection: {e}")
                conn.close()
                conn = self.connect()
            time.sleep(0.5)

    def hostile_worker(self, seed: int) -> None:
        rng = random.Random(seed)
        huge = review("huge", pod("default", "huge", "x", containers=[{} for _ in range(100_000)]))
        distinct = review(
            "distinct",
            pod("default", "distinct", "x", containers=[{"name": f"c{i}", "image": "docker.io/evil/miner:1"} for i in range(60_000)]),
        )
        i = 0
        while not self.stop.is_set():
            i += 1
            what = rng.choice(["huge-mutate", "huge-validate", "distinct", "kinds", "malformed", "slowloris", "idle"])
            try:
                if what in ("huge-mutate", "huge-validate", "distinct"):
                    conn = self.connect()
                    path = "/mutate" if what == "huge-mutate" else "/validate"
                    status, doc, took = self.post(conn, path, distinct if what == "distinct" else huge)
                    conn.close()
                    ok = status in (200, 413, 429, 503) and took < 5
                    if what == "distinct" and status == 200 and doc and doc["response"]["allowed"]:
                        self.stats.wrong_decision("60,000 untrusted containers admitted")
                    self.stats.count("hostile", ok, f"{what}: status {status} in {took:.2f}s")
                elif what == "kinds":
                    conn = self.connect()
                    obj = {"apiVersion": "x.example/v1", "kind": f"K{rng.randrange(10**9)}", "metadata": {"name": "k", "namespace": "default"}}
                    status, _, _ = self.post(conn, "/validate", review(f"k{i}", obj))
                    conn.close()
                    self.stats.count("hostile", status == 200, f"kinds: {status}")
                elif what == "malformed":
                    conn = self.connect()
                    status, _, _ = self.post(conn, "/validate", b'{"kind": "AdmissionReview", "request": [')
                    conn.close()
                    self.stats.count("hostile", status == 400, f"malformed: {status}")
                elif what == "slowloris":
                    s = self.context().wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost")
                    s.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-")
                    s.settimeout(30)
                    started = time.time()
                    try:
                        closed = s.recv(100) == b""
                    except (OSError, ssl.SSLError):
                        closed = True
                    s.close()
                    self.stats.count("hostile", closed and time.time() - started < 20, "slowloris not cut off")
                else:
                    s = self.context().wrap_socket(socket.create_connection(("127.0.0.1", self.port)), server_hostname="localhost")
                    time.sleep(2)
                    s.close()
                    self.stats.count("hostile", True)
            except (OSError, http.client.HTTPException) as e:
                self.stats.count("hostile", False, f"{what}: {e}")

    # --- changes -----------------------------------------------------------------------
    def changer(self) -> None:
        path = os.path.join(self.policies, "examples", "allowed-repos.yaml")
        with open(path, "rb") as f:
            original = f.read()
        stricter = original.replace(b'      - "docker.io/library/"\n', b"")
        last_cert = time.time()
        n = 0
        while not self.stop.wait(15):
            n += 1
            content = stricter if n % 2 else original
            with open(path, "r+b") as f:
                f.truncate(0)
                step = max(1, len(content) // 6)
                for k in range(0, len(content), step):
                    f.write(content[k : k + step])
                    f.flush()
                    time.sleep(0.02)
            if time.time() - last_cert >= 60:
                last_cert = time.time()
                fresh = os.path.join(self.work, "fresh-certs")
                shutil.rmtree(fresh, ignore_errors=True)
                os.makedirs(fresh)
                subprocess.run([self.args.binary, "cert", "--out", fresh], check=True, capture_output=True)
                # Clients trust the new CA before the server serves it; the server reloads
                # tls.crt/tls.key when they change.
                with open(os.path.join(fresh, "ca.crt"), "rb") as src, open(self.trust, "ab") as dst:
                    dst.write(src.read())
                for name in ("ca.crt", "tls.crt", "tls.key"):
                    shutil.copy(os.path.join(fresh, name), os.path.join(self.certs, name))

    # --- report ------------------------------------------------------------------------
    def rss_mib(self) -> float:
        try:
            with open(f"/proc/{self.server.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def open_connections(self) -> float:
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=5)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
            c.close()
            for line in text.splitlines():
                if line.startswith("portcullis_connections "):
                    return float(line.split()[1])
        except OSError:
            pass
        return -1

    def run(self) -> int:
        self.prepare()
        self.start()
        threads = [threading.Thread(target=self.valid_worker, args=(i,), daemon=True) for i in range(self.args.workers)]
        threads.append(threading.Thread(target=self.slow_worker, daemon=True))
        threads += [threading.Thread(target=self.hostile_worker, args=(100 + i,), daemon=True) for i in range(2)]
        threads.append(threading.Thread(target=self.changer, daemon=True))
        for t in threads:
            t.start()
        started = time.time()
        timeline = []
        peak_rss = 0.0
        print(f"soak: {self.args.duration} s against 127.0.0.1:{self.port}; work dir {self.work}", flush=True)
        while time.time() - started < self.args.duration:
            time.sleep(10)
            if self.server.poll() is not None:
                print("soak: the server exited", flush=True)
                break
            requests, failed, wrong, lat = self.stats.window()
            rss = self.rss_mib()
            peak_rss = max(peak_rss, rss)
            row = {
                "t": round(time.time() - started),
                "requests": requests,
                "failed": failed,
                "wrong": wrong,
                "p50_ms": round(pct(lat, 0.5) * 1000, 2),
                "p99_ms": round(pct(lat, 0.99) * 1000, 2),
                "rss_mib": round(rss, 1),
                "connections": self.open_connections(),
            }
            timeline.append(row)
            print(json.dumps(row), flush=True)
        self.stop.set()
        alive = self.server.poll() is None
        if alive:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.server.kill()
        requests, failed, wrong, _ = self.stats.window()
        summary = {
            "duration_s": round(time.time() - started),
            "requests": requests,
            "failed": failed,
            "wrong_decisions": wrong,
            "peak_rss_mib": round(peak_rss, 1),
            "server_survived": alive,
            "exit_code": self.server.returncode,
            "examples": self.stats.examples,
            "timeline": timeline,
        }
        print(json.dumps({k: v for k, v in summary.items() if k != "timeline"}, indent=1))
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump(summary, f, indent=1)
        # Every class defines what it expects (hostile requests: a bounded refusal or answer
        # in time), so any failure of any class fails the soak.
        bad = wrong > 0 or any(failed.values()) or not alive or self.server.returncode != 0
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return 1 if bad else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=600, help="seconds (default 600)")
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "portcullis"))
    p.add_argument("--workers", type=int, default=4, help="threads of valid traffic")
    p.add_argument("--json", help="write the summary and timeline here")
    p.add_argument("--keep", action="store_true", help="keep the work directory (server.log)")
    args = p.parse_args()
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
