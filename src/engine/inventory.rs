//! `data.inventory` as one snapshot publishes it, in the form the engines read.
//!
//! A referential Rego template needs the inventory as a Rego value. Converting it per
//! request would cost time and allocations proportional to everything synced, on the hot
//! path; the snapshot instead holds one [`Inventory`] whose Rego form is either built
//! ahead (cluster mode) or made from JSON by the first request that needs it, and shared by
//! every later one until the next publish.

use std::sync::OnceLock;

use serde_json::Value;

/// The inventory document and its lazily made engine forms.
#[derive(Debug, Default)]
pub struct Inventory {
    json: Value,
    rego: OnceLock<regorus::Value>,
    /// The Ingress hosts index of the unique-host rule, made by the first review that needs
    /// it (under that review's deadline) and shared by every later one.
    ingress_hosts: OnceLock<super::native::IngressHosts>,
}

impl Inventory {
    /// An inventory document (`{cluster: .., namespace: ..}`), or `Null` for none.
    pub fn new(json: Value) -> Self {
        Inventory {
            json,
            ..Inventory::default()
        }
    }

    /// The JSON document (`Null` for none).
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The inventory as a Rego value, converted from JSON on first use; `None` when there
    /// is no inventory.
    pub(crate) fn rego(&self) -> Option<&regorus::Value> {
        if let Some(r) = self.rego.get() {
            return Some(r);
        }
        if self.json.is_null() {
            return None;
        }
        Some(
            self.rego
                .get_or_init(|| super::rego::to_rego_value(&self.json)),
        )
    }
}

impl Inventory {
    /// The index of Ingress hosts, built on first use. A build cut off by `pacer`'s
    /// deadline is dropped, and the next review builds it again.
    pub(crate) fn ingress_hosts(
        &self,
        pacer: &crate::deadline::Pacer,
    ) -> Result<&super::native::IngressHosts, crate::deadline::DeadlineExceeded> {
        if let Some(built) = self.ingress_hosts.get() {
            return Ok(built);
        }
        let built = super::native::IngressHosts::build(&self.json, pacer)?;
        Ok(self.ingress_hosts.get_or_init(|| built))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rego_form_is_made_once_and_shared() {
        let inv = Inventory::new(serde_json::json!({"cluster": {"v1": {}}}));
        let first = inv.rego().map(|r| r as *const regorus::Value);
        let second = inv.rego().map(|r| r as *const regorus::Value);
        assert!(first.is_some());
        assert_eq!(first, second);
        assert!(Inventory::default().rego().is_none(), "no inventory");
    }
}
