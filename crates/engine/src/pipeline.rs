//! Turns a batch of touches into one [`IngestWrite`]: identities are resolved in memory against an
//! [`Overlay`] of what the database holds plus what earlier touches of the batch created, so a whole
//! batch costs two lookups and one transaction however many people it names.

use std::collections::{HashMap, HashSet};

use hatchery_domain::resolution::{resolve, DropReason, MemoryHoldings};
use hatchery_domain::{ContactId, Identifier, IdentityRules, OrgId};
use hatchery_store::ingest::{
    AccountLink, IngestWrite, MergeOp, NewContact, NewIdentity, ProfileFields, ProfileUpdate,
};
use hatchery_store::{Store, StoreError, Tx};
use serde::Serialize;

use crate::touch::Touch;

/// What happened to one touch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TouchResult {
    /// The contact the touch ended on; `None` when it carried no usable identifier.
    pub contact: Option<ContactId>,
    pub created: bool,
    /// Contacts merged away because of this touch.
    pub merged: u32,
    pub dropped: Vec<(Identifier, DropReason)>,
}

/// In-memory view of identity holdings: what was loaded from the database plus what this batch
/// (or, for a dry run, this whole import) has created and merged so far.
///
/// The ingest writer keeps one overlay per organisation across group commits, so returning
/// visitors — most of the traffic — are resolved without a lookup. It is valid only for the
/// holdings counter it was [committed](Overlay::committed) at; see [`Store::lock_holdings`].
#[derive(Debug, Default)]
pub struct Overlay {
    holdings: MemoryHoldings,
    /// Identifiers whose holder (or absence of one) the overlay knows.
    loaded: HashSet<Identifier>,
    next_temp: i64,
    /// Merged contact → survivor, for contacts merged while the overlay lived.
    redirect: HashMap<ContactId, ContactId>,
    /// The organisation's holdings counter the overlay reflects; `None` once it may be stale.
    epoch: Option<i64>,
}

/// Identifiers an overlay may remember before it starts afresh (≈ 250 bytes each).
pub const OVERLAY_CAPACITY: usize = 400_000;

/// Forgets every organisation's overlay once together they have grown past [`OVERLAY_CAPACITY`].
pub fn keep_within_capacity(overlays: &mut HashMap<OrgId, Overlay>) {
    if overlays.values().map(Overlay::len).sum::<usize>() > OVERLAY_CAPACITY {
        overlays.clear();
    }
}

impl Overlay {
    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Overlay::default();
    }

    /// Identifiers whose holder the overlay knows.
    pub fn len(&self) -> usize {
        self.loaded.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
    }

    /// Keeps the overlay only if it reflects the holdings counter `epoch` the store reports now.
    pub fn check_epoch(&mut self, epoch: i64) {
        if self.epoch != Some(epoch) {
            self.clear();
            self.epoch = Some(epoch);
        }
    }

    /// After a commit: provisional contact ids become the stored ones, and the overlay reflects
    /// the holdings counter the commit left. Provisional ids keep counting down, so that a batch
    /// resolved before this commit (see `intake.rs`) keeps ids of its own.
    pub fn committed(&mut self, created: &HashMap<ContactId, ContactId>, epoch: Option<i64>) {
        for (temp, real) in created {
            self.holdings.rename(*temp, *real);
        }
        self.redirect.clear();
        if let Some(e) = epoch {
            self.epoch = Some(e);
        }
    }

    /// True once the overlay has grown past [`OVERLAY_CAPACITY`] and should start afresh.
    pub fn is_full(&self) -> bool {
        self.loaded.len() > OVERLAY_CAPACITY
    }

    /// The holdings counter the overlay reflects, if it knows it.
    pub fn epoch(&self) -> Option<i64> {
        self.epoch
    }

    /// Identifiers of the touches whose holder the overlay does not know.
    pub(crate) fn missing(&self, touches: &[Touch]) -> Vec<Identifier> {
        touches
            .iter()
            .flat_map(|t| t.identifiers.iter())
            .filter(|i| !self.loaded.contains(*i))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }

    /// Takes in what a lookup of `missing` found; the rest of `missing` is held by nobody.
    pub(crate) fn absorb(&mut self, missing: Vec<Identifier>, found: Vec<(Identifier, ContactId)>) {
        for (id, contact) in found {
            if !self.loaded.contains(&id) {
                self.holdings.attach(contact, id.clone());
                self.loaded.insert(id);
            }
        }
        self.loaded.extend(missing);
    }

    /// [`Overlay::load`] inside a write transaction.
    pub async fn load_in(
        &mut self,
        store: &Store,
        tx: &mut Tx,
        org: OrgId,
        touches: &[Touch],
    ) -> Result<(), StoreError> {
        let missing = self.missing(touches);
        if !missing.is_empty() {
            let found = store.load_holdings_in(tx, org, &missing).await?;
            self.absorb(missing, found);
        }
        Ok(())
    }

    fn new_temp(&mut self) -> ContactId {
        self.next_temp -= 1;
        ContactId(self.next_temp)
    }

    fn resolve_id(&self, mut c: ContactId) -> ContactId {
        while let Some(n) = self.redirect.get(&c) {
            c = *n;
        }
        c
    }

    /// Loads the holders of any identifiers not yet known to the overlay.
    pub async fn load(
        &mut self,
        store: &Store,
        org: OrgId,
        touches: &[Touch],
    ) -> Result<(), StoreError> {
        let missing = self.missing(touches);
        if !missing.is_empty() {
            let found = store.load_holdings(org, &missing).await?;
            self.absorb(missing, found);
        }
        Ok(())
    }
}

/// Resolves the touches (whose holders the overlay must already have loaded) and builds the write.
/// Returns one result per touch; contact ids of new contacts are temporary (negative) until written.
pub fn plan(
    rules: &IdentityRules,
    overlay: &mut Overlay,
    touches: Vec<Touch>,
) -> (IngestWrite, Vec<TouchResult>) {
    let mut w = IngestWrite::default();
    let mut results = Vec::with_capacity(touches.len());
    let mut updates: Vec<(ContactId, ProfileFields)> = Vec::new();
    let mut update_index: HashMap<ContactId, usize> = HashMap::new();

    for t in touches {
        let r = resolve(rules, &t.identifiers, &overlay.holdings);
        if r.contact.is_none() && r.attach.is_empty() {
            results.push(TouchResult {
                contact: None,
                created: false,
                merged: 0,
                dropped: r.dropped,
            });
            continue;
        }
        let created = r.contact.is_none();
        let target = match r.contact {
            Some(c) => c,
            None => {
                let id = overlay.new_temp();
                w.contacts.push(NewContact {
                    temp_id: id,
                    profile: ProfileFields::default(),
                    source: t.source.clone(),
                    created_at: t.at,
                });
                id
            }
        };
        for m in &r.merged {
            w.merges.push(MergeOp {
                survivor: target,
                merged: *m,
                linked_by: r.linked_by.clone(),
                cause: t.cause.clone(),
            });
            overlay.redirect.insert(*m, target);
        }
        for id in &r.attach {
            w.identities.push(NewIdentity {
                identifier: id.clone(),
                contact: target,
                origin: t.origin.clone(),
            });
        }
        overlay.holdings.apply(&r, target);

        if !t.profile.is_empty() {
            match update_index.get(&target) {
                Some(i) => updates[*i].1.absorb(t.profile),
                None => {
                    update_index.insert(target, updates.len());
                    updates.push((target, t.profile));
                }
            }
        }
        for tag in &t.tags {
            w.tags.push((target, *tag));
        }
        if let Some(a) = t.account {
            w.accounts.push(AccountLink {
                contact: target,
                external_id: a.external_id,
                name: a.name,
                traits: a.traits,
            });
        }
        if let Some(mut e) = t.event {
            e.contact = target;
            w.events.push(e);
        }
        results.push(TouchResult {
            contact: Some(target),
            created,
            merged: r.merged.len() as u32,
            dropped: r.dropped,
        });
    }

    // Everything written after the merges must name the surviving contact.
    let fin = |c: &mut ContactId| *c = overlay.resolve_id(*c);
    for (c, _) in &mut w.tags {
        fin(c);
    }
    w.tags.sort_unstable();
    w.tags.dedup();
    w.accounts.iter_mut().for_each(|a| fin(&mut a.contact));
    w.events.iter_mut().for_each(|e| fin(&mut e.contact));
    for r in &mut results {
        if let Some(c) = &mut r.contact {
            fin(c);
        }
    }
    // Profile changes of a contact merged later in the batch go to its survivor, in order.
    let mut merged_updates: Vec<(ContactId, ProfileFields)> = Vec::new();
    let mut merged_index: HashMap<ContactId, usize> = HashMap::new();
    for (c, p) in updates {
        let c = overlay.resolve_id(c);
        match merged_index.get(&c) {
            Some(i) => merged_updates[*i].1.absorb(p),
            None => {
                merged_index.insert(c, merged_updates.len());
                merged_updates.push((c, p));
            }
        }
    }
    // A new contact's first profile is written with the contact itself instead of as an update.
    let new_index: HashMap<ContactId, usize> = w
        .contacts
        .iter()
        .enumerate()
        .map(|(i, n)| (n.temp_id, i))
        .collect();
    for (c, p) in merged_updates {
        match new_index.get(&c) {
            Some(i) => w.contacts[*i].profile.absorb(p),
            None => w.updates.push(ProfileUpdate {
                contact: c,
                profile: p,
            }),
        }
    }
    (w, results)
}
