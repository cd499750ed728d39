//! Policy objects refused one by one.
//!
//! A policy set is many teams' objects. One broken template, constraint, mutator or Config
//! is refused on its own, with its reason, and the rest of the set updates; the refused
//! object's last good version (by identity: a template by name, a constraint or mutator by
//! kind and name, a Config by name) keeps serving in its place, as in Gatekeeper, where a
//! bad update never unloads what the engine already holds.

use super::PolicyError;

/// What was refused, as the `kind` label of the refusal metrics (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A ConstraintTemplate.
    Template,
    /// A constraint.
    Constraint,
    /// A mutator (Assign, AssignMetadata, ModifySet, AssignImage).
    Mutator,
    /// Gatekeeper's Config.
    Config,
    /// An ExpansionTemplate.
    Expansion,
    /// A Namespace document (file mode).
    Namespace,
    /// A whole policy file that could not be read or parsed (file mode).
    File,
}

impl ObjectKind {
    /// Every kind, for gauges that must show zeros too.
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Template,
        ObjectKind::Constraint,
        ObjectKind::Mutator,
        ObjectKind::Config,
        ObjectKind::Expansion,
        ObjectKind::Namespace,
        ObjectKind::File,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Template => "template",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Mutator => "mutator",
            ObjectKind::Config => "config",
            ObjectKind::Expansion => "expansion",
            ObjectKind::Namespace => "namespace",
            ObjectKind::File => "file",
        }
    }
}

/// Why it was refused, as the `reason` label of the refusal counter (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Unreadable file, bad YAML, or a document without kind or name.
    Parse,
    /// A field failed validation.
    Invalid,
    /// The template's code did not compile.
    Compile,
    /// A constraint whose template does not exist or was refused.
    MissingTemplate,
    /// Another object already has this identity (or defines this constraint kind).
    Duplicate,
    /// A mutator in a schema conflict (Gatekeeper's `ErrConflictingSchema`).
    Conflict,
}

impl Cause {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Parse => "parse",
            Cause::Invalid => "invalid",
            Cause::Compile => "compile",
            Cause::MissingTemplate => "missing_template",
            Cause::Duplicate => "duplicate",
            Cause::Conflict => "conflict",
        }
    }

    /// The cause of an error from parsing or validating one object.
    pub fn of(error: &PolicyError) -> Cause {
        match error {
            PolicyError::Parse { .. } => Cause::Parse,
            PolicyError::Engine(_) => Cause::Compile,
            PolicyError::At { error, .. } => Cause::of(error),
            PolicyError::Invalid { .. } | PolicyError::UnknownFields(_) | PolicyError::Set(_) => {
                Cause::Invalid
            }
        }
    }
}

/// One refused object.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What kind of object.
    pub kind: ObjectKind,
    /// `Kind/name` of the object (the path, for a file).
    pub object: String,
    /// Where it came from: `file#doc`, `cluster:<Kind>/<ns>/<name>`, or the file.
    pub location: String,
    /// Why, for the label.
    pub cause: Cause,
    /// Why, in words.
    pub error: PolicyError,
    /// Its last good version keeps serving in its place.
    pub kept: bool,
}

impl Refusal {
    /// The refusal as a located error (the strict build and the CLI report these).
    pub fn to_error(&self) -> PolicyError {
        PolicyError::At {
            location: self.location.clone(),
            what: self.object.clone(),
            error: Box::new(self.error.clone()),
        }
    }

    /// The reason alone, as written to the object's status.
    /// Why, on one line: engine messages (a parser's, several errors of a set) may span
    /// lines, which would split one log record into several in a log pipeline.
    pub fn reason(&self) -> String {
        let text = self.error.to_string();
        if !text.contains('\n') {
            return text;
        }
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Identity and reason: a refusal already reported is not counted again when a later
    /// build refuses the same object for the same reason.
    pub fn key(&self) -> (ObjectKind, String, String) {
        (self.kind, self.object.clone(), self.reason())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.location, self.object, self.error)?;
        if self.kept {
            f.write_str(" (its last good version keeps serving)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_follow_the_error() {
        let parse = PolicyError::Parse {
            location: "f".into(),
            message: "bad".into(),
        };
        assert_eq!(Cause::of(&parse), Cause::Parse);
        let at = PolicyError::At {
            location: "f#0".into(),
            what: "K/x".into(),
            error: Box::new(PolicyError::invalid("spec", "no")),
        };
        assert_eq!(Cause::of(&at), Cause::Invalid);
    }

    #[test]
    fn the_reason_is_one_line() {
        let r = Refusal {
            kind: ObjectKind::Template,
            object: "ConstraintTemplate/t".into(),
            location: "t.yaml#0".into(),
            cause: Cause::Compile,
            error: PolicyError::invalid("rego", "t.rego:3: parse error\n  x := \n    ^ here\n"),
            kept: false,
        };
        assert_eq!(r.reason(), "rego: t.rego:3: parse error; x :=; ^ here");
    }

    #[test]
    fn display_says_when_the_last_good_version_serves() {
        let r = Refusal {
            kind: ObjectKind::Template,
            object: "ConstraintTemplate/t".into(),
            location: "t.yaml#0".into(),
            cause: Cause::Invalid,
            error: PolicyError::invalid("spec.targets", "is required"),
            kept: true,
        };
        assert_eq!(
            r.to_string(),
            "t.yaml#0 (ConstraintTemplate/t): spec.targets: is required (its last good version keeps serving)"
        );
        assert_eq!(r.reason(), "spec.targets: is required");
    }
}
