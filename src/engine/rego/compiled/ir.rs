//! The compiled form of a template's Rego: rules resolved to indices, variables to frame
//! slots, builtins to function pointers, and every iteration hoisted out of expressions.
//!
//! Expressions ([`Expr`]) are deterministic: each evaluates to one value or to undefined.
//! Whatever enumerates (`xs[_]`, `obj[k]` with `k` unbound, `some x in xs`, a partial set
//! matched against a pattern) is a statement ([`Stmt::Iter`]) placed before the statement
//! that used it, the way OPA rewrites references with variables into generators. Queries
//! then backtrack over statements only, and expression evaluation is a plain recursive walk.

use regorus::unstable::{Expr as AstExpr, Ref, Span};
use regorus::Value as RValue;

use super::builtins::Native;

/// Index of a variable in its rule body's frame.
pub(crate) type Slot = u32;

/// Index of a rule in [`Program::rules`].
pub(crate) type RuleId = usize;

/// A scalar constant of the source. Strings are borrowed by the values made from them.
#[derive(Debug, Clone)]
pub(crate) enum Const {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (an `RValue::Number`).
    Num(RValue),
    /// A string.
    Str(Box<str>),
}

/// Arithmetic operators (`-` is also set difference).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a call calls.
#[derive(Debug, Clone)]
pub(crate) enum Callee {
    /// A builtin implemented here.
    Native(Native),
    /// A regorus builtin, called with the arguments converted to regorus values. The
    /// argument expressions of the source are kept because regorus builtins take them
    /// (for their error messages, which non-strict evaluation turns into undefined).
    Regorus {
        /// The builtin.
        run: regorus::unstable::BuiltinFcn,
        /// The call's argument expressions in the source.
        params: Vec<Ref<AstExpr>>,
        /// The call's position.
        span: Span,
    },
    /// A user-defined function.
    User(RuleId),
    /// A user-defined function whose result here is the same for every constraint of the
    /// template (see [`super::share`]): kept for the whole request.
    Shared(RuleId),
}

/// One step of a deterministic reference.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// `.name` or `["name"]`.
    Field(Box<str>),
    /// `[expr]` with a bound index.
    Index(Expr),
}

/// A deterministic expression: one value or undefined.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A scalar constant.
    Const(Const),
    /// A bound local variable.
    Local(Slot),
    /// `input` as a whole (`{"review": .., "parameters": ..}`).
    Input,
    /// `input.review`.
    Review,
    /// `input.parameters`.
    Params,
    /// `data.inventory` (undefined when the evaluation has none).
    Inventory,
    /// A reference: a base and steps.
    Ref(Box<Expr>, Vec<Step>),
    /// The value of a rule that takes no arguments (complete, partial set or object).
    Rule(RuleId),
    /// A call.
    Call(Callee, Vec<Expr>),
    /// A function of no arguments named without parentheses. regorus evaluates it like a
    /// complete rule whose solutions are not merged: the first clause with a solution
    /// gives the value, and more than one solution is an error even when they agree.
    ByName(RuleId),
    /// `[a, b]`.
    Array(Vec<Expr>),
    /// `{a, b}`.
    Set(Vec<Expr>),
    /// `{k: v}`.
    Object(Vec<(Expr, Expr)>),
    /// `[term | query]`.
    ArrayCompr(Box<Expr>, Query),
    /// `{term | query}`.
    SetCompr(Box<Expr>, Query),
    /// `{key: value | query}`.
    ObjectCompr(Box<Expr>, Box<Expr>, Query),
    /// `a + b` and friends.
    Arith(Arith, Box<Expr>, Box<Expr>),
    /// `a == b` and friends.
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `a | b` (true) or `a & b` (false).
    SetOp(bool, Box<Expr>, Box<Expr>),
    /// `v in coll` / `k, v in coll` with everything bound.
    In(Option<Box<Expr>>, Box<Expr>, Box<Expr>),
    /// An expression that depends only on constants and `input.parameters`, numbered for
    /// evaluation when a constraint binds its parameters (see [`super::fold`]); the
    /// expression itself runs when that gave no value.
    Folded(u32, Box<Expr>),
}

/// The left side of a unification: binds unbound variables, compares the rest.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// `_`: matches anything.
    Wild,
    /// An unbound variable: bound to the value.
    Bind(Slot),
    /// A bound expression: the value must equal it.
    Eq(Expr),
    /// An array of patterns: an array of the same length, element by element.
    Array(Vec<Pattern>),
    /// An object of patterns: an object with these (bound) keys, as regorus matches it.
    Object(Vec<(Expr, Pattern)>),
}

/// One statement of a query.
#[derive(Debug, Clone)]
pub(crate) enum Stmt {
    /// An expression: holds unless undefined or `false`.
    Expr(Expr),
    /// `pattern = expr` / `pattern := expr`: holds when `expr` is defined and unifies.
    Bind(Pattern, Expr),
    /// For each `(key, value)` of a collection that unifies with the patterns.
    Iter {
        /// The collection.
        coll: Expr,
        /// Pattern for the key (array index, object key, set member).
        key: Pattern,
        /// Pattern for the value.
        val: Pattern,
    },
    /// `not query`: holds when the query has no solution; binds nothing.
    Not(Query),
    /// `every k, v in domain { query }`: holds when the query holds for every element.
    Every {
        /// Slot of the key, if named.
        key: Option<Slot>,
        /// Slot of the value.
        val: Slot,
        /// The domain.
        domain: Expr,
        /// The body.
        query: Query,
    },
}

/// A conjunction of statements, solved left to right with backtracking.
pub(crate) type Query = Vec<Stmt>;

/// What kind of document a rule defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    /// `p = v { .. }` / `p { .. }`.
    Complete,
    /// `p[x] { .. }` / `p contains x if { .. }`.
    Set,
    /// `p[k] = v { .. }`.
    Object,
    /// `f(a, b) = v { .. }` with its arity.
    Function(usize),
}

/// One body with its `else` chain: the first clause whose query holds gives the value.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    /// The body.
    pub(crate) query: Query,
    /// The value (`None`: `true`).
    pub(crate) value: Option<Expr>,
}

/// One definition of a rule (one head with its body and `else` clauses).
#[derive(Debug, Clone)]
pub(crate) struct Def {
    /// Slots of its frame.
    pub(crate) slots: u32,
    /// Function parameters.
    pub(crate) params: Vec<Pattern>,
    /// The member of a partial set, or the key of a partial object.
    pub(crate) key: Option<Expr>,
    /// The body, then its `else` clauses.
    pub(crate) clauses: Vec<Clause>,
}

/// A rule: every definition of one name in one package.
#[derive(Debug)]
pub(crate) struct Rule {
    /// `package.name`, for messages.
    pub(crate) name: String,
    /// Kind.
    pub(crate) kind: RuleKind,
    /// Definitions.
    pub(crate) defs: Vec<Def>,
    /// The `default` value.
    pub(crate) default: Option<Expr>,
    /// For a partial set or object: its definitions grouped by a common beginning (see
    /// [`super::group`]); every definition is in exactly one group.
    pub(crate) groups: Vec<Group>,
}

/// Definitions of a partial rule whose queries begin with the same statements.
#[derive(Debug)]
pub(crate) struct Group {
    /// The definitions, by index, in source order.
    pub(crate) defs: Vec<usize>,
    /// Number of leading statements they share (0 for a group of one).
    pub(crate) prefix: usize,
    /// Slots of the frame they share: the most any of them needs.
    pub(crate) slots: u32,
}

/// A compiled template.
#[derive(Debug)]
pub(crate) struct Program {
    /// Every rule of every module.
    pub(crate) rules: Vec<Rule>,
    /// `violation`.
    pub(crate) entry: RuleId,
    /// Number of [`Expr::Folded`] expressions.
    pub(crate) folds: u32,
    /// Rules without arguments whose value is the same for every constraint of the
    /// template (see [`super::share`]), by rule.
    pub(crate) shared_rules: Vec<bool>,
    /// Whether anything is shared across constraints (a shared call or rule).
    pub(crate) shares: bool,
}
