//! Offline maintenance of the embedded SQLite database: rebuilding the file, which reclaims the
//! space of deleted rows and moves a database created before Hatchery chose 8 KiB pages to
//! [`SQLITE_PAGE_SIZE`]. SQLite changes a database's page size only by rebuilding it (`VACUUM`),
//! and only outside WAL mode, so nothing else may have the database open meanwhile.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::backend::SQLITE_PAGE_SIZE;
use crate::error::{Result, StoreError};

/// What [`rebuild_sqlite`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub page_size_before: u32,
    pub page_size_after: u32,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Rebuilds the SQLite database at `url` (`sqlite://…`) with [`SQLITE_PAGE_SIZE`] pages. Needs the
/// database to itself — stop `hatchery serve` and any other process using it first — and free disk
/// space of about twice the file's size while it runs. A failure leaves the database as it was.
pub async fn rebuild_sqlite(url: &str) -> Result<Rebuilt> {
    if !url.starts_with("sqlite:") {
        return Err(StoreError::BadUrl(
            "rebuilding applies to the embedded SQLite database; PostgreSQL reclaims space itself (autovacuum)".into(),
        ));
    }
    let co = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl(e.to_string()))?
        .create_if_missing(false)
        // Whoever else holds the database holds it for longer than this.
        .busy_timeout(Duration::from_secs(2))
        .disable_statement_logging();
    let path = co.get_filename().to_path_buf();
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let file_bytes = || size(&path) + size(&wal);
    if !path.exists() {
        return Err(StoreError::NotFound("database file"));
    }
    let bytes_before = file_bytes();
    let mut c = SqliteConnection::connect_with(&co).await?;
    let result = async {
        let page_size_before = pragma(&mut c, "page_size").await?;
        // Leaving WAL mode needs every other connection closed: this is the check that nobody
        // else uses the database. Hatchery's processes keep theirs open while they run.
        let mode = when_free(&mut c, "PRAGMA journal_mode = DELETE")
            .await?
            .unwrap_or_default();
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(in_use_error("it stays in WAL mode"));
        }
        sqlx::query(&format!("PRAGMA page_size = {SQLITE_PAGE_SIZE}"))
            .execute(&mut c)
            .await?;
        let vacuumed = when_free(&mut c, "VACUUM").await;
        // Back to WAL whatever happened: the server expects it (and sets it again on start).
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut c)
            .await?;
        vacuumed?;
        let page_size_after = pragma(&mut c, "page_size").await?;
        Ok((page_size_before, page_size_after))
    }
    .await;
    c.close().await?;
    let (page_size_before, page_size_after) = result?;
    Ok(Rebuilt {
        page_size_before,
        page_size_after,
        bytes_before,
        bytes_after: file_bytes(),
    })
}

/// Runs `sql` (returning its first row's first column as text, if any), retrying for two seconds
/// while the database is busy: SQLite answers a change of journal mode at once rather than through
/// the busy timeout, and a process that is just closing its connections (a server stopping, or a
/// store closed a moment ago in this process) gets the time to finish.
async fn when_free(c: &mut SqliteConnection, sql: &str) -> Result<Option<String>> {
    let mut attempts = 0;
    loop {
        match sqlx::query(sql)
            .fetch_optional(&mut *c)
            .await
            .map_err(in_use)
        {
            Err(StoreError::Conflict(_)) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
            Ok(row) => return Ok(row.and_then(|r| sqlx::Row::try_get::<String, _>(&r, 0).ok())),
        }
    }
}

async fn pragma(c: &mut SqliteConnection, name: &str) -> Result<u32> {
    Ok(sqlx::query_scalar::<_, i64>(&format!("PRAGMA {name}"))
        .fetch_one(c)
        .await? as u32)
}

fn in_use_error(why: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the database is in use ({why}): stop `hatchery serve` and any other process using it, then run this again"
    ))
}

/// A busy or locked database (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes) means
/// another process holds it.
fn in_use(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d)
            if d.code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
        {
            in_use_error(d.message())
        }
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};
    use sqlx::sqlite::SqliteJournalMode;

    /// A database with 4 KiB pages, as Hatchery created them before, in WAL mode with rows in it.
    /// Made with one plain connection, not a [`Store`]: sqlx's `Pool::close` may return while a
    /// connection is still open (its issue #3217), which would make the rebuild right after it
    /// (rightly) find the database in use.
    async fn old_database(dir: &std::path::Path) -> String {
        let url = format!("sqlite://{}", dir.join("old.db").display());
        let co = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(SqliteJournalMode::Wal);
        let mut c = SqliteConnection::connect_with(&co).await.unwrap();
        sqlx::query("CREATE TABLE made_earlier (n INTEGER PRIMARY KEY, label TEXT NOT NULL)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(
            "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 5000) \
             INSERT INTO made_earlier SELECT n, printf('row %d', n) FROM k",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        url
    }

    async fn read(url: &str, sql: &str) -> String {
        let mut c = SqliteConnection::connect_with(&SqliteConnectOptions::from_str(url).unwrap())
            .await
            .unwrap();
        let v: String = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
        c.close().await.unwrap();
        v
    }

    #[tokio::test]
    async fn rebuilding_moves_an_old_database_to_the_current_page_size_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let url = old_database(dir.path()).await;
        let r = rebuild_sqlite(&url).await.unwrap();
        assert_eq!(r.page_size_before, 4096);
        assert_eq!(r.page_size_after, SQLITE_PAGE_SIZE);
        assert!(r.bytes_before > 0 && r.bytes_after > 0);
        assert_eq!(
            read(
                &url,
                "SELECT count(*) || ' ' || max(label) FROM made_earlier"
            )
            .await,
            "5000 row 999",
            "the data survived"
        );
        assert_eq!(
            read(&url, "SELECT journal_mode FROM pragma_journal_mode").await,
            "wal"
        );
        // Again: nothing left to change, and still fine.
        let again = rebuild_sqlite(&url).await.unwrap();
        assert_eq!(again.page_size_before, SQLITE_PAGE_SIZE);
        assert_eq!(again.page_size_after, SQLITE_PAGE_SIZE);
    }

    #[tokio::test]
    async fn a_database_in_use_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let url = old_database(dir.path()).await;
        let running = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        // A running server: its connections hold the database open in WAL mode.
        running.list_orgs().await.unwrap();
        let e = rebuild_sqlite(&url).await.unwrap_err();
        assert!(
            e.to_string().contains("the database is in use"),
            "unexpected error: {e}"
        );
        let crate::backend::Backend::Sqlite(pool) = running.backend() else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let (page, rows): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT page_size FROM pragma_page_size), (SELECT count(*) FROM made_earlier)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!((page, rows), (4096, 5000), "left as it was");
        running.close().await;
    }

    #[tokio::test]
    async fn only_an_existing_sqlite_database_can_be_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let missing = format!("sqlite://{}", dir.path().join("none.db").display());
        assert!(matches!(
            rebuild_sqlite(&missing).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(!dir.path().join("none.db").exists(), "nothing was created");
        assert!(matches!(
            rebuild_sqlite("postgres://postgres@127.0.0.1/x").await,
            Err(StoreError::BadUrl(_))
        ));
    }
}
