//! Refusing Rego sources whose nesting the parser cannot read in bounded time and stack.
//!
//! regorus 0.14's parser backtracks: a `[` or `{` literal first tries to read a
//! comprehension (`[term | query]`), parsing its first term as a reference, and on failure
//! restores its state and parses that same term again as the first element of an array,
//! set or object; a query statement is likewise parsed first as the left side of an
//! assignment, then again as an expression. A bracket nested in the first term of another
//! bracket is therefore parsed twice, and a chain of them `2^depth` times: measured on the
//! release binary, `x := [[[...]]]` 16 deep took 7 s to load, 18 deep 27 s, 20 deep more
//! than a minute. Nor does its expression depth limit (32) count these literals, so a deep
//! enough chain also exhausts the stack, which aborts the process.
//!
//! So every Rego source is scanned here before any parser sees it, in one linear pass
//! that understands strings, raw strings and comments, and refused over two named limits:
//!
//! - [`MAX_NESTING`]: brackets of any kind (`(`, `[`, `{`) open at once. This bounds the
//!   recursion of the parser, of the compiled path's lowering and of its evaluator.
//! - [`MAX_REPARSED_NESTING`]: brackets open at once *at positions the parser may read
//!   more than once*. What is re-read is the first reference of a literal (or the first
//!   value of an object), or the first statement of a query, and none of them extends past
//!   a `,` at its own level, except the variables of `some k, v in xs`. So a bracket right
//!   after such a `,` (a later element of an array or set, a later item of an object, a
//!   later argument of a call) is parsed once per parse of its container, and every other
//!   bracket is counted. Each re-read level lies inside one more counted bracket, so the
//!   parser's work is bounded by a small constant to the power of this depth: long or
//!   deep *data* (`[0, [1, [2, ...]]]`, `{"a": 0, "b": {"a": 0, "b": ...}}`) stays cheap,
//!   while chains like `[[[...]]]`, `{"a": {"a": ...}}`, `[x | [y | ...]]` or
//!   `[a[1 + [a[1 + ...]]]]` are refused in microseconds.

/// Most brackets of any kind open at once in one Rego source.
///
/// The deepest source in Gatekeeper's library (and this repository's policies) nests 6;
/// regorus itself refuses expressions nested more than 32 deep. At 64 the parser, the
/// lowering and the evaluator of the compiled path recurse a few hundred frames, far
/// within the 8 MiB compile threads and the 2 MiB test threads.
pub const MAX_NESTING: usize = 64;

/// Most brackets open at once at positions regorus's parser may read twice (see the
/// module documentation).
///
/// Gatekeeper's library reaches 4 (a rule body holding a call in a comprehension). Parse
/// time grows about 2x per level of a pure chain (`[[[...]]]`): measured on a debug build
/// on a loaded 2-core machine, 10 levels parse in about 3 ms, 12 in 12 ms, 14 in 50 ms
/// (see `safety_tests`). 12 leaves three times the library's depth and keeps the worst
/// accepted source to a few tens of milliseconds.
pub const MAX_REPARSED_NESTING: usize = 12;

/// Refuse a source that nests too deeply for the parser; `Err` names the depth, the line
/// and the limit.
pub fn check(src: &str) -> Result<(), String> {
    // For each open bracket: whether it is at a re-read position, and whether a `some`
    // declaration is open in the statement at its top level.
    let mut stack: Vec<(bool, bool)> = Vec::new();
    // `some` open in a statement outside any bracket.
    let mut some_at_top = false;
    let mut reparsed = 0usize;
    let mut line = 1usize;
    // The last significant character was a `,` that separates elements of a literal, a
    // call's arguments or an object's items (not the variables of `some k, v in xs`, which
    // a re-read of the statement reads again).
    let mut after_separator = false;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        let some_open = match stack.last_mut() {
            Some((_, s)) => s,
            None => &mut some_at_top,
        };
        match c {
            '\n' | ';' => {
                line += usize::from(c == '\n');
                *some_open = false;
            }
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        *some_open = false;
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\n' => line += 1,
                        '\\' if !escaped => {
                            escaped = true;
                            continue;
                        }
                        '"' if !escaped => break,
                        _ => {}
                    }
                    escaped = false;
                }
                after_separator = false;
            }
            '`' => {
                for c in chars.by_ref() {
                    match c {
                        '\n' => line += 1,
                        '`' => break,
                        _ => {}
                    }
                }
                after_separator = false;
            }
            '(' | '[' | '{' => {
                let counted = !after_separator;
                stack.push((counted, false));
                reparsed += usize::from(counted);
                if stack.len() > MAX_NESTING {
                    return Err(format!(
                        "the Rego source nests brackets more than {MAX_NESTING} deep (line \
                         {line}); the limit is {MAX_NESTING}"
                    ));
                }
                if reparsed > MAX_REPARSED_NESTING {
                    return Err(format!(
                        "the Rego source nests {reparsed} brackets in positions the parser \
                         may read twice (line {line}); the limit is {MAX_REPARSED_NESTING}, \
                         since parse time doubles with each"
                    ));
                }
                after_separator = false;
            }
            ')' | ']' | '}' => {
                if let Some((counted, _)) = stack.pop() {
                    reparsed -= usize::from(counted);
                }
                after_separator = false;
            }
            ',' => after_separator = !*some_open,
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                if word == "some" {
                    *some_open = true;
                }
                after_separator = false;
            }
            c if c.is_whitespace() => {}
            _ => after_separator = false,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize) -> String {
        format!(
            "package p\nx := {}1{}\n",
            open.repeat(depth),
            close.repeat(depth)
        )
    }

    #[test]
    fn chains_over_the_limit_are_refused_with_line_and_limit() {
        let ok = nested("[", "]", MAX_REPARSED_NESTING);
        assert_eq!(check(&ok), Ok(()));
        let err = check(&nested("[", "]", MAX_REPARSED_NESTING + 1)).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(
            err.contains(&format!("the limit is {MAX_REPARSED_NESTING}")),
            "{err}"
        );
        for (open, close) in [("{", "}"), ("(", ")"), ("[x | ", "]"), ("[a[1 + ", "]]")] {
            assert!(check(&nested(open, close, 30)).is_err(), "{open}");
        }
    }

    #[test]
    fn deep_data_is_bounded_only_by_the_total_depth() {
        let obj = format!(
            "package p\nx := {}1{}\n",
            "{\"a\": 0, \"k\": ".repeat(40),
            "}".repeat(40)
        );
        assert_eq!(check(&obj), Ok(()));
        let arr = format!("package p\nx := {}1{}\n", "[0, ".repeat(40), "]".repeat(40));
        assert_eq!(check(&arr), Ok(()));
        let deep = format!(
            "package p\nx := {}1{}\n",
            "[0, ".repeat(MAX_NESTING + 1),
            "]".repeat(MAX_NESTING + 1)
        );
        let err = check(&deep).unwrap_err();
        assert!(
            err.contains(&format!("the limit is {MAX_NESTING}")),
            "{err}"
        );
        // An object's first value and the variables of `some` are re-read: they count.
        let first = format!(
            "package p\nx := {}1{}\n",
            "{\"k\": ".repeat(20),
            "}".repeat(20)
        );
        assert!(check(&first).is_err());
        let some = format!(
            "package p\np {{ {}1{} }}\n",
            "[x | some k, ".repeat(20),
            " in y]".repeat(20)
        );
        assert!(check(&some).is_err());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let n = MAX_NESTING * 2;
        let src = format!(
            "package p\n# {}\nx := \"{}\\\"{}\"\ny := `{}`\n",
            "[".repeat(n),
            "{".repeat(n),
            "(".repeat(n),
            "[".repeat(n)
        );
        assert_eq!(check(&src), Ok(()));
        // `:=` is not an object's `:`: the bracket after it counts.
        assert!(check(&format!("package p\nx := {}", "[".repeat(40))).is_err());
    }
}
