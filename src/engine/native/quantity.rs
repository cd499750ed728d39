//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`, `-1`), parsed and compared
//! exactly.
//!
//! The resource rules compare a container's cpu or memory with a maximum; both sides must
//! be read the way Kubernetes reads them, so `1Gi` equals `1073741824` and `0.5` equals
//! `500m`. The grammar is Kubernetes' own:
//!
//! ```text
//! quantity ::= [+|-] number suffix
//! number   ::= digits | digits "." [digits] | "." digits
//! suffix   ::= "" | m | k | M | G | T | P | E | Ki | Mi | Gi | Ti | Pi | Ei
//!            | (e|E) [+|-] digits
//! ```
//!
//! A value is held as a signed count of nano-units (10⁻⁹ of a core or byte) in an `i128`,
//! which is exact for every quantity with at most nine fractional digits up to about 10²⁹
//! units; beyond that it saturates, which keeps comparisons right in direction. Parsing
//! allocates nothing.

use std::fmt;

use serde_json::Value;

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;

/// A parsed quantity, ordered by value (`1Gi == 1073741824`, `500m < 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// No digits where the number should be (`""`, `"-"`, `"Gi"`, `"."`).
    #[error("no number")]
    NoNumber,
    /// What follows the number is not a known suffix (`1K`, `1gi`, `1e`, `1 Gi`).
    #[error("unknown suffix")]
    BadSuffix,
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parse a quantity string with Kubernetes' grammar; anything else is rejected.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        // Mantissa digits; digits past what u128 holds are dropped (integer digits raise the
        // exponent instead), which only matters far beyond any real resource size.
        let mut mantissa: u128 = 0;
        let mut exp10: i64 = 0;
        let mut digits = 0usize;
        let mut in_fraction = false;
        while i < bytes.len() {
            match bytes[i] {
                d @ b'0'..=b'9' => {
                    digits += 1;
                    if mantissa < 10u128.pow(36) {
                        mantissa = mantissa * 10 + u128::from(d - b'0');
                        if in_fraction {
                            exp10 -= 1;
                        }
                    } else if !in_fraction {
                        exp10 += 1;
                    }
                }
                b'.' if !in_fraction => in_fraction = true,
                _ => break,
            }
            i += 1;
        }
        if digits == 0 {
            return Err(QuantityError::NoNumber);
        }
        let (suffix_exp10, exp2) = suffix(&s[i..])?;
        exp10 += suffix_exp10;
        let magnitude = scale(mantissa, exp10, exp2);
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
        })
    }

    /// Read a quantity from JSON as the library's Rego does: a string is parsed, a number
    /// is taken as that many units; anything else (`null`, `true`, maps) is not a quantity.
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Quantity::parse(s).ok(),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(Quantity {
                        nanos: i128::from(i).saturating_mul(NANO),
                    })
                } else if let Some(u) = n.as_u64() {
                    Some(Quantity {
                        nanos: i128::from(u).saturating_mul(NANO),
                    })
                } else {
                    // `as` saturates, so huge floats stay ordered.
                    n.as_f64().filter(|f| f.is_finite()).map(|f| Quantity {
                        nanos: (f * 1e9).round() as i128,
                    })
                }
            }
            _ => None,
        }
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// The value in thousandths (millicores for cpu), rounded towards zero.
    pub fn millis(self) -> i128 {
        self.nanos / 1_000_000
    }

    /// The value in nano-units: exact for up to nine fractional digits.
    pub fn nanos(self) -> i128 {
        self.nanos
    }
}

impl fmt::Display for Quantity {
    /// Shows the value in plain units with up to nine decimals, e.g. `0.5` or `1073741824`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let (whole, frac) = (abs / NANO as u128, abs % NANO as u128);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let frac = format!("{frac:09}");
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// Decimal and binary exponents of a suffix. Matched as byte slices: a `match` on `&str`
/// compiles to a libc `memcmp` per arm, which showed up in the evaluation profile.
fn suffix(s: &str) -> Result<(i64, u32), QuantityError> {
    Ok(match s.as_bytes() {
        [] => (0, 0),
        [b'm'] => (-3, 0),
        [b'k'] => (3, 0),
        [b'M'] => (6, 0),
        [b'G'] => (9, 0),
        [b'T'] => (12, 0),
        [b'P'] => (15, 0),
        [b'E'] => (18, 0),
        [b'K', b'i'] => (0, 10),
        [b'M', b'i'] => (0, 20),
        [b'G', b'i'] => (0, 30),
        [b'T', b'i'] => (0, 40),
        [b'P', b'i'] => (0, 50),
        [b'E', b'i'] => (0, 60),
        _ => {
            let rest = s
                .strip_prefix('e')
                .or_else(|| s.strip_prefix('E'))
                .ok_or(QuantityError::BadSuffix)?;
            let digits = rest
                .strip_prefix('+')
                .or_else(|| rest.strip_prefix('-'))
                .unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::BadSuffix);
            }
            // Exponents past a few hundred saturate anyway; clamp so the sum cannot overflow.
            let exp = rest.parse::<i64>().unwrap_or(if rest.starts_with('-') {
                i64::MIN / 4
            } else {
                i64::MAX / 4
            });
            (exp.clamp(-10_000, 10_000), 0)
        }
    })
}

/// `mantissa × 10^exp10 × 2^exp2` in nano-units, non-negative, saturating at `i128::MAX`
/// and rounding fractions of a nano-unit up (as Kubernetes rounds up to its precision).
///
/// Every factor is at least 1 and the mantissa is positive, so the product passes the cap
/// exactly when a partial product would: one checked multiply per power replaces the
/// digit-by-digit loops (about forty `u128` multiplies for `8Gi`).
fn scale(mantissa: u128, exp10: i64, exp2: u32) -> i128 {
    if mantissa == 0 {
        return 0;
    }
    let cap = i128::MAX as u128;
    let times =
        |v: u128, factor: Option<u128>| factor.and_then(|f| v.checked_mul(f)).filter(|n| *n <= cap);
    let pow2 = 1u128.checked_shl(exp2);
    let e = exp10 + 9;
    if e >= 0 {
        let pow10 = u32::try_from(e).ok().and_then(|e| 10u128.checked_pow(e));
        return times(mantissa, pow10)
            .and_then(|v| times(v, pow2))
            .map_or(i128::MAX, |v| v as i128);
    }
    // Multiply by the power of two first so `0.5Ki` stays exact.
    let Some(v) = times(mantissa, pow2) else {
        return i128::MAX;
    };
    let div = u32::try_from(-e)
        .ok()
        .and_then(|d| 10u128.checked_pow(d))
        .unwrap_or(u128::MAX);
    v.div_ceil(div).min(cap) as i128
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        match Quantity::parse(s) {
            Ok(q) => q,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn parses_the_kubernetes_grammar() {
        let table: &[(&str, i128)] = &[
            ("0", 0),
            ("1", NANO),
            ("100m", NANO / 10),
            ("1.5", 3 * NANO / 2),
            ("0.5", NANO / 2),
            (".5", NANO / 2),
            ("5.", 5 * NANO),
            ("+2", 2 * NANO),
            ("-1", -NANO),
            ("-100m", -NANO / 10),
            ("1k", 1_000 * NANO),
            ("1M", 1_000_000 * NANO),
            ("1G", 1_000_000_000 * NANO),
            ("1T", 10i128.pow(12) * NANO),
            ("1P", 10i128.pow(15) * NANO),
            ("1E", 10i128.pow(18) * NANO),
            ("1Ki", 1024 * NANO),
            ("1Mi", (1 << 20) * NANO),
            ("1Gi", (1 << 30) * NANO),
            ("1.5Gi", 3 * (1 << 29) * NANO),
            ("1Ti", (1 << 40) * NANO),
            ("1Pi", (1 << 50) * NANO),
            ("1Ei", (1 << 60) * NANO),
            ("1e3", 1_000 * NANO),
            ("1E3", 1_000 * NANO),
            ("1e+3", 1_000 * NANO),
            ("1e-3", NANO / 1_000),
            ("2.5e-1", NANO / 4),
            ("0.000000001", 1),
        ];
        for (s, nanos) in table {
            assert_eq!(q(s).nanos(), *nanos, "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "", "-", "+", ".", "Gi", "1K", "1gi", "1e", "1E+", "1ee3", "1 Gi", " 1", "1Gi ",
            "1.2.3", "1mm", "0x10", "1_000", "abc", "1Gb", "NaN", "inf", "--1", "1e3m", "1.5e1.5",
        ] {
            assert!(Quantity::parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn compares_across_forms() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1e3"), q("1k"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("2Gi") > q("1Gi"));
        assert!(q("200m") > q("100m"));
        assert!(q("-1") < Quantity::ZERO);
        assert!(q("1e400") > q("1Ei"));
        assert!(
            q("1e-400") > Quantity::ZERO,
            "tiny positive values round up, not to zero"
        );
        assert!(q("-1e400") < q("-1Ei"));
        assert_eq!(q("1500m").millis(), 1500);
        assert_eq!(q("1.5Gi").to_string(), "1610612736");
        assert_eq!(q("250m").to_string(), "0.25");
    }

    #[test]
    fn reads_json_numbers_and_strings() {
        assert_eq!(Quantity::from_json(&json!(2)), Some(q("2")));
        assert_eq!(Quantity::from_json(&json!(0.5)), Some(q("500m")));
        assert_eq!(Quantity::from_json(&json!(-1)), Some(q("-1")));
        assert_eq!(
            Quantity::from_json(&json!(u64::MAX)),
            Some(q("18446744073709551615"))
        );
        assert_eq!(Quantity::from_json(&json!("1Gi")), Some(q("1Gi")));
        assert_eq!(Quantity::from_json(&json!("nope")), None);
        assert_eq!(Quantity::from_json(&json!(null)), None);
        assert_eq!(Quantity::from_json(&json!(true)), None);
        assert_eq!(Quantity::from_json(&json!({"a": 1})), None);
    }

    #[test]
    fn huge_mantissas_keep_their_order() {
        let big = "9".repeat(60);
        let bigger = format!("1{}", "0".repeat(60));
        assert!(q(&bigger) >= q(&big));
        assert_eq!(q(&format!("0.{}", "0".repeat(50))), Quantity::ZERO);
    }

    /// The one-factor-at-a-time definition `scale` replaced, kept as its reference.
    fn scale_by_steps(mantissa: u128, exp10: i64, exp2: u32) -> i128 {
        let cap = i128::MAX as u128;
        let e = exp10 + 9;
        let mut v = mantissa;
        let mul = |v: &mut u128, by: u128, times: u64| {
            for _ in 0..times {
                match v.checked_mul(by) {
                    Some(n) if n <= cap => *v = n,
                    _ => return false,
                }
            }
            true
        };
        if mantissa == 0 {
            return 0;
        }
        if e >= 0 {
            let ok = mul(&mut v, 10, e.unsigned_abs()) && mul(&mut v, 2, u64::from(exp2));
            return if ok { v as i128 } else { i128::MAX };
        }
        if !mul(&mut v, 2, u64::from(exp2)) {
            return i128::MAX;
        }
        let div = u32::try_from(-e)
            .ok()
            .and_then(|d| 10u128.checked_pow(d))
            .unwrap_or(u128::MAX);
        v.div_ceil(div).min(cap) as i128
    }

    #[test]
    fn scale_agrees_with_the_step_by_step_definition() {
        let mantissas = [
            0,
            1,
            5,
            999,
            123_456_789,
            10u128.pow(20),
            10u128.pow(36) - 1,
        ];
        for m in mantissas {
            for exp10 in [-60, -40, -12, -9, -3, 0, 3, 18, 25, 40, 10_000] {
                for exp2 in [0, 10, 30, 60] {
                    assert_eq!(
                        scale(m, exp10, exp2),
                        scale_by_steps(m, exp10, exp2),
                        "{m} e{exp10} 2^{exp2}"
                    );
                }
            }
        }
    }
}
