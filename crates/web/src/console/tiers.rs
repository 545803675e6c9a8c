//! The Tiers page (客户分层) and a contact's tiers.
//!
//! `/tiers` shows, for every dimension of the tier model, how many contacts are in each tier (bars
//! drawn on the server as SVG) and the tiers' criteria in words; writers
//! (`Access::may_manage_segments`, as for scoring and lifecycle) edit the model as JSON
//! (docs/tiers.md), save it — checked as the API checks it — or switch tiers off.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::tiers::TierModel;
use hatchery_domain::ContactId;

use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::segments::describe::describe;
use super::session::{SignedForm, Viewer};
use crate::api::tiers::{checked_model, counts};
use crate::AppState;

fn local(name: &str, zh: &Option<String>, lang: Lang) -> String {
    match (lang, zh) {
        (Lang::Zh, Some(z)) => z.clone(),
        _ => name.to_owned(),
    }
}

/// One tier in the overview.
struct TierRow {
    name: String,
    key: String,
    criteria: String,
    contacts: String,
    /// Bar width in the picture's units (out of 360).
    w: i64,
    y: i64,
}

struct DimensionView {
    name: String,
    key: String,
    tiers: Vec<TierRow>,
    height: i64,
}

#[derive(Template)]
#[template(path = "tiers.html")]
struct TiersPage {
    chrome: Chrome,
    csrf: String,
    writer: bool,
    enabled: bool,
    version: i64,
    waiting: String,
    dimensions: Vec<DimensionView>,
    model: String,
    error: Option<String>,
}

const ROW_H: i64 = 30;

async fn page(s: &AppState, v: &Viewer) -> Result<TiersPage, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let org = v.org();
    let saved = s.store.tier_model(org).await.map_err(store_err)?;
    let model = saved
        .as_ref()
        .map_or_else(TierModel::default_model, |m| m.model.clone());
    let counted = if saved.is_some() {
        counts(&s.store, org, &model).await.map_err(store_err)?
    } else {
        Vec::new()
    };
    let dimensions = model
        .dimensions
        .iter()
        .map(|d| {
            let n = |t: &str| {
                counted
                    .iter()
                    .find(|c| c.dimension == d.key && c.tier == t)
                    .map_or(0, |c| c.contacts)
            };
            let max = d.tiers.iter().map(|t| n(&t.key)).max().unwrap_or(0).max(1);
            let tiers: Vec<TierRow> = d
                .tiers
                .iter()
                .enumerate()
                .map(|(i, t)| TierRow {
                    name: local(&t.name, &t.name_zh, lang),
                    key: t.key.clone(),
                    criteria: t.when.as_ref().map_or_else(
                        || lang.t("tiers.everyone_else").to_owned(),
                        |f| describe(f, v.local()),
                    ),
                    contacts: lang.number(n(&t.key)),
                    w: (n(&t.key) * 360 / max).max(2),
                    y: i as i64 * ROW_H,
                })
                .collect();
            DimensionView {
                name: local(&d.name, &d.name_zh, lang),
                key: d.key.clone(),
                height: (tiers.len() as i64 * ROW_H).max(ROW_H),
                tiers,
            }
        })
        .collect();
    Ok(TiersPage {
        chrome: Chrome::signed_in(v, "tiers", "/tiers"),
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
        dimensions,
        model: serde_json::to_string_pretty(&saved.map_or_else(|| model.to_json(), |m| m.json))
            .unwrap_or_default(),
        error: None,
    })
}

pub async fn show(State(s): State<AppState>, v: Viewer) -> Result<Response, PageError> {
    Ok(render(&page(&s, &v).await?)?.into_response())
}

#[derive(serde::Deserialize)]
pub struct TiersForm {
    #[serde(default)]
    model: String,
    /// `save` or `disable`.
    #[serde(default)]
    action: String,
}

pub async fn submit(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<TiersForm>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    if !v.access.may_manage_segments() {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "tier change refused: role may not manage it"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    if fields.action == "disable" {
        s.store.disable_tiers(org).await.map_err(store_err)?;
        tracing::info!(org.id = org.0, user.id = v.user.id.0, "tiers switched off");
        return Ok(Redirect::to("/tiers").into_response());
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
                .set_tier_model(org, &model, s.now())
                .await
                .map_err(store_err)?;
            tracing::info!(
                org.id = org.0,
                user.id = v.user.id.0,
                version,
                "tier model saved"
            );
            Ok(Redirect::to("/tiers").into_response())
        }
        Err(e) => {
            let mut p = page(&s, &v).await?;
            p.model = fields.model;
            p.error = Some(e);
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
    }
}

/// A contact's tiers for its 360° page: `(dimension name, tier name, since)` and its referral
/// count; `None` when tiers are off.
pub async fn contact_tiers(
    s: &AppState,
    v: &Viewer,
    id: ContactId,
) -> Result<Option<(Vec<(String, String, String)>, u32)>, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let Some(saved) = s.store.tier_model(v.org()).await.map_err(store_err)? else {
        return Ok(None);
    };
    let tiers = s
        .store
        .contact_tiers(v.org(), id)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|t| {
            let dim = saved.model.dimension(&t.dimension);
            let tier = dim.and_then(|d| d.tiers.iter().find(|x| x.key == t.tier));
            (
                dim.map_or_else(|| t.dimension.clone(), |d| local(&d.name, &d.name_zh, lang)),
                tier.map_or_else(|| t.tier.clone(), |x| local(&x.name, &x.name_zh, lang)),
                v.local().datetime(t.since),
            )
        })
        .collect();
    let referrals = s
        .store
        .referral_counts(v.org(), &[id])
        .await
        .map_err(store_err)?
        .remove(&id)
        .unwrap_or(0);
    Ok(Some((tiers, referrals)))
}
