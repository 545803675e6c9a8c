//! Consent per purpose and channel (migration 0014): each contact's latest answer with its source
//! and time. A change is also a `consent.changed` event on the timeline (the history) and asks for
//! the contact to be evaluated, since segments may read consent.

use std::collections::{BTreeMap, HashMap};

use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;

use crate::backend::{bind_args, with_pool, with_tx, Arg};
use crate::error::{Result, StoreError};
use crate::jobs::{enqueue_jobs_in, JobKind};
use crate::segments::membership::derived_event;
use crate::{Millis, Store};

/// A contact's answer for one purpose and channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Consent {
    /// What the consent is for (`marketing`, `newsletter` …).
    pub purpose: String,
    /// How the contact may be reached (`email`, `sms`, `wechat`, `phone` …).
    pub channel: String,
    pub granted: bool,
    /// Where the answer was captured (`form:webinar-2026`, `import:imp_7`, `api`).
    pub source: String,
    pub at: Millis,
}

impl Store {
    /// Records an answer (replacing the previous one for the same purpose and channel) with a
    /// `consent.changed` event, and queues the contact for evaluation.
    pub async fn set_consent(&self, org: OrgId, id: ContactId, c: &Consent) -> Result<()> {
        let id = self.resolve_contact_id(org, id).await?;
        let mut tx = self.begin().await?;
        let exists: Option<i64> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT id FROM contacts WHERE org_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?);
        if exists.is_none() {
            return Err(StoreError::NotFound("contact"));
        }
        with_tx!(&mut tx, x => sqlx::query(
            "INSERT INTO consents (org_id, contact_id, purpose, channel, granted, source, at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (org_id, contact_id, purpose, channel) DO UPDATE SET granted = excluded.granted, \
             source = excluded.source, at = excluded.at",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(&c.purpose)
        .bind(&c.channel)
        .bind(i32::from(c.granted))
        .bind(&c.source)
        .bind(c.at)
        .execute(&mut *x)
        .await?
        .rows_affected());
        let event = derived_event(
            id,
            format!(
                "consent.changed:{}:{}:{}:{}:{}",
                id.0, c.purpose, c.channel, c.granted, c.at
            ),
            "consent.changed",
            Some(format!("{}:{}", c.purpose, c.channel)),
            &serde_json::json!({ "purpose": c.purpose, "channel": c.channel, "granted": c.granted, "source": c.source }),
            c.at,
        );
        crate::ingest::insert_events(&mut tx, org, &[event]).await?;
        enqueue_jobs_in(&mut tx, org, JobKind::EvaluateContact, &[id.0], c.at).await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(())
    }

    /// A contact's answers, by purpose and channel.
    pub async fn contact_consents(&self, org: OrgId, id: ContactId) -> Result<Vec<Consent>> {
        let rows: Vec<(String, String, i32, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT purpose, channel, granted, source, at FROM consents WHERE org_id = $1 AND contact_id = $2 \
             ORDER BY purpose, channel",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(purpose, channel, granted, source, at)| Consent {
                purpose,
                channel,
                granted: granted != 0,
                source,
                at,
            })
            .collect())
    }

    /// The answers of those of `ids` that have any, as filters read them.
    pub async fn consents_of(
        &self,
        org: OrgId,
        ids: &[ContactId],
    ) -> Result<HashMap<ContactId, BTreeMap<(String, String), bool>>> {
        let mut out: HashMap<ContactId, BTreeMap<(String, String), bool>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let args: Vec<Arg> = std::iter::once(Arg::Int(org.0))
                .chain(chunk.iter().map(|i| Arg::Int(i.0)))
                .collect();
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT contact_id, purpose, channel, granted FROM consents WHERE org_id = $1 AND contact_id IN ({list})"
            );
            let rows: Vec<(i64, String, String, i32)> =
                with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?);
            for (id, p, ch, g) in rows {
                out.entry(ContactId(id))
                    .or_default()
                    .insert((p, ch), g != 0);
            }
        }
        Ok(out)
    }
}
