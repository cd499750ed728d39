"""Rewrite a Rego v0 module into the Rego v1 syntax OPA 1.x parses by default.

Gatekeeper compiles ConstraintTemplate Rego as v0 unless the template asks for v1, while the
OPA the harness embeds parses v1 only. The rewrite is purely syntactic and keeps semantics:

* a rule body gets the `if` keyword (`p { .. }` -> `p if { .. }`, also after `else`);
* a partial set rule gets `contains` (`p[x] { .. }` -> `p contains x if { .. }`); partial
  object rules (`p[k] = v { .. }`) keep their head, which v1 reads the same way;
* the builtins v1 removed are mapped to what they were aliases of in v0: `re_match` ->
  `regex.match`, `net.cidr_overlap` -> `net.cidr_contains`, and `any`, `all`, `set_diff`,
  `cast_array`, `cast_set`, `cast_string`, `cast_boolean`, `cast_null`, `cast_object` ->
  functions of the `v0compat` package below, written in Rego with v0's definitions.

Modules that already use `if` keep it; `import future.keywords...` lines are left in place
(v1 accepts them). Anything the rewrite does not understand is left as is, so OPA reports it.
"""

import re

# v0's deprecated builtins, defined in Rego as OPA 0.x defined them.
COMPAT_PACKAGE = "v0compat"
COMPAT_MODULE = """package v0compat

# any/all: operand is an array or a set; true when any / every element is `true`.
any(xs) := r if {
	is_collection(xs)
	r := count([x | some x in xs; x == true]) > 0
}

all(xs) := r if {
	is_collection(xs)
	r := count([x | some x in xs; x != true]) == 0
}

is_collection(xs) if is_array(xs)

is_collection(xs) if is_set(xs)

set_diff(a, b) := a - b

cast_array(x) := x if is_array(x)

cast_array(x) := [y | some y in x] if is_set(x)

cast_set(x) := x if is_set(x)

cast_set(x) := {y | some y in x} if is_array(x)

cast_string(x) := x if is_string(x)

cast_boolean(x) := x if is_boolean(x)

cast_null(x) := x if is_null(x)

cast_object(x) := x if is_object(x)
"""

COMPAT_FUNCTIONS = {
    "any",
    "all",
    "set_diff",
    "cast_array",
    "cast_set",
    "cast_string",
    "cast_boolean",
    "cast_null",
    "cast_object",
}

_TOKEN = re.compile(
    r"""
    (?P<nl>\n)
  | (?P<ws>[ \t\r]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|[{}\[\]().,;:=<>+\-*/%|&!])
  | (?P<other>.)
    """,
    re.VERBOSE,
)


def tokenize(src):
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(src)]


def _significant(kind):
    return kind not in ("ws", "nl", "comment")


_OPEN = {"{": "}", "[": "]", "(": ")"}
_CONTINUES = {"=", ":=", ",", "+", "-", "*", "/", "%", "|", "&", "==", "!=", "<", ">", "<=", ">=", "."}


def is_v1(src):
    """A module is taken as v1 when it imports rego.v1 (Gatekeeper's opt-in for v1 is the
    template's `version: v1`, handled by the caller)."""
    return re.search(r"^\s*import\s+rego\.v1\b", src, re.M) is not None


def _rewrite_builtins(tokens):
    out = []
    for i, (kind, text) in enumerate(tokens):
        nxt = next((t for t in tokens[i + 1 :] if t[0] != "ws"), (None, None))
        prev = next((t for t in reversed(tokens[:i]) if t[0] != "ws"), (None, None))
        if kind == "ident" and nxt[1] == "(" and prev[1] != ".":
            if text == "re_match":
                out.append((kind, "regex.match"))
                continue
            if text in COMPAT_FUNCTIONS:
                out.append((kind, f"data.{COMPAT_PACKAGE}.{text}"))
                continue
        if kind == "ident" and text == "cidr_overlap" and prev[1] == "." and nxt[1] == "(":
            out.append((kind, "cidr_contains"))
            continue
        out.append((kind, text))
    return out


def _skip_balanced(tokens, i):
    """Index just past the bracketed group opening at tokens[i]."""
    stack = []
    while i < len(tokens):
        text = tokens[i][1]
        if tokens[i][0] == "op":
            if text in _OPEN:
                stack.append(_OPEN[text])
            elif stack and text == stack[-1]:
                stack.pop()
                if not stack:
                    return i + 1
        i += 1
    return i


def _next_sig(tokens, i):
    while i < len(tokens) and not _significant(tokens[i][0]):
        i += 1
    return i


def _rewrite_rule(tokens, start, out):
    """Rewrite one rule starting at tokens[start]; append to out; return the next index."""
    i = start
    head = []  # tokens of the head up to the body (or the end)
    last_sig = None
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "nl" and last_sig is not None and last_sig not in _CONTINUES:
            break
        if kind == "op" and text == "{":
            if last_sig in _CONTINUES or last_sig is None:
                # a value term (object/set literal), not a body
                j = _skip_balanced(tokens, i)
                head.extend(tokens[i:j])
                last_sig = "}"
                i = j
                continue
            break
        if kind == "op" and text in ("[", "("):
            j = _skip_balanced(tokens, i)
            head.extend(tokens[i:j])
            last_sig = tokens[j - 1][1]
            i = j
            continue
        if kind == "ident" and text == "if":
            head.append(tokens[i])
            last_sig = "if"
            i += 1
            break
        head.append(tokens[i])
        if _significant(kind):
            last_sig = text
        i += 1
    sig = [(k, t) for k, t in head if _significant(k)]
    has_if = bool(sig) and sig[-1][1] == "if"
    names = [t for k, t in sig]
    # Partial set rule: NAME [ term ] with no value and no args.
    if (
        len(sig) >= 3
        and sig[0][0] == "ident"
        and sig[1][1] == "["
        and ("=" not in names and ":=" not in names)
        and "contains" not in names
    ):
        # find the '[' in head and the matching ']' that ends the head ref
        idx = next(n for n, t in enumerate(head) if t[1] == "[")
        end = _skip_balanced(head, idx)
        rest_sig = [t for t in head[end:] if _significant(t[0])]
        if not rest_sig or rest_sig[0][1] == "if":
            head = head[:idx] + [("ws", " "), ("ident", "contains"), ("ws", " ")] + head[idx + 1 : end - 1] + head[end:]
    out.extend(head)
    if has_if:
        # body (braced or a single expression) follows in v1 form already
        return _copy_body_and_else(tokens, i, out)
    if i < len(tokens) and tokens[i][1] == "{":
        out.append(("ws", " ") if out and out[-1][0] != "ws" else ("ws", ""))
        out.append(("ident", "if"))
        out.append(("ws", " "))
        return _copy_body_and_else(tokens, i, out)
    return i


def _copy_body_and_else(tokens, i, out):
    i2 = _next_sig(tokens, i)
    out.extend(tokens[i:i2])
    i = i2
    if i < len(tokens) and tokens[i][1] == "{":
        j = _skip_balanced(tokens, i)
        out.extend(tokens[i:j])
        i = j
    else:
        # single-expression body after `if`: copy to end of line
        while i < len(tokens) and tokens[i][0] != "nl":
            out.append(tokens[i])
            i += 1
    k = _next_sig(tokens, i)
    if k < len(tokens) and tokens[k] == ("ident", "else"):
        out.extend(tokens[i:k])
        out.append(tokens[k])
        return _rewrite_else(tokens, k + 1, out)
    return i


def _rewrite_else(tokens, i, out):
    """After `else`: optional `= value`, then a body that needs `if`."""
    last_sig = "else"
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "nl" and last_sig not in _CONTINUES and last_sig != "else":
            return i
        if kind == "ident" and text == "if":
            out.append(tokens[i])
            return _copy_body_and_else(tokens, i + 1, out)
        if kind == "op" and text == "{":
            if last_sig in _CONTINUES:
                j = _skip_balanced(tokens, i)
                out.extend(tokens[i:j])
                last_sig = "}"
                i = j
                continue
            out.extend([("ws", " "), ("ident", "if"), ("ws", " ")])
            return _copy_body_and_else(tokens, i, out)
        if kind == "op" and text in ("[", "("):
            j = _skip_balanced(tokens, i)
            out.extend(tokens[i:j])
            last_sig = tokens[j - 1][1]
            i = j
            continue
        out.append(tokens[i])
        if _significant(kind):
            last_sig = text
        i += 1
    return i


def to_v1(src):
    """The v1 form of a v0 module (see the module doc)."""
    tokens = _rewrite_builtins(tokenize(src))
    out = []
    i = 0
    at_line_start = True
    while i < len(tokens):
        kind, text = tokens[i]
        if kind in ("ws", "comment"):
            out.append(tokens[i])
            i += 1
            continue
        if kind == "nl":
            out.append(tokens[i])
            at_line_start = True
            i += 1
            continue
        if at_line_start and kind == "ident" and text in ("package", "import"):
            while i < len(tokens) and tokens[i][0] != "nl":
                out.append(tokens[i])
                i += 1
            continue
        if at_line_start and kind == "ident" and text == "default":
            # `default p = v`: copy the statement (the value may span lines)
            last = None
            while i < len(tokens):
                if tokens[i][0] == "nl" and last not in _CONTINUES and last not in (None, "default"):
                    break
                if tokens[i][1] in _OPEN:
                    j = _skip_balanced(tokens, i)
                    out.extend(tokens[i:j])
                    last = tokens[j - 1][1]
                    i = j
                    continue
                out.append(tokens[i])
                if _significant(tokens[i][0]):
                    last = tokens[i][1]
                i += 1
            continue
        if at_line_start and kind == "ident":
            i = _rewrite_rule(tokens, i, out)
            at_line_start = False
            continue
        out.append(tokens[i])
        at_line_start = False
        i += 1
    return "".join(t for _, t in out)


def top_level_names(src):
    """Names that start a statement at the top level of a module (rule heads, plus the
    `package`/`import`/`default` keywords)."""
    names = set()
    depth = 0
    line_start = True
    for kind, text in tokenize(src):
        if kind == "nl":
            line_start = True
            continue
        if kind in ("ws", "comment"):
            continue
        if depth == 0 and line_start and kind == "ident":
            names.add(text)
        if kind == "op" and text in _OPEN:
            depth += 1
        elif kind == "op" and text in ("}", "]", ")"):
            depth = max(0, depth - 1)
        line_start = False
    return names


def called_functions(src):
    """Dotted names called anywhere in a module (`http.send`, `count`, ...)."""
    sig = [(k, t) for k, t in tokenize(src) if _significant(k)]
    out = set()
    for i, (kind, text) in enumerate(sig):
        if kind != "ident" or (i > 0 and sig[i - 1][1] == "."):
            continue
        name, j = text, i + 1
        while j + 1 < len(sig) and sig[j][1] == "." and sig[j + 1][0] == "ident":
            name += "." + sig[j + 1][1]
            j += 2
        if j < len(sig) and sig[j][1] == "(":
            out.add(name)
    return out

