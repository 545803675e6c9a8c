//! The organisation-wide models kept as versioned JSON, one row per organisation: the scoring
//! model (`scoring_models`), the lifecycle model (`lifecycle_models`), the tier model
//! (`tier_models`) and the tag rules (`tag_rule_models`). Each is read and checked by its domain module; saving one re-evaluates every
//! live contact against it, in the same transaction.

use hatchery_domain::OrgId;
use serde_json::Value;

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::Result;
use crate::jobs::{enqueue_selected_in, JobKind};
use crate::{Millis, Store};

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelKind {
    Scoring,
    Lifecycle,
    Tiers,
    TagRules,
}

impl ModelKind {
    fn table(self) -> &'static str {
        match self {
            ModelKind::Scoring => "scoring_models",
            ModelKind::Lifecycle => "lifecycle_models",
            ModelKind::Tiers => "tier_models",
            ModelKind::TagRules => "tag_rule_models",
        }
    }
}

/// A stored model as saved: its JSON, version and when it was saved.
pub(crate) struct StoredModel {
    pub json: Value,
    pub version: i64,
    pub updated_at: Millis,
}

impl Store {
    pub(crate) async fn stored_model(
        &self,
        kind: ModelKind,
        org: OrgId,
    ) -> Result<Option<StoredModel>> {
        let sql = format!(
            "SELECT model, version, updated_at FROM {} WHERE org_id = $1",
            kind.table()
        );
        let row: Option<(String, i64, i64)> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_optional(c).await?);
        row.map(|(text, version, updated_at)| {
            Ok(StoredModel {
                json: serde_json::from_str(&text)?,
                version,
                updated_at,
            })
        })
        .transpose()
    }
}

/// Saves a model inside `tx` (version + 1) and queues every live contact to be evaluated against
/// it. Returns the new version.
pub(crate) async fn save_model_in(
    tx: &mut Tx,
    kind: ModelKind,
    org: OrgId,
    json: &Value,
    now: Millis,
) -> Result<i64> {
    let t = kind.table();
    let sql = format!(
        "INSERT INTO {t} (org_id, model, version, updated_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (org_id) DO UPDATE SET model = excluded.model, version = {t}.version + 1, \
         updated_at = excluded.updated_at RETURNING version"
    );
    let version: i64 = with_tx!(&mut *tx, c => sqlx::query_scalar(&sql)
        .bind(org.0)
        .bind(json.to_string())
        .bind(now)
        .fetch_one(&mut *c)
        .await?);
    enqueue_selected_in(
        tx,
        org,
        JobKind::EvaluateContact,
        "SELECT id AS subject FROM contacts WHERE org_id = $1 AND merged_into IS NULL",
        &[],
        now,
    )
    .await?;
    Ok(version)
}
