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
        let mode = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut c)
            .await
            .map_err(in_use)?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(in_use_error());
        }
        sqlx::query(&format!("PRAGMA page_size = {SQLITE_PAGE_SIZE}"))
            .execute(&mut c)
            .await?;
        let vacuumed = sqlx::query("VACUUM").execute(&mut c).await.map_err(in_use);
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

async fn pragma(c: &mut SqliteConnection, name: &str) -> Result<u32> {
    Ok(sqlx::query_scalar::<_, i64>(&format!("PRAGMA {name}"))
        .fetch_one(c)
        .await? as u32)
}

fn in_use_error() -> StoreError {
    StoreError::Conflict(
        "the database is in use: stop `hatchery serve` and any other process using it, then run this again".into(),
    )
}

/// A busy or locked database (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes) means
/// another process holds it.
fn in_use(e: sqlx::Error) -> StoreError {
    let busy = matches!(&e, sqlx::Error::Database(d)
        if d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6)));
    if busy {
        in_use_error()
    } else {
        StoreError::Database(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};
    use sqlx::sqlite::SqliteJournalMode;

    /// A database with 4 KiB pages, as Hatchery created them before, with an organisation and a
    /// tracking source in it.
    async fn old_database(dir: &std::path::Path) -> (String, String) {
        let url = format!("sqlite://{}", dir.join("old.db").display());
        let co = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(SqliteJournalMode::Wal);
        SqliteConnection::connect_with(&co)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        let org = store.create_org("Acme", 1).await.unwrap().id;
        let (_, key) = store.create_source(org, "Web", "website", 1).await.unwrap();
        store.close().await;
        (url, key)
    }

    #[tokio::test]
    async fn rebuilding_moves_an_old_database_to_the_current_page_size_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let (url, key) = old_database(dir.path()).await;
        let r = rebuild_sqlite(&url).await.unwrap();
        assert_eq!(r.page_size_before, 4096);
        assert_eq!(r.page_size_after, SQLITE_PAGE_SIZE);
        assert!(r.bytes_before > 0 && r.bytes_after > 0);

        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        let source = store.source_by_write_key(&key, 2).await.unwrap();
        assert_eq!(
            source.map(|s| s.name),
            Some("Web".to_owned()),
            "the data survived"
        );
        let crate::backend::Backend::Sqlite(pool) = store.backend() else {
            unreachable!()
        };
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        store.close().await;
        // Again: nothing left to change, and still fine.
        let again = rebuild_sqlite(&url).await.unwrap();
        assert_eq!(again.page_size_before, SQLITE_PAGE_SIZE);
    }

    #[tokio::test]
    async fn a_database_in_use_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (url, key) = old_database(dir.path()).await;
        let running = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        // The running server has read from it, so its connections hold the WAL open.
        running.source_by_write_key(&key, 2).await.unwrap();
        let e = rebuild_sqlite(&url).await.unwrap_err();
        assert!(
            e.to_string().contains("the database is in use"),
            "unexpected error: {e}"
        );
        let crate::backend::Backend::Sqlite(pool) = running.backend() else {
            unreachable!()
        };
        let page: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(page, 4096, "unchanged");
        assert!(running
            .source_by_write_key(&key, 2)
            .await
            .unwrap()
            .is_some());
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
