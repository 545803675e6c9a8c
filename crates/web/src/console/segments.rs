//! The Segments pages: the list of saved segments, the builder (name, description and the filter
//! as rows of nested groups or as JSON, with a preview of the count and the newest matching
//! contacts), and a segment's page (the filter in words, its size over time as an SVG chart, and
//! its members).
//!
//! Everyone who reads contacts reads segments; creating, changing and deleting them takes
//! `Access::may_manage_segments`. Members are shown through the same visibility rules as the
//! contact list, so under a BU-isolated pool a user sees only the members they may see.

mod chart;
pub(crate) mod describe;
mod rows;

use std::collections::HashMap;

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
    let local = v.local();
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
            updated: local.datetime(x.updated_at),
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
    /// `rows` when the structured builder's rows were posted; the JSON text otherwise.
    #[serde(default)]
    mode: String,
    /// `preview` shows the count and sample; `save` saves; `to_json` / `to_rows` switch the
    /// editor; `add_condition:N`, `add_group:N`, `remove:N` edit the rows.
    #[serde(default)]
    action: String,
    /// The rows (`r0_kind`, `r0_depth` …).
    #[serde(flatten)]
    rest: HashMap<String, String>,
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

/// An option of a select box.
struct Opt {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// One row of the structured builder, ready to show.
struct RowView {
    index: usize,
    depth: usize,
    is_group: bool,
    kinds: Vec<Opt>,
    subject: String,
    /// Operators, for field and trait conditions.
    ops: Option<Vec<Opt>>,
    value: String,
    /// `at_least` and `within_days`, for event conditions.
    counts: Option<(String, String)>,
    /// The filter's problem, when it lies in this row.
    error: Option<String>,
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
    /// The structured builder's rows; `None` shows the JSON editor.
    rows: Option<Vec<rows::Row>>,
    /// The row the filter's problem lies in.
    error_row: Option<usize>,
    row_views: Vec<RowView>,
}

fn options(values: &[&'static str], prefix: &str, current: &str, lang: Lang) -> Vec<Opt> {
    values
        .iter()
        .map(|v| Opt {
            value: v,
            label: lang.t(&format!("{prefix}{v}")),
            selected: *v == current,
        })
        .collect()
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
            rows: None,
            error_row: None,
            row_views: vec![],
        }
    }

    fn has_errors(&self) -> bool {
        self.name_error.is_some() || self.description_error.is_some() || self.filter_error.is_some()
    }

    /// Renders the page with `status`, the rows made ready to show.
    fn respond(mut self, status: StatusCode) -> Result<Response, PageError> {
        let lang = self.chrome.lang;
        self.row_views = self
            .rows
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| RowView {
                index: i,
                depth: r.depth,
                is_group: r.is_group(),
                kinds: if r.is_group() {
                    options(&rows::GROUP_KINDS, "segment.group.", &r.kind, lang)
                } else {
                    options(&rows::CONDITION_KINDS, "segment.kind.", &r.kind, lang)
                },
                subject: r.subject.clone(),
                ops: matches!(r.kind.as_str(), "field" | "trait")
                    .then(|| options(&rows::OPS, "segment.op.", &r.op, lang)),
                value: r.value.clone(),
                counts: (r.kind == "event").then(|| (r.at_least.clone(), r.within_days.clone())),
                error: (self.error_row == Some(i))
                    .then(|| self.filter_error.clone())
                    .flatten(),
            })
            .collect();
        Ok((status, render(&self)?).into_response())
    }
}

pub async fn new_page(v: Viewer) -> Result<Response, PageError> {
    writer(&v)?;
    let mut page = FormPage::new(
        &v,
        "/segments/new",
        v.lang.t("segment.new").to_owned(),
        "/segments".to_owned(),
        SegmentForm {
            filter: EXAMPLE_FILTER.to_owned(),
            ..SegmentForm::default()
        },
    );
    page.rows = Some(rows::example());
    page.respond(StatusCode::OK)
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
    let mut page = FormPage::new(
        &v,
        &format!("/segments/{}/edit", seg.id),
        format!("{}: {}", lang.t("segment.edit"), seg.name),
        format!("/segments/{}", seg.id),
        SegmentForm {
            filter: serde_json::to_string_pretty(&seg.filter).unwrap_or_default(),
            name: seg.name.clone(),
            description: seg.description.clone().unwrap_or_default(),
            ..SegmentForm::default()
        },
    );
    // Filters the rows can say open in the structured builder, the others as JSON.
    page.rows = seg.parsed_filter().ok().and_then(|f| rows::from_filter(&f));
    page.respond(StatusCode::OK)
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
        words: describe::describe(filter, v.local()),
    })
}

/// Shows the form with the problems found (422; nothing was written).
fn refuse(page: FormPage) -> Result<Response, PageError> {
    page.respond(StatusCode::UNPROCESSABLE_ENTITY)
}

/// What the builder does with a posted form: show it again (an outline edit, a switch of
/// editor, a preview, a problem), or save what it says.
enum Step {
    Show(Response),
    Save(Checked, Box<FormPage>),
}

async fn builder(
    s: &AppState,
    v: &Viewer,
    mut page: FormPage,
    mode: &str,
    action: &str,
    fields: &HashMap<String, String>,
) -> Result<Step, PageError> {
    let lang = v.lang;
    if mode == "rows" {
        let mut outline = rows::from_form(fields);
        if rows::edit(&mut outline, action) {
            page.rows = Some(outline);
            return Ok(Step::Show(page.respond(StatusCode::OK)?));
        }
        let (json, paths) = rows::to_json(&outline);
        page.filter = serde_json::to_string_pretty(&json).unwrap_or_default();
        if action == "to_json" {
            return Ok(Step::Show(page.respond(StatusCode::OK)?));
        }
        if let Err(e) = Filter::parse(&json) {
            page.error_row = Some(rows::row_of(&paths, &e.path));
        }
        page.rows = Some(outline);
    } else if action == "to_rows" {
        match parse_filter(&page.filter, lang) {
            Ok(f) => match rows::from_filter(&f) {
                Some(outline) => {
                    page.rows = Some(outline);
                    return Ok(Step::Show(page.respond(StatusCode::OK)?));
                }
                None => page.filter_error = Some(lang.t("segment.error.not_rows").to_owned()),
            },
            Err(e) => page.filter_error = Some(e),
        }
        return Ok(Step::Show(refuse(page)?));
    }
    if action == "preview" {
        // A preview speaks only about the filter: name and description are checked on save.
        return Ok(Step::Show(match parse_filter(&page.filter, lang) {
            Ok(f) => {
                page.preview = Some(preview(s, v, &f).await?);
                page.respond(StatusCode::OK)?
            }
            Err(e) => {
                page.filter_error = Some(e);
                refuse(page)?
            }
        }));
    }
    match check(&mut page, lang) {
        Some(c) => Ok(Step::Save(c, Box::new(page))),
        None => Ok(Step::Show(refuse(page)?)),
    }
}

pub async fn create(
    State(s): State<AppState>,
    SignedForm { viewer: v, fields }: SignedForm<SegmentForm>,
) -> Result<Response, PageError> {
    writer(&v)?;
    let lang = v.lang;
    let (mode, action, rest) = (
        fields.mode.clone(),
        fields.action.clone(),
        fields.rest.clone(),
    );
    let page = FormPage::new(
        &v,
        "/segments/new",
        lang.t("segment.new").to_owned(),
        "/segments".to_owned(),
        fields,
    );
    let (c, mut page) = match builder(&s, &v, page, &mode, &action, &rest).await? {
        Step::Show(r) => return Ok(r),
        Step::Save(c, page) => (c, page),
    };
    if let Some(m) = references_refused(&s, &v, None, &c.filter).await? {
        page.filter_error = Some(m);
        return refuse(*page);
    }
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
            refuse(*page)
        }
        Err(e) => Err(PageError::from_store(e, lang)),
    }
}

/// Why a filter's references are refused — it names a segment that does not exist, or closes a
/// cycle — to be shown next to the filter (nothing is saved); `None` when they are fine.
async fn references_refused(
    s: &AppState,
    v: &Viewer,
    id: Option<SegmentId>,
    filter: &Filter,
) -> Result<Option<String>, PageError> {
    match s.store.check_filter_references(v.org(), id, filter).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict(m)) => Ok(Some(m)),
        Err(e) => Err(PageError::from_store(e, v.lang)),
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
    let (mode, action, rest) = (
        fields.mode.clone(),
        fields.action.clone(),
        fields.rest.clone(),
    );
    let page = FormPage::new(
        &v,
        &format!("/segments/{}/edit", seg.id),
        format!("{}: {}", lang.t("segment.edit"), seg.name),
        format!("/segments/{}", seg.id),
        fields,
    );
    let (c, mut page) = match builder(&s, &v, page, &mode, &action, &rest).await? {
        Step::Show(r) => return Ok(r),
        Step::Save(c, page) => (c, page),
    };
    if let Some(m) = references_refused(&s, &v, Some(seg.id), &c.filter).await? {
        page.filter_error = Some(m);
        return refuse(*page);
    }
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
            refuse(*page)
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
    let local = v.local();
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
        Ok(f) => Some(describe::describe(&f, local)),
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
        created: local.datetime(seg.created_at),
        updated: local.datetime(seg.updated_at),
        materialised: seg
            .materialised_at
            .map(|t| local.datetime(t))
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
                entered: local.datetime(m.entered_at),
            })
            .collect(),
        limited: visible_to.is_some(),
        may_write: v.access.may_manage_segments(),
    };
    Ok(render(&page)?.into_response())
}
