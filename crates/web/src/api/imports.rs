//! Imports of CRM/Excel exports: upload a file (the raw request body) to start one, follow its
//! progress, read its report and download the rows it rejected.
//!
//! An upload is streamed to `upload_dir` rather than held in memory, checked (readable file, mapping
//! that fits its header) before anything is recorded, and then imported in the background; the
//! response is `202` with the import's id, and `GET /api/v1/imports/{id}` shows its progress.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hatchery_domain::ids::{BadId, ImportId};
use hatchery_domain::import_mapping::{ColumnTarget, ImportMapping};
use hatchery_domain::OrgId;
use hatchery_engine::import::{self, ImportError, ImportOptions, Preview};
use hatchery_store::imports::Import;
use hatchery_store::keys::Scope;
use hatchery_store::Store;
use hatchery_tabular::{Encoding, TabularError};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::api::{limit, Page};
use crate::auth::Caller;
use crate::error::{invalid_field, ApiError, ApiResult};
use crate::AppState;

/// The largest file an upload may carry.
pub const MAX_UPLOAD_BYTES: u64 = 200 * 1024 * 1024;
/// Rows shown by a preview.
const PREVIEW_ROWS: usize = 5;
/// Rejected rows read per query while streaming the rejected-rows file.
const REJECTIONS_PAGE: u32 = 1_000;
const MAX_FILE_NAME_CHARS: usize = 255;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/imports", post(create_import).get(list_imports))
        .route("/api/v1/imports/preview", post(preview_import))
        .route("/api/v1/imports/{id}", get(get_import))
        .route(
            "/api/v1/imports/{id}/rejections",
            get(list_import_rejections),
        )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateImportQuery {
    /// The file's name as the user knows it (`客户名单.csv`): shown in the console and used in the
    /// default tag. The format is taken from the content (an XLSX is a ZIP archive), not the name.
    pub file_name: Option<String>,
    /// Resolve and report what would be created, updated, merged and rejected, writing nothing but
    /// the import's record and rejected rows.
    #[serde(default)]
    pub dry_run: bool,
    /// The tag every imported contact receives; default `import:<file name without extension> <date>`.
    pub tag: Option<String>,
    /// `auto` (default), `utf-8` or `gbk`. Ignored for XLSX.
    pub encoding: Option<String>,
    /// One target per column, comma-separated, in file order: a standard field (`name`, `mobile`,
    /// `email`, `company` …), `phone`, `identity:<kind>`, `custom:<key>`, `tags` or `ignore`.
    /// Default: guessed from the headers (see `POST /api/v1/imports/preview`).
    pub mapping: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// `auto` (default), `utf-8` or `gbk`.
    pub encoding: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListImportsQuery {
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", params(CreateImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The CSV (UTF-8 or GBK) or XLSX file, as is; at most 200 MiB."),
    responses(
        (status = 202, body = Import, description = "Queued; follow it with `GET /api/v1/imports/{id}`"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "Unreadable file or a mapping that does not fit it; nothing was recorded"),
    ))]
pub async fn create_import(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<CreateImportQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Import>)> {
    caller.require(Scope::ImportsWrite)?;
    let org = caller.org();
    let file_name = file_name(q.file_name.as_deref())?;
    let opts = ImportOptions {
        dry_run: q.dry_run,
        mapping: q.mapping.as_deref().map(parse_mapping).transpose()?,
        tag: q.tag.clone(),
        encoding: encoding(q.encoding.as_deref())?,
        ..ImportOptions::default()
    };
    let rules = s.ingestor.rules(org).await?;
    let upload = Upload::receive(&s.upload_dir, s.upload_limit_bytes, body).await?;
    let prepared =
        match import::prepare(&s.store, org, upload.path(), &file_name, &opts, s.now()).await {
            Ok(p) => p,
            Err(e) => return Err(import_error(e)),
        };
    let queued = prepared.import.clone();
    run_in_background(&s, org, prepared, rules, upload);
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// Runs a prepared import on its own task. `keep` (the uploaded file's guard) lives until the
/// import ends, however it ends; `run` records the outcome (and logs a failure) itself.
pub(crate) fn run_in_background<K: Send + 'static>(
    s: &AppState,
    org: OrgId,
    prepared: import::PreparedImport,
    rules: hatchery_domain::IdentityRules,
    keep: K,
) {
    let (store, metrics, clock) = (s.store.clone(), s.metrics.clone(), s.clock.clone());
    tokio::spawn(async move {
        let _keep = keep;
        let _ = import::run(
            &store,
            org,
            prepared,
            &rules,
            &metrics,
            clock.as_ref(),
            |_, _| {},
        )
        .await;
    });
}

#[utoipa::path(post, path = "/api/v1/imports/preview", tag = "imports", params(PreviewQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The CSV or XLSX file, as is; at most 200 MiB."),
    responses(
        (status = 200, body = Preview, description = "The header, the guessed mapping and the first rows"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    ))]
pub async fn preview_import(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<PreviewQuery>,
    body: Body,
) -> ApiResult<Json<Preview>> {
    caller.require(Scope::ImportsWrite)?;
    let opts = ImportOptions {
        encoding: encoding(q.encoding.as_deref())?,
        ..ImportOptions::default()
    };
    let upload = Upload::receive(&s.upload_dir, s.upload_limit_bytes, body).await?;
    let preview = import::preview(upload.path(), &opts, PREVIEW_ROWS)
        .await
        .map_err(import_error)?;
    Ok(Json(preview))
}

#[utoipa::path(get, path = "/api/v1/imports", tag = "imports", params(ListImportsQuery),
    responses((status = 200, body = Page<Import>, description = "Newest first")))]
pub async fn list_imports(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListImportsQuery>,
) -> ApiResult<Json<Page<Import>>> {
    // Whoever may start imports may follow them.
    caller.require_any(&[Scope::ContactsRead, Scope::ImportsWrite])?;
    let data = s.store.list_imports(caller.org(), limit(q.limit)?).await?;
    Ok(Json(Page {
        data,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "Import id, `imp_7`")),
    responses(
        (status = 200, body = Import, description = "Status, progress (`processed_rows` of `total_rows`) and the report so far"),
        (status = 404, body = crate::error::ErrorBody),
    ))]
pub async fn get_import(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Import>> {
    // Whoever may start imports may follow them.
    caller.require_any(&[Scope::ContactsRead, Scope::ImportsWrite])?;
    Ok(Json(
        s.store.get_import(caller.org(), import_id(&id)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/imports/{id}/rejections", tag = "imports",
    params(("id" = String, Path, description = "Import id, `imp_7`")),
    responses(
        (status = 200, content_type = "text/csv", body = String,
            description = "The rejected rows as CSV with a UTF-8 byte-order mark (for Excel): `row`, `code`, \
                `reason`, then the row's original cells under the file's own headers"),
        (status = 404, body = crate::error::ErrorBody),
    ))]
pub async fn list_import_rejections(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Response> {
    // Whoever may start imports may follow them.
    caller.require_any(&[Scope::ContactsRead, Scope::ImportsWrite])?;
    let org = caller.org();
    let imp = s.store.get_import(org, import_id(&id)?).await?;
    Ok(rejections_download(&s.store, org, &imp))
}

/// The rejected rows of an import as a CSV download, streamed a page of rows at a time.
pub(crate) fn rejections_download(store: &Store, org: OrgId, imp: &Import) -> Response {
    let head = Bytes::from(import::rejections_csv_head(&import::report_headers(
        &imp.report,
    )));
    let pages = futures_util::stream::try_unfold(
        RejectionPages {
            store: store.clone(),
            org,
            import: imp.id,
            after_row: 0,
            done: false,
        },
        next_rejections,
    );
    let stream =
        futures_util::StreamExt::chain(futures_util::stream::once(async move { Ok(head) }), pages);
    let disposition = format!("attachment; filename=\"{}-rejected.csv\"", imp.id);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

struct RejectionPages {
    store: Store,
    org: OrgId,
    import: ImportId,
    after_row: i64,
    done: bool,
}

async fn next_rejections(
    mut p: RejectionPages,
) -> Result<Option<(Bytes, RejectionPages)>, hatchery_store::StoreError> {
    if p.done {
        return Ok(None);
    }
    let page = p
        .store
        .list_rejections(p.org, p.import, p.after_row, REJECTIONS_PAGE)
        .await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    p.after_row = last.row;
    p.done = page.len() < REJECTIONS_PAGE as usize;
    Ok(Some((Bytes::from(import::rejections_csv_lines(&page)), p)))
}

fn import_id(id: &str) -> ApiResult<ImportId> {
    id.parse()
        .map_err(|e: BadId| invalid_field("id", e.to_string()))
}

/// The display name of the upload: its last path component, trimmed; `upload` when none is given.
fn file_name(given: Option<&str>) -> ApiResult<String> {
    let Some(given) = given else {
        return Ok("upload".to_owned());
    };
    let name = given.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if name.is_empty()
        || name.chars().count() > MAX_FILE_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(invalid_field(
            "file_name",
            "must be a file name of 1 to 255 characters",
        ));
    }
    Ok(name.to_owned())
}

fn encoding(given: Option<&str>) -> ApiResult<Encoding> {
    given.map_or(Ok(Encoding::Auto), |e| {
        Encoding::from_str(e).map_err(|e| invalid_field("encoding", e.to_string()))
    })
}

/// `name,mobile,custom:budget,ignore` → the mapping; the error names the column (1-based).
fn parse_mapping(s: &str) -> ApiResult<ImportMapping> {
    let mut columns = Vec::new();
    for (index, target) in s.split(',').enumerate() {
        let target = ColumnTarget::parse(target).map_err(|e| {
            invalid_field("mapping", format!("column {}: {}", index + 1, e.message))
        })?;
        columns.push(target);
    }
    Ok(ImportMapping { columns })
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Mapping(e) => invalid_field("mapping", e.message)
            .with_details(serde_json::json!({ "field": "mapping", "reason": e.code })),
        ImportError::Tag(e) => invalid_field("tag", e.message),
        ImportError::Table(TabularError::UnknownEncoding(_)) => {
            invalid_field("encoding", "use auto, utf-8 or gbk")
        }
        ImportError::Table(e) => invalid_field("file", e.to_string()),
        ImportError::Store(e) => e.into(),
    }
}

/// An uploaded file in `upload_dir`, removed when dropped.
struct Upload {
    path: PathBuf,
}

impl Upload {
    /// Streams the request body to a new file, refusing an empty body or one over the limit.
    async fn receive(dir: &Path, limit_bytes: u64, mut body: Body) -> ApiResult<Upload> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(upload_failed)?;
        let upload = Upload {
            path: dir.join(format!("{:016x}.upload", rand::random::<u64>())),
        };
        let mut file = tokio::fs::File::create(&upload.path)
            .await
            .map_err(upload_failed)?;
        let mut size: u64 = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the upload was interrupted: {e}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            size += data.len() as u64;
            if size > limit_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the file is larger than {}; split it or import it with `hatchery import`",
                        size_text(limit_bytes)
                    ),
                ));
            }
            file.write_all(&data).await.map_err(upload_failed)?;
        }
        file.flush().await.map_err(upload_failed)?;
        if size == 0 {
            return Err(invalid_field(
                "file",
                "the request body is empty; send the file itself as the body",
            ));
        }
        Ok(upload)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, "could not remove an import upload");
            }
        }
    }
}

/// `200 MiB`, or bytes for limits under a MiB.
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn upload_failed(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "could not store an import upload");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "the upload could not be stored; retry later",
    )
}
