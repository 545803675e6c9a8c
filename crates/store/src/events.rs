//! The append-only event log: a contact's timeline and pool-wide counts.

use hatchery_domain::ids::{AccountId, EventId};
use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::{bind_args, with_pool, Arg};
use crate::contacts::VisibleTo;
use crate::error::Result;
use crate::{Millis, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    #[schema(value_type = String, example = "ev_1")]
    pub id: EventId,
    #[schema(value_type = String, example = "ct_42")]
    pub contact_id: ContactId,
    pub message_id: String,
    /// identify, track, page, screen, group, alias, import …
    pub kind: String,
    pub name: Option<String>,
    pub occurred_at: Millis,
    pub sent_at: Option<Millis>,
    pub received_at: Millis,
    #[schema(value_type = Option<String>, example = "src_1")]
    pub source_id: Option<hatchery_domain::ids::SourceId>,
    pub channel: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    #[schema(value_type = Object)]
    pub context: Map<String, Value>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    contact_id: i64,
    message_id: String,
    kind: String,
    name: Option<String>,
    occurred_at: i64,
    sent_at: Option<i64>,
    received_at: i64,
    source_id: Option<i64>,
    channel: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    properties: String,
    context: String,
}

impl EventRow {
    fn into_event(self) -> Event {
        let r = self;
        Event {
            id: EventId(r.id),
            contact_id: ContactId(r.contact_id),
            message_id: r.message_id,
            kind: r.kind,
            name: r.name,
            occurred_at: r.occurred_at,
            sent_at: r.sent_at,
            received_at: r.received_at,
            source_id: r.source_id.map(hatchery_domain::ids::SourceId),
            channel: r.channel,
            utm_source: r.utm_source,
            utm_medium: r.utm_medium,
            utm_campaign: r.utm_campaign,
            properties: serde_json::from_str(&r.properties).unwrap_or_default(),
            context: serde_json::from_str(&r.context).unwrap_or_default(),
        }
    }
}

/// A position in a timeline: events strictly older than (occurred_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineCursor {
    pub occurred_at: Millis,
    pub id: i64,
}

impl TimelineCursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.occurred_at, self.id)
    }
    pub fn decode(s: &str) -> Option<Self> {
        let (t, i) = s.split_once('.')?;
        Some(TimelineCursor {
            occurred_at: t.parse().ok()?,
            id: i.parse().ok()?,
        })
    }
}

/// A page of an account's timeline: the events of its contacts (`$1` organisation, `$2` account,
/// `$3`/`$4` the cursor), `visible` narrowing the contacts. The account's contacts first, then
/// their events by contact: joined the other way round, SQLite walked every event of the
/// organisation (`crate::plans` checks).
pub(crate) fn account_timeline_sql(visible: &str, limit: u32) -> String {
    format!(
        "SELECT e.id, e.contact_id, e.message_id, e.kind, e.name, e.occurred_at, e.sent_at, e.received_at, \
         e.source_id, e.channel, e.utm_source, e.utm_medium, e.utm_campaign, e.properties, e.context \
         FROM events e WHERE e.org_id = $1 AND e.contact_id IN (SELECT c.id FROM contacts c \
         WHERE c.org_id = $1 AND c.account_id = $2 AND c.merged_into IS NULL{visible}) \
         AND (e.occurred_at < $3 OR (e.occurred_at = $3 AND e.id < $4)) \
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT {limit}"
    )
}

impl Store {
    /// A contact's events, newest first.
    pub async fn timeline(
        &self,
        org: OrgId,
        contact: ContactId,
        kind: Option<&str>,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> Result<(Vec<Event>, Option<TimelineCursor>)> {
        let limit = limit.clamp(1, 500);
        let (t, i) = before.map_or((i64::MAX, i64::MAX), |c| (c.occurred_at, c.id));
        let sql = format!(
            "SELECT id, contact_id, message_id, kind, name, occurred_at, sent_at, received_at, source_id, channel, \
             utm_source, utm_medium, utm_campaign, properties, context FROM events \
             WHERE org_id = $1 AND contact_id = $2 AND (occurred_at < $3 OR (occurred_at = $3 AND id < $4)) \
             {} ORDER BY occurred_at DESC, id DESC LIMIT {}",
            if kind.is_some() { "AND kind = $5" } else { "AND $5 = $5" },
            limit + 1
        );
        let mut rows: Vec<EventRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(contact.0)
            .bind(t)
            .bind(i)
            .bind(kind.unwrap_or(""))
            .fetch_all(c)
            .await?);
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| TimelineCursor {
                occurred_at: r.occurred_at,
                id: r.id,
            })
        } else {
            None
        };
        let events = rows.into_iter().map(EventRow::into_event).collect();
        Ok((events, next))
    }

    /// The events of an account's contacts (those `visible_to` may see, or all), newest first.
    pub async fn account_timeline(
        &self,
        org: OrgId,
        account: AccountId,
        visible_to: Option<&VisibleTo>,
        before: Option<TimelineCursor>,
        limit: u32,
    ) -> Result<(Vec<Event>, Option<TimelineCursor>)> {
        let limit = limit.clamp(1, 500);
        let (t, i) = before.map_or((i64::MAX, i64::MAX), |c| (c.occurred_at, c.id));
        let mut args = vec![
            Arg::Int(org.0),
            Arg::Int(account.0),
            Arg::Int(t),
            Arg::Int(i),
        ];
        let mut visible = String::new();
        if let Some(v) = visible_to {
            let (mut clause, extra) = v.clause_on("c.");
            for (n, arg) in extra.into_iter().enumerate() {
                args.push(arg);
                clause = clause.replace(&format!("${{{n}}}"), &format!("${}", args.len()));
            }
            visible = format!(" AND {clause}");
        }
        let sql = account_timeline_sql(&visible, limit + 1);
        let mut rows: Vec<EventRow> = with_pool!(self, c => {
            bind_args!(sqlx::query_as::<_, EventRow>(&sql), &args).fetch_all(c).await?
        });
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| TimelineCursor {
                occurred_at: r.occurred_at,
                id: r.id,
            })
        } else {
            None
        };
        Ok((rows.into_iter().map(EventRow::into_event).collect(), next))
    }

    pub async fn count_events(&self, org: OrgId) -> Result<i64> {
        Ok(
            with_pool!(self, c => sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE org_id = $1")
            .bind(org.0)
            .fetch_one(c)
            .await?),
        )
    }
}
