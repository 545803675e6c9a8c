//! `hatchery bench import`: a large CRM export imported through the real import path.
//!
//! Generates (untimed, deterministic per seed) a CSV as a CRM or an Excel sheet exports it:
//! Chinese and English names, mobiles and emails typed in many ways, companies, titles,
//! industries, provinces, a custom field and a tags column. About a fifth of the rows repeat a
//! person of an earlier row (the same email and/or mobile, written differently: `138 0013 8000`,
//! `+86-13800138000`, an upper-case email), a few people first appear as two contacts (email only,
//! then mobile only) that a later row with both merges, and a small share of rows carry an invalid
//! email or mobile and nothing else that identifies them, so they must be rejected. With
//! `--prefill`, the pool already holds contacts and a few rows name them.
//!
//! Then it times [`import::prepare`] + [`import::run`] — what `hatchery import FILE` runs — from
//! opening the file to the import marked completed, checks the report against what the generator
//! wrote, and in the same database times the baseline: the same number of contacts inserted by
//! raw multi-row `INSERT` into a copy of the `contacts` table, in transactions of the import's
//! chunk size.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hatchery_domain::normalize::{normalize_city, normalize_province, Email, Mobile};
use hatchery_engine::import::{
    self, ImportOptions, ImportReport, DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS,
};
use hatchery_engine::{Clock, Metrics, SystemClock};
use hatchery_store::{Backend, Store};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{
    cpu_time, fill_pool, floor, mib, print_floor, print_write_phases, proc_kb, reset_peak_rss,
    FreshDb, Mark, PoolExtras,
};
use crate::config::Config;
use crate::demo::{make_companies, thousands, Company, PersonFactory};

#[derive(clap::Args, Debug)]
pub(super) struct ImportArgs {
    /// Data rows in the generated CSV.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    rows: u64,
    /// Contacts written to the pool (in bulk, untimed) before the import; a few rows name them.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=20_000_000))]
    prefill: u64,
    /// Rows resolved and written per transaction (as `hatchery import --chunk-rows`).
    #[arg(long, default_value_t = DEFAULT_CHUNK_ROWS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CHUNK_ROWS as u64))]
    chunk_rows: usize,
    /// Skip the raw-INSERT baseline and the floor.
    #[arg(long)]
    no_baseline: bool,
    /// Transactions the floor copies the stored rows in (default: as many as the import wrote).
    /// 1 gives the least the database can take to store them, however an import chunks them.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    floor_transactions: Option<u64>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    db: super::DbArgs,
}

impl ImportArgs {
    pub(super) fn db(&self) -> &super::DbArgs {
        &self.db
    }
}

/// The header of the generated export, as a Chinese CRM names its columns.
pub(super) const HEADER: [&str; 10] = [
    "客户姓名",
    "手机",
    "邮箱",
    "公司名称",
    "职位",
    "行业",
    "省份",
    "城市",
    "预算",
    "标签",
];
const BUDGETS: [&str; 5] = ["", "10万以下", "10-50万", "50-100万", "100万以上"];
const TAGS: [&str; 8] = [
    "2025工博会",
    "白皮书下载",
    "老客户",
    "渠道推荐",
    "webinar-2025",
    "高意向",
    "KA",
    "官网留资",
];
/// Mobile prefixes the pool of `--prefill` never uses, so file and pool people never collide by
/// chance and the expected counts are exact.
const MOBILE_PREFIXES: [u64; 5] = [191, 193, 195, 196, 197];

/// What a generated row is, and so what the import must make of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum RowKind {
    /// A person not seen before: creates a contact.
    New,
    /// A new person whose email is invalid but whose mobile is valid: created, with a warning.
    NewBadEmail,
    /// An earlier person again, written differently: a duplicate in the file.
    Duplicate,
    /// The mobile-only row of a person who first came with an email only: a second new contact.
    SplitSecond,
    /// That person with both: a duplicate in the file that merges the two contacts.
    SplitJoin,
    /// A contact of the prefilled pool, first named in the file: updated.
    Pool,
    /// A contact of the prefilled pool named again: a duplicate in the file.
    PoolAgain,
    /// Only an invalid email: rejected.
    InvalidEmail,
    /// Only an invalid mobile: rejected.
    InvalidMobile,
}

/// One generated row.
pub(super) struct ExportRow {
    pub cells: [String; 10],
    pub kind: RowKind,
}

/// What the import of the generated file must report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Expected {
    pub rows: u64,
    pub by_kind: BTreeMap<RowKind, u64>,
}

impl Expected {
    fn n(&self, k: RowKind) -> u64 {
        self.by_kind.get(&k).copied().unwrap_or(0)
    }
    pub fn created(&self) -> u64 {
        self.n(RowKind::New) + self.n(RowKind::NewBadEmail) + self.n(RowKind::SplitSecond)
    }
    pub fn updated(&self) -> u64 {
        self.n(RowKind::Pool)
    }
    pub fn duplicates(&self) -> u64 {
        self.n(RowKind::Duplicate) + self.n(RowKind::SplitJoin) + self.n(RowKind::PoolAgain)
    }
    pub fn merged(&self) -> u64 {
        self.n(RowKind::SplitJoin)
    }
    pub fn rejected(&self) -> u64 {
        self.n(RowKind::InvalidEmail) + self.n(RowKind::InvalidMobile)
    }
    fn add(&mut self, k: RowKind) {
        self.rows += 1;
        *self.by_kind.entry(k).or_default() += 1;
    }
}

/// A person of the file.
struct Person {
    name: String,
    email: String,
    /// Eleven digits.
    mobile: String,
    company: usize,
    title: &'static str,
}

/// Rows still to come for a person who first appeared with an email only.
#[derive(Clone, Copy)]
enum Pending {
    MobileOnly(usize),
    Both(usize),
}

/// The generator of a CRM export: an iterator of rows, deterministic per seed.
pub(super) struct CrmExport {
    rng: StdRng,
    companies: Vec<Company>,
    factory: PersonFactory,
    people: Vec<Person>,
    /// People a duplicate row may repeat (not those still being split).
    repeatable: Vec<usize>,
    /// Contacts of the prefilled pool: email and mobile (E.164).
    pool: Vec<(String, String)>,
    pool_seen: HashSet<usize>,
    /// Rows due at a row number (with a sequence to keep their order).
    scheduled: BTreeMap<(u64, u64), Pending>,
    seq: u64,
    row: u64,
    total: u64,
    pub expected: Expected,
}

impl CrmExport {
    pub fn new(seed: u64, total: u64, pool: Vec<(String, String)>) -> CrmExport {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x1_3b0e_c5d7);
        let companies = make_companies(&mut rng, (total as usize / 50).max(5));
        CrmExport {
            rng,
            companies,
            factory: PersonFactory::default(),
            people: Vec::new(),
            repeatable: Vec::new(),
            pool,
            pool_seen: HashSet::new(),
            scheduled: BTreeMap::new(),
            seq: 0,
            row: 0,
            total,
            expected: Expected::default(),
        }
    }

    fn new_person(&mut self) -> usize {
        let company = (self.rng.gen::<f64>().powi(2) * self.companies.len() as f64) as usize;
        let company = company.min(self.companies.len() - 1);
        let p = self.factory.person(&mut self.rng, &self.companies, company);
        let i = self.people.len() as u64;
        // A bijection of the person's number onto eight digits, behind a prefix the pool never uses.
        let body = (i * 48_271 + 12_345) % 100_000_000;
        let prefix = MOBILE_PREFIXES[(i / 100_000_000) as usize % MOBILE_PREFIXES.len()];
        self.people.push(Person {
            name: p.name,
            // The pool's addresses end in `.example`; the file's never collide with them.
            email: format!("{}.cn", p.email),
            mobile: format!("{prefix}{body:08}"),
            company,
            title: p.title,
        });
        self.people.len() - 1
    }

    fn schedule(&mut self, after: u64, what: Pending) -> u64 {
        let due = self.row + after;
        self.seq += 1;
        self.scheduled.insert((due, self.seq), what);
        due
    }

    fn next_row(&mut self) -> ExportRow {
        self.row += 1;
        let due = self
            .scheduled
            .first_key_value()
            .is_some_and(|((due, _), _)| *due <= self.row);
        if due {
            let (_, what) = self.scheduled.pop_first().expect("a scheduled row");
            return match what {
                Pending::MobileOnly(p) => self.person_row(p, false, true, RowKind::SplitSecond),
                Pending::Both(p) => {
                    self.repeatable.push(p);
                    self.person_row(p, true, true, RowKind::SplitJoin)
                }
            };
        }
        let r: f64 = self.rng.gen();
        if r < 0.01 {
            let p = self.new_person();
            let mut row = self.person_row(p, true, false, RowKind::InvalidEmail);
            row.cells[2] = self.broken_email(p);
            return row;
        }
        if r < 0.02 {
            let p = self.new_person();
            let mut row = self.person_row(p, false, true, RowKind::InvalidMobile);
            row.cells[1] = self.broken_mobile(p);
            return row;
        }
        if r < 0.03 {
            let p = self.new_person();
            let mut row = self.person_row(p, true, true, RowKind::NewBadEmail);
            row.cells[2] = self.broken_email(p);
            return row;
        }
        if r < 0.035 && !self.pool.is_empty() {
            return self.pool_row();
        }
        if r < 0.04 {
            // Email only now; mobile only a little later; both later still (a merge).
            let p = self.new_person();
            let gap = self.rng.gen_range(1..2_000);
            let later = self.schedule(gap, Pending::MobileOnly(p));
            let gap = self.rng.gen_range(1..2_000);
            self.schedule(later - self.row + gap, Pending::Both(p));
            return self.person_row(p, true, false, RowKind::New);
        }
        if r < 0.23 && !self.repeatable.is_empty() {
            let p = self.repeatable[self.rng.gen_range(0..self.repeatable.len())];
            let (email, mobile) = match self.rng.gen_range(0..4) {
                0 => (true, false),
                1 => (false, true),
                _ => (true, true),
            };
            return self.person_row(p, email, mobile, RowKind::Duplicate);
        }
        let p = self.new_person();
        self.repeatable.push(p);
        self.person_row(p, true, true, RowKind::New)
    }

    /// A row for person `p` with the email and/or the mobile, typed as people type them.
    fn person_row(&mut self, p: usize, email: bool, mobile: bool, kind: RowKind) -> ExportRow {
        let repeat = matches!(
            kind,
            RowKind::Duplicate | RowKind::SplitSecond | RowKind::SplitJoin
        );
        let person = &self.people[p];
        let c = &self.companies[person.company];
        let rng = &mut self.rng;
        let email = if email {
            type_email(rng, &person.email, repeat)
        } else {
            String::new()
        };
        let mobile = if mobile {
            type_mobile(rng, &person.mobile, repeat)
        } else {
            String::new()
        };
        let title = if repeat && rng.gen_bool(0.1) {
            // Promoted since the first record.
            "总经理"
        } else {
            person.title
        };
        let province = if rng.gen_bool(0.5) {
            c.province
                .trim_end_matches('省')
                .trim_end_matches('市')
                .to_owned()
        } else {
            c.province.to_owned()
        };
        let budget = (*BUDGETS.choose(rng).expect("budgets")).to_owned();
        let tag_count = rng.gen_range(0..3);
        let tags: Vec<&str> = TAGS.choose_multiple(rng, tag_count).copied().collect();
        let tags = tags.join(if rng.gen_bool(0.5) { "," } else { "、" });
        let cells = [
            person.name.clone(),
            mobile,
            email,
            c.name.clone(),
            title.to_owned(),
            c.industry.to_owned(),
            province,
            c.city.to_owned(),
            budget,
            tags,
        ];
        self.expected.add(kind);
        ExportRow { cells, kind }
    }

    fn pool_row(&mut self) -> ExportRow {
        let i = self.rng.gen_range(0..self.pool.len());
        let kind = if self.pool_seen.insert(i) {
            RowKind::Pool
        } else {
            RowKind::PoolAgain
        };
        let (email, mobile) = self.pool[i].clone();
        let digits = mobile.trim_start_matches("+86").to_owned();
        let c = &self.companies[self.rng.gen_range(0..self.companies.len())];
        let mut cells: [String; 10] = Default::default();
        cells[0] = String::new();
        cells[1] = type_mobile(&mut self.rng, &digits, true);
        cells[2] = type_email(&mut self.rng, &email, true);
        cells[3] = c.name.clone();
        cells[9] = "老客户".to_owned();
        self.expected.add(kind);
        ExportRow { cells, kind }
    }

    fn broken_email(&mut self, p: usize) -> String {
        let email = &self.people[p].email;
        let (local, domain) = email.split_once('@').expect("an address");
        match self.rng.gen_range(0..4) {
            0 => format!("{local}@"),
            1 => format!("{local}#{domain}"),
            2 => format!("{local}@@{domain}"),
            _ => format!("{local} at {domain}"),
        }
    }

    fn broken_mobile(&mut self, p: usize) -> String {
        let mobile = &self.people[p].mobile;
        match self.rng.gen_range(0..3) {
            // A digit lost, or one too many.
            0 => mobile[..10].to_owned(),
            1 => format!("{mobile}8"),
            _ => format!("{} {}", &mobile[..3], &mobile[3..7]),
        }
    }
}

impl Iterator for CrmExport {
    type Item = ExportRow;
    fn next(&mut self) -> Option<ExportRow> {
        (self.row < self.total).then(|| self.next_row())
    }
}

/// An email as typed: mostly as stored, sometimes capitalised or upper-case (more often on a repeat).
fn type_email(rng: &mut StdRng, email: &str, repeat: bool) -> String {
    let r: f64 = rng.gen();
    let upper = if repeat { 0.3 } else { 0.05 };
    if r < upper {
        email.to_uppercase()
    } else if r < upper + 0.1 {
        let mut c = email.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    } else if r < upper + 0.15 {
        format!(" {email} ")
    } else {
        email.to_owned()
    }
}

/// Eleven mobile digits as typed: `13800138000`, `138 0013 8000`, `+86-13800138000` …
fn type_mobile(rng: &mut StdRng, d: &str, repeat: bool) -> String {
    let plain = if repeat { 3 } else { 12 };
    match rng.gen_range(0..plain + 6) {
        0 => format!("{} {} {}", &d[..3], &d[3..7], &d[7..]),
        1 => format!("+86-{d}"),
        2 => format!("86{d}"),
        3 => format!("+86 {} {} {}", &d[..3], &d[3..7], &d[7..]),
        4 => format!("{}-{}-{}", &d[..3], &d[3..7], &d[7..]),
        5 => format!("(+86){d}"),
        _ => d.to_owned(),
    }
}

/// A CSV field: quoted when it holds a delimiter, quote or line break.
fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_line(out: &mut Vec<u8>, cells: &[impl AsRef<str>]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, c.as_ref());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the export to `path`; returns what the import must report and the file's size.
fn write_export(path: &Path, gen: &mut CrmExport) -> Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(512);
    csv_line(&mut line, &HEADER);
    let mut size = line.len() as u64;
    file.write_all(&line)?;
    for row in gen.by_ref() {
        line.clear();
        csv_line(&mut line, &row.cells);
        size += line.len() as u64;
        file.write_all(&line)?;
    }
    file.flush()?;
    Ok(size)
}

pub(super) async fn run(cfg: &Config, db: &FreshDb, a: &ImportArgs) -> Result<()> {
    let (store, org, now) = super::open_bench_org(cfg, db).await?;
    let mut pool = Vec::new();
    if a.prefill > 0 {
        let mut rng = StdRng::seed_from_u64(a.seed ^ 0x5eed_f111);
        let (_, sample) = fill_pool(
            &store,
            org,
            a.prefill as usize,
            &mut rng,
            now,
            &PoolExtras::default(),
        )
        .await?;
        pool = sample.emails.into_iter().zip(sample.mobiles).collect();
    }

    // The file is written before the clock starts.
    let tag: u64 = rand::thread_rng().gen();
    let path = std::env::temp_dir().join(format!("hatchery-bench-import-{tag:016x}.csv"));
    let result = timed(&store, org, a, &path, pool, now).await;
    let _ = std::fs::remove_file(&path);
    store.close().await;
    result
}

async fn timed(
    store: &Store,
    org: hatchery_domain::OrgId,
    a: &ImportArgs,
    path: &Path,
    pool: Vec<(String, String)>,
    now: i64,
) -> Result<()> {
    let t = Instant::now();
    let mut gen = CrmExport::new(a.seed, a.rows, pool);
    let size = write_export(path, &mut gen)?;
    let expected = gen.expected.clone();
    drop(gen);
    println!(
        "generated: {} rows ({:.1} MB) in {:.1} s: {} new people, {} repeats of an earlier person ({:.1} %), {} people split in two then merged, {} rows naming pool contacts, {} rows to reject (invalid email or mobile only), {} with an invalid email next to a valid mobile",
        thousands(expected.rows),
        size as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        thousands(expected.created() - expected.n(RowKind::SplitSecond)),
        thousands(expected.duplicates()),
        100.0 * expected.duplicates() as f64 / expected.rows as f64,
        thousands(expected.merged()),
        thousands(expected.updated() + expected.n(RowKind::PoolAgain)),
        thousands(expected.rejected()),
        thousands(expected.n(RowKind::NewBadEmail)),
    );

    let rules = store.identity_rules(org).await?;
    let clock = SystemClock;
    let metrics = std::sync::Arc::new(Metrics::default());
    let opts = ImportOptions {
        chunk_rows: a.chunk_rows,
        tag: Some("bench import".to_owned()),
        ..ImportOptions::default()
    };
    let contacts_before = store.count_contacts(org).await?;
    let before = Mark::of(store, org).await?;
    let rss_before = proc_kb("/proc/self/status", "VmRSS:").unwrap_or(0);
    let peak_reset = reset_peak_rss();
    let written0 = proc_io_written();
    let cpu0 = cpu_time();
    let started = Instant::now();
    let prepared = import::prepare(store, org, path, "crm-export.csv", &opts, clock.now_ms())
        .await
        .context("prepare")?;
    let prepare_time = started.elapsed();
    let mut last = Instant::now();
    let total = expected.rows;
    let report: ImportReport = import::run(
        store,
        org,
        prepared,
        &rules,
        &metrics,
        &clock,
        |processed, _| {
            if last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                eprintln!(
                    "  imported {} / {} rows · {:.0} s",
                    thousands(processed),
                    thousands(total),
                    started.elapsed().as_secs_f64()
                );
            }
        },
    )
    .await
    .context("import")?;
    let wall = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let written = proc_io_written().saturating_sub(written0);
    let hwm = proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);

    let rate = report.rows as f64 / wall.as_secs_f64();
    let write = Duration::from_micros(metrics.import_write_micros.load(Relaxed));
    let chunks = metrics.import_chunks.load(Relaxed);
    println!();
    println!(
        "import:   {} rows in {:.2} s = {} rows/s end to end (prepare, counting the rows, {:.2} s) — target ≥ 50,000 rows/s: {}",
        thousands(report.rows),
        wall.as_secs_f64(),
        thousands(rate as u64),
        prepare_time.as_secs_f64(),
        if rate >= 50_000.0 { "met" } else { "missed" }
    );
    println!(
        "  report: {} contacts created, {} updated, {} duplicates in the file, {} merged, {} rows rejected ({})",
        thousands(report.created),
        thousands(report.updated),
        thousands(report.duplicates_in_file),
        thousands(report.merged),
        thousands(report.rejected),
        report
            .rejection_codes
            .iter()
            .map(|(c, n)| format!("{c} {}", thousands(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let warned: u64 = report.warnings.values().map(|w| w.count).sum();
    println!(
        "  reach: {} contacts, mobile {}, email {}; {} rows imported with a value dropped",
        thousands(report.reach.contacts),
        thousands(report.reach.mobile),
        thousands(report.reach.email),
        thousands(warned)
    );
    // A person's mobile-only row created a second contact; when the row that merges the two falls
    // in the same chunk, the report counts the earlier row on the survivor, as a duplicate. So the
    // split between created and duplicates depends on the chunk size, their sum does not.
    let checks = [
        ("rows", report.rows, expected.rows),
        (
            "created + duplicates",
            report.created + report.duplicates_in_file,
            expected.created() + expected.duplicates(),
        ),
        ("updated", report.updated, expected.updated()),
        ("merged", report.merged, expected.merged()),
        ("rejected", report.rejected, expected.rejected()),
        ("warned", warned, expected.n(RowKind::NewBadEmail)),
    ];
    let mut wrong: Vec<String> = checks
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what} {got} (the file has {want})"))
        .collect();
    let least = expected.created() - expected.n(RowKind::SplitSecond);
    if !(least..=expected.created()).contains(&report.created) {
        wrong.push(format!(
            "created {} (the file has {least} to {})",
            report.created,
            expected.created()
        ));
    }
    let contacts = store.count_contacts(org).await?;
    let events = store.count_events(org).await?;
    let live_expected = contacts_before + (expected.created() - expected.merged()) as i64;
    println!(
        "  stored: {} live contacts ({} before), {} import events",
        thousands(contacts as u64),
        thousands(contacts_before as u64),
        thousands(events as u64)
    );
    let writer_share = 100.0 * write.as_secs_f64() / wall.as_secs_f64();
    println!(
        "  writer: {} chunks of up to {} rows, {:.2} s resolving and writing = {writer_share:.0} % of the wall time",
        thousands(chunks),
        thousands(a.chunk_rows as u64),
        write.as_secs_f64()
    );
    print_write_phases(|p| metrics.write_phase(p).as_secs_f64());
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    println!(
        "  cpu:    {:.1} s (user+system) = {:.0} % of {cpus} CPUs{}",
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64() / cpus,
        if store.backend_name() == "postgres" {
            " (the PostgreSQL server's own CPU not counted)"
        } else {
            ""
        }
    );
    if store.backend_name() == "sqlite" {
        println!(
            "  disk:   {:.0} MB written (WAL and checkpoints) = {:.1} KB per row",
            written as f64 / 1e6,
            written as f64 / 1e3 / report.rows.max(1) as f64
        );
    }
    if peak_reset {
        println!(
            "  memory: peak RSS {:.0} MiB during the import ({:.0} MiB before it)",
            mib(hwm),
            mib(rss_before)
        );
    } else {
        println!("  memory: peak RSS {:.0} MiB (whole run)", mib(hwm));
    }

    if !a.no_baseline {
        let (base, n) = baseline(
            store,
            org,
            a.seed,
            a.rows,
            report.created as usize,
            a.chunk_rows,
            now,
        )
        .await?;
        let base_rate = n as f64 / base.as_secs_f64();
        let import_contacts_rate = report.created as f64 / wall.as_secs_f64();
        println!(
            "baseline: {} contacts by raw multi-row INSERT into a copy of the contacts table, transactions of {}: {:.2} s = {} rows/s",
            thousands(n as u64),
            thousands(a.chunk_rows as u64),
            base.as_secs_f64(),
            thousands(base_rate as u64)
        );
        println!(
            "ratio:    the import creates contacts at {:.1} % of the raw insert rate ({:.2}x slower); it also writes identities, events, tag and account links and resolves every row",
            100.0 * import_contacts_rate / base_rate,
            base_rate / import_contacts_rate
        );
        let f = floor(store, org, before, a.floor_transactions.unwrap_or(chunks)).await?;
        print_floor(&f, report.rows, "rows", wall);
    }
    if !wrong.is_empty() || contacts != live_expected {
        bail!(
            "the import's figures do not match the file: {}; live contacts {contacts} (expected {live_expected})",
            wrong.join(", ")
        );
    }
    println!("check:    the report matches what the generator wrote");
    Ok(())
}

/// Bytes this process has handed to `write` calls (`wchar` of `/proc/self/io`): for SQLite, the
/// WAL frames of every commit and the pages its checkpoints copy into the database file.
fn proc_io_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("wchar:").map(|v| v.trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}

const BASELINE_SQLITE: [&str; 6] = [
    "CREATE TABLE bench_raw_contacts (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, merged_into INTEGER, \
     name TEXT, email TEXT, mobile TEXT, landline TEXT, company TEXT, title TEXT, department TEXT, industry TEXT, \
     company_size TEXT, province TEXT, city TEXT, source TEXT, account_id INTEGER, traits TEXT NOT NULL DEFAULT '{}', \
     name_key TEXT, company_key TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_seen_at INTEGER)",
    "CREATE INDEX bench_raw_contacts_org ON bench_raw_contacts (org_id, id)",
    "CREATE INDEX bench_raw_contacts_source ON bench_raw_contacts (org_id, source, id)",
    "CREATE INDEX bench_raw_contacts_name ON bench_raw_contacts (org_id, name_key)",
    "CREATE INDEX bench_raw_contacts_company ON bench_raw_contacts (org_id, company_key)",
    "CREATE INDEX bench_raw_contacts_account ON bench_raw_contacts (org_id, account_id)",
];
const BASELINE_POSTGRES: [&str; 6] = [
    "CREATE TABLE bench_raw_contacts (id BIGINT GENERATED BY DEFAULT AS IDENTITY, org_id BIGINT NOT NULL, \
     merged_into BIGINT, name TEXT, email TEXT, mobile TEXT, landline TEXT, company TEXT, title TEXT, department TEXT, \
     industry TEXT, company_size TEXT, province TEXT, city TEXT, source TEXT, account_id BIGINT, \
     traits TEXT NOT NULL DEFAULT '{}', name_key TEXT COLLATE \"C\", company_key TEXT COLLATE \"C\", \
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, last_seen_at BIGINT, PRIMARY KEY (org_id, id))",
    "CREATE INDEX bench_raw_contacts_org ON bench_raw_contacts (org_id, id)",
    "CREATE INDEX bench_raw_contacts_source ON bench_raw_contacts (org_id, source, id)",
    "CREATE INDEX bench_raw_contacts_name ON bench_raw_contacts (org_id, name_key) INCLUDE (id)",
    "CREATE INDEX bench_raw_contacts_company ON bench_raw_contacts (org_id, company_key) INCLUDE (id)",
    "CREATE INDEX bench_raw_contacts_account ON bench_raw_contacts (org_id, account_id)",
];

/// Rows per INSERT statement, as the store's write path uses at most.
const INSERT_CHUNK: usize = 500;

/// A contact row of the baseline, normalised before the clock starts.
struct RawContact {
    name: String,
    email: Option<String>,
    mobile: Option<String>,
    company: String,
    title: String,
    industry: String,
    province: String,
    city: String,
    traits: String,
}

/// Inserts up to `n` contacts — the new people of the same file, regenerated from the same seed and
/// normalised untimed — into a copy of `contacts`, `batch` rows per transaction; returns the time
/// spent in the database and the contacts written.
async fn baseline(
    store: &Store,
    org: hatchery_domain::OrgId,
    seed: u64,
    rows: u64,
    n: usize,
    batch: usize,
    now: i64,
) -> Result<(Duration, usize)> {
    let ddl = match store.backend() {
        Backend::Sqlite(_) => BASELINE_SQLITE,
        Backend::Postgres(_) => BASELINE_POSTGRES,
    };
    for sql in ddl {
        on_pool!(store, p => sqlx::query(sql).execute(p).await.map(|_| ()))?;
    }
    let contacts: Vec<RawContact> = CrmExport::new(seed, rows, Vec::new())
        .filter(|r| matches!(r.kind, RowKind::New | RowKind::NewBadEmail))
        .map(|r| {
            let [name, mobile, email, company, title, industry, province, city, budget, _] =
                r.cells;
            RawContact {
                name,
                email: Email::parse(&email).ok().map(Email::into_string),
                mobile: Mobile::parse(&mobile).ok().map(Mobile::into_string),
                company,
                title,
                industry,
                province: normalize_province(&province),
                city: normalize_city(&city),
                traits: serde_json::json!({ "预算": budget }).to_string(),
            }
        })
        .take(n)
        .collect();
    let mut spent = Duration::ZERO;
    for group in contacts.chunks(batch.max(1)) {
        let t = Instant::now();
        on_pool!(store, p => {
            let mut tx = p.begin().await?;
            for chunk in group.chunks(INSERT_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO bench_raw_contacts (org_id, name, name_key, email, mobile, company, company_key, title, \
                     industry, province, city, source, traits, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, c| {
                    b.push_bind(org.0)
                        .push_bind(c.name.clone())
                        .push_bind(c.name.to_lowercase())
                        .push_bind(c.email.clone())
                        .push_bind(c.mobile.clone())
                        .push_bind(c.company.clone())
                        .push_bind(c.company.to_lowercase())
                        .push_bind(c.title.clone())
                        .push_bind(c.industry.clone())
                        .push_bind(c.province.clone())
                        .push_bind(c.city.clone())
                        .push_bind("import")
                        .push_bind(c.traits.clone())
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        spent += t.elapsed();
    }
    Ok((spent, contacts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(seed: u64, n: u64) -> (Vec<([String; 10], RowKind)>, Expected) {
        let mut gen = CrmExport::new(seed, n, Vec::new());
        let rows = gen.by_ref().map(|r| (r.cells, r.kind)).collect();
        (rows, gen.expected)
    }

    #[test]
    fn the_export_is_deterministic_per_seed() {
        let (a, ea) = rows(7, 3_000);
        let (b, eb) = rows(7, 3_000);
        assert_eq!(a, b);
        assert_eq!(ea, eb);
        let (c, _) = rows(8, 3_000);
        assert_ne!(a, c);
        assert_eq!(a.len(), 3_000);
    }

    #[test]
    fn about_a_fifth_of_the_rows_repeat_a_person_and_a_few_are_invalid() {
        let n = 50_000;
        let (rows, e) = rows(1, n);
        assert_eq!(e.rows, n);
        assert_eq!(
            e.created() + e.updated() + e.duplicates() + e.rejected(),
            n,
            "every row is created, updated, a duplicate or rejected"
        );
        let share = |k: u64| k as f64 / n as f64;
        assert!((0.18..0.22).contains(&share(e.duplicates())), "{e:?}");
        assert!((0.015..0.025).contains(&share(e.rejected())), "{e:?}");
        assert!(e.merged() > 100, "{e:?}");
        assert_eq!(e.updated(), 0, "no pool, no pool rows");

        // A repeat names its person by a value that normalises to the first row's, though often
        // typed differently.
        let mut by_email: std::collections::HashMap<String, String> = Default::default();
        let (mut differently_typed, mut repeats) = (0, 0);
        for (cells, kind) in &rows {
            let email = Email::parse(&cells[2]).ok().map(Email::into_string);
            let mobile = Mobile::parse(&cells[1]).ok().map(Mobile::into_string);
            match kind {
                RowKind::InvalidEmail => {
                    assert!(cells[1].is_empty() && email.is_none(), "{cells:?}");
                }
                RowKind::InvalidMobile => {
                    assert!(cells[2].is_empty() && mobile.is_none(), "{cells:?}");
                }
                RowKind::NewBadEmail => assert!(email.is_none() && mobile.is_some()),
                RowKind::New => {
                    assert!(email.is_some());
                    if let (Some(e), Some(m)) = (email, mobile) {
                        assert!(by_email.insert(e, m).is_none(), "new people are new");
                    }
                }
                RowKind::Duplicate => {
                    repeats += 1;
                    assert!(email.is_some() || mobile.is_some());
                    if let (Some(e), Some(m)) = (&email, &mobile) {
                        assert_eq!(by_email.get(e), Some(m), "{cells:?}");
                    }
                    let typed_as_stored = email.as_deref().unwrap_or("") == cells[2]
                        && mobile
                            .as_deref()
                            .map_or("", |m| m.trim_start_matches("+86"))
                            == cells[1];
                    if !typed_as_stored {
                        differently_typed += 1;
                    }
                }
                RowKind::SplitSecond => assert!(cells[2].is_empty() && mobile.is_some()),
                RowKind::SplitJoin => {
                    let (Some(e), Some(m)) = (email, mobile) else {
                        panic!("a joining row has both: {cells:?}");
                    };
                    assert!(by_email.insert(e, m).is_none(), "{cells:?}");
                }
                RowKind::Pool | RowKind::PoolAgain => unreachable!("no pool"),
            }
        }
        assert!(
            differently_typed * 2 > repeats,
            "{differently_typed} of {repeats}"
        );
        // Chinese and English names both occur.
        let english = rows.iter().filter(|(c, _)| c[0].is_ascii()).count();
        assert!(english > 100 && english < rows.len() / 2, "{english}");
    }

    #[test]
    fn pool_contacts_are_updated_once_then_duplicates() {
        let pool = vec![
            ("li.lei@a.example".to_owned(), "+8613800138000".to_owned()),
            ("han.mei@b.example".to_owned(), "+8613900139000".to_owned()),
        ];
        let mut gen = CrmExport::new(3, 20_000, pool);
        let kinds: Vec<RowKind> = gen.by_ref().map(|r| r.kind).collect();
        assert_eq!(gen.expected.updated(), 2);
        assert!(gen.expected.n(RowKind::PoolAgain) > 10);
        assert_eq!(kinds.iter().filter(|k| **k == RowKind::Pool).count(), 2);
    }

    #[test]
    fn csv_fields_with_delimiters_are_quoted() {
        let mut out = Vec::new();
        csv_line(
            &mut out,
            &["a", "Acme (China) Co., Ltd.", "say \"hi\"", "李雷"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,\"Acme (China) Co., Ltd.\",\"say \"\"hi\"\"\",李雷\r\n"
        );
    }
}
