#!/usr/bin/env python3
"""Render and lint charts/portcullis with real Helm, without a helm binary.

Helm comes from the `helm-python-sdk` wheel (`pip install helm-python-sdk`), which bundles
libhelm_c.so, Helm v4's Go library behind a C ABI. Rendering is offline, like
`helm template`: no cluster is contacted and `lookup` finds nothing.

    scripts/helm-chart.py lint [-f VALUES] [--set K=V]...      # exit 1 on lint errors
    scripts/helm-chart.py render [-f VALUES] [--set K=V] [--set-file K=PATH] [--name N]
                                  [--namespace NS]
    scripts/helm-chart.py deploy [--check]                     # deploy/portcullis.yaml

`deploy` renders the plain manifests with the fixed release name, namespace and
deploy/values.yaml, so the file is reproducible; `--check` exits 1 when it is stale.
Exit code 3 means the Helm SDK is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "portcullis")
DEPLOY_FILE = os.path.join(ROOT, "deploy", "portcullis.yaml")
DEPLOY_VALUES = os.path.join(ROOT, "deploy", "values.yaml")
DEPLOY_RELEASE = "portcullis"
DEPLOY_NAMESPACE = "portcullis-system"

# Objects are written in the order an install applies them (namespaces and identities
# first, workloads after what they mount, webhooks last so they never point at a Service
# with no endpoints), then by name, so the output is stable.
APPLY_ORDER = [
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
    "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Issuer", "Certificate",
    "Service", "Deployment", "PodDisruptionBudget",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]

DEPLOY_HEADER = """\
# Generated from charts/portcullis by `scripts/helm-chart.py deploy` with deploy/values.yaml
# (release "portcullis", namespace "portcullis-system"); do not edit by hand.
# File mode: policies from the ConfigMap portcullis-policies and the serving certificate from
# the Secret portcullis-tls, both made outside the chart (see deploy/kind-e2e.sh, which also
# replaces CA_BUNDLE_PLACEHOLDER with the caBundle printed by `portcullis cert`).
"""


def load_helm() -> Any:
    """Import the SDK, or exit 3 with what to install."""
    try:
        import helm_python  # type: ignore[import-not-found]
    except ImportError:
        print("helm-chart: the Helm SDK is missing: pip install helm-python-sdk", file=sys.stderr)
        sys.exit(3)
    return helm_python


def merge(base: dict[str, Any], override: dict[str, Any], by_index: bool = False) -> dict[str, Any]:
    """Deep-merge values as repeated -f/--set do: maps merge, the rest is replaced, except
    that successive --set expressions (`by_index`) fill in list elements by index, so
    `--set a[0].x=1 --set a[0].y=2` gives one element with both keys, as in helm."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge(old, value, by_index)
        elif by_index and isinstance(value, list) and isinstance(old, list):
            merged = list(old) + [None] * (len(value) - len(old))
            for i, item in enumerate(value):
                if item is None:
                    continue
                if isinstance(item, dict) and isinstance(merged[i], dict):
                    merged[i] = merge(merged[i], item, by_index)
                else:
                    merged[i] = item
            out[key] = merged
        else:
            out[key] = value
    return out


def user_values(
    helm: Any, files: list[str], sets: list[str], set_files: list[str] | None = None
) -> dict[str, Any]:
    """Values from -f files, then --set, then --set-file (K=PATH: the file's text), as helm."""
    values: dict[str, Any] = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            values = merge(values, helm.values_from_yaml(f.read()))
    for expr in sets:
        values = merge(values, helm.parse_set_string(expr), by_index=True)
    for expr in set_files or []:
        values = merge(values, helm.parse_set_file(expr), by_index=True)
    return values


def documents(helm: Any, rendered: dict[str, str]) -> list[tuple[tuple[int, str, str], str]]:
    """Split rendered templates into (sort key, '# Source:' + document) pairs."""
    docs = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        source = re.sub(r"^[^/]+/", "portcullis/", path)
        for text in re.split(r"(?m)^---\s*$", rendered[path]):
            body = "\n".join(
                line for line in text.strip("\n").splitlines() if line.strip()
            )
            if not body or all(line.lstrip().startswith("#") for line in body.splitlines()):
                continue
            obj = helm.values_from_yaml(body)
            kind = str(obj.get("kind", ""))
            name = str((obj.get("metadata") or {}).get("name", ""))
            rank = APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
            docs.append(((rank, kind, name), f"# Source: {source}\n{body}\n"))
    docs.sort(key=lambda d: d[0])
    return docs


def render(helm: Any, values: dict[str, Any], name: str, namespace: str) -> str:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        rendered = chart.render(values, name=name, namespace=namespace, is_install=True)
    return "".join("---\n" + doc for _, doc in documents(helm, rendered))


def lint(helm: Any, values: dict[str, Any], namespace: str) -> int:
    report = helm.lint(CHART, values, strict=True, namespace=namespace)
    severity = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    for m in report.get("messages", []):
        print(f"[{severity.get(m.get('severity'), '?')}] {m.get('path')}: {m.get('error')}")
    for e in report.get("errors") or []:
        print(f"[ERROR] {e}")
    failed = bool(report.get("errors")) or any(
        m.get("severity", 0) >= 2 for m in report.get("messages", [])
    )
    print(f"{report.get('total_charts_linted', 0)} chart(s) linted, {'failed' if failed else 'ok'}")
    return 1 if failed else 0


def deploy_manifests(helm: Any) -> str:
    values = user_values(helm, [DEPLOY_VALUES], [])
    return DEPLOY_HEADER + render(helm, values, DEPLOY_RELEASE, DEPLOY_NAMESPACE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in ("lint", "render"):
        p = sub.add_parser(cmd)
        p.add_argument("-f", "--values", action="append", default=[], help="values file")
        p.add_argument("--set", action="append", default=[], help="K=V, as helm --set")
        p.add_argument("--set-file", action="append", default=[], help="K=PATH, as helm")
        p.add_argument("--name", default="portcullis", help="release name")
        p.add_argument("--namespace", default="portcullis-system")
    d = sub.add_parser("deploy")
    d.add_argument("--check", action="store_true", help="exit 1 if deploy/ is stale")
    d.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args()

    helm = load_helm()
    try:
        if args.command == "lint":
            return lint(helm, user_values(helm, args.values, args.set, args.set_file), args.namespace)
        if args.command == "render":
            values = user_values(helm, args.values, args.set, args.set_file)
            sys.stdout.write(render(helm, values, args.name, args.namespace))
            return 0
        text = deploy_manifests(helm)
    except helm.HelmError as e:
        print(f"helm-chart: {e}", file=sys.stderr)
        return 2
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        with open(DEPLOY_FILE, encoding="utf-8") as f:
            if f.read() != text:
                print("deploy/portcullis.yaml is stale: run scripts/helm-chart.py deploy",
                      file=sys.stderr)
                return 1
        return 0
    with open(DEPLOY_FILE, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(DEPLOY_FILE, ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
