//! Which segments one contact belongs to after a change, and when to look again.
//!
//! The evaluator keeps memberships current one contact at a time: after anything about a contact
//! changed (an event, an edit, a tag, a merge) or when a rolling window it depends on moves, it
//! builds the contact's [`ContactSnapshot`] and asks [`evaluate`] what changed.

use std::collections::BTreeSet;

use super::{ContactSnapshot, Filter, Millis};
use crate::ids::SegmentId;

/// The outcome of evaluating one contact against every segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    /// Segments the contact joined.
    pub entered: Vec<SegmentId>,
    /// Segments the contact left.
    pub exited: Vec<SegmentId>,
    /// The earliest instant after `now` at which some segment's answer can change with time
    /// alone (an event leaving a rolling window); `None`: only a change to the contact can.
    pub next_check: Option<Millis>,
}

impl MembershipChange {
    pub fn is_empty(&self) -> bool {
        self.entered.is_empty() && self.exited.is_empty()
    }
}

/// Evaluates `contact` at `now` against `segments` given the segments it is in now (`current`,
/// which may name segments not in `segments`: those are left alone). Segments that reference
/// others (`{"segment": …}`) must come after them: each answer is fed to the ones that follow, so
/// a change ripples through references in one pass. `contact.segments` is overwritten.
pub fn evaluate<'a>(
    contact: &mut ContactSnapshot,
    segments: impl IntoIterator<Item = (SegmentId, &'a Filter)>,
    current: &BTreeSet<SegmentId>,
    now: Millis,
) -> MembershipChange {
    let mut out = MembershipChange::default();
    contact.segments.clone_from(current);
    for (id, filter) in segments {
        let member = filter.matches(contact, now);
        match (member, current.contains(&id)) {
            (true, false) => out.entered.push(id),
            (false, true) => out.exited.push(id),
            _ => {}
        }
        if member {
            contact.segments.insert(id);
        } else {
            contact.segments.remove(&id);
        }
        if let Some(t) = filter.next_change_at(contact, now) {
            out.next_check = Some(out.next_check.map_or(t, |n: Millis| n.min(t)));
        }
    }
    out
}

/// Orders segments so that every segment comes after the segments it references; `Err` names a
/// segment that is part of a cycle. References to segments not in the list are ignored.
pub fn in_reference_order<T>(
    segments: Vec<(SegmentId, T)>,
    reads: impl Fn(&T) -> BTreeSet<SegmentId>,
) -> Result<Vec<(SegmentId, T)>, SegmentId> {
    let ids: BTreeSet<SegmentId> = segments.iter().map(|s| s.0).collect();
    let mut pending: Vec<(SegmentId, T, BTreeSet<SegmentId>)> = segments
        .into_iter()
        .map(|(id, t)| {
            let r: BTreeSet<SegmentId> = reads(&t).intersection(&ids).copied().collect();
            (id, t, r)
        })
        .collect();
    let mut done: BTreeSet<SegmentId> = BTreeSet::new();
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (id, t, r) in pending {
            if r.is_subset(&done) {
                done.insert(id);
                out.push((id, t));
            } else {
                rest.push((id, t, r));
            }
        }
        if rest.len() == before {
            return Err(rest[0].0);
        }
        pending = rest;
    }
    Ok(out)
}
