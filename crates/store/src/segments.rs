//! Segments: ad-hoc queries with the segment language (counts, samples, member ids), saved
//! segments (name, description, filter) and their stored, always-current membership
//! ([`membership`]).

pub mod membership;
mod sql;
mod timers;

use hatchery_domain::ids::SegmentId;
use hatchery_domain::segment::{ContactSnapshot, Filter, FilterError};
use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{bind_args, with_pool, with_tx, Arg, Backend, Tx};
use crate::contacts::{Contact, ContactRow, CONTACT_COLUMNS};
use crate::error::{Result, StoreError};
use crate::jobs::{enqueue_jobs_in, JobKind};
use crate::{Millis, Store};

use membership::SnapshotNeeds;
use sql::{Dialect, SqlFilter};

/// A saved segment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Segment {
    #[schema(value_type = String, example = "seg_3")]
    pub id: SegmentId,
    pub name: String,
    pub description: Option<String>,
    /// The filter in its canonical JSON form (see docs/segments.md).
    #[schema(value_type = Object)]
    pub filter: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// `pending` until its members were first computed, then `ready`: kept current as contacts
    /// change and time passes.
    #[schema(example = "ready")]
    pub status: String,
    /// Members now (0 while pending).
    pub member_count: i64,
    /// When the members were last computed by one query (creation, filter edit).
    pub materialised_at: Option<Millis>,
}

impl Segment {
    /// The stored filter, read back into the language.
    pub fn parsed_filter(&self) -> Result<Filter, FilterError> {
        Filter::parse(&self.filter)
    }
}

type SegmentRow = (
    i64,
    String,
    Option<String>,
    String,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
);

fn segment_from(r: SegmentRow) -> Result<Segment> {
    Ok(Segment {
        id: SegmentId(r.0),
        name: r.1,
        description: r.2,
        filter: serde_json::from_str(&r.3)?,
        created_at: r.4,
        updated_at: r.5,
        status: r.6,
        member_count: r.7,
        materialised_at: r.8,
    })
}

const SEGMENT_SELECT: &str =
    "SELECT id, name, description, filter, created_at, updated_at, status, member_count, \
     materialised_at FROM segments WHERE org_id = $1";

/// What to change in a saved segment; `None` leaves a value as it is. `description:
/// Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct SegmentChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub filter: Option<Filter>,
}

impl Store {
    fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// `FROM contacts c WHERE …` for the live contacts of `org` matching `filter` at `now`.
    fn segment_where(&self, org: OrgId, filter: &Filter, now: Millis) -> (String, Vec<Arg>) {
        let mut b = SqlFilter::new(self.dialect(), now, vec![Arg::Int(org.0)]);
        let cond = b.filter(filter);
        (
            format!("FROM contacts c WHERE c.org_id = $1 AND c.merged_into IS NULL AND {cond}"),
            b.args,
        )
    }

    /// How many live contacts match the filter at `now`.
    pub async fn segment_count(&self, org: OrgId, filter: &Filter, now: Millis) -> Result<i64> {
        let (from, args) = self.segment_where(org, filter, now);
        let sql = format!("SELECT COUNT(*) {from}");
        Ok(with_pool!(self, c => bind_args!(sqlx::query_scalar(&sql), &args).fetch_one(c).await?))
    }

    /// Matching contacts newest first: one page of at most `limit` (1–200), below `before` if
    /// given, and whether more follow.
    pub async fn segment_contacts(
        &self,
        org: OrgId,
        filter: &Filter,
        now: Millis,
        before: Option<ContactId>,
        limit: u32,
    ) -> Result<(Vec<Contact>, bool)> {
        let limit = limit.clamp(1, 200);
        let (from, mut args) = self.segment_where(org, filter, now);
        args.push(Arg::Int(before.map_or(i64::MAX, |b| b.0)));
        let columns = format!("c.{}", CONTACT_COLUMNS.replace(", ", ", c."));
        let sql = format!(
            "SELECT {columns} {from} AND c.id < ${} ORDER BY c.id DESC LIMIT {}",
            args.len(),
            limit + 1
        );
        let mut rows: Vec<ContactRow> = with_pool!(self, c => bind_args!(sqlx::query_as::<_, ContactRow>(&sql), &args).fetch_all(c).await?);
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((
            rows.into_iter().map(ContactRow::into_contact).collect(),
            more,
        ))
    }

    /// The ids of every matching contact, ascending: a first materialisation of the segment.
    pub async fn segment_contact_ids(
        &self,
        org: OrgId,
        filter: &Filter,
        now: Millis,
    ) -> Result<Vec<ContactId>> {
        let (from, args) = self.segment_where(org, filter, now);
        let sql = format!("SELECT c.id {from} ORDER BY c.id");
        let ids: Vec<i64> =
            with_pool!(self, c => bind_args!(sqlx::query_scalar(&sql), &args).fetch_all(c).await?);
        Ok(ids.into_iter().map(ContactId).collect())
    }

    /// What the in-process predicate needs about one contact (following merges): profile,
    /// traits, tags, identities, account, and the events that occurred at or after
    /// `events_since` (`None`: no events; see `Dependencies::events_needed_since`).
    pub async fn contact_snapshot(
        &self,
        org: OrgId,
        id: ContactId,
        events_since: Option<Millis>,
    ) -> Result<ContactSnapshot> {
        let id = self.resolve_contact_id(org, id).await?;
        self.contact_snapshots(org, &[id], SnapshotNeeds::all(events_since))
            .await?
            .remove(&id)
            .ok_or(StoreError::NotFound("contact"))
    }

    /// Saves a segment; its members are computed in the background (it is `pending` until then)
    /// and kept current from then on.
    pub async fn create_segment(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
        filter: &Filter,
        now: Millis,
    ) -> Result<Segment> {
        self.check_filter_references(org, None, filter).await?;
        let text = filter.to_json().to_string();
        let mut tx = self.begin().await?;
        let id: std::result::Result<i64, sqlx::Error> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO segments (org_id, name, description, filter, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(org.0)
        .bind(name)
        .bind(description)
        .bind(&text)
        .bind(now)
        .fetch_one(&mut *c)
        .await);
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                tx.rollback().await?;
                return Err(name_taken(e.into()));
            }
        };
        enqueue_jobs_in(&mut tx, org, JobKind::MaterialiseSegment, &[id], now).await?;
        // Read inside the transaction: the segment as created (`pending`), whatever a worker does
        // with it the moment it is committed.
        let sql = format!("{SEGMENT_SELECT} AND id = $2");
        let row: SegmentRow = with_tx!(&mut tx, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(id)
            .fetch_one(&mut *c)
            .await?);
        tx.commit().await?;
        self.jobs_enqueued();
        segment_from(row)
    }

    pub async fn get_segment(&self, org: OrgId, id: SegmentId) -> Result<Segment> {
        let sql = format!("{SEGMENT_SELECT} AND id = $2");
        let row: Option<SegmentRow> = with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).bind(id.0).fetch_optional(c).await?);
        segment_from(row.ok_or(StoreError::NotFound("segment"))?)
    }

    /// Saved segments newest first; one page and whether more follow.
    pub async fn list_segments(
        &self,
        org: OrgId,
        before: Option<SegmentId>,
        limit: u32,
    ) -> Result<(Vec<Segment>, bool)> {
        let limit = limit.clamp(1, 200);
        let sql = format!(
            "{SEGMENT_SELECT} AND id < $2 ORDER BY id DESC LIMIT {}",
            limit + 1
        );
        let mut rows: Vec<SegmentRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .fetch_all(c)
            .await?);
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((
            rows.into_iter().map(segment_from).collect::<Result<_>>()?,
            more,
        ))
    }

    /// Changes a segment. A new filter counts as a new version: the members are computed again
    /// in the background (the segment stays `ready` with its old members meanwhile), and every
    /// contact that enters or leaves because of the edit gets an event.
    pub async fn update_segment(
        &self,
        org: OrgId,
        id: SegmentId,
        change: &SegmentChange,
        now: Millis,
    ) -> Result<Segment> {
        let current = self.get_segment(org, id).await?;
        if let Some(f) = &change.filter {
            self.check_filter_references(org, Some(id), f).await?;
        }
        let name = change.name.as_deref().unwrap_or(&current.name);
        let description = match &change.description {
            Some(d) => d.as_deref(),
            None => current.description.as_deref(),
        };
        let filter = match &change.filter {
            Some(f) => f.to_json().to_string(),
            None => current.filter.to_string(),
        };
        let refilter = change
            .filter
            .as_ref()
            .is_some_and(|f| f.to_json() != current.filter);
        let mut tx = self.begin().await?;
        let n: std::result::Result<u64, sqlx::Error> = with_tx!(&mut tx, c => sqlx::query(
            "UPDATE segments SET name = $3, description = $4, filter = $5, updated_at = $6, \
             filter_version = filter_version + $7 WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(name)
        .bind(description)
        .bind(&filter)
        .bind(now)
        .bind(i64::from(refilter))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()));
        match n {
            Ok(0) => {
                tx.rollback().await?;
                return Err(StoreError::NotFound("segment"));
            }
            Ok(_) => {}
            Err(e) => {
                tx.rollback().await?;
                return Err(name_taken(e.into()));
            }
        }
        if refilter {
            enqueue_jobs_in(&mut tx, org, JobKind::MaterialiseSegment, &[id.0], now).await?;
        }
        tx.commit().await?;
        self.jobs_enqueued();
        self.get_segment(org, id).await
    }

    /// Deletes a segment with its members, history and pending work. Its members get no
    /// `segment.exited` event: the segment is gone, not left.
    pub async fn delete_segment(&self, org: OrgId, id: SegmentId) -> Result<()> {
        if let Some(by) = self.segments_referencing(org, id).await?.first() {
            return Err(StoreError::Conflict(format!(
                "segment {by} references this segment; change or delete it first"
            )));
        }
        if let Some(t) = self.tier_model(org).await? {
            if t.model.segments_read().contains(&id) {
                return Err(StoreError::Conflict(
                    "the criteria of a customer tier reference this segment; change them first"
                        .into(),
                ));
            }
        }
        if let Some(l) = self.lifecycle(org).await? {
            if l.model.segments_read().contains(&id) {
                return Err(StoreError::Conflict(
                    "the entry criteria of a lifecycle stage reference this segment; change them first"
                        .into(),
                ));
            }
        }
        let mut tx = self.begin().await?;
        let n = delete_segment_in(&mut tx, org, id).await?;
        if n == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound("segment"));
        }
        tx.commit().await
    }
}

/// Takes its locks in the order the membership writers do — members, then the segment row,
/// then the size history (see `record_moves`) — so on PostgreSQL a deletion cannot deadlock with
/// an evaluation or a materialisation of the same segment in flight.
async fn delete_segment_in(tx: &mut Tx, org: OrgId, id: SegmentId) -> Result<u64> {
    Ok(with_tx!(tx, c => {
        sqlx::query("DELETE FROM segment_members WHERE org_id = $1 AND segment_id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?;
        let n = sqlx::query("DELETE FROM segments WHERE org_id = $1 AND id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM segment_sizes WHERE org_id = $1 AND segment_id = $2",
            "DELETE FROM jobs WHERE org_id = $1 AND kind = 'segment.materialise' AND subject = $2",
        ] {
            sqlx::query(sql).bind(org.0).bind(id.0).execute(&mut *c).await?;
        }
        n
    }))
}

/// Whether the organisation has anything that depends on its contacts — a saved segment, a
/// scoring model, lifecycle stages, customer tiers or tag rules — read inside `tx` (indexed lookups).
pub(crate) async fn has_dependents_in(tx: &mut Tx, org: OrgId) -> Result<bool> {
    let one: Option<i64> = with_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM segments WHERE org_id = $1 UNION ALL SELECT org_id FROM scoring_models WHERE org_id = $1 \
         UNION ALL SELECT org_id FROM lifecycle_models WHERE org_id = $1 \
         UNION ALL SELECT org_id FROM tier_models WHERE org_id = $1 \
         UNION ALL SELECT org_id FROM tag_rule_models WHERE org_id = $1 LIMIT 1",
    )
    .bind(org.0)
    .fetch_optional(&mut *c)
    .await?);
    Ok(one.is_some())
}

fn name_taken(e: StoreError) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict("a segment with this name already exists".into())
    } else {
        e
    }
}
