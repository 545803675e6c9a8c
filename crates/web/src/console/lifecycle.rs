//! The Lifecycle page and a contact's stage.
//!
//! `/lifecycle` shows the funnel — contacts at each stage now and how many entered it in the last
//! 30 days, drawn on the server as SVG — the stages with their entry criteria in words and their
//! allowed next stages, and for writers (`Access::may_manage_segments`, as for scoring) the model
//! as JSON to edit (docs/lifecycle.md), saved after the same checks as the API, or stages switched
//! off. `/contacts/{id}/stage` moves one contact by hand along the allowed transitions, for users
//! who may change that contact; the move is stored with the user and the reason.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::lifecycle::{Cause, Lifecycle, Stage};
use hatchery_domain::{ContactId, Permission};
use hatchery_store::lifecycle::{ManualMove, StageTransition};
use hatchery_store::StoreError;
use serde::Deserialize;

use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::segments::describe::describe;
use super::session::{SignedForm, Viewer};
use crate::api::lifecycle::{checked_model, funnel};
use crate::AppState;

/// A stage's name in the viewer's language.
pub fn stage_name(s: &Stage, lang: Lang) -> String {
    match (lang, &s.name_zh) {
        (Lang::Zh, Some(z)) => z.clone(),
        _ => s.name.clone(),
    }
}

/// A stage key's name under `model` (the key itself for a stage no longer configured).
pub fn key_name(model: Option<&Lifecycle>, key: &str, lang: Lang) -> String {
    model
        .and_then(|m| m.stage(key))
        .map_or_else(|| key.to_owned(), |s| stage_name(s, lang))
}

/// One row of the funnel picture.
struct FunnelRow {
    name: String,
    contacts: String,
    entered: String,
    /// Bar geometry in the picture's units (600 wide, 30 per row).
    x: i64,
    y: i64,
    w: i64,
}

/// One stage in the table.
struct StageRow {
    key: String,
    name: String,
    entry: String,
    next: String,
    hold: String,
}

#[derive(Template)]
#[template(path = "lifecycle.html")]
struct LifecyclePage {
    chrome: Chrome,
    csrf: String,
    writer: bool,
    enabled: bool,
    version: i64,
    waiting: String,
    unstaged: String,
    funnel: Vec<FunnelRow>,
    height: i64,
    stages: Vec<StageRow>,
    model: String,
    error: Option<String>,
}

const BAR_AREA: i64 = 360;
const ROW_H: i64 = 30;

async fn page(s: &AppState, v: &Viewer) -> Result<LifecyclePage, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let org = v.org();
    let saved = s.store.lifecycle(org).await.map_err(store_err)?;
    let model = saved
        .as_ref()
        .map_or_else(Lifecycle::default_model, |m| m.model.clone());
    let (counts, unstaged) = funnel(&s.store, org, &model, s.now())
        .await
        .map_err(store_err)?;
    let max = counts.iter().map(|c| c.contacts).max().unwrap_or(0).max(1);
    let funnel_rows = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = (c.contacts * BAR_AREA / max).max(2);
            FunnelRow {
                name: key_name(Some(&model), &c.stage, lang),
                contacts: lang.number(c.contacts),
                entered: lang.number(c.entered),
                x: 150 + (BAR_AREA - w) / 2,
                y: i as i64 * ROW_H,
                w,
            }
        })
        .collect::<Vec<_>>();
    let none = lang.t("contact.none");
    let stages = model
        .stages
        .iter()
        .map(|st| StageRow {
            key: st.key.clone(),
            name: stage_name(st, lang),
            entry: st.entry.as_ref().map_or_else(
                || lang.t("lifecycle.manual").to_owned(),
                |f| describe(f, v.local()),
            ),
            next: if st.next.is_empty() {
                none.to_owned()
            } else {
                st.next
                    .iter()
                    .map(|k| key_name(Some(&model), k, lang))
                    .collect::<Vec<_>>()
                    .join(lang.t("segment.describe.list_separator"))
            },
            hold: st.hold_days.map_or_else(String::new, |d| {
                format!("{} {}", d, lang.t("lifecycle.days"))
            }),
        })
        .collect();
    Ok(LifecyclePage {
        chrome: Chrome::signed_in(v, "lifecycle", "/lifecycle"),
        csrf: v.session.csrf_token.clone(),
        writer: v.access.may_manage_segments(),
        enabled: saved.is_some(),
        version: saved.as_ref().map_or(0, |m| m.version),
        waiting: lang.number(
            s.store
                .evaluations_waiting(org, s.now())
                .await
                .map_err(store_err)?,
        ),
        unstaged: lang.number(unstaged),
        height: (funnel_rows.len() as i64 * ROW_H).max(ROW_H),
        funnel: funnel_rows,
        stages,
        model: serde_json::to_string_pretty(&saved.map_or_else(|| model.to_json(), |m| m.json))
            .unwrap_or_default(),
        error: None,
    })
}

pub async fn show(State(s): State<AppState>, v: Viewer) -> Result<Response, PageError> {
    Ok(render(&page(&s, &v).await?)?.into_response())
}

#[derive(Deserialize)]
pub struct LifecycleForm {
    #[serde(default)]
    model: String,
    /// `save` or `disable`.
    #[serde(default)]
    action: String,
}

pub async fn submit(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<LifecycleForm>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    if !v.access.may_manage_segments() {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "lifecycle change refused: role may not manage it"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let org = v.org();
    if fields.action == "disable" {
        s.store
            .disable_lifecycle(org)
            .await
            .map_err(|e| PageError::from_store(e, lang))?;
        tracing::info!(
            org.id = org.0,
            user.id = v.user.id.0,
            "lifecycle switched off"
        );
        return Ok(Redirect::to("/lifecycle").into_response());
    }
    let store = &s.store;
    let checked = super::model_text::checked(&fields.model, lang, |json| async move {
        checked_model(store, org, &json).await
    })
    .await?;
    match checked {
        Ok(model) => {
            let version = s
                .store
                .set_lifecycle(org, &model, s.now())
                .await
                .map_err(|e| PageError::from_store(e, lang))?;
            tracing::info!(
                org.id = org.0,
                user.id = v.user.id.0,
                version,
                "lifecycle model saved"
            );
            Ok(Redirect::to("/lifecycle").into_response())
        }
        Err(e) => {
            let mut p = page(&s, &v).await?;
            p.model = fields.model;
            p.error = Some(e);
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
    }
}

/// A contact's stage as the 360° page shows it.
pub struct StageView {
    /// The stage's name; empty: none.
    pub name: String,
    pub since: String,
    /// (from, to, when, cause, reason)
    pub history: Vec<(String, String, String, &'static str, String)>,
    /// (key, name) of the stages a manual move may go to, if the viewer may move the contact.
    pub moves: Vec<(String, String)>,
}

/// The stage section of a contact's page; `None` when stages were never used for it (switched
/// off and no stage stored).
pub async fn contact_stage(
    s: &AppState,
    v: &Viewer,
    id: ContactId,
    stage: Option<&str>,
    stage_at: Option<i64>,
    may_write: bool,
) -> Result<Option<StageView>, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let saved = s.store.lifecycle(v.org()).await.map_err(store_err)?;
    if saved.is_none() && stage.is_none() {
        return Ok(None);
    }
    let model = saved.as_ref().map(|m| &m.model);
    let history: Vec<StageTransition> = s
        .store
        .stage_history(v.org(), id, 50)
        .await
        .map_err(store_err)?;
    let moves = match model {
        Some(m) if may_write => m
            .stages
            .iter()
            .filter(|st| stage != Some(st.key.as_str()) && m.allows(stage, &st.key))
            .map(|st| (st.key.clone(), stage_name(st, lang)))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Some(StageView {
        name: stage.map_or_else(String::new, |k| key_name(model, k, lang)),
        since: stage_at.map_or_else(String::new, |t| v.local().datetime(t)),
        history: history
            .into_iter()
            .map(|t| {
                (
                    t.from.as_deref().map_or_else(
                        || lang.t("contact.none").to_owned(),
                        |k| key_name(model, k, lang),
                    ),
                    key_name(model, &t.to, lang),
                    v.local().datetime(t.at),
                    cause_key(t.cause),
                    t.reason.unwrap_or_default(),
                )
            })
            .collect(),
        moves,
    }))
}

fn cause_key(c: Cause) -> &'static str {
    match c {
        Cause::Rule => "lifecycle.cause.rule",
        Cause::User => "lifecycle.cause.user",
        Cause::Api => "lifecycle.cause.api",
        Cause::Crm => "lifecycle.cause.crm",
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    stage: String,
    #[serde(default)]
    reason: String,
}

/// Moves a contact by hand from its page.
pub async fn move_contact(
    State(s): State<AppState>,
    Path(id): Path<String>,
    SignedForm { viewer: v, fields }: SignedForm<MoveForm>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    if !v.access.may(Permission::ContactsWrite) {
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let id: ContactId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| PageError::BadRequest(lang, e.to_string()))?;
    let id = s
        .store
        .resolve_contact_id(org, id)
        .await
        .map_err(store_err)?;
    let placement = s
        .store
        .contact_placement(org, id)
        .await
        .map_err(store_err)?;
    if !v
        .access
        .may_on_contact(Permission::ContactsWrite, placement)
    {
        tracing::info!(
            org.id = org.0,
            user.id = v.user.id.0,
            contact.id = id.0,
            "stage move refused: role or business unit"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let saved = s
        .store
        .lifecycle(org)
        .await
        .map_err(store_err)?
        .ok_or_else(|| PageError::BadRequest(lang, lang.t("lifecycle.off").to_owned()))?;
    let reason = fields.reason.trim();
    if reason.chars().count() > hatchery_domain::lifecycle::limits::MAX_REASON_CHARS {
        return Err(PageError::BadRequest(
            lang,
            lang.t("lifecycle.reason_too_long").to_owned(),
        ));
    }
    s.store
        .move_stage(
            org,
            id,
            &saved.model,
            &ManualMove {
                to: fields.stage.trim(),
                cause: Cause::User,
                user: Some(v.user.id),
                reason: Some(reason).filter(|r| !r.is_empty()),
            },
            s.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => PageError::BadRequest(lang, m),
            other => PageError::from_store(other, lang),
        })?;
    tracing::info!(
        org.id = org.0,
        user.id = v.user.id.0,
        contact.id = id.0,
        "stage moved by hand"
    );
    Ok(Redirect::to(&format!("/contacts/{id}")).into_response())
}
