//! Configuration: defaults → TOML file → `HATCHERY_*` environment variables → command-line flags.
//! Secrets may come from files (`HATCHERY_DATABASE_URL_FILE`). Everything is checked at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hatchery_store::{Store, StoreOptions};
use serde::Deserialize;

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: `<data-dir>/hatchery.toml` when it exists.
    #[arg(long, global = true, env = "HATCHERY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded database and uploads live.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`. Default: SQLite in the data directory.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

/// The settings a TOML file may hold (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    max_connections: Option<u32>,
    sqlite_fsync_every_commit: Option<bool>,
    log_json: Option<bool>,
    evaluator_workers: Option<usize>,
    intake_log: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: SocketAddr,
    pub store: StoreOptions,
    pub log_json: bool,
    /// Evaluation workers keeping scores, stages, tiers and segments current.
    pub evaluator_workers: usize,
    /// Tracking requests are acknowledged once written to the intake log in the data directory,
    /// and applied to the pool behind (see docs/ingestion.md).
    pub intake_log: bool,
}

fn env(name: &str) -> Result<Option<String>> {
    if let Ok(v) = std::env::var(name) {
        return Ok(Some(v));
    }
    if let Ok(path) = std::env::var(format!("{name}_FILE")) {
        let v = std::fs::read_to_string(&path)
            .with_context(|| format!("{name}_FILE: cannot read {path}"))?;
        return Ok(Some(v.trim().to_owned()));
    }
    Ok(None)
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name}: expected true or false, got `{v}`"),
    }
}

impl Config {
    pub fn load(args: &GlobalArgs) -> Result<Config> {
        let env_dir = env("HATCHERY_DATA_DIR")?.map(PathBuf::from);
        let pre_dir = args
            .data_dir
            .clone()
            .or(env_dir.clone())
            .unwrap_or_else(|| PathBuf::from("hatchery-data"));
        let file_path = args
            .config
            .clone()
            .or_else(|| Some(pre_dir.join("hatchery.toml")).filter(|p| p.exists()));
        let file: FileConfig = match &file_path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read configuration file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("configuration file {} is invalid", p.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(env_dir)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("hatchery-data"));
        let database_url = match args
            .database_url
            .clone()
            .or(env("HATCHERY_DATABASE_URL")?)
            .or(file.database_url)
        {
            Some(u) => u,
            None => format!("sqlite://{}", data_dir.join("hatchery.db").display()),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            bail!("database URL must start with sqlite:// or postgres:// (HATCHERY_DATABASE_URL)");
        }
        let listen = env("HATCHERY_LISTEN")?
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("listen address `{listen}` is not host:port"))?;
        let mut store = StoreOptions::default();
        if let Some(n) = env("HATCHERY_MAX_CONNECTIONS")?
            .map(|v| v.parse::<u32>())
            .transpose()
            .context("HATCHERY_MAX_CONNECTIONS: not a number")?
            .or(file.max_connections)
        {
            if !(2..=200).contains(&n) {
                bail!("max_connections must be between 2 and 200");
            }
            store.max_connections = n;
        }
        if let Some(v) = env("HATCHERY_SQLITE_FSYNC_EVERY_COMMIT")? {
            store.sqlite_fsync_every_commit = parse_bool("HATCHERY_SQLITE_FSYNC_EVERY_COMMIT", &v)?;
        } else if let Some(v) = file.sqlite_fsync_every_commit {
            store.sqlite_fsync_every_commit = v;
        }
        let log_json = match env("HATCHERY_LOG_JSON")? {
            Some(v) => parse_bool("HATCHERY_LOG_JSON", &v)?,
            None => file.log_json.unwrap_or(false),
        };
        let evaluator_workers = match env("HATCHERY_EVALUATOR_WORKERS")? {
            Some(v) => v
                .parse::<usize>()
                .context("HATCHERY_EVALUATOR_WORKERS: not a number")?,
            None => file
                .evaluator_workers
                .unwrap_or(hatchery_engine::evaluator::WORKERS),
        };
        let max = hatchery_engine::evaluator::MAX_WORKERS;
        if !(1..=max).contains(&evaluator_workers) {
            bail!("evaluator_workers must be between 1 and {max}");
        }
        // On by default for the embedded SQLite, where it lets the pool be written in large
        // transactions (docs/ingestion.md); PostgreSQL takes group commits well without it.
        let intake_log = match env("HATCHERY_INTAKE_LOG")? {
            Some(v) => parse_bool("HATCHERY_INTAKE_LOG", &v)?,
            None => file
                .intake_log
                .unwrap_or(database_url.starts_with("sqlite:")),
        };
        Ok(Config {
            intake_log,
            data_dir,
            database_url,
            listen,
            store,
            log_json,
            evaluator_workers,
        })
    }

    /// Opens the database (creating the data directory for SQLite) and migrates it.
    pub async fn connect(&self) -> Result<Store> {
        if self.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir).with_context(|| {
                format!("cannot create data directory {}", self.data_dir.display())
            })?;
        }
        Store::connect(&self.database_url, &self.store)
            .await
            .context("cannot open the database")
    }

    pub fn upload_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    pub fn intake_dir(&self) -> PathBuf {
        self.data_dir.join("intake")
    }
}

/// The organisation commands act on: the one named, or the only/first one.
pub async fn org_or_default(store: &Store, org: Option<&str>) -> Result<hatchery_domain::OrgId> {
    if let Some(o) = org {
        let id: hatchery_domain::OrgId = o.parse().map_err(|e| anyhow::anyhow!("--org: {e}"))?;
        store
            .get_org(id)
            .await
            .with_context(|| format!("organisation {id} does not exist"))?;
        return Ok(id);
    }
    ensure_default_org(store).await
}

/// A fresh instance gets one organisation so it is usable at once.
pub async fn ensure_default_org(store: &Store) -> Result<hatchery_domain::OrgId> {
    let orgs = store.list_orgs().await?;
    match orgs.first() {
        Some(o) => Ok(o.id),
        None => Ok(store
            .create_org(
                "Default organisation",
                chrono::Utc::now().timestamp_millis(),
            )
            .await?
            .id),
    }
}
