//! The constraints of a snapshot in their stable order, with the index that finds the ones
//! a request's kind can match.

use std::ops::Deref;

use super::ActiveConstraint;
use crate::matching::{Candidates, KindIndex};

/// Constraints sorted by (kind, name), indexed by the group/kind pairs their matches name.
#[derive(Debug, Default)]
pub struct ConstraintSet {
    list: Vec<ActiveConstraint>,
    index: KindIndex,
}

impl ConstraintSet {
    /// Index `list`, kept in the order given.
    pub fn new(list: Vec<ActiveConstraint>) -> Self {
        let index = KindIndex::build(list.iter().map(|c| &c.constraint.matcher));
        ConstraintSet { list, index }
    }

    /// The constraints whose `match.kinds` cover `group`/`kind`, in order. The rest of each
    /// match (namespaces, selectors, ...) is still to be checked.
    pub fn for_kind<'s>(
        &'s self,
        group: &str,
        kind: &str,
    ) -> impl Iterator<Item = &'s ActiveConstraint> + 's {
        let candidates: Candidates<'s> = self.index.candidates(group, kind);
        candidates.filter_map(|i| self.list.get(i))
    }
}

impl Deref for ConstraintSet {
    type Target = [ActiveConstraint];

    fn deref(&self) -> &[ActiveConstraint] {
        &self.list
    }
}

impl From<Vec<ActiveConstraint>> for ConstraintSet {
    fn from(list: Vec<ActiveConstraint>) -> Self {
        ConstraintSet::new(list)
    }
}
