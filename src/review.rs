//! The one input type judged by every engine, whether it came from an AdmissionReview,
//! a manifest file (`portcullis test`), a gator suite case or an object listed by audit.
//!
//! Gatekeeper exposes the AdmissionRequest to Rego as `input.review`; [`Review::request`]
//! is exactly that document, so engines need no per-source special cases.

#![deny(clippy::indexing_slicing)]

use serde_json::{Map, Value};

/// Group, version and kind of the object under review (`request.kind`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gvk {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
}

impl Gvk {
    /// Split an object's `apiVersion` (`apps/v1` or `v1`) and pair it with `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// The `apiVersion` string of this group and version.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The admission operation of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operation {
    /// A new object.
    #[default]
    Create,
    /// A change to an existing object.
    Update,
    /// A removal; the judged object is `oldObject`.
    Delete,
    /// A `connect` subresource call (exec, attach, portforward).
    Connect,
}

impl Operation {
    /// Parse the wire form (`CREATE`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// One object under review, with the request fields Gatekeeper's policies read.
#[derive(Debug, Clone)]
pub struct Review {
    /// Request uid, echoed in the response; empty for offline sources.
    pub uid: String,
    /// Kind of the object (from `request.kind`, or the object's own apiVersion/kind).
    pub gvk: Gvk,
    /// The operation.
    pub operation: Operation,
    /// `request.name`, falling back to the object's `metadata.name`.
    pub name: String,
    /// `request.namespace`, falling back to `metadata.namespace`; empty when cluster-scoped.
    pub namespace: String,
    /// Whole `input.review` document: the AdmissionRequest fields with `object` set to the
    /// judged object (for DELETE, `oldObject`, as Gatekeeper does).
    pub request: Value,
    /// A resource an ExpansionTemplate generated from the reviewed one, not a request of
    /// its own (`match.source` tells the two apart).
    pub generated: bool,
}

impl Review {
    /// Build the review of a plain manifest judged as a CREATE, the way gator and
    /// `portcullis test` treat files.
    pub fn from_object(object: Value) -> Self {
        let api_version = str_at(&object, &["apiVersion"]).to_string();
        let kind = str_at(&object, &["kind"]).to_string();
        let gvk = Gvk::from_api_version(&api_version, &kind);
        let name = str_at(&object, &["metadata", "name"]).to_string();
        let namespace = str_at(&object, &["metadata", "namespace"]).to_string();
        let mut req = Map::new();
        req.insert("uid".into(), Value::String(String::new()));
        req.insert(
            "kind".into(),
            serde_json::json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind}),
        );
        req.insert("name".into(), Value::String(name.clone()));
        if !namespace.is_empty() {
            req.insert("namespace".into(), Value::String(namespace.clone()));
        }
        req.insert("operation".into(), Value::String("CREATE".into()));
        req.insert("userInfo".into(), serde_json::json!({}));
        req.insert("object".into(), object);
        Review {
            uid: String::new(),
            gvk,
            operation: Operation::Create,
            name,
            namespace,
            request: Value::Object(req),
            generated: false,
        }
    }

    /// The same review with `object` replaced: what the validating webhook sees once the
    /// mutating webhook's patch is applied (the API server runs mutation first).
    pub fn with_object(&self, object: Value) -> Review {
        let mut review = self.clone();
        if let Some(request) = review.request.as_object_mut() {
            request.insert("object".into(), object);
        }
        review
    }

    /// Build a review from the fields of an AdmissionRequest, the one rule shared by the
    /// webhook decoder, gator suites and `portcullis review`: `kind`, `name` and `namespace`
    /// are filled from the object when the request leaves them out (gator's case files do),
    /// a missing operation means CREATE, and for DELETE the old object is judged as
    /// `object`, the way Gatekeeper's webhook does.
    pub fn from_request(mut req: Map<String, Value>) -> Result<Self, String> {
        let operation = match req.get("operation").and_then(Value::as_str) {
            None => Operation::Create,
            Some(op) => Operation::parse(op).ok_or_else(|| format!("unknown operation {op:?}"))?,
        };
        // kube-apiserver sends DELETE with the existing object in oldObject only; when a
        // request carries both, Gatekeeper still judges oldObject.
        if operation == Operation::Delete {
            if let Some(old) = req.get("oldObject").filter(|v| !v.is_null()).cloned() {
                req.insert("object".into(), old);
            }
        }
        let object = req.get("object").unwrap_or(&Value::Null);
        let meta = |field: &str| str_at(object, &["metadata", field]).to_string();
        let (obj_name, obj_namespace) = (meta("name"), meta("namespace"));
        let gvk = match req.get("kind") {
            Some(k @ Value::Object(_)) => Gvk {
                group: str_at(k, &["group"]).to_string(),
                version: str_at(k, &["version"]).to_string(),
                kind: str_at(k, &["kind"]).to_string(),
            },
            _ => {
                let gvk = Gvk::from_api_version(
                    str_at(object, &["apiVersion"]),
                    str_at(object, &["kind"]),
                );
                req.insert(
                    "kind".into(),
                    serde_json::json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind}),
                );
                gvk
            }
        };
        let mut fill = |field: &str, from_object: String| -> String {
            let given = req.get(field).and_then(Value::as_str).unwrap_or("");
            if !given.is_empty() {
                return given.to_string();
            }
            if !from_object.is_empty() {
                req.insert(field.into(), Value::String(from_object.clone()));
            }
            from_object
        };
        let name = fill("name", obj_name);
        let namespace = fill("namespace", obj_namespace);
        req.insert("operation".into(), Value::String(operation.as_str().into()));
        let uid = req
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(Review {
            uid,
            gvk,
            operation,
            name,
            namespace,
            request: Value::Object(req),
            generated: false,
        })
    }

    /// The review of a test-case object: a whole AdmissionReview is judged by its request,
    /// anything else as a plain object under CREATE.
    pub fn from_case_object(doc: Value) -> Result<Self, String> {
        if doc.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
            return Ok(Review::from_object(doc));
        }
        match doc {
            Value::Object(mut m) => match m.remove("request") {
                Some(Value::Object(req)) => Review::from_request(req),
                _ => Err("AdmissionReview has no request".into()),
            },
            _ => Err("AdmissionReview has no request".into()),
        }
    }

    /// The object being judged (`request.object`), `Null` when absent.
    pub fn object(&self) -> &Value {
        self.request.get("object").unwrap_or(&Value::Null)
    }

    /// The previous object of an UPDATE (`request.oldObject`), if any.
    pub fn old_object(&self) -> Option<&Value> {
        self.request.get("oldObject").filter(|v| !v.is_null())
    }

    /// Labels of the judged object.
    pub fn object_labels(&self) -> Option<&Map<String, Value>> {
        labels_of(self.object())
    }

    /// True when the reviewed object is itself a core/v1 Namespace.
    pub fn is_namespace(&self) -> bool {
        self.gvk.group.is_empty() && self.gvk.kind == "Namespace"
    }
}

/// `metadata.labels` of an object, when it is a JSON map.
pub fn labels_of(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.get("labels")?.as_object()
}

/// `metadata.labels` of an object as an owned label map (non-string values are skipped),
/// the form namespace lookups keep.
pub fn label_map(object: &Value) -> std::collections::BTreeMap<String, String> {
    labels_of(object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The string at a path of object keys, or `""`.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}
