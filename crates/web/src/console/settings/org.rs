//! The organisation (its name; the id is shown, not changed), its identity-resolution rules
//! (shown as a table, edited as JSON checked by the domain's own validation) and its custom
//! fields.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::ids::FieldId;
use hatchery_domain::{IdentityRules, Permission, StandardField};
use hatchery_store::fields::{CustomField, FieldType};
use hatchery_store::StoreError;
use serde::Deserialize;

use super::super::page::{render, Chrome, PageError};
use super::super::session::{SignedForm, Viewer};
use super::keys::{parse_id, ConfirmPage, DoneQuery, Empty};
use super::{name_ok, notice, require, tabs, Tab};
use crate::AppState;

type PageResult = Result<Response, PageError>;

/// Organisation names may be longer than other names (a group company's full legal name).
const MAX_ORG_NAME: usize = 200;
/// A rule set is small; anything bigger than this is not one.
const MAX_RULES_JSON: usize = 64 * 1024;

struct RuleRow {
    kind: String,
    priority: u32,
    max: String,
    merges_known: bool,
}

#[derive(Template)]
#[template(path = "settings_org.html")]
struct OrgPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    id: String,
    name: String,
    created: String,
    rules: Vec<RuleRow>,
    blocked: String,
    rules_json: String,
    /// Why the submitted rules were refused, as the parser or validation put it.
    rules_error: Option<String>,
}

const ORG_NOTICES: [(&str, &str); 2] = [
    ("renamed", "settings.org_renamed"),
    ("rules", "settings.rules_saved"),
];

async fn org_page(
    s: &AppState,
    v: &Viewer,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    name: Option<String>,
    rules_text: Option<(String, String)>,
) -> Result<OrgPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let store_err = |e| PageError::from_store(e, lang);
    let org = s.store.get_org(v.org()).await.map_err(store_err)?;
    let rules = s.store.identity_rules(v.org()).await.map_err(store_err)?;
    let mut sorted = rules.rules.clone();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.priority));
    let (rules_json, rules_error) = match rules_text {
        Some((text, error)) => (text, Some(error)),
        None => (
            serde_json::to_string_pretty(&rules).unwrap_or_default(),
            None,
        ),
    };
    Ok(OrgPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/organisation"),
        tabs: tabs("organisation"),
        csrf: v.session.csrf_token.clone(),
        notice,
        errors,
        id: org.id.to_string(),
        name: name.unwrap_or(org.name),
        created: local.datetime(org.created_at),
        rules: sorted
            .into_iter()
            .map(|r| RuleRow {
                kind: lang.identity_kind(r.kind.as_str()),
                priority: r.priority,
                max: r.max_per_contact.map_or_else(
                    || lang.t("settings.unlimited").to_owned(),
                    |m| m.to_string(),
                ),
                merges_known: r.merges_known,
            })
            .collect(),
        blocked: rules.blocked_values.join(", "),
        rules_json,
        rules_error,
    })
}

pub async fn organisation(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let page = org_page(
        &s,
        &v,
        notice(q.done.as_deref(), &ORG_NOTICES),
        vec![],
        None,
        None,
    )
    .await?;
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn rename(State(s): State<AppState>, form: SignedForm<NameForm>) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let name = form.fields.name;
    if !name_ok(&name, MAX_ORG_NAME) {
        let page = org_page(
            &s,
            &v,
            None,
            vec!["settings.error.org_name"],
            Some(name),
            None,
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    s.store
        .rename_org(v.org(), name.trim())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        "organisation renamed in the console"
    );
    Ok(Redirect::to("/settings/organisation?done=renamed").into_response())
}

#[derive(Deserialize)]
pub struct RulesForm {
    #[serde(default)]
    rules: String,
}

/// The rules in a form, or why they cannot be used (in the parser's or validation's words).
fn parse_rules(text: &str) -> Result<IdentityRules, String> {
    if text.len() > MAX_RULES_JSON {
        return Err(format!("JSON > {} KiB", MAX_RULES_JSON / 1024));
    }
    let rules: IdentityRules = serde_json::from_str(text).map_err(|e| format!("JSON: {e}"))?;
    rules.validate().map_err(|e| e.to_string())?;
    Ok(rules)
}

pub async fn set_rules(State(s): State<AppState>, form: SignedForm<RulesForm>) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let text = form.fields.rules;
    let rules = match parse_rules(&text) {
        Ok(r) => r,
        Err(why) => {
            let page = org_page(
                &s,
                &v,
                None,
                vec!["settings.error.rules"],
                None,
                Some((text, why)),
            )
            .await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    s.store
        .set_identity_rules(v.org(), &rules)
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    s.ingestor.rules_changed(v.org()).await;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        "identity rules changed in the console"
    );
    Ok(Redirect::to("/settings/organisation?done=rules").into_response())
}

struct FieldRow {
    id: String,
    key: String,
    label: String,
    field_type: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "settings_fields.html")]
struct FieldsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    rows: Vec<FieldRow>,
    key: String,
    label: String,
    field_type: String,
    types: [&'static str; 4],
}

const FIELD_TYPES: [FieldType; 4] = [
    FieldType::Text,
    FieldType::Number,
    FieldType::Boolean,
    FieldType::Date,
];

async fn fields_page(
    s: &AppState,
    v: &Viewer,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    form: (String, String, String),
) -> Result<FieldsPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let fields = s
        .store
        .list_fields(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    Ok(FieldsPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/fields"),
        tabs: tabs("fields"),
        csrf: v.session.csrf_token.clone(),
        notice,
        errors,
        rows: fields
            .into_iter()
            .map(|f| FieldRow {
                id: f.id.to_string(),
                key: f.key,
                label: f.label,
                field_type: f.field_type.as_str(),
                created: local.datetime(f.created_at),
            })
            .collect(),
        key: form.0,
        label: form.1,
        field_type: form.2,
        types: FIELD_TYPES.map(FieldType::as_str),
    })
}

pub async fn fields(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let page = fields_page(
        &s,
        &v,
        notice(
            q.done.as_deref(),
            &[
                ("created", "settings.field_created"),
                ("deleted", "settings.field_deleted"),
            ],
        ),
        vec![],
        (String::new(), String::new(), "text".into()),
    )
    .await?;
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct NewFieldForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    field_type: String,
}

/// The key rule of the REST API: 1–64 of a–z, 0–9 and `_`, and not a standard field.
fn key_ok(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && StandardField::parse(key).is_none()
}

pub async fn create_field(State(s): State<AppState>, form: SignedForm<NewFieldForm>) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::SettingsManage)?;
    let mut errors = vec![];
    let key = f.key.trim().to_owned();
    if !key_ok(&key) {
        errors.push("settings.error.field_key");
    }
    if !name_ok(&f.label, super::MAX_NAME) {
        errors.push("settings.error.field_label");
    }
    let ty = FieldType::parse(&f.field_type);
    if ty.is_none() {
        errors.push("settings.error.field_type");
    }
    if let (true, Some(ty)) = (errors.is_empty(), ty) {
        match s
            .store
            .create_field(v.org(), &key, f.label.trim(), ty, s.now())
            .await
        {
            Ok(field) => {
                tracing::info!(
                    org.id = v.org().0,
                    user.id = v.user.id.0,
                    field.id = field.id.0,
                    "custom field created in the console"
                );
                return Ok(Redirect::to("/settings/fields?done=created").into_response());
            }
            Err(StoreError::Conflict(_)) => errors.push("settings.error.field_exists"),
            Err(e) => return Err(PageError::from_store(e, v.lang)),
        }
    }
    let page = fields_page(&s, &v, None, errors, (f.key, f.label, f.field_type)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// The definition a path names, in the viewer's organisation (404 otherwise).
async fn field_of(s: &AppState, v: &Viewer, raw: &str) -> Result<CustomField, PageError> {
    let id: FieldId = parse_id(raw, v.lang)?;
    s.store
        .list_fields(v.org())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or(PageError::NotFound(v.lang))
}

pub async fn delete_field_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let field = field_of(&s, &v, &id).await?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/fields"),
        tabs: tabs("fields"),
        csrf: v.session.csrf_token.clone(),
        title: "settings.delete_field",
        question: "settings.delete_field_question",
        subject: format!("{} ({})", field.label, field.key),
        action: format!("/settings/fields/{}/delete", field.id),
        button: "settings.delete",
        back: "/settings/fields",
    };
    Ok(render(&page)?.into_response())
}

/// Deletes a definition. Nothing in the store depends on one: contacts keep the values (they are
/// data, not schema) and segment filters read traits by key whether or not they are defined.
pub async fn delete_field(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let field = field_of(&s, &v, &id).await?;
    s.store
        .delete_field(v.org(), field.id)
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        field.id = field.id.0,
        "custom field deleted in the console"
    );
    Ok(Redirect::to("/settings/fields?done=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_parsed_and_validated_by_the_domain() {
        let good = serde_json::to_string(&IdentityRules::default()).unwrap();
        assert!(parse_rules(&good).is_ok());
        assert!(parse_rules("{").unwrap_err().starts_with("JSON:"));
        let mut missing = IdentityRules::default();
        missing.rules.pop();
        let err = parse_rules(&serde_json::to_string(&missing).unwrap()).unwrap_err();
        assert!(err.contains("every identifier kind"), "{err}");
    }

    #[test]
    fn field_keys_follow_the_api_rule() {
        assert!(key_ok("budget_2026"));
        assert!(!key_ok("Budget"));
        assert!(!key_ok(""));
        assert!(!key_ok(&"k".repeat(65)));
        assert!(!key_ok("email"), "a standard field");
    }
}
