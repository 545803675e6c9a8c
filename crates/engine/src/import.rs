//! Imports of CRM/Excel exports (CSV or XLSX, UTF-8 or GBK) through the ingest pipeline.
//!
//! An import happens in two steps. [`prepare`] opens the file, checks the column mapping against its
//! header and records the batch (an `imports` row, status `queued`); a bad mapping or an unreadable
//! file is an error there and nothing is written. [`run`] then streams the rows: a blocking thread
//! reads and normalises them into [`Touch`]es a chunk at a time, and each chunk is written in one
//! transaction — so a million-row file costs a few dozen transactions and only a few chunks are
//! ever in memory. A chunk is resolved (its identifiers looked up in a read snapshot, its rows
//! planned against the import's [`Overlay`]) on a task of its own while the chunk before it is
//! written ([`plan_ahead`], [`write_planned`]), so the database's one writer does not wait for
//! that work; if anyone else changed the organisation's holdings in between, the chunk is
//! resolved again inside its transaction ([`commit_touches_with`]).
//!
//! A dry run reads the same rows and resolves them against one [`Overlay`] that lives for the whole
//! file, so it reports exactly what the real run would create, update, merge and reject, while
//! writing nothing but the `imports` row, its report and its rejected rows.
//!
//! Every row becomes an `import` event with the message id `import:imp_<id>:<row>`: running an
//! import again (after an interruption) stores no event twice, and resolution finds the contacts it
//! created the first time, so no contact is duplicated either.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use hatchery_domain::ids::ImportId;
use hatchery_domain::import_mapping::{split_tags, ColumnTarget, ImportMapping};
use hatchery_domain::normalize::{
    normalize_city, normalize_province, normalize_text, Email, FieldError, Landline, Mobile, Phone,
};
use hatchery_domain::{ContactId, Identifier, IdentityKind, IdentityRules, OrgId, StandardField};
use hatchery_store::imports::{Import, ImportStatus, Rejection};
use hatchery_store::ingest::{AccountLink, NewEvent, ProfileFields};
use hatchery_store::{Store, StoreError};
use hatchery_tabular::{count_data_rows, Encoding, Format, Row, Table, TabularError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::pipeline::{plan, Overlay, TouchResult};
use crate::touch::{AccountRef, Touch};
use crate::writer::{commit_touches_with, plan_ahead, rename_results, write_planned, Planned};

/// Rows resolved and written per transaction unless the caller says otherwise. Each row's
/// identities and name land on random pages of large indexes; a larger transaction writes each
/// such page once for more rows (at 1M rows on SQLite, 19 KB of WAL and checkpoint writes per row
/// with 5,000 rows, 7 KB with 25,000). The price is the time the transaction holds SQLite's write
/// lock (about two seconds here), during which live tracking batches wait.
pub const DEFAULT_CHUNK_ROWS: usize = 20_000;
/// The most rows one transaction may take.
pub const MAX_CHUNK_ROWS: usize = 50_000;
/// Row numbers kept per warning code, so a user can find examples without a second file.
const WARNING_SAMPLE_ROWS: usize = 20;
/// Chunks read ahead of the writer: parsing overlaps the transaction without unbounded memory.
const CHUNKS_AHEAD: usize = 2;
const MAX_TAG_CHARS: usize = 64;
/// The value of `source` on contacts an import creates, unless a column gives one.
pub const IMPORT_SOURCE: &str = "import";
/// The category of batch tags.
pub const BATCH_TAG_CATEGORY: &str = "import";

/// How to read a file and what to do with it.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Resolve and report, but write no contact, identity, tag link or event.
    pub dry_run: bool,
    /// One target per column; `None` guesses from the headers ([`ImportMapping::guess`]).
    pub mapping: Option<ImportMapping>,
    /// The tag every imported contact receives; default `import:<file stem> <yyyy-mm-dd>` (UTC).
    pub tag: Option<String>,
    pub encoding: Encoding,
    /// `None`: a ZIP signature means XLSX, then the file extension decides, else CSV.
    pub format: Option<Format>,
    /// Rows per transaction, 1 to [`MAX_CHUNK_ROWS`].
    pub chunk_rows: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            mapping: None,
            tag: None,
            encoding: Encoding::Auto,
            format: None,
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }
}

/// Why an import could not be prepared or did not finish. Messages name rows, columns and headers,
/// never cell values.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The mapping does not fit the file (wrong column count, no identity column, a bad target).
    #[error("{0}")]
    Mapping(FieldError),
    /// The batch tag name is empty or too long.
    #[error("{0}")]
    Tag(FieldError),
    /// The file cannot be read (or stopped being readable part-way).
    #[error(transparent)]
    Table(#[from] TabularError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a file looked like, kept in the report so the rejected-rows file can repeat its header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileInfo {
    /// `csv` or `xlsx`.
    pub format: String,
    /// `utf-8` or `gbk`, as read.
    pub encoding: String,
    pub headers: Vec<String>,
}

/// How the contacts of a batch can be reached, counted per contact (not per row) from what the file
/// gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reach {
    /// Distinct contacts the imported rows ended on.
    pub contacts: u64,
    /// With a WeChat unionID or openID.
    pub wechat: u64,
    pub mobile: u64,
    pub landline: u64,
    pub email: u64,
}

/// A problem in rows that were still imported (an invalid email next to a valid mobile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    pub count: u64,
    /// The first few row numbers with this problem (the header is row 1).
    pub first_rows: Vec<u64>,
}

/// The outcome of an import (or, while it runs, of the rows processed so far). The same shape for a
/// dry run and a real one. `rows = created + updated + duplicates_in_file + rejected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// The batch tag.
    pub tag: String,
    pub file: FileInfo,
    /// Data rows read (blank rows are skipped and not counted).
    pub rows: u64,
    /// Rows that created a new contact.
    pub created: u64,
    /// Rows that matched a contact already in the pool before this import.
    pub updated: u64,
    /// Rows that matched a contact an earlier row of this file created or matched.
    pub duplicates_in_file: u64,
    /// Contacts merged into another because a row showed they are one person.
    pub merged: u64,
    pub rejected: u64,
    /// Rejected rows by reason code (`invalid_email`, `no_identifier`, …).
    pub rejection_codes: BTreeMap<String, u64>,
    /// Values dropped from rows that were imported anyway, by code.
    pub warnings: BTreeMap<String, Warning>,
    pub reach: Reach,
}

impl ImportReport {
    fn reject(&mut self, code: &str) {
        self.rejected += 1;
        *self.rejection_codes.entry(code.to_owned()).or_default() += 1;
    }

    fn warn(&mut self, code: &str, row: u64) {
        let w = self.warnings.entry(code.to_owned()).or_default();
        w.count += 1;
        if w.first_rows.len() < WARNING_SAMPLE_ROWS {
            w.first_rows.push(row);
        }
    }
}

/// What the console shows before an import: the header, the guessed mapping and the first rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub file: FileInfo,
    /// The guessed target of each column, in file order.
    pub mapping: ImportMapping,
    /// Whether the guessed mapping can be used as it is (it may lack an identity column).
    pub mapping_problem: Option<String>,
    /// The first data rows, cells in file order.
    pub rows: Vec<PreviewRow>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewRow {
    pub row: u64,
    pub cells: Vec<String>,
}

/// An import recorded and ready to run: the file is open and its mapping checked.
pub struct PreparedImport {
    pub import: Import,
    pub mapping: ImportMapping,
    pub file: FileInfo,
    table: Table,
    tag: String,
    tag_id: Option<i64>,
    dry_run: bool,
    chunk_rows: usize,
}

impl std::fmt::Debug for PreparedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedImport")
            .field("import", &self.import.id)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Opens the file on a blocking thread (an XLSX sheet is read whole).
pub async fn open_table(path: &Path, opts: &ImportOptions) -> Result<Table, ImportError> {
    let (path, format, encoding) = (path.to_owned(), opts.format, opts.encoding);
    blocking(move || Table::open(&path, format, encoding)).await
}

/// The mapping to use for a file with these headers: the one given, else the guess; either way
/// validated.
pub fn mapping_for(
    headers: &[String],
    given: Option<&ImportMapping>,
) -> Result<ImportMapping, ImportError> {
    let mapping = given
        .cloned()
        .unwrap_or_else(|| ImportMapping::guess(headers));
    mapping
        .validate(headers.len())
        .map_err(ImportError::Mapping)?;
    Ok(mapping)
}

/// The header, guessed mapping and first `rows` data rows of a file, for a mapping screen.
pub async fn preview(
    path: &Path,
    opts: &ImportOptions,
    rows: usize,
) -> Result<Preview, ImportError> {
    let table = open_table(path, opts).await?;
    blocking(move || {
        let file = file_info(&table);
        let mapping = ImportMapping::guess(&table.headers);
        let mapping_problem = mapping
            .validate(table.headers.len())
            .err()
            .map(|e| e.message);
        let mut sample = Vec::with_capacity(rows);
        for row in table.take(rows) {
            let row = row?;
            sample.push(PreviewRow {
                row: row.number,
                cells: row.cells,
            });
        }
        Ok(Preview {
            file,
            mapping,
            mapping_problem,
            rows: sample,
        })
    })
    .await
}

/// Opens the file, checks the mapping and records the import (status `queued`). Nothing is written
/// when the file cannot be read or the mapping does not fit it.
pub async fn prepare(
    store: &Store,
    org: OrgId,
    path: &Path,
    file_name: &str,
    opts: &ImportOptions,
    now: i64,
) -> Result<PreparedImport, ImportError> {
    let table = open_table(path, opts).await?;
    prepare_table(store, org, path, file_name, table, opts, now).await
}

/// [`prepare`] for a table the caller already opened (to show its header first).
pub async fn prepare_table(
    store: &Store,
    org: OrgId,
    path: &Path,
    file_name: &str,
    table: Table,
    opts: &ImportOptions,
    now: i64,
) -> Result<PreparedImport, ImportError> {
    let mapping = mapping_for(&table.headers, opts.mapping.as_ref())?;
    let tag = batch_tag_name(opts.tag.as_deref(), file_name, now)?;
    // Counting a CSV re-reads it without decoding cells; an XLSX sheet would be loaded a second
    // time, so its total stays unknown and progress shows rows done only.
    let total_rows = match table.format {
        Format::Csv => {
            let path = path.to_owned();
            let total = blocking(move || count_data_rows(&path, Some(Format::Csv))).await?;
            Some(i64::try_from(total).unwrap_or(i64::MAX))
        }
        Format::Xlsx => None,
    };
    // A dry run creates no tag; it names the tag the real run would create.
    let tag_id = if opts.dry_run {
        store.tag_by_name(org, &tag).await?.map(|t| t.id)
    } else {
        Some(
            store
                .ensure_tag(org, &tag, Some(BATCH_TAG_CATEGORY), now)
                .await?
                .id,
        )
    };
    let targets: Vec<String> = mapping
        .columns
        .iter()
        .map(ColumnTarget::as_string)
        .collect();
    let import = store
        .create_import(
            org,
            file_name,
            opts.dry_run,
            &targets,
            tag_id,
            total_rows,
            now,
        )
        .await?;
    let file = file_info(&table);
    let report = ImportReport {
        dry_run: opts.dry_run,
        tag: tag.clone(),
        file: file.clone(),
        ..ImportReport::default()
    };
    store
        .update_import(
            org,
            import.id,
            ImportStatus::Queued,
            0,
            &report_json(&report),
            None,
            None,
        )
        .await?;
    let import = store.get_import(org, import.id).await?;
    tracing::info!(
        org.id = org.0,
        import.id = import.id.0,
        dry_run = opts.dry_run,
        columns = mapping.columns.len(),
        total_rows = total_rows.unwrap_or(-1),
        "import prepared"
    );
    Ok(PreparedImport {
        import,
        mapping,
        file,
        table,
        tag,
        tag_id,
        dry_run: opts.dry_run,
        chunk_rows: opts.chunk_rows.clamp(1, MAX_CHUNK_ROWS),
    })
}

fn file_info(table: &Table) -> FileInfo {
    FileInfo {
        format: table.format.as_str().to_owned(),
        encoding: table.detected_encoding.as_str().to_owned(),
        headers: table.headers.clone(),
    }
}

/// The tag name given, or `import:<file stem> <date>`; 1 to 64 characters after trimming.
fn batch_tag_name(given: Option<&str>, file_name: &str, now: i64) -> Result<String, ImportError> {
    if let Some(name) = given {
        let name = normalize_text(name).ok_or_else(|| {
            ImportError::Tag(FieldError::new("invalid_tag", "the tag name is empty"))
        })?;
        if name.chars().count() > MAX_TAG_CHARS {
            return Err(ImportError::Tag(FieldError::new(
                "invalid_tag",
                format!("a tag name may have at most {MAX_TAG_CHARS} characters"),
            )));
        }
        return Ok(name);
    }
    let date = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let stem = Path::new(file_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(normalize_text)
        .unwrap_or_else(|| "file".to_owned());
    // "import:" + stem + " " + date fits in 64 characters.
    let room = MAX_TAG_CHARS - "import: ".len() - date.len();
    let stem: String = stem.chars().take(room).collect();
    Ok(format!("import:{} {date}", stem.trim_end()))
}

/// Runs a prepared import to the end: marks it running, processes the rows chunk by chunk (storing
/// rejected rows and progress after each), and marks it completed, or failed with the reason. The
/// callback sees the running report after every chunk.
pub async fn run<F>(
    store: &Store,
    org: OrgId,
    prepared: PreparedImport,
    rules: &IdentityRules,
    metrics: &Arc<Metrics>,
    clock: &dyn Clock,
    mut progress: F,
) -> Result<ImportReport, ImportError>
where
    F: FnMut(u64, &ImportReport) + Send,
{
    let PreparedImport {
        import,
        mapping,
        file,
        table,
        tag,
        tag_id,
        dry_run,
        chunk_rows,
    } = prepared;
    let id = import.id;
    let mut batch = Batch {
        store,
        org,
        import: id,
        rules,
        rules_for_commit: Ok(rules.clone()),
        metrics,
        dry_run,
        tag: tag.clone(),
        tag_id,
        tag_ids: HashMap::new(),
        next_fake_tag: -1,
        overlay: Overlay::default(),
        contacts: HashMap::new(),
        report: ImportReport {
            dry_run,
            tag,
            file: file.clone(),
            ..ImportReport::default()
        },
        ahead: None,
        chunks_done: 0,
        accounts: HashMap::new(),
    };
    tracing::info!(org.id = org.0, import.id = id.0, dry_run, "import started");
    store
        .update_import(
            org,
            id,
            ImportStatus::Running,
            0,
            &report_json(&batch.report),
            None,
            None,
        )
        .await?;

    let reader = RowReader::new(&mapping, &file.headers, rules.clone());
    let (tx, mut rx) = mpsc::channel::<Feed>(CHUNKS_AHEAD);
    let read_task = tokio::task::spawn_blocking(move || read_rows(table, &reader, chunk_rows, &tx));

    let started = std::time::Instant::now();
    let mut failure: Option<ImportError> = None;
    let mut reading = true;
    let mut analyzed = dry_run;
    while reading {
        // The chunk still resolved ahead is written once the file ends, or before its failure.
        let counted = match rx.recv().await {
            Some(Feed::Chunk(rows)) => batch.process(rows, clock.now_ms()).await,
            Some(Feed::Failed(e)) => {
                failure = Some(e.into());
                reading = false;
                batch.finish(clock.now_ms()).await
            }
            None => {
                reading = false;
                batch.finish(clock.now_ms()).await
            }
        };
        match counted {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                // A read failure that came first stays the reason.
                failure.get_or_insert(e);
                break;
            }
        }
        // PostgreSQL plans the lookups from table statistics; gathered on a near-empty pool they
        // make the planner pick a plan that reads every identity per looked-up value, and the
        // chunks after the first of a first large import stalled for minutes. Statistics are
        // gathered once the first chunk is written (a no-op on SQLite).
        if !analyzed {
            analyzed = true;
            if let Err(e) = store.analyze().await {
                failure = Some(e.into());
                break;
            }
        }
        let processed = batch.report.rows;
        let saved = store
            .update_import(
                org,
                id,
                ImportStatus::Running,
                to_i64(processed),
                &report_json(&batch.report),
                None,
                None,
            )
            .await;
        if let Err(e) = saved {
            failure = Some(e.into());
            break;
        }
        progress(processed, &batch.report);
    }
    // Stops the reader if we broke off early.
    drop(rx);
    let _ = read_task.await;

    let report = batch.report;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let processed = to_i64(report.rows);
    match failure {
        None => {
            store
                .update_import(
                    org,
                    id,
                    ImportStatus::Completed,
                    processed,
                    &report_json(&report),
                    None,
                    Some(clock.now_ms()),
                )
                .await?;
            tracing::info!(
                org.id = org.0,
                import.id = id.0,
                dry_run,
                rows = report.rows,
                created = report.created,
                updated = report.updated,
                duplicates = report.duplicates_in_file,
                merged = report.merged,
                rejected = report.rejected,
                duration_ms = elapsed_ms,
                "import completed"
            );
            Ok(report)
        }
        Some(e) => {
            let message = e.to_string();
            tracing::warn!(org.id = org.0, import.id = id.0, rows = report.rows, error = %message, "import failed");
            let marked = store
                .update_import(
                    org,
                    id,
                    ImportStatus::Failed,
                    processed,
                    &report_json(&report),
                    Some(&message),
                    Some(clock.now_ms()),
                )
                .await;
            if let Err(mark) = marked {
                tracing::error!(org.id = org.0, import.id = id.0, error = %mark, "could not mark the import failed");
            }
            Err(e)
        }
    }
}

fn report_json(report: &ImportReport) -> Value {
    serde_json::to_value(report).unwrap_or_else(|_| json!({}))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn blocking<T, F>(f: F) -> Result<T, ImportError>
where
    F: FnOnce() -> Result<T, TabularError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ImportError::Table),
        Err(e) => Err(ImportError::Table(TabularError::Io(std::io::Error::other(
            e.to_string(),
        )))),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading rows (blocking thread)
// ---------------------------------------------------------------------------------------------

/// What the reading thread hands over.
enum Feed {
    Chunk(Vec<RowOutcome>),
    /// The file stopped being readable (an unclosed quote, an I/O error); nothing follows.
    Failed(TabularError),
}

#[expect(
    clippy::large_enum_variant,
    reason = "nearly every row parses; boxing the common case would allocate once per row"
)]
enum RowOutcome {
    Parsed(ParsedRow),
    Rejected(Rejection),
}

/// One row, normalised, before tags have ids.
struct ParsedRow {
    number: u64,
    identifiers: Vec<Identifier>,
    profile: ProfileFields,
    source: Option<String>,
    tags: Vec<String>,
    reach: u8,
    /// Codes of values dropped from the row.
    warnings: Vec<&'static str>,
}

const REACH_WECHAT: u8 = 1;
const REACH_MOBILE: u8 = 2;
const REACH_LANDLINE: u8 = 4;
const REACH_EMAIL: u8 = 8;

fn read_rows(table: Table, reader: &RowReader, chunk_rows: usize, tx: &mpsc::Sender<Feed>) {
    let mut chunk = Vec::with_capacity(chunk_rows);
    for item in table {
        let outcome = match item {
            Ok(row) => reader.read(row),
            Err(e) => match row_error(&e) {
                Some((row, code)) => RowOutcome::Rejected(Rejection {
                    row: to_i64(row),
                    code: code.to_owned(),
                    reason: e.to_string(),
                    cells: Vec::new(),
                }),
                None => {
                    if !chunk.is_empty()
                        && tx
                            .blocking_send(Feed::Chunk(std::mem::take(&mut chunk)))
                            .is_err()
                    {
                        return;
                    }
                    let _ = tx.blocking_send(Feed::Failed(e));
                    return;
                }
            },
        };
        chunk.push(outcome);
        if chunk.len() >= chunk_rows
            && tx
                .blocking_send(Feed::Chunk(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(chunk_rows),
                )))
                .is_err()
        {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Feed::Chunk(chunk));
    }
}

/// The row and rejection code of an error that spoils one row only; `None` for one that ends the file.
fn row_error(e: &TabularError) -> Option<(u64, &'static str)> {
    match e {
        TabularError::TooManyColumns { row, .. } => Some((*row, "too_many_columns")),
        TabularError::CellTooLong { row, .. } => Some((*row, "cell_too_long")),
        TabularError::InvalidUtf8 { row } => Some((*row, "invalid_utf8")),
        _ => None,
    }
}

/// Turns rows into normalised identifiers and profile fields according to the mapping.
struct RowReader {
    columns: Vec<ColumnTarget>,
    headers: Vec<String>,
    rules: IdentityRules,
}

/// An identifier cell that could not be used, with the column it came from.
struct CellProblem {
    column: usize,
    error: FieldError,
}

impl RowReader {
    fn new(mapping: &ImportMapping, headers: &[String], rules: IdentityRules) -> RowReader {
        RowReader {
            columns: mapping.columns.clone(),
            headers: headers.to_vec(),
            rules,
        }
    }

    fn reject(row: Row, code: &str, reason: String) -> RowOutcome {
        RowOutcome::Rejected(Rejection {
            row: to_i64(row.number),
            code: code.to_owned(),
            reason,
            cells: row.cells,
        })
    }

    /// The reason for a problem in column `column` (0-based), naming it as a spreadsheet would.
    fn reason(&self, column: usize, message: &str) -> String {
        match self.headers.get(column) {
            Some(h) if !h.is_empty() => format!("column {} ({h}): {message}", column + 1),
            _ => format!("column {}: {message}", column + 1),
        }
    }

    fn read(&self, row: Row) -> RowOutcome {
        let width = self.columns.len();
        if let Some(extra) = row.cells.iter().skip(width).rposition(|c| !c.is_empty()) {
            let count = width + extra + 1;
            return Self::reject(
                row,
                "extra_cells",
                format!("the row has {count} cells but the header has {width} columns; a delimiter inside a cell may not be quoted"),
            );
        }
        let mut p = ParsedRow {
            number: row.number,
            identifiers: Vec::new(),
            profile: ProfileFields::default(),
            source: None,
            tags: Vec::new(),
            reach: 0,
            warnings: Vec::new(),
        };
        let mut problems: Vec<CellProblem> = Vec::new();
        for (column, (target, cell)) in self.columns.iter().zip(&row.cells).enumerate() {
            if cell.is_empty() {
                continue;
            }
            if let Err(error) = self.read_cell(&mut p, target, cell) {
                if target.identifies_contact() {
                    problems.push(CellProblem { column, error });
                } else {
                    p.warnings.push(error.code);
                }
            }
        }
        if p.identifiers.is_empty() {
            let (code, reason) = match problems.first() {
                Some(problem) => (problem.error.code, self.reason(problem.column, &problem.error.message)),
                None if p.reach & REACH_LANDLINE != 0 => (
                    "landline_only",
                    "the row's only number is a landline, which cannot tell people apart (a switchboard is \
                     shared); add a mobile, an email or another identifier"
                        .to_owned(),
                ),
                None => (
                    "no_identifier",
                    "the row has no email, mobile or other identifier (or only placeholder values such as 0 or null)"
                        .to_owned(),
                ),
            };
            return Self::reject(row, code, reason);
        }
        p.warnings
            .extend(problems.iter().map(|problem| problem.error.code));
        RowOutcome::Parsed(p)
    }

    /// Reads one non-empty cell into the row; an `Err` is a value that was dropped.
    fn read_cell(
        &self,
        p: &mut ParsedRow,
        target: &ColumnTarget,
        cell: &str,
    ) -> Result<(), FieldError> {
        use StandardField as F;
        match target {
            ColumnTarget::Field(F::Email) | ColumnTarget::Identity(IdentityKind::Email) => {
                let email = Email::parse(cell)?;
                p.profile
                    .email
                    .get_or_insert_with(|| email.as_str().to_owned());
                self.identify(p, IdentityKind::Email, email.into_string(), REACH_EMAIL);
            }
            ColumnTarget::Field(F::Mobile) | ColumnTarget::Identity(IdentityKind::Mobile) => {
                match Mobile::parse(cell) {
                    Ok(mobile) => self.add_mobile(p, mobile),
                    Err(e) => {
                        // A landline typed into the mobile column is still worth keeping, as the landline.
                        if e.code == "landline_not_mobile" {
                            if let Ok(landline) = Landline::parse(cell) {
                                add_landline(p, landline);
                            }
                        }
                        return Err(e);
                    }
                }
            }
            ColumnTarget::Phone => match Phone::parse(cell)? {
                Phone::Mobile(mobile) => self.add_mobile(p, mobile),
                Phone::Landline(landline) => add_landline(p, landline),
            },
            ColumnTarget::Field(F::Landline) => add_landline(p, Landline::parse(cell)?),
            ColumnTarget::Identity(IdentityKind::WechatOpenid) => {
                let valid = cell.split_once(':').is_some_and(|(app, open_id)| {
                    !app.is_empty() && !open_id.is_empty() && !cell.chars().any(char::is_whitespace)
                });
                if !valid {
                    return Err(FieldError::new(
                        "invalid_openid",
                        "a WeChat openID must be written `<app id>:<openID>` (openIDs differ per official account or mini program)",
                    ));
                }
                self.identify(p, IdentityKind::WechatOpenid, cell.to_owned(), REACH_WECHAT);
            }
            ColumnTarget::Identity(kind) => {
                let reach = if *kind == IdentityKind::WechatUnionid {
                    REACH_WECHAT
                } else {
                    0
                };
                self.identify(p, *kind, cell.to_owned(), reach);
            }
            ColumnTarget::Field(F::Province) => {
                p.profile.province = normalize_text(cell).map(|v| normalize_province(&v))
            }
            ColumnTarget::Field(F::City) => {
                p.profile.city = normalize_text(cell).map(|v| normalize_city(&v))
            }
            ColumnTarget::Field(F::Source) => p.source = normalize_text(cell),
            ColumnTarget::Field(field) => {
                let value = normalize_text(cell);
                let slot = match field {
                    F::Name => &mut p.profile.name,
                    F::Company => &mut p.profile.company,
                    F::Title => &mut p.profile.title,
                    F::Department => &mut p.profile.department,
                    F::Industry => &mut p.profile.industry,
                    F::CompanySize => &mut p.profile.company_size,
                    F::Email | F::Mobile | F::Landline | F::Province | F::City | F::Source => {
                        return Ok(())
                    }
                };
                *slot = value;
            }
            ColumnTarget::Custom(key) => {
                if let Some(value) = normalize_text(cell) {
                    p.profile.custom.insert(key.clone(), Value::String(value));
                }
            }
            ColumnTarget::Tags => {
                for tag in split_tags(cell) {
                    if !p.tags.contains(&tag) {
                        p.tags.push(tag);
                    }
                }
            }
            ColumnTarget::Ignore => {}
        }
        Ok(())
    }

    fn add_mobile(&self, p: &mut ParsedRow, mobile: Mobile) {
        p.profile
            .mobile
            .get_or_insert_with(|| mobile.as_str().to_owned());
        self.identify(p, IdentityKind::Mobile, mobile.into_string(), REACH_MOBILE);
    }

    /// Adds an identifier unless the organisation treats its value as a placeholder.
    fn identify(&self, p: &mut ParsedRow, kind: IdentityKind, value: String, reach: u8) {
        if self.rules.is_blocked(&value) {
            return;
        }
        let id = Identifier::new(kind, value);
        if !p.identifiers.contains(&id) {
            p.identifiers.push(id);
        }
        p.reach |= reach;
    }
}

/// A landline fills the landline field only: it never identifies a person (switchboards are shared).
fn add_landline(p: &mut ParsedRow, landline: Landline) {
    p.profile
        .landline
        .get_or_insert_with(|| landline.into_string());
    p.reach |= REACH_LANDLINE;
}

// ---------------------------------------------------------------------------------------------
// Writing chunks
// ---------------------------------------------------------------------------------------------

/// The state of one running import.
struct Batch<'a> {
    store: &'a Store,
    org: OrgId,
    import: ImportId,
    rules: &'a IdentityRules,
    rules_for_commit: Result<IdentityRules, StoreError>,
    metrics: &'a Arc<Metrics>,
    dry_run: bool,
    tag: String,
    tag_id: Option<i64>,
    /// Tag name → id for tags named in the file (stand-in negative ids in a dry run).
    tag_ids: HashMap<String, i64>,
    next_fake_tag: i64,
    /// A dry run's view of the pool plus everything the file would have created so far. A real run
    /// keeps the holdings its chunks loaded and wrote, as the ingest writer does, so a row repeating
    /// a person of an earlier chunk needs no lookup; each transaction checks the organisation's
    /// holdings counter first and starts afresh if anyone else changed them.
    overlay: Overlay,
    /// Contacts the file has reached, with the channels it gave them.
    contacts: HashMap<ContactId, u8>,
    report: ImportReport,
    /// A real run's chunk resolved ahead of its transaction: it is written when the next chunk
    /// arrives (or the file ends), while that one is resolved.
    ahead: Option<AheadChunk>,
    /// Chunks written (or, in a dry run, resolved) and counted in the report.
    chunks_done: u64,
    /// Accounts the import found or created by name (name key → id), so that a company named again
    /// in a later chunk needs no lookup (see
    /// [`hatchery_store::ingest::IngestWrite::known_accounts`]); at most [`KNOWN_ACCOUNTS`].
    accounts: HashMap<String, i64>,
}

/// Most accounts an import remembers by name (≈ 60 bytes each).
const KNOWN_ACCOUNTS: usize = 200_000;

/// A chunk's rows as the report counts them once the chunk is written.
struct ChunkRows {
    total: u64,
    rejections: Vec<Rejection>,
    /// Codes of values dropped from rows imported anyway, with the row numbers.
    warnings: Vec<(&'static str, u64)>,
    /// Row number and reach of each touch, in the touches' order.
    touched: Vec<(u64, u8)>,
}

/// A chunk resolved outside any transaction (see [`plan_ahead`]).
struct AheadChunk {
    rows: ChunkRows,
    planned: Planned,
    /// The holdings counter the plan assumes.
    expected: i64,
    /// The touches as they were before resolving: if someone else (live tracking of the same
    /// organisation) changed the holdings in between, the chunk is resolved again inside its
    /// transaction.
    touches: Vec<Touch>,
}

/// What resolving a chunk on a task of its own gives back: the overlay, the plan and the touches
/// as they were before it.
type Resolving = tokio::task::JoinHandle<(Overlay, Result<Planned, StoreError>, Vec<Touch>)>;

impl Batch<'_> {
    /// Takes one chunk of rows. A dry run resolves it at once. A real run writes the chunk
    /// resolved before while this one is looked up and planned on a task of its own, so that
    /// SQLite's one write connection does not wait for lookups and planning. Returns whether
    /// chunks were counted in the report (the first chunk of a real run is only resolved).
    async fn process(&mut self, rows: Vec<RowOutcome>, now: i64) -> Result<bool, ImportError> {
        let done = self.chunks_done;
        let (chunk, touches) = self.read_chunk(rows, now).await?;
        if touches.is_empty() {
            // Every row rejected: nothing to resolve or write.
            self.count_chunk(chunk, Vec::new()).await?;
        } else if self.dry_run {
            self.overlay.load(self.store, self.org, &touches).await?;
            let results = plan(self.rules, &mut self.overlay, touches).1;
            self.count_chunk(chunk, results).await?;
        } else if let Some(cur) = self.ahead.take() {
            self.write_resolving(cur, Some((chunk, touches)), now)
                .await?;
        } else {
            self.resolve_alone(chunk, touches, now).await?;
        }
        Ok(self.chunks_done > done)
    }

    /// Writes the chunk still resolved ahead, at the end of the file. Returns whether one was.
    async fn finish(&mut self, now: i64) -> Result<bool, ImportError> {
        let done = self.chunks_done;
        if let Some(cur) = self.ahead.take() {
            self.write_resolving(cur, None, now).await?;
        }
        Ok(self.chunks_done > done)
    }

    /// Turns a chunk's rows into touches; the report counts them once the chunk is written.
    async fn read_chunk(
        &mut self,
        rows: Vec<RowOutcome>,
        now: i64,
    ) -> Result<(ChunkRows, Vec<Touch>), ImportError> {
        let mut chunk = ChunkRows {
            total: rows.len() as u64,
            rejections: Vec::new(),
            warnings: Vec::new(),
            touched: Vec::with_capacity(rows.len()),
        };
        let mut touches: Vec<Touch> = Vec::with_capacity(rows.len());
        for outcome in rows {
            match outcome {
                RowOutcome::Rejected(r) => chunk.rejections.push(r),
                RowOutcome::Parsed(p) => {
                    chunk
                        .warnings
                        .extend(p.warnings.iter().map(|code| (*code, p.number)));
                    chunk.touched.push((p.number, p.reach));
                    touches.push(self.touch(p, now).await?);
                }
            }
        }
        Ok((chunk, touches))
    }

    /// Starts resolving `touches` on a task of its own, against the batch's overlay (which goes
    /// with the task and comes back with the plan).
    fn resolve_on_task(&mut self, touches: Vec<Touch>) -> Resolving {
        let (store, org, rules) = (self.store.clone(), self.org, self.rules.clone());
        let metrics = self.metrics.clone();
        let overlay = std::mem::take(&mut self.overlay);
        tokio::spawn(async move {
            let copy = touches.clone();
            let (overlay, planned) =
                plan_ahead(&store, org, rules, overlay, touches, None, &metrics).await;
            (overlay, planned, copy)
        })
    }

    /// Resolves a chunk with nothing being written meanwhile (the first chunk, or one after the
    /// overlay started afresh): it becomes the chunk resolved ahead, or, if the overlay turned out
    /// stale, it is written at once, resolved inside its transaction.
    async fn resolve_alone(
        &mut self,
        chunk: ChunkRows,
        touches: Vec<Touch>,
        now: i64,
    ) -> Result<(), ImportError> {
        let started = std::time::Instant::now();
        let before = self.overlay.epoch();
        let (overlay, planned, copy) = self.resolve_on_task(touches).await.map_err(join_error)?;
        self.overlay = overlay;
        self.add_write_time(started);
        match planned {
            Ok(planned) if before.is_none() || planned.seen.is_none() || planned.seen == before => {
                let expected = self.overlay.epoch().unwrap_or_default();
                self.ahead = Some(AheadChunk {
                    rows: chunk,
                    planned,
                    expected,
                    touches: copy,
                });
                Ok(())
            }
            Ok(_) => {
                self.overlay.clear();
                self.write_again(chunk, copy, now).await
            }
            Err(e) => {
                self.overlay.clear();
                Err(e.into())
            }
        }
    }

    /// Writes `cur` and, meanwhile, resolves `next` (unless the overlay is full and must start
    /// afresh after this write). A plan made ahead is written only if the holdings counter is the
    /// one it assumed ([`write_planned`]); otherwise the chunk is resolved again in its
    /// transaction, and so is `next`, whose plan built on it.
    async fn write_resolving(
        &mut self,
        mut cur: AheadChunk,
        next: Option<(ChunkRows, Vec<Touch>)>,
        now: i64,
    ) -> Result<(), ImportError> {
        let started = std::time::Instant::now();
        let (to_plan, later) = match next {
            Some(n) if !self.overlay.is_full() => (Some(n), None),
            n => (None, n),
        };
        let resolving = to_plan.map(|(chunk, touches)| (chunk, self.resolve_on_task(touches)));
        for key in cur
            .planned
            .write
            .accounts
            .iter()
            .filter_map(AccountLink::name_key)
        {
            if let Some(id) = self.accounts.get(&key) {
                cur.planned.write.known_accounts.insert(key, *id);
            }
        }
        let written = write_planned(
            self.store,
            self.org,
            &mut cur.planned.write,
            cur.expected,
            now,
            self.metrics,
        )
        .await;
        let resolved = match resolving {
            None => None,
            Some((chunk, task)) => {
                let (overlay, planned, copy) = task.await.map_err(join_error)?;
                self.overlay = overlay;
                Some((chunk, planned, copy))
            }
        };
        self.add_write_time(started);
        let (out, end) = match written {
            Ok(Some(w)) => w,
            Ok(None) => {
                // Someone else changed the holdings since `cur` was resolved.
                self.overlay.clear();
                self.write_again(cur.rows, cur.touches, now).await?;
                if let Some((chunk, _, copy)) = resolved {
                    self.write_again(chunk, copy, now).await?;
                }
                return self.resolve_later(later, now).await;
            }
            Err(e) => {
                // The plans changed the overlay for writes that did not happen.
                self.overlay.clear();
                return Err(e.into());
            }
        };
        self.overlay.committed(&out.created, Some(end));
        let room = KNOWN_ACCOUNTS.saturating_sub(self.accounts.len());
        self.accounts
            .extend(out.accounts_by_name.into_iter().take(room));
        let mut results = cur.planned.results;
        rename_results(&mut results, &out.created);
        self.count_chunk(cur.rows, results).await?;
        match resolved {
            // The snapshot it read was the holdings `cur` was resolved against, or those `cur`
            // left: either way nobody else changed them in between.
            Some((chunk, Ok(mut planned), copy))
                if planned.seen.is_none_or(|e| e == cur.expected || e == end) =>
            {
                planned.write.rename_contacts(&out.created);
                rename_results(&mut planned.results, &out.created);
                self.ahead = Some(AheadChunk {
                    rows: chunk,
                    planned,
                    expected: end,
                    touches: copy,
                });
            }
            Some((chunk, Ok(_), copy)) => {
                self.overlay.clear();
                self.write_again(chunk, copy, now).await?;
            }
            Some((_, Err(e), _)) => {
                self.overlay.clear();
                return Err(e.into());
            }
            None if self.overlay.is_full() => self.overlay.clear(),
            None => {}
        }
        self.resolve_later(later, now).await
    }

    async fn resolve_later(
        &mut self,
        later: Option<(ChunkRows, Vec<Touch>)>,
        now: i64,
    ) -> Result<(), ImportError> {
        match later {
            Some((chunk, touches)) => self.resolve_alone(chunk, touches, now).await,
            None => Ok(()),
        }
    }

    /// A chunk resolved ahead whose plan turned out stale, resolved and written in its transaction.
    async fn write_again(
        &mut self,
        chunk: ChunkRows,
        touches: Vec<Touch>,
        now: i64,
    ) -> Result<(), ImportError> {
        self.metrics
            .import_resolved_again
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.write_in_transaction(chunk, touches, now).await
    }

    /// Resolves and writes a chunk in one transaction that holds the holdings lock throughout.
    async fn write_in_transaction(
        &mut self,
        chunk: ChunkRows,
        touches: Vec<Touch>,
        now: i64,
    ) -> Result<(), ImportError> {
        let started = std::time::Instant::now();
        let results = commit_touches_with(
            self.store,
            self.org,
            &self.rules_for_commit,
            touches,
            now,
            self.metrics,
            &mut self.overlay,
        )
        .await?;
        self.add_write_time(started);
        self.count_chunk(chunk, results).await
    }

    fn add_write_time(&self, started: std::time::Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.metrics
            .import_write_micros
            .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a written (or, in a dry run, resolved) chunk in the report and stores its rejected
    /// rows.
    async fn count_chunk(
        &mut self,
        chunk: ChunkRows,
        results: Vec<TouchResult>,
    ) -> Result<(), ImportError> {
        use std::sync::atomic::Ordering::Relaxed;
        self.report.rows += chunk.total;
        for r in &chunk.rejections {
            self.report.reject(&r.code);
        }
        for (code, row) in chunk.warnings {
            self.report.warn(code, row);
        }
        let mut rejections = chunk.rejections;
        for ((number, reach), result) in chunk.touched.into_iter().zip(results) {
            self.count(number, reach, &result, &mut rejections);
        }
        rejections.sort_unstable_by_key(|r| r.row);
        self.metrics.import_rows.fetch_add(chunk.total, Relaxed);
        self.metrics
            .import_rows_rejected
            .fetch_add(rejections.len() as u64, Relaxed);
        if !self.dry_run {
            self.metrics.import_chunks.fetch_add(1, Relaxed);
        }
        self.chunks_done += 1;
        self.store
            .add_rejections(self.org, self.import, &rejections)
            .await?;
        Ok(())
    }

    fn count(
        &mut self,
        number: u64,
        reach: u8,
        result: &TouchResult,
        rejections: &mut Vec<Rejection>,
    ) {
        let Some(contact) = result.contact else {
            // Every identifier was dropped by the rules; nothing was written for the row.
            self.report.reject("no_identifier");
            rejections.push(Rejection {
                row: to_i64(number),
                code: "no_identifier".to_owned(),
                reason:
                    "no identifier of the row could be used under the organisation's identity rules"
                        .to_owned(),
                cells: Vec::new(),
            });
            return;
        };
        self.report.merged += u64::from(result.merged);
        let known = match self.contacts.entry(contact) {
            Entry::Occupied(mut e) => {
                self.report.duplicates_in_file += 1;
                let new = reach & !*e.get();
                *e.get_mut() |= reach;
                new
            }
            Entry::Vacant(e) => {
                if result.created {
                    self.report.created += 1;
                } else {
                    self.report.updated += 1;
                }
                self.report.reach.contacts += 1;
                e.insert(reach);
                reach
            }
        };
        let r = &mut self.report.reach;
        for (bit, counter) in [
            (REACH_WECHAT, &mut r.wechat),
            (REACH_MOBILE, &mut r.mobile),
            (REACH_LANDLINE, &mut r.landline),
            (REACH_EMAIL, &mut r.email),
        ] {
            if known & bit != 0 {
                *counter += 1;
            }
        }
    }

    async fn touch(&mut self, p: ParsedRow, now: i64) -> Result<Touch, ImportError> {
        let mut tags = Vec::with_capacity(p.tags.len() + 1);
        tags.extend(self.tag_id);
        for name in &p.tags {
            tags.push(self.tag_id_of(name, now).await?);
        }
        let imp = self.import.to_string();
        let row = p.number;
        let account = p.profile.company.clone().map(|name| AccountRef {
            name: Some(name),
            ..AccountRef::default()
        });
        let event = NewEvent {
            contact: ContactId(0),
            message_id: format!("import:{imp}:{row}"),
            client_at: 0,
            kind: "import".to_owned(),
            name: Some(self.tag.clone()),
            occurred_at: now,
            sent_at: None,
            received_at: now,
            source_id: None,
            channel: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            properties: json!({ "import_id": imp, "row": row }).to_string(),
            context: "{}".to_owned(),
        };
        Ok(Touch {
            identifiers: p.identifiers,
            profile: p.profile,
            source: Some(p.source.unwrap_or_else(|| IMPORT_SOURCE.to_owned())),
            tags,
            account,
            event: Some(event),
            origin: format!("{imp}:row:{row}"),
            cause: format!("import:{imp}:row:{row}"),
            at: now,
        })
    }

    async fn tag_id_of(&mut self, name: &str, now: i64) -> Result<i64, ImportError> {
        if let Some(id) = self.tag_ids.get(name) {
            return Ok(*id);
        }
        let id = if self.dry_run {
            self.next_fake_tag -= 1;
            self.next_fake_tag
        } else {
            self.store.ensure_tag(self.org, name, None, now).await?.id
        };
        self.tag_ids.insert(name.to_owned(), id);
        Ok(id)
    }
}

// ---------------------------------------------------------------------------------------------
// The rejected-rows file
// ---------------------------------------------------------------------------------------------

/// The start of a rejected-rows file for Excel: a UTF-8 byte-order mark (without it Excel reads
/// the file in the local code page and garbles Chinese), then the header `row, code, reason,
/// <the file's headers…>`. Rows follow from [`rejections_csv_lines`].
pub fn rejections_csv_head(headers: &[String]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut header: Vec<&str> = vec!["row", "code", "reason"];
    header.extend(headers.iter().map(String::as_str));
    out.extend(csv_lines([header]));
    out
}

/// Rejected rows as CSV lines: row number, code, reason, then the row's original cells.
pub fn rejections_csv_lines(rows: &[Rejection]) -> Vec<u8> {
    csv_lines(rows.iter().map(|r| {
        let mut record = vec![r.row.to_string(), r.code.clone(), r.reason.clone()];
        record.extend(r.cells.iter().cloned());
        record
    }))
}

fn csv_lines<I, R, F>(records: I) -> Vec<u8>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    // Records of different lengths are expected (rows keep their own cells), and writing into memory
    // cannot fail, so no record is ever refused.
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for record in records {
        out.write_record(record)
            .expect("a flexible CSV writer into memory accepts every record");
    }
    out.into_inner().expect("flushing into memory cannot fail")
}

/// The headers stored with an import's report (empty when the report predates them).
pub fn report_headers(report: &Value) -> Vec<String> {
    report
        .get("file")
        .and_then(|f| f.get("headers"))
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .unwrap_or_default()
}

fn join_error(e: tokio::task::JoinError) -> ImportError {
    ImportError::Store(StoreError::Conflict(format!(
        "resolving a chunk failed: {e}"
    )))
}
