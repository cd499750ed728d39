//! Enforcement actions: what a violation does at each enforcement point.

use serde::Deserialize;

/// The webhook's enforcement point.
pub const VALIDATION_POINT: &str = "validation.gatekeeper.sh";
/// The audit enforcement point.
pub const AUDIT_POINT: &str = "audit.gatekeeper.sh";
/// The offline (gator / `portcullis test`) enforcement point.
pub const GATOR_POINT: &str = "gator.gatekeeper.sh";

/// The effect of a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Reject the request.
    Deny,
    /// Admit it with a warning.
    Warn,
    /// Admit it; log and count the would-be denial.
    Dryrun,
}

impl Action {
    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Dryrun => "dryrun",
        }
    }

    /// Parse a Gatekeeper action name (case-insensitive, as Gatekeeper accepts).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "deny" => Some(Action::Deny),
            "warn" => Some(Action::Warn),
            "dryrun" => Some(Action::Dryrun),
            _ => None,
        }
    }
}

/// `spec.enforcementAction` with `spec.scopedEnforcementActions` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// One action at every enforcement point.
    Uniform(Action),
    /// `scoped`: per-point actions; points not named get no action at all.
    Scoped(Vec<ScopedAction>),
}

/// One entry of `spec.scopedEnforcementActions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopedAction {
    /// `deny`, `warn` or `dryrun`.
    pub action: String,
    /// The points it applies to; empty or `*` means all.
    #[serde(default)]
    pub enforcement_points: Vec<EnforcementPoint>,
}

/// An enforcement point reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnforcementPoint {
    /// `validation.gatekeeper.sh`, `audit.gatekeeper.sh`, `gator.gatekeeper.sh` or `*`.
    pub name: String,
}

impl Enforcement {
    /// The actions that apply at a point, strongest first, deduplicated.
    pub fn actions_at(&self, point: &str) -> Vec<Action> {
        match self {
            Enforcement::Uniform(a) => vec![*a],
            Enforcement::Scoped(list) => {
                let mut out: Vec<Action> = list
                    .iter()
                    .filter(|s| {
                        s.enforcement_points.is_empty()
                            || s.enforcement_points
                                .iter()
                                .any(|p| p.name == "*" || p.name == point)
                    })
                    .filter_map(|s| Action::parse(&s.action))
                    .collect();
                out.sort();
                out.dedup();
                out
            }
        }
    }
}
