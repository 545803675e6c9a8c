//! The Import page: upload a CSV or XLSX export, correct the guessed column mapping, dry-run it,
//! run it and follow it to its report (docs/import.md describes what an import does).
//!
//! The uploaded file is staged (see [`staged`]) so the mapping page, a dry run and the real run can
//! all read it; imports then run in the background exactly as those of the REST API, and the status
//! page refreshes itself (a `<meta http-equiv="refresh">`: the console has no script) until the
//! import has ended.

pub mod staged;

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::ids::ImportId;
use hatchery_domain::import_mapping::{ColumnTarget, ImportMapping};
use hatchery_domain::{IdentityKind, StandardField};
use hatchery_engine::import::{self, ImportError, ImportOptions, ImportReport};
use hatchery_store::imports::{Import, ImportStatus};
use serde::Deserialize;

use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::session::{same_secret, SignedForm, Viewer};
use super::urlencode;
use crate::api::imports::{rejections_download, run_in_background, size_text};
use crate::AppState;
use staged::{Incoming, Staged};

type PageResult = Result<Response, PageError>;

/// Data rows shown on the mapping page.
const PREVIEW_ROWS: usize = 3;
/// Past imports listed.
const LIST_LIMIT: u32 = 50;
/// Rejected rows listed on the status page (all of them are in the download).
const REJECTIONS_SHOWN: u32 = 20;
/// Seconds between refreshes of the status page of a running import.
const REFRESH_SECS: u32 = 2;
const MAX_FILE_NAME_CHARS: usize = 255;
/// The largest value accepted for a form field other than the file.
const MAX_FIELD_BYTES: usize = 1024;

fn may_import(v: &Viewer) -> Result<(), PageError> {
    if v.access.may_import() {
        Ok(())
    } else {
        Err(PageError::Forbidden(v.lang, "error.forbidden.body"))
    }
}

fn status_key(s: ImportStatus) -> &'static str {
    match s {
        ImportStatus::Queued => "import.status.queued",
        ImportStatus::Running => "import.status.running",
        ImportStatus::Completed => "import.status.completed",
        ImportStatus::Failed => "import.status.failed",
    }
}

fn report_of(imp: &Import) -> ImportReport {
    serde_json::from_value(imp.report.clone()).unwrap_or_default()
}

struct ListRow {
    href: String,
    id: String,
    file_name: String,
    status: &'static str,
    dry_run: bool,
    rows: String,
    created: String,
    rejected: String,
    at: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ListPage {
    chrome: Chrome,
    csrf: String,
    max_size: String,
    rows: Vec<ListRow>,
}

/// Past imports, newest first, and the upload form.
pub async fn list(State(s): State<AppState>, v: Viewer) -> PageResult {
    may_import(&v)?;
    let lang = v.lang;
    let local = v.local();
    let imports = s
        .store
        .list_imports(v.org(), LIST_LIMIT)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let rows = imports
        .iter()
        .map(|imp| {
            let r = report_of(imp);
            ListRow {
                href: format!("/imports/{}", imp.id),
                id: imp.id.to_string(),
                file_name: imp.file_name.clone(),
                status: status_key(imp.status),
                dry_run: imp.dry_run,
                rows: lang.number(imp.processed_rows),
                created: lang.number(i64::try_from(r.created).unwrap_or(i64::MAX)),
                rejected: lang.number(i64::try_from(r.rejected).unwrap_or(i64::MAX)),
                at: local.datetime(imp.created_at),
            }
        })
        .collect();
    let page = ListPage {
        chrome: Chrome::signed_in(&v, "imports", "/imports"),
        csrf: v.session.csrf_token.clone(),
        max_size: size_text(s.upload_limit_bytes),
        rows,
    };
    Ok(render(&page)?.into_response())
}

/// Reads a small form field; longer values are refused.
async fn small_field(
    mut field: axum::extract::multipart::Field<'_>,
    lang: Lang,
) -> Result<String, PageError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, lang))? {
        value.extend_from_slice(&chunk);
        if value.len() > MAX_FIELD_BYTES {
            return Err(PageError::BadRequest(
                lang,
                lang.t("error.bad_request.title").into(),
            ));
        }
    }
    String::from_utf8(value)
        .map_err(|_| PageError::BadRequest(lang, lang.t("error.bad_request.title").into()))
}

fn multipart_error(e: &axum::extract::multipart::MultipartError, lang: Lang) -> PageError {
    PageError::BadRequest(lang, format!("{}: {e}", lang.t("import.upload_failed")))
}

fn storage_error(e: &std::io::Error, lang: Lang) -> PageError {
    tracing::error!(error = %e, "could not store a console upload");
    PageError::Unavailable(lang)
}

/// The display name of an uploaded file: its last path component, without control characters.
fn display_name(given: &str) -> Option<String> {
    let name = given.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!name.is_empty()
        && name.chars().count() <= MAX_FILE_NAME_CHARS
        && !name.chars().any(char::is_control))
    .then(|| name.to_owned())
}

/// Receives the upload form (multipart: the CSRF token and the file), stages the file and shows
/// its mapping. The file is streamed to disk and refused once it passes the size limit.
pub async fn upload(State(s): State<AppState>, v: Viewer, mut form: Multipart) -> PageResult {
    may_import(&v)?;
    let lang = v.lang;
    let mut csrf = String::new();
    let mut file: Option<(Incoming, String)> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, lang))?
    {
        match field.name() {
            Some("csrf") => csrf = small_field(field, lang).await?,
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let mut incoming = Incoming::create(&s.upload_dir)
                    .await
                    .map_err(|e| storage_error(&e, lang))?;
                while let Some(chunk) =
                    field.chunk().await.map_err(|e| multipart_error(&e, lang))?
                {
                    incoming
                        .write(&chunk)
                        .await
                        .map_err(|e| storage_error(&e, lang))?;
                    if incoming.size > s.upload_limit_bytes {
                        tracing::info!(user.id = v.user.id.0, "console upload refused: too large");
                        return Err(PageError::TooLarge(
                            lang,
                            lang.t("import.too_large")
                                .replace("{size}", &size_text(s.upload_limit_bytes)),
                        ));
                    }
                }
                file = Some((incoming, name));
            }
            _ => {}
        }
    }
    if !same_secret(&csrf, &v.session.csrf_token) {
        tracing::warn!(
            user.id = v.user.id.0,
            "console upload refused: CSRF token mismatch"
        );
        return Err(PageError::Forbidden(lang, "error.form_expired"));
    }
    let Some((incoming, name)) = file.filter(|(f, _)| f.size > 0) else {
        return Err(PageError::BadRequest(lang, lang.t("import.no_file").into()));
    };
    let name = display_name(&name).unwrap_or_else(|| "upload".to_owned());
    let now = s.now();
    staged::sweep(&s.upload_dir, now).await;
    let staged = incoming
        .keep(v.org(), &name, now)
        .await
        .map_err(|e| storage_error(&e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        "console upload staged"
    );
    Ok(Redirect::to(&format!("/imports/uploads/{}", staged.token)).into_response())
}

struct TargetOption {
    value: String,
    label: String,
    selected: bool,
}

struct MappingColumn {
    index: usize,
    header: String,
    samples: Vec<String>,
    options: Vec<TargetOption>,
}

#[derive(Template)]
#[template(path = "import_mapping.html")]
struct MappingPage {
    chrome: Chrome,
    csrf: String,
    action: String,
    file_name: String,
    format: String,
    encoding: String,
    columns: Vec<MappingColumn>,
    tag: String,
    problem: Option<String>,
}

fn target_label(t: &ColumnTarget, lang: Lang) -> String {
    match t {
        ColumnTarget::Field(f) => lang.t(&format!("target.{}", f.as_str())).to_owned(),
        ColumnTarget::Phone => lang.t("target.phone").to_owned(),
        ColumnTarget::Identity(k) => {
            format!(
                "{}: {}",
                lang.t("target.identity"),
                lang.identity_kind(k.as_str())
            )
        }
        ColumnTarget::Custom(key) => format!("{}: {key}", lang.t("target.custom")),
        ColumnTarget::Tags => lang.t("target.tags").to_owned(),
        ColumnTarget::Ignore => lang.t("target.ignore").to_owned(),
    }
}

/// The targets a column may be given, the current one selected.
fn target_options(current: &ColumnTarget, lang: Lang) -> Vec<TargetOption> {
    let mut targets = vec![ColumnTarget::Ignore];
    targets.extend(StandardField::ALL.into_iter().map(ColumnTarget::Field));
    targets.push(ColumnTarget::Phone);
    targets.extend(
        IdentityKind::ALL
            .into_iter()
            .filter(|k| {
                !k.is_anonymous() && !matches!(k, IdentityKind::Email | IdentityKind::Mobile)
            })
            .map(ColumnTarget::Identity),
    );
    targets.push(ColumnTarget::Tags);
    if !targets.contains(current) {
        targets.push(current.clone());
    }
    targets
        .into_iter()
        .map(|t| TargetOption {
            label: target_label(&t, lang),
            selected: &t == current,
            value: t.as_string(),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct MappingQuery {
    /// Targets chosen before (coming back from a dry run), comma-separated.
    mapping: Option<String>,
    tag: Option<String>,
}

async fn staged_of(s: &AppState, v: &Viewer, token: &str) -> Result<Staged, PageError> {
    Staged::find(&s.upload_dir, v.org(), token)
        .await
        .ok_or(PageError::NotFound(v.lang))
}

/// Renders the mapping page of a staged file with these targets (or the guess).
async fn mapping_page_for(
    v: &Viewer,
    staged: &Staged,
    chosen: Option<&[ColumnTarget]>,
    tag: String,
    problem: Option<String>,
) -> Result<MappingPage, PageError> {
    let lang = v.lang;
    let preview = import::preview(&staged.path(), &ImportOptions::default(), PREVIEW_ROWS)
        .await
        .map_err(|e| file_error(&e, lang))?;
    let targets: Vec<ColumnTarget> = match chosen {
        Some(c) if c.len() == preview.file.headers.len() => c.to_vec(),
        _ => preview.mapping.columns.clone(),
    };
    let columns = preview
        .file
        .headers
        .iter()
        .zip(&targets)
        .enumerate()
        .map(|(index, (header, target))| MappingColumn {
            index,
            header: header.clone(),
            samples: preview
                .rows
                .iter()
                .filter_map(|r| r.cells.get(index).cloned())
                .collect(),
            options: target_options(target, lang),
        })
        .collect();
    let here = format!("/imports/uploads/{}", staged.token);
    Ok(MappingPage {
        chrome: Chrome::signed_in(v, "imports", &here),
        csrf: v.session.csrf_token.clone(),
        action: here,
        file_name: staged.file_name.clone(),
        format: preview.file.format,
        encoding: preview.file.encoding,
        columns,
        tag,
        problem: problem.or(if chosen.is_none() {
            preview.mapping_problem
        } else {
            None
        }),
    })
}

fn file_error(e: &ImportError, lang: Lang) -> PageError {
    match e {
        ImportError::Store(_) => {
            tracing::error!(error = %e, "console import: storage failure");
            PageError::Unavailable(lang)
        }
        other => PageError::BadRequest(lang, format!("{}: {other}", lang.t("import.unreadable"))),
    }
}

/// The mapping page: each column with its guessed (or earlier chosen) target, the batch tag, and
/// the dry-run and run buttons.
pub async fn mapping(
    State(s): State<AppState>,
    v: Viewer,
    Path(token): Path<String>,
    Query(q): Query<MappingQuery>,
) -> PageResult {
    may_import(&v)?;
    let staged = staged_of(&s, &v, &token).await?;
    let chosen: Option<Vec<ColumnTarget>> = q.mapping.as_deref().and_then(|m| {
        m.split(',')
            .map(ColumnTarget::parse)
            .collect::<Result<_, _>>()
            .ok()
    });
    let page = mapping_page_for(
        &v,
        &staged,
        chosen.as_deref(),
        q.tag.unwrap_or_default(),
        None,
    )
    .await?;
    Ok(render(&page)?.into_response())
}

/// Starts a dry run or the real import of a staged file with the mapping and tag of the form.
pub async fn start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    form: SignedForm<HashMap<String, String>>,
) -> PageResult {
    let v = form.viewer;
    may_import(&v)?;
    let lang = v.lang;
    let org = v.org();
    let f = form.fields;
    let staged = staged_of(&s, &v, &token).await?;
    let mut columns = Vec::new();
    let mut problem = None;
    while let Some(target) = f.get(&format!("col_{}", columns.len())) {
        match ColumnTarget::parse(target) {
            Ok(t) => columns.push(t),
            Err(e) => {
                problem = Some(format!(
                    "{} {}: {}",
                    lang.t("import.column"),
                    columns.len() + 1,
                    e.message
                ));
                break;
            }
        }
    }
    let tag = f
        .get("tag")
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let dry_run = f.get("action").map(String::as_str) != Some("run");
    if let Some(p) = problem {
        return refuse(&v, &staged, p, &columns, tag).await;
    }
    let opts = ImportOptions {
        dry_run,
        mapping: Some(ImportMapping {
            columns: columns.clone(),
        }),
        tag: (!tag.is_empty()).then(|| tag.clone()),
        ..ImportOptions::default()
    };
    let rules = s
        .ingestor
        .rules(org)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let prepared = match import::prepare(
        &s.store,
        org,
        &staged.path(),
        &staged.file_name,
        &opts,
        s.now(),
    )
    .await
    {
        Ok(p) => p,
        Err(ImportError::Mapping(e) | ImportError::Tag(e)) => {
            return refuse(&v, &staged, e.message, &columns, tag).await;
        }
        Err(e) => return Err(file_error(&e, lang)),
    };
    let id = prepared.import.id;
    tracing::info!(
        org.id = org.0,
        user.id = v.user.id.0,
        import.id = id.0,
        dry_run,
        "console import started"
    );
    if dry_run {
        run_in_background(&s, org, prepared, rules, ());
        Ok(Redirect::to(&format!("/imports/{id}?upload={token}")).into_response())
    } else {
        run_in_background(&s, org, prepared, rules, staged.consume());
        Ok(Redirect::to(&format!("/imports/{id}")).into_response())
    }
}

/// The mapping page again, with the choices made and why they cannot be used.
async fn refuse(
    v: &Viewer,
    staged: &Staged,
    problem: String,
    columns: &[ColumnTarget],
    tag: String,
) -> PageResult {
    let page = mapping_page_for(v, staged, Some(columns), tag, Some(problem)).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

struct RejectedRow {
    row: String,
    code: String,
    meaning: &'static str,
    reason: String,
}

struct WarningRow {
    code: String,
    meaning: &'static str,
    count: String,
    rows: String,
}

/// A completed dry run whose file is still staged: the form that runs it for real.
struct RunForReal {
    action: String,
    change_href: String,
    tag: String,
    mapping: Vec<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct StatusPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    file_name: String,
    status: &'static str,
    /// While the import is queued or running, the page refreshes itself.
    refresh: Option<u32>,
    dry_run: bool,
    processed: String,
    total: Option<String>,
    progress_value: i64,
    progress_max: Option<i64>,
    percent: Option<i64>,
    error: Option<String>,
    tag: String,
    counts: Vec<(&'static str, String)>,
    reach: Vec<(&'static str, String)>,
    /// Code, what it means, and how many rows.
    rejection_codes: Vec<(String, &'static str, String)>,
    rejected: Vec<RejectedRow>,
    more_rejected: bool,
    rejections_href: Option<String>,
    warnings: Vec<WarningRow>,
    run_for_real: Option<RunForReal>,
    started: String,
    finished: Option<String>,
}

#[derive(Deserialize)]
pub struct StatusQuery {
    /// The staged file of a dry run, so the page can offer to run it for real.
    upload: Option<String>,
}

fn import_id(id: &str, lang: Lang) -> Result<ImportId, PageError> {
    id.parse().map_err(|_| PageError::NotFound(lang))
}

fn count(lang: Lang, n: u64) -> String {
    lang.number(i64::try_from(n).unwrap_or(i64::MAX))
}

/// An import's progress, result and rejected rows.
pub async fn show(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<StatusQuery>,
) -> PageResult {
    may_import(&v)?;
    let lang = v.lang;
    let local = v.local();
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    let imp = s
        .store
        .get_import(org, import_id(&id, lang)?)
        .await
        .map_err(store_err)?;
    let report = report_of(&imp);
    let ended = matches!(imp.status, ImportStatus::Completed | ImportStatus::Failed);
    let rejections = s
        .store
        .list_rejections(org, imp.id, 0, REJECTIONS_SHOWN + 1)
        .await
        .map_err(store_err)?;
    let more_rejected = rejections.len() > REJECTIONS_SHOWN as usize;
    let rejected = rejections
        .into_iter()
        .take(REJECTIONS_SHOWN as usize)
        .map(|r| RejectedRow {
            row: lang.number(r.row),
            meaning: lang.import_code(&r.code).unwrap_or_default(),
            code: r.code,
            reason: r.reason,
        })
        .collect();
    let run_for_real = match (&q.upload, imp.dry_run, imp.status) {
        (Some(token), true, ImportStatus::Completed) => Staged::find(&s.upload_dir, org, token)
            .await
            .map(|staged| RunForReal {
                action: format!("/imports/uploads/{}", staged.token),
                change_href: format!(
                    "/imports/uploads/{}?mapping={}&tag={}",
                    staged.token,
                    urlencode(&imp.mapping.join(",")),
                    urlencode(&report.tag)
                ),
                tag: report.tag.clone(),
                mapping: imp.mapping.clone(),
            }),
        _ => None,
    };
    let here = match &q.upload {
        Some(t) => format!("/imports/{}?upload={}", imp.id, urlencode(t)),
        None => format!("/imports/{}", imp.id),
    };
    let total = imp.total_rows;
    let percent = total
        .filter(|t| *t > 0)
        .map(|t| (imp.processed_rows * 100 / t).clamp(0, 100));
    let page = StatusPage {
        chrome: Chrome::signed_in(&v, "imports", &here),
        csrf: v.session.csrf_token.clone(),
        id: imp.id.to_string(),
        file_name: imp.file_name.clone(),
        status: status_key(imp.status),
        refresh: (!ended).then_some(REFRESH_SECS),
        dry_run: imp.dry_run,
        processed: lang.number(imp.processed_rows),
        total: total.map(|t| lang.number(t)),
        progress_value: imp.processed_rows,
        progress_max: if ended {
            Some(imp.processed_rows.max(1))
        } else {
            total
        },
        percent: if ended && imp.status == ImportStatus::Completed {
            Some(100)
        } else {
            percent
        },
        error: imp.error.clone(),
        tag: report.tag.clone(),
        counts: vec![
            ("import.rows", count(lang, report.rows)),
            ("import.created", count(lang, report.created)),
            ("import.updated", count(lang, report.updated)),
            ("import.duplicates", count(lang, report.duplicates_in_file)),
            ("import.merged", count(lang, report.merged)),
            ("import.rejected", count(lang, report.rejected)),
        ],
        reach: vec![
            ("import.reach.contacts", count(lang, report.reach.contacts)),
            ("import.reach.wechat", count(lang, report.reach.wechat)),
            ("import.reach.mobile", count(lang, report.reach.mobile)),
            ("import.reach.landline", count(lang, report.reach.landline)),
            ("import.reach.email", count(lang, report.reach.email)),
        ],
        rejection_codes: report
            .rejection_codes
            .iter()
            .map(|(code, n)| {
                (
                    code.clone(),
                    lang.import_code(code).unwrap_or_default(),
                    count(lang, *n),
                )
            })
            .collect(),
        rejected,
        more_rejected,
        rejections_href: (report.rejected > 0).then(|| format!("/imports/{}/rejected.csv", imp.id)),
        warnings: report
            .warnings
            .iter()
            .map(|(code, w)| WarningRow {
                code: code.clone(),
                meaning: lang.import_code(code).unwrap_or_default(),
                count: count(lang, w.count),
                rows: w
                    .first_rows
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        run_for_real,
        started: local.datetime(imp.created_at),
        finished: imp.finished_at.map(|t| local.datetime(t)),
    };
    Ok(render(&page)?.into_response())
}

/// The rejected rows as CSV (row number, code, reason, then the original cells).
pub async fn rejected_csv(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    may_import(&v)?;
    let lang = v.lang;
    let imp = s
        .store
        .get_import(v.org(), import_id(&id, lang)?)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    Ok(rejections_download(&s.store, v.org(), &imp))
}
