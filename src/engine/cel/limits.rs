//! Size and nesting limits of CEL expressions, enforced before the `cel` crate sees them.
//!
//! The crate's parser (an ANTLR parse tree walked by a recursive visitor), its interpreter
//! (`Value::resolve_val` recurses once per node) and the drop of its syntax tree all recurse
//! once per level of nesting, and a stack overflow aborts the whole process: it cannot be
//! caught. A policy author must not be able to crash the server with `1 + 1 + ... + 1` (a
//! left-leaning chain nests one level per operator) or `((((...))))`. So every expression is
//! checked twice:
//!
//! 1. [`check_source`], before parsing: a lexer-level scan (string literals of every form and
//!    comments skipped, so nothing quoted counts) that bounds the depth of the syntax tree from
//!    above without building it, and refuses an expression over [`MAX_NESTING`] or over
//!    [`MAX_EXPRESSION_CHARS`];
//! 2. [`check_depth`], after parsing and instrumentation: the real depth of the tree the
//!    interpreter will walk, measured without recursion, against the same limit.

use cel::common::ast::{EntryExpr, Expr, IdedExpr};

/// Longest expression accepted, in Unicode code points: Kubernetes' limit for CEL in
/// ValidatingAdmissionPolicy and CRD validation. The longest expression of the Gatekeeper
/// library and the repository's policies has 1,212 code points.
pub(super) const MAX_EXPRESSION_CHARS: usize = 100_000;

/// Deepest nesting accepted, as estimated by [`check_source`] and as measured by
/// [`check_depth`] (nodes on the longest path of the syntax tree).
///
/// Kubernetes parses CEL with a recursion limit of 250; this is the same figure, applied to
/// a more conservative count (every operator token and three levels per bracket, see
/// [`nesting_bound`]). Of the 199 CEL expressions of the Gatekeeper library and the
/// repository's policies, the deepest is estimated at 67 and measures 22 once instrumented
/// (see `limits_tests`): margins of 3.7x and 11x. Measured in the tests: the largest
/// accepted expressions of several shapes (248 chained additions, 243 chained method calls,
/// 49 nested groups or comprehensions) compile, evaluate and are dropped on a 2 MiB thread
/// in a release build, a quarter of the 8 MiB stacks of the server's compile and evaluation
/// threads (an unoptimised build needs up to 8 MiB for them). Probed by hand in a release
/// build (`limits_tests::probe`), the deepest of them need more than 256 KiB and at most
/// 512 KiB: a margin of 16x on the server's stacks.
pub(super) const MAX_NESTING: usize = 250;

/// Levels a bracket group (`(..)`, `[..]`, `{..}`) counts for in [`nesting_bound`]. A call or
/// a macro puts up to three nodes between the group's outside and its contents (`r.map(x, p,
/// f)` becomes a comprehension whose step is a conditional over an addition of a list holding
/// `f`), and the parser spends about ten rule frames per bracket level, far more than the one
/// frame per binary operator.
const BRACKET_LEVELS: usize = 3;

/// Refuse an expression that is too long or nests too deep for the parser, before parsing.
///
/// # Errors
/// A message naming the measure and the limit.
pub(super) fn check_source(source: &str) -> Result<(), String> {
    let chars = source.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        return Err(format!(
            "CEL expression is {chars} characters long; the limit is {MAX_EXPRESSION_CHARS}"
        ));
    }
    let nesting = nesting_bound(source);
    if nesting > MAX_NESTING {
        return Err(format!(
            "CEL expression nests about {nesting} deep (operators and brackets); the limit is {MAX_NESTING}"
        ));
    }
    Ok(())
}

/// Refuse a syntax tree deeper than [`MAX_NESTING`].
///
/// # Errors
/// A message naming the depth and the limit.
pub(super) fn check_depth(expr: &IdedExpr) -> Result<(), String> {
    let depth = depth(expr);
    if depth > MAX_NESTING {
        return Err(format!(
            "CEL expression nests {depth} deep; the limit is {MAX_NESTING}"
        ));
    }
    Ok(())
}

/// Nodes on the longest path from the root of `expr` to a leaf, counted with an explicit
/// stack (the tree may be deeper than recursion could walk).
pub(super) fn depth(expr: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 1usize)];
    while let Some((node, level)) = stack.pop() {
        deepest = deepest.max(level);
        stack.extend(children(node).into_iter().map(|c| (c, level + 1)));
    }
    deepest
}

/// The direct subexpressions of `expr`, in source order: the one definition of the tree's
/// shape for every walk over it.
pub(super) fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        Expr::Struct(st) => st
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

fn entry_children(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

/// One bracket group being scanned: the operators of its current comma-separated segment,
/// the deepest bound of the groups nested in that segment, and the deepest bound of its
/// finished segments.
#[derive(Default)]
struct Group {
    operators: usize,
    deepest_child: usize,
    deepest_segment: usize,
}

impl Group {
    fn end_segment(&mut self) {
        // One level for the operand itself, one per operator that may sit above it.
        let segment = 1 + self.operators + self.deepest_child;
        self.deepest_segment = self.deepest_segment.max(segment);
        self.operators = 0;
        self.deepest_child = 0;
    }
}

/// An upper bound of the depth of the syntax tree of `source`, from its tokens alone.
///
/// Within one comma-separated segment of one bracket group, an operand can sit below every
/// operator of the segment (a chain `a + a + ... + a` nests one level per `+`, a member chain
/// `a.b.c` one per `.`, `a ? b : c ? d : e` one per `?` and `:`), and below the bound of the
/// group it is in; so the bound of a segment is its operator count plus the deepest bound of
/// the groups nested in it, and a group adds [`BRACKET_LEVELS`] to its deepest segment.
/// Counting every operator of the segment, wherever it sits, overestimates (`&&` and `||`
/// chains are parsed into balanced trees, `!!x` into `x`), never underestimates.
pub(super) fn nesting_bound(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut groups = vec![Group::default()];
    let mut i = 0;
    // Whether the last token ended an operand other than a name: an index opened right
    // after an operand (`a[0][0]`), or a call of anything but a name, is one more level
    // above it. (A call of a name, `f(x)` or `a.f(x)`, is one node, already counted by its
    // group or its `.`.)
    let mut after_operand = false;
    let mut after_name = false;
    while i < bytes.len() {
        let b = bytes[i];
        let blank = matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
            || (b == b'/' && bytes.get(i + 1) == Some(&b'/'));
        let (was_operand, was_name) = (after_operand, after_name);
        if !blank {
            after_name = b == b'_' || b.is_ascii_alphabetic();
            after_operand = matches!(b, b'"' | b'\'' | b'`' | b'0'..=b'9' | b')' | b']' | b'}')
                || b == b'_'
                || b.is_ascii_alphabetic()
                || (b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        }
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0c => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = skip_line(bytes, i);
            }
            b'"' | b'\'' => i = skip_string(bytes, i, false),
            b'`' => i = skip_until(bytes, i + 1, b'`'),
            b'0'..=b'9' => i = skip_number(bytes, i),
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => i = skip_number(bytes, i),
            b'(' | b'[' | b'{' => {
                if was_operand && (b == b'[' || (b == b'(' && !was_name)) {
                    count_operator(&mut groups);
                }
                groups.push(Group::default());
                i += 1;
            }
            b')' | b']' | b'}' => {
                close_group(&mut groups);
                i += 1;
            }
            b',' => {
                if let Some(g) = groups.last_mut() {
                    g.end_segment();
                }
                i += 1;
            }
            _ if b == b'_' || b.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                let word = &source[start..i];
                if matches!(bytes.get(i), Some(b'"' | b'\'')) && is_string_prefix(word) {
                    let raw = word.contains(['r', 'R']);
                    i = skip_string(bytes, i, raw);
                } else if word == "in" {
                    count_operator(&mut groups);
                    after_operand = false;
                    after_name = false;
                }
            }
            _ if b.is_ascii() => {
                // Two-character operators (`==`, `!=`, `<=`, `>=`, `&&`, `||`) count once.
                let pair = bytes.get(i + 1).copied();
                let two = matches!(
                    (b, pair),
                    (b'=' | b'!' | b'<' | b'>', Some(b'='))
                        | (b'&', Some(b'&'))
                        | (b'|', Some(b'|'))
                );
                count_operator(&mut groups);
                i += if two { 2 } else { 1 };
            }
            // Non-ASCII outside a string: not CEL; the parser will say so.
            _ => i += 1,
        }
    }
    while groups.len() > 1 {
        close_group(&mut groups);
    }
    match groups.last_mut() {
        Some(root) => {
            root.end_segment();
            root.deepest_segment
        }
        None => 0,
    }
}

fn count_operator(groups: &mut [Group]) {
    if let Some(g) = groups.last_mut() {
        g.operators += 1;
    }
}

/// Close the innermost group (an unmatched closer closes nothing: the parser refuses it).
fn close_group(groups: &mut Vec<Group>) {
    if groups.len() < 2 {
        return;
    }
    if let Some(mut inner) = groups.pop() {
        inner.end_segment();
        let bound = inner.deepest_segment + BRACKET_LEVELS;
        if let Some(outer) = groups.last_mut() {
            outer.deepest_child = outer.deepest_child.max(bound);
        }
    }
}

/// `r`, `b` and their combinations, in either case, open a raw or bytes string literal.
fn is_string_prefix(word: &str) -> bool {
    matches!(word.to_ascii_lowercase().as_str(), "r" | "b" | "rb" | "br")
}

/// The index after a `//` comment.
fn skip_line(bytes: &[u8], from: usize) -> usize {
    skip_until(bytes, from, b'\n')
}

/// The index after the first `end` at or after `from`, or the end of the input.
fn skip_until(bytes: &[u8], from: usize, end: u8) -> usize {
    match bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&c| c == end))
    {
        Some(at) => from + at + 1,
        None => bytes.len(),
    }
}

/// The index after the string literal whose opening quote is at `start`: single- or
/// triple-quoted, with `\` escaping the next character unless the literal is raw. An
/// unterminated literal runs to the end (the parser refuses it).
fn skip_string(bytes: &[u8], start: usize, raw: bool) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start + 1) == Some(&quote) && bytes.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && !raw {
            i += 2;
        } else if c == quote {
            if !triple {
                return i + 1;
            }
            if bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote) {
                return i + 3;
            }
            i += 1;
        } else if c == b'\n' && !triple {
            // A single-quoted literal cannot span lines; the parser refuses it.
            return i;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index after a numeric literal (`12`, `0x1F`, `3u`, `1.5e-3`, `.5`): its sign belongs
/// to the exponent, not to an operator.
fn skip_number(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        let c = bytes[i];
        let exponent_sign = (c == b'+' || c == b'-')
            && i > start
            && matches!(bytes[i - 1], b'e' | b'E')
            && !is_hex(bytes, start);
        let fraction = c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if c.is_ascii_alphanumeric() || c == b'_' || exponent_sign || fraction {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn is_hex(bytes: &[u8], start: usize) -> bool {
    bytes.get(start) == Some(&b'0') && matches!(bytes.get(start + 1), Some(b'x' | b'X'))
}
