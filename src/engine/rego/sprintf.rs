//! `sprintf` as OPA computes it: Go's `fmt.Sprintf` on the Go values OPA makes of the
//! arguments.
//!
//! OPA passes an integer that fits 64 bits as an `int64`, a larger one as a `*big.Int`, a
//! number with a fraction as a `float64`, a string as a `string`, and every other value as
//! the string of its Rego text. Go's `fmt` never fails: a verb without an argument prints
//! `%!v(MISSING)`, a surplus argument `%!(EXTRA int64=3)`, a verb the value's type does not
//! take `%!d(string=x)` (the value formatted by `%v` with the directive's flags, width and
//! precision, as Go does). regorus 0.14 raises an error for a missing argument, which
//! makes the whole `violation` rule fail, so both paths call this instead.
//!
//! Not modelled: explicit argument indexes (`%[2]d`) and `*` widths, `%#v` (Go syntax),
//! and OPA's text of numbers written in exponent form without a fraction (`1e22`, which
//! OPA passes as a string): regorus keeps the value, not its text.

use std::fmt::Write as _;

use regorus::Value;

use super::builtins::rego_text;

/// Past this, not every integer is a float64 (2^53).
const F64_EXACT: f64 = 9_007_199_254_740_992.0;

/// A Go value as OPA hands it to `fmt`.
enum Arg {
    Int(i64),
    /// An integer beyond 64 bits: its digits (with sign), and its hex, octal and binary.
    Big {
        dec: String,
        hex: String,
        oct: String,
        bin: String,
    },
    Float(f64),
    Str(String),
}

impl Arg {
    fn of(v: &Value) -> Arg {
        match v {
            Value::Number(n) => {
                // A float past 2^53 holds an integer even when it was written with a
                // fraction (the text is gone); OPA passes such a number as a float64.
                let wide_float = n.as_f64().is_some_and(|f| f.abs() > F64_EXACT);
                if let Some(i) = n.as_i64().filter(|_| !wide_float) {
                    Arg::Int(i)
                } else if let Some(b) = n.as_big() {
                    Arg::Big {
                        dec: b.to_string(),
                        hex: b.to_str_radix(16),
                        oct: b.to_str_radix(8),
                        bin: b.to_str_radix(2),
                    }
                } else if let Some(f) = n.as_f64() {
                    Arg::Float(f)
                } else {
                    Arg::Str(rego_text(v))
                }
            }
            Value::String(s) => Arg::Str(s.to_string()),
            other => Arg::Str(rego_text(other)),
        }
    }

    /// Go's name of the type (`%T`, and the `type=` of error texts).
    fn type_name(&self) -> &'static str {
        match self {
            Arg::Int(_) => "int64",
            Arg::Big { .. } => "*big.Int",
            Arg::Float(_) => "float64",
            Arg::Str(_) => "string",
        }
    }
}

/// One parsed `%` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    sharp: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Format like Go's `fmt.Sprintf` with OPA's argument conversion.
pub(crate) fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut next = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(arg) => out.push_str(&format_one(verb, &spec, &Arg::of(arg))),
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
        next += 1;
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| {
                let a = Arg::of(a);
                format!(
                    "{}={}",
                    a.type_name(),
                    format_one('v', &Spec::default(), &a)
                )
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Go's `fmt` stops reading a width or precision once the number read so far passes this
/// (its `tooLarge`): the rest of the format is swallowed and no verb is left, so a width
/// is at most about 10^7 and the padding of one directive is bounded.
const GO_MAX_NUM: usize = 1_000_000;

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        if n.is_some_and(|n| n > GO_MAX_NUM) {
            // As Go: a number too large swallows the rest of the format.
            for _ in chars.by_ref() {}
            return n;
        }
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn format_one(verb: char, spec: &Spec, arg: &Arg) -> String {
    if verb == 'T' {
        return pad_text(arg.type_name().to_string(), spec);
    }
    let out = match arg {
        Arg::Int(i) => int(verb, spec, *i),
        Arg::Big { dec, hex, oct, bin } => match verb {
            'v' | 'd' | 's' => Some(integer_text(spec, dec, "")),
            'x' => Some(integer_text(spec, hex, if spec.sharp { "0x" } else { "" })),
            'X' => Some(integer_text(
                spec,
                &hex.to_uppercase(),
                if spec.sharp { "0X" } else { "" },
            )),
            'o' => Some(integer_text(spec, oct, if spec.sharp { "0" } else { "" })),
            'O' => Some(integer_text(spec, oct, "0o")),
            'b' => Some(integer_text(spec, bin, "")),
            // big.Int formats itself: its own error text, without the directive's flags.
            _ => return format!("%!{verb}(big.Int={dec})"),
        },
        Arg::Float(f) => float(verb, spec, *f),
        Arg::Str(s) => string(verb, spec, s),
    };
    match out {
        Some(text) => text,
        None => format!(
            "%!{verb}({}={})",
            arg.type_name(),
            format_one('v', spec, arg)
        ),
    }
}

/// An integer's verbs; `None` for a verb an `int64` does not take.
fn int(verb: char, spec: &Spec, i: i64) -> Option<String> {
    let sign = if i < 0 { "-" } else { "" };
    let abs = i.unsigned_abs();
    let (digits, prefix) = match verb {
        'v' | 'd' => (abs.to_string(), ""),
        'b' => (format!("{abs:b}"), ""),
        'o' => (format!("{abs:o}"), if spec.sharp { "0" } else { "" }),
        'O' => (format!("{abs:o}"), "0o"),
        'x' => (format!("{abs:x}"), if spec.sharp { "0x" } else { "" }),
        'X' => (format!("{abs:X}"), if spec.sharp { "0X" } else { "" }),
        'c' => return Some(pad_text(rune(i).to_string(), spec)),
        'q' => return Some(pad_text(quote(&rune(i).to_string(), '\''), spec)),
        'U' => {
            let text = format!("U+{:04X}", i as u64);
            return Some(pad_text(text, spec));
        }
        _ => return None,
    };
    Some(integer_text(spec, &format!("{sign}{digits}"), prefix))
}

/// The character of a code point, U+FFFD for one that is not valid (as Go's `%c`).
fn rune(i: i64) -> char {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

/// An integer written `[-]digits`, with Go's precision (least digits), sign flags, prefix
/// (`0x` ...) and width (zeros after the sign with `0` and no precision).
fn integer_text(spec: &Spec, signed: &str, prefix: &str) -> String {
    let (neg, mut digits) = match signed.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, signed.to_string()),
    };
    if let Some(p) = spec.precision {
        if p == 0 && digits == "0" {
            digits.clear();
        } else if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
    }
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let zeros = spec.zero && !spec.minus && spec.precision.is_none();
    numeric(spec, sign, &format!("{prefix}{digits}"), zeros)
}

/// A number's text padded to the width: with zeros after the sign, or with spaces.
fn numeric(spec: &Spec, sign: &str, body: &str, zeros: bool) -> String {
    let len = sign.chars().count() + body.chars().count();
    match spec.width {
        Some(w) if w > len && zeros => format!("{sign}{}{body}", "0".repeat(w - len)),
        _ => pad_text(format!("{sign}{body}"), spec),
    }
}

/// Text padded with spaces to the width (on the right with `-`).
fn pad_text(body: String, spec: &Spec) -> String {
    let Some(width) = spec.width else { return body };
    let len = body.chars().count();
    if len >= width {
        return body;
    }
    let fill = " ".repeat(width - len);
    if spec.minus {
        format!("{body}{fill}")
    } else {
        format!("{fill}{body}")
    }
}

/// A float's verbs; `None` for a verb a `float64` does not take.
fn float(verb: char, spec: &Spec, f: f64) -> Option<String> {
    let body = match verb {
        'v' | 'g' | 'G' => {
            let s = go_g(f.abs(), spec.precision);
            if verb == 'G' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'e' | 'E' => {
            let s = go_e(f.abs(), spec.precision.unwrap_or(6));
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), f.abs()),
        'x' | 'X' => {
            let s = hex_float(f.abs());
            if verb == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'b' => binary_float(f.abs()),
        _ => return None,
    };
    let sign = if f.is_sign_negative() && f != 0.0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    Some(numeric(spec, sign, &body, spec.zero && !spec.minus))
}

/// Decimal digits of `f` (non-negative) and the exponent of the first, shortest when
/// `significant` is `None`, else rounded to that many digits; trailing zeros removed.
fn decimal(f: f64, significant: Option<usize>) -> (String, i64) {
    let s = match significant {
        Some(n) => format!("{:.*e}", n.saturating_sub(1), f),
        None => format!("{f:e}"),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exp.parse().unwrap_or(0))
}

/// Go's `%g` (and `%v`) of a non-negative float: shortest digits (or `precision`
/// significant ones), exponent form when the exponent is below -4 or at least the
/// precision (6 for the shortest).
fn go_g(f: f64, precision: Option<usize>) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let precision = precision.map(|p| p.max(1));
    let (digits, exp) = decimal(f, precision);
    let limit = precision.map_or(6, |p| p as i64);
    let nd = digits.len();
    if exp < -4 || exp >= limit {
        let mut m = digits[..1].to_string();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        return format!("{m}e{}", exponent(exp));
    }
    // Fixed notation with exactly the digits there are.
    let point = exp + 1;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if (point as usize) >= nd {
        format!("{digits}{}", "0".repeat(point as usize - nd))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    }
}

/// Go's exponent: a sign and at least two digits.
fn exponent(e: i64) -> String {
    let sign = if e < 0 { '-' } else { '+' };
    format!("{sign}{:02}", e.unsigned_abs())
}

/// Go's `%e` of a non-negative float with `precision` digits after the point.
fn go_e(f: f64, precision: usize) -> String {
    let s = format!("{f:.precision$e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{m}e{}", exponent(e.parse().unwrap_or(0))),
        None => s,
    }
}

/// Go's `%x` of a non-negative float: `0x1.<hex>p<exp>`, shortest mantissa.
fn hex_float(f: f64) -> String {
    if f == 0.0 {
        return "0x0p+00".into();
    }
    let bits = f.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // Subnormal: normalise so that the leading bit is implicit.
        exp = 1;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
    }
    let exp = exp - 1023;
    let mut hex = format!("{mant:013x}");
    while hex.ends_with('0') {
        hex.pop();
    }
    let frac = if hex.is_empty() {
        String::new()
    } else {
        format!(".{hex}")
    };
    format!("0x1{frac}p{}", exponent(exp))
}

/// Go's `%b` of a non-negative float: `<mantissa>p<exp>` with an integer mantissa.
fn binary_float(f: f64) -> String {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant = bits & ((1u64 << 52) - 1);
    let (mant, exp) = if exp == 0 {
        (mant, -1074)
    } else {
        (mant | (1u64 << 52), exp - 1075)
    };
    format!("{mant}p{exp:+}")
}

/// A string's verbs; `None` for a verb a `string` does not take.
fn string(verb: char, spec: &Spec, s: &str) -> Option<String> {
    let cut = |s: &str| -> String {
        match spec.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    };
    Some(match verb {
        'v' | 's' => pad_text(cut(s), spec),
        'q' => pad_text(quote(&cut(s), '"'), spec),
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = &bytes[..spec.precision.unwrap_or(bytes.len()).min(bytes.len())];
            let sep = if spec.space { " " } else { "" };
            let text = bytes
                .iter()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect::<Vec<_>>()
                .join(sep);
            pad_text(text, spec)
        }
        _ => return None,
    })
}

/// Go's `strconv.Quote` (`"`) or `QuoteRune` (`'`): printable characters as they are,
/// the quote and backslash escaped, control characters as `\a`..`\v` or `\xHH`, other
/// non-printable ones as `\uHHHH` / `\UHHHHHHHH`.
fn quote(s: &str, q: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(q);
    out
}

/// Go's `unicode.IsPrint`, but for unassigned code points (which Go also escapes and
/// which would need Unicode's tables): not a control, space other than U+0020, format
/// character or private-use character.
fn printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    let noncharacter = (u & 0xFFFE) == 0xFFFE || (0xFDD0..=0xFDEF).contains(&u);
    !format && !private && !noncharacter
}

#[cfg(test)]
mod tests {
    use super::go_sprintf;
    use regorus::Value;

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn n(x: &str) -> Value {
        Value::from_json_str(x).unwrap_or(Value::Undefined)
    }

    fn args(json: &str) -> Vec<Value> {
        match Value::from_json_str(json) {
            Ok(Value::Array(a)) => a.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn formats_like_go() {
        let args = [Value::from(-255i64), s("a\"b"), Value::from(2.5f64)];
        assert_eq!(go_sprintf("%x %q %v %%", &args), "-ff \"a\\\"b\" 2.5 %");
        assert_eq!(go_sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(
            go_sprintf("%s and %d", &[]),
            "%!s(MISSING) and %!d(MISSING)"
        );
        assert_eq!(
            go_sprintf("%05d|%-4s|", &[Value::from(-42i64), s("ab")]),
            "-0042|ab  |"
        );
        assert_eq!(go_sprintf("%v", &[Value::new_set()]), "set()");
    }

    // The expected texts below are OPA's (1.20) answers for the same calls.

    #[test]
    fn types_and_surplus_arguments() {
        assert_eq!(go_sprintf("%v", &args(r#"["a", 3]"#)), "a%!(EXTRA int64=3)");
        assert_eq!(
            go_sprintf("%v", &args(r#"["a", 3.5]"#)),
            "a%!(EXTRA float64=3.5)"
        );
        assert_eq!(
            go_sprintf(
                "%T %T %T %T %T %T",
                &args(r#"["s", 3, 3.5, true, [1], 12345678901234567890]"#)
            ),
            "string int64 float64 string string *big.Int"
        );
        assert_eq!(
            go_sprintf("%!|%z|%", &args("[1, 2]")),
            "%!!(int64=1)|%!z(int64=2)|%!(NOVERB)"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(
            go_sprintf("%q %q %q", &args("[1000, 65, 3.5]")),
            "'\u{3e8}' 'A' %!q(float64=3.5)"
        );
        assert_eq!(
            go_sprintf("%.2f|%e|%f|%g|%E|%G", &args("[3, 3, 3, 3, 3, 3]")),
            "%!f(int64=03)|%!e(int64=3)|%!f(int64=3)|%!g(int64=3)|%!E(int64=3)|%!G(int64=3)"
        );
        assert_eq!(
            go_sprintf(
                "%x|%X|%b|%o|%O|%c|%U|%q|%q|%q|%q",
                &args("[255, 255, 5, 8, 8, 955, 955, 7, -1, 39, 128]")
            ),
            "ff|FF|101|10|0o10|\u{3bb}|U+03BB|'\\a'|'\u{fffd}'|'\\''|'\\u0080'"
        );
        assert_eq!(
            go_sprintf("%5f|%.2d|%5s|%-5d|%v|%s", &args(r#"[3, "abc", 12, 12, 12345678901234567890, 12345678901234567890]"#)),
            "%!f(int64=    3)|%!d(string=ab)|%!s(int64=   12)|12   |12345678901234567890|12345678901234567890"
        );
        assert_eq!(go_sprintf("%d|%x", &[n("255.0"), n("-0.0")]), "255|0");
    }

    #[test]
    fn floats() {
        assert_eq!(
            go_sprintf(
                "%v|%v|%v|%v|%g|%v|%v",
                &args("[1234567.5, 0.00001234, 12345678901234567.5, 1.5e300, 1234567.5, 100000.5, 0.5e-3]")
            ),
            "1.2345675e+06|1.234e-05|1.2345678901234568e+16|1.5e+300|1.2345675e+06|100000.5|0.0005"
        );
        assert_eq!(
            go_sprintf(
                "%5.1f|%-8.3e|%+.1f|%8.2f|%08.3f|%.0f|%.3g|%10.4v",
                &args("[3.14159, 1234.5, 2.25, -1.005, -3.5, 2.5, 1234.5678, 3.14159]")
            ),
            "  3.1|1.234e+03|+2.2|   -1.00|-003.500|2|1.23e+03|     3.142"
        );
        assert_eq!(
            go_sprintf("%d|%x", &args("[3.5, 3.5]")),
            "%!d(float64=3.5)|0x1.cp+01"
        );
        assert_eq!(go_sprintf("%v %v", &args("[0.1, 1.1]")), "0.1 1.1");
    }

    #[test]
    fn strings_and_other_values() {
        assert_eq!(
            go_sprintf(
                "%q|%q|%x|% x|%X|%.1q",
                &args(r#"["a\u0001\u007f\u00a0\u200bé\"\\", "tab\t", "hé", "hé", "hi", "abc"]"#)
            ),
            "\"a\\x01\\x7f\\u00a0\\u200bé\\\"\\\\\"|\"tab\\t\"|68c3a9|68 c3 a9|6869|\"a\""
        );
        assert_eq!(
            go_sprintf(
                "%v|%d|%s|%v",
                &args(r#"[true, null, {"a": [1, "x"]}, ["b", "a"]]"#)
            ),
            "true|%!d(string=null)|{\"a\": [1, \"x\"]}|[\"b\", \"a\"]"
        );
        assert_eq!(
            go_sprintf("%t|%v|%5t|%v", &args("[true, false, false, null]")),
            "%!t(string=true)|false|%!t(string=false)|null"
        );
    }
}
