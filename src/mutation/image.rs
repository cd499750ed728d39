//! `AssignImage` (mutations.gatekeeper.sh/v1alpha1): rewrite parts of an image reference
//! (`domain/path:tag` or `domain/path@digest`) while keeping the parts not assigned.
//!
//! Splitting follows Gatekeeper: the text before the first `/` is a domain only if it
//! contains `.` or `:` or is `localhost` (so `nginx` and `library/nginx` have none, while
//! `localhost:5000/app` and `my.registry:443/team/app` do); the tag starts at the first `:`
//! or `@` after the domain. The parameters are validated so that an assigned part can never
//! be re-split differently on the next pass, which would keep the mutation from converging.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::common::{check_key_not_changed, opt_str};
use super::path::Path;
use super::walk::Setter;

static DOMAIN: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Za-z0-9_][A-Za-z0-9_\-]*\.[A-Za-z0-9_\-.]*[A-Za-z0-9_](?::[0-9]+)?|localhost(?::[0-9]+)?)$",
    )
});
static PATH: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:(?:[._/]|__|[-]*)[a-z0-9]+)+)?"));
static TAG: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r"^(?::[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}|@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})$",
    )
});

fn regex(r: &'static LazyLock<Result<Regex, regex::Error>>) -> Result<&'static Regex, String> {
    r.as_ref()
        .map_err(|e| format!("internal image pattern failed to compile: {e}"))
}

/// An image reference split into its three parts; `domain` has no trailing `/`, `tag`
/// keeps its leading `:` or `@`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    /// Registry host (with port), or empty.
    pub domain: String,
    /// Repository path.
    pub path: String,
    /// `:tag`, `@sha256:...`, or empty.
    pub tag: String,
}

/// Split `name` at its first `/` when the part before it looks like a registry host.
pub fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("", name),
    }
}

/// Split a domain-less reference at its first `:` or `@`.
pub fn split_tag(rest: &str) -> (&str, &str) {
    match rest.find([':', '@']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

impl ImageRef {
    /// Parse any string; every string splits somehow, as upstream.
    pub fn parse(image: &str) -> Self {
        let (domain, rest) = split_domain(image);
        let (path, tag) = split_tag(rest);
        ImageRef {
            domain: domain.into(),
            path: path.into(),
            tag: tag.into(),
        }
    }

    /// Join the parts back into a reference.
    pub fn full(&self) -> String {
        let mut out = String::new();
        if !self.domain.is_empty() {
            out.push_str(&self.domain);
            out.push('/');
        }
        out.push_str(&self.path);
        out.push_str(&self.tag);
        out
    }
}

/// The parsed parameters of an AssignImage: the parts to force (empty = keep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// `assignDomain`.
    pub domain: String,
    /// `assignPath`.
    pub path: String,
    /// `assignTag`.
    pub tag: String,
}

impl ImageSpec {
    /// Validate the location and the three parts.
    pub fn parse(params: &Value, location: &Path) -> Result<Self, String> {
        if location.has_metadata_root() {
            return Err("AssignImage can't change metadata".to_string());
        }
        if location.nodes.last().is_some_and(|n| n.is_list()) {
            return Err("AssignImage cannot mutate list-type fields".to_string());
        }
        check_key_not_changed(location)?;
        let field = |k: &str| -> Result<String, String> {
            Ok(opt_str(params, k, &format!("spec.parameters.{k}"))?
                .unwrap_or_default()
                .to_string())
        };
        let spec = ImageSpec {
            domain: field("assignDomain")?,
            path: field("assignPath")?,
            tag: field("assignTag")?,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Gatekeeper's checks, which keep the mutation convergent.
    pub fn validate(&self) -> Result<(), String> {
        if self.domain.is_empty() && self.path.is_empty() && self.tag.is_empty() {
            return Err("at least one of assignDomain, assignPath, assignTag must be set".into());
        }
        if !self.domain.is_empty() {
            if !regex(&DOMAIN)?.is_match(&self.domain) {
                return Err(format!(
                    "assignDomain {:?} must be a fully-qualified domain name or localhost \
                     (optionally with a port), without '/'",
                    self.domain
                ));
            }
            let joined = format!("{}/", self.domain);
            if split_domain(&joined) != (self.domain.as_str(), "") {
                return Err(format!(
                    "assignDomain {:?} is not recognized as a domain",
                    self.domain
                ));
            }
        }
        if !self.path.is_empty()
            && regex(&PATH)?.find(&self.path).map(|m| m.as_str()) != Some(self.path.as_str())
        {
            return Err(format!(
                "assignPath {:?} must be a valid image repository path",
                self.path
            ));
        }
        if !self.tag.is_empty() {
            if !regex(&TAG)?.is_match(&self.tag) {
                return Err(format!(
                    "assignTag {:?} must be a tag starting with ':' or a digest starting with '@'",
                    self.tag
                ));
            }
            if split_tag(&self.tag) != ("", self.tag.as_str()) {
                return Err(format!(
                    "assignTag {:?} is not recognized as a tag",
                    self.tag
                ));
            }
        }
        if self.domain.is_empty() && !split_domain(&self.path).0.is_empty() {
            return Err(format!(
                "assignDomain must be set when the first part of assignPath {:?} looks like a \
                 domain",
                self.path
            ));
        }
        Ok(())
    }

    /// Rewrite one reference.
    pub fn rewrite(&self, image: &str) -> String {
        let old = ImageRef::parse(image);
        let pick = |new: &str, old: String| if new.is_empty() { old } else { new.into() };
        ImageRef {
            domain: pick(&self.domain, old.domain),
            path: pick(&self.path, old.path),
            tag: pick(&self.tag, old.tag),
        }
        .full()
    }
}

impl Setter for ImageSpec {
    fn set(&self, obj: &mut Map<String, Value>, key: &str, commit: bool) -> Result<bool, String> {
        let current = match obj.get(key) {
            None => "",
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(format!("expected a string image at {key:?}, got {other}")),
        };
        let new = self.rewrite(current);
        if new == current && obj.contains_key(key) {
            return Ok(false);
        }
        if commit {
            obj.insert(key.to_string(), Value::String(new));
        }
        Ok(true)
    }

    fn list_element(&self) -> Option<&Value> {
        None
    }

    /// What a rewrite adds to an image: the three parts and their separators.
    fn weight(&self) -> usize {
        self.domain.len() + self.path.len() + self.tag.len() + 4
    }
}
