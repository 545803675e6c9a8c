//! The Scoring page: the organisation's lead-scoring model (docs/scoring.md) as JSON, checked with
//! the errors' paths before it is saved, the progress of the re-score a save starts, and a
//! "test against a contact" box that scores one contact with the model being edited — nothing is
//! stored by a test.
//!
//! Everyone who reads contacts reads the model; saving and testing a draft take
//! `Access::may_manage_segments` (the same writers as segments). A tested contact must be one the
//! user may see.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::scoring::ScoringModel;
use hatchery_domain::{ContactId, Permission};
use hatchery_store::segments::membership::SnapshotNeeds;
use serde::Deserialize;

use super::page::{render, Chrome, PageError};
use super::session::{SignedForm, Viewer};
use crate::AppState;

/// The model a first visit starts from: one rule of each kind.
const EXAMPLE_MODEL: &str = r#"{
  "fit": [
    {"name": "目标行业", "when": {"field": "industry", "op": "in", "value": ["软件", "制造业"]}, "points": 40},
    {"name": "决策者", "when": {"field": "title", "op": "contains", "value": "总"}, "points": 30}
  ],
  "engagement": [
    {"name": "查看报价页", "event": {"kind": "page", "name": "Pricing"}, "points": 10, "cap": {"points": 30, "per_days": 7}},
    {"name": "申请试用", "event": {"kind": "track", "name": "Trial Requested"}, "points": 40}
  ],
  "half_life_days": 30,
  "thresholds": [{"score": "engagement", "value": 50}]
}"#;

/// A contact scored by the test box.
struct TestResult {
    contact: String,
    fit: String,
    engagement: String,
    grade: &'static str,
    reasons: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "scoring.html")]
struct ScoringPage {
    chrome: Chrome,
    csrf: String,
    writer: bool,
    model: String,
    version: i64,
    waiting: String,
    notice: Option<&'static str>,
    error: Option<String>,
    contact: String,
    contact_error: Option<String>,
    result: Option<TestResult>,
}

async fn page(s: &AppState, v: &Viewer) -> Result<ScoringPage, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let saved = s.store.scoring_model(v.org()).await.map_err(store_err)?;
    let waiting = s
        .store
        .evaluations_waiting(v.org(), s.now())
        .await
        .map_err(store_err)?;
    Ok(ScoringPage {
        chrome: Chrome::signed_in(v, "scoring", "/scoring"),
        csrf: v.session.csrf_token.clone(),
        writer: v.access.may_manage_segments(),
        version: saved.as_ref().map_or(0, |m| m.version),
        model: saved.map_or_else(
            || EXAMPLE_MODEL.to_owned(),
            |m| serde_json::to_string_pretty(&m.json).unwrap_or_default(),
        ),
        waiting: lang.number(waiting),
        notice: None,
        error: None,
        contact: String::new(),
        contact_error: None,
        result: None,
    })
}

pub async fn show(State(s): State<AppState>, v: Viewer) -> Result<Response, PageError> {
    Ok(render(&page(&s, &v).await?)?.into_response())
}

#[derive(Deserialize)]
pub struct ScoringForm {
    #[serde(default)]
    model: String,
    #[serde(default)]
    contact: String,
    /// `save` or `test`.
    #[serde(default)]
    action: String,
}

pub async fn submit(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<ScoringForm>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    if !v.access.may_manage_segments() {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "scoring change refused: role may not manage it"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let mut p = page(&s, &v).await?;
    p.model.clone_from(&fields.model);
    p.contact = fields.contact.trim().to_owned();
    let parsed = super::model_text::model_json(&fields.model, lang).and_then(|json| {
        ScoringModel::parse(&json)
            .map(|m| (json, m))
            .map_err(|e| format!("{} {e}", lang.t("scoring.invalid")))
    });
    let (json, model) = match parsed {
        Ok(x) => x,
        Err(e) => {
            p.error = Some(e);
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response());
        }
    };
    if fields.action == "save" {
        let version = s
            .store
            .set_scoring_model(v.org(), &json, s.now())
            .await
            .map_err(|e| PageError::from_store(e, lang))?;
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            version,
            "scoring model saved"
        );
        return Ok(Redirect::to("/scoring").into_response());
    }
    // A test: score one contact the user may see with the draft, store nothing.
    let id: Result<ContactId, _> = p.contact.parse();
    let Ok(id) = id else {
        p.contact_error = Some(lang.t("scoring.bad_contact").to_owned());
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response());
    };
    let store_err = |e| PageError::from_store(e, lang);
    let id = s
        .store
        .resolve_contact_id(v.org(), id)
        .await
        .map_err(store_err)?;
    let placement = s
        .store
        .contact_placement(v.org(), id)
        .await
        .map_err(store_err)?;
    if !v.access.may_on_contact(Permission::ContactsRead, placement) {
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let now = s.now();
    let snapshot = s
        .store
        .contact_snapshots(
            v.org(),
            &[id],
            SnapshotNeeds::all(model.events_needed_since(now)),
        )
        .await
        .map_err(store_err)?
        .remove(&id)
        .ok_or_else(|| {
            PageError::from_store(hatchery_store::StoreError::NotFound("contact"), lang)
        })?;
    let scored = model.score(&snapshot, now);
    p.result = Some(TestResult {
        contact: id.to_string(),
        fit: lang.decimal(scored.fit),
        engagement: lang.decimal(scored.engagement),
        grade: scored.grade.as_str(),
        reasons: scored
            .reasons
            .into_iter()
            .map(|r| {
                let sign = if r.points >= 0.0 { "+" } else { "" };
                (r.rule, format!("{sign}{}", lang.decimal(r.points)))
            })
            .collect(),
    });
    p.notice = Some("scoring.tested");
    Ok(render(&p)?.into_response())
}
