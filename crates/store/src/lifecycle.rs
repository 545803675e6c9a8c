//! Lifecycle stages (migration 0011): the organisation's stage model, each contact's current stage
//! and the history of every move. The rules live in `hatchery_domain::lifecycle`; automatic moves
//! are decided by the evaluator (`hatchery_engine::evaluator`) and written by
//! [`Store::apply_evaluations`]; manual moves (console, API, CRM) by [`Store::move_stage`].
//!
//! Every move updates `contacts.stage` only if the stage is still the one the mover saw, so a
//! manual move and an automatic one racing each other never both land; it is a row of
//! `stage_transitions` and a `stage.changed` event on the contact's timeline.

use hatchery_domain::ids::UserId;
use hatchery_domain::lifecycle::{Cause, Lifecycle};
use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::{Result, StoreError};
use crate::ingest::NewEvent;
use crate::jobs::{enqueue_jobs_in, JobKind};
use crate::models::{save_model_in, ModelKind};
use crate::segments::membership::derived_event;
use crate::{Millis, Store};

/// The saved model.
#[derive(Debug, Clone)]
pub struct SavedLifecycle {
    pub model: Lifecycle,
    pub json: Value,
    pub version: i64,
    pub updated_at: Millis,
}

/// One stored move, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageTransition {
    /// The stage left; `null` for a contact's first stage.
    pub from: Option<String>,
    pub to: String,
    pub at: Millis,
    /// `rule`, `user`, `api` or `crm`.
    #[schema(value_type = String, example = "rule")]
    pub cause: Cause,
    /// The console user who made a manual move.
    #[schema(value_type = Option<String>, example = "usr_2")]
    pub user_id: Option<UserId>,
    pub reason: Option<String>,
}

/// An automatic move decided by the evaluator: `from` is the stage it saw, `entered` the stages
/// entered in order.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMove {
    pub contact: ContactId,
    pub from: Option<String>,
    pub entered: Vec<String>,
}

/// How many contacts are at each stage now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageCount {
    pub stage: String,
    pub contacts: i64,
    /// Contacts that entered the stage in the period asked for (each counted once).
    pub entered: i64,
}

/// A manual move to make.
#[derive(Debug, Clone)]
pub struct ManualMove<'a> {
    pub to: &'a str,
    pub cause: Cause,
    pub user: Option<UserId>,
    pub reason: Option<&'a str>,
}

fn stage_event(
    contact: ContactId,
    from: Option<&str>,
    to: &str,
    cause: Cause,
    seq: usize,
    now: Millis,
) -> NewEvent {
    derived_event(
        contact,
        format!("stage.changed:{}:{to}:{now}:{seq}", contact.0),
        "stage.changed",
        Some(to.to_owned()),
        &serde_json::json!({ "from": from, "to": to, "cause": cause.as_str() }),
        now,
    )
}

/// Moves one contact from `from` through `path` inside `tx`, if its stage is still `from`;
/// returns the events to write (none if the stage changed meanwhile).
async fn record_moves_in(
    tx: &mut Tx,
    org: OrgId,
    contact: ContactId,
    from: Option<&str>,
    path: &[&str],
    how: (Cause, Option<UserId>, Option<&str>),
    now: Millis,
) -> Result<Option<Vec<NewEvent>>> {
    let Some(last) = path.last() else {
        return Ok(Some(Vec::new()));
    };
    let (cause, user, reason) = how;
    let n = with_tx!(&mut *tx, c => sqlx::query(
        "UPDATE contacts SET stage = $3, stage_at = $4 WHERE org_id = $1 AND id = $2 \
         AND merged_into IS NULL AND stage IS NOT DISTINCT FROM $5",
    )
    .bind(org.0)
    .bind(contact.0)
    .bind(*last)
    .bind(now)
    .bind(from)
    .execute(&mut *c)
    .await?
    .rows_affected());
    if n == 0 {
        return Ok(None);
    }
    let mut events = Vec::with_capacity(path.len());
    let mut prev = from;
    for (i, to) in path.iter().enumerate() {
        with_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO stage_transitions (org_id, contact_id, at, from_stage, to_stage, cause, user_id, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(org.0)
        .bind(contact.0)
        .bind(now)
        .bind(prev)
        .bind(*to)
        .bind(cause.as_str())
        .bind(user.map(|u| u.0))
        .bind(reason)
        .execute(&mut *c)
        .await?
        .rows_affected());
        events.push(stage_event(contact, prev, to, cause, i, now));
        prev = Some(to);
    }
    Ok(Some(events))
}

/// Writes the evaluator's automatic moves inside `tx`; returns their `stage.changed` events and
/// the contacts whose stage had changed meanwhile (to evaluate again).
pub(crate) async fn apply_stage_moves_in(
    tx: &mut Tx,
    org: OrgId,
    moves: &[StageMove],
    now: Millis,
) -> Result<(Vec<NewEvent>, Vec<ContactId>)> {
    let mut events = Vec::new();
    let mut stale = Vec::new();
    for m in moves {
        let path: Vec<&str> = m.entered.iter().map(String::as_str).collect();
        match record_moves_in(
            tx,
            org,
            m.contact,
            m.from.as_deref(),
            &path,
            (Cause::Rule, None, None),
            now,
        )
        .await?
        {
            Some(e) => events.extend(e),
            None => stale.push(m.contact),
        }
    }
    Ok((events, stale))
}

impl Store {
    /// The organisation's lifecycle model; `None`: lifecycle stages are switched off.
    pub async fn lifecycle(&self, org: OrgId) -> Result<Option<SavedLifecycle>> {
        let Some(m) = self.stored_model(ModelKind::Lifecycle, org).await? else {
            return Ok(None);
        };
        let model = Lifecycle::parse(&m.json).map_err(|e| {
            StoreError::Conflict(format!("the stored lifecycle model is invalid: {e}"))
        })?;
        Ok(Some(SavedLifecycle {
            model,
            json: m.json,
            version: m.version,
            updated_at: m.updated_at,
        }))
    }

    /// Saves the model (already validated; segment references checked by the caller) and queues
    /// every live contact to be evaluated against it, in one transaction. Returns the version.
    pub async fn set_lifecycle(&self, org: OrgId, model: &Lifecycle, now: Millis) -> Result<i64> {
        let mut tx = self.begin().await?;
        let version =
            save_model_in(&mut tx, ModelKind::Lifecycle, org, &model.to_json(), now).await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(version)
    }

    /// Switches lifecycle stages off: automatic moves stop; stages and history are kept.
    pub async fn disable_lifecycle(&self, org: OrgId) -> Result<bool> {
        let n = with_pool!(self, c => sqlx::query("DELETE FROM lifecycle_models WHERE org_id = $1")
            .bind(org.0)
            .execute(c)
            .await?
            .rows_affected());
        Ok(n > 0)
    }

    /// A contact's stage and since when (`None`: no stage).
    pub async fn contact_stage(
        &self,
        org: OrgId,
        id: ContactId,
    ) -> Result<Option<(String, Millis)>> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, c => sqlx::query_as(
            "SELECT stage, stage_at FROM contacts WHERE org_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(c)
        .await?);
        match row {
            None => Err(StoreError::NotFound("contact")),
            Some((Some(s), at)) => Ok(Some((s, at.unwrap_or_default()))),
            Some((None, _)) => Ok(None),
        }
    }

    /// Moves a contact by hand (user, API, CRM) after `model` allowed the move from its current
    /// stage; a refused move is a `Conflict` naming the allowed stages. The contact is evaluated
    /// again afterwards (segments may read its stage). Returns the stage it left.
    pub async fn move_stage(
        &self,
        org: OrgId,
        id: ContactId,
        model: &Lifecycle,
        m: &ManualMove<'_>,
        now: Millis,
    ) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let row: Option<Option<String>> = with_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT stage FROM contacts WHERE org_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?);
        let Some(from) = row else {
            return Err(StoreError::NotFound("contact"));
        };
        model
            .check_move(from.as_deref(), m.to, m.reason)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let events = record_moves_in(
            &mut tx,
            org,
            id,
            from.as_deref(),
            &[m.to],
            (m.cause, m.user, m.reason),
            now,
        )
        .await?
        .ok_or_else(|| {
            StoreError::Conflict("the contact's stage changed meanwhile; try again".into())
        })?;
        crate::ingest::insert_events(&mut tx, org, &events).await?;
        enqueue_jobs_in(&mut tx, org, JobKind::EvaluateContact, &[id.0], now).await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(from)
    }

    /// A contact's moves, newest first (at most `limit`).
    pub async fn stage_history(
        &self,
        org: OrgId,
        id: ContactId,
        limit: u32,
    ) -> Result<Vec<StageTransition>> {
        type Row = (
            Option<String>,
            String,
            i64,
            String,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(self, c => sqlx::query_as(
            "SELECT from_stage, to_stage, at, cause, user_id, reason FROM stage_transitions \
             WHERE org_id = $1 AND contact_id = $2 ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(from, to, at, cause, user, reason)| StageTransition {
                from,
                to,
                at,
                cause: Cause::parse(&cause).unwrap_or(Cause::Api),
                user_id: user.map(UserId),
                reason,
            })
            .collect())
    }

    /// Contacts at each stage now, and how many entered each stage since `since`; stages without
    /// contacts are absent.
    pub async fn stage_counts(&self, org: OrgId, since: Millis) -> Result<Vec<StageCount>> {
        let now: Vec<(String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT stage, COUNT(*) FROM contacts WHERE org_id = $1 AND stage IS NOT NULL GROUP BY stage",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        let entered: Vec<(String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT to_stage, COUNT(DISTINCT contact_id) FROM stage_transitions \
             WHERE org_id = $1 AND at >= $2 GROUP BY to_stage",
        )
        .bind(org.0)
        .bind(since)
        .fetch_all(c)
        .await?);
        let mut out: Vec<StageCount> = now
            .into_iter()
            .map(|(stage, contacts)| StageCount {
                stage,
                contacts,
                entered: 0,
            })
            .collect();
        for (stage, n) in entered {
            match out.iter_mut().find(|s| s.stage == stage) {
                Some(s) => s.entered = n,
                None => out.push(StageCount {
                    stage,
                    contacts: 0,
                    entered: n,
                }),
            }
        }
        Ok(out)
    }
}
