//! The match conditions a generated policy adds for a constraint's `spec.match`.
//!
//! A policy is shared by every constraint of its template, so the criteria that differ per
//! constraint are read from `params` (the constraint itself) when the API server evaluates
//! the policy: `kinds`, `scope`, `namespaces`, `excludedNamespaces` and `name`. The
//! selectors go to each binding's `matchResources` instead ([`super::binding`]), where the
//! API server applies them itself. A constraint edited in the cluster therefore keeps its
//! kinds, scope, namespaces and name up to date without a new export.
//!
//! Each expression decides as portcullis's webhook matcher ([`crate::matching`]) does:
//!
//! - the namespace is `request.namespace`, else the object's `metadata.namespace`; a
//!   Namespace object is judged by its own name; other cluster-scoped objects pass the
//!   namespace checks;
//! - an UPDATE matches when the new or the old object matches (`[object, oldObject]`);
//! - patterns are Gatekeeper's globs: exact, or a `*` at the start, the end or both
//!   (written with `startsWith`/`endsWith`/`contains`, no regular expression); a name
//!   pattern ending in `*` also matches `metadata.generateName`;
//! - an absent field, an empty list and an empty `name` match everything.
//!
//! Every condition first tests that the field is present, so a constraint without it (or
//! without `spec.match`) passes.

/// `params.spec.match.<field>` is present (and so may be read).
fn has_match_field(field: &str) -> String {
    format!("has(params.spec) && has(params.spec.match) && has(params.spec.match.{field})")
}

/// True when the reviewed object is a core Namespace.
const IS_NAMESPACE: &str = r#"(request.kind.group == "" && request.kind.kind == "Namespace")"#;

/// The name of `obj`: its `metadata.name`, else the request's name.
fn name_of(obj: &str) -> String {
    format!(
        r#"(has({obj}.metadata) && has({obj}.metadata.name) && {obj}.metadata.name != "" ? {obj}.metadata.name : (has(request.name) ? request.name : ""))"#
    )
}

/// The namespace `obj` lives in: the request's, else its `metadata.namespace`, else "".
fn namespace_of(obj: &str) -> String {
    format!(
        r#"(has(request.namespace) && request.namespace != "" ? request.namespace : (has({obj}.metadata) && has({obj}.metadata.namespace) ? {obj}.metadata.namespace : ""))"#
    )
}

/// The namespace `obj` is judged by: a Namespace's own name, else the one it lives in
/// ("" for other cluster-scoped objects).
fn home_of(obj: &str) -> String {
    format!(
        "({IS_NAMESPACE} ? {} : {})",
        name_of(obj),
        namespace_of(obj)
    )
}

/// Gatekeeper's glob `pattern` matches `value` (both CEL expressions naming strings).
fn glob(pattern: &str, value: &str) -> String {
    format!(
        r#"({pattern}.startsWith("*") ? ({pattern}.endsWith("*") && size({pattern}) > 1 ? {value}.contains({pattern}.substring(1, size({pattern}) - 1)) : {value}.endsWith({pattern}.substring(1))) : ({pattern}.endsWith("*") ? {value}.startsWith({pattern}.substring(0, size({pattern}) - 1)) : {value} == {pattern}))"#
    )
}

/// A name pattern matches a `generateName` only when it ends in `*` (the API server
/// appends the random part).
fn glob_generate_name(pattern: &str, value: &str) -> String {
    format!(
        r#"({pattern}.endsWith("*") && ({pattern}.startsWith("*") ? (size({pattern}) == 1 || {value}.contains({pattern}.substring(1, size({pattern}) - 1))) : {value}.startsWith({pattern}.substring(0, size({pattern}) - 1))))"#
    )
}

/// `cond` holds for the new or the old object, bound as `obj`.
fn either_object(cond: &str) -> String {
    format!("[object, oldObject].exists(obj, obj != null && {cond})")
}

/// `match.kinds`: some entry covers the request's group and kind (`*` or an empty list
/// covers all).
pub fn kinds() -> String {
    let list = "params.spec.match.kinds";
    format!(
        r#"!({has}) || size({list}) == 0 || {list}.exists(k, (!has(k.kinds) || size(k.kinds) == 0 || "*" in k.kinds || request.kind.kind in k.kinds) && (!has(k.apiGroups) || size(k.apiGroups) == 0 || "*" in k.apiGroups || request.kind.group in k.apiGroups))"#,
        has = has_match_field("kinds"),
    )
}

/// `match.scope`: `Cluster` keeps cluster-scoped objects (Namespaces included),
/// `Namespaced` the others; any other value matches everything.
pub fn scope() -> String {
    let scope = "params.spec.match.scope";
    let ns = namespace_of("obj");
    let cond = format!(
        r#"({scope} == "Cluster" ? ({IS_NAMESPACE} || {ns} == "") : ({scope} == "Namespaced" ? (!{IS_NAMESPACE} && {ns} != "") : true))"#
    );
    format!(
        "!({}) || {}",
        has_match_field("scope"),
        either_object(&cond)
    )
}

/// `match.namespaces`: the object's namespace matches one of the patterns.
pub fn namespaces() -> String {
    let list = "params.spec.match.namespaces";
    let cond = format!(
        r#"[{home}].all(h, h == "" || {list}.exists(p, {glob}))"#,
        home = home_of("obj"),
        glob = glob("p", "h"),
    );
    format!(
        "!({}) || size({list}) == 0 || {}",
        has_match_field("namespaces"),
        either_object(&cond)
    )
}

/// `match.excludedNamespaces`: the object's namespace matches none of the patterns.
pub fn excluded_namespaces() -> String {
    let list = "params.spec.match.excludedNamespaces";
    let cond = format!(
        r#"[{home}].all(h, h == "" || !{list}.exists(p, {glob}))"#,
        home = home_of("obj"),
        glob = glob("p", "h"),
    );
    format!(
        "!({}) || {}",
        has_match_field("excludedNamespaces"),
        either_object(&cond)
    )
}

/// `match.name`: the object's name, or its `generateName`, matches the pattern.
pub fn name() -> String {
    let pattern = "params.spec.match.name";
    let generate_name =
        r#"(has(obj.metadata) && has(obj.metadata.generateName) ? obj.metadata.generateName : "")"#;
    // One-element lists bind the pattern and the names once, for CEL has no `let`.
    let cond = format!(
        "[{pattern}].all(p, [{name}].all(n, {glob}) || [{generate_name}].all(g, {generated}))",
        name = name_of("obj"),
        glob = glob("p", "n"),
        generated = glob_generate_name("p", "g"),
    );
    format!(
        r#"!({}) || {pattern} == "" || {}"#,
        has_match_field("name"),
        either_object(&cond)
    )
}

/// Config's namespaces exempt from the webhook (`patterns`, already checked globs):
/// neither object lives in (or, for a Namespace, is) one of them.
pub fn exempt_namespaces(patterns: &[String]) -> String {
    let list: Vec<String> = patterns
        .iter()
        .map(|p| serde_json::Value::String(p.clone()).to_string())
        .collect();
    // The webhook reads the namespace from the request, so either object gives the same.
    let cond = format!(
        r#"[{home}].all(h, h == "" || ![{list}].exists(p, {glob}))"#,
        home = home_of("obj"),
        list = list.join(", "),
        glob = glob("p", "h"),
    );
    either_object(&cond)
}

/// `variables.anyObject`: the object, or on DELETE the old one.
pub const ANY_OBJECT: &str = r#"has(request.operation) && request.operation == "DELETE" && object == null ? oldObject : object"#;

/// `variables.params`: the constraint's parameters, or null.
pub const PARAMS: &str =
    "!has(params.spec) ? null : (!has(params.spec.parameters) ? null : params.spec.parameters)";
