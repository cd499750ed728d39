//! Source compatibility pass for Rego v0 modules written against OPA.
//!
//! regorus 0.14 parses two constructs of Gatekeeper's library differently from OPA. Rather
//! than fork the parser, the source text is rewritten, before it is compiled, into an
//! equivalent form both parsers read the same way:
//!
//! 1. **Rules with several bodies** (`p { a } { b }`): OPA reads each extra `{ ... }` as
//!    another definition of the same head; regorus rejects it. Each extra body gets a copy
//!    of the head, making separate rules (`p { a }` / `p { b }`), which OPA defines as the
//!    same thing.
//! 2. **A body line starting with `(`** after a line ending in a reference
//!    (`x.y` newline `(a - b) > c`): OPA only reads `(` as a call when it touches the name
//!    before it, so the line is a new expression; regorus reads a call `x.y(a - b)`. A `;`
//!    (Rego's expression separator) is put at the end of the previous line.
//! 3. **`not f(x.y)` with `x.y` undefined**: OPA evaluates the reference arguments of a
//!    negated call before the negation, so the expression is undefined and the body fails;
//!    regorus negates the undefined call, which is true. Reference arguments are bound to
//!    fresh variables just before the `not`, on the same line.
//!
//! The scanner understands strings, raw strings and comments, and only the bracket depth
//! of rule bodies; everything it does not recognise is copied unchanged, so a module that
//! does not use these forms comes out byte for byte the same.

/// Most bytes the rewrite may add to a module. The library's rewrites add a few hundred;
/// regorus refuses a module over 1 MiB in any case.
const MAX_GROWTH: usize = 1 << 20;

/// What an open bracket at the top level of a module is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Open {
    /// A rule body `{ ... }`.
    Body,
    /// Any other bracket: object/set literal, array, parentheses, comprehension.
    Other,
}

/// Rewrite a Rego v0 module so that regorus reads it the way OPA does.
pub fn rewrite_v0(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut stack: Vec<Open> = Vec::new();
    let (mut in_comment, mut in_string, mut in_raw, mut escaped) = (false, false, false, false);
    // Source index of the line where the current top-level statement starts.
    let mut stmt_start = 0usize;
    // Source index of the `{` opening the current statement's first body.
    let mut body_open: Option<usize> = None;
    // A rule body just closed at the top level and nothing significant followed yet.
    let mut after_body_close = false;
    // At the start of a line, before its first significant character.
    let mut line_start = true;
    // The last significant character, and the length of `out` just after it.
    let mut last_sig = '\n';
    let mut last_sig_end = 0usize;
    // Characters before this index were already written by a line rewrite.
    let mut skip_to = 0usize;
    let mut hoisted = 0usize;

    for (i, c) in src.char_indices() {
        if i < skip_to {
            continue;
        }
        if in_comment {
            out.push(c);
            if c == '\n' {
                in_comment = false;
                line_start = true;
            }
            continue;
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                last_sig = c;
                last_sig_end = out.len();
            }
            continue;
        }
        if in_raw {
            out.push(c);
            if c == '`' {
                in_raw = false;
                last_sig = c;
                last_sig_end = out.len();
            }
            continue;
        }
        if c == '#' {
            in_comment = true;
            out.push(c);
            continue;
        }
        if c == '\n' {
            line_start = true;
            out.push(c);
            continue;
        }
        if c.is_whitespace() {
            out.push(c);
            continue;
        }
        // A significant character.
        if line_start {
            line_start = false;
            if stack.is_empty() {
                let continues =
                    (c == '{' && after_body_close) || c == '}' || src[i..].starts_with("else");
                if !continues {
                    stmt_start = line_begin(src, i);
                    body_open = None;
                }
            } else if c == '('
                && stack == [Open::Body]
                && (last_sig.is_alphanumeric() || last_sig == '_' || last_sig == ']')
            {
                out.insert(last_sig_end, ';');
            } else if stack == [Open::Body] && src[i..].starts_with("not ") {
                let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                if let Some(line) = hoist_negated_refs(&src[i..end], &mut hoisted) {
                    out.push_str(&line);
                    skip_to = end;
                    last_sig = ')';
                    last_sig_end = out.len();
                    continue;
                }
            }
        }
        match c {
            '{' if stack.is_empty() => {
                if after_body_close {
                    if let Some(open) = body_open {
                        // One copy of the head per extra body: bounded, so that a long
                        // head before many bodies cannot multiply the source. Past the
                        // bound the body is left as written and the parser refuses it.
                        let head = src[stmt_start..open].trim_start();
                        if out.len() + head.len() <= src.len() + MAX_GROWTH {
                            out.push('\n');
                            out.push_str(head);
                        }
                    }
                    stack.push(Open::Body);
                } else if last_sig == '=' {
                    stack.push(Open::Other);
                } else {
                    body_open.get_or_insert(i);
                    stack.push(Open::Body);
                }
            }
            '{' | '[' | '(' => stack.push(Open::Other),
            '}' | ']' | ')' => {
                let closed = stack.pop();
                out.push(c);
                after_body_close = closed == Some(Open::Body) && stack.is_empty();
                last_sig = c;
                last_sig_end = out.len();
                continue;
            }
            '"' => in_string = true,
            '`' => in_raw = true,
            _ => {}
        }
        after_body_close = false;
        out.push(c);
        last_sig = c;
        last_sig_end = out.len();
    }
    out
}

/// `not f(a, x.y)` → `__negarg0 := x.y; not f(a, __negarg0)`: OPA evaluates reference
/// arguments of a negated call outside the negation, so an undefined argument leaves the
/// whole expression undefined (the body fails); regorus negates the undefined call, which
/// is true. Only a line holding exactly one negated call is rewritten, on the same line so
/// that line numbers in error messages stay right.
fn hoist_negated_refs(line: &str, counter: &mut usize) -> Option<String> {
    let code = strip_comment(line).trim_end();
    let call = code.strip_prefix("not ")?.trim_start();
    let open = call.find('(')?;
    let name = &call[..open];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let inner = call[open + 1..].strip_suffix(')')?;
    let args = split_args(inner)?;
    let mut pre = String::new();
    let mut new_args = Vec::with_capacity(args.len());
    for arg in args {
        let a = arg.trim();
        if is_plain_ref(a) {
            let var = format!("__negarg{}", *counter);
            *counter += 1;
            pre.push_str(&format!("{var} := {a}; "));
            new_args.push(var);
        } else {
            new_args.push(a.to_string());
        }
    }
    if pre.is_empty() {
        return None;
    }
    Some(format!(
        "{pre}not {name}({}){}",
        new_args.join(", "),
        &line[code.len()..]
    ))
}

/// A reference into a value: starts with a name and has a `.` or `[` part, no call.
fn is_plain_ref(a: &str) -> bool {
    a.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && (a.contains('.') || a.contains('['))
        && !a.contains('(')
        && !a.contains('"')
        && !a.contains(char::is_whitespace)
}

/// Split call arguments at top-level commas; `None` when brackets or strings do not
/// balance (the line is then left alone).
fn split_args(inner: &str) -> Option<Vec<&str>> {
    let (mut depth, mut in_str, mut esc, mut start) = (0i32, false, false, 0usize);
    let mut out = Vec::new();
    for (i, c) in inner.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    (depth == 0 && !in_str).then(|| {
        out.push(&inner[start..]);
        out
    })
}

/// The line without a trailing `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut esc = false;
    for (i, c) in line.char_indices() {
        match (in_str, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Index of the first character of the line holding byte `i`.
fn line_begin(src: &str, i: usize) -> usize {
    src[..i].rfind('\n').map_or(0, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::rewrite_v0;

    #[test]
    fn plain_module_is_unchanged() {
        let src = "package a\n\n# c { } {\nx = {\"k\": 1} { true }\nviolation[{\"msg\": m}] {\n  m := \"} {\"\n}\n";
        assert_eq!(rewrite_v0(src), src);
    }

    #[test]
    fn extra_bodies_become_rules_with_the_same_head() {
        let src = "package a\nf(o) = s {\n  s := 1\n} {\n  s := 2\n}\n";
        let got = rewrite_v0(src);
        assert_eq!(
            got,
            "package a\nf(o) = s {\n  s := 1\n} \nf(o) = s {\n  s := 2\n}\n"
        );
    }

    #[test]
    fn head_copies_are_bounded() {
        let src = format!(
            "p = {{\"k\": \"{}\"}} {{ true }}{}\n",
            "x".repeat(100_000),
            " { true }".repeat(100)
        );
        let got = rewrite_v0(&src);
        assert!(got.len() <= src.len() + super::MAX_GROWTH, "{}", got.len());
        assert!(
            got.len() > src.len() + 9 * 100_000,
            "some heads are still copied"
        );
    }

    #[test]
    fn value_objects_in_heads_are_not_bodies() {
        let src = "package a\np = {\"a\": 1} {\n  true\n} {\n  false\n}\n";
        let got = rewrite_v0(src);
        assert!(got.contains("} \np = {\"a\": 1} {\n  false"), "{got}");
    }

    #[test]
    fn paren_line_after_reference_is_a_new_expression() {
        let src = "package a\np {\n  input.x\n  (input.a - 1) > 0\n}\n";
        assert_eq!(
            rewrite_v0(src),
            "package a\np {\n  input.x;\n  (input.a - 1) > 0\n}\n"
        );
    }

    #[test]
    fn negated_call_reference_arguments_are_hoisted() {
        let src = "package a\np {\n  not f(x, p.ranges, \"a,b\") # c\n  not g(y)\n}\n";
        assert_eq!(
            rewrite_v0(src),
            "package a\np {\n  __negarg0 := p.ranges; not f(x, __negarg0, \"a,b\") # c\n  not g(y)\n}\n"
        );
    }

    #[test]
    fn paren_line_after_operator_is_untouched() {
        let src = "package a\np {\n  x := 1 +\n  (2)\n}\n";
        assert_eq!(rewrite_v0(src), src);
    }
}
