//! `data.inventory` as one snapshot publishes it, with each engine's conversion made once.
//!
//! A referential Rego template needs the inventory as a Rego value. Converting it per
//! request would cost time and allocations proportional to everything synced, on the hot
//! path; the snapshot instead holds one [`Inventory`] whose Rego form is made by the first
//! request that needs it and shared by every later one until the next publish.

use std::sync::OnceLock;

use serde_json::Value;

/// The inventory document and its lazily made engine forms.
#[derive(Debug, Default)]
pub struct Inventory {
    json: Value,
    rego: OnceLock<regorus::Value>,
}

impl Inventory {
    /// An inventory document (`{cluster: .., namespace: ..}`), or `Null` for none.
    pub fn new(json: Value) -> Self {
        Inventory {
            json,
            rego: OnceLock::new(),
        }
    }

    /// The document.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The document as a Rego value, converted on first use.
    pub(crate) fn rego(&self) -> &regorus::Value {
        self.rego
            .get_or_init(|| super::rego::to_rego_value(&self.json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rego_form_is_made_once_and_shared() {
        let inv = Inventory::new(serde_json::json!({"cluster": {"v1": {}}}));
        let first: *const regorus::Value = inv.rego();
        let second: *const regorus::Value = inv.rego();
        assert_eq!(first, second);
        assert!(Inventory::default().json().is_null());
    }
}
