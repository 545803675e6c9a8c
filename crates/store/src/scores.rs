//! Lead scores: the organisation's scoring model and each contact's stored scores (migration
//! 0008). Scores are computed by the evaluator (`hatchery_engine::evaluator`) with
//! `hatchery_domain::scoring`; this module stores and reads them.

use std::collections::HashMap;

use hatchery_domain::scoring::{Grade, Reason, ScoreSnapshot, Scored, ScoringModel};
use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::{Result, StoreError};
use crate::jobs::JobKind;
use crate::models::{save_model_in, ModelKind};
use crate::{Millis, Store};

/// The saved model.
#[derive(Debug, Clone)]
pub struct SavedModel {
    pub model: ScoringModel,
    /// As it was saved.
    pub json: Value,
    pub version: i64,
    pub updated_at: Millis,
}

/// What a contact's last evaluation stored.
#[derive(Debug, Clone)]
pub struct StoredScore {
    pub fit: f64,
    /// Engagement at `scored_at`.
    pub engagement: f64,
    pub snapshot: ScoreSnapshot,
    pub grade: Grade,
    pub reasons: Vec<Reason>,
    pub scored_at: Millis,
    pub model_version: i64,
}

/// A contact's scores as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactScore {
    pub fit: f64,
    /// Engagement now, decay included, rounded to 0.1.
    pub engagement: f64,
    #[schema(value_type = String, example = "B")]
    pub grade: Grade,
    /// One line per rule that contributed when last scored.
    pub reasons: Vec<Reason>,
    pub scored_at: Millis,
}

/// A score to store for a contact.
#[derive(Debug, Clone)]
pub struct NewScore {
    pub contact: ContactId,
    pub scored: Scored,
    pub half_life_ms: Option<i64>,
    pub model_version: i64,
}

type ScoreRow = (
    i64,
    f64,
    f64,
    i32,
    f64,
    Option<i64>,
    String,
    String,
    i64,
    i64,
);

fn stored_from(r: &ScoreRow) -> Result<StoredScore> {
    Ok(StoredScore {
        fit: r.1,
        engagement: r.2,
        snapshot: ScoreSnapshot {
            fit: r.1,
            engagement_sign: r.3.clamp(-1, 1) as i8,
            engagement_log: r.4,
            half_life_ms: r.5,
        },
        grade: Grade::parse(&r.6).unwrap_or(Grade::D),
        reasons: serde_json::from_str(&r.7)?,
        scored_at: r.8,
        model_version: r.9,
    })
}

const SCORE_COLUMNS: &str =
    "contact_id, fit, engagement, engagement_sign, engagement_log, half_life_ms, grade, reasons, \
     scored_at, model_version";

impl Store {
    pub async fn scoring_model(&self, org: OrgId) -> Result<Option<SavedModel>> {
        let Some(m) = self.stored_model(ModelKind::Scoring, org).await? else {
            return Ok(None);
        };
        let model = ScoringModel::parse(&m.json).map_err(|e| {
            StoreError::Conflict(format!("the stored scoring model is invalid: {e}"))
        })?;
        Ok(Some(SavedModel {
            model,
            json: m.json,
            version: m.version,
            updated_at: m.updated_at,
        }))
    }

    /// Saves the model (already validated) and queues every live contact to be scored again with
    /// it, in the same transaction. Returns the new version.
    pub async fn set_scoring_model(&self, org: OrgId, json: &Value, now: Millis) -> Result<i64> {
        let mut tx = self.begin().await?;
        let version = save_model_in(&mut tx, ModelKind::Scoring, org, json, now).await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(version)
    }

    /// The stored scores of those of `ids` that have any.
    pub async fn stored_scores(
        &self,
        org: OrgId,
        ids: &[ContactId],
    ) -> Result<HashMap<ContactId, StoredScore>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {SCORE_COLUMNS} FROM contact_scores WHERE org_id = $1 AND contact_id IN ({list})"
            );
            let rows: Vec<ScoreRow> = with_pool!(self, c => {
                let mut q = sqlx::query_as(&sql).bind(org.0);
                for id in chunk {
                    q = q.bind(id.0);
                }
                q.fetch_all(c).await?
            });
            for r in &rows {
                out.insert(ContactId(r.0), stored_from(r)?);
            }
        }
        Ok(out)
    }

    /// A contact's scores now, if it was ever scored.
    pub async fn contact_score(
        &self,
        org: OrgId,
        id: ContactId,
        now: Millis,
    ) -> Result<Option<ContactScore>> {
        Ok(self
            .stored_scores(org, &[id])
            .await?
            .remove(&id)
            .map(|s| ContactScore {
                fit: s.fit,
                engagement: (s.snapshot.engagement_at(now) * 10.0).round() / 10.0,
                grade: s.grade,
                reasons: s.reasons,
                scored_at: s.scored_at,
            }))
    }

    /// Contacts waiting to be (re-)scored or otherwise evaluated now (timers set for later do not
    /// count).
    pub async fn evaluations_waiting(&self, org: OrgId, now: Millis) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE org_id = $1 AND kind = $2 AND due_at <= $3",
        )
        .bind(org.0)
        .bind(JobKind::EvaluateContact.as_str())
        .bind(now)
        .fetch_one(c)
        .await?))
    }
}

/// Stores scores inside `tx`.
pub(crate) async fn upsert_scores_in(tx: &mut Tx, org: OrgId, scores: &[NewScore]) -> Result<()> {
    // One statement per chunk; a batch holds each contact once, as one statement must.
    for chunk in scores.chunks(500) {
        let rows = chunk
            .iter()
            .map(|s| {
                let snap = ScoreSnapshot::of(&s.scored, s.half_life_ms);
                Ok((s, snap, serde_json::to_string(&s.scored.reasons)?))
            })
            .collect::<Result<Vec<_>>>()?;
        with_tx!(&mut *tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO contact_scores (org_id, contact_id, fit, engagement, engagement_sign, engagement_log, half_life_ms, \
                 grade, reasons, scored_at, model_version) ",
            );
            qb.push_values(&rows, |mut b, (s, snap, reasons)| {
                b.push_bind(org.0)
                    .push_bind(s.contact.0)
                    .push_bind(s.scored.fit)
                    .push_bind(s.scored.engagement)
                    .push_bind(i32::from(snap.engagement_sign))
                    .push_bind(snap.engagement_log)
                    .push_bind(s.half_life_ms)
                    .push_bind(s.scored.grade.as_str())
                    .push_bind(reasons.clone())
                    .push_bind(s.scored.at)
                    .push_bind(s.model_version);
            });
            qb.push(
                " ON CONFLICT (org_id, contact_id) DO UPDATE SET fit = excluded.fit, engagement = excluded.engagement, \
                 engagement_sign = excluded.engagement_sign, engagement_log = excluded.engagement_log, \
                 half_life_ms = excluded.half_life_ms, grade = excluded.grade, reasons = excluded.reasons, \
                 scored_at = excluded.scored_at, model_version = excluded.model_version",
            );
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// Removes the scores of contacts that are gone.
pub(crate) async fn delete_scores_in(tx: &mut Tx, org: OrgId, ids: &[ContactId]) -> Result<()> {
    for id in ids {
        with_tx!(&mut *tx, c => sqlx::query("DELETE FROM contact_scores WHERE org_id = $1 AND contact_id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(())
}
