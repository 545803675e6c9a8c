use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{Result, StoreError};
use crate::ids::IdAllocator;

/// The database behind a [`Store`].
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Tuning that the configuration may set.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// SQLite only: fsync every commit (`FULL`, the default, so an acknowledged write survives power
    /// loss) or only at checkpoints (`NORMAL`, survives a crash of Hatchery but not of the machine).
    pub sqlite_fsync_every_commit: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            sqlite_fsync_every_commit: true,
        }
    }
}

/// The store: a connection pool plus the per-process pieces that make writes safe and fast.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// SQLite: the one connection write transactions ([`Store::begin`]) use, with a page cache large
    /// enough for a whole batch's dirty pages and the hot parts of the indexes it writes (see
    /// [`SQLITE_WRITER_CACHE_KIB`]). Readers keep the main pool and their smaller caches.
    sqlite_writer: Option<SqlitePool>,
    /// SQLite: the one connection that looks up identity holdings for writes resolved ahead of
    /// their transaction (see [`Store::holdings_snapshot`]). Those lookups walk large indexes; on
    /// the shared pool they would fill every reader's page cache in turn.
    pub(crate) sqlite_lookup: Option<SqlitePool>,
    /// SQLite allows one writer; taking this lock before a write transaction turns would-be
    /// `SQLITE_BUSY` failures into orderly waiting. PostgreSQL does not use it.
    write_lock: Arc<Mutex<()>>,
    pub(crate) contact_ids: Arc<IdAllocator>,
    /// PostgreSQL: rows written since statistics were last gathered, and in all (see
    /// [`Store::wrote_rows`]).
    unanalysed_rows: Arc<AtomicU64>,
    written_rows: Arc<AtomicU64>,
    /// Imports this process created and has not finished: their leases are renewed in the
    /// background (see [`Store::renew_import_leases`]).
    pub(crate) live_imports: Arc<std::sync::Mutex<std::collections::HashSet<(i64, i64)>>>,
    /// Wakes a worker waiting for jobs (see `jobs.rs`).
    pub(crate) jobs_waiting: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

/// An open write transaction on either backend.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _guard) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _guard) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// Runs `$body` with `$c` bound to the pool of whichever backend the store uses. The body is
/// compiled once per backend, so the same SQL text runs through each native driver.
macro_rules! with_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite($c) => $body,
            $crate::backend::Backend::Postgres($c) => $body,
        }
    };
}

/// Like [`with_pool!`] for an open transaction: `$c` is `&mut` the backend's connection.
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::backend::Tx::Sqlite(t, _) => {
                let $c = &mut **t;
                $body
            }
            $crate::backend::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// A value bound to a placeholder of SQL text built at run time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    Float(f64),
}

/// Binds every [`Arg`] in order to a query of either backend (inside [`with_pool!`] / [`with_tx!`]).
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::backend::Arg::Int(i) => q.bind(*i),
                $crate::backend::Arg::Text(t) => q.bind(t.clone()),
                $crate::backend::Arg::Float(f) => q.bind(*f),
            };
        }
        q
    }};
}

pub(crate) use {bind_args, with_pool, with_tx};

impl Store {
    /// Connects to `sqlite://…` or `postgres://…` and runs pending migrations.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Store> {
        let mut writer = None;
        let mut lookup = None;
        let backend = if url.starts_with("sqlite:") {
            let sync = if opts.sqlite_fsync_every_commit {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            };
            let co = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(e.to_string()))?
                .create_if_missing(true)
                .page_size(SQLITE_PAGE_SIZE)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .busy_timeout(Duration::from_secs(30))
                // 16 MiB of page cache per connection; the OS page cache is shared behind them.
                .pragma("cache_size", "-16384")
                .pragma("temp_store", "memory")
                // Checkpoints run in the background (see `checkpoint_in_background`), not on the
                // commit path of whichever write happens to cross the threshold; this large
                // threshold is only a safety net should that task fall behind.
                .pragma("wal_autocheckpoint", "65536");
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(2))
                // A local file cannot drop a connection the way a network can; pinging it before
                // every use cost the ingest writer a round trip per transaction.
                .test_before_acquire(false)
                .connect_with(co.clone())
                .await?;
            checkpoint_in_background(pool.clone());
            let single = || {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(0)
                    .test_before_acquire(false)
            };
            lookup = Some(single().connect_with(co.clone()).await?);
            writer = Some(
                single()
                    .connect_with(co.pragma("cache_size", format!("-{SQLITE_WRITER_CACHE_KIB}")))
                    .await?,
            );
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let co =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(co)
                .await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(
                "the URL must start with sqlite: or postgres:".into(),
            ));
        };
        let store = Store {
            backend,
            sqlite_writer: writer,
            sqlite_lookup: lookup,
            write_lock: Arc::new(Mutex::new(())),
            contact_ids: Arc::new(IdAllocator::new("contacts")),
            unanalysed_rows: Arc::default(),
            written_rows: Arc::default(),
            live_imports: Arc::default(),
            jobs_waiting: Arc::default(),
        };
        store.migrate().await?;
        crate::imports::renew_leases_in_background(store.clone());
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Backend::Postgres(p) => {
                sqlx::migrate!("migrations/postgres").run(p).await?;
                self.analyze().await?;
            }
        }
        Ok(())
    }

    /// Gathers planner statistics for the tables whose size changes fastest (PostgreSQL; SQLite's
    /// planner does without). Without statistics a young or freshly imported table is planned as
    /// if it were empty — every contact list and identity lookup became a scan of the whole table
    /// in the benchmarks — and a server whose autovacuum is off would never gather them.
    pub async fn analyze(&self) -> Result<()> {
        if let Backend::Postgres(p) = &self.backend {
            sqlx::query("ANALYZE contacts, identities, events, contact_tags, accounts")
                .execute(p)
                .await?;
            self.unanalysed_rows.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts rows a write added. On PostgreSQL, once they reach a fifth of all rows this process
    /// has written (at least 10,000, at most 1,000,000), statistics are gathered again in the
    /// background — what autovacuum's auto-analyze does, without depending on it being enabled.
    pub fn wrote_rows(&self, n: u64) {
        if !matches!(self.backend, Backend::Postgres(_)) || n == 0 {
            return;
        }
        let written = self.written_rows.fetch_add(n, Ordering::Relaxed) + n;
        let pending = self.unanalysed_rows.fetch_add(n, Ordering::Relaxed) + n;
        let threshold = (written / 5).clamp(10_000, 1_000_000);
        if pending >= threshold
            && self
                .unanalysed_rows
                .compare_exchange(pending, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let store = self.clone();
            tokio::spawn(async move {
                if let Err(e) = store.analyze().await {
                    tracing::warn!(error = %e, "gathering planner statistics failed");
                }
            });
        }
    }

    /// True once [`Store::close`] began: it closes SQLite's write connection first, and a task
    /// that finds it closed must stop quietly rather than report a failure.
    pub fn is_closed(&self) -> bool {
        self.sqlite_writer.as_ref().is_some_and(|w| w.is_closed())
            || match &self.backend {
                Backend::Sqlite(p) => p.is_closed(),
                Backend::Postgres(p) => p.is_closed(),
            }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Starts a write transaction (on SQLite, after taking the process's single-writer lock).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.backend {
            Backend::Sqlite(p) => {
                let guard = self.write_lock.clone().lock_owned().await;
                // IMMEDIATE takes the database's write lock now, so another process (a `hatchery
                // import` next to `hatchery serve`) cannot commit between this transaction's reads
                // and its writes.
                let p = self.sqlite_writer.as_ref().unwrap_or(p);
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, guard)
            }
            Backend::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// True when the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> bool {
        with_pool!(self, c => sqlx::query("SELECT 1").execute(c).await.is_ok())
    }

    /// Copies everything committed into the database file and empties the WAL (SQLite; a no-op on
    /// PostgreSQL). Benchmarks call it after their untimed setup so that the setup's writes are
    /// on disk before the timed part starts.
    pub async fn flush(&self) -> Result<()> {
        if let Backend::Sqlite(p) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        // Leave a small WAL behind: the next start does not have to replay a large one.
        let _ = self.flush().await;
        if let Some(w) = &self.sqlite_writer {
            w.close().await;
        }
        if let Some(l) = &self.sqlite_lookup {
            l.close().await;
        }
        with_pool!(self, c => c.close().await);
    }
}

/// The page cache of SQLite's write connection, in KiB (readers have 16 MiB each). A batch of
/// 5,000 import rows or tracking messages dirties pages all over the identity, name, company and
/// event indexes; with 16 MiB the cache spilled dirty pages into the WAL in the middle of the
/// transaction (and wrote some twice), and once the indexes outgrew it nearly every insert read
/// its leaf page back from the operating system. Filled only as the pool grows.
pub const SQLITE_WRITER_CACHE_KIB: u32 = 262_144;

/// The page size of a SQLite database Hatchery creates (one created earlier keeps its own: SQLite
/// changes it only by rebuilding the file). Ingest and import insert into several indexes at random
/// places, so each transaction rewrites most pages of those indexes whatever their size; with 8 KiB
/// pages there are half as many pages to find, balance, checksum and write into the WAL. Measured
/// on 1M rows (docs/BENCHMARKS.md): ingest +11 %, CSV import +20 % over 4 KiB; 16 KiB gained less.
pub const SQLITE_PAGE_SIZE: u32 = 8192;

/// How often the background task copies committed WAL pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] with a passive checkpoint, which
/// never blocks the writer or readers. Left to SQLite, a checkpoint runs inside the `COMMIT` of the
/// transaction that crosses `wal_autocheckpoint`, which made ingest commits wait for it. The task
/// ends when the pool is closed.
fn checkpoint_in_background(pool: SqlitePool) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_sqlite_database_gets_the_chosen_page_size_and_an_existing_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |store: &Store| {
            let Backend::Sqlite(pool) = store.backend() else {
                unreachable!("a sqlite: URL opens SQLite")
            };
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("PRAGMA page_size")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };

        let fresh = format!("sqlite://{}", dir.path().join("fresh.db").display());
        let store = Store::connect(&fresh, &StoreOptions::default())
            .await
            .unwrap();
        assert_eq!(page_size(&store).await, i64::from(SQLITE_PAGE_SIZE));
        store.close().await;

        // A database made earlier with 4 KiB pages (SQLite's default) opens and migrates as before.
        let old = dir.path().join("old.db");
        let co = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
            .unwrap()
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(SqliteJournalMode::Wal);
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&co)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE made_earlier (x INTEGER)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::Connection::close(c).await.unwrap();
        let store = Store::connect(
            &format!("sqlite://{}", old.display()),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(page_size(&store).await, 4096);
        store.close().await;
    }
}
