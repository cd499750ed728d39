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
//! it (a step that is not a positive integer, which regorus divides by, is undefined, as
//! OPA's builtin error is to Gatekeeper). Both paths call them.
//!
//! `to_number`: OPA reads a string with Go's `strconv.ParseFloat`, so `"+1"`, `".5"` and
//! `"5."` are numbers and `" 1"` is not; regorus reads it as JSON, which says the opposite.
//! The override reads Go's decimal syntax (Go's hexadecimal floats, `"0x1p4"`, stay
//! undefined).
//!
//! `count`: OPA counts a string's characters (Unicode scalar values); regorus counts UTF-16
//! code units, two for a character outside the basic plane (an emoji in an annotation).

use regorus::{Engine, Value};

pub(crate) use super::sprintf::go_sprintf;

/// Register the overrides on a fresh engine (extensions are looked up before builtins).
pub(super) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "sprintf".to_string(),
        2,
        Box::new(|args: Vec<Value>| -> anyhow::Result<Value> {
            // A format that is not a string or arguments not in an array are builtin
            // errors in OPA, which Gatekeeper's non-strict evaluation makes undefined.
            let (Some(Value::String(format)), Some(Value::Array(items))) =
                (args.first(), args.get(1))
            else {
                return Ok(Value::Undefined);
            };
            let items: Vec<Value> = items.iter().cloned().collect();
            Ok(Value::from(go_sprintf(format, &items)))
        }),
    )?;
    engine.add_extension(
        "to_number".to_string(),
        1,
        Box::new(|args: Vec<Value>| Ok(args.first().map_or(Value::Undefined, to_number))),
    )?;
    engine.add_extension(
        "count".to_string(),
        1,
        Box::new(|args: Vec<Value>| Ok(args.first().map_or(Value::Undefined, count))),
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

/// `to_number(x)` as OPA computes it: `null` and `false` are 0, `true` 1, a number itself,
/// a string in Go's decimal float syntax its value; anything else (and `"inf"`, `"NaN"`, a
/// value out of the float range) undefined.
pub(crate) fn to_number(v: &Value) -> Value {
    match v {
        Value::Null | Value::Bool(false) => Value::from(0u64),
        Value::Bool(true) => Value::from(1u64),
        Value::Number(_) => v.clone(),
        Value::String(s) => match go_decimal(s) {
            Some(text) => match Value::from_json_str(&text) {
                // `-0` is zero, as OPA's integer reading gives it (not a negative float).
                Ok(Value::Number(n)) if n.as_i64() == Some(0) => Value::from(0u64),
                Ok(n @ Value::Number(_)) => n,
                _ => Value::Undefined,
            },
            None => Value::Undefined,
        },
        _ => Value::Undefined,
    }
}

/// A string in Go's decimal float syntax (`[+-](digits[.digits*]|.digits)[(e|E)[+-]digits]`),
/// rewritten in JSON's (no `+`, a digit on both sides of the point); `None` otherwise.
fn go_decimal(s: &str) -> Option<String> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => ("", &s[1..]),
        b'-' => ("-", &s[1..]),
        _ => ("", s),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) || (int.is_empty() && frac.unwrap_or("").is_empty())
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push_str(sign);
    // JSON forbids leading zeros: keep one.
    let int = int.trim_start_matches('0');
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        out.push('.');
        out.push_str(f);
    }
    if let Some(e) = exponent {
        let body = e.strip_prefix(['+', '-']).unwrap_or(e);
        if body.is_empty() || !digits(body) {
            return None;
        }
        out.push('e');
        out.push_str(e);
    }
    Some(out)
}

/// `count(x)` as OPA computes it: elements of a collection, characters of a string.
pub(crate) fn count(v: &Value) -> Value {
    let n = match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Set(s) => s.len(),
        Value::Object(o) => o.len(),
        _ => return Value::Undefined,
    };
    Value::from(n as u64)
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
/// A range too long (a non-numeric argument or a step that is not a positive integer is a
/// builtin error in OPA, undefined here as in Gatekeeper's non-strict evaluation).
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
    // `None`: not an integer that fits (undefined).
    let int = |v: Option<&Value>| -> Option<i64> {
        match v {
            Some(Value::Number(n)) if n.is_integer() => n.as_i64(),
            _ => None,
        }
    };
    let (Some(from), Some(to)) = (int(args.first()), int(args.get(1))) else {
        return Ok(None);
    };
    let step = match args.get(2) {
        None => 1,
        Some(s) => match int(Some(s)) {
            Some(s) if s > 0 => s,
            _ => return Ok(None),
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

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn to_number_reads_go_decimal_syntax() {
        let n = |x: &str| super::to_number(&s(x));
        assert_eq!(n("+1"), Value::from(1u64));
        assert_eq!(n(".5"), Value::from(0.5f64));
        assert_eq!(n("-.5"), Value::from(-0.5f64));
        assert_eq!(n("5."), Value::from(5u64));
        assert_eq!(n("007"), Value::from(7u64));
        assert_eq!(n("-0"), Value::from(0u64));
        assert_eq!(n("1e3"), Value::from(1000u64));
        assert_eq!(n("2.5E-1"), Value::from(0.25f64));
        for bad in [
            " 1", "1 ", "", ".", "+", "1e", "1e+", "inf", "NaN", "0x10", "1_000", "1e400",
        ] {
            assert_eq!(n(bad), Value::Undefined, "{bad:?}");
        }
        assert_eq!(super::to_number(&Value::Null), Value::from(0u64));
        assert_eq!(super::to_number(&Value::new_array()), Value::Undefined);
    }

    #[test]
    fn count_of_a_string_counts_characters() {
        assert_eq!(super::count(&s("a🙂é")), Value::from(3u64));
        assert_eq!(super::count(&Value::from(1i64)), Value::Undefined);
    }

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
