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
//! 3. **Negated expressions**: OPA evaluates the parts of a negated expression that may be
//!    undefined (nested calls, arguments of calls) before the negation; regorus inside it.
//!    [`super::hoist`] binds those parts to fresh variables just before the `not`.
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

/// Rewrite a Rego module (v1 when `v1`) so that regorus reads it the way OPA does: the
/// syntax rewrites for v0, the order of negated expressions for both.
pub fn rewrite(src: &str, v1: bool) -> String {
    if v1 {
        super::hoist::hoist(src, true)
    } else {
        rewrite_v0(src)
    }
}

/// Rewrite a Rego v0 module so that regorus reads it the way OPA does.
pub fn rewrite_v0(src: &str) -> String {
    super::hoist::hoist(&rewrite_v0_syntax(src), false)
}

/// Rewrites 1 and 2, on the text alone.
fn rewrite_v0_syntax(src: &str) -> String {
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

    for (i, c) in src.char_indices() {
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
    fn paren_line_after_operator_is_untouched() {
        let src = "package a\np {\n  x := 1 +\n  (2)\n}\n";
        assert_eq!(rewrite_v0(src), src);
    }
}
