//! API keys (scoped, for the REST API) and tracking sources (write keys, for `/v1/*`): list,
//! create — the secret is shown once, on the page the creation redirects to — and revoke or
//! disable after a confirmation page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::ids::{ApiKeyId, SourceId};
use hatchery_domain::Permission;
use hatchery_store::keys::Scope;
use serde::Deserialize;

use super::super::i18n::{Lang, Local};
use super::super::page::{render, Chrome, PageError};
use super::super::session::{SignedForm, Viewer};
use super::{
    base_url, hand_over_secret, name_ok, notice, require, tabs, take_secret, Tab, MAX_NAME,
};
use crate::api::admin::SOURCE_KINDS;
use crate::AppState;

type PageResult = Result<Response, PageError>;

#[derive(Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    revoked: String,
    live: bool,
}

struct ScopeChoice {
    value: &'static str,
    field: &'static str,
    checked: bool,
}

/// A secret just created, shown on this page view only.
struct NewSecret {
    item: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "settings_keys.html")]
struct KeysPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    new_secret: Option<NewSecret>,
    rows: Vec<KeyRow>,
    errors: Vec<&'static str>,
    name: String,
    scopes: Vec<ScopeChoice>,
    base: String,
}

/// The form field of each scope: one checkbox per scope (a plain form cannot send a list).
fn scope_field(s: Scope) -> &'static str {
    match s {
        Scope::ContactsRead => "scope_contacts_read",
        Scope::ContactsWrite => "scope_contacts_write",
        Scope::ImportsWrite => "scope_imports_write",
        Scope::Admin => "scope_admin",
    }
}

fn when(local: Local, t: Option<i64>) -> String {
    t.map(|t| local.datetime(t)).unwrap_or_default()
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page, its form state and its notices"
)]
async fn keys_page(
    s: &AppState,
    v: &Viewer,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    new_secret: Option<NewSecret>,
    errors: Vec<&'static str>,
    name: String,
    chosen: &[Scope],
) -> Result<KeysPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let keys = s
        .store
        .list_api_keys(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let rows = keys
        .into_iter()
        .rev()
        .map(|k| KeyRow {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            scopes: k
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            created: local.datetime(k.created_at),
            last_used: when(local, k.last_used_at),
            revoked: when(local, k.revoked_at),
            live: k.revoked_at.is_none(),
        })
        .collect();
    Ok(KeysPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/api-keys"),
        tabs: tabs("keys"),
        csrf: v.session.csrf_token.clone(),
        notice,
        new_secret,
        rows,
        errors,
        name,
        scopes: Scope::ALL
            .into_iter()
            .map(|sc| ScopeChoice {
                value: sc.as_str(),
                field: scope_field(sc),
                checked: chosen.contains(&sc),
            })
            .collect(),
        base: base_url(headers),
    })
}

const KEY_NOTICES: [(&str, &str); 2] = [
    ("created", "settings.key_created"),
    ("revoked", "settings.key_revoked"),
];

pub async fn api_keys(
    State(s): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let taken = take_secret(&headers, "key_");
    let (new_secret, gone) = match taken {
        Some((item, secret, gone)) => (Some(NewSecret { item, secret }), Some(gone)),
        None => (None, None),
    };
    let page = keys_page(
        &s,
        &v,
        &headers,
        notice(q.done.as_deref(), &KEY_NOTICES),
        new_secret,
        vec![],
        String::new(),
        &[Scope::ContactsRead],
    )
    .await?;
    let mut r = render(&page)?.into_response();
    if let Some(c) = gone {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    name: String,
    scope_contacts_read: Option<String>,
    scope_contacts_write: Option<String>,
    scope_imports_write: Option<String>,
    scope_admin: Option<String>,
}

pub async fn create_api_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: SignedForm<NewKeyForm>,
) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let scopes: Vec<Scope> = [
        (Scope::ContactsRead, &f.scope_contacts_read),
        (Scope::ContactsWrite, &f.scope_contacts_write),
        (Scope::ImportsWrite, &f.scope_imports_write),
        (Scope::Admin, &f.scope_admin),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(sc, _)| sc)
    .collect();
    let mut errors = vec![];
    if !name_ok(&f.name, MAX_NAME) {
        errors.push("settings.error.name");
    }
    if scopes.is_empty() {
        errors.push("settings.error.scopes");
    }
    if !errors.is_empty() {
        let page = keys_page(&s, &v, &headers, None, None, errors, f.name, &scopes).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let (key, secret) = s
        .store
        .create_api_key(v.org(), f.name.trim(), &scopes, s.now())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        api_key.id = key.id.0,
        "API key created in the console"
    );
    let mut r = Redirect::to("/settings/api-keys?done=created").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        hand_over_secret(&headers, &key.id.to_string(), &secret),
    );
    Ok(r)
}

#[derive(Template)]
#[template(path = "settings_confirm.html")]
pub(super) struct ConfirmPage {
    pub chrome: Chrome,
    pub tabs: Vec<Tab>,
    pub csrf: String,
    pub title: &'static str,
    pub question: &'static str,
    pub subject: String,
    pub action: String,
    pub button: &'static str,
    pub back: &'static str,
}

pub(super) fn parse_id<T: std::str::FromStr>(raw: &str, lang: Lang) -> Result<T, PageError> {
    raw.parse().map_err(|_| PageError::NotFound(lang))
}

pub async fn revoke_key_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let id: ApiKeyId = parse_id(&id, lang)?;
    let key = s
        .store
        .list_api_keys(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?
        .into_iter()
        .find(|k| k.id == id && k.revoked_at.is_none())
        .ok_or(PageError::NotFound(lang))?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/api-keys"),
        tabs: tabs("keys"),
        csrf: v.session.csrf_token.clone(),
        title: "settings.revoke_key",
        question: "settings.revoke_key_question",
        subject: format!("{} ({}…)", key.name, key.prefix),
        action: format!("/settings/api-keys/{id}/revoke"),
        button: "settings.revoke",
        back: "/settings/api-keys",
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn revoke_key(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let id: ApiKeyId = parse_id(&id, lang)?;
    s.store
        .revoke_api_key(v.org(), id, s.now())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        api_key.id = id.0,
        "API key revoked in the console"
    );
    Ok(Redirect::to("/settings/api-keys?done=revoked").into_response())
}

struct SourceRow {
    id: String,
    name: String,
    kind: String,
    prefix: String,
    created: String,
    last_used: String,
    disabled: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "settings_sources.html")]
struct SourcesPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    new_secret: Option<NewSecret>,
    rows: Vec<SourceRow>,
    errors: Vec<&'static str>,
    name: String,
    kind: String,
    kinds: &'static [&'static str],
    base: String,
}

impl SourcesPage {
    /// The analytics.js (Segment-compatible) setup for a website, sending to this instance.
    fn browser_snippet(&self, key: &str) -> String {
        let (scheme, host) = self.base.split_once("://").unwrap_or(("https", &self.base));
        format!(
            "import {{ AnalyticsBrowser }} from '@segment/analytics-next'\n\n\
             export const analytics = AnalyticsBrowser.load(\n  \
             {{ writeKey: '{key}', cdnSettings: {{ integrations: {{ 'Segment.io': {{ apiKey: '{key}' }} }} }} }},\n  \
             {{ integrations: {{ 'Segment.io': {{ apiHost: '{host}/v1', protocol: '{scheme}' }} }} }},\n)\n\
             analytics.page()"
        )
    }

    /// A `curl` call to `/v1/track`, to try the key from a shell or a server.
    fn curl_snippet(&self, key: &str) -> String {
        format!(
            "curl -u '{key}:' -H 'Content-Type: application/json' \\\n  \
             -d '{{\"userId\":\"u-42\",\"event\":\"Requested Trial\",\"properties\":{{\"plan\":\"pro\"}}}}' \\\n  \
             {}/v1/track",
            self.base
        )
    }
}

const SOURCE_NOTICES: [(&str, &str); 2] = [
    ("created", "settings.source_created"),
    ("disabled", "settings.source_disabled"),
];

#[expect(
    clippy::too_many_arguments,
    reason = "one page, its form state and its notices"
)]
async fn sources_page(
    s: &AppState,
    v: &Viewer,
    headers: &HeaderMap,
    notice: Option<&'static str>,
    new_secret: Option<NewSecret>,
    errors: Vec<&'static str>,
    name: String,
    kind: String,
) -> Result<SourcesPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let sources = s
        .store
        .list_sources(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let rows = sources
        .into_iter()
        .rev()
        .map(|x| SourceRow {
            id: x.id.to_string(),
            name: x.name,
            kind: x.kind,
            prefix: x.prefix,
            created: local.datetime(x.created_at),
            last_used: when(local, x.last_used_at),
            disabled: when(local, x.disabled_at),
            live: x.disabled_at.is_none(),
        })
        .collect();
    Ok(SourcesPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/sources"),
        tabs: tabs("sources"),
        csrf: v.session.csrf_token.clone(),
        notice,
        new_secret,
        rows,
        errors,
        name,
        kind,
        kinds: &SOURCE_KINDS,
        base: base_url(headers),
    })
}

pub async fn sources(
    State(s): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let (new_secret, gone) = match take_secret(&headers, "src_") {
        Some((item, secret, gone)) => (Some(NewSecret { item, secret }), Some(gone)),
        None => (None, None),
    };
    let page = sources_page(
        &s,
        &v,
        &headers,
        notice(q.done.as_deref(), &SOURCE_NOTICES),
        new_secret,
        vec![],
        String::new(),
        "website".into(),
    )
    .await?;
    let mut r = render(&page)?.into_response();
    if let Some(c) = gone {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct NewSourceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

pub async fn create_source(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: SignedForm<NewSourceForm>,
) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let mut errors = vec![];
    if !name_ok(&f.name, MAX_NAME) {
        errors.push("settings.error.name");
    }
    if !SOURCE_KINDS.contains(&f.kind.as_str()) {
        errors.push("settings.error.kind");
    }
    if !errors.is_empty() {
        let page = sources_page(&s, &v, &headers, None, None, errors, f.name, f.kind).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let (source, secret) = s
        .store
        .create_source(v.org(), f.name.trim(), &f.kind, s.now())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        source.id = source.id.0,
        "tracking source created in the console"
    );
    let mut r = Redirect::to("/settings/sources?done=created").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        hand_over_secret(&headers, &source.id.to_string(), &secret),
    );
    Ok(r)
}

pub async fn disable_source_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let id: SourceId = parse_id(&id, lang)?;
    let source = s
        .store
        .list_sources(v.org())
        .await
        .map_err(|e| PageError::from_store(e, lang))?
        .into_iter()
        .find(|x| x.id == id && x.disabled_at.is_none())
        .ok_or(PageError::NotFound(lang))?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/sources"),
        tabs: tabs("sources"),
        csrf: v.session.csrf_token.clone(),
        title: "settings.disable_source",
        question: "settings.disable_source_question",
        subject: format!("{} ({}…)", source.name, source.prefix),
        action: format!("/settings/sources/{id}/disable"),
        button: "settings.disable",
        back: "/settings/sources",
    };
    Ok(render(&page)?.into_response())
}

pub async fn disable_source(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let id: SourceId = parse_id(&id, lang)?;
    s.store
        .disable_source(v.org(), id, s.now())
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    // The tracking endpoints cache write keys; forget them so this one is refused at once.
    s.write_keys.clear().await;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        source.id = id.0,
        "tracking source disabled in the console"
    );
    Ok(Redirect::to("/settings/sources?done=disabled").into_response())
}
