//! Customer tiers (migration 0013): the organisation's tier model, each contact's tier per
//! dimension, and the referral graph (who brought whom) that the `referrals` condition reads. The
//! rules live in `hatchery_domain::tiers`; the evaluator classifies contacts and
//! [`Store::apply_evaluations`] writes the changes with a `tier.changed` event each.

use std::collections::{BTreeMap, HashMap};

use hatchery_domain::tiers::TierModel;
use hatchery_domain::{ContactId, IdentityKind, OrgId};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{bind_args, with_pool, with_tx, Arg, Tx};
use crate::error::{Result, StoreError};
use crate::ingest::NewEvent;
use crate::jobs::{enqueue_jobs_in, JobKind};
use crate::models::{save_model_in, ModelKind};
use crate::segments::membership::derived_event;
use crate::{Millis, Store};

/// The saved model.
#[derive(Debug, Clone)]
pub struct SavedTiers {
    pub model: TierModel,
    pub json: Value,
    pub version: i64,
    pub updated_at: Millis,
}

/// A contact's tier in one dimension, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactTier {
    pub dimension: String,
    pub tier: String,
    pub since: Millis,
}

/// How many contacts are in one tier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierCount {
    pub dimension: String,
    pub tier: String,
    pub contacts: i64,
}

/// A contact's tier changes decided by the evaluator: `(dimension, from, to)`.
pub type TierChange = (ContactId, Vec<(String, Option<String>, Option<String>)>);

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tier_event(
    contact: ContactId,
    (dimension, from, to): &(String, Option<String>, Option<String>),
    now: Millis,
) -> NewEvent {
    derived_event(
        contact,
        format!(
            "tier.changed:{}:{dimension}:{}:{now}",
            contact.0,
            to.as_deref().unwrap_or("-")
        ),
        "tier.changed",
        Some(format!("{dimension}:{}", to.as_deref().unwrap_or("-"))),
        &serde_json::json!({ "dimension": dimension, "from": from, "to": to }),
        now,
    )
}

/// Writes tier changes inside `tx`; returns their `tier.changed` events.
pub(crate) async fn apply_tier_changes_in(
    tx: &mut Tx,
    org: OrgId,
    changes: &[TierChange],
    now: Millis,
) -> Result<Vec<NewEvent>> {
    let mut events = Vec::new();
    for (contact, moves) in changes {
        for m in moves {
            let (dimension, _, to) = m;
            with_tx!(&mut *tx, c => match to {
                Some(t) => sqlx::query(
                    "INSERT INTO contact_tiers (org_id, contact_id, dimension, tier, since) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (org_id, contact_id, dimension) DO UPDATE SET tier = excluded.tier, since = excluded.since",
                )
                .bind(org.0).bind(contact.0).bind(dimension).bind(t).bind(now)
                .execute(&mut *c).await?.rows_affected(),
                None => sqlx::query(
                    "DELETE FROM contact_tiers WHERE org_id = $1 AND contact_id = $2 AND dimension = $3",
                )
                .bind(org.0).bind(contact.0).bind(dimension)
                .execute(&mut *c).await?.rows_affected(),
            });
            events.push(tier_event(*contact, m, now));
        }
    }
    Ok(events)
}

/// Removes the tiers of contacts that are gone.
pub(crate) async fn delete_tiers_in(tx: &mut Tx, org: OrgId, ids: &[ContactId]) -> Result<()> {
    for id in ids {
        with_tx!(&mut *tx, c => sqlx::query("DELETE FROM contact_tiers WHERE org_id = $1 AND contact_id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}

/// Records who referred whom inside `tx`: each `(referred, referrer)` names the referrer by
/// userId or contact id (`ct_42`); unknown referrers and self-referrals are skipped, and a contact
/// keeps its first referrer. Referrers gaining a referral are queued for evaluation.
pub(crate) async fn record_referrals_in(
    tx: &mut Tx,
    org: OrgId,
    links: &[(ContactId, String)],
    now: Millis,
) -> Result<()> {
    let mut gained = Vec::new();
    for (referred, by) in links {
        let referrer: Option<i64> = match by.parse::<ContactId>() {
            Ok(id) => with_tx!(&mut *tx, c => sqlx::query_scalar(
                "SELECT COALESCE(merged_into, id) FROM contacts WHERE org_id = $1 AND id = $2",
            )
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await?),
            Err(_) => with_tx!(&mut *tx, c => sqlx::query_scalar(
                "SELECT contact_id FROM identities WHERE org_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(org.0)
            .bind(IdentityKind::UserId.as_str())
            .bind(by)
            .fetch_optional(&mut *c)
            .await?),
        };
        let Some(referrer) = referrer.filter(|r| *r != referred.0) else {
            continue;
        };
        let n = with_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO referrals (org_id, referred_id, referrer_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(org.0)
        .bind(referred.0)
        .bind(referrer)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected());
        if n > 0 {
            gained.push(referrer);
        }
    }
    enqueue_jobs_in(tx, org, JobKind::EvaluateContact, &gained, now).await
}

impl Store {
    /// The organisation's tier model; `None`: tiers are off.
    pub async fn tier_model(&self, org: OrgId) -> Result<Option<SavedTiers>> {
        let Some(m) = self.stored_model(ModelKind::Tiers, org).await? else {
            return Ok(None);
        };
        let model = TierModel::parse(&m.json)
            .map_err(|e| StoreError::Conflict(format!("the stored tier model is invalid: {e}")))?;
        Ok(Some(SavedTiers {
            model,
            json: m.json,
            version: m.version,
            updated_at: m.updated_at,
        }))
    }

    /// Saves the model (already checked) and queues every live contact to be classified, in one
    /// transaction. Tiers of dimensions the model no longer has are removed. Returns the version.
    pub async fn set_tier_model(&self, org: OrgId, model: &TierModel, now: Millis) -> Result<i64> {
        let mut tx = self.begin().await?;
        let version = save_model_in(&mut tx, ModelKind::Tiers, org, &model.to_json(), now).await?;
        let dims: Vec<Arg> = std::iter::once(Arg::Int(org.0))
            .chain(model.dimensions.iter().map(|d| Arg::Text(d.key.clone())))
            .collect();
        let sql = format!(
            "DELETE FROM contact_tiers WHERE org_id = $1 AND dimension NOT IN ({})",
            placeholders(2, model.dimensions.len())
        );
        with_tx!(&mut tx, c => bind_args!(sqlx::query(&sql), &dims).execute(&mut *c).await?.rows_affected());
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(version)
    }

    /// Switches tiers off and forgets every contact's tier (the referral graph stays).
    pub async fn disable_tiers(&self, org: OrgId) -> Result<()> {
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, c => {
            for sql in [
                "DELETE FROM tier_models WHERE org_id = $1",
                "DELETE FROM contact_tiers WHERE org_id = $1",
            ] {
                sqlx::query(sql).bind(org.0).execute(&mut *c).await?;
            }
        });
        tx.commit().await
    }

    /// The stored tiers of those of `ids` that have any (dimension → tier).
    pub async fn stored_tiers(
        &self,
        org: OrgId,
        ids: &[ContactId],
    ) -> Result<HashMap<ContactId, BTreeMap<String, String>>> {
        let mut out: HashMap<ContactId, BTreeMap<String, String>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let args: Vec<Arg> = std::iter::once(Arg::Int(org.0))
                .chain(chunk.iter().map(|i| Arg::Int(i.0)))
                .collect();
            let sql = format!(
                "SELECT contact_id, dimension, tier FROM contact_tiers WHERE org_id = $1 AND contact_id IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<(i64, String, String)> =
                with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?);
            for (id, d, t) in rows {
                out.entry(ContactId(id)).or_default().insert(d, t);
            }
        }
        Ok(out)
    }

    /// How many contacts each of `ids` referred.
    pub async fn referral_counts(
        &self,
        org: OrgId,
        ids: &[ContactId],
    ) -> Result<HashMap<ContactId, u32>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let args: Vec<Arg> = std::iter::once(Arg::Int(org.0))
                .chain(chunk.iter().map(|i| Arg::Int(i.0)))
                .collect();
            let sql = format!(
                "SELECT referrer_id, COUNT(*) FROM referrals WHERE org_id = $1 AND referrer_id IN ({}) GROUP BY referrer_id",
                placeholders(2, chunk.len())
            );
            let rows: Vec<(i64, i64)> =
                with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?);
            for (id, n) in rows {
                out.insert(ContactId(id), u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        Ok(out)
    }

    /// A contact's tiers, with since when.
    pub async fn contact_tiers(&self, org: OrgId, id: ContactId) -> Result<Vec<ContactTier>> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT dimension, tier, since FROM contact_tiers WHERE org_id = $1 AND contact_id = $2 ORDER BY dimension",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(dimension, tier, since)| ContactTier {
                dimension,
                tier,
                since,
            })
            .collect())
    }

    /// Contacts per tier of every dimension.
    pub async fn tier_counts(&self, org: OrgId) -> Result<Vec<TierCount>> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT dimension, tier, COUNT(*) FROM contact_tiers WHERE org_id = $1 GROUP BY dimension, tier",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(dimension, tier, contacts)| TierCount {
                dimension,
                tier,
                contacts,
            })
            .collect())
    }
}
