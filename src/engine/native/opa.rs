//! Rego's view of JSON values, for rules that must print and compare values exactly as
//! the library's Rego does: `sprintf("%v")` rendering, and the total order that sorts (and
//! deduplicates) the elements of a set.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Render a JSON value the way OPA's `sprintf("%v")` does, so messages match the Rego
/// template's byte for byte: strings bare at the top level, quoted inside composites.
pub(crate) struct Opa<'a>(pub &'a Value);

impl fmt::Display for Opa<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(s) => f.write_str(s),
            other => write_term(f, other),
        }
    }
}

/// A value written as an OPA term inside a composite: strings quoted (`"a"`), unlike
/// [`Opa`], which prints a top-level string bare.
pub(crate) struct Term<'a>(pub &'a Value);

impl fmt::Display for Term<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self.0)
    }
}

/// Write a value as an OPA term (`["a", "b"]`, `{"k": 1}` with sorted keys).
fn write_term(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        // Floats print as Rust's `f64` does (`3.0` as `3`, no exponent), which is how
        // the Rego engine prints them; integers as written.
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(x) => write!(f, "{x}"),
            None => write!(f, "{n}"),
        },
        Value::String(s) => write!(f, "{}", Value::String(s.clone())),
        Value::Array(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_term(f, item)?;
            }
            f.write_str("]")
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            f.write_str("{")?;
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}: ", Value::String(k.clone()))?;
                write_term(f, &map[k])?;
            }
            f.write_str("}")
        }
    }
}

/// OPA's total order on values, used to print sets the way Rego does: `null` < booleans <
/// numbers < strings < arrays < objects; arrays compare element by element, then by length;
/// objects by their entries in key order. Numbers compare by value, so `1` and `1.0` are
/// one set element, as in Rego.
pub(crate) fn opa_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(i, j)| opa_cmp(i, j))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<(&String, &Value)> = x.iter().collect();
            let mut ys: Vec<(&String, &Value)> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            xs.iter()
                .zip(&ys)
                .map(|((k1, v1), (k2, v2))| k1.cmp(k2).then_with(|| opa_cmp(v1, v2)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| xs.len().cmp(&ys.len()))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Numbers by exact value. Comparing an integer and a float through `f64` is not
/// transitive (2⁵³ + 1 would equal the float 2⁵³, which equals 2⁵³, which is below
/// 2⁵³ + 1), and a sort given a comparison that is not a total order may panic on input a
/// tenant chose; so integers compare exactly with each other and with floats.
fn number_cmp(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    fn int(n: &serde_json::Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    // JSON numbers are finite: serde_json holds no NaN or infinity.
    let float = |n: &serde_json::Number| n.as_f64().unwrap_or(0.0);
    match (int(x), int(y)) {
        (Some(i), Some(j)) => i.cmp(&j),
        (Some(i), None) => int_float_cmp(i, float(y)),
        (None, Some(j)) => int_float_cmp(j, float(x)).reverse(),
        (None, None) => float(x).partial_cmp(&float(y)).unwrap_or(Ordering::Equal),
    }
}

/// An integer against a finite float, exactly.
fn int_float_cmp(i: i128, f: f64) -> Ordering {
    // Beyond ±2¹²⁶ no i128 from JSON (at most 2⁶⁴) can reach the float.
    const FAR: f64 = 8.507_059_173_023_462e37;
    if f >= FAR {
        return Ordering::Less;
    }
    if f <= -FAR {
        return Ordering::Greater;
    }
    let floor = f.floor();
    // In range by the tests above, and integral: the cast is exact.
    let whole = floor as i128;
    match i.cmp(&whole) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

/// Sort values in OPA's order and drop duplicates, making the elements of a Rego set.
pub(crate) fn opa_set(mut items: Vec<&Value>) -> Vec<&Value> {
    items.sort_by(|a, b| opa_cmp(a, b));
    items.dedup_by(|a, b| opa_cmp(a, b).is_eq());
    items
}

/// Render a Rego set (already made by [`opa_set`]) the way `sprintf("%v")` prints it:
/// `{"a", 1}`, or `set()` when empty.
pub(crate) fn render_set(items: &[&Value]) -> String {
    if items.is_empty() {
        return "set()".into();
    }
    let inner: Vec<String> = items.iter().map(|v| Term(v).to_string()).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Render a list of strings as an OPA array or set term: `["a", "b"]` / `{"a", "b"}`.
pub(crate) fn render_strings<'a>(
    items: impl IntoIterator<Item = &'a String>,
    open: char,
    close: char,
) -> String {
    let mut out = String::new();
    out.push(open);
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&Value::String(s.clone()).to_string());
    }
    out.push(close);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opa_rendering_matches_sprintf() {
        assert_eq!(Opa(&json!("x")).to_string(), "x");
        assert_eq!(Opa(&json!(["a", "b"])).to_string(), r#"["a", "b"]"#);
        assert_eq!(
            Opa(&json!({"b": 1, "a": [true, null]})).to_string(),
            r#"{"a": [true, null], "b": 1}"#
        );
        assert_eq!(Opa(&json!(1.5)).to_string(), "1.5");
        let owned = ["a".to_string(), "b".to_string()];
        assert_eq!(render_strings(&owned, '{', '}'), r#"{"a", "b"}"#);
    }

    #[test]
    fn sets_sort_by_type_then_value_and_collapse_equal_numbers() {
        let values = [
            json!("b"),
            json!(2),
            json!(null),
            json!("a"),
            json!(1.0),
            json!(1),
            json!(true),
            json!([1]),
            json!({"k": 1}),
        ];
        let set = opa_set(values.iter().collect());
        assert_eq!(
            render_set(&set),
            r#"{null, true, 1, 2, "a", "b", [1], {"k": 1}}"#
        );
        assert_eq!(render_set(&[]), "set()");
        assert_eq!(opa_cmp(&json!([1, 2]), &json!([1])), Ordering::Greater);
        assert_eq!(opa_cmp(&json!({"a": 1}), &json!({"b": 0})), Ordering::Less);
    }

    #[test]
    fn integers_and_floats_compare_exactly_and_transitively() {
        let big = 9_007_199_254_740_992_i64; // 2^53
        let (i, f, j) = (json!(big + 1), json!(big as f64), json!(big));
        assert_eq!(opa_cmp(&i, &f), Ordering::Greater);
        assert_eq!(opa_cmp(&f, &j), Ordering::Equal);
        assert_eq!(opa_cmp(&i, &j), Ordering::Greater);
        assert_eq!(opa_cmp(&json!(2), &json!(2.5)), Ordering::Less);
        assert_eq!(opa_cmp(&json!(3), &json!(2.5)), Ordering::Greater);
        assert_eq!(opa_cmp(&json!(-3), &json!(-2.5)), Ordering::Less);
        assert_eq!(opa_cmp(&json!(u64::MAX), &json!(1e300)), Ordering::Less);
        assert_eq!(opa_cmp(&json!(i64::MIN), &json!(-1e300)), Ordering::Greater);
        assert_eq!(
            opa_cmp(&json!(u64::MAX), &json!(i64::MIN)),
            Ordering::Greater
        );
        // A sort over a mix of such numbers must not meet an inconsistent order.
        let mut mixed: Vec<Value> = (0..200)
            .map(|k| match k % 3 {
                0 => json!(big + k),
                1 => json!((big + k) as f64),
                _ => json!(big - k),
            })
            .collect();
        mixed.sort_by(opa_cmp);
        assert!(mixed.windows(2).all(|w| opa_cmp(&w[0], &w[1]).is_le()));
    }
}
