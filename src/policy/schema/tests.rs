//! Tests of parameter validation against openAPIV3Schema, one group per keyword family.

use serde_json::json;

use super::validate;

fn err(schema: serde_json::Value, value: serde_json::Value) -> String {
    validate(&schema, &value).expect_err("value should be refused")
}

#[test]
fn types_and_paths() {
    let s = json!({"type": "object", "properties": {
        "repos": {"type": "array", "items": {"type": "string"}},
        "limits": {"type": "object", "properties": {"cpu": {"type": "integer"}}}
    }});
    assert_eq!(
        validate(&s, &json!({"repos": ["a"], "limits": {"cpu": 2}})),
        Ok(())
    );
    assert_eq!(
        err(s.clone(), json!({"repos": ["a", 1]})),
        "repos[1]: expected string, got number"
    );
    assert_eq!(
        err(s.clone(), json!({"limits": {"cpu": 1.5}})),
        "limits.cpu: expected integer, got number"
    );
    assert_eq!(err(s.clone(), json!([])), "expected object, got array");
    assert_eq!(
        validate(&s, &json!({"limits": {"cpu": 2.0}})),
        Ok(()),
        "2.0 is an integer"
    );
    for (ty, good, bad) in [
        ("string", json!("x"), json!(true)),
        ("boolean", json!(false), json!("false")),
        ("number", json!(1), json!("1")),
        ("number", json!(1.5), json!(null)),
        ("array", json!([]), json!({})),
    ] {
        assert_eq!(validate(&json!({"type": ty}), &good), Ok(()), "{ty} {good}");
        assert!(validate(&json!({"type": ty}), &bad).is_err(), "{ty} {bad}");
    }
}

#[test]
fn untyped_schemas_and_unknown_fields_accept_anything() {
    for v in [
        json!(null),
        json!(1),
        json!("x"),
        json!([1]),
        json!({"a": {}}),
    ] {
        assert_eq!(validate(&json!({}), &v), Ok(()));
        assert_eq!(validate(&json!(true), &v), Ok(()));
        let preserve = json!({"x-kubernetes-preserve-unknown-fields": true});
        assert_eq!(validate(&preserve, &v), Ok(()));
    }
    let s = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    assert_eq!(validate(&s, &json!({"a": "x", "unlisted": 1})), Ok(()));
    let closed = json!({"type": "object", "additionalProperties": false});
    assert_eq!(
        validate(&closed, &json!({"b": 1})),
        Ok(()),
        "pruned, not rejected"
    );
}

#[test]
fn additional_properties_schema_checks_unlisted_fields() {
    let s = json!({"type": "object", "properties": {"n": {"type": "integer"}},
                   "additionalProperties": {"type": "string"}});
    assert_eq!(validate(&s, &json!({"n": 1, "a": "x"})), Ok(()));
    assert_eq!(
        err(s, json!({"n": 1, "a": 2})),
        "a: expected string, got number"
    );
}

#[test]
fn required_nullable_and_enum() {
    let s = json!({"type": "object", "required": ["mode"], "properties": {
        "mode": {"type": "string", "enum": ["allow", "deny"]},
        "note": {"type": "string", "nullable": true},
        "level": {"type": "integer", "enum": [1, 2]}
    }});
    assert_eq!(
        validate(&s, &json!({"mode": "deny", "note": null, "level": 2.0})),
        Ok(())
    );
    assert_eq!(err(s.clone(), json!({})), "missing required field \"mode\"");
    assert!(err(s.clone(), json!({"mode": "maybe"})).starts_with("mode: \"maybe\" is not one of"));
    assert_eq!(
        err(s.clone(), json!({"mode": null})),
        "mode: expected string, got null"
    );
    assert!(err(s, json!({"mode": "deny", "level": 3})).starts_with("level: 3 is not one of"));
}

#[test]
fn string_number_and_array_bounds() {
    let s = json!({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"});
    assert_eq!(validate(&s, &json!("ab")), Ok(()));
    assert!(err(s.clone(), json!("a")).contains("at least 2 characters"));
    assert!(err(s.clone(), json!("abcd")).contains("at most 3 characters"));
    assert!(err(s, json!("A1")).contains("does not match pattern"));
    assert!(err(json!({"pattern": "("}), json!("x")).contains("is invalid"));
    let n = json!({"type": "number", "minimum": 0, "maximum": 10, "exclusiveMaximum": true});
    assert_eq!(validate(&n, &json!(0)), Ok(()));
    assert!(err(n.clone(), json!(-1)).contains("at least 0"));
    assert!(err(n, json!(10)).contains("less than 10"));
    assert!(err(json!({"multipleOf": 5}), json!(12)).contains("multiple of 5"));
    let a = json!({"type": "array", "minItems": 1, "maxItems": 2});
    assert!(err(a.clone(), json!([])).contains("at least 1 items"));
    assert!(err(a, json!([1, 2, 3])).contains("at most 2 items"));
    let o = json!({"type": "object", "minProperties": 1, "maxProperties": 1});
    assert!(err(o.clone(), json!({})).contains("at least 1 properties"));
    assert!(err(o, json!({"a": 1, "b": 2})).contains("at most 1 properties"));
}

#[test]
fn int_or_string() {
    let s = json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]});
    assert_eq!(validate(&s, &json!(3)), Ok(()));
    assert_eq!(validate(&s, &json!("50%")), Ok(()));
    assert_eq!(
        err(s.clone(), json!(1.5)),
        "expected integer or string, got number"
    );
    assert_eq!(err(s, json!([])), "expected integer or string, got array");
}

#[test]
fn combinators() {
    let any = json!({"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]});
    assert_eq!(validate(&any, &json!({"b": 1})), Ok(()));
    assert!(err(any, json!({"c": 1})).contains("anyOf"));
    let one = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(err(one.clone(), json!(1)).contains("matches 2"));
    assert_eq!(validate(&one, &json!(1.5)), Ok(()));
    let all = json!({"allOf": [{"minimum": 1}, {"maximum": 3}]});
    assert_eq!(validate(&all, &json!(2)), Ok(()));
    assert!(err(all, json!(4)).contains("at most 3"));
    assert!(err(json!({"not": {"type": "string"}}), json!("x")).contains("not"));
    let nested = json!({"type": "array", "items": {"anyOf": [{"type": "string"}]}});
    assert!(err(nested, json!(["a", 2])).starts_with("[1]: expected string"));
}

#[test]
fn required_labels_template_schema() {
    // The parameter schema of the Gatekeeper library's K8sRequiredLabels template.
    let s = json!({"type": "object", "properties": {
        "message": {"type": "string"},
        "labels": {"type": "array", "items": {"type": "object", "properties": {
            "key": {"type": "string"},
            "allowedRegex": {"type": "string"}
        }}}
    }});
    let good = json!({"labels": [{"key": "owner", "allowedRegex": "^[a-z]+$"}]});
    assert_eq!(validate(&s, &good), Ok(()));
    assert_eq!(
        err(s.clone(), json!({"labels": [{"key": "a"}, {"key": 7}]})),
        "labels[1].key: expected string, got number"
    );
    assert_eq!(
        err(s.clone(), json!({"labels": {"key": "a"}})),
        "labels: expected array, got object"
    );
    assert_eq!(err(s, json!(null)), "expected object, got null");
}

#[test]
fn v1beta1_schema_without_root_type_checks_properties() {
    let s = json!({"properties": {"repos": {"type": "array", "items": {"type": "string"}}}});
    assert_eq!(validate(&s, &json!({"repos": ["gcr.io/"]})), Ok(()));
    assert_eq!(
        err(s.clone(), json!({"repos": ["a", 1]})),
        "repos[1]: expected string, got number"
    );
    assert_eq!(
        validate(&s, &json!("not an object")),
        Ok(()),
        "no type, no type check"
    );
}
