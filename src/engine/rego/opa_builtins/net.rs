//! The `net.cidr_*` builtins regorus lacks or builds differently, on `ipnet` (whose CIDR
//! syntax is regorus's own for `net.cidr_contains`).

use std::net::IpAddr;

use ipnet::IpNet;
use regorus::Value;

use super::string;

/// Most addresses `net.cidr_expand` may list: the evaluators' collection limit.
pub(crate) const MAX_EXPAND: u128 = 1_000_000;

/// Most pairs `net.cidr_contains_matches` may compare (each a few nanoseconds once both
/// sides are parsed): its work is the product of its operands' sizes, which the compiled
/// path's pacer, weighting by their sum, would not see.
pub(crate) const MAX_MATCH_PAIRS: usize = 10_000_000;

/// A CIDR as OPA (Go's `net.ParseCIDR`) and regorus's `net.cidr_contains` read it.
fn cidr(v: Option<&Value>) -> Option<IpNet> {
    string(v)?.parse::<IpNet>().ok()
}

/// `net.cidr_contains(cidr, cidr_or_ip)` as regorus computes it (the address or every
/// address of the second network inside the first); undefined for an unparsable operand.
pub(super) fn cidr_contains(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(net), Some(other)) = (cidr(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    Ok(if other.contains('/') {
        match other.parse::<IpNet>() {
            Ok(sub) => Value::Bool(net.contains(&sub)),
            Err(_) => Value::Undefined,
        }
    } else {
        match other.parse::<IpAddr>() {
            Ok(ip) => Value::Bool(net.contains(&ip)),
            Err(_) => Value::Undefined,
        }
    })
}

/// `net.cidr_intersects(a, b)`: either network holds the other's first address.
pub(super) fn cidr_intersects(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(x), Some(y)) = (cidr(a.first()), cidr(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    Ok(Value::Bool(
        x.contains(&y.network()) || y.contains(&x.network()),
    ))
}

/// `net.cidr_expand(cidr)`: the set of every address of the network, from its first to
/// its last (a set, as OPA makes it; regorus makes an array); refused past
/// [`MAX_EXPAND`] addresses, before any is made.
pub(super) fn cidr_expand(a: &[Value]) -> anyhow::Result<Value> {
    let Some(net) = cidr(a.first()) else {
        return Ok(Value::Undefined);
    };
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let count = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    if count > MAX_EXPAND {
        anyhow::bail!(
            "net.cidr_expand: {net} has {} addresses; the limit is {MAX_EXPAND}",
            if count == u128::MAX {
                "2^128".to_string()
            } else {
                count.to_string()
            }
        );
    }
    let addresses: std::collections::BTreeSet<Value> = match net {
        IpNet::V4(n) => {
            let first = u32::from(n.network());
            (0..count as u32)
                .map(|i| Value::from(std::net::Ipv4Addr::from(first + i).to_string()))
                .collect()
        }
        IpNet::V6(n) => {
            let first = u128::from(n.network());
            (0..count)
                .map(|i| Value::from(std::net::Ipv6Addr::from(first + i).to_string()))
                .collect()
        }
    };
    Ok(Value::from(addresses))
}

/// The (CIDR text, index) terms of a `net.cidr_contains_matches` operand: a string is its
/// own index; an array's elements are indexed by position, a set's by themselves, an
/// object's values by their keys; an element is a string or a non-empty array whose first
/// element is the CIDR. `None` for an element of another kind (OPA's error); any other
/// operand has no terms.
fn match_terms(v: &Value) -> Option<Vec<(Value, Value)>> {
    let term = |x: &Value| -> Option<Value> {
        match x {
            Value::String(_) => Some(x.clone()),
            Value::Array(a) => a.first().cloned(),
            _ => None,
        }
    };
    Some(match v {
        Value::String(_) => vec![(v.clone(), v.clone())],
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| Some((term(x)?, Value::from(i as u64))))
            .collect::<Option<_>>()?,
        Value::Set(s) => s
            .iter()
            .map(|x| Some((term(x)?, x.clone())))
            .collect::<Option<_>>()?,
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| Some((term(x)?, k.clone())))
            .collect::<Option<_>>()?,
        _ => Vec::new(),
    })
}

/// An address or a network, as the second operand of `net.cidr_contains` reads it.
enum Inner {
    Ip(IpAddr),
    Net(IpNet),
}

/// `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: the set of `[index1, index2]` pairs
/// where the first operand's CIDR contains the second's address or network. OPA walks the
/// pairs and stops at the first error (an element of the wrong kind, an unparsable CIDR or
/// address), which makes the call undefined; with an empty side there is no pair and so no
/// parse error. Past [`MAX_MATCH_PAIRS`] pairs, or a result over the collection limit, it
/// is refused.
pub(super) fn cidr_contains_matches(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(left), Some(right)) = (a.first(), a.get(1)) else {
        return Ok(Value::Undefined);
    };
    let Some(left) = match_terms(left) else {
        return Ok(Value::Undefined);
    };
    if left.is_empty() {
        return Ok(Value::new_set());
    }
    let Some(right) = match_terms(right) else {
        return Ok(Value::Undefined);
    };
    if right.is_empty() {
        return Ok(Value::new_set());
    }
    let pairs = left.len().saturating_mul(right.len());
    if pairs > MAX_MATCH_PAIRS {
        anyhow::bail!(
            "net.cidr_contains_matches: {pairs} pairs to compare; the limit is {MAX_MATCH_PAIRS}"
        );
    }
    let mut nets = Vec::with_capacity(left.len());
    for (text, index) in &left {
        match cidr(Some(text)) {
            Some(n) => nets.push((n, index)),
            None => return Ok(Value::Undefined),
        }
    }
    let mut inner = Vec::with_capacity(right.len());
    for (text, index) in &right {
        let Some(t) = string(Some(text)) else {
            return Ok(Value::Undefined);
        };
        let parsed = if t.contains('/') {
            t.parse::<IpNet>().ok().map(Inner::Net)
        } else {
            t.parse::<IpAddr>().ok().map(Inner::Ip)
        };
        match parsed {
            Some(p) => inner.push((p, index)),
            None => return Ok(Value::Undefined),
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for (net, i) in &nets {
        for (x, j) in &inner {
            let hit = match x {
                Inner::Ip(ip) => net.contains(ip),
                Inner::Net(sub) => net.contains(sub),
            };
            if hit {
                out.insert(Value::from(vec![(*i).clone(), (*j).clone()]));
                if out.len() as u128 > MAX_EXPAND {
                    anyhow::bail!(
                        "net.cidr_contains_matches: more than {MAX_EXPAND} matches; the limit \
                         is {MAX_EXPAND}"
                    );
                }
            }
        }
    }
    Ok(Value::from(out))
}
