//! Deterministic identity resolution: given the identifiers one event (or import row) carries and who
//! currently holds them, decide which contact the event belongs to, which contacts are one person and
//! must merge, and which identifiers are attached or dropped.
//!
//! The procedure follows the rules of [`IdentityRules`]:
//! 1. blocked values are removed and the rest ordered by rule priority (highest first);
//! 2. if the identifiers point at two or more contacts that are both *known* (hold a non-anonymous
//!    identifier), an identifier whose kind may not merge known contacts is dropped, lowest priority first;
//! 3. if linking everything would leave one contact holding more values of a kind than its
//!    `max_per_contact`, the lowest-priority identifier is dropped and the check repeats;
//! 4. what remains decides: no holder → a new contact; one → that contact; several → they merge into the
//!    survivor (a known contact before an anonymous one, then the oldest id).
//!
//! Every decision is a pure function of the rules and the holdings, which is what makes resolution
//! explainable and testable without a database.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::identity::{Identifier, IdentityRules};
use crate::ids::ContactId;

/// Why an identifier of an event was not linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// An empty or placeholder value ("null", "0", "anonymous" …).
    Blocked,
    /// Its kind may not merge two contacts that are both known.
    WouldMergeKnownContacts,
    /// Linking it would exceed `max_per_contact` for its kind.
    LimitExceeded,
}

/// The outcome of resolving one event's identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The contact the event belongs to; `None` means a new contact must be created.
    pub contact: Option<ContactId>,
    /// Contacts to merge into `contact` (empty unless two or more holders were found).
    pub merged: Vec<ContactId>,
    /// Identifiers to attach to the resulting contact (those nobody holds yet).
    pub attach: Vec<Identifier>,
    /// Identifiers that joined the merged contacts — the explanation stored with a merge.
    pub linked_by: Vec<Identifier>,
    pub dropped: Vec<(Identifier, DropReason)>,
}

/// What the resolver needs to know about the contacts holding an event's identifiers.
pub trait Holdings {
    /// The contact holding this identifier, if any (already following merges).
    fn holder(&self, id: &Identifier) -> Option<ContactId>;
    /// Every identifier this contact holds.
    fn identifiers_of(&self, contact: ContactId) -> &[Identifier];
}

/// A plain in-memory [`Holdings`], used by tests and by callers that loaded the holdings up front.
#[derive(Debug, Default, Clone)]
pub struct MemoryHoldings {
    pub by_identifier: HashMap<Identifier, ContactId>,
    pub by_contact: HashMap<ContactId, Vec<Identifier>>,
}

impl MemoryHoldings {
    pub fn attach(&mut self, contact: ContactId, id: Identifier) {
        if self.by_identifier.insert(id.clone(), contact).is_none() {
            self.by_contact.entry(contact).or_default().push(id);
        }
    }

    /// Applies a resolution, returning the contact the event ended on (`new_id` for a new one).
    pub fn apply(&mut self, r: &Resolution, new_id: ContactId) -> ContactId {
        let target = r.contact.unwrap_or(new_id);
        for m in &r.merged {
            for id in self.by_contact.remove(m).unwrap_or_default() {
                self.by_identifier.insert(id.clone(), target);
                self.by_contact.entry(target).or_default().push(id);
            }
        }
        for id in &r.attach {
            self.attach(target, id.clone());
        }
        target
    }
}

impl MemoryHoldings {
    /// Moves everything `from` holds to `to` (a provisional id that was given its stored one).
    pub fn rename(&mut self, from: ContactId, to: ContactId) {
        if let Some(ids) = self.by_contact.remove(&from) {
            for id in &ids {
                self.by_identifier.insert(id.clone(), to);
            }
            self.by_contact.entry(to).or_default().extend(ids);
        }
    }

    /// How many identifiers are held.
    pub fn len(&self) -> usize {
        self.by_identifier.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_identifier.is_empty()
    }
}

impl Holdings for MemoryHoldings {
    fn holder(&self, id: &Identifier) -> Option<ContactId> {
        self.by_identifier.get(id).copied()
    }
    fn identifiers_of(&self, contact: ContactId) -> &[Identifier] {
        self.by_contact.get(&contact).map_or(&[], Vec::as_slice)
    }
}

/// Older contacts rank first. Ids grow with age; negative ids are provisional (created in the batch
/// being resolved, not yet stored) and so newer than any stored contact, -1 before -2.
fn age_rank(c: ContactId) -> (bool, i64) {
    if c.0 < 0 {
        (true, -c.0)
    } else {
        (false, c.0)
    }
}

fn is_known(ids: &[Identifier]) -> bool {
    ids.iter().any(|i| !i.kind.is_anonymous())
}

/// Resolves one event's identifiers against the current holdings. See the module docs for the rules.
pub fn resolve(
    rules: &IdentityRules,
    incoming: &[Identifier],
    holdings: &impl Holdings,
) -> Resolution {
    let mut dropped = Vec::new();
    let mut ids: Vec<Identifier> = Vec::with_capacity(incoming.len());
    for id in incoming {
        if rules.is_blocked(&id.value) {
            dropped.push((id.clone(), DropReason::Blocked));
        } else if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    // Highest priority first; ties broken by kind and value so the order never depends on the input.
    ids.sort_by(|a, b| {
        rules
            .rule(b.kind)
            .priority
            .cmp(&rules.rule(a.kind).priority)
            .then_with(|| a.cmp(b))
    });

    loop {
        let mut holders: Vec<ContactId> = Vec::new();
        for id in &ids {
            if let Some(c) = holdings.holder(id) {
                if !holders.contains(&c) {
                    holders.push(c);
                }
            }
        }

        if holders.len() >= 2 {
            let known = holders
                .iter()
                .filter(|c| is_known(holdings.identifiers_of(**c)))
                .count();
            if known >= 2 {
                let blocker = ids.iter().rposition(|id| {
                    holdings.holder(id).is_some() && !rules.rule(id.kind).merges_known
                });
                if let Some(pos) = blocker {
                    dropped.push((ids.remove(pos), DropReason::WouldMergeKnownContacts));
                    continue;
                }
            }
        }

        // Count what the resulting contact would hold, per limit scope.
        let mut counts: BTreeMap<(crate::IdentityKind, String), u32> = BTreeMap::new();
        let mut held: Vec<&Identifier> = Vec::new();
        for c in &holders {
            held.extend(holdings.identifiers_of(*c));
        }
        for id in held
            .iter()
            .copied()
            .chain(ids.iter().filter(|i| holdings.holder(i).is_none()))
        {
            let (kind, scope) = id.limit_scope();
            *counts.entry((kind, scope.to_owned())).or_default() += 1;
        }
        let over = counts
            .iter()
            .any(|((kind, _), n)| rules.rule(*kind).max_per_contact.is_some_and(|m| *n > m));
        if over {
            if holders.len() >= 2 {
                // Linking these contacts breaks a limit: drop the weakest identifier and look again.
                let last = ids
                    .pop()
                    .expect("holders come from ids, so ids is not empty");
                dropped.push((last, DropReason::LimitExceeded));
                continue;
            }
            // One holder or none: only new identifiers can be refused, lowest priority first.
            let pos = ids.iter().rposition(|id| {
                holdings.holder(id).is_none() && {
                    let (kind, scope) = id.limit_scope();
                    rules
                        .rule(kind)
                        .max_per_contact
                        .is_some_and(|m| counts[&(kind, scope.to_owned())] > m)
                }
            });
            if let Some(pos) = pos {
                dropped.push((ids.remove(pos), DropReason::LimitExceeded));
                continue;
            }
            // The holder already breaks its limit (rules were tightened): link nothing new of that kind.
        }

        let survivor = holders
            .iter()
            .copied()
            .min_by_key(|c| (!is_known(holdings.identifiers_of(*c)), age_rank(*c)));
        let merged: Vec<ContactId> = holders
            .iter()
            .copied()
            .filter(|c| Some(*c) != survivor)
            .collect();
        let linked_by = if merged.is_empty() {
            Vec::new()
        } else {
            ids.iter()
                .filter(|i| holdings.holder(i).is_some())
                .cloned()
                .collect()
        };
        let attach = ids
            .into_iter()
            .filter(|i| holdings.holder(i).is_none())
            .collect();
        return Resolution {
            contact: survivor,
            merged,
            attach,
            linked_by,
            dropped,
        };
    }
}

#[cfg(test)]
mod tests;
