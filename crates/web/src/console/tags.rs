//! The Tags page: every tag grouped by its category (industry, role, need, value, stage — or the
//! organisation's own), with how many contacts carry it. Writers (`Access::may_manage_segments`)
//! create tags in a category and move tags between categories. Tags are put on contacts from the
//! contacts list (bulk), by import and by the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::session::{SignedForm, Viewer};
use crate::api::tags::{check_category, check_tag_name, SUGGESTED_CATEGORIES};
use crate::AppState;

/// The rules a first visit starts from.
const RULES_EXAMPLE: &str = r#"{
  "rules": [
    {"tag": "大客户", "category": "value", "when": {"field": "company_size", "op": "in", "value": ["1000-4999", "5000+"]}},
    {"tag": "高意向", "category": "need", "when": {"event": {"name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}}
  ]
}"#;

/// A category's label in the viewer's language (the text itself for the organisation's own).
pub fn category_label(c: Option<&str>, lang: Lang) -> String {
    match c {
        None => lang.t("tags.uncategorised").to_owned(),
        Some("industry") => lang.t("tags.category.industry").to_owned(),
        Some("role") => lang.t("tags.category.role").to_owned(),
        Some("need") => lang.t("tags.category.need").to_owned(),
        Some("value") => lang.t("tags.category.value").to_owned(),
        Some("stage") => lang.t("tags.category.stage").to_owned(),
        Some(other) => other.to_owned(),
    }
}

struct TagRow {
    id: i64,
    name: String,
    contacts: String,
    category: String,
}

struct Group {
    label: String,
    tags: Vec<TagRow>,
}

#[derive(Template)]
#[template(path = "tags.html")]
struct TagsPage {
    chrome: Chrome,
    csrf: String,
    writer: bool,
    groups: Vec<Group>,
    /// (value, label) of the suggested categories.
    suggested: Vec<(&'static str, String)>,
    error: Option<String>,
    /// (tag, criteria in words) of the tag rules.
    rules: Vec<(String, String)>,
    rules_json: String,
    rules_error: Option<String>,
}

async fn page(s: &AppState, v: &Viewer) -> Result<TagsPage, PageError> {
    let lang = v.lang;
    let tags = s
        .store
        .list_tags(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let mut groups: Vec<(Option<String>, Group)> = Vec::new();
    for t in tags {
        let row = TagRow {
            id: t.id,
            name: t.name,
            contacts: lang.number(t.contacts.unwrap_or(0)),
            category: t.category.clone().unwrap_or_default(),
        };
        match groups.iter_mut().find(|g| g.0 == t.category) {
            Some(g) => g.1.tags.push(row),
            None => groups.push((
                t.category.clone(),
                Group {
                    label: category_label(t.category.as_deref(), lang),
                    tags: vec![row],
                },
            )),
        }
    }
    // Suggested categories first, in their order; the organisation's own next; none last.
    groups.sort_by_key(|(c, _)| match c.as_deref() {
        None => (2, usize::MAX, String::new()),
        Some(c) => match SUGGESTED_CATEGORIES.iter().position(|s| *s == c) {
            Some(i) => (0, i, String::new()),
            None => (1, 0, c.to_owned()),
        },
    });
    let saved = s
        .store
        .tag_rules(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let (rules, rules_json) = match saved {
        Some((r, json, _)) => (
            r.rules
                .iter()
                .map(|x| {
                    (
                        x.tag.clone(),
                        super::segments::describe::describe(&x.when, v.local()),
                    )
                })
                .collect(),
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        ),
        None => (Vec::new(), RULES_EXAMPLE.to_owned()),
    };
    Ok(TagsPage {
        rules,
        rules_json,
        rules_error: None,
        chrome: Chrome::signed_in(v, "segments", "/tags"),
        csrf: v.session.csrf_token.clone(),
        writer: v.access.may_manage_segments(),
        groups: groups.into_iter().map(|g| g.1).collect(),
        suggested: SUGGESTED_CATEGORIES
            .iter()
            .map(|c| (*c, category_label(Some(c), lang)))
            .collect(),
        error: None,
    })
}

pub async fn show(State(s): State<AppState>, v: Viewer) -> Result<Response, PageError> {
    Ok(render(&page(&s, &v).await?)?.into_response())
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    category: String,
}

fn writer(v: &Viewer) -> Result<(), PageError> {
    if v.access.may_manage_segments() {
        Ok(())
    } else {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "tag change refused: role may not manage tags"
        );
        Err(PageError::Forbidden(v.lang, "error.forbidden.body"))
    }
}

async fn refused(s: &AppState, v: &Viewer, message: String) -> Result<Response, PageError> {
    let mut p = page(s, v).await?;
    p.error = Some(message);
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
}

/// Creates a tag in a category (or puts an existing tag of that name in it).
pub async fn create(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<TagForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    if let Err(m) = check_tag_name(&fields.name) {
        return refused(&s, &v, format!("{}: {m}", lang.t("tags.name"))).await;
    }
    let category = match check_category(Some(&fields.category)) {
        Ok(c) => c,
        Err(m) => return refused(&s, &v, format!("{}: {m}", lang.t("tags.category"))).await,
    };
    let store_err = |e| PageError::from_store(e, lang);
    let tag = s
        .store
        .ensure_tag(v.org(), fields.name.trim(), category, s.now())
        .await
        .map_err(store_err)?;
    s.store
        .set_tag_category(v.org(), tag.id, category)
        .await
        .map_err(store_err)?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        tag.id = tag.id,
        "tag saved"
    );
    Ok(Redirect::to("/tags").into_response())
}

/// Moves a tag to another category.
pub async fn set_category(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    SignedForm { viewer: v, fields }: SignedForm<TagForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let category = match check_category(Some(&fields.category)) {
        Ok(c) => c,
        Err(m) => return refused(&s, &v, format!("{}: {m}", lang.t("tags.category"))).await,
    };
    s.store
        .set_tag_category(v.org(), id, category)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        tag.id = id,
        "tag category changed"
    );
    Ok(Redirect::to("/tags").into_response())
}

#[derive(Deserialize)]
pub struct RulesForm {
    #[serde(default)]
    model: String,
}

/// Saves the tag rules.
pub async fn save_rules(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<RulesForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let store = &s.store;
    let org = v.org();
    let checked = super::model_text::checked(&fields.model, lang, |json| async move {
        crate::api::tags::checked_rules(store, org, &json).await
    })
    .await?;
    match checked {
        Ok(rules) => {
            let version = s
                .store
                .set_tag_rules(v.org(), &rules, s.now())
                .await
                .map_err(|e| PageError::from_store(e, lang))?;
            tracing::info!(
                org.id = v.org().0,
                user.id = v.user.id.0,
                version,
                "tag rules saved"
            );
            Ok(Redirect::to("/tags").into_response())
        }
        Err(e) => {
            let mut p = page(&s, &v).await?;
            p.rules_json = fields.model;
            p.rules_error = Some(e);
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&p)?).into_response())
        }
    }
}
