//! Tests of the added builtins against OPA's answers.

use super::*;

fn s(x: &str) -> Value {
    Value::from(x)
}
fn arr(items: Vec<Value>) -> Value {
    Value::from(items)
}
fn set(items: Vec<Value>) -> Value {
    Value::from(items.into_iter().collect::<std::collections::BTreeSet<_>>())
}
fn run(name: &str, args: &[Value]) -> Value {
    call(name, args).expect("no limit error")
}
const T: Value = Value::Bool(true);
const F: Value = Value::Bool(false);

#[test]
fn any_and_all_over_arrays_and_sets() {
    assert_eq!(run("any", &[arr(vec![F, T])]), T);
    assert_eq!(run("any", &[arr(vec![F, s("true")])]), F);
    assert_eq!(run("any", &[set(vec![])]), F);
    assert_eq!(run("any", &[set(vec![T, F])]), T);
    assert_eq!(run("all", &[arr(vec![])]), T);
    assert_eq!(run("all", &[arr(vec![T, T])]), T);
    assert_eq!(run("all", &[set(vec![T, Value::from(1i64)])]), F);
    // An object or a scalar is a builtin error in OPA: undefined here.
    assert_eq!(run("any", &[Value::new_object()]), Value::Undefined);
    assert_eq!(run("all", &[s("x")]), Value::Undefined);
}

#[test]
fn flatten_and_split_n() {
    let nested = arr(vec![
        s("a"),
        arr(vec![s("b"), arr(vec![s("c")])]),
        arr(vec![]),
    ]);
    assert_eq!(
        run("array.flatten", &[nested]),
        arr(vec![s("a"), s("b"), arr(vec![s("c")])])
    );
    assert_eq!(run("array.flatten", &[set(vec![])]), Value::Undefined);
    let split = |x: &str, d: &str, n: i64| run("strings.split_n", &[s(x), s(d), Value::from(n)]);
    let strs = |v: &[&str]| arr(v.iter().map(|x| s(x)).collect());
    assert_eq!(split("a.b.c", ".", 2), strs(&["a", "b"]));
    assert_eq!(split("a.b.c", ".", 9), strs(&["a", "b", "c"]));
    assert_eq!(split("a.b.c", ".", -2), strs(&["b", "c"]));
    assert_eq!(split("a.b.c", ".", -9), strs(&["a", "b", "c"]));
    assert_eq!(split("a.b.c", ".", 0), strs(&[]));
    assert_eq!(split("", ".", 3), strs(&[""]));
    assert_eq!(split("äb", "", 5), strs(&["ä", "b"]));
    assert_eq!(split("", "", 5), strs(&[]));
    assert_eq!(
        run("strings.split_n", &[s("a"), s("."), Value::from(1.5f64)]),
        Value::Undefined
    );
}

#[test]
fn set_diff_and_casts() {
    let a = set(vec![s("a"), s("b")]);
    assert_eq!(
        run("set_diff", &[a.clone(), set(vec![s("b")])]),
        set(vec![s("a")])
    );
    assert_eq!(run("set_diff", &[a.clone(), arr(vec![])]), Value::Undefined);
    assert_eq!(
        run("cast_array", std::slice::from_ref(&a)),
        arr(vec![s("a"), s("b")])
    );
    assert_eq!(run("cast_array", &[s("a")]), Value::Undefined);
    assert_eq!(run("cast_set", &[arr(vec![s("b"), s("a"), s("b")])]), a);
    assert_eq!(run("cast_set", &[Value::Null]), Value::Undefined);
    assert_eq!(run("cast_string", &[s("x")]), s("x"));
    assert_eq!(run("cast_string", &[Value::from(1i64)]), Value::Undefined);
    assert_eq!(run("cast_boolean", &[F]), F);
    assert_eq!(run("cast_boolean", &[s("true")]), Value::Undefined);
    assert_eq!(run("cast_null", &[Value::Null]), Value::Null);
    assert_eq!(run("cast_null", &[F]), Value::Undefined);
    assert_eq!(
        run("cast_object", &[Value::new_object()]),
        Value::new_object()
    );
    assert_eq!(run("cast_object", &[arr(vec![])]), Value::Undefined);
}

#[test]
fn cidrs() {
    let ov = |a: &str, b: &str| run("net.cidr_overlap", &[s(a), s(b)]);
    assert_eq!(ov("10.0.0.0/8", "10.1.2.3"), T);
    assert_eq!(ov("10.0.0.0/8", "10.1.0.0/16"), T);
    assert_eq!(ov("10.0.0.0/16", "10.0.0.0/8"), F);
    assert_eq!(ov("10.0.0.0/8", "11.0.0.1"), F);
    assert_eq!(ov("fd00::/8", "fd00::1"), T);
    assert_eq!(ov("10.0.0.0/8", "bogus"), Value::Undefined);
    assert_eq!(ov("bogus", "10.0.0.1"), Value::Undefined);
    let int = |a: &str, b: &str| run("net.cidr_intersects", &[s(a), s(b)]);
    assert_eq!(int("10.0.0.0/16", "10.0.0.0/8"), T);
    assert_eq!(int("10.0.0.0/24", "10.0.1.0/24"), F);
    assert_eq!(int("10.0.0.0/24", "x"), Value::Undefined);
    assert_eq!(
        run("net.cidr_expand", &[s("192.168.0.1/30")]),
        set(["192.168.0.0", "192.168.0.1", "192.168.0.2", "192.168.0.3"]
            .map(s)
            .to_vec())
    );
    assert_eq!(
        run("net.cidr_expand", &[s("10.0.0.1/32")]),
        set(vec![s("10.0.0.1")])
    );
    assert_eq!(
        run("net.cidr_expand", &[s("10.0.0.0/31")]),
        set(vec![s("10.0.0.0"), s("10.0.0.1")])
    );
    assert_eq!(
        run("net.cidr_expand", &[s("fd00::/127")]),
        set(vec![s("fd00::"), s("fd00::1")])
    );
    // Too many addresses is a limit error, decided before anything is built.
    assert!(call("net.cidr_expand", &[s("::/0")]).is_err());
    assert!(call("net.cidr_expand", &[s("10.0.0.0/8")]).is_err());
}

#[test]
fn cidr_contains_matches_indexes_like_opa() {
    let m = |a: Value, b: Value| run("net.cidr_contains_matches", &[a, b]);
    let pair = |i: Value, j: Value| arr(vec![i, j]);
    assert_eq!(
        m(s("10.0.0.0/8"), s("10.1.2.3")),
        set(vec![pair(s("10.0.0.0/8"), s("10.1.2.3"))])
    );
    let cidrs = arr(vec![
        s("10.0.0.0/8"),
        arr(vec![s("192.168.0.0/16"), s("home")]),
    ]);
    let ips = set(vec![s("10.1.1.1"), s("192.168.1.0/24"), s("8.8.8.8")]);
    assert_eq!(
        m(cidrs.clone(), ips),
        set(vec![
            pair(Value::from(0u64), s("10.1.1.1")),
            pair(Value::from(1u64), s("192.168.1.0/24")),
        ])
    );
    let mut keyed = std::collections::BTreeMap::new();
    keyed.insert(s("k"), s("10.9.9.9"));
    assert_eq!(
        m(cidrs.clone(), Value::from(keyed)),
        set(vec![pair(Value::from(0u64), s("k"))])
    );
    // An unparsable element or one of the wrong kind is OPA's error: undefined.
    assert_eq!(m(cidrs.clone(), arr(vec![s("bogus")])), Value::Undefined);
    assert_eq!(m(cidrs.clone(), arr(vec![arr(vec![])])), Value::Undefined);
    // No pair, no parse: an empty side gives the empty set.
    assert_eq!(m(arr(vec![s("bogus")]), arr(vec![])), Value::new_set());
    assert_eq!(m(Value::from(1i64), s("x")), Value::new_set());
    // Too many pairs is a limit error, decided before any parse.
    let many = arr((0..4000)
        .map(|i| s(&format!("10.0.{}.{}/32", i / 256, i % 256)))
        .collect());
    assert!(call("net.cidr_contains_matches", &[many.clone(), many]).is_err());
}

#[test]
fn digests_and_hmacs() {
    // Known answers (FIPS 180 and RFC 4231 test vectors).
    assert_eq!(
        run("crypto.sha256", &[s("abc")]),
        s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        run("crypto.sha1", &[s("abc")]),
        s("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(
        run(
            "crypto.hmac.sha256",
            &[s("what do ya want for nothing?"), s("Jefe")]
        ),
        s("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
    assert_eq!(run("crypto.sha256", &[Value::from(1i64)]), Value::Undefined);
    assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("ab")]), T);
    assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("ac")]), F);
    assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("abc")]), F);
}
