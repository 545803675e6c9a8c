//! Segment membership kept current: who is in which segment, since when, and how segment sizes
//! moved day by day.
//!
//! Two writers keep it: a first (or, after a filter edit, a fresh) **materialisation** computes a
//! segment's members with one query, and **evaluation** of one contact after it changed — or when
//! a rolling window it depends on moved — applies the difference the domain computed
//! (`hatchery_domain::segment::membership`). Every change after the first materialisation is a
//! `segment.entered` / `segment.exited` event on the contact's timeline.

use std::collections::{BTreeSet, HashMap, HashSet};

use hatchery_domain::ids::SegmentId;
use hatchery_domain::scoring::ScoreKind;
use hatchery_domain::segment::membership::{in_reference_order, MembershipChange};
use hatchery_domain::segment::{
    AccountField, AccountSnapshot, ContactSnapshot, EventRecord, Filter,
};
use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId, StandardField};
use serde::Serialize;

use crate::backend::{bind_args, with_pool, with_tx, Arg, Tx};
use crate::contacts::{Contact, ContactRow, VisibleTo, CONTACT_COLUMNS};
use crate::error::{Result, StoreError};
use crate::ingest::{insert_events, NewEvent};
use crate::jobs::{end_jobs_in, enqueue_jobs_at_in, enqueue_jobs_in, Job, JobEnd, JobKind};
use crate::scores::NewScore;
use crate::{Millis, Store};

/// Contacts read by one statement of a batch.
const BATCH: usize = 500;
/// Membership rows per statement (four placeholders each).
const MEMBERSHIP_CHUNK: usize = 2_000;
const DAY_MS: Millis = hatchery_domain::segment::DAY_MS;

/// Everything one evaluation pass over a batch of contacts decided.
#[derive(Debug, Default)]
pub struct Evaluations {
    pub memberships: Vec<(ContactId, MembershipChange)>,
    /// Contacts merged away or deleted.
    pub gone: Vec<ContactId>,
    pub scores: Vec<NewScore>,
    pub crossings: Vec<ScoreCrossing>,
    /// Automatic lifecycle moves.
    pub stages: Vec<crate::lifecycle::StageMove>,
    /// Tier changes.
    pub tiers: Vec<crate::tiers::TierChange>,
    /// `(referred contact, its referred_by value)` to record in the referral graph.
    pub referrals: Vec<(ContactId, String)>,
    /// Tags the tag rules add and take off: `(contact, add, remove)`, with the rules.
    pub rule_tags: Vec<(ContactId, Vec<String>, Vec<String>)>,
    pub tag_rules: Option<hatchery_domain::tag_rules::TagRules>,
    pub ends: Vec<(Job, JobEnd)>,
}

/// A score passed a threshold of the model, up or down, since it was last stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCrossing {
    pub contact: ContactId,
    pub score: ScoreKind,
    pub threshold: f64,
    pub up: bool,
    /// The score now.
    pub value: f64,
}

/// A segment being kept current.
#[derive(Debug, Clone)]
pub struct LiveSegment {
    pub id: SegmentId,
    pub name: String,
    pub filter: Filter,
}

/// What of a contact a batch of evaluations must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotNeeds {
    pub tags: bool,
    pub identities: bool,
    pub account: bool,
    /// Stored scores.
    pub scores: bool,
    /// Stored segment memberships.
    pub segments: bool,
    /// Stored tiers.
    pub tiers: bool,
    /// Referral counts.
    pub referrals: bool,
    /// Consent answers.
    pub consents: bool,
    /// Events that occurred at or after this instant; `None`: no events.
    pub events_since: Option<Millis>,
}

impl SnapshotNeeds {
    /// Everything, with events since `events_since`.
    pub fn all(events_since: Option<Millis>) -> SnapshotNeeds {
        SnapshotNeeds {
            tags: true,
            identities: true,
            account: true,
            scores: true,
            segments: true,
            tiers: true,
            referrals: true,
            consents: true,
            events_since,
        }
    }

    /// What the filters read at `now`.
    pub fn of<'a>(filters: impl IntoIterator<Item = &'a Filter>, now: Millis) -> SnapshotNeeds {
        let mut n = SnapshotNeeds {
            tags: false,
            identities: false,
            account: false,
            scores: false,
            segments: false,
            tiers: false,
            referrals: false,
            consents: false,
            events_since: None,
        };
        for f in filters {
            let d = f.dependencies();
            n.tags |= !d.tags.is_empty();
            n.identities |= !d.identity_kinds.is_empty();
            n.account |= !d.account_fields.is_empty() || !d.account_traits.is_empty();
            n.scores |= !d.scores.is_empty();
            n.segments |= !d.segments.is_empty();
            n.tiers |= !d.tiers.is_empty();
            n.referrals |= d.referrals;
            n.consents |= d.consent;
            if let Some(s) = d.events_needed_since(now) {
                n.events_since = Some(n.events_since.map_or(s, |m: Millis| m.min(s)));
            }
        }
        n
    }
}

/// A segment a contact belongs to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactSegment {
    #[schema(value_type = String, example = "seg_3")]
    pub id: SegmentId,
    pub name: String,
    pub entered_at: Millis,
}

/// A member of a segment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentMember {
    pub contact: Contact,
    pub entered_at: Millis,
}

/// A segment's size on one UTC day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentSize {
    /// The day's start, ms since the epoch (UTC).
    pub day: Millis,
    /// Members after the day's last change.
    pub size: i64,
    pub entered: i64,
    pub exited: i64,
}

/// The outcome of one materialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Materialised {
    pub members: u64,
    pub entered: u64,
    pub exited: u64,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A snapshot part when it is wanted; otherwise its empty value, without a query.
async fn part_if<T: Default>(
    wanted: bool,
    part: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    if wanted {
        part.await
    } else {
        Ok(T::default())
    }
}

/// The statements that read a batch of `n` contacts' snapshots (`$1` the organisation, `$2`… the
/// contact ids, then for events the start of the window). Each must find its rows by contact:
/// SQLite's planner has no statistics, and two of them once walked the organisation's whole
/// index instead (an `ORDER BY` on identities, an `IN (subquery)` on accounts) — a few hundred
/// milliseconds a batch at a million contacts. `crate::plans` checks them.
pub(crate) struct SnapshotSql {
    contacts: String,
    tags: String,
    identities: String,
    accounts: String,
    pub(crate) events: String,
}

impl SnapshotSql {
    pub(crate) fn new(n: usize) -> SnapshotSql {
        let list = placeholders(2, n);
        SnapshotSql {
            contacts: format!(
                "SELECT {CONTACT_COLUMNS} FROM contacts WHERE org_id = $1 AND merged_into IS NULL AND id IN ({list})"
            ),
            tags: format!(
                "SELECT ct.contact_id, t.name FROM contact_tags ct JOIN tags t ON t.org_id = ct.org_id AND t.id = ct.tag_id \
                 WHERE ct.org_id = $1 AND ct.contact_id IN ({list})"
            ),
            // No ORDER BY (the snapshot sorts): with one, SQLite scanned the organisation's
            // identities in key order rather than seek the contact index.
            identities: format!(
                "SELECT contact_id, kind, value FROM identities WHERE org_id = $1 AND contact_id IN ({list})"
            ),
            // Contacts by id, then their accounts by id; `+c.org_id` keeps SQLite from walking
            // the organisation's `contacts_account` index to find the contacts.
            accounts: format!(
                "SELECT a.id, a.name, a.domain, a.industry, a.company_size, a.province, a.city, a.traits \
                 FROM contacts c JOIN accounts a ON a.org_id = c.org_id AND a.id = c.account_id \
                 WHERE +c.org_id = $1 AND c.id IN ({list})"
            ),
            events: format!(
                "SELECT contact_id, kind, name, occurred_at, properties FROM events \
                 WHERE org_id = $1 AND contact_id IN ({list}) AND occurred_at >= ${} ORDER BY occurred_at",
                n + 2
            ),
        }
    }

    #[cfg(test)]
    pub(crate) fn all(&self) -> [&str; 5] {
        [
            &self.contacts,
            &self.tags,
            &self.identities,
            &self.accounts,
            &self.events,
        ]
    }
}

pub(crate) fn memberships_sql(n: usize) -> String {
    format!(
        "SELECT contact_id, segment_id FROM segment_members WHERE org_id = $1 AND contact_id IN ({})",
        placeholders(2, n)
    )
}

pub(crate) fn ids_args(org: OrgId, ids: &[ContactId]) -> Vec<Arg> {
    std::iter::once(Arg::Int(org.0))
        .chain(ids.iter().map(|i| Arg::Int(i.0)))
        .collect()
}

fn day_of(t: Millis) -> Millis {
    t.div_euclid(DAY_MS) * DAY_MS
}

/// The standard fields of a contact, as the filter language reads them.
pub(crate) fn snapshot_fields(c: &Contact) -> std::collections::BTreeMap<StandardField, String> {
    [
        (StandardField::Name, &c.name),
        (StandardField::Email, &c.email),
        (StandardField::Mobile, &c.mobile),
        (StandardField::Landline, &c.landline),
        (StandardField::Company, &c.company),
        (StandardField::Title, &c.title),
        (StandardField::Department, &c.department),
        (StandardField::Industry, &c.industry),
        (StandardField::CompanySize, &c.company_size),
        (StandardField::Province, &c.province),
        (StandardField::City, &c.city),
        (StandardField::Source, &c.source),
    ]
    .into_iter()
    .filter_map(|(f, v)| Some((f, v.clone()?)))
    .collect()
}

type AccountRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

impl Store {
    /// The segments kept current (materialised at least once), with their filters, each after the
    /// segments it references.
    pub async fn live_segments(&self, org: OrgId) -> Result<Vec<LiveSegment>> {
        let all = self.stored_segment_filters(org, true).await?;
        let ordered = in_reference_order(all.into_iter().map(|s| (s.id, s)).collect(), |s| {
            s.filter.dependencies().segments
        })
        .map_err(|id| StoreError::Conflict(format!("segment {id} is part of a reference cycle")))?;
        Ok(ordered.into_iter().map(|(_, s)| s).collect())
    }

    /// Every saved segment's filter (only `ready` ones with `ready_only`).
    async fn stored_segment_filters(
        &self,
        org: OrgId,
        ready_only: bool,
    ) -> Result<Vec<LiveSegment>> {
        let status = if ready_only {
            " AND status = 'ready'"
        } else {
            ""
        };
        let sql =
            format!("SELECT id, name, filter FROM segments WHERE org_id = $1{status} ORDER BY id");
        let rows: Vec<(i64, String, String)> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_all(c).await?);
        rows.into_iter()
            .map(|(id, name, filter)| {
                let json: serde_json::Value = serde_json::from_str(&filter)?;
                let filter = Filter::parse(&json).map_err(|e| {
                    StoreError::Conflict(format!("stored filter of seg_{id} is invalid: {e}"))
                })?;
                Ok(LiveSegment {
                    id: SegmentId(id),
                    name,
                    filter,
                })
            })
            .collect()
    }

    /// [`Store::check_segment_references`], and refuses `stage` conditions naming stages the
    /// organisation's lifecycle model does not have (a typo would make a segment silently empty).
    pub async fn check_filter_references(
        &self,
        org: OrgId,
        id: Option<SegmentId>,
        filter: &Filter,
    ) -> Result<()> {
        let deps = filter.dependencies();
        if !deps.tiers.is_empty() {
            let Some(saved) = self.tier_model(org).await? else {
                return Err(StoreError::Conflict(
                    "filter: customer tiers are switched off; switch them on before filtering by tier"
                        .into(),
                ));
            };
            if let Some(d) = deps
                .tiers
                .iter()
                .find(|d| saved.model.dimension(d).is_none())
            {
                return Err(StoreError::Conflict(format!(
                    "filter: `{d}` is not a tier dimension of this organisation"
                )));
            }
        }
        let stages = deps.stages;
        if !stages.is_empty() {
            let Some(saved) = self.lifecycle(org).await? else {
                return Err(StoreError::Conflict(
                    "filter: lifecycle stages are switched off; switch them on before filtering by stage"
                        .into(),
                ));
            };
            if let Some(k) = stages.iter().find(|k| saved.model.stage(k).is_none()) {
                return Err(StoreError::Conflict(format!(
                    "filter: `{k}` is not a lifecycle stage of this organisation"
                )));
            }
        }
        self.check_segment_references(org, id, filter).await
    }

    /// Refuses a filter for segment `id` (`None`: a new one) that references a segment the
    /// organisation does not have, or that would close a cycle of references.
    pub async fn check_segment_references(
        &self,
        org: OrgId,
        id: Option<SegmentId>,
        filter: &Filter,
    ) -> Result<()> {
        let refs = filter.dependencies().segments;
        if refs.is_empty() {
            return Ok(());
        }
        let mut all = self.stored_segment_filters(org, false).await?;
        for r in &refs {
            if !all.iter().any(|s| s.id == *r) {
                return Err(StoreError::Conflict(format!(
                    "filter: segment {r} does not exist"
                )));
            }
        }
        let me = id.unwrap_or(SegmentId(0));
        if refs.contains(&me) {
            return Err(StoreError::Conflict(
                "filter: a segment cannot reference itself".into(),
            ));
        }
        all.retain(|s| s.id != me);
        all.push(LiveSegment {
            id: me,
            name: String::new(),
            filter: filter.clone(),
        });
        in_reference_order(all.into_iter().map(|s| (s.id, s)).collect(), |s| {
            s.filter.dependencies().segments
        })
        .map(|_| ())
        .map_err(|_| {
            StoreError::Conflict("filter: the segment references would form a cycle".into())
        })
    }

    /// Saved segments whose filters reference `id`.
    pub async fn segments_referencing(&self, org: OrgId, id: SegmentId) -> Result<Vec<SegmentId>> {
        Ok(self
            .stored_segment_filters(org, false)
            .await?
            .into_iter()
            .filter(|s| s.filter.dependencies().segments.contains(&id))
            .map(|s| s.id)
            .collect())
    }

    /// Snapshots of the live (not merged-away, not deleted) contacts among `ids`; the others are
    /// absent from the answer.
    pub async fn contact_snapshots(
        &self,
        org: OrgId,
        ids: &[ContactId],
        needs: SnapshotNeeds,
    ) -> Result<HashMap<ContactId, ContactSnapshot>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            self.snapshot_chunk(org, chunk, needs, &mut out).await?;
        }
        Ok(out)
    }

    /// One statement's worth of snapshots. The parts are independent reads, so they run at once
    /// on different connections (SQLite readers work in parallel under WAL; PostgreSQL serves
    /// them side by side): a batch waits for its slowest part, not for the sum of them.
    async fn snapshot_chunk(
        &self,
        org: OrgId,
        ids: &[ContactId],
        needs: SnapshotNeeds,
        out: &mut HashMap<ContactId, ContactSnapshot>,
    ) -> Result<()> {
        let args = ids_args(org, ids);
        let sql = SnapshotSql::new(ids.len());
        let contacts = async {
            let rows: Vec<ContactRow> = with_pool!(self, c => bind_args!(sqlx::query_as::<_, ContactRow>(&sql.contacts), &args).fetch_all(c).await?);
            Ok::<_, StoreError>(rows)
        };
        let tags = part_if(needs.tags, async {
            let rows: Vec<(i64, String)> = with_pool!(self, c => bind_args!(sqlx::query_as(&sql.tags), &args).fetch_all(c).await?);
            Ok::<_, StoreError>(rows)
        });
        let identities = part_if(needs.identities, async {
            let rows: Vec<(i64, String, String)> = with_pool!(self, c => bind_args!(sqlx::query_as(&sql.identities), &args).fetch_all(c).await?);
            Ok::<_, StoreError>(rows)
        });
        let accounts = part_if(needs.account, async {
            let rows: Vec<AccountRow> = with_pool!(self, c => bind_args!(sqlx::query_as(&sql.accounts), &args).fetch_all(c).await?);
            Ok::<_, StoreError>(rows)
        });
        let segments = part_if(needs.segments, self.memberships(org, ids));
        let tiers = part_if(needs.tiers, self.stored_tiers(org, ids));
        let consents = part_if(needs.consents, self.consents_of(org, ids));
        let referrals = part_if(needs.referrals, self.referral_counts(org, ids));
        let scores = part_if(needs.scores, self.stored_scores(org, ids));
        let events = async {
            let Some(since) = needs.events_since else {
                return Ok(Vec::new());
            };
            let mut e_args = args.clone();
            e_args.push(Arg::Int(since));
            let rows: Vec<(i64, String, Option<String>, i64, String)> = with_pool!(self, c => bind_args!(sqlx::query_as(&sql.events), &e_args).fetch_all(c).await?);
            Ok::<_, StoreError>(rows)
        };
        let (
            rows,
            tags,
            identities,
            account_rows,
            segments,
            tiers,
            consents,
            referrals,
            scores,
            events,
        ) = tokio::try_join!(
            contacts, tags, identities, accounts, segments, tiers, consents, referrals, scores,
            events
        )?;

        let mut accounts: HashMap<ContactId, i64> = HashMap::new();
        for r in rows {
            let c = r.into_contact();
            if let Some(a) = c.account_id {
                accounts.insert(c.id, a.0);
            }
            out.insert(
                c.id,
                ContactSnapshot {
                    fields: snapshot_fields(&c),
                    traits: c.traits,
                    stage: c.stage,
                    stage_since: c.stage_at,
                    ..ContactSnapshot::default()
                },
            );
        }
        for (id, name) in tags {
            if let Some(s) = out.get_mut(&ContactId(id)) {
                s.tags.insert(name);
            }
        }
        for (id, kind, value) in identities {
            if let (Some(s), Some(kind)) = (out.get_mut(&ContactId(id)), IdentityKind::parse(&kind))
            {
                s.identities.push(Identifier::new(kind, value));
            }
        }
        for id in ids {
            if let Some(s) = out.get_mut(id) {
                s.identities.sort_unstable();
            }
        }
        if !account_rows.is_empty() {
            let mut by_id = HashMap::new();
            for (id, name, domain, industry, size, province, city, traits) in account_rows {
                // A row per contact: an account shared by several comes several times.
                if by_id.contains_key(&id) {
                    continue;
                }
                let fields = [
                    (AccountField::Name, name),
                    (AccountField::Domain, domain),
                    (AccountField::Industry, industry),
                    (AccountField::CompanySize, size),
                    (AccountField::Province, province),
                    (AccountField::City, city),
                ]
                .into_iter()
                .filter_map(|(f, v)| Some((f, v?)))
                .collect();
                by_id.insert(
                    id,
                    AccountSnapshot {
                        fields,
                        traits: serde_json::from_str(&traits)?,
                    },
                );
            }
            for (contact, account) in accounts {
                if let (Some(s), Some(a)) = (out.get_mut(&contact), by_id.get(&account)) {
                    s.account = Some(a.clone());
                }
            }
        }
        for (id, s) in segments {
            if let Some(snap) = out.get_mut(&id) {
                snap.segments = s;
            }
        }
        for (id, t) in tiers {
            if let Some(snap) = out.get_mut(&id) {
                snap.tiers = t;
            }
        }
        for (id, k) in consents {
            if let Some(snap) = out.get_mut(&id) {
                snap.consents = k;
            }
        }
        for (id, n) in referrals {
            if let Some(snap) = out.get_mut(&id) {
                snap.referrals = n;
            }
        }
        for (id, s) in scores {
            if let Some(snap) = out.get_mut(&id) {
                snap.scores = s.snapshot;
            }
        }
        for (id, kind, name, occurred_at, properties) in events {
            if let Some(s) = out.get_mut(&ContactId(id)) {
                s.events.push(EventRecord {
                    kind,
                    name,
                    occurred_at,
                    properties: serde_json::from_str(&properties)?,
                });
            }
        }
        Ok(())
    }

    /// The segments each of `ids` is in now.
    pub async fn memberships(
        &self,
        org: OrgId,
        ids: &[ContactId],
    ) -> Result<HashMap<ContactId, BTreeSet<SegmentId>>> {
        let mut out: HashMap<ContactId, BTreeSet<SegmentId>> = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let sql = memberships_sql(chunk.len());
            let args = ids_args(org, chunk);
            let rows: Vec<(i64, i64)> =
                with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?);
            for (c, s) in rows {
                out.entry(ContactId(c)).or_default().insert(SegmentId(s));
            }
        }
        Ok(out)
    }

    /// Writes the outcome of evaluating a batch of contacts, in one transaction: memberships,
    /// `segment.entered` / `segment.exited` events, member counts, size history, scores and
    /// `score.crossed` events, and the end of the jobs that asked for it. Contacts in `gone`
    /// (merged away or deleted) leave every segment without an event and lose their scores: they
    /// no longer exist; their survivor is evaluated on its own.
    pub async fn apply_evaluations(
        &self,
        org: OrgId,
        names: &HashMap<SegmentId, String>,
        out: &Evaluations,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // The organisation's row first, as the ingest writer takes it: on PostgreSQL this
        // transaction and a group commit of the same organisation then take turns instead of
        // locking contacts' job rows in opposite orders and deadlocking (seen in CI).
        self.lock_holdings(&mut tx, org).await?;
        let mut moves: HashMap<SegmentId, (i64, i64)> = HashMap::new();
        let mut events = Vec::new();
        for id in &out.gone {
            let left: Vec<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
                "DELETE FROM segment_members WHERE org_id = $1 AND contact_id = $2 RETURNING segment_id",
            )
            .bind(org.0)
            .bind(id.0)
            .fetch_all(&mut *c)
            .await?);
            for s in left {
                moves.entry(SegmentId(s)).or_default().1 += 1;
            }
        }
        crate::scores::delete_scores_in(&mut tx, org, &out.gone).await?;
        crate::tiers::delete_tiers_in(&mut tx, org, &out.gone).await?;
        crate::tiers::record_referrals_in(&mut tx, org, &out.referrals, now).await?;
        if let Some(rules) = &out.tag_rules {
            crate::tags::apply_rule_tags_in(&mut tx, org, rules, &out.rule_tags, now).await?;
        }
        events.extend(crate::tiers::apply_tier_changes_in(&mut tx, org, &out.tiers, now).await?);
        crate::scores::upsert_scores_in(&mut tx, org, &out.scores).await?;
        events.extend(out.crossings.iter().map(|x| crossing_event(x, now)));
        let (moved, stale) =
            crate::lifecycle::apply_stage_moves_in(&mut tx, org, &out.stages, now).await?;
        events.extend(moved);
        let entered: Vec<(SegmentId, ContactId)> = out
            .memberships
            .iter()
            .flat_map(|(c, ch)| ch.entered.iter().map(move |s| (*s, *c)))
            .collect();
        let exited: Vec<(SegmentId, ContactId)> = out
            .memberships
            .iter()
            .flat_map(|(c, ch)| ch.exited.iter().map(move |s| (*s, *c)))
            .collect();
        let added = insert_memberships(&mut tx, org, &entered, now).await?;
        let removed = delete_memberships(&mut tx, org, &exited).await?;
        for (pairs, done, is_entry) in [(&entered, &added, true), (&exited, &removed, false)] {
            for (s, contact) in pairs.iter().filter(|p| done.contains(p)) {
                let m = moves.entry(*s).or_default();
                if is_entry {
                    m.0 += 1;
                } else {
                    m.1 += 1;
                }
                events.push(membership_event(*contact, *s, names.get(s), is_entry, now));
            }
        }
        insert_events(&mut tx, org, &events).await?;
        for (s, (entered, exited)) in moves {
            record_moves(&mut tx, org, s, entered, exited, None, now).await?;
        }
        end_jobs_in(&mut tx, &out.ends).await?;
        // A contact moved by hand while it was evaluated is looked at again with its new stage.
        let stale: Vec<i64> = stale.iter().map(|c| c.0).collect();
        enqueue_jobs_in(&mut tx, org, JobKind::EvaluateContact, &stale, now).await?;
        tx.commit().await
    }

    /// Computes the members of a segment with one query and stores them, replacing what was
    /// stored; the segment is `ready` afterwards. The first materialisation writes no events (the
    /// segment's members did not *enter* anything); a later one (after a filter edit) writes an
    /// event per contact that entered or left. Contacts whose membership can change with time
    /// alone (an event leaving a rolling window, a decaying score crossing a value) get a timer
    /// at the first instant it can, computed by query (see `timers`): nobody is evaluated now. `None`: the segment is gone, or its filter changed meanwhile (a
    /// newer materialisation is queued).
    pub async fn materialise_segment(
        &self,
        org: OrgId,
        id: SegmentId,
        now: Millis,
    ) -> Result<Option<Materialised>> {
        let row: Option<(String, String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT name, filter, status, filter_version FROM segments WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(c)
        .await?);
        let Some((name, filter, status, version)) = row else {
            return Ok(None);
        };
        let filter = Filter::parse(&serde_json::from_str(&filter)?)
            .map_err(|e| StoreError::Conflict(format!("stored filter of {id} is invalid: {e}")))?;
        let wanted = self.segment_contact_ids(org, &filter, now).await?;
        // Who can change with time alone, and when first: their timers.
        let timers: Vec<(i64, Millis)> = self
            .first_timers(org, &filter, now)
            .await?
            .into_iter()
            .collect();
        let mut tx = self.begin().await?;
        let current: Vec<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT contact_id FROM segment_members WHERE org_id = $1 AND segment_id = $2 ORDER BY contact_id",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(&mut *c)
        .await?);
        let still: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT filter_version FROM segments WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?);
        if still != Some(version) {
            tx.rollback().await?;
            return Ok(None);
        }
        let (entered, exited) = diff_sorted(&wanted, &current);
        insert_members(&mut tx, org, id, &entered, now).await?;
        delete_members(&mut tx, org, id, &exited).await?;
        if status == "ready" {
            let events: Vec<NewEvent> = entered
                .iter()
                .map(|c| membership_event(*c, id, Some(&name), true, now))
                .chain(
                    exited
                        .iter()
                        .map(|c| membership_event(*c, id, Some(&name), false, now)),
                )
                .collect();
            insert_events(&mut tx, org, &events).await?;
        }
        with_tx!(&mut tx, c => sqlx::query(
            "UPDATE segments SET status = 'ready', materialised_at = $3 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected());
        record_moves(
            &mut tx,
            org,
            id,
            entered.len() as i64,
            exited.len() as i64,
            Some(wanted.len() as i64),
            now,
        )
        .await?;
        enqueue_jobs_at_in(&mut tx, org, JobKind::EvaluateContact, &timers).await?;
        tx.commit().await?;
        Ok(Some(Materialised {
            members: wanted.len() as u64,
            entered: entered.len() as u64,
            exited: exited.len() as u64,
        }))
    }
}

/// `(in a but not b, in b but not a)` of two ascending lists.
fn diff_sorted(a: &[ContactId], b: &[i64]) -> (Vec<ContactId>, Vec<ContactId>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == *y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < *y => {
                only_a.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                only_a.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                only_b.push(ContactId(*y));
                j += 1;
            }
            (None, None) => break,
        }
    }
    (only_a, only_b)
}

/// Adds `(segment, contact)` memberships to segments still `ready` (one being rebuilt takes its
/// members from its query), a few statements per batch; returns the pairs that were new.
async fn insert_memberships(
    tx: &mut Tx,
    org: OrgId,
    pairs: &[(SegmentId, ContactId)],
    now: Millis,
) -> Result<HashSet<(SegmentId, ContactId)>> {
    let mut added = HashSet::new();
    if pairs.is_empty() {
        return Ok(added);
    }
    let mut segs: Vec<i64> = pairs.iter().map(|(s, _)| s.0).collect();
    segs.sort_unstable();
    segs.dedup();
    let ready: HashSet<i64> = with_tx!(&mut *tx, c => {
        let mut qb = sqlx::QueryBuilder::new("SELECT id FROM segments WHERE org_id = ");
        qb.push_bind(org.0).push(" AND status = 'ready' AND id IN (");
        let mut sep = qb.separated(", ");
        for s in &segs {
            sep.push_bind(*s);
        }
        qb.push(")");
        qb.build_query_scalar::<i64>().fetch_all(&mut *c).await?
    })
    .into_iter()
    .collect();
    let wanted: Vec<&(SegmentId, ContactId)> =
        pairs.iter().filter(|(s, _)| ready.contains(&s.0)).collect();
    for chunk in wanted.chunks(MEMBERSHIP_CHUNK) {
        let rows: Vec<(i64, i64)> = with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO segment_members (org_id, segment_id, contact_id, entered_at) ",
            );
            qb.push_values(chunk, |mut b, (s, contact)| {
                b.push_bind(org.0).push_bind(s.0).push_bind(contact.0).push_bind(now);
            });
            qb.push(" ON CONFLICT DO NOTHING RETURNING segment_id, contact_id");
            qb.build_query_as().fetch_all(&mut *c).await?
        });
        added.extend(rows.into_iter().map(|(s, c)| (SegmentId(s), ContactId(c))));
    }
    Ok(added)
}

/// Removes `(segment, contact)` memberships, a few statements per batch; returns the pairs that
/// were there.
async fn delete_memberships(
    tx: &mut Tx,
    org: OrgId,
    pairs: &[(SegmentId, ContactId)],
) -> Result<HashSet<(SegmentId, ContactId)>> {
    let mut removed = HashSet::new();
    for chunk in pairs.chunks(MEMBERSHIP_CHUNK) {
        let rows: Vec<(i64, i64)> = with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM segment_members WHERE org_id = ");
            qb.push_bind(org.0).push(" AND (segment_id, contact_id) IN (");
            qb.push_values(chunk, |mut b, (s, contact)| {
                b.push_bind(s.0).push_bind(contact.0);
            });
            qb.push(") RETURNING segment_id, contact_id");
            qb.build_query_as().fetch_all(&mut *c).await?
        });
        removed.extend(rows.into_iter().map(|(s, c)| (SegmentId(s), ContactId(c))));
    }
    Ok(removed)
}

async fn insert_members(
    tx: &mut Tx,
    org: OrgId,
    seg: SegmentId,
    ids: &[ContactId],
    now: Millis,
) -> Result<()> {
    for chunk in ids.chunks(5_000) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO segment_members (org_id, segment_id, contact_id, entered_at) ",
            );
            qb.push_values(chunk, |mut b, id| {
                b.push_bind(org.0).push_bind(seg.0).push_bind(id.0).push_bind(now);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

async fn delete_members(tx: &mut Tx, org: OrgId, seg: SegmentId, ids: &[ContactId]) -> Result<()> {
    for chunk in ids.chunks(5_000) {
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM segment_members WHERE org_id = ");
            qb.push_bind(org.0)
                .push(" AND segment_id = ")
                .push_bind(seg.0)
                .push(" AND contact_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.0);
            }
            qb.push(")");
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// A `score.crossed` event.
fn crossing_event(x: &ScoreCrossing, now: Millis) -> NewEvent {
    let direction = if x.up { "up" } else { "down" };
    derived_event(
        x.contact,
        format!(
            "score.crossed:{}:{}:{}:{direction}:{now}",
            x.score.as_str(),
            x.threshold,
            x.contact.0
        ),
        "score.crossed",
        Some(format!("{} {direction} {}", x.score.as_str(), x.threshold)),
        &serde_json::json!({
            "score": x.score.as_str(),
            "threshold": x.threshold,
            "direction": direction,
            "value": (x.value * 10.0).round() / 10.0,
        }),
        now,
    )
}

/// An event Hatchery itself records on a contact's timeline. Its message id is derived from what
/// happened, so writing it twice stores it once.
pub(crate) fn derived_event(
    contact: ContactId,
    message_id: String,
    kind: &str,
    name: Option<String>,
    properties: &serde_json::Value,
    now: Millis,
) -> NewEvent {
    NewEvent {
        contact,
        message_id,
        client_at: 0,
        kind: kind.to_owned(),
        name,
        occurred_at: now,
        sent_at: None,
        received_at: now,
        source_id: None,
        channel: None,
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        properties: properties.to_string(),
        context: "{}".to_owned(),
    }
}

/// A `segment.entered` / `segment.exited` event.
fn membership_event(
    contact: ContactId,
    seg: SegmentId,
    name: Option<&String>,
    entered: bool,
    now: Millis,
) -> NewEvent {
    let kind = if entered {
        "segment.entered"
    } else {
        "segment.exited"
    };
    derived_event(
        contact,
        format!("{kind}:{}:{}:{now}", seg.0, contact.0),
        kind,
        name.cloned(),
        &serde_json::json!({ "segment_id": seg.to_string() }),
        now,
    )
}

/// Adds moves to a segment's member count (or sets it, with `size`) and to its size history.
async fn record_moves(
    tx: &mut Tx,
    org: OrgId,
    seg: SegmentId,
    entered: i64,
    exited: i64,
    size: Option<i64>,
    now: Millis,
) -> Result<()> {
    with_tx!(&mut *tx, c => {
        let count: Option<i64> = match size {
            Some(n) => sqlx::query_scalar(
                "UPDATE segments SET member_count = $3 WHERE org_id = $1 AND id = $2 RETURNING member_count",
            )
            .bind(org.0)
            .bind(seg.0)
            .bind(n)
            .fetch_optional(&mut *c)
            .await?,
            None => sqlx::query_scalar(
                "UPDATE segments SET member_count = member_count + $3 WHERE org_id = $1 AND id = $2 RETURNING member_count",
            )
            .bind(org.0)
            .bind(seg.0)
            .bind(entered - exited)
            .fetch_optional(&mut *c)
            .await?,
        };
        if let Some(count) = count {
            sqlx::query(
                "INSERT INTO segment_sizes (org_id, segment_id, day, size, entered, exited) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (org_id, segment_id, day) DO UPDATE SET size = excluded.size, \
                 entered = segment_sizes.entered + excluded.entered, exited = segment_sizes.exited + excluded.exited",
            )
            .bind(org.0)
            .bind(seg.0)
            .bind(day_of(now))
            .bind(count)
            .bind(entered)
            .bind(exited)
            .execute(&mut *c)
            .await?;
        }
    });
    Ok(())
}

impl Store {
    /// The segments a contact is in, by name.
    pub async fn contact_segments(&self, org: OrgId, id: ContactId) -> Result<Vec<ContactSegment>> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT s.id, s.name, m.entered_at FROM segment_members m JOIN segments s ON s.org_id = m.org_id AND s.id = m.segment_id \
             WHERE m.org_id = $1 AND m.contact_id = $2 ORDER BY s.name",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, name, entered_at)| ContactSegment {
                id: SegmentId(id),
                name,
                entered_at,
            })
            .collect())
    }

    /// A segment's stored members, newest contact first: one page of at most `limit` (1–200)
    /// below `before`, and whether more follow.
    pub async fn segment_members(
        &self,
        org: OrgId,
        seg: SegmentId,
        before: Option<ContactId>,
        limit: u32,
    ) -> Result<(Vec<SegmentMember>, bool)> {
        self.segment_members_visible(org, seg, None, before, limit)
            .await
    }

    /// [`Store::segment_members`] limited to the contacts a console user may see under a
    /// BU-isolated pool (`None`: every member). The limit is applied in the query, so pages stay
    /// full and paging stays keyset.
    pub async fn segment_members_visible(
        &self,
        org: OrgId,
        seg: SegmentId,
        visible_to: Option<&VisibleTo>,
        before: Option<ContactId>,
        limit: u32,
    ) -> Result<(Vec<SegmentMember>, bool)> {
        let limit = limit.clamp(1, 200);
        let columns = format!("c.{}", CONTACT_COLUMNS.replace(", ", ", c."));
        let mut args = vec![
            Arg::Int(org.0),
            Arg::Int(seg.0),
            Arg::Int(before.map_or(i64::MAX, |b| b.0)),
        ];
        let mut visible = String::new();
        if let Some(v) = visible_to {
            let (mut clause, extra) = v.clause();
            for i in (0..extra.len()).rev() {
                clause = clause.replace(&format!("${{{i}}}"), &format!("${}", args.len() + i + 1));
            }
            clause = clause
                .replace("owner_user_id", "c.owner_user_id")
                .replace("bu_id", "c.bu_id");
            visible = format!(" AND {clause}");
            args.extend(extra);
        }
        let sql = format!(
            "SELECT {columns}, m.entered_at FROM segment_members m JOIN contacts c ON c.org_id = m.org_id AND c.id = m.contact_id \
             WHERE m.org_id = $1 AND m.segment_id = $2 AND m.contact_id < $3{visible} ORDER BY m.contact_id DESC LIMIT {}",
            limit + 1
        );
        let mut rows: Vec<(ContactRow, i64)> = with_pool!(self, c => {
            use sqlx::Row;
            bind_args!(sqlx::query(&sql), &args)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(|r| Ok((sqlx::FromRow::from_row(&r)?, r.try_get("entered_at")?)))
                .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?
        });
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((
            rows.into_iter()
                .map(|(r, entered_at)| SegmentMember {
                    contact: r.into_contact(),
                    entered_at,
                })
                .collect(),
            more,
        ))
    }

    /// A segment's daily sizes, oldest first, from `since` (ms) on.
    pub async fn segment_sizes(
        &self,
        org: OrgId,
        seg: SegmentId,
        since: Millis,
    ) -> Result<Vec<SegmentSize>> {
        let rows: Vec<(i64, i64, i64, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT day, size, entered, exited FROM segment_sizes WHERE org_id = $1 AND segment_id = $2 AND day >= $3 ORDER BY day",
        )
        .bind(org.0)
        .bind(seg.0)
        .bind(day_of(since))
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(day, size, entered, exited)| SegmentSize {
                day,
                size,
                entered,
                exited,
            })
            .collect())
    }
}

impl Store {
    /// Rebuilds the members of `seg` the way cron-driven tools do — one `INSERT … WHERE id NOT IN
    /// (current members)` and one `DELETE … WHERE contact_id NOT IN (matching contacts)` — and
    /// returns the member count. Hatchery never does this; the benchmark measures it next to
    /// [`Store::materialise_segment`] in the same database. The rows are removed afterwards.
    pub async fn rebuild_segment_by_not_in(
        &self,
        org: OrgId,
        seg: SegmentId,
        filter: &Filter,
        now: Millis,
    ) -> Result<i64> {
        let (from, mut args) = self.segment_where(org, filter, now);
        args.push(Arg::Int(seg.0));
        args.push(Arg::Int(now));
        let (s, t) = (args.len() - 1, args.len());
        let insert = format!(
            "INSERT INTO segment_members (org_id, segment_id, contact_id, entered_at) SELECT $1, ${s}, c.id, ${t} {from} \
             AND c.id NOT IN (SELECT contact_id FROM segment_members WHERE org_id = $1 AND segment_id = ${s})"
        );
        let delete = format!(
            "DELETE FROM segment_members WHERE org_id = $1 AND segment_id = ${s} AND contact_id NOT IN (SELECT c.id {from}) \
             AND entered_at <= ${t}"
        );
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, c => {
            bind_args!(sqlx::query(&insert), &args).execute(&mut *c).await?;
            bind_args!(sqlx::query(&delete), &args).execute(&mut *c).await?;
        });
        tx.commit().await?;
        let n: i64 = with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM segment_members WHERE org_id = $1 AND segment_id = $2",
        )
        .bind(org.0)
        .bind(seg.0)
        .fetch_one(c)
        .await?);
        with_pool!(self, c => sqlx::query("DELETE FROM segment_members WHERE org_id = $1 AND segment_id = $2")
            .bind(org.0)
            .bind(seg.0)
            .execute(c)
            .await?
            .rows_affected());
        Ok(n)
    }

    /// Jobs of `kind` waiting for the organisation, due or not.
    pub async fn pending_jobs(&self, org: OrgId, kind: JobKind) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND kind = $2",
        )
        .bind(org.0)
        .bind(kind.as_str())
        .fetch_one(c)
        .await?))
    }
}
