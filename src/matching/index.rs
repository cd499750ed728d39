//! Which matches can apply to a group and kind, found without looking at the others.
//!
//! Large organisations run hundreds of constraints over many kinds; a Pod review should not
//! pay for the Ingress, Service and RBAC constraints it can never match. `match.kinds` is
//! known at load time, so the index files each match under the group/kind pairs it names
//! and hands a request only the matches filed under its own group and kind, plus those
//! that name no kind at all. A request then costs what its candidates cost, whatever the
//! size of the policy set.
//!
//! The candidates come out in ascending position, the order the caller keeps its matches
//! in (constraint messages keep a stable order), through a merge of at most four sorted
//! lists that allocates nothing.

use std::collections::HashMap;

use super::{KindSelector, Match};

/// Positions filed by the shape of the `kinds` entries that name them.
#[derive(Debug, Default, Clone)]
pub struct KindIndex {
    /// Entries naming both a group and a kind, by group, then kind (nested so that a
    /// request's borrowed strings look them up without building a key).
    exact: HashMap<String, HashMap<String, Vec<u32>>>,
    /// Entries naming a kind in every group (`apiGroups: ["*"]` or none).
    kind_any_group: HashMap<String, Vec<u32>>,
    /// Entries naming a group with every kind (`kinds: ["*"]` or none).
    group_any_kind: HashMap<String, Vec<u32>>,
    /// Matches with no `kinds`, or an entry covering every group and kind.
    everywhere: Vec<u32>,
}

/// One side of a `kinds` entry: every value, or the ones listed.
fn listed(list: &[String]) -> Option<&[String]> {
    (!list.is_empty() && !list.iter().any(|x| x == "*")).then_some(list)
}

impl KindIndex {
    /// Index matches by position. Positions past `u32::MAX` are not expected (a policy set
    /// that size could not be loaded) and are filed everywhere, which is only slower.
    pub fn build<'a>(matches: impl IntoIterator<Item = &'a Match>) -> Self {
        Self::build_from(matches.into_iter().map(|m| m.kinds.as_slice()))
    }

    /// Index by position from each item's `kinds` entries (an empty list covers every kind).
    pub fn build_from<'a>(kinds: impl IntoIterator<Item = &'a [KindSelector]>) -> Self {
        let mut index = KindIndex::default();
        for (position, kinds) in kinds.into_iter().enumerate() {
            let Ok(position) = u32::try_from(position) else {
                index.everywhere.push(u32::MAX);
                continue;
            };
            index.file(position, kinds);
        }
        for list in index
            .exact
            .values_mut()
            .flat_map(HashMap::values_mut)
            .chain(index.kind_any_group.values_mut())
            .chain(index.group_any_kind.values_mut())
            .chain(std::iter::once(&mut index.everywhere))
        {
            list.dedup();
        }
        index
    }

    fn file(&mut self, position: u32, kinds: &[KindSelector]) {
        if kinds.is_empty() {
            self.everywhere.push(position);
            return;
        }
        for entry in kinds {
            match (listed(&entry.api_groups), listed(&entry.kinds)) {
                (None, None) => self.everywhere.push(position),
                (None, Some(ks)) => {
                    for k in ks {
                        self.kind_any_group
                            .entry(k.clone())
                            .or_default()
                            .push(position);
                    }
                }
                (Some(gs), None) => {
                    for g in gs {
                        self.group_any_kind
                            .entry(g.clone())
                            .or_default()
                            .push(position);
                    }
                }
                (Some(gs), Some(ks)) => {
                    for g in gs {
                        for k in ks {
                            self.exact
                                .entry(g.clone())
                                .or_default()
                                .entry(k.clone())
                                .or_default()
                                .push(position);
                        }
                    }
                }
            }
        }
    }

    /// Positions of the matches whose `kinds` cover `group`/`kind`, ascending, each once.
    /// Every other part of each match still has to be checked.
    pub fn candidates<'i>(&'i self, group: &str, kind: &str) -> Candidates<'i> {
        let exact = self.exact.get(group).and_then(|kinds| kinds.get(kind));
        Candidates {
            lists: [
                exact.map_or(&[], Vec::as_slice),
                self.kind_any_group.get(kind).map_or(&[], Vec::as_slice),
                self.group_any_kind.get(group).map_or(&[], Vec::as_slice),
                &self.everywhere,
            ],
        }
    }
}

/// The ascending merge of four sorted position lists, without repeats.
#[derive(Debug)]
pub struct Candidates<'i> {
    lists: [&'i [u32]; 4],
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let next = self.lists.iter().filter_map(|l| l.first()).min().copied()?;
        for list in &mut self.lists {
            if list.first() == Some(&next) {
                *list = list.get(1..).unwrap_or(&[]);
            }
        }
        usize::try_from(next).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn m(kinds: serde_json::Value) -> Match {
        serde_json::from_value(json!({ "kinds": kinds })).expect("match parses")
    }

    #[test]
    fn candidates_are_exactly_the_matches_whose_kinds_cover_the_request() {
        let matches = vec![
            m(json!([{"apiGroups": [""], "kinds": ["Pod"]}])),
            m(json!([{"apiGroups": ["networking.k8s.io"], "kinds": ["Ingress"]}])),
            m(json!([])),
            m(json!([{"apiGroups": ["*"], "kinds": ["Pod", "Service"]}])),
            m(json!([{"apiGroups": ["apps"], "kinds": []}])),
            m(json!([{"apiGroups": ["*"], "kinds": ["*"]}])),
            m(json!([{"apiGroups": ["", "apps"], "kinds": ["Pod"]},
                     {"apiGroups": [""], "kinds": ["Pod", "Service"]}])),
            serde_json::from_value(json!({})).expect("empty match"),
        ];
        let index = KindIndex::build(&matches);
        let probes = [
            ("", "Pod"),
            ("", "Service"),
            ("apps", "Deployment"),
            ("apps", "Pod"),
            ("networking.k8s.io", "Ingress"),
            ("x.example", "Thing"),
            ("", ""),
        ];
        for (group, kind) in probes {
            let got: Vec<usize> = index.candidates(group, kind).collect();
            let want: Vec<usize> = matches
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.kinds.is_empty() || m.kinds.iter().any(|k| k.matches(group, kind))
                })
                .map(|(i, _)| i)
                .collect();
            assert_eq!(got, want, "{group}/{kind}");
        }
    }

    #[test]
    fn many_kinds_of_one_group_are_told_apart() {
        let matches: Vec<Match> = (0..50)
            .map(|i| m(json!([{"apiGroups": ["g"], "kinds": [format!("K{i}")]}])))
            .collect();
        let index = KindIndex::build(&matches);
        assert_eq!(index.candidates("g", "K7").collect::<Vec<_>>(), vec![7]);
        assert_eq!(index.candidates("g", "K50").count(), 0);
        assert_eq!(index.candidates("h", "K7").count(), 0);
    }
}
