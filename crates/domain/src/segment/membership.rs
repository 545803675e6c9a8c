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
/// which may name segments not in `segments`: those are left alone).
pub fn evaluate<'a>(
    contact: &ContactSnapshot,
    segments: impl IntoIterator<Item = (SegmentId, &'a Filter)>,
    current: &BTreeSet<SegmentId>,
    now: Millis,
) -> MembershipChange {
    let mut out = MembershipChange::default();
    for (id, filter) in segments {
        let member = filter.matches(contact, now);
        match (member, current.contains(&id)) {
            (true, false) => out.entered.push(id),
            (false, true) => out.exited.push(id),
            _ => {}
        }
        if let Some(t) = filter.next_change_at(contact, now) {
            out.next_check = Some(out.next_check.map_or(t, |n: Millis| n.min(t)));
        }
    }
    out
}
