//! Conversions between JSON documents and CEL values.
//!
//! Objects arrive as `serde_json::Value`; CEL programs read `cel` values. The conversion
//! builds the crate's own map, list and scalar types directly (no detour through
//! `cel::Value`), once per request for the review and once per constraint for parameters.
//! JSON integers become CEL `int` as in Kubernetes (only integers above `i64::MAX` become
//! `uint`), so `port.hostPort < variables.params.min` compares like with like.
//!
//! Every map and list of a converted document sits behind an `Arc` ([`Shared`]): the
//! interpreter copies values freely (binding a comprehension's element, concatenating lists,
//! storing a variable), and with sharing those copies are reference-count bumps instead of
//! deep copies of whole containers.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::traits::{Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt, Type,
    DYN_TYPE,
};
use cel::common::value::{Builtin, BuiltinRef, CowVal, Val};
use cel::ExecutionError;
use serde_json::Value;

/// A boxed CEL `null`.
pub(super) fn null() -> Box<dyn Val> {
    Box::new(CelNull)
}

/// Convert a JSON document into an owned CEL value.
pub(super) fn json_to_val(json: &Value) -> Box<dyn Val> {
    match json {
        Value::Null => null(),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => number_to_val(n),
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(items) => {
            let list: Vec<Box<dyn Val>> = items.iter().map(json_to_val).collect();
            Box::new(Shared(Arc::new(CelList::from(list))))
        }
        Value::Object(map) => {
            let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(CelMapKey::from(k.clone()), json_to_val(v));
            }
            Box::new(Shared(Arc::new(CelMap::from(out))))
        }
    }
}

/// The admission request as CEL sees it under `request`: every field but the objects, which
/// are bound separately as `object` and `oldObject`.
pub(super) fn request_to_val(request: &Value) -> Box<dyn Val> {
    match request.as_object() {
        Some(map) => {
            let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(map.len());
            for (k, v) in map {
                if k != "object" && k != "oldObject" {
                    out.insert(CelMapKey::from(k.clone()), json_to_val(v));
                }
            }
            Box::new(CelMap::from(out))
        }
        None => json_to_val(request),
    }
}

fn number_to_val(n: &serde_json::Number) -> Box<dyn Val> {
    if let Some(i) = n.as_i64() {
        Box::new(CelInt::from(i))
    } else if let Some(u) = n.as_u64() {
        Box::new(CelUInt::from(u))
    } else {
        Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
    }
}

/// Copy a value computed by the interpreter into one that owns all its data, so that it can
/// outlive the evaluation that made it (a variable is computed in a nested evaluation and kept
/// for the rest of the review). Shared containers are shared again, not copied.
pub(super) fn detach(val: &dyn Val) -> Result<Box<dyn Val>, ExecutionError> {
    if let Some(shared) = val.as_any().and_then(|a| a.downcast_ref::<Shared>()) {
        return Ok(Box::new(shared.clone()));
    }
    match val.as_builtin() {
        BuiltinRef::List(list) => {
            let items = list.inner().iter().map(|v| detach(v.as_ref()));
            let items = items.collect::<Result<Vec<_>, _>>()?;
            return Ok(Box::new(Shared(Arc::new(CelList::from(items)))));
        }
        BuiltinRef::Map(map) => {
            let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(map.inner().len());
            for (k, v) in map.inner() {
                out.insert(k.clone().into_static(), detach(v.as_ref())?);
            }
            return Ok(Box::new(Shared(Arc::new(CelMap::from(out)))));
        }
        BuiltinRef::String(s) => return Ok(Box::new(CelString::from(s.inner().to_owned()))),
        _ => {}
    }
    if let Some(b) = val.downcast_ref::<CelBool>() {
        return Ok(Box::new(*b));
    }
    if let Some(i) = val.downcast_ref::<CelInt>() {
        return Ok(Box::new(*i));
    }
    if let Some(u) = val.downcast_ref::<CelUInt>() {
        return Ok(Box::new(*u));
    }
    if let Some(d) = val.downcast_ref::<CelDouble>() {
        return Ok(Box::new(*d));
    }
    if val.downcast_ref::<CelNull>().is_some() {
        return Ok(null());
    }
    // Anything else (optionals, types, bytes, ...) through the crate's owned value form.
    Box::<dyn Val>::try_from(cel::Value::try_from(val)?)
}

/// A built-in map or list shared behind an `Arc`: it behaves exactly as the value it wraps
/// (same type, same operators, same downcasts), but cloning it is cheap.
#[derive(Debug, Clone)]
struct Shared(Arc<dyn Val>);

impl Val for Shared {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        // Only consulted for Rust types named in overload macros, which `Shared` never is.
        &DYN_TYPE
    }

    fn as_adder<'b, 'v>(&'b self) -> Option<&'b (dyn Adder + 'v)>
    where
        Self: 'v,
    {
        self.0.as_adder()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'v>(&'b self) -> BuiltinRef<'b, 'v>
    where
        Self: 'v,
    {
        self.0.as_builtin()
    }

    fn into_builtin<'v>(self: Box<Self>) -> Option<Builtin<'v>>
    where
        Self: 'v,
    {
        // The interpreter moves built-ins out of owned boxes; a shared one is copied (its
        // elements, themselves shared, stay cheap).
        self.0.clone_as_boxed().into_builtin()
    }
}

impl Indexer for Shared {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        match self.0.as_indexer() {
            Some(indexer) => indexer.get(idx),
            None => Err(ExecutionError::UnexpectedType {
                got: self.0.get_type().name().to_owned(),
                want: "map or list".to_owned(),
            }),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}
