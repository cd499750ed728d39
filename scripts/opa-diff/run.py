#!/usr/bin/env python3
"""Differential corpus: what OPA itself answers for public ConstraintTemplates.

For every template under tests/opa_corpus/templates/ this evaluates a set of constraints
(the source repository's examples plus parameters generated from the template's schema)
against a set of reviews (the source's example objects plus a seeded, generated pool with
edge cases) the way Gatekeeper does: input = {"review": .., "parameters": ..}, the query
`data.<package>.violation` with the template's libs loaded beside it, and
`data.inventory` (Gatekeeper's cluster/namespace layout) built from the same objects when
the template reads it. The answers go to tests/opa_corpus/expected.json, which
tests/opa_differential.rs compares with both of portcullis's Rego paths.

    python3 scripts/opa-diff/run.py           # rewrite expected.json
    python3 scripts/opa-diff/run.py --check   # fail if expected.json is not what OPA says

OPA comes from PyPI: `pip install --ignore-requires-python opa-golib-python-bindings`
(the wheel says Python >= 3.14, but it is a ctypes wrapper that runs on 3.10+).
Gatekeeper compiles templates as Rego v0; the embedded OPA parses v1 only, so v0 modules
are rewritten first (v0_to_v1.py says how, and why it keeps semantics; every run checks it
on the templates' upstream unit tests under tests/opa_corpus/rego_unit_tests/).
Gatekeeper's answer differs from plain OPA's in three places the harness models: a
violation is `{msg, details}` with details defaulting to {} (its hook module); a template
without a `violation` rule, or calling a builtin Gatekeeper disables (http.send), is
refused; builtin errors are not strict (nonstrict.py).
"""

import argparse
import copy
import json
import random
import re
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import inputs  # noqa: E402
from nonstrict import NONSTRICT_MODULE, guard_builtins  # noqa: E402
from v0_to_v1 import COMPAT_MODULE, called_functions, is_v1, to_v1, top_level_names  # noqa: E402

ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "opa_corpus"
EXPECTED = CORPUS / "expected.json"
SEED = 20261201
GENERATED_OBJECTS = 48
FORMAT = 1


def load_engine():
    try:
        from opa_bindings import OpaEngine, OpaError
    except ImportError:
        sys.exit(
            "OPA is not installed: pip install --ignore-requires-python opa-golib-python-bindings"
        )
    return OpaEngine, OpaError


def opa_version():
    from importlib.metadata import version

    lib = Path(__import__("opa_bindings").__file__).parent / "libopabridge.so"
    opa = "unknown"
    data = lib.read_bytes()
    marker = b"github.com/open-policy-agent/opa\tv"
    at = data.find(marker)
    if at >= 0:
        opa = data[at + len(marker) - 1 : data.index(b"\t", at + len(marker))].decode()
    return f"OPA {opa} (opa-golib-python-bindings {version('opa-golib-python-bindings')})"


def rego_of(template):
    """(rego, libs, version) of the admission target's Rego code, Gatekeeper's way: the
    `code` block with engine Rego wins over the legacy `rego` field."""
    for target in template["spec"].get("targets", []):
        for code in target.get("code") or []:
            if code.get("engine") == "Rego":
                src = code.get("source") or {}
                return src.get("rego", ""), src.get("libs") or [], src.get("version", "v0")
        if "rego" in target:
            return target["rego"], target.get("libs") or [], "v0"
    return None, [], "v0"


def package_of(rego):
    for line in rego.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "package":
            return words[1]
    return None


def complete_request(req):
    """An AdmissionRequest from an example, with the fields Gatekeeper's webhook fills:
    DELETE judges oldObject, a missing kind/name/namespace comes from the object."""
    req = copy.deepcopy(req)
    op = req.get("operation") or "CREATE"
    req["operation"] = op
    if op == "DELETE" and req.get("oldObject") is not None:
        req["object"] = req["oldObject"]
    obj = req.get("object") or {}
    meta = obj.get("metadata") or {} if isinstance(obj, dict) else {}
    if not isinstance(req.get("kind"), dict):
        api = obj.get("apiVersion", "") if isinstance(obj, dict) else ""
        group, _, ver = api.rpartition("/")
        req["kind"] = {"group": group, "version": ver, "kind": obj.get("kind", "") if isinstance(obj, dict) else ""}
    for field in ("name", "namespace"):
        if not req.get(field) and isinstance(meta.get(field), str) and meta.get(field):
            req[field] = meta[field]
    return req


def examples_of(tdir, kind, rng, first_index):
    """Constraint parameters and reviews from a template's example files."""
    params, reviews = [], []
    exdir = tdir / "examples"
    if not exdir.is_dir():
        return params, reviews
    for f in sorted(exdir.iterdir()):
        if f.name.endswith("policy_parameters.json"):
            raw = json.loads(f.read_text())
            params.append((f"example:{f.name}", {k: v.get("value") for k, v in raw.items() if isinstance(v, dict)}))
            continue
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        for d in docs:
            api = str(d.get("apiVersion", ""))
            if api.startswith("constraints.gatekeeper.sh"):
                if d.get("kind") == kind:
                    p = (d.get("spec") or {}).get("parameters") or {}
                    params.append((f"example:{f.name}", p))
            elif d.get("kind") == "AdmissionReview":
                if isinstance(d.get("request"), dict):
                    reviews.append(complete_request(d["request"]))
            elif api.startswith("templates.gatekeeper.sh") or api.startswith("mutations.gatekeeper.sh"):
                continue
            elif "kind" in d:
                reviews.append(inputs.review_of(d, rng, first_index + len(reviews)))
    return params, reviews


def inventory_of(objs):
    """Gatekeeper's data.inventory: cluster[apiVersion][kind][name] and
    namespace[ns][apiVersion][kind][name]."""
    inv = {"cluster": {}, "namespace": {}}
    for o in objs:
        meta = o.get("metadata") or {}
        name, ns = meta.get("name"), meta.get("namespace")
        api, kind = o.get("apiVersion"), o.get("kind")
        if not all(isinstance(x, str) and x for x in (name, api, kind)):
            continue
        if isinstance(ns, str) and ns:
            inv["namespace"].setdefault(ns, {}).setdefault(api, {}).setdefault(kind, {})[name] = o
        else:
            inv["cluster"].setdefault(api, {}).setdefault(kind, {})[name] = o
    return inv


# Builtins Gatekeeper removes from OPA's capabilities unless told otherwise
# (`--disable-opa-builtin`, whose default is http.send since Gatekeeper 3.8).
GATEKEEPER_DISABLED_BUILTINS = ("http.send",)


def gatekeeper_refusal(rego, libs):
    """Why Gatekeeper refuses a template that plain OPA compiles, or None: the template
    module must define `violation`, and the builtins Gatekeeper disables do not exist."""
    if "violation" not in top_level_names(rego):
        return "invalid rego: missing required rules: [violation]"
    for module in [rego] + libs:
        for name in GATEKEEPER_DISABLED_BUILTINS:
            if name in called_functions(module):
                return f"rego_type_error: undefined function {name} (disabled in Gatekeeper)"
    return None


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def stable_error(message):
    """OPA's message with its several errors (one per `file.rego:line:` head, with their
    indented continuation lines) in a fixed order: OPA lists them in no stable order."""
    lines = message.split("\n")
    groups = []
    for line in lines[1:]:
        if groups and not re.match(r"^\S+\.rego:\d+:", line):
            groups[-1].append(line)
        else:
            groups.append([line])
    return "\n".join([lines[0]] + ["\n".join(g) for g in sorted(groups)])


def load(engine, sources, inventory):
    """Add the v0 compatibility module, a template's (v1) modules and its inventory to an
    engine, and compile them."""
    engine.add_policy("v0compat.rego", COMPAT_MODULE)
    for n, src in enumerate(sources):
        engine.add_policy(f"module{n}.rego", src)
    if inventory is not None:
        engine.add_data(inventory, path="inventory")
    engine.eval_query("x = 1")


def outcome_of(engine, OpaError, query, inp):
    try:
        rs = engine.eval_query(query, inp)
    except OpaError as e:
        return {"error": f"{e.code}: {stable_error(e.message)}"}
    found = rs[0]["v"] if rs else []
    # Gatekeeper's hook keeps {msg: r.msg, details: object.get(r, "details", {})} for each
    # r in the template's violation set, itself a set: a violation without msg is
    # dropped, and two that agree on msg and details are one.
    out = {}
    for r in found:
        if not isinstance(r, dict) or "msg" not in r:
            continue
        item = {"msg": r["msg"], "details": r.get("details", {})}
        out[canonical(item)] = item
    return {"violations": [out[k] for k in sorted(out)]}


def build(verbose=True):
    OpaEngine, OpaError = load_engine()
    rng = random.Random(SEED)
    pool = inputs.objects(rng, GENERATED_OBJECTS)
    shared = [inputs.review_of(o, rng, n) for n, o in enumerate(pool)]
    result = {"format": FORMAT, "opa": opa_version(), "seed": SEED, "reviews": shared, "templates": []}
    paths = sorted(CORPUS.glob("templates/*/*/template.yaml"))
    for path in paths:
        rel = path.relative_to(CORPUS).as_posix()
        tdir = path.parent
        t = yaml.safe_load(path.read_text())
        kind = t["spec"]["crd"]["spec"]["names"]["kind"]
        rego, libs, version = rego_of(t)
        trng = random.Random(f"{SEED}:{rel}")
        ex_params, ex_reviews = examples_of(tdir, kind, trng, len(shared))
        schema = (((t["spec"].get("crd") or {}).get("spec") or {}).get("validation") or {}).get("openAPIV3Schema") or {}
        constraints = []
        seen = set()
        generated = [
            ("generated:full", inputs.value_for(schema, "", trng, True) or {}),
            ("generated:some", inputs.value_for(schema, "", trng, False) or {}),
            # A constraint without spec.parameters: Gatekeeper passes {}.
            ("no-parameters", {}),
        ]
        for name, p in ex_params[:2] + generated:
            if canonical(p) in seen:
                continue
            seen.add(canonical(p))
            constraints.append({"name": name, "parameters": p})
        entry = {
            "template": rel,
            "kind": kind,
            "rego_version": "v1" if version == "v1" or is_v1(rego) else "v0",
            "extra_reviews": ex_reviews,
            "constraints": constraints,
        }
        modules = [rego] + libs
        uses_inventory = any("data.inventory" in m for m in modules)
        inventory = None
        if uses_inventory:
            inventory = inventory_of([r["object"] for r in shared + ex_reviews if isinstance(r.get("object"), dict)])
        entry["inventory"] = inventory
        sources = [m if entry["rego_version"] == "v1" else to_v1(m) for m in modules]
        engine = OpaEngine()
        engine.print_handler = lambda *_: None
        try:
            load(engine, sources, inventory)
            refusal = gatekeeper_refusal(rego, libs)
            if refusal:
                raise OpaError("gatekeeper", refusal)
        except OpaError as e:
            entry["compile_error"] = f"{e.code}: {stable_error(e.message)}"
            entry["outcomes"] = []
            result["templates"].append(entry)
            engine.close()
            if verbose:
                print(f"OPA refuses {rel}: {e.message.splitlines()[-1][:160]}")
            continue
        entry["compile_error"] = None
        query = f"v = data.{package_of(rego)}.violation"
        reviews = shared + ex_reviews
        guarded = None
        entry["outcomes"] = []
        for c in constraints:
            row = []
            for r in reviews:
                inp = {"review": r, "parameters": c["parameters"]}
                outcome = outcome_of(engine, OpaError, query, inp)
                if "eval_type_error" in outcome.get("error", ""):
                    # Gatekeeper's OPA would have made the failing call undefined.
                    if guarded is None:
                        guarded = OpaEngine()
                        guarded.print_handler = lambda *_: None
                        guarded.add_policy("nonstrict.rego", NONSTRICT_MODULE)
                        load(guarded, [guard_builtins(src) for src in sources], inventory)
                    second = outcome_of(guarded, OpaError, query, inp)
                    if "violations" in second:
                        outcome = {**second, "nonstrict": outcome["error"]}
                row.append(outcome)
            entry["outcomes"].append(row)
        engine.close()
        if guarded is not None:
            guarded.close()
        result["templates"].append(entry)
    return result


# Upstream unit tests that fail on any OPA because they are stale at that release (their
# review has no `kind`, which the policy they test requires).
STALE_UNIT_TESTS = {
    ("gatekeeper-library-2020-09/general-httpsonly", name)
    for name in (
        "test_boolean_annotation",
        "test_empty_tls",
        "test_missing_all",
        "test_missing_annotation",
        "test_missing_tls",
        "test_true_annotation",
    )
}


def self_test():
    """Check the v0 rewrite on the templates' own upstream unit tests (v0 Rego, under
    tests/opa_corpus/rego_unit_tests/): every `test_` rule must hold after rewriting, and
    again with the non-strict guards, so neither can quietly change what a policy means.
    Returns (passed, failures)."""
    OpaEngine, OpaError = load_engine()
    passed, failures = 0, []
    for src in sorted(CORPUS.glob("rego_unit_tests/*/*/src.rego")):
        name = src.parent.relative_to(CORPUS / "rego_unit_tests").as_posix()
        policy = src.read_text()
        tests = (src.parent / "src_test.rego").read_text()
        # v1 forbids a local named `input`, which these tests use to build theirs.
        tests = re.sub(r"\binput := ", "input__ := ", tests)
        tests = re.sub(r"with input as input\b", "with input as input__", tests)
        package = package_of(tests)
        # Plain, then with the non-strict guards: both must pass every test.
        for guard in (lambda src: src, guard_builtins):
            engine = OpaEngine()
            engine.print_handler = lambda *_: None
            try:
                engine.add_policy("v0compat.rego", COMPAT_MODULE)
                engine.add_policy("nonstrict.rego", NONSTRICT_MODULE)
                engine.add_policy("src.rego", guard(to_v1(policy)))
                engine.add_policy("src_test.rego", guard(to_v1(tests)))
            except OpaError as e:
                failures.append(f"{name}: {e}")
                continue
            for rule in sorted(set(re.findall(r"^(test_\w+)", tests, re.M))):
                if (name, rule) in STALE_UNIT_TESTS:
                    continue
                try:
                    rs = engine.eval_query(f"x = data.{package}.{rule}")
                    ok = bool(rs) and rs[0]["x"] is True
                except OpaError as e:
                    ok = False
                    rs = str(e)
                if ok:
                    passed += 1
                else:
                    failures.append(f"{name}: {rule}: {rs}")
            engine.close()
    return passed, failures


def summary(result):
    cases = sum(len(o) for t in result["templates"] for o in t["outcomes"])
    errors = sum(1 for t in result["templates"] for o in t["outcomes"] for x in o if "error" in x)
    nonstrict = sum(1 for t in result["templates"] for o in t["outcomes"] for x in o if "nonstrict" in x)
    violating = sum(1 for t in result["templates"] for o in t["outcomes"] for x in o if x.get("violations"))
    refused = sum(1 for t in result["templates"] if t["compile_error"])
    return (
        f"{len(result['templates'])} templates ({refused} refused by OPA), {cases} cases: "
        f"{violating} with violations, {errors} where OPA errs, {nonstrict} answered "
        "with non-strict builtin errors"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if expected.json is stale")
    args = ap.parse_args()
    start = time.monotonic()
    passed, failures = self_test()
    if failures or not passed:
        sys.exit("the v0 rewrite fails upstream unit tests:\n" + "\n".join(failures))
    print(f"v0 rewrite and non-strict guards: {passed} upstream unit test runs hold")
    result = build(verbose=not args.check)
    took = time.monotonic() - start
    if args.check:
        try:
            old = json.loads(EXPECTED.read_text())
        except (OSError, ValueError) as e:
            sys.exit(f"cannot read {EXPECTED}: {e}")
        if old == result:
            print(f"expected.json is current: {summary(result)} ({took:.1f} s)")
            return
        old_t = {t["template"]: t for t in old.get("templates", [])}
        for t in result["templates"]:
            if old_t.get(t["template"]) != t:
                print(f"stale: {t['template']}", file=sys.stderr)
        for k in ("format", "opa", "seed", "reviews"):
            if old.get(k) != result[k]:
                print(f"stale: {k}", file=sys.stderr)
        sys.exit("expected.json is stale: run python3 scripts/opa-diff/run.py and commit it")
    EXPECTED.write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {EXPECTED.relative_to(ROOT)}: {summary(result)} ({took:.1f} s)")


if __name__ == "__main__":
    main()
