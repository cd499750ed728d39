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
//! Nor is nesting the only shape that costs: a long chain of operators builds a tree that
//! every later stage walks recursively, and a query of many statements is scheduled in
//! quadratic time.
//!
//! So every Rego source is scanned here before any parser sees it, in one linear pass
//! that understands strings, raw strings and comments, and refused over named limits:
//!
//! - [`MAX_SOURCE_BYTES`]: regorus's own size limit, checked before any work.
//! - [`MAX_NESTING`]: brackets of any kind (`(`, `[`, `{`) open at once. This bounds the
//!   recursion of the parser, of the compiled path's lowering and of its evaluator.
//! - [`MAX_REPARSED_NESTING`]: brackets open at once *at positions the parser may read
//!   more than once*. What is re-read is the first reference of a literal (or the first
//!   value of an object), or the first statement of a query, and none of them extends past
//!   a `,` at its own level, except the variables of `some k, v in xs`. So a bracket right
//!   after such a `,` (a later element of an array or set, a later key of an object, a
//!   later argument of a call) or after the `:` of an object's later item is parsed once
//!   per parse of its container, and every other bracket is counted. Each re-read level
//!   lies inside one more counted bracket, so the parser's work is bounded by a small
//!   constant to the power of this depth: long or deep *data* (`[0, [1, [2, ...]]]`,
//!   `{"a": 0, "b": {"a": 0, "b": ...}}`) stays cheap, while chains like `[[[...]]]`,
//!   `{"a": {"a": ...}}`, `[x | [y | ...]]` or `[a[1 + [a[1 + ...]]]]` are refused in
//!   microseconds.
//! - [`MAX_EXPRESSION_CHAIN`]: operators and reference steps in one expression, summed
//!   over the brackets around it.
//! - [`MAX_QUERY_STATEMENTS`]: statements of one query.
//!
//! The number of rules is bounded after parsing ([`super::MAX_RULES`]).

/// Most brackets of any kind open at once in one Rego source.
///
/// The deepest source in Gatekeeper's library (and this repository's policies) nests 6;
/// regorus itself refuses expressions nested more than 32 deep (though not literals). The
/// parser, the lowering and the evaluator of the compiled path recurse a few frames per
/// level; 32 together with a chain of [`MAX_EXPRESSION_CHAIN`] compiles and evaluates on
/// a 2 MiB thread of a debug build (see `safety_tests`).
pub const MAX_NESTING: usize = 32;

/// Most brackets open at once at positions regorus's parser may read twice (see the
/// module documentation).
///
/// Gatekeeper's library reaches 4 (a rule body holding a call in a comprehension). Parse
/// time grows about 2.1x per level of a pure chain (`[[[...]]]`): measured on a debug build
/// (regorus at opt-level 1) on a loaded 2-core machine, 8 levels parse in 2.8 ms, 10 in
/// 12.6 ms, 12 in 55 ms (`safety_tests::parse_time_doubles_with_each_reparsed_level`), and
/// a template at the limit (a body holding a chain 11 deep) loads in about 28 ms. 12
/// leaves three times the library's depth; 18, the depth that took 27 s on the release
/// binary, is refused in well under a millisecond.
pub const MAX_REPARSED_NESTING: usize = 12;

/// Most operators and reference steps one expression may chain, summed over the brackets
/// open around it.
///
/// The parser reads `a + b + c ...` and `x.a.b.c ...` in a loop, but builds a tree as deep
/// as the chain, and everything after it walks that tree recursively: regorus's compiler
/// and interpreter, the compiled path's lowering and evaluator, and dropping the tree. A
/// 15,000-line chain (`x := 1 +` on each line; a line may be 1,024 columns and a module
/// 20,000 lines) overflows a 2 MiB stack and aborts the process. Measured on a debug build
/// (whose frames are several times a release build's) on a 2 MiB thread, the compiled
/// path lowers and evaluates a chain of 128 `+` and overflows at 180. Gatekeeper's library
/// chains at most 17; 100 leaves it six times that, and the stack a wide margin.
pub const MAX_EXPRESSION_CHAIN: usize = 100;

/// Most statements one query (a rule body, a comprehension's query, an `every` body) may
/// have.
///
/// regorus's compiler schedules a query's statements (orders them by the variables they
/// bind and read) in time quadratic in their number, and so does the compiled path's
/// lowering: measured on a debug build, a body of 2,000 statements loads in 1 s, one of
/// 8,000 in 20 s (a module may have 20,000 lines). Gatekeeper's library has at most about
/// 10 in one query; 300 load in a few tens of milliseconds (see `safety_tests`).
pub const MAX_QUERY_STATEMENTS: usize = 300;

/// What the scan knows of one open bracket (or of the statement outside any).
#[derive(Default)]
struct Level {
    /// Opened at a position the parser may read twice.
    counted: bool,
    /// A `some` declaration is open in the current statement at this level.
    some: bool,
    /// A `,` separated two elements or items at this level: an object's `:` here is in
    /// a later item, whose value is parsed once.
    items: bool,
    /// Operators and reference steps chained in the current expression at this level.
    chain: usize,
    /// Expressions ended at this level (by `;`, a line break, `,` or the bracket's end):
    /// at least the statements of the query it holds.
    statements: usize,
}

/// Characters of operators (`:=`, `==`, `+`, `|`, ...) and of reference steps (`.`).
fn operator(c: char) -> bool {
    matches!(
        c,
        '+' | '-' | '*' | '/' | '%' | '&' | '|' | '=' | '!' | '<' | '>' | ':' | '.'
    )
}

/// The scan's state.
struct Scan {
    stack: Vec<Level>,
    top: Level,
    /// Counted brackets open.
    reparsed: usize,
    /// Sum of the open levels' chains.
    chain: usize,
    line: usize,
    /// The last significant token was a `,` that separates elements of a literal, a
    /// call's arguments or an object's items (not the variables of `some k, v in xs`,
    /// which a re-read of the statement reads again), or the `:` of an object's later
    /// item.
    after_separator: bool,
    /// The last significant token ends a value (a name, a literal, a closing bracket),
    /// so a line break after it may end the expression.
    after_value: bool,
    /// A line break followed a value: the expression ends unless an operator comes next.
    line_break: bool,
}

impl Scan {
    fn level(&mut self) -> &mut Level {
        self.stack.last_mut().unwrap_or(&mut self.top)
    }

    /// One more link in the current expression's chain.
    fn link(&mut self) -> Result<(), String> {
        self.level().chain += 1;
        self.chain += 1;
        if self.chain > MAX_EXPRESSION_CHAIN {
            return Err(format!(
                "the Rego source chains more than {MAX_EXPRESSION_CHAIN} operators and \
                 references in one expression (line {}); the limit is {MAX_EXPRESSION_CHAIN}",
                self.line
            ));
        }
        Ok(())
    }

    /// The current expression ended (`;`, a line break after a value).
    fn end_statement(&mut self) -> Result<(), String> {
        self.end_expression();
        let line = self.line;
        let Some(level) = self.stack.last_mut() else {
            // Statements outside any bracket are rules, bounded on their own.
            return Ok(());
        };
        level.statements += 1;
        if level.statements > MAX_QUERY_STATEMENTS {
            return Err(format!(
                "the Rego source has a query of more than {MAX_QUERY_STATEMENTS} statements \
                 (line {line}); the limit is {MAX_QUERY_STATEMENTS}, since compiling a query \
                 takes time quadratic in its statements"
            ));
        }
        Ok(())
    }

    /// The current expression ended (`,`, or a statement's end).
    fn end_expression(&mut self) {
        let level = self.level();
        let n = std::mem::take(&mut level.chain);
        self.chain -= n;
    }

    /// A line break.
    fn newline(&mut self) {
        self.line += 1;
        self.level().some = false;
        if self.after_value {
            self.line_break = true;
        }
    }

    /// Before each significant token: a line break after a value ended the expression
    /// unless this token continues it with an operator.
    fn significant(&mut self, c: char) -> Result<(), String> {
        if std::mem::take(&mut self.line_break) && !operator(c) {
            self.end_statement()?;
        }
        Ok(())
    }

    fn open(&mut self) -> Result<(), String> {
        // `f(`, `x[`: a call or an index is one more step of the reference.
        if self.after_value {
            self.link()?;
        }
        let counted = !self.after_separator;
        self.stack.push(Level {
            counted,
            ..Level::default()
        });
        self.reparsed += usize::from(counted);
        if self.stack.len() > MAX_NESTING {
            return Err(format!(
                "the Rego source nests brackets more than {MAX_NESTING} deep (line {}); the \
                 limit is {MAX_NESTING}",
                self.line
            ));
        }
        if self.reparsed > MAX_REPARSED_NESTING {
            return Err(format!(
                "the Rego source nests {} brackets in positions the parser may read twice \
                 (line {}); the limit is {MAX_REPARSED_NESTING}, since parse time doubles \
                 with each",
                self.reparsed, self.line
            ));
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(closed) = self.stack.pop() {
            self.reparsed -= usize::from(closed.counted);
            self.chain -= closed.chain;
        }
    }
}

/// Largest Rego source, in bytes: regorus's own limit, checked here before the source is
/// scanned or rewritten.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Refuse a source that is too large, or nests or chains too deeply for the parser and
/// what walks its tree; `Err` names what was refused, the line and the limit.
pub fn check(src: &str) -> Result<(), String> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "the Rego source has {} bytes; the limit is {MAX_SOURCE_BYTES}",
            src.len()
        ));
    }
    let mut scan = Scan {
        stack: Vec::new(),
        top: Level::default(),
        reparsed: 0,
        chain: 0,
        line: 1,
        after_separator: false,
        after_value: false,
        line_break: false,
    };
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            scan.newline();
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if c == '#' {
            for c in chars.by_ref() {
                if c == '\n' {
                    scan.newline();
                    break;
                }
            }
            continue;
        }
        scan.significant(c)?;
        let mut value = false;
        let mut separator = false;
        match c {
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\n' => scan.line += 1,
                        '\\' if !escaped => {
                            escaped = true;
                            continue;
                        }
                        '"' if !escaped => break,
                        _ => {}
                    }
                    escaped = false;
                }
                value = true;
            }
            '`' => {
                for c in chars.by_ref() {
                    match c {
                        '\n' => scan.line += 1,
                        '`' => break,
                        _ => {}
                    }
                }
                value = true;
            }
            '(' | '[' | '{' => scan.open()?,
            ')' | ']' | '}' => {
                scan.close();
                value = true;
            }
            ';' => {
                scan.level().some = false;
                scan.end_statement()?;
            }
            ',' => {
                let level = scan.level();
                separator = !level.some;
                level.items |= separator;
                scan.end_expression();
            }
            c if operator(c) => {
                let mut lone_colon = c == ':';
                while let Some(&n) = chars.peek() {
                    if !operator(n) {
                        break;
                    }
                    lone_colon = false;
                    chars.next();
                }
                // The value of an object's later item (`:=` is an assignment).
                separator = lone_colon && scan.level().items;
                scan.link()?;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                match word.as_str() {
                    "some" => scan.level().some = true,
                    "in" => scan.link()?,
                    _ => value = true,
                }
            }
            _ => {}
        }
        scan.after_value = value;
        scan.after_separator = separator;
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
            "{\"a\": 0, \"k\": ".repeat(30),
            "}".repeat(30)
        );
        assert_eq!(check(&obj), Ok(()));
        let arr = format!("package p\nx := {}1{}\n", "[0, ".repeat(30), "]".repeat(30));
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
    fn long_expression_chains_are_refused() {
        let ops = |n: usize, sep: &str| format!("package p\nx := 1{}\n", sep.repeat(n));
        assert_eq!(check(&ops(MAX_EXPRESSION_CHAIN - 1, " + 1")), Ok(()));
        for sep in [
            " + 1", " +\n1", "\n+ 1", " == 1", ".a", "[0]", " | {1}", " in y",
        ] {
            let err = check(&ops(MAX_EXPRESSION_CHAIN + 1, sep)).unwrap_err();
            assert!(
                err.contains(&format!("the limit is {MAX_EXPRESSION_CHAIN}")),
                "{err}"
            );
        }
        // Chains add up across brackets.
        let nested = |ops: usize| {
            let level = format!("{}(", "1 + ".repeat(ops));
            format!("package p\nx := {}1{}\n", level.repeat(10), ")".repeat(10))
        };
        assert_eq!(check(&nested(8)), Ok(()));
        assert!(check(&nested(12)).unwrap_err().contains("chains"));
        // Separate statements, elements and lines do not.
        let many = "package p\np {\n".to_string() + &"  x == 1 + 1\n".repeat(200) + "}\n";
        assert_eq!(check(&many), Ok(()));
        let list = format!("package p\nx := [{}]\n", "1 + 1, ".repeat(1000));
        assert_eq!(check(&list), Ok(()));
    }

    #[test]
    fn long_queries_are_refused() {
        let body = |n: usize, sep: &str| {
            format!(
                "package p\np {{\n  x0 := 1\n{}}}\n",
                format!("  x := 1{sep}").repeat(n)
            )
        };
        assert_eq!(check(&body(MAX_QUERY_STATEMENTS - 2, "\n")), Ok(()));
        for sep in ["\n", ";", "; "] {
            let err = check(&body(MAX_QUERY_STATEMENTS, sep)).unwrap_err();
            assert!(
                err.contains(&format!("the limit is {MAX_QUERY_STATEMENTS}")),
                "{err}"
            );
        }
        // Elements of a literal, one a line, and many rules are not statements of a query.
        let list = format!("package p\nx := [\n{}]\n", "  \"a\",\n".repeat(5000));
        assert_eq!(check(&list), Ok(()));
        let rules = "package p\np { true }\n".to_string() + &"q { true }\n".repeat(5000);
        assert_eq!(check(&rules), Ok(()));
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
        let big = format!("package p\n# {}\n", "x".repeat(MAX_SOURCE_BYTES));
        assert!(check(&big).unwrap_err().contains("bytes"));
        // `:=` is not an object's `:`: the bracket after it counts.
        assert!(check(&format!("package p\nx := {}", "[".repeat(40))).is_err());
    }
}
