//! `hatchery`: one binary for the whole product — server, migrations, administration, import,
//! demo data and benchmarks.

mod admin;
mod bench;
mod config;
mod demo;
mod import;
mod intake;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Ingest allocates and frees many small JSON values per message; glibc's allocator spent over a
/// quarter of the ingest benchmark's CPU time on them (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hatchery",
    version,
    about = "Hatchery — a self-hosted B2B private-traffic pool and marketing-automation platform"
)]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, tracking endpoints and workers (embedded SQLite unless configured otherwise).
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Rebuild the embedded SQLite database file (stop `hatchery serve` first): reclaims the space
    /// of deleted rows and moves a database created by an older Hatchery to 8 KiB pages.
    Compact,
    /// Administration without a browser: organisations, API keys, tracking sources.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Import a CRM/Excel export (CSV or XLSX, UTF-8 or GBK) into the pool.
    Import(import::ImportArgs),
    /// Tracking requests the intake log set aside because they could not be applied.
    Intake {
        #[command(subcommand)]
        command: intake::IntakeCommand,
    },
    /// Fill the instance with a realistic synthetic B2B dataset.
    Demo(demo::DemoArgs),
    /// Benchmarks that print figures (ingest, import, contact list).
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let cfg = config::Config::load(&cli.global)?;
    init_tracing(&cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(cfg, args).await,
            Command::Migrate => {
                let store = cfg.connect().await?;
                println!("migrations applied ({})", store.backend_name());
                Ok(())
            }
            Command::Compact => compact(&cfg).await,
            Command::Admin { command } => admin::run(cfg, command).await,
            Command::Import(args) => import::run(cfg, args).await,
            Command::Intake { command } => intake::run(&cfg, command),
            Command::Demo(args) => demo::run(cfg, args).await,
            Command::Bench(args) => bench::run(cfg, args).await,
        }
    })
}

async fn compact(cfg: &config::Config) -> Result<()> {
    // Only a SQLite URL is printed: a PostgreSQL one may carry a password.
    if cfg.database_url.starts_with("sqlite:") {
        println!(
            "rebuilding {} (about 15 s per GB on two cores) …",
            cfg.database_url
        );
    }
    let r = hatchery_store::maintenance::rebuild_sqlite(&cfg.database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot rebuild the database: {e}"))?;
    println!(
        "rebuilt: page size {} → {} bytes, file {:.1} MB → {:.1} MB",
        r.page_size_before,
        r.page_size_after,
        r.bytes_before as f64 / 1e6,
        r.bytes_after as f64 / 1e6
    );
    Ok(())
}

fn init_tracing(cfg: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HATCHERY_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
