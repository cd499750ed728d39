//! Builtin overrides registered on every engine, where regorus and OPA disagree on a
//! builtin that Gatekeeper's policies call.
//!
//! `sprintf`: OPA formats with Go's `fmt.Sprintf`, which never fails; regorus 0.14 raises
//! an error for a missing argument, which makes the whole `violation` rule fail. The
//! extension formats the way OPA does (see [`super::sprintf`]).
//!
//! `units.parse_bytes`: OPA truncates toward zero, regorus rounds (see [`super::units`]).
//!
//! `numbers.range` and `numbers.range_step`: regorus builds the whole array in one call,
//! with no limit and no look at the clock, so `numbers.range(0, 1e9)` takes a minute and
//! gigabytes. The overrides refuse a range longer than [`MAX_RANGE_LEN`] before building
//! it (and a step that is not a positive integer, which regorus divides by). Both paths
//! call them.

use regorus::{Engine, Value};

pub(crate) use super::sprintf::go_sprintf;

/// Register the overrides on a fresh engine (extensions are looked up before builtins).
pub(super) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "sprintf".to_string(),
        2,
        Box::new(|args: Vec<Value>| -> anyhow::Result<Value> {
            let (Some(Value::String(format)), Some(list)) = (args.first(), args.get(1)) else {
                anyhow::bail!("sprintf: operand 1 must be a string");
            };
            let items: Vec<Value> = match list {
                Value::Array(a) => a.iter().cloned().collect(),
                _ => anyhow::bail!("sprintf: operand 2 must be an array"),
            };
            Ok(Value::from(go_sprintf(format, &items)))
        }),
    )?;
    engine.add_extension(
        "units.parse_bytes".to_string(),
        1,
        Box::new(|args: Vec<Value>| super::units::parse_bytes(&args)),
    )?;
    engine.add_extension(
        "numbers.range".to_string(),
        2,
        Box::new(|args: Vec<Value>| range(&args)),
    )?;
    engine.add_extension(
        "numbers.range_step".to_string(),
        3,
        Box::new(|args: Vec<Value>| range(&args)),
    )
}

/// Most elements `numbers.range` or `numbers.range_step` may make. A policy iterating a
/// range uses it as a loop counter over something of the request's size; a million
/// numbers are some 50 MB and tens of milliseconds to build.
pub(crate) const MAX_RANGE_LEN: u64 = 1_000_000;

/// `numbers.range(a, b)` (two arguments) or `numbers.range_step(a, b, step)` (three), as
/// regorus computes them (both ends included, descending when `b < a`, undefined for a
/// non-integer end) but refused past [`MAX_RANGE_LEN`] elements.
///
/// # Errors
/// A non-numeric argument, a step that is not a positive integer, a range too long.
pub(crate) fn range(args: &[Value]) -> anyhow::Result<Value> {
    Ok(match range_of(args)? {
        Some((from, step, len)) => Value::from(
            (0..len)
                .map(|i| Value::from(from + i * step))
                .collect::<Vec<_>>(),
        ),
        None => Value::Undefined,
    })
}

/// The first element, signed step and length of the range [`range`] makes, `None` when it
/// is undefined.
///
/// # Errors
/// As [`range`].
pub(crate) fn range_of(args: &[Value]) -> anyhow::Result<Option<(i64, i64, i64)>> {
    let name = if args.len() == 3 {
        "numbers.range_step"
    } else {
        "numbers.range"
    };
    let int = |v: Option<&Value>| -> anyhow::Result<Option<i64>> {
        match v {
            Some(Value::Number(n)) if n.is_integer() => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("{name}: operand out of range")),
            Some(Value::Number(_)) => Ok(None),
            _ => anyhow::bail!("{name}: operands must be numbers"),
        }
    };
    let (Some(from), Some(to)) = (int(args.first())?, int(args.get(1))?) else {
        return Ok(None);
    };
    let step = match args.get(2) {
        None => 1,
        Some(s) => match int(Some(s))? {
            Some(s) if s > 0 => s,
            _ => anyhow::bail!("{name}: step must be a positive integer"),
        },
    };
    let span = (i128::from(to) - i128::from(from)).unsigned_abs();
    let len = span / u128::from(step.unsigned_abs()) + 1;
    if len > u128::from(MAX_RANGE_LEN) {
        anyhow::bail!("{name}: the range has {len} elements; the limit is {MAX_RANGE_LEN}");
    }
    // Both fit: len is at most MAX_RANGE_LEN, and every element lies between the ends.
    let len = len as i64;
    Ok(Some((from, if to < from { -step } else { step }, len)))
}

/// A float's text in a Rego value's text: shortest digits, exponent form outside
/// [1e-4, 1e21) (as Go's `encoding/json` writes a float64).
fn go_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// A string as Rego quotes it.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A value's Rego text, as OPA's `ast.Value.String()` writes it.
pub(super) fn rego_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_big()) {
            (Some(i), _) => i.to_string(),
            (None, Some(big)) => big.to_string(),
            (None, None) => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => quote(s),
        Value::Array(a) => format!("[{}]", join(a.iter())),
        Value::Set(s) if s.is_empty() => "set()".into(),
        Value::Set(s) => format!("{{{}}}", join(s.iter())),
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter_sorted()
                .map(|(k, v)| format!("{}: {}", rego_text(k), rego_text(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Undefined => "undefined".into(),
    }
}

fn join<'a>(items: impl Iterator<Item = &'a Value>) -> String {
    items.map(rego_text).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::rego_text;
    use regorus::Value;

    #[test]
    fn numbers_in_rego_text() {
        let v = Value::from_json_str("[12345678901234567890, -3, 2.5, 1e-7, [0.5]]")
            .unwrap_or(Value::Undefined);
        assert_eq!(
            rego_text(&v),
            "[12345678901234567890, -3, 2.5, 1e-07, [0.5]]"
        );
    }
}
