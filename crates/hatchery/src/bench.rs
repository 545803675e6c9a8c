//! `hatchery bench`: figures for the record, each run on a fresh database that is removed afterwards.
//!
//! - `ingest` sends pre-generated tracking batches over HTTP to `hatchery serve`, started from this
//!   binary as its own process — the whole path of real traffic: parsing, identity resolution,
//!   group commit — and
//!   compares the rate with a raw multi-row `INSERT` of the same rows into a table shaped and indexed
//!   like `events`, in the same database and with the same batch size: the ceiling the storage
//!   itself allows.
//! - `list` fills a pool of contacts in bulk (through the store's write path, not HTTP, to keep setup
//!   short) and times the contact list, filters, prefix search and identity lookup.
//!
//! - `segments` fills a pool with contacts and events and times keeping segment memberships
//!   current (see `bench/segments.rs`).
//! - `import` generates a large CRM export (a fifth of its rows repeating earlier people, a few
//!   invalid) and times `hatchery import`'s path on it (see `bench/import.rs`).
//! - `console` fills a pool (with tags, accounts, business units and a few contacts with long
//!   timelines), starts `hatchery serve` as `ingest` does, signs in through the sign-in form and
//!   times the console's contact pages over HTTP (see `bench/console.rs`).
//!
//! Besides the figures each run prints the machine, the phases and the peak resident memory, so a
//! result can be recorded and a shortfall located.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use hatchery_domain::normalize::{normalize_city, normalize_province, Mobile};
use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId};
use hatchery_engine::metrics::WritePhase;
use hatchery_store::contacts::ContactFilter;
use hatchery_store::ingest::{AccountLink, IngestWrite, NewContact, NewIdentity, ProfileFields};
use hatchery_store::{Backend, Store};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::Connection;

/// Runs `$body` with `$p` bound to the store's pool, whichever the backend.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store.backend() {
            Backend::Sqlite($p) => $body,
            Backend::Postgres($p) => $body,
        }
    };
}

mod console;
mod import;
mod segments;

use crate::config::Config;
use crate::demo::{
    batch_body, iso, make_companies, thousands, uuid, Company, Person, PersonFactory,
};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// Tracking ingest over HTTP, end to end, against a raw INSERT baseline and the floor of the
    /// table layout.
    Ingest(IngestArgs),
    /// Latency of the contact list, filters, search and identity lookup on a large pool.
    List(ListArgs),
    /// Segment membership on a large pool: materialisation (against a NOT IN rebuild) and
    /// evaluation of changed contacts against many segments.
    Segments(segments::SegmentsArgs),
    /// Server time of the console's contact pages (list, paging, filters, search, the contact
    /// 360° page) over HTTP on a large pool, signed in as an administrator and as a user limited
    /// to one business unit.
    Console(console::ConsoleArgs),
    /// Import of a large generated CRM export (with duplicates and invalid rows) through the real
    /// import path, against a raw INSERT baseline and the floor of the table layout.
    Import(import::ImportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BackendKind {
    Sqlite,
    Postgres,
}

#[derive(clap::Args, Debug)]
struct DbArgs {
    /// Where the fresh benchmark database is created.
    #[arg(long, value_enum, default_value_t = BackendKind::Sqlite)]
    backend: BackendKind,
    /// PostgreSQL server (any database on it) in which `hatchery_bench_<random>` is created and dropped.
    #[arg(
        long,
        env = "HATCHERY_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Keep the benchmark database afterwards (to inspect query plans) instead of removing it.
    #[arg(long)]
    keep: bool,
}

#[derive(clap::Args, Debug)]
struct IngestArgs {
    /// Tracking messages to send.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    events: u64,
    /// Messages per request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=2_500))]
    batch: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Size of the pool of returning people (default: a tenth of the events, at most 100,000).
    #[arg(long)]
    people: Option<u64>,
    /// Contacts written to the pool (in bulk, untimed) before the traffic starts, to measure ingest
    /// into a large pool.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=20_000_000))]
    prefill: u64,
    /// Track events per prefilled contact (on average 0.74 × this, skewed, over the last 30 days),
    /// written in bulk and untimed with the prefill.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    prefill_events_per_contact: u64,
    /// Send gzip-compressed bodies (as some tracking libraries do).
    #[arg(long)]
    gzip: bool,
    /// Saved segments defined before the traffic starts (kept current while it runs).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=500))]
    segments: u64,
    /// Save a scoring model (fit and engagement rules with decay) before the traffic starts.
    #[arg(long)]
    scoring: bool,
    /// Also switch on lifecycle stages and customer tiers with their default models.
    #[arg(long)]
    nurture: bool,
    /// Send at most this many events a second (requests on a fixed schedule) instead of as many
    /// as the server takes: the evaluator's lag under a sustained load below saturation.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: Option<u64>,
    /// After the (paced) traffic, send this many more messages as fast as the server takes them,
    /// into the same pool: ingest at full speed with everything the first phase set up, and how
    /// long the evaluator then needs to catch up.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    burst: u64,
    /// Run the server with the intake log on or off (`HATCHERY_INTAKE_LOG`; default: the
    /// server's default, on for SQLite). With it, requests are answered once logged and applied
    /// behind; the rate is measured until everything is applied either way.
    #[arg(long)]
    intake_log: Option<bool>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Contacts in the pool.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    contacts: u64,
    /// Timed runs of each kind of query (each with different values).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    iterations: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    db: DbArgs,
}

pub async fn run(cfg: Config, args: BenchArgs) -> Result<()> {
    print_machine();
    match args.command {
        BenchCommand::Ingest(a) => {
            let db = FreshDb::create(&a.db).await?;
            let result = ingest(&cfg, &db, &a).await;
            db.finish(a.db.keep).await;
            result
        }
        BenchCommand::List(a) => {
            let db = FreshDb::create(&a.db).await?;
            let result = list(&cfg, &db, &a).await;
            db.finish(a.db.keep).await;
            result
        }
        BenchCommand::Segments(a) => {
            let db = FreshDb::create(a.db()).await?;
            let result = segments::run(&cfg, &db, &a).await;
            db.finish(a.db().keep).await;
            result
        }
        BenchCommand::Console(a) => {
            let db = FreshDb::create(a.db()).await?;
            let result = console::run(&cfg, &db, &a).await;
            db.finish(a.db().keep).await;
            result
        }
        BenchCommand::Import(a) => {
            let db = FreshDb::create(a.db()).await?;
            let result = import::run(&cfg, &db, &a).await;
            db.finish(a.db().keep).await;
            result
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Machine, memory and CPU readings.
// ---------------------------------------------------------------------------------------------

fn print_machine() {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb = proc_kb("/proc/meminfo", "MemTotal:").unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "machine: {cpus} CPUs ({model}), {:.1} GiB RAM, Linux {}, hatchery {} ({})",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
}

/// A `kB` figure from a `/proc` file, e.g. `VmHWM:` of `/proc/self/status`.
fn proc_kb(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS, so a later reading covers only
/// what follows. False where the kernel does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name: state is field 0, utime field 11, stime field 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// A fresh database per run.
// ---------------------------------------------------------------------------------------------

enum Place {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

struct FreshDb {
    url: String,
    place: Place,
}

impl FreshDb {
    async fn create(args: &DbArgs) -> Result<FreshDb> {
        let tag: u64 = rand::thread_rng().gen();
        match args.backend {
            BackendKind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("hatchery-bench-{tag:016x}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                println!("database: fresh SQLite file in {}", dir.display());
                Ok(FreshDb {
                    url,
                    place: Place::Dir(dir),
                })
            }
            BackendKind::Postgres => {
                let name = format!("hatchery_bench_{tag:016x}");
                let mut admin = sqlx::PgConnection::connect(&args.pg_url)
                    .await
                    .context("cannot connect to --pg-url")?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .context("cannot create the benchmark database")?;
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut admin)
                    .await
                    .unwrap_or_default();
                admin.close().await.ok();
                let url = with_database(&args.pg_url, &name)?;
                println!(
                    "database: fresh PostgreSQL {version} database {name} (dropped at the end)"
                );
                Ok(FreshDb {
                    url,
                    place: Place::Database {
                        admin_url: args.pg_url.clone(),
                        name,
                    },
                })
            }
        }
    }

    /// Removes the database unless asked to keep it; a failure is reported, not fatal (the figures
    /// are already printed).
    async fn finish(self, keep: bool) {
        if keep {
            match &self.place {
                Place::Dir(d) => println!("kept: {}", d.join("bench.db").display()),
                Place::Database { name, .. } => println!("kept: PostgreSQL database {name}"),
            }
            return;
        }
        match self.place {
            Place::Dir(dir) => {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    eprintln!("warning: could not remove {}: {e}", dir.display());
                }
            }
            Place::Database { admin_url, name } => {
                let dropped = async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await
                };
                if let Err(e) = dropped.await {
                    eprintln!("warning: could not drop database {name}: {e}");
                }
            }
        }
    }

    fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.place {
            Place::Dir(d) => Some(d.join("bench.db")),
            Place::Database { .. } => None,
        }
    }
}

/// The URL of another database on the same PostgreSQL server (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let Some(scheme_end) = base.find("://") else {
        bail!("--pg-url must look like postgres://user@host:port/database")
    };
    let authority_end = base[scheme_end + 3..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + 3 + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Ingest.
// ---------------------------------------------------------------------------------------------

/// Browser ids of one person: most use one browser, some two.
struct Visitor {
    person: Person,
    user_id: String,
    devices: Vec<String>,
    identified: Vec<bool>,
}

/// A stored event as the baseline inserts it: the columns of `events`.
struct RawEvent {
    contact: i64,
    message_id: String,
    client_at: i64,
    kind: String,
    name: Option<String>,
    occurred_at: i64,
    channel: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    properties: String,
    context: String,
}

const PATHS: [(&str, &str); 8] = [
    ("/", "首页"),
    ("/products", "产品概览"),
    ("/products/cdp", "客户数据平台"),
    ("/pricing", "价格"),
    ("/case-studies", "客户案例"),
    ("/case-studies/manufacturing", "制造业客户案例"),
    ("/blog/b2b-private-traffic", "B2B 私域流量池怎么建"),
    ("/resources/whitepaper-2026", "白皮书下载"),
];
const EVENTS: [&str; 6] = [
    "Form Submitted",
    "Whitepaper Downloaded",
    "Webinar Registered",
    "Webinar Attended",
    "Article Read",
    "Pricing Viewed",
];
const UTM: [(&str, &str, &str); 5] = [
    ("baidu", "cpc", "2026q4-brand-search"),
    ("zhihu", "article", "whitepaper-2026"),
    ("expo", "offline", "2026-smart-manufacturing-expo"),
    ("wechat", "social", "moments-ad-nov"),
    ("partner", "referral", "partner-program-2026"),
];

/// The benchmark's traffic: 85 % page views and track calls of returning people (with their userId
/// once a browser has identified), 10 % identify calls with traits (some from a person's second
/// browser, which merges it), 5 % page views of new anonymous visitors. Deterministic per seed.
struct Traffic {
    rng: StdRng,
    now: i64,
    visitors: Vec<Visitor>,
    companies: Vec<Company>,
    next: u64,
    seed: u64,
}

impl Traffic {
    fn new(seed: u64, people: usize, now: i64) -> Traffic {
        let mut rng = StdRng::seed_from_u64(seed);
        let companies = make_companies(&mut rng, (people / 8).max(5));
        let mut factory = PersonFactory::default();
        let visitors = (0..people)
            .map(|i| {
                let company = rng.gen_range(0..companies.len());
                let person = factory.person(&mut rng, &companies, company);
                let n = if rng.gen_bool(0.1) { 2 } else { 1 };
                let devices: Vec<String> = (0..n).map(|_| uuid(&mut rng)).collect();
                Visitor {
                    person,
                    user_id: format!("u-{seed}-{i}"),
                    identified: vec![false; n],
                    devices,
                }
            })
            .collect();
        Traffic {
            rng,
            now,
            visitors,
            companies,
            next: 0,
            seed,
        }
    }

    /// The next message and the contact it belongs to (for the baseline rows).
    fn message(&mut self) -> (Value, i64) {
        self.next += 1;
        let message_id = format!("bench-{}-{}", self.seed, self.next);
        // Time moves on as traffic arrives (simulated at 50,000 messages a second); a client sends a
        // message up to 10 s after it happened (its queue), and one in fifty arrives up to a week
        // late (an app that was offline).
        let at = if self.rng.gen_bool(0.02) {
            self.now - self.rng.gen_range(0..7 * 24 * 3_600_000)
        } else {
            self.now + (self.next / 50) as i64 - self.rng.gen_range(0..10_000)
        };
        let r: f64 = self.rng.gen();
        let (path, title) = *PATHS.choose(&mut self.rng).expect("paths");
        let page = json!({"path": path, "url": format!("https://www.hatchery-demo.example{path}"), "title": title, "referrer": ""});
        let mut context = json!({
            "page": page, "locale": "zh-CN", "library": {"name": "analytics.js", "version": "4.1.0"},
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",
        });
        if r < 0.05 {
            // A new anonymous visitor landing from a campaign.
            let (s, m, c) = *UTM.choose(&mut self.rng).expect("utm");
            context["campaign"] = json!({"source": s, "medium": m, "name": c});
            let anon = uuid(&mut self.rng);
            let msg = json!({"type": "page", "messageId": message_id, "anonymousId": anon, "timestamp": iso(at), "name": title, "properties": page, "context": context});
            return (msg, -(self.next as i64));
        }
        let i = self.rng.gen_range(0..self.visitors.len());
        let v = &mut self.visitors[i];
        let d = self.rng.gen_range(0..v.devices.len());
        let mut msg = if r < 0.15 {
            v.identified[d] = true;
            let p = &v.person;
            let c = &self.companies[p.company];
            json!({"type": "identify", "traits": {
                "name": p.name, "email": p.email, "phone": p.mobile, "company": c.name, "title": p.title,
                "industry": c.industry, "province": c.province, "city": c.city,
            }})
        } else if self.rng.gen_bool(0.5) {
            json!({"type": "page", "name": title, "properties": page})
        } else {
            let event = *EVENTS.choose(&mut self.rng).expect("events");
            json!({"type": "track", "event": event, "properties": {"path": path, "value": self.rng.gen_range(1..100), "asset_id": "wp-private-traffic-2026"}})
        };
        msg["messageId"] = json!(message_id);
        msg["anonymousId"] = json!(v.devices[d]);
        if v.identified[d] {
            msg["userId"] = json!(v.user_id);
        }
        msg["timestamp"] = json!(iso(at));
        msg["context"] = context;
        (msg, i as i64 + 1)
    }

    fn raw_event(msg: &Value, contact: i64, now: i64) -> RawEvent {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let campaign = &msg["context"]["campaign"];
        let occurred_at = msg["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.timestamp_millis());
        RawEvent {
            contact,
            message_id: text(&msg["messageId"]).unwrap_or_default(),
            client_at: occurred_at,
            kind: text(&msg["type"]).unwrap_or_default(),
            name: text(&msg["event"]).or_else(|| text(&msg["name"])),
            occurred_at,
            channel: None,
            utm_source: text(&campaign["source"]),
            utm_medium: text(&campaign["medium"]),
            utm_campaign: text(&campaign["name"]),
            properties: msg
                .get("properties")
                .cloned()
                .unwrap_or_else(|| json!({}))
                .to_string(),
            context: msg["context"].to_string(),
        }
    }
}

async fn ingest(cfg: &Config, db: &FreshDb, a: &IngestArgs) -> Result<()> {
    let events = a.events as usize;
    let batch = a.batch as usize;
    let people = a
        .people
        .map_or_else(|| (events / 10).clamp(100, 100_000), |p| p.max(1) as usize);
    let (store, org, now) = open_bench_org(cfg, db).await?;
    let (_, key) = store
        .create_source(org, "Benchmark website", "website", now)
        .await?;
    if a.prefill > 0 {
        let mut rng = StdRng::seed_from_u64(a.seed ^ 0x5eed_f111);
        fill_pool(
            &store,
            org,
            a.prefill as usize,
            &mut rng,
            now,
            &PoolExtras::default(),
        )
        .await?;
        if a.prefill_events_per_contact > 0 {
            let (_, n, took) = segments::fill_events(
                &store,
                org,
                a.prefill as usize,
                a.prefill_events_per_contact as usize,
                &mut rng,
                now,
            )
            .await?;
            println!(
                "events:   {} events for the {} prefilled contacts in {:.1} s",
                thousands(n as u64),
                thousands(a.prefill),
                took.as_secs_f64()
            );
        }
        store.analyze().await?;
    }
    for i in 0..a.segments as usize {
        store
            .create_segment(
                org,
                &format!("bench {i}"),
                None,
                &segments::sample_filter(i),
                now,
            )
            .await?;
    }
    if a.scoring {
        store
            .set_scoring_model(org, &segments::sample_model(), now)
            .await?;
    }
    if a.nurture {
        segments::save_default_nurture_models(&store, org, now).await?;
    }
    let evaluating = a.segments > 0 || a.scoring || a.nurture;
    if evaluating {
        // The pool starts settled: segments materialised, every contact scored and placed (untimed).
        let t = Instant::now();
        let m = hatchery_engine::Metrics::default();
        hatchery_engine::evaluator::drain(&store, &hatchery_engine::SystemClock, &m).await?;
        println!(
            "settled:  {} segments materialised, {} contact evaluations in {:.1} s (untimed)",
            m.segments_materialised.load(Ordering::Relaxed),
            thousands(m.contacts_evaluated.load(Ordering::Relaxed)),
            t.elapsed().as_secs_f64()
        );
    }

    // The setup's writes go to disk before the clock starts (a checkpoint of gigabytes, or the
    // operating system writing back dirty pages, would otherwise stall the first timed commits).
    if a.prefill > 0 || evaluating {
        let t = Instant::now();
        let dirty = proc_kb("/proc/meminfo", "Dirty:").unwrap_or(0);
        store.flush().await?;
        println!(
            "flushed:  the setup's writes in {:.1} s ({:.0} MiB of dirty pages before, {:.0} MiB after)",
            t.elapsed().as_secs_f64(),
            mib(dirty),
            mib(proc_kb("/proc/meminfo", "Dirty:").unwrap_or(0))
        );
    }

    // Request bodies are built before the clock starts.
    let rss_start = proc_kb("/proc/self/status", "VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let mut traffic = Traffic::new(a.seed, people, now);
    let sent_at = iso(now);
    let mut raw_bytes = 0usize;
    let mut requests = |total: usize| -> Result<Vec<Bytes>> {
        let mut bodies: Vec<Bytes> = Vec::with_capacity(total.div_ceil(batch));
        let mut left = total;
        while left > 0 {
            let n = batch.min(left);
            left -= n;
            let messages: Vec<String> = (0..n).map(|_| traffic.message().0.to_string()).collect();
            let body = batch_body(&messages, &sent_at);
            if body.len() > hatchery_domain::message::MAX_BATCH_BYTES {
                bail!("a request of {n} messages is {} bytes, over the API's 500 KiB limit; use a smaller --batch", body.len());
            }
            raw_bytes += body.len();
            bodies.push(if a.gzip {
                Bytes::from(gzip(body.as_bytes())?)
            } else {
                Bytes::from(body)
            });
        }
        Ok(bodies)
    };
    let bodies = requests(events)?;
    // The burst continues the same traffic (the same people come back).
    let burst_bodies = requests(a.burst as usize)?;
    drop(traffic);
    let held: usize = bodies.iter().chain(&burst_bodies).map(Bytes::len).sum();
    println!(
        "generated: {} messages for {} returning people in {} requests of up to {batch} ({:.1} MB{}) in {:.1} s",
        thousands(events as u64),
        thousands(people as u64),
        thousands(bodies.len() as u64),
        raw_bytes as f64 / 1e6,
        if a.gzip { format!(", {:.1} MB gzipped", held as f64 / 1e6) } else { String::new() },
        t.elapsed().as_secs_f64()
    );

    let server = ServerProcess::start_with(&db.url, a.intake_log).await?;
    let url = server.batch_url();
    let rss_before = proc_kb("/proc/self/status", "VmRSS:").unwrap_or(0);
    // From here the peak covers the send phase only (generation and any prefill are behind us).
    let hwm_setup = proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);
    let peak_reset = reset_peak_rss();
    println!(
        "sending: {} clients to {url}{}{}",
        a.clients,
        if a.gzip { " (gzip)" } else { "" },
        a.rate.map_or(String::new(), |r| format!(
            ", paced at {} events/s",
            thousands(r)
        ))
    );

    // With --rate, request i leaves no earlier than i × (batch / rate) after the start.
    let interval = a
        .rate
        .map(|r| Duration::from_secs_f64(batch as f64 / r as f64));
    let before = Mark::of(&store, org).await?;
    let cpu0 = cpu_time();
    let bodies = Arc::new(bodies);
    let (mut latencies, acknowledged) =
        send_all(&bodies, &url, &key, a.gzip, a.clients, interval).await?;
    // With the intake log, the last `200` comes before the last messages are in the pool: the
    // rate counts until they are.
    let wall = acknowledged + server.applied().await?;
    // With segments or scoring, the evaluator works behind ingest: how long until it caught up.
    let caught_up = if evaluating {
        Some(catch_up(&store, org).await?)
    } else {
        None
    };
    let hwm_send = proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);
    let cpu = cpu_time().saturating_sub(cpu0);
    latencies.sort_unstable();
    let rate = events as f64 / wall.as_secs_f64();
    let metrics = server.metrics().await?;
    let commits =
        prometheus_value(&metrics, "hatchery_batch_commit_seconds_count").unwrap_or(0.0) as u64;
    let merges = prometheus_value(&metrics, "hatchery_merges_total").unwrap_or(0.0) as u64;
    let writer_secs =
        prometheus_value(&metrics, "hatchery_batch_commit_seconds_sum").unwrap_or(0.0);
    let server_cpu = server.cpu_time();
    let burst = if burst_bodies.is_empty() {
        None
    } else {
        let (mut l, wall) =
            send_all(&Arc::new(burst_bodies), &url, &key, a.gzip, a.clients, None).await?;
        l.sort_unstable();
        let caught = if evaluating {
            Some(catch_up(&store, org).await?)
        } else {
            None
        };
        Some((l, wall, caught))
    };
    let server_hwm = server.stop().await?;
    drop(bodies);

    let stored = store.count_events(org).await?;
    let contacts = store.count_contacts(org).await?;
    println!();
    println!(
        "ingest:   {} events in {:.2} s = {} events/s end to end (request latency p50 {:.0} ms, p99 {:.0} ms)",
        thousands(events as u64),
        wall.as_secs_f64(),
        thousands(rate as u64),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99))
    );
    if prometheus_value(&metrics, "hatchery_intake_logged_total").unwrap_or(0.0) > 0.0 {
        println!(
            "  intake log: the last request was answered after {:.2} s ({} events/s acknowledged), the last message applied {:.2} s later; {} log syncs",
            acknowledged.as_secs_f64(),
            thousands((events as f64 / acknowledged.as_secs_f64()) as u64),
            (wall - acknowledged).as_secs_f64(),
            thousands(prometheus_value(&metrics, "hatchery_intake_syncs_total").unwrap_or(0.0) as u64),
        );
    }
    if let Some((lag, left)) = caught_up {
        let evaluated =
            prometheus_value(&metrics, "hatchery_contacts_evaluated_total").unwrap_or(0.0) as u64;
        println!(
            "  evaluation ({} segments{}{}): caught up {:.2} s after the last request{}; {} contact evaluations",
            a.segments,
            if a.scoring { ", scoring" } else { "" },
            if a.nurture { ", stages and tiers" } else { "" },
            lag.as_secs_f64(),
            if left > 0 { format!(" (gave up with {left} waiting)") } else { String::new() },
            thousands(evaluated)
        );
        let lag = |q: f64| {
            histogram_quantile(&metrics, "hatchery_evaluation_lag_seconds", q)
                .map_or("-".to_owned(), |s| format!("≤ {s} s"))
        };
        let within = |bound: &str| {
            let n = prometheus_value(
                &metrics,
                &format!("hatchery_evaluation_lag_seconds_bucket{{le=\"{bound}\"}}"),
            )
            .unwrap_or(0.0);
            100.0 * n / evaluated.max(1) as f64
        };
        println!(
            "  lag from receipt to memberships being visible (server histogram, bucket bounds): p50 {}, p99 {}; {:.1} % within 1 s, {:.1} % within 0.5 s",
            lag(0.50),
            lag(0.99),
            within("1"),
            within("0.5")
        );
        let batches =
            prometheus_value(&metrics, "hatchery_evaluation_batches_total").unwrap_or(0.0);
        let phase = |p: &str| {
            let s = prometheus_value(
                &metrics,
                &format!("hatchery_evaluation_phase_seconds_total{{phase=\"{p}\"}}"),
            )
            .unwrap_or(0.0);
            1000.0 * s / batches.max(1.0)
        };
        println!(
            "  evaluator: {} batches of {:.0} contacts on average, each {:.0} ms claiming, {:.0} ms reading, {:.0} ms computing, {:.0} ms waiting to write, {:.0} ms writing",
            thousands(batches as u64),
            evaluated as f64 / batches.max(1.0),
            phase("claim"),
            phase("read"),
            phase("compute"),
            phase("wait"),
            phase("write")
        );
    }
    if let Some((l, wall, caught)) = &burst {
        let n = a.burst;
        println!(
            "burst:    {} more events as fast as they are taken: {:.2} s = {} events/s end to end (request latency p50 {:.0} ms, p99 {:.0} ms){}",
            thousands(n),
            wall.as_secs_f64(),
            thousands((n as f64 / wall.as_secs_f64()) as u64),
            ms(percentile(l, 0.50)),
            ms(percentile(l, 0.99)),
            caught.map_or(String::new(), |(t, left)| format!(
                "; evaluation caught up {:.2} s after the last request{}",
                t.as_secs_f64(),
                if left > 0 { format!(" (gave up with {left} waiting)") } else { String::new() }
            ))
        );
    }
    println!(
        "  writer: {} group commits ({:.0} messages each on average), {:.2} s resolving and writing = {:.0} % of the wall time",
        thousands(commits),
        events as f64 / commits.max(1) as f64,
        writer_secs,
        100.0 * writer_secs / wall.as_secs_f64()
    );
    print_write_phases(|p| {
        prometheus_value(
            &metrics,
            &format!(
                "hatchery_write_phase_seconds_total{{phase=\"{}\"}}",
                p.label()
            ),
        )
        .unwrap_or(0.0)
    });
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    println!(
        "  cpu:    server {:.1} s, HTTP clients {:.1} s (user+system) = {:.0} % of {cpus} CPUs{}",
        server_cpu.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * (server_cpu + cpu).as_secs_f64() / wall.as_secs_f64() / cpus,
        if store.backend_name() == "postgres" {
            " (the PostgreSQL server's own CPU not counted)"
        } else {
            ""
        }
    );
    println!(
        "  stored: {} events, {} contacts, {} merges",
        thousands(stored as u64),
        thousands(contacts as u64),
        thousands(merges)
    );
    if stored as usize != events {
        println!(
            "  WARNING: {} events were sent but {} are stored",
            thousands(events as u64),
            thousands(stored as u64)
        );
    }

    // The baseline writes the same rows in transactions as large as the writer's average group,
    // so both pay for the same number of commits.
    let group = (events / commits.max(1) as usize).max(1);
    let base = baseline(&store, org, a.seed, people, events, group, now).await?;
    let base_rate = events as f64 / base.as_secs_f64();
    println!(
        "baseline: {} rows by raw multi-row INSERT into a copy of the events table, {} transactions of up to {group}: {:.2} s = {} rows/s",
        thousands(events as u64),
        thousands(events.div_ceil(group) as u64),
        base.as_secs_f64(),
        thousands(base_rate as u64)
    );
    println!(
        "ratio:    ingest reaches {:.1} % of the raw insert rate ({:.2}x slower)",
        100.0 * rate / base_rate,
        base_rate / rate
    );
    if a.burst == 0 {
        let f = floor(&store, org, before, commits).await?;
        print_floor(&f, events as u64, "events", wall);
    }
    let hwm = proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);
    let body_mib = held as f64 / 1024.0 / 1024.0;
    println!(
        "memory:   server peak RSS {:.0} MiB (VmHWM of the `hatchery serve` process, whole life)",
        mib(server_hwm)
    );
    if peak_reset {
        println!(
            "          benchmark process: peak {:.0} MiB while sending, of which {body_mib:.0} MiB are the pre-generated request bodies (setup peak {:.0} MiB; {:.0} MiB before generating; {:.0} MiB when sending started; {:.0} MiB after the baseline)",
            mib(hwm_send),
            mib(hwm_setup),
            mib(rss_start),
            mib(rss_before),
            mib(hwm)
        );
    } else {
        println!(
            "          benchmark process: peak {:.0} MiB (whole run), of which {body_mib:.0} MiB are the pre-generated request bodies",
            mib(hwm)
        );
    }
    if let Some(f) = db.sqlite_file() {
        println!(
            "  database file: {:.0} MiB",
            file_size(&f) as f64 / 1024.0 / 1024.0
        );
    }
    store.close().await;
    Ok(())
}

/// The last contact and event ids of an organisation: what a timed run wrote comes after them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    contact: i64,
    event: i64,
}

impl Mark {
    pub(crate) async fn of(store: &Store, org: OrgId) -> Result<Mark> {
        let last =
            |table: &str| format!("SELECT COALESCE(MAX(id), 0) FROM {table} WHERE org_id = $1");
        let (contacts, events) = (last("contacts"), last("events"));
        let contact = on_pool!(store, p => sqlx::query_scalar::<_, i64>(&contacts).bind(org.0).fetch_one(p).await)?;
        let event = on_pool!(store, p => sqlx::query_scalar::<_, i64>(&events).bind(org.0).fetch_one(p).await)?;
        Ok(Mark { contact, event })
    }
}

/// The tables a run writes rows of for every contact or event: the column whose ranges make the
/// transactions (a contact id, or an event id: events in the order they arrived), and the order in
/// which the writer inserts a transaction's rows.
const FLOOR_TABLES: [(&str, &str, &str); 4] = [
    ("contacts", "id", "id"),
    ("identities", "contact_id", "kind, value"),
    ("events", "id", "id"),
    ("contact_tags", "contact_id", "contact_id, tag_id"),
];

/// Page cache of the connection [`floor`] copies on (SQLite): 1 GiB, more than a 1M-row import
/// dirties in one transaction.
const FLOOR_CACHE_KIB: u32 = 1_048_576;

/// What [`floor`] copied and how long the database took.
pub(crate) struct Floor {
    /// Rows per table of [`FLOOR_TABLES`].
    pub rows: [u64; 4],
    pub transactions: u64,
    pub spent: Duration,
}

/// The storage engine's own cost of what a run stored: the contacts it created (ids after
/// `before`) with their identities and tag links, and the events it stored, copied into empty
/// twins of their tables with the same columns and indexes, in `transactions` transactions. The
/// k-th transaction holds the k-th range of contact ids and the k-th range of event ids, as the
/// run's k-th transaction held what arrived then (at least one transaction). Each range is first copied, untimed, into
/// unindexed temporary tables in the order the writer inserts; the clock then covers only the
/// inserts into the twins and the commit — no parsing, binding, resolving or reading of indexed
/// tables.
pub(crate) async fn floor(
    store: &Store,
    org: OrgId,
    before: Mark,
    transactions: u64,
) -> Result<Floor> {
    let after = Mark::of(store, org).await?;
    let postgres = store.backend_name() == "postgres";
    let mut ddl = Vec::new();
    for (table, _, _) in FLOOR_TABLES {
        if postgres {
            ddl.push(format!(
                "CREATE TABLE bench_floor_{table} (LIKE {table} INCLUDING ALL)"
            ));
        } else {
            let schema: Vec<(String, String, String)> = on_pool!(store, p => sqlx::query_as(
                "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY type DESC",
            )
            .bind(table)
            .fetch_all(p)
            .await)?;
            for (kind, name, sql) in schema {
                let (from, to) = if kind == "table" {
                    (
                        format!("CREATE TABLE {table} ("),
                        format!("CREATE TABLE bench_floor_{table} ("),
                    )
                } else {
                    (
                        format!("INDEX {name} ON {table} ("),
                        format!("INDEX bench_floor_{name} ON bench_floor_{table} ("),
                    )
                };
                if !sql.contains(&from) {
                    bail!("cannot make a twin of {name}: unexpected SQL {sql}");
                }
                ddl.push(sql.replacen(&from, &to, 1));
            }
        }
        ddl.push(format!(
            "CREATE TEMP TABLE bench_stage_{table} AS SELECT * FROM {table} WHERE 1 = 0"
        ));
    }
    let n = transactions.max(1) as i64;
    // The k-th of n equal ranges of (from, to].
    let range = |from: i64, to: i64, k: i64| {
        let cut = |k: i64| from + (to - from).max(0) * k / n;
        (cut(k), cut(k + 1))
    };
    let mut rows = [0u64; 4];
    let mut spent = Duration::ZERO;
    on_pool!(store, p => {
        // One connection throughout: the staging tables are temporary, so they live in it.
        let mut c = p.acquire().await?;
        let mut cache = None;
        if !postgres {
            cache = Some(
                sqlx::query_scalar::<_, i64>("PRAGMA cache_size")
                    .fetch_one(&mut *c)
                    .await?,
            );
            // A floor: enough cache for every page one transaction dirties (the writer has
            // `SQLITE_WRITER_CACHE_KIB`), so that no transaction spills pages to the WAL early.
            sqlx::query(&format!("PRAGMA cache_size = -{FLOOR_CACHE_KIB}"))
                .execute(&mut *c)
                .await?;
        }
        for sql in &ddl {
            sqlx::query(sql).execute(&mut *c).await?;
        }
        for k in 0..n {
            for (i, (table, key, order)) in FLOOR_TABLES.iter().enumerate() {
                let (lo, hi) = if *table == "events" {
                    range(before.event, after.event, k)
                } else {
                    range(before.contact, after.contact, k)
                };
                let staged = sqlx::query(&format!(
                    "INSERT INTO bench_stage_{table} SELECT * FROM {table} \
                     WHERE org_id = $1 AND {key} > $2 AND {key} <= $3 ORDER BY {order}"
                ))
                .bind(org.0)
                .bind(lo)
                .bind(hi)
                .execute(&mut *c)
                .await?;
                rows[i] += staged.rows_affected();
            }
            let t = Instant::now();
            let mut tx = sqlx::Acquire::begin(&mut *c).await?;
            for (table, _, _) in FLOOR_TABLES {
                sqlx::query(&format!("INSERT INTO bench_floor_{table} SELECT * FROM bench_stage_{table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            spent += t.elapsed();
            for (table, _, _) in FLOOR_TABLES {
                sqlx::query(&format!("DELETE FROM bench_stage_{table}"))
                    .execute(&mut *c)
                    .await?;
            }
        }
        if let Some(kib) = cache {
            // The connection goes back to the pool with the cache it came with.
            sqlx::query(&format!("PRAGMA cache_size = {kib}"))
                .execute(&mut *c)
                .await?;
        }
        anyhow::Ok(())
    })?;
    Ok(Floor {
        rows,
        transactions: n as u64,
        spent,
    })
}

/// Prints what [`floor`] measured against a run that handled `units` (rows, events) in `wall`.
pub(crate) fn print_floor(f: &Floor, units: u64, unit: &str, wall: Duration) {
    println!(
        "floor:    the {} contacts created, with their {} identities and {} tag links, and the {} events stored, copied into empty twins of their tables (same columns and indexes) in {} transactions: {:.2} s in the database",
        thousands(f.rows[0]),
        thousands(f.rows[1]),
        thousands(f.rows[3]),
        thousands(f.rows[2]),
        thousands(f.transactions),
        f.spent.as_secs_f64(),
    );
    println!(
        "          = {} {unit}/s with no parsing, binding or resolving at all; the run reached {:.1} % of that",
        thousands((units as f64 / f.spent.as_secs_f64()) as u64),
        100.0 * f.spent.as_secs_f64() / wall.as_secs_f64(),
    );
}

fn store_settings(cfg: &Config, store: &Store) -> String {
    match store.backend() {
        Backend::Sqlite(_) => format!(
            "WAL, synchronous={}, {} connections",
            if cfg.store.sqlite_fsync_every_commit {
                "FULL"
            } else {
                "NORMAL"
            },
            cfg.store.max_connections
        ),
        Backend::Postgres(_) => format!("{} connections", cfg.store.max_connections),
    }
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 6),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The upper bound of the bucket of a Prometheus histogram holding its `q` quantile (`+Inf` when
/// it lies beyond the last bound); `None` without observations.
fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<String> {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.to_owned(), count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    buckets
        .into_iter()
        .find(|(_, n)| *n >= q * total)
        .map(|(bound, _)| bound)
}

/// `hatchery serve` started from this very binary on a free local port against the benchmark
/// database, so the server's memory and CPU are its own and not mixed with the load generator's.
struct ServerProcess {
    child: std::process::Child,
    addr: String,
    client: reqwest::Client,
}

impl ServerProcess {
    async fn start(database_url: &str) -> Result<ServerProcess> {
        Self::start_with(database_url, None).await
    }

    /// Waits until the intake log holds nothing unapplied; returns how long that took.
    async fn applied(&self) -> Result<Duration> {
        let t = Instant::now();
        loop {
            let m = self.metrics().await?;
            if prometheus_value(&m, "hatchery_intake_backlog_messages") == Some(0.0) {
                return Ok(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts `hatchery serve`, with the intake log on or off if `intake_log` says so.
    async fn start_with(database_url: &str, intake_log: Option<bool>) -> Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free local port")?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let data_dir = std::env::temp_dir().join(format!("hatchery-bench-server-{port}"));
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--listen", &addr])
            .env("HATCHERY_DATABASE_URL", database_url)
            .env("HATCHERY_DATA_DIR", &data_dir)
            .env("HATCHERY_LOG", "warn")
            .env_remove("HATCHERY_INTAKE_LOG");
        if let Some(on) = intake_log {
            command.env("HATCHERY_INTAKE_LOG", on.to_string());
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("cannot start `hatchery serve`")?;
        let server = ServerProcess {
            child,
            addr: format!("http://{addr}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = server
                .client
                .get(format!("{}/readyz", server.addr))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("`hatchery serve` did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn batch_url(&self) -> String {
        format!("{}/v1/batch", self.addr)
    }

    async fn metrics(&self) -> Result<String> {
        Ok(self
            .client
            .get(format!("{}/metrics", self.addr))
            .send()
            .await?
            .text()
            .await?)
    }

    fn status_file(&self) -> String {
        format!("/proc/{}/status", self.child.id())
    }

    /// User + system CPU time the server has used so far.
    fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is the 14th field of
        // the line, stime the 15th, in clock ticks (100 per second on Linux).
        let rest = stat.rsplit(')').next().unwrap_or_default();
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 30 s) and returns its peak RSS in KiB.
    async fn stop(mut self) -> Result<u64> {
        let hwm = proc_kb(&self.status_file(), "VmHWM:").unwrap_or(0);
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.wait();
        let port = self.addr.rsplit(':').next().unwrap_or_default();
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("hatchery-bench-server-{port}")),
        );
        Ok(hwm)
    }
}

/// Prints where the writer's transactions spent their time, given the seconds of each phase.
fn print_write_phases(seconds: impl Fn(WritePhase) -> f64) {
    println!(
        "          of which {:.2} s beginning (holdings lock), {:.2} s looking up, {:.2} s resolving in process, {:.2} s writing, {:.2} s committing",
        seconds(WritePhase::Begin),
        seconds(WritePhase::Lookup),
        seconds(WritePhase::Plan),
        seconds(WritePhase::Write),
        seconds(WritePhase::Commit)
    );
}

const BASELINE_SQLITE: [&str; 3] = [
    "CREATE TABLE bench_raw_events (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, \
     message_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT, occurred_at INTEGER NOT NULL, sent_at INTEGER, \
     received_at INTEGER NOT NULL, source_id INTEGER, channel TEXT, utm_source TEXT, utm_medium TEXT, utm_campaign TEXT, \
     properties TEXT NOT NULL, context TEXT NOT NULL, client_at INTEGER NOT NULL DEFAULT 0)",
    "CREATE UNIQUE INDEX bench_raw_events_message ON bench_raw_events (org_id, client_at, message_id)",
    "CREATE INDEX bench_raw_events_contact ON bench_raw_events (org_id, contact_id, occurred_at)",
];
const BASELINE_POSTGRES: [&str; 3] = [
    "CREATE TABLE bench_raw_events (id BIGINT GENERATED BY DEFAULT AS IDENTITY, org_id BIGINT NOT NULL, \
     contact_id BIGINT NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT, occurred_at BIGINT NOT NULL, \
     sent_at BIGINT, received_at BIGINT NOT NULL, source_id BIGINT, channel TEXT, utm_source TEXT, utm_medium TEXT, \
     utm_campaign TEXT, properties TEXT NOT NULL, context TEXT NOT NULL, client_at BIGINT NOT NULL DEFAULT 0, \
     PRIMARY KEY (org_id, id))",
    "CREATE UNIQUE INDEX bench_raw_events_message ON bench_raw_events (org_id, client_at, message_id)",
    "CREATE INDEX bench_raw_events_contact ON bench_raw_events (org_id, contact_id, occurred_at)",
];

/// Rows per INSERT statement, as the store's write path uses.
const INSERT_CHUNK: usize = 500;

/// Inserts the rows the ingest run stored (regenerated from the same seed) into a fresh table with
/// the columns and indexes of `events`, `batch` rows per transaction; returns the time spent in the
/// database (building the rows is not counted).
async fn baseline(
    store: &Store,
    org: OrgId,
    seed: u64,
    people: usize,
    events: usize,
    batch: usize,
    now: i64,
) -> Result<Duration> {
    let ddl = match store.backend() {
        Backend::Sqlite(_) => BASELINE_SQLITE,
        Backend::Postgres(_) => BASELINE_POSTGRES,
    };
    for sql in ddl {
        on_pool!(store, p => sqlx::query(sql).execute(p).await.map(|_| ()))?;
    }
    let mut traffic = Traffic::new(seed, people, now);
    let mut spent = Duration::ZERO;
    let mut left = events;
    while left > 0 {
        let n = batch.min(left);
        left -= n;
        let rows: Vec<RawEvent> = (0..n)
            .map(|_| {
                let (m, contact) = traffic.message();
                Traffic::raw_event(&m, contact, now)
            })
            .collect();
        let t = Instant::now();
        on_pool!(store, p => {
            let mut tx = p.begin().await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO bench_raw_events (org_id, contact_id, message_id, client_at, kind, name, occurred_at, sent_at, \
                     received_at, source_id, channel, utm_source, utm_medium, utm_campaign, properties, context) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(org.0)
                        .push_bind(r.contact)
                        .push_bind(r.message_id.clone())
                        .push_bind(r.client_at)
                        .push_bind(r.kind.clone())
                        .push_bind(r.name.clone())
                        .push_bind(r.occurred_at)
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(1i64)
                        .push_bind(r.channel.clone())
                        .push_bind(r.utm_source.clone())
                        .push_bind(r.utm_medium.clone())
                        .push_bind(r.utm_campaign.clone())
                        .push_bind(r.properties.clone())
                        .push_bind(r.context.clone());
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        spent += t.elapsed();
    }
    Ok(spent)
}

// ---------------------------------------------------------------------------------------------
// Contact list.
// ---------------------------------------------------------------------------------------------

const SOURCES: [(&str, u32); 8] = [
    ("baidu", 22),
    ("Demo website", 18),
    ("wechat", 20),
    ("zhihu", 8),
    ("expo", 10),
    ("crm-import", 14),
    ("partner", 5),
    ("linkedin", 3),
];

/// What the queries search for: a sample of the people written.
#[derive(Default)]
struct Sample {
    names: Vec<String>,
    companies: Vec<String>,
    emails: Vec<String>,
    mobiles: Vec<String>,
}

/// Surnames the name searches type: the commonest, and one of two characters.
const SEARCHED_SURNAMES: [&str; 13] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "欧阳",
];

/// What a search box is given: the beginning of a name, company, email or mobile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    /// A surname alone (every other run), or a surname and the first character of the given name.
    Name,
    /// Two to four characters of a company name.
    Company,
    /// Three to six characters of an email address.
    Email,
    /// Four to seven digits of a mobile number, as typed (without +86).
    Mobile,
}

impl Sample {
    /// The `i`-th search term of a kind, drawn from the people written.
    fn search_term(&self, what: Search, i: usize, rng: &mut StdRng) -> String {
        let pick = |rng: &mut StdRng, v: &[String]| v[rng.gen_range(0..v.len())].clone();
        let prefix = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        match what {
            Search::Name => {
                let s = SEARCHED_SURNAMES[i % SEARCHED_SURNAMES.len()];
                if i.is_multiple_of(2) {
                    s.to_owned()
                } else {
                    prefix(&pick(rng, &self.names), s.chars().count() + 1)
                }
            }
            Search::Company => {
                let c = pick(rng, &self.companies);
                prefix(&c, rng.gen_range(2..=4))
            }
            Search::Email => {
                let e = pick(rng, &self.emails);
                prefix(&e, rng.gen_range(3..=6))
            }
            Search::Mobile => {
                let m = pick(rng, &self.mobiles);
                m.trim_start_matches("+86")
                    .chars()
                    .take(rng.gen_range(4..=7))
                    .collect()
            }
        }
    }
}

/// The heading of a latency table; `extra` names columns after the percentiles.
fn print_latency_heading(first: &str, extra: &[&str]) {
    let mut line = format!("{first:<34}");
    for c in ["p50 ms", "p95 ms", "p99 ms", "max ms"] {
        line.push_str(&format!(" {c:>9}"));
    }
    for c in extra {
        line.push_str(&format!(" {c:>7}"));
    }
    println!("{line}");
}

/// Prints one row of a latency table (sorting `times`) and returns its p95.
fn print_latency_row(kind: &str, times: &mut [Duration], extra: &[f64]) -> Duration {
    times.sort_unstable();
    let p95 = percentile(times, 0.95);
    let mut line = format!(
        "{kind:<34} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        ms(percentile(times, 0.50)),
        ms(p95),
        ms(percentile(times, 0.99)),
        ms(times.last().copied().unwrap_or_default())
    );
    for x in extra {
        line.push_str(&format!(" {x:>7.1}"));
    }
    println!("{line}");
    p95
}

/// The verdict against the latency target (p95 < 100 ms).
fn verdict(p95: Duration) -> &'static str {
    if p95 < Duration::from_millis(100) {
        "met"
    } else {
        "missed"
    }
}

const FILL_BATCH: usize = 5_000;

/// What [`fill_pool`] writes besides profiles and identities. The default (nothing) keeps the
/// pools of the earlier benchmarks exactly as they were, seed for seed.
#[derive(Default)]
struct PoolExtras {
    /// Tags (ids) and the share of contacts carrying each, drawn independently per contact.
    tags: Vec<(i64, f64)>,
    /// Link every contact to its company's account by name, as an import row does.
    accounts: bool,
}

/// Writes `total` contacts with email, mobile and (three in ten) a WeChat unionID through the store's
/// batch write path, 5,000 per transaction; returns the companies used and a sample to search for.
/// Opens the benchmark database, says how the store is set up, and creates the organisation the
/// benchmark works in; returns them with the benchmark's "now".
/// Sends `bodies` to `url` with `clients` concurrent clients (request i no earlier than
/// i × `interval` after the start, when paced); returns each request's latency and the time from
/// the first request to the last answer.
async fn send_all(
    bodies: &Arc<Vec<Bytes>>,
    url: &str,
    key: &str,
    gz: bool,
    clients: u64,
    interval: Option<Duration>,
) -> Result<(Vec<Duration>, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, url, key) =
            (bodies.clone(), next.clone(), url.to_owned(), key.to_owned());
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                if let Some(every) = interval {
                    let due = started + every.mul_f64(i as f64);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                }
                let t = Instant::now();
                let mut req = client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .header(reqwest::header::CONTENT_TYPE, "application/json");
                if gz {
                    req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
                }
                let resp = req
                    .body(body.clone())
                    .send()
                    .await
                    .context("the tracking API did not answer")?;
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                if status != reqwest::StatusCode::OK {
                    bail!(
                        "request {i}: the tracking API answered {status}: {}",
                        text.chars().take(300).collect::<String>()
                    );
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>((latencies, Instant::now()))
        }));
    }
    let mut latencies = Vec::new();
    let mut last = started;
    for t in tasks {
        let (l, end) = t.await.context("a client task panicked")??;
        latencies.extend(l);
        last = last.max(end);
    }
    Ok((latencies, last - started))
}

/// Waits until the evaluator has nothing due (at most 30 minutes): how long that took, and what
/// was still waiting if it gave up.
async fn catch_up(store: &Store, org: OrgId) -> Result<(Duration, i64)> {
    let t = Instant::now();
    loop {
        let due = store
            .due_jobs(org, chrono::Utc::now().timestamp_millis())
            .await?;
        if due == 0 || t.elapsed() > Duration::from_secs(1800) {
            return Ok((t.elapsed(), due));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_bench_org(cfg: &Config, db: &FreshDb) -> Result<(Store, OrgId, i64)> {
    let store = Store::connect(&db.url, &cfg.store)
        .await
        .context("cannot open the benchmark database")?;
    println!(
        "store: {} ({})",
        store.backend_name(),
        store_settings(cfg, &store)
    );
    let now = chrono::Utc::now().timestamp_millis();
    let org = store.create_org("Benchmark", now).await?.id;
    Ok((store, org, now))
}

/// The id of the oldest of the `total` newest contacts: the first one [`fill_pool`] wrote when it
/// wrote `total` into an empty organisation (ids are consecutive).
async fn first_of_newest(store: &Store, org: OrgId, total: usize) -> Result<i64> {
    let newest = store
        .list_contacts(
            org,
            &ContactFilter {
                limit: 1,
                ..ContactFilter::default()
            },
        )
        .await?
        .0
        .first()
        .map_or(1, |c| c.id.0);
    Ok(newest + 1 - total as i64)
}

async fn fill_pool(
    store: &Store,
    org: OrgId,
    total: usize,
    rng: &mut StdRng,
    now: i64,
    extras: &PoolExtras,
) -> Result<(Vec<Company>, Sample)> {
    let companies = make_companies(rng, (total / 20).max(5));
    let mut factory = PersonFactory::default();
    let mut sample = Sample::default();
    let every = (total / 10_000).max(1);
    let mut next_sample = 0;

    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut written = 0usize;
    let mut write_time = Duration::ZERO;
    let span = 730 * 86_400_000i64; // created over two years, oldest first
    while written < total {
        let n = FILL_BATCH.min(total - written);
        let mut w = IngestWrite::default();
        for i in 0..n {
            let k = written + i;
            let temp = ContactId(-(i as i64) - 1);
            let company = (rng.gen::<f64>().powi(2) * companies.len() as f64) as usize;
            let p = factory.person(rng, &companies, company.min(companies.len() - 1));
            let c = &companies[p.company];
            let mobile = Mobile::parse(&p.mobile)
                .map_err(|e| anyhow::anyhow!("generated mobile: {e}"))?
                .into_string();
            if k == next_sample {
                next_sample += every;
                sample.names.push(p.name.clone());
                sample.companies.push(c.name.clone());
                sample.emails.push(p.email.clone());
                sample.mobiles.push(mobile.clone());
            }
            let source = SOURCES
                .choose_weighted(rng, |s| s.1)
                .map(|s| s.0.to_owned())
                .ok();
            let profile = ProfileFields {
                name: Some(p.name.clone()),
                email: Some(p.email.clone()),
                mobile: Some(mobile.clone()),
                company: Some(c.name.clone()),
                title: Some(p.title.to_owned()),
                department: Some(p.department.to_owned()),
                industry: Some(c.industry.to_owned()),
                company_size: Some(c.size.to_owned()),
                province: Some(normalize_province(c.province)),
                city: Some(normalize_city(c.city)),
                ..ProfileFields::default()
            };
            let created_at = now - span + span * k as i64 / total as i64;
            w.contacts.push(NewContact {
                temp_id: temp,
                profile,
                source,
                created_at,
            });
            let mut link = |identifier| {
                w.identities.push(NewIdentity {
                    identifier,
                    contact: temp,
                    origin: "bench".into(),
                })
            };
            link(Identifier::new(IdentityKind::Email, p.email));
            link(Identifier::new(IdentityKind::Mobile, mobile));
            if rng.gen_bool(0.3) {
                link(Identifier::new(
                    IdentityKind::WechatUnionid,
                    format!("oU{k:026}"),
                ));
            }
            for &(tag, share) in &extras.tags {
                if rng.gen_bool(share) {
                    w.tags.push((temp, tag));
                }
            }
            if extras.accounts {
                let mut traits = serde_json::Map::new();
                traits.insert("domain".into(), json!(c.domain.clone()));
                traits.insert("industry".into(), json!(c.industry));
                traits.insert("company_size".into(), json!(c.size));
                traits.insert("province".into(), json!(normalize_province(c.province)));
                traits.insert("city".into(), json!(normalize_city(c.city)));
                w.accounts.push(AccountLink {
                    contact: temp,
                    external_id: None,
                    name: Some(c.name.clone()),
                    traits,
                });
            }
        }
        let t = Instant::now();
        store.write_ingest(org, w, now).await?;
        write_time += t.elapsed();
        written += n;
        if written == total || last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            eprintln!(
                "  filled {} / {} contacts · {:.0} s",
                thousands(written as u64),
                thousands(total as u64),
                started.elapsed().as_secs_f64()
            );
        }
    }
    drop(factory);
    println!(
        "filled:   {} contacts with email, mobile and (30 %) unionID{}{} in {:.1} s ({:.1} s in the database, {} contacts/s written)",
        thousands(total as u64),
        if extras.tags.is_empty() { "" } else { ", tags" },
        if extras.accounts { ", accounts" } else { "" },
        started.elapsed().as_secs_f64(),
        write_time.as_secs_f64(),
        thousands((total as f64 / write_time.as_secs_f64()) as u64)
    );
    Ok((companies, sample))
}

async fn list(cfg: &Config, db: &FreshDb, a: &ListArgs) -> Result<()> {
    let total = a.contacts as usize;
    let (store, org, now) = open_bench_org(cfg, db).await?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let (companies, sample) =
        fill_pool(&store, org, total, &mut rng, now, &PoolExtras::default()).await?;
    if let Some(f) = db.sqlite_file() {
        println!(
            "  database file: {:.0} MiB",
            file_size(&f) as f64 / 1024.0 / 1024.0
        );
    }

    let iterations = a.iterations as usize;
    let first = store
        .list_contacts(
            org,
            &ContactFilter {
                limit: 50,
                ..ContactFilter::default()
            },
        )
        .await?
        .0;
    let newest = first.first().map_or(1, |c| c.id.0);
    // The cursor of page 50 when paging by 50 (ids are dense in a freshly filled pool).
    let page50 = newest + 1 - 49 * 50;
    let pick = |rng: &mut StdRng, v: &[String]| v[rng.gen_range(0..v.len())].clone();

    println!();
    print_latency_heading(&format!("query ({iterations} runs each)"), &["rows"]);
    let kinds = [
        "first page (50 newest)",
        "page 50 by cursor",
        "filter by source",
        "filter by industry + province",
        "search name prefix (surname)",
        "search company prefix",
        "search email prefix",
        "search mobile prefix",
        "exact identity (email)",
    ];
    let mut worst_p95 = Duration::ZERO;
    for (k, kind) in kinds.iter().enumerate() {
        let mut times = Vec::with_capacity(iterations);
        let mut rows = 0usize;
        // A few untimed runs first, so every kind starts from the same warm cache.
        for i in 0..iterations + 5 {
            let mut f = ContactFilter {
                limit: 50,
                ..ContactFilter::default()
            };
            match k {
                0 => {}
                1 => f.before = Some(ContactId(page50 - (i as i64 % 50) * 7)),
                2 => f.source = Some(SOURCES[i % SOURCES.len()].0.to_owned()),
                3 => {
                    let c = &companies[rng.gen_range(0..companies.len())];
                    f.industry = Some(c.industry.to_owned());
                    f.province = Some(normalize_province(c.province));
                }
                4 => f.q = Some(sample.search_term(Search::Name, i, &mut rng)),
                5 => f.q = Some(sample.search_term(Search::Company, i, &mut rng)),
                6 => f.q = Some(sample.search_term(Search::Email, i, &mut rng)),
                7 => f.q = Some(sample.search_term(Search::Mobile, i, &mut rng)),
                _ => {}
            }
            let identity = if k == 8 {
                Some(Identifier::new(
                    IdentityKind::Email,
                    pick(&mut rng, &sample.emails),
                ))
            } else {
                None
            };
            let t = Instant::now();
            let n = match &identity {
                Some(id) => usize::from(store.contact_by_identity(org, id).await?.is_some()),
                None => store.list_contacts(org, &f).await?.0.len(),
            };
            let took = t.elapsed();
            if i >= 5 {
                times.push(took);
                rows += n;
            }
        }
        let p95 = print_latency_row(kind, &mut times, &[rows as f64 / iterations as f64]);
        worst_p95 = worst_p95.max(p95);
    }
    println!();
    println!(
        "list:     worst p95 {:.1} ms at {} contacts (target < 100 ms: {})",
        ms(worst_p95),
        thousands(total as u64),
        verdict(worst_p95)
    );
    let hwm = proc_kb("/proc/self/status", "VmHWM:").unwrap_or(0);
    println!("memory:   peak RSS {:.0} MiB (VmHWM)", mib(hwm));
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_database_on_the_same_server_keeps_credentials_and_parameters() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "b2").unwrap(),
            "postgres://u:p@h/b2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b3").unwrap(),
            "postgres://h:5432/b3"
        );
        assert!(with_database("nonsense", "x").is_err());
    }

    #[test]
    fn histogram_quantiles_name_the_bucket_holding_them() {
        let text = "h_bucket{le=\"0.5\"} 90\nh_bucket{le=\"1\"} 99\nh_bucket{le=\"+Inf\"} 100\nh_count 100\n";
        assert_eq!(histogram_quantile(text, "h", 0.5).as_deref(), Some("0.5"));
        assert_eq!(histogram_quantile(text, "h", 0.9).as_deref(), Some("0.5"));
        assert_eq!(histogram_quantile(text, "h", 0.99).as_deref(), Some("1"));
        assert_eq!(
            histogram_quantile(text, "h", 0.999).as_deref(),
            Some("+Inf")
        );
        assert_eq!(
            histogram_quantile("h_bucket{le=\"+Inf\"} 0\n", "h", 0.5),
            None
        );
        assert_eq!(histogram_quantile(text, "other", 0.5), None);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.95), Duration::from_millis(95));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn traffic_is_deterministic_and_mostly_returning_people() {
        let run = || {
            let mut t = Traffic::new(5, 200, 1_790_000_000_000);
            (0..2_000).map(|_| t.message()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let identify = a.iter().filter(|(m, _)| m["type"] == "identify").count();
        let new_visitors = a.iter().filter(|(_, c)| *c < 0).count();
        assert!((150..250).contains(&identify), "{identify}");
        assert!((60..140).contains(&new_visitors), "{new_visitors}");
        let ids: std::collections::HashSet<_> = a
            .iter()
            .map(|(m, _)| m["messageId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), a.len());
    }
}
