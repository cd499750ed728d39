//! `units.parse_bytes` as OPA computes it: exactly, truncated toward zero.
//!
//! OPA multiplies the amount by the unit as an arbitrary-precision float and keeps the
//! integer part (`"1.5"` is 1, `"-1.5"` is -1, `"1.0000001Mi"` is 1048576); regorus rounds
//! to the nearest (`"1.5"` is 2). The amount is read here as a decimal `digits × 10^exp`,
//! multiplied by the unit exactly on its digits, and cut at the decimal point, so every
//! value, beyond 2^64 too, is OPA's. The result is at most [`MAX_DIGITS`] digits long.

use regorus::Value;

/// Most digits a result may have; an amount like `1e100000` is undefined rather than a
/// hundred thousand digits. (2^80 × 10^30, the largest unit, has 55.)
const MAX_DIGITS: usize = 400;

/// The unit's factor: a power of two or of ten.
enum Unit {
    Two(u32),
    Ten(i64),
}

/// The units OPA (and regorus) know, in any case.
fn unit(suffix: &str) -> Option<Unit> {
    Some(match suffix.to_ascii_lowercase().as_str() {
        "" => Unit::Two(0),
        "ki" | "kib" => Unit::Two(10),
        "mi" | "mib" => Unit::Two(20),
        "gi" | "gib" => Unit::Two(30),
        "ti" | "tib" => Unit::Two(40),
        "pi" | "pib" => Unit::Two(50),
        "ei" | "eib" => Unit::Two(60),
        "zi" | "zib" => Unit::Two(70),
        "yi" | "yib" => Unit::Two(80),
        "k" | "kb" => Unit::Ten(3),
        "m" | "mb" => Unit::Ten(6),
        "g" | "gb" => Unit::Ten(9),
        "t" | "tb" => Unit::Ten(12),
        "p" | "pb" => Unit::Ten(15),
        "e" | "eb" => Unit::Ten(18),
        "z" | "zb" => Unit::Ten(21),
        "y" | "yb" => Unit::Ten(24),
        "r" | "rb" => Unit::Ten(27),
        "q" | "qb" => Unit::Ten(30),
        _ => return None,
    })
}

/// A decimal number `[-+]digits[.digits][e[-+]digits]` as (negative, digits, exponent).
fn decimal(s: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if !digits.iter().all(u8::is_ascii_digit) || exp.unsigned_abs() > MAX_DIGITS as u64 {
        return None;
    }
    // Leading zeros do not count (nor cost in the multiplication).
    let first = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    let digits = digits[first..].iter().map(|d| d - b'0').collect();
    Some((neg, digits, exp - frac.len() as i64))
}

/// `digits × 2^n`, on decimal digits (most significant first).
fn times_two_pow(mut digits: Vec<u8>, n: u32) -> Vec<u8> {
    for _ in 0..n {
        let mut carry = 0u8;
        for d in digits.iter_mut().rev() {
            let x = *d * 2 + carry;
            *d = x % 10;
            carry = x / 10;
        }
        if carry > 0 {
            digits.insert(0, carry);
        }
    }
    digits
}

/// `units.parse_bytes(s)`: undefined where OPA raises an error (spaces, an unknown unit,
/// an amount that is not a number), as with non-strict builtin errors.
pub(crate) fn parse_bytes(args: &[Value]) -> anyhow::Result<Value> {
    let [Value::String(s)] = args else {
        return Ok(Value::Undefined);
    };
    let s = s.as_ref();
    let s = match s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => inner,
        None => s,
    };
    if s.chars().any(char::is_whitespace) {
        return Ok(Value::Undefined);
    }
    let split = s.rfind(|c: char| c.is_ascii_digit()).map_or(0, |p| p + 1);
    let (amount, suffix) = s.split_at(split);
    let (Some(unit), Some((neg, digits, exp))) = (unit(suffix), decimal(amount)) else {
        return Ok(Value::Undefined);
    };
    let (digits, exp) = match unit {
        Unit::Two(n) => (times_two_pow(digits, n), exp),
        Unit::Ten(n) => (digits, exp + n),
    };
    // Cut at the decimal point (toward zero), then drop leading zeros.
    let mut int: Vec<u8> = if exp >= 0 {
        let zeros = usize::try_from(exp).unwrap_or(usize::MAX);
        if digits.len().saturating_add(zeros) > MAX_DIGITS * 2 {
            return Ok(Value::Undefined);
        }
        digits
            .into_iter()
            .chain(std::iter::repeat_n(0, zeros))
            .collect()
    } else {
        let cut = usize::try_from(exp.unsigned_abs()).unwrap_or(usize::MAX);
        digits[..digits.len().saturating_sub(cut)].to_vec()
    };
    let first = int.iter().position(|&d| d != 0).unwrap_or(int.len());
    int.drain(..first);
    if int.len() > MAX_DIGITS {
        return Ok(Value::Undefined);
    }
    if int.is_empty() {
        return Ok(Value::from(0u64));
    }
    let text: String = neg
        .then_some('-')
        .into_iter()
        .chain(int.iter().map(|d| char::from(b'0' + d)))
        .collect();
    // Parsed as a Rego number literal: an integer of any size stays exact.
    Ok(text.parse().map_or(Value::Undefined, Value::Number))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;
    use regorus::Value;

    fn pb(s: &str) -> String {
        match parse_bytes(&[Value::from(s)]) {
            Ok(Value::Undefined) => "undefined".into(),
            Ok(v) => crate::engine::rego::builtins::rego_text(&v),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn truncates_exactly_as_opa() {
        // OPA's (1.20) answers.
        let cases = [
            ("1.5", "1"),
            ("2.5", "2"),
            ("1.9", "1"),
            ("-1.5", "-1"),
            ("1.5Ki", "1536"),
            ("-1.5Ki", "-1536"),
            ("0.3K", "300"),
            ("1.0000001Mi", "1048576"),
            ("1e3", "1000"),
            ("1e3K", "1000000"),
            (".5K", "500"),
            ("1.5k", "1500"),
            ("1.5kb", "1500"),
            ("12345678901234567890", "12345678901234567890"),
            ("1.5EiB", "1729382256910270464"),
            ("\"10Mi\"", "10485760"),
            ("1Yi", "1208925819614629174706176"),
            ("0001.5000Ki", "1536"),
            ("0", "0"),
        ];
        for (input, want) in cases {
            assert_eq!(pb(input), want, "{input}");
        }
        for bad in [" 1", "5.5.5", "1x", "", "k", "1e100000", "1e399K"] {
            assert_eq!(pb(bad), "undefined", "{bad}");
        }
        assert_eq!(pb("0.0001"), "0");
    }
}
