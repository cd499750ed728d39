//! The CEL environment every `K8sNativeValidation` program is compiled and run against.
//!
//! Kubernetes gives ValidatingAdmissionPolicy expressions the CEL standard library, the
//! `strings` extension (`lowerAscii`, `replace`, `split`, `join`, `indexOf`, ...), the
//! `lists` extension, and its own list library (`isSorted`, `sum`, `min`, `max`, `indexOf`,
//! `lastIndexOf`) and regex library (`find`, `findAll`). The `cel` crate provides the first
//! three; the Kubernetes list and regex functions are added here. The environment is built
//! once per process and shared.
//!
//! `matches` is rerouted, at parse time, to an overload that keeps compiled regular
//! expressions in the bounded cache of [`crate::engine::regex`], shared with Rego: the
//! standard one compiles its pattern on every call, which would put a regex compilation on
//! the hot path of every `allowedRegex`-style policy. Patterns are read as RE2 reads them.

use std::cmp::Ordering;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{CallExpr, Expr, IdedExpr};
use cel::common::types::{
    CelBool, CelInt, CelList, CelString, DYN_TYPE, INT_TYPE, LIST_TYPE, STRING_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::parser::{Macro, MacroExprHelper};
use cel::{extensions, DeclarationError, Env, ExecutionError};

/// The overload `matches` calls are rewritten to; `@` keeps expressions from naming it.
const CACHED_MATCHES: &str = "@cachedMatches";

/// The shared environment, or the reason it could not be built (a declaration clash, which
/// would be a programming error, reported as a compile error rather than a panic).
static ENV: LazyLock<Result<Arc<Env>, String>> =
    LazyLock::new(|| build().map(Arc::new).map_err(|e| e.to_string()));

/// The environment shared by all CEL programs.
pub(super) fn shared() -> Result<Arc<Env>, String> {
    ENV.clone()
}

fn build() -> Result<Env, DeclarationError> {
    let mut env = Env::stdlib();
    env.add_extension(extensions::strings)?;
    env.add_extension(extensions::lists)?;
    super::cost::register(&mut env)?;
    env.add_member_overload(
        CACHED_MATCHES,
        "k8s_cached_matches",
        STRING_TYPE,
        vec![STRING_TYPE],
        cached_matches,
    )?;
    env.add_member_overload(
        "find",
        "k8s_regex_find",
        STRING_TYPE,
        vec![STRING_TYPE],
        find,
    )?;
    env.add_member_overload(
        "findAll",
        "k8s_regex_find_all",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "k8s_regex_find_all_n",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all,
    )?;
    env.add_macro(Macro::receiver("matches", 1, |helper, target, args| {
        Ok(rewrite_matches(helper, target.take(), args.pop()))
    }))?;
    env.add_macro(Macro::global("matches", 2, |helper, _target, args| {
        let pattern = args.pop();
        Ok(rewrite_matches(helper, args.pop(), pattern))
    }))?;
    env.add_member_overload(
        "isSorted",
        "k8s_list_is_sorted",
        LIST_TYPE,
        vec![],
        is_sorted,
    )?;
    env.add_member_overload("sum", "k8s_list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "k8s_list_min", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "k8s_list_max", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "k8s_list_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "k8s_list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    Ok(env)
}

/// The elements of the list receiving a member call.
fn elements<'a, 'v>(list: &'a (dyn Val + 'v)) -> Result<Vec<&'a (dyn Val + 'v)>, ExecutionError> {
    let iterable = list
        .as_iterable()
        .ok_or_else(|| ExecutionError::UnexpectedType {
            got: list.get_type().name().to_owned(),
            want: "list".to_owned(),
        })?;
    let mut iter = iterable.iter();
    let mut out = Vec::new();
    while let Some(item) = iter.next() {
        out.push(item);
    }
    Ok(out)
}

fn compare(function: &str, a: &dyn Val, b: &dyn Val) -> Result<Ordering, ExecutionError> {
    let comparer = a.as_comparer().ok_or_else(|| {
        ExecutionError::function_error(
            function,
            format!("{} is not comparable", a.get_type().name()),
        )
    })?;
    comparer.compare(b)
}

fn receiver<'c, 'b, 'v>(
    function: &str,
    args: &'c [CowVal<'b, 'v>],
) -> Result<&'c CowVal<'b, 'v>, ExecutionError> {
    args.first()
        .ok_or_else(|| ExecutionError::function_error(function, "missing receiver"))
}

fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements(receiver("isSorted", &args)?.as_ref())?;
    for pair in items.windows(2) {
        if compare("isSorted", pair[0], pair[1])? == Ordering::Greater {
            return Ok(CowVal::owned(CelBool::from(false)));
        }
    }
    Ok(CowVal::owned(CelBool::from(true)))
}

fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements(receiver("sum", &args)?.as_ref())?;
    let mut iter = items.into_iter();
    let Some(first) = iter.next() else {
        return Ok(CowVal::owned(CelInt::from(0)));
    };
    let mut total: Box<dyn Val + 'v> = first.clone_as_boxed();
    for item in iter {
        let adder = total.as_adder().ok_or_else(|| {
            ExecutionError::function_error("sum", format!("cannot add {}", item.get_type().name()))
        })?;
        let next = adder.add(item)?.into_owned();
        total = next;
    }
    Ok(CowVal::Owned(total))
}

fn extreme<'b, 'v>(
    function: &str,
    args: Vec<CowVal<'b, 'v>>,
    keep: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements(receiver(function, &args)?.as_ref())?;
    let mut best: Option<&dyn Val> = None;
    for item in items {
        best = match best {
            Some(current) if compare(function, item, current)? != keep => Some(current),
            _ => Some(item),
        };
    }
    match best {
        Some(v) => Ok(CowVal::Owned(v.clone_as_boxed())),
        None => Err(ExecutionError::function_error(function, "empty list")),
    }
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("min", args, Ordering::Less)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("max", args, Ordering::Greater)
}

fn position<'b, 'v>(
    function: &str,
    args: Vec<CowVal<'b, 'v>>,
    last: bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let needle = args
        .get(1)
        .ok_or_else(|| ExecutionError::invalid_argument_count(2, args.len()))?;
    let items = elements(receiver(function, &args)?.as_ref())?;
    let found = if last {
        items.iter().rposition(|v| v.equals(needle.as_ref()))
    } else {
        items.iter().position(|v| v.equals(needle.as_ref()))
    };
    let index = found.map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
    Ok(CowVal::owned(CelInt::from(index)))
}

fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position("indexOf", args, false)
}

fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    position("lastIndexOf", args, true)
}

/// `text.matches(pattern)` (or `matches(text, pattern)`) as a call of the caching overload.
fn rewrite_matches(
    helper: &mut MacroExprHelper<'_>,
    text: Option<IdedExpr>,
    pattern: Option<IdedExpr>,
) -> Option<IdedExpr> {
    let (text, pattern) = (text?, pattern?);
    Some(helper.next_expr(Expr::Call(CallExpr {
        func_name: CACHED_MATCHES.to_owned(),
        target: Some(Box::new(text)),
        args: vec![pattern],
    })))
}

/// The compiled form of `pattern`, read as RE2 reads it (Kubernetes' CEL runs Go's
/// regexp), from the cache the Rego engine shares.
fn compiled(pattern: &str) -> Result<Arc<regex::Regex>, ExecutionError> {
    crate::engine::regex::compiled(pattern).map_err(|e| {
        let why = match e {
            crate::engine::regex::Bad::Syntax => "not a valid regex",
            crate::engine::regex::Bad::TooBig => "too large a regex",
        };
        ExecutionError::function_error("matches", format!("'{pattern}' {why}"))
    })
}

fn cached_matches<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = |i: usize| {
        args.get(i)
            .and_then(|a| a.downcast_ref::<CelString>())
            .map(|s| s.inner())
            .ok_or_else(|| ExecutionError::function_error("matches", "expects two strings"))
    };
    let matched = compiled(text(1)?)?.is_match(text(0)?);
    Ok(CowVal::owned(CelBool::from(matched)))
}

/// The string argument at `index` of a call to `function`.
fn string_arg<'a>(
    function: &str,
    args: &'a [CowVal<'_, '_>],
    index: usize,
) -> Result<&'a str, ExecutionError> {
    args.get(index)
        .and_then(|a| a.downcast_ref::<CelString>())
        .map(|s| s.inner())
        .ok_or_else(|| ExecutionError::function_error(function, "expects string arguments"))
}

/// `text.find(pattern)`: the first match, or the empty string.
fn find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let re = compiled(string_arg("find", &args, 1)?)?;
    let text = string_arg("find", &args, 0)?;
    let found = re.find(text).map_or("", |m| m.as_str()).to_owned();
    Ok(CowVal::owned(CelString::from(found)))
}

/// `text.findAll(pattern)` and `text.findAll(pattern, limit)`: the matches, at most `limit`
/// of them when `limit` is not negative.
fn find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let re = compiled(string_arg("findAll", &args, 1)?)?;
    let text = string_arg("findAll", &args, 0)?;
    let limit = match args.get(2).and_then(|a| a.downcast_ref::<CelInt>()) {
        Some(n) if *n.inner() >= 0 => usize::try_from(*n.inner()).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    let found: Vec<Box<dyn Val + 'v>> = re
        .find_iter(text)
        .take(limit)
        .map(|m| Box::new(CelString::from(m.as_str().to_owned())) as Box<dyn Val + 'v>)
        .collect();
    Ok(CowVal::owned(CelList::from(found)))
}
