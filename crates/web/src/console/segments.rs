//! The Segments pages: the list of saved segments, the builder (name, description and the filter
//! as JSON, with a preview of the count and the newest matching contacts), and a segment's page
//! (the filter in words, its size over time as an SVG chart, and its members).
//!
//! Everyone who reads contacts reads segments; creating, changing and deleting them takes
//! `Access::may_manage_segments`. Members are shown through the same visibility rules as the
//! contact list, so under a BU-isolated pool a user sees only the members they may see.

mod chart;
mod describe;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use hatchery_domain::ids::{BadId, SegmentId};
use hatchery_domain::segment::{Filter, DAY_MS};
use hatchery_domain::ContactId;
use hatchery_store::segments::{Segment, SegmentChange};
use hatchery_store::StoreError;
use serde::Deserialize;

use super::contacts::visibility;
use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::session::{SignedForm, Viewer};
use crate::AppState;

use chart::Chart;

const PAGE_SIZE: u32 = 50;
/// Contacts a preview shows.
const SAMPLE_SIZE: u32 = 20;
/// Days the size chart covers.
const CHART_DAYS: i64 = 90;
/// The same limits as the REST API (`api::segments`).
const MAX_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The filter a new segment's form starts with: it shows each kind of node once.
const EXAMPLE_FILTER: &str = r#"{"all": [
  {"field": "city", "op": "in", "value": ["深圳", "广州"]},
  {"tag": "KA"},
  {"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}
]}"#;

#[derive(Deserialize)]
pub struct CursorQuery {
    cursor: Option<String>,
}

fn cursor<T: std::str::FromStr<Err = BadId>>(
    c: Option<&str>,
    lang: Lang,
) -> Result<Option<T>, PageError> {
    match c.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse()
            .map(Some)
            .map_err(|e: BadId| PageError::BadRequest(lang, e.to_string())),
        None => Ok(None),
    }
}

fn segment_id(id: &str, lang: Lang) -> Result<SegmentId, PageError> {
    id.parse()
        .map_err(|e: BadId| PageError::BadRequest(lang, e.to_string()))
}

fn status_key(status: &str) -> &'static str {
    if status == "ready" {
        "segment.status.ready"
    } else {
        "segment.status.pending"
    }
}

fn writer(v: &Viewer) -> Result<(), PageError> {
    if v.access.may_manage_segments() {
        Ok(())
    } else {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "segment change refused: role may not manage segments"
        );
        Err(PageError::Forbidden(v.lang, "error.forbidden.body"))
    }
}

struct ListRow {
    href: String,
    name: String,
    description: String,
    status: &'static str,
    members: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct ListPage {
    chrome: Chrome,
    may_write: bool,
    rows: Vec<ListRow>,
    next_href: Option<String>,
    first_href: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<CursorQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    visibility(&v)?;
    let before: Option<SegmentId> = cursor(q.cursor.as_deref(), lang)?;
    let (segments, more) = s
        .store
        .list_segments(v.org(), before, PAGE_SIZE)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let next_href = more
        .then(|| {
            segments
                .last()
                .map(|x| format!("/segments?cursor={}", x.id))
        })
        .flatten();
    let rows = segments
        .into_iter()
        .map(|x| ListRow {
            href: format!("/segments/{}", x.id),
            name: x.name,
            description: x.description.unwrap_or_default(),
            status: status_key(&x.status),
            members: lang.number(x.member_count),
            updated: lang.datetime(x.updated_at),
        })
        .collect();
    let page = ListPage {
        chrome: Chrome::signed_in(&v, "segments", "/segments"),
        may_write: v.access.may_manage_segments(),
        rows,
        next_href,
        first_href: before.map(|_| "/segments".to_owned()),
    };
    Ok(render(&page)?.into_response())
}

/// What the builder form posts.
#[derive(Deserialize, Default)]
pub struct SegmentForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    filter: String,
    /// `preview` re-renders the form with the count and sample; anything else saves.
    #[serde(default)]
    action: String,
}

struct SampleRow {
    href: String,
    name: String,
    detail: String,
}

struct Preview {
    count: String,
    sample: Vec<SampleRow>,
    /// The filter in words, as the segment page will show it.
    words: String,
}

#[derive(Template)]
#[template(path = "segment_form.html")]
struct FormPage {
    chrome: Chrome,
    csrf: String,
    heading: String,
    action: String,
    cancel_href: String,
    name: String,
    description: String,
    filter: String,
    name_error: Option<String>,
    description_error: Option<String>,
    filter_error: Option<String>,
    preview: Option<Preview>,
}

impl FormPage {
    fn new(v: &Viewer, here: &str, heading: String, cancel_href: String, f: SegmentForm) -> Self {
        FormPage {
            chrome: Chrome::signed_in(v, "segments", here),
            csrf: v.session.csrf_token.clone(),
            heading,
            action: here.to_owned(),
            cancel_href,
            name: f.name,
            description: f.description,
            filter: f.filter,
            name_error: None,
            description_error: None,
            filter_error: None,
            preview: None,
        }
    }

    fn has_errors(&self) -> bool {
        self.name_error.is_some() || self.description_error.is_some() || self.filter_error.is_some()
    }
}

pub async fn new_page(v: Viewer) -> Result<Response, PageError> {
    writer(&v)?;
    let page = FormPage::new(
        &v,
        "/segments/new",
        v.lang.t("segment.new").to_owned(),
        "/segments".to_owned(),
        SegmentForm {
            filter: EXAMPLE_FILTER.to_owned(),
            ..SegmentForm::default()
        },
    );
    Ok(render(&page)?.into_response())
}

pub async fn edit_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let seg = s
        .store
        .get_segment(v.org(), segment_id(&id, lang)?)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let page = FormPage::new(
        &v,
        &format!("/segments/{}/edit", seg.id),
        format!("{}: {}", lang.t("segment.edit"), seg.name),
        format!("/segments/{}", seg.id),
        SegmentForm {
            filter: serde_json::to_string_pretty(&seg.filter).unwrap_or_default(),
            name: seg.name,
            description: seg.description.unwrap_or_default(),
            action: String::new(),
        },
    );
    Ok(render(&page)?.into_response())
}

/// What a valid form says.
struct Checked {
    name: String,
    description: Option<String>,
    filter: Filter,
}

/// Reads the filter text; the error, framed in the user's language, names the offending part
/// by its path (`filter.all[2].any[0].field`) as the REST API does.
fn parse_filter(text: &str, lang: Lang) -> Result<Filter, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{} {e}", lang.t("segment.error.json")))?;
    Filter::parse(&json).map_err(|e| {
        let path = if e.path.is_empty() {
            "filter".to_owned()
        } else {
            format!("filter.{}", e.path)
        };
        format!(
            "{} {path}: {}",
            lang.t("segment.error.filter_at"),
            e.message
        )
    })
}

/// Checks every field, noting each problem next to its field on the page; `None` when any
/// field is wrong.
fn check(page: &mut FormPage, lang: Lang) -> Option<Checked> {
    let name = page.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        page.name_error = Some(lang.t("segment.error.name").to_owned());
    }
    let description = page.description.trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        page.description_error = Some(lang.t("segment.error.description").to_owned());
    }
    let filter = parse_filter(&page.filter, lang)
        .map_err(|e| page.filter_error = Some(e))
        .ok();
    if page.has_errors() {
        return None;
    }
    Some(Checked {
        name,
        description: (!description.is_empty()).then_some(description),
        filter: filter?,
    })
}

async fn preview(s: &AppState, v: &Viewer, filter: &Filter) -> Result<Preview, PageError> {
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let now = s.now();
    let count = s
        .store
        .segment_count(v.org(), filter, now)
        .await
        .map_err(store_err)?;
    let (sample, _) = s
        .store
        .segment_contacts(v.org(), filter, now, None, SAMPLE_SIZE)
        .await
        .map_err(store_err)?;
    Ok(Preview {
        count: lang.number(count),
        sample: sample
            .into_iter()
            .map(|c| SampleRow {
                href: format!("/contacts/{}", c.id),
                name: c
                    .name
                    .clone()
                    .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
                detail: [&c.company, &c.city]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" · "),
            })
            .collect(),
        words: describe::describe(filter, lang),
    })
}

/// Shows the form with the problems found (422; nothing was written).
fn refuse(page: &FormPage) -> Result<Response, PageError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
}

/// Shows the form again with the live count and sample of its filter, or the filter's problem.
/// A preview speaks only about the filter: name and description are checked on save.
async fn show_preview(s: &AppState, v: &Viewer, mut page: FormPage) -> Result<Response, PageError> {
    match parse_filter(&page.filter, v.lang) {
        Ok(f) => {
            page.preview = Some(preview(s, v, &f).await?);
            Ok(render(&page)?.into_response())
        }
        Err(e) => {
            page.filter_error = Some(e);
            refuse(&page)
        }
    }
}

pub async fn create(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<SegmentForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let is_preview = fields.action == "preview";
    let mut page = FormPage::new(
        &v,
        "/segments/new",
        lang.t("segment.new").to_owned(),
        "/segments".to_owned(),
        fields,
    );
    if is_preview {
        return show_preview(&s, &v, page).await;
    }
    let Some(c) = check(&mut page, lang) else {
        return refuse(&page);
    };
    match s
        .store
        .create_segment(
            v.org(),
            &c.name,
            c.description.as_deref(),
            &c.filter,
            s.now(),
        )
        .await
    {
        Ok(seg) => {
            tracing::info!(org.id = v.org().0, user.id = v.user.id.0, segment.id = %seg.id, "segment created");
            Ok(Redirect::to(&format!("/segments/{}", seg.id)).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            page.name_error = Some(lang.t("segment.error.name_taken").to_owned());
            refuse(&page)
        }
        Err(e) => Err(PageError::from_store(e, lang)),
    }
}

pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    SignedForm { viewer: v, fields }: SignedForm<SegmentForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let seg = s
        .store
        .get_segment(v.org(), segment_id(&id, lang)?)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let is_preview = fields.action == "preview";
    let mut page = FormPage::new(
        &v,
        &format!("/segments/{}/edit", seg.id),
        format!("{}: {}", lang.t("segment.edit"), seg.name),
        format!("/segments/{}", seg.id),
        fields,
    );
    if is_preview {
        return show_preview(&s, &v, page).await;
    }
    let Some(c) = check(&mut page, lang) else {
        return refuse(&page);
    };
    let change = SegmentChange {
        name: Some(c.name),
        description: Some(c.description),
        filter: Some(c.filter),
    };
    match s
        .store
        .update_segment(v.org(), seg.id, &change, s.now())
        .await
    {
        Ok(seg) => {
            tracing::info!(org.id = v.org().0, user.id = v.user.id.0, segment.id = %seg.id, "segment changed");
            Ok(Redirect::to(&format!("/segments/{}", seg.id)).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            page.name_error = Some(lang.t("segment.error.name_taken").to_owned());
            refuse(&page)
        }
        Err(e) => Err(PageError::from_store(e, lang)),
    }
}

#[derive(Deserialize)]
pub struct CountForm {
    #[serde(default)]
    filter: String,
}

/// What the builder's script shows while the filter is edited: `{"count": "1,234"}`, or
/// `{"error": "…"}` (422) with the problem named by its path, in the user's language.
#[derive(serde::Serialize)]
struct LiveCount {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn count(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<CountForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    match parse_filter(&fields.filter, lang) {
        Ok(f) => {
            let n = s
                .store
                .segment_count(v.org(), &f, s.now())
                .await
                .map_err(|e| PageError::from_store(e, lang))?;
            Ok(Json(LiveCount {
                count: Some(lang.number(n)),
                error: None,
            })
            .into_response())
        }
        Err(e) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(LiveCount {
                count: None,
                error: Some(e),
            }),
        )
            .into_response()),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    SignedForm { viewer: v, fields }: SignedForm<DeleteForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let id = segment_id(&id, lang)?;
    if fields.confirm != "yes" {
        return Err(PageError::BadRequest(
            lang,
            lang.t("segment.delete_unconfirmed").to_owned(),
        ));
    }
    s.store
        .delete_segment(v.org(), id)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(org.id = v.org().0, user.id = v.user.id.0, segment.id = %id, "segment deleted");
    Ok(Redirect::to("/segments").into_response())
}

struct MemberRow {
    href: String,
    name: String,
    company: String,
    entered: String,
}

#[derive(Template)]
#[template(path = "segment.html")]
struct ShowPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    name: String,
    description: String,
    status: &'static str,
    members_count: String,
    created: String,
    updated: String,
    materialised: String,
    /// The filter in words; `None` when the stored filter no longer parses.
    words: Option<String>,
    filter_json: String,
    chart: Chart,
    members: Vec<MemberRow>,
    /// Whether the list is limited to the members this user may see.
    limited: bool,
    next_href: Option<String>,
    first_href: Option<String>,
    may_write: bool,
}

pub async fn show(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<CursorQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let org = v.org();
    let visible_to = visibility(&v)?;
    let store_err = |e| PageError::from_store(e, lang);
    let seg: Segment = s
        .store
        .get_segment(org, segment_id(&id, lang)?)
        .await
        .map_err(store_err)?;
    let before: Option<ContactId> = cursor(q.cursor.as_deref(), lang)?;
    let now = s.now();
    let sizes = s
        .store
        .segment_sizes(org, seg.id, now - (CHART_DAYS - 1) * DAY_MS)
        .await
        .map_err(store_err)?;
    let (members, more) = s
        .store
        .segment_members_visible(org, seg.id, visible_to.as_ref(), before, PAGE_SIZE)
        .await
        .map_err(store_err)?;
    let words = match seg.parsed_filter() {
        Ok(f) => Some(describe::describe(&f, lang)),
        Err(e) => {
            tracing::warn!(segment.id = %seg.id, filter.path = %e.path, "saved segment filter no longer valid");
            None
        }
    };
    let base = format!("/segments/{}", seg.id);
    let page = ShowPage {
        chrome: Chrome::signed_in(&v, "segments", &base),
        csrf: v.session.csrf_token.clone(),
        id: seg.id.to_string(),
        name: seg.name.clone(),
        description: seg.description.clone().unwrap_or_default(),
        status: status_key(&seg.status),
        members_count: lang.number(seg.member_count),
        created: lang.datetime(seg.created_at),
        updated: lang.datetime(seg.updated_at),
        materialised: seg
            .materialised_at
            .map(|t| lang.datetime(t))
            .unwrap_or_default(),
        words,
        filter_json: serde_json::to_string_pretty(&seg.filter).unwrap_or_default(),
        chart: chart::size_chart(&sizes, seg.member_count, CHART_DAYS, now, lang),
        next_href: more
            .then(|| {
                members
                    .last()
                    .map(|m| format!("{base}?cursor={}", m.contact.id))
            })
            .flatten(),
        first_href: before.map(|_| base.clone()),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                href: format!("/contacts/{}", m.contact.id),
                name: m
                    .contact
                    .name
                    .clone()
                    .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
                company: m.contact.company.clone().unwrap_or_default(),
                entered: lang.datetime(m.entered_at),
            })
            .collect(),
        limited: visible_to.is_some(),
        may_write: v.access.may_manage_segments(),
    };
    Ok(render(&page)?.into_response())
}
