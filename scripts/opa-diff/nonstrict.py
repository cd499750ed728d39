"""Gatekeeper's non-strict builtin errors, emulated on an OPA that stops on them.

Gatekeeper evaluates with OPA's default, non-strict builtin errors: a builtin that fails
(say `startswith(42, "x")`) makes its expression undefined and evaluation goes on. The
embedded OPA stops on such an error instead. For the builtins below, whose failures are
operand type errors, the guarded versions are undefined exactly where the builtin would
fail on its operand types and equal to it elsewhere, so a module whose calls go through
them answers what Gatekeeper answers. The harness uses them only for cases where plain
evaluation stopped on an operand type error.
"""

from v0_to_v1 import tokenize

NONSTRICT_PACKAGE = "nonstrict"
_STRINGS2 = ("startswith", "endswith", "contains", "indexof")
NONSTRICT_MODULE = (
    """package nonstrict

strings(xs) if {
	is_array(xs)
	every x in xs { is_string(x) }
}

strings(xs) if {
	is_set(xs)
	every x in xs { is_string(x) }
}

g_concat(d, xs) := concat(d, xs) if {
	is_string(d)
	strings(xs)
}

g_regex_match(p, v) := regex.match(p, v) if {
	is_string(p)
	is_string(v)
}

g_format_int(n, b) := format_int(n, b) if {
	is_number(n)
	is_number(b)
}

g_lower(s) := lower(s) if is_string(s)

g_upper(s) := upper(s) if is_string(s)

g_split(s, d) := split(s, d) if {
	is_string(s)
	is_string(d)
}

g_replace(s, o, n) := replace(s, o, n) if {
	is_string(s)
	is_string(o)
	is_string(n)
}

g_trim_suffix(s, x) := trim_suffix(s, x) if {
	is_string(s)
	is_string(x)
}

g_trim_prefix(s, x) := trim_prefix(s, x) if {
	is_string(s)
	is_string(x)
}
"""
    + "".join(
        f"""
g_{name}(a, b) := {name}(a, b) if {{
	is_string(a)
	is_string(b)
}}
"""
        for name in _STRINGS2
    )
)

NONSTRICT_FUNCTIONS = {
    "concat": "g_concat",
    "regex.match": "g_regex_match",
    "format_int": "g_format_int",
    "lower": "g_lower",
    "upper": "g_upper",
    "split": "g_split",
    "replace": "g_replace",
    "trim_suffix": "g_trim_suffix",
    "trim_prefix": "g_trim_prefix",
    **{name: f"g_{name}" for name in _STRINGS2},
}


def guard_builtins(src):
    """`src` (v1) with the calls of NONSTRICT_FUNCTIONS routed through their guards."""
    tokens = tokenize(src)
    out = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        prev = next((t for t in reversed(out) if t[0] != "ws"), (None, None))
        if kind == "ident" and prev[1] != ".":
            # the dotted name starting here, and the token after it
            name, j = text, i + 1
            while j + 1 < len(tokens) and tokens[j][1] == "." and tokens[j + 1][0] == "ident":
                name += "." + tokens[j + 1][1]
                j += 2
            k = j
            while k < len(tokens) and tokens[k][0] == "ws":
                k += 1
            if k < len(tokens) and tokens[k][1] == "(" and name in NONSTRICT_FUNCTIONS:
                out.append(("ident", f"data.{NONSTRICT_PACKAGE}.{NONSTRICT_FUNCTIONS[name]}"))
                i = j
                continue
        out.append(tokens[i])
        i += 1
    return "".join(t for _, t in out)
