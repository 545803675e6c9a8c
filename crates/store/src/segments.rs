//! Segments: ad-hoc queries with the segment language (counts, samples, member ids) and saved
//! segments (name, description, filter). Membership itself is not stored yet.

mod sql;

use hatchery_domain::ids::SegmentId;
use hatchery_domain::segment::{
    AccountField, AccountSnapshot, ContactSnapshot, EventRecord, Filter, FilterError,
};
use hatchery_domain::{ContactId, Identifier, OrgId, StandardField};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{bind_args, with_pool, Arg, Backend};
use crate::contacts::{Contact, ContactRow, CONTACT_COLUMNS};
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

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
}

impl Segment {
    /// The stored filter, read back into the language.
    pub fn parsed_filter(&self) -> Result<Filter, FilterError> {
        Filter::parse(&self.filter)
    }
}

type SegmentRow = (i64, String, Option<String>, String, i64, i64);

fn segment_from(r: SegmentRow) -> Result<Segment> {
    Ok(Segment {
        id: SegmentId(r.0),
        name: r.1,
        description: r.2,
        filter: serde_json::from_str(&r.3)?,
        created_at: r.4,
        updated_at: r.5,
    })
}

type AccountSnapshotRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

const SEGMENT_SELECT: &str =
    "SELECT id, name, description, filter, created_at, updated_at FROM segments WHERE org_id = $1";

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
        let c = self.get_contact(org, id).await?;
        let fields = [
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
        .collect();
        let account = match c.account_id {
            None => None,
            Some(a) => {
                let row: Option<AccountSnapshotRow> = with_pool!(self, conn => sqlx::query_as(
                    "SELECT name, domain, industry, company_size, province, city, traits FROM accounts \
                     WHERE org_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(a.0)
                .fetch_optional(conn)
                .await?);
                row.map(|(name, domain, industry, size, province, city, traits)| {
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
                    Ok::<_, StoreError>(AccountSnapshot {
                        fields,
                        traits: serde_json::from_str(&traits)?,
                    })
                })
                .transpose()?
            }
        };
        let events = match events_since {
            None => Vec::new(),
            Some(since) => {
                let rows: Vec<(String, Option<String>, i64, String)> = with_pool!(self, conn => sqlx::query_as(
                    "SELECT kind, name, occurred_at, properties FROM events \
                     WHERE org_id = $1 AND contact_id = $2 AND occurred_at >= $3 ORDER BY occurred_at",
                )
                .bind(org.0)
                .bind(c.id.0)
                .bind(since)
                .fetch_all(conn)
                .await?);
                rows.into_iter()
                    .map(|(kind, name, occurred_at, properties)| {
                        Ok(EventRecord {
                            kind,
                            name,
                            occurred_at,
                            properties: serde_json::from_str(&properties)?,
                        })
                    })
                    .collect::<Result<_>>()?
            }
        };
        Ok(ContactSnapshot {
            fields,
            traits: c.traits,
            tags: self.contact_tags(org, c.id).await?.into_iter().collect(),
            identities: self
                .contact_identities(org, c.id)
                .await?
                .into_iter()
                .map(|i| Identifier::new(i.kind, i.value))
                .collect(),
            account,
            events,
        })
    }

    pub async fn create_segment(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
        filter: &Filter,
        now: Millis,
    ) -> Result<Segment> {
        let text = filter.to_json().to_string();
        let id: std::result::Result<i64, sqlx::Error> = with_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO segments (org_id, name, description, filter, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(org.0)
        .bind(name)
        .bind(description)
        .bind(&text)
        .bind(now)
        .fetch_one(c)
        .await);
        let id = id.map_err(|e| name_taken(e.into()))?;
        self.get_segment(org, SegmentId(id)).await
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

    pub async fn update_segment(
        &self,
        org: OrgId,
        id: SegmentId,
        change: &SegmentChange,
        now: Millis,
    ) -> Result<Segment> {
        let current = self.get_segment(org, id).await?;
        let name = change.name.as_deref().unwrap_or(&current.name);
        let description = match &change.description {
            Some(d) => d.as_deref(),
            None => current.description.as_deref(),
        };
        let filter = match &change.filter {
            Some(f) => f.to_json().to_string(),
            None => current.filter.to_string(),
        };
        let n: std::result::Result<u64, sqlx::Error> = with_pool!(self, c => sqlx::query(
            "UPDATE segments SET name = $3, description = $4, filter = $5, updated_at = $6 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(name)
        .bind(description)
        .bind(&filter)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
        if n.map_err(|e| name_taken(e.into()))? == 0 {
            return Err(StoreError::NotFound("segment"));
        }
        self.get_segment(org, id).await
    }

    pub async fn delete_segment(&self, org: OrgId, id: SegmentId) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("DELETE FROM segments WHERE org_id = $1 AND id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("segment"));
        }
        Ok(())
    }
}

fn name_taken(e: StoreError) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict("a segment with this name already exists".into())
    } else {
        e
    }
}
