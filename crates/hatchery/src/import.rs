//! `hatchery import FILE`: imports a CRM/Excel export from the command line, with the same engine
//! as the API. The mapping is shown before anything is written, a progress bar follows the rows,
//! and the summary says how the batch can be reached.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hatchery_domain::import_mapping::{ColumnTarget, ImportMapping};
use hatchery_engine::import::{
    self, ImportError, ImportOptions, ImportReport, DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS,
};
use hatchery_engine::{Clock, Metrics, SystemClock};
use hatchery_store::imports::ImportStatus;
use hatchery_store::Store;
use hatchery_tabular::{Encoding, Format};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{org_or_default, Config};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The CSV (UTF-8 or GBK) or XLSX file.
    pub file: PathBuf,
    /// Report what would be created, updated, merged and rejected without changing the pool.
    #[arg(long)]
    pub dry_run: bool,
    /// Column targets, comma-separated, in file order: a field (`name`, `mobile`, `email`,
    /// `company` …), `phone`, `identity:<kind>`, `custom:<key>`, `tags` or `ignore`.
    /// Default: guessed from the headers (the guess is printed first).
    #[arg(long)]
    pub mapping: Option<String>,
    /// The tag every imported contact receives. Default: `import:<file name> <date>`.
    #[arg(long)]
    pub tag: Option<String>,
    /// `auto`, `utf-8` or `gbk` (CSV only; Excel on Chinese Windows saves CSV as GBK).
    #[arg(long, default_value = "auto")]
    pub encoding: String,
    /// `csv` or `xlsx`. Default: from the content and the file name.
    #[arg(long)]
    pub format: Option<String>,
    /// Organisation id (`org_1`); default: the first organisation.
    #[arg(long)]
    pub org: Option<String>,
    /// Write the rejected rows (with row number, code and reason) to this CSV file.
    #[arg(long)]
    pub rejected_out: Option<PathBuf>,
    /// Rows resolved and written per transaction.
    #[arg(long, default_value_t = DEFAULT_CHUNK_ROWS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CHUNK_ROWS as u64))]
    pub chunk_rows: usize,
}

pub async fn run(cfg: Config, args: ImportArgs) -> Result<()> {
    let opts = options(&args)?;
    let file_name = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .context("FILE must name a file")?
        .to_owned();

    // Read the header and check the mapping before the database is touched.
    let table = import::open_table(&args.file, &opts)
        .await
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let shown = opts
        .mapping
        .clone()
        .unwrap_or_else(|| ImportMapping::guess(&table.headers));
    print_mapping(&table.headers, &shown, opts.mapping.is_some());
    if let Err(e) = import::mapping_for(&table.headers, opts.mapping.as_ref()) {
        bail!("{e}\nnothing was imported; pass --mapping with one target per column, e.g.\n  --mapping {}", mapping_arg(&shown));
    }

    let store = cfg.connect().await?;
    let org = org_or_default(&store, args.org.as_deref()).await?;
    let rules = store.identity_rules(org).await?;
    let clock = SystemClock;
    let prepared = import::prepare_table(
        &store,
        org,
        &args.file,
        &file_name,
        table,
        &opts,
        clock.now_ms(),
    )
    .await
    .map_err(|e| describe(&e, &args.file))?;
    let id = prepared.import.id;
    let total = prepared
        .import
        .total_rows
        .and_then(|n| u64::try_from(n).ok());
    println!(
        "{} {id}: {}{}",
        if opts.dry_run { "Dry run" } else { "Import" },
        file_name,
        total.map_or_else(String::new, |n| format!(", {n} rows")),
    );

    let bar = progress_bar(total);
    let last: Arc<Mutex<(u64, ImportReport)>> = Arc::default();
    let seen = last.clone();
    let on_progress = {
        let bar = bar.clone();
        move |processed: u64, report: &ImportReport| {
            bar.set_position(processed);
            if let Ok(mut l) = seen.lock() {
                *l = (processed, report.clone());
            }
        }
    };
    let started = Instant::now();
    let metrics = std::sync::Arc::new(Metrics::default());
    let outcome = tokio::select! {
        r = import::run(&store, org, prepared, &rules, &metrics, &clock, on_progress) => r,
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            let (processed, report) = last.lock().map(|l| l.clone()).unwrap_or_default();
            let message = "interrupted: the import was stopped; run it again (rows already imported are matched, not duplicated)";
            let report = serde_json::to_value(&report)?;
            store
                .update_import(org, id, ImportStatus::Failed, i64::try_from(processed)?, &report, Some(message), Some(clock.now_ms()))
                .await?;
            bail!("stopped after {processed} rows; {id} is marked failed");
        }
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            let (processed, _) = last.lock().map(|l| l.clone()).unwrap_or_default();
            return Err(describe(&e, &args.file))
                .with_context(|| format!("{id} failed after {processed} rows"));
        }
    };
    print_summary(&report, elapsed);
    if let Some(out) = &args.rejected_out {
        let written = write_rejections(&store, org, id, &report.file.headers, out).await?;
        println!("rejected rows: {written} written to {}", out.display());
    } else if report.rejected > 0 {
        println!("rejected rows: see them with --rejected-out rejected.csv, or GET /api/v1/imports/{id}/rejections");
    }
    Ok(())
}

fn options(args: &ImportArgs) -> Result<ImportOptions> {
    let encoding: Encoding = args.encoding.parse().context("--encoding")?;
    let format = match args
        .format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("csv") => Some(Format::Csv),
        Some("xlsx") => Some(Format::Xlsx),
        Some(other) => bail!("--format: `{other}` is not a format; use csv or xlsx"),
    };
    let mapping = match &args.mapping {
        None => None,
        Some(m) => {
            let mut columns = Vec::new();
            for (index, target) in m.split(',').enumerate() {
                columns.push(
                    ColumnTarget::parse(target)
                        .with_context(|| format!("--mapping, column {}", index + 1))?,
                );
            }
            Some(ImportMapping { columns })
        }
    };
    Ok(ImportOptions {
        dry_run: args.dry_run,
        mapping,
        tag: args.tag.clone(),
        encoding,
        format,
        chunk_rows: args.chunk_rows,
    })
}

fn describe(e: &ImportError, file: &Path) -> anyhow::Error {
    match e {
        ImportError::Mapping(e) => anyhow::anyhow!("--mapping: {e}"),
        ImportError::Tag(e) => anyhow::anyhow!("--tag: {e}"),
        ImportError::Table(e) => anyhow::anyhow!("{}: {e}", file.display()),
        ImportError::Store(e) => anyhow::anyhow!("database: {e}"),
    }
}

fn mapping_arg(mapping: &ImportMapping) -> String {
    mapping
        .columns
        .iter()
        .map(ColumnTarget::as_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn print_mapping(headers: &[String], mapping: &ImportMapping, given: bool) {
    println!(
        "Columns ({}):",
        if given {
            "mapping given"
        } else {
            "mapping guessed from the headers"
        }
    );
    let width = headers
        .iter()
        .map(|h| display_width(h))
        .max()
        .unwrap_or(0)
        .min(40);
    for (index, header) in headers.iter().enumerate() {
        let target = mapping
            .columns
            .get(index)
            .map_or_else(|| "(no target)".to_owned(), ColumnTarget::as_string);
        let pad = width.saturating_sub(display_width(header));
        println!(
            "  {:>3}  {header}{}  → {target}",
            index + 1,
            " ".repeat(pad)
        );
    }
    if mapping.columns.len() > headers.len() {
        println!(
            "  (the mapping has {} targets for {} columns)",
            mapping.columns.len(),
            headers.len()
        );
    }
}

/// Columns a header takes in a terminal: CJK characters are two wide.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if u32::from(c) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    match total {
        Some(n) => {
            let bar = ProgressBar::new(n);
            bar.set_style(
                ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} rows  {per_sec}  ETA {eta}  [{elapsed_precise}]")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos} rows  {per_sec}  [{elapsed_precise}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }
    }
}

fn print_summary(r: &ImportReport, elapsed: Duration) {
    if r.dry_run {
        println!("Dry run: nothing was written. The import would do this:");
    }
    let codes = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  rows read            {:>10}", r.rows);
    println!("  contacts created     {:>10}", r.created);
    println!("  contacts updated     {:>10}", r.updated);
    println!("  duplicates in file   {:>10}", r.duplicates_in_file);
    println!("  contacts merged      {:>10}", r.merged);
    if r.rejected > 0 {
        println!(
            "  rows rejected        {:>10}  ({})",
            r.rejected,
            codes(&r.rejection_codes)
        );
    } else {
        println!("  rows rejected        {:>10}", 0);
    }
    for (code, w) in &r.warnings {
        let rows = w
            .first_rows
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let more = if w.count > w.first_rows.len() as u64 {
            ", …"
        } else {
            ""
        };
        println!(
            "  warning {code}: {} rows imported without that value (rows {rows}{more})",
            w.count
        );
    }
    let reach = &r.reach;
    println!(
        "Reach of the {} contacts: WeChat {}, mobile {}, landline {}, email {}",
        reach.contacts, reach.wechat, reach.mobile, reach.landline, reach.email
    );
    println!("Tag: {}", r.tag);
    let seconds = elapsed.as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = if seconds > 0.0 {
        r.rows as f64 / seconds
    } else {
        0.0
    };
    println!("{} rows in {seconds:.1} s ({rate:.0} rows/s)", r.rows);
}

/// Writes the import's rejected rows as CSV (with a byte-order mark for Excel); returns how many.
async fn write_rejections(
    store: &Store,
    org: hatchery_domain::OrgId,
    id: hatchery_domain::ids::ImportId,
    headers: &[String],
    out: &Path,
) -> Result<u64> {
    const PAGE: u32 = 5_000;
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut file = std::io::BufWriter::new(file);
    file.write_all(&import::rejections_csv_head(headers))?;
    let (mut after, mut written) = (0i64, 0u64);
    loop {
        let page = store.list_rejections(org, id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.row;
        written += page.len() as u64;
        file.write_all(&import::rejections_csv_lines(&page))?;
        if page.len() < PAGE as usize {
            break;
        }
    }
    file.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(written)
}
