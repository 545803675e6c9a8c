//! Import batches: their status and progress, their report and the rows they rejected.

use hatchery_domain::ids::ImportId;
use hatchery_domain::OrgId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::{with_pool, with_tx};
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Completed => "completed",
            ImportStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> ImportStatus {
        match s {
            "queued" => ImportStatus::Queued,
            "running" => ImportStatus::Running,
            "completed" => ImportStatus::Completed,
            _ => ImportStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Import {
    #[schema(value_type = String, example = "imp_1")]
    pub id: ImportId,
    pub file_name: String,
    pub status: ImportStatus,
    pub dry_run: bool,
    /// Column targets, in file order.
    #[schema(value_type = Vec<String>)]
    pub mapping: Vec<String>,
    /// The tag every imported contact receives.
    pub tag: Option<String>,
    pub total_rows: Option<i64>,
    pub processed_rows: i64,
    /// Counts: created, updated, merged, rejected, reachability (wechat, mobile, landline, email).
    #[schema(value_type = Object)]
    pub report: Value,
    pub error: Option<String>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The row as numbered in the file (the header is row 1).
    pub row: i64,
    pub code: String,
    pub reason: String,
    pub cells: Vec<String>,
}

type ImportRow = (
    i64,
    String,
    String,
    bool,
    String,
    Option<String>,
    Option<i64>,
    i64,
    String,
    Option<String>,
    i64,
    Option<i64>,
);

const IMPORT_SELECT: &str = "SELECT i.id, i.file_name, i.status, i.dry_run, i.mapping, t.name, i.total_rows, i.processed_rows, \
     i.report, i.error, i.created_at, i.finished_at FROM imports i LEFT JOIN tags t ON t.org_id = i.org_id AND t.id = i.tag_id \
     WHERE i.org_id = $1";

fn import_from(r: ImportRow) -> Result<Import> {
    Ok(Import {
        id: ImportId(r.0),
        file_name: r.1,
        status: ImportStatus::parse(&r.2),
        dry_run: r.3,
        mapping: serde_json::from_str(&r.4)?,
        tag: r.5,
        total_rows: r.6,
        processed_rows: r.7,
        report: serde_json::from_str(&r.8)?,
        error: r.9,
        created_at: r.10,
        finished_at: r.11,
    })
}

/// How often a process renews the leases of its imports.
pub const LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(15);
/// How old a lease may grow before its import counts as abandoned.
pub const LEASE_EXPIRY: std::time::Duration = std::time::Duration::from_secs(120);

/// Renews this process's import leases every [`LEASE_RENEWAL`] until the pool is closed.
pub(crate) fn renew_leases_in_background(store: Store) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LEASE_RENEWAL).await;
            if store.is_closed() {
                return;
            }
            if store
                .live_imports
                .lock()
                .expect("import lease set")
                .is_empty()
            {
                continue;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            if let Err(e) = store.renew_import_leases(now).await {
                if store.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "renewing import leases failed");
            }
        }
    });
}

impl Store {
    #[expect(
        clippy::too_many_arguments,
        reason = "one column per argument of the import row"
    )]
    pub async fn create_import(
        &self,
        org: OrgId,
        file_name: &str,
        dry_run: bool,
        mapping: &[String],
        tag_id: Option<i64>,
        total_rows: Option<i64>,
        now: Millis,
    ) -> Result<Import> {
        let id: i64 = with_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO imports (org_id, file_name, status, dry_run, mapping, tag_id, total_rows, created_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(org.0)
        .bind(file_name)
        .bind(dry_run)
        .bind(serde_json::to_string(mapping)?)
        .bind(tag_id)
        .bind(total_rows)
        .bind(now)
        .fetch_one(c)
        .await?);
        self.live_imports
            .lock()
            .expect("import lease set")
            .insert((org.0, id));
        self.get_import(org, ImportId(id)).await
    }

    pub async fn get_import(&self, org: OrgId, id: ImportId) -> Result<Import> {
        let sql = format!("{IMPORT_SELECT} AND i.id = $2");
        let row: Option<ImportRow> = with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).bind(id.0).fetch_optional(c).await?);
        import_from(row.ok_or(StoreError::NotFound("import"))?)
    }

    pub async fn list_imports(&self, org: OrgId, limit: u32) -> Result<Vec<Import>> {
        let sql = format!(
            "{IMPORT_SELECT} ORDER BY i.id DESC LIMIT {}",
            limit.clamp(1, 200)
        );
        let rows: Vec<ImportRow> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_all(c).await?);
        rows.into_iter().map(import_from).collect()
    }

    /// Records progress (and the running report) of an import.
    #[expect(
        clippy::too_many_arguments,
        reason = "one column per argument of the import row"
    )]
    pub async fn update_import(
        &self,
        org: OrgId,
        id: ImportId,
        status: ImportStatus,
        processed: i64,
        report: &Value,
        error: Option<&str>,
        finished_at: Option<Millis>,
    ) -> Result<()> {
        with_pool!(self, c => sqlx::query(
            "UPDATE imports SET status = $3, processed_rows = $4, report = $5, error = $6, finished_at = $7 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(status.as_str())
        .bind(processed)
        .bind(report.to_string())
        .bind(error)
        .bind(finished_at)
        .execute(c)
        .await?
        .rows_affected());
        if matches!(status, ImportStatus::Completed | ImportStatus::Failed) {
            self.live_imports
                .lock()
                .expect("import lease set")
                .remove(&(org.0, id.0));
        }
        Ok(())
    }

    /// Marks failed the imports left queued or running by a process that is gone: those whose lease
    /// (renewed every [`LEASE_RENEWAL`] by the process that owns them) is older than
    /// [`LEASE_EXPIRY`] at `now`. Imports of this process are never touched, and neither are those
    /// of another live process — a `hatchery import` running next to `hatchery serve`.
    pub async fn fail_interrupted_imports(&self, now: Millis) -> Result<u64> {
        let expired = now - i64::try_from(LEASE_EXPIRY.as_millis()).unwrap_or(i64::MAX);
        let stale: Vec<(i64, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT org_id, id FROM imports WHERE status IN ('queued', 'running') \
             AND COALESCE(heartbeat_at, created_at) < $1",
        )
        .bind(expired)
        .fetch_all(c)
        .await?);
        let own = self.live_imports.lock().expect("import lease set").clone();
        let mut failed = 0;
        for (org, id) in stale.into_iter().filter(|k| !own.contains(k)) {
            // The lease is checked again in the UPDATE: the owner may have renewed it meanwhile.
            failed += with_pool!(self, c => sqlx::query(
                "UPDATE imports SET status = 'failed', error = 'interrupted: the process running it stopped; \
                 run it again (rows already imported are matched, not duplicated)', finished_at = $1 \
                 WHERE org_id = $2 AND id = $3 AND status IN ('queued', 'running') \
                 AND COALESCE(heartbeat_at, created_at) < $4",
            )
            .bind(now)
            .bind(org)
            .bind(id)
            .bind(expired)
            .execute(c)
            .await?
            .rows_affected());
        }
        Ok(failed)
    }

    /// Marks failed, at `now`, the imports this process created and has not finished: a server
    /// stopping does so, so that nobody has to wait for their leases to run out.
    pub async fn fail_own_imports(&self, now: Millis) -> Result<u64> {
        let own: Vec<(i64, i64)> = self
            .live_imports
            .lock()
            .expect("import lease set")
            .drain()
            .collect();
        let mut failed = 0;
        for (org, id) in own {
            failed += with_pool!(self, c => sqlx::query(
                "UPDATE imports SET status = 'failed', error = 'interrupted: Hatchery stopped while the import ran; \
                 run it again (rows already imported are matched, not duplicated)', finished_at = $1 \
                 WHERE org_id = $2 AND id = $3 AND status IN ('queued', 'running')",
            )
            .bind(now)
            .bind(org)
            .bind(id)
            .execute(c)
            .await?
            .rows_affected());
        }
        Ok(failed)
    }

    /// Renews, at `now`, the leases of the imports this process created and has not finished.
    /// Runs every [`LEASE_RENEWAL`] in the background; public so tests can drive it.
    pub async fn renew_import_leases(&self, now: Millis) -> Result<()> {
        let own: Vec<(i64, i64)> = self
            .live_imports
            .lock()
            .expect("import lease set")
            .iter()
            .copied()
            .collect();
        for (org, id) in own {
            with_pool!(self, c => sqlx::query(
                "UPDATE imports SET heartbeat_at = $1 WHERE org_id = $2 AND id = $3 AND status IN ('queued', 'running')",
            )
            .bind(now)
            .bind(org)
            .bind(id)
            .execute(c)
            .await?
            .rows_affected());
        }
        Ok(())
    }

    pub async fn add_rejections(&self, org: OrgId, id: ImportId, rows: &[Rejection]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in rows.chunks(500) {
            with_tx!(&mut tx, c => {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO import_rejections (org_id, import_id, row_number, code, reason, cells) ");
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(org.0)
                        .push_bind(id.0)
                        .push_bind(r.row)
                        .push_bind(r.code.clone())
                        .push_bind(r.reason.clone())
                        .push_bind(serde_json::to_string(&r.cells).unwrap_or_default());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *c).await?;
            });
        }
        tx.commit().await
    }

    /// Rejected rows in file order, from `after_row` on.
    pub async fn list_rejections(
        &self,
        org: OrgId,
        id: ImportId,
        after_row: i64,
        limit: u32,
    ) -> Result<Vec<Rejection>> {
        let rows: Vec<(i64, String, String, String)> = with_pool!(self, c => sqlx::query_as(
            "SELECT row_number, code, reason, cells FROM import_rejections WHERE org_id = $1 AND import_id = $2 \
             AND row_number > $3 ORDER BY row_number LIMIT $4",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(after_row)
        .bind(i64::from(limit))
        .fetch_all(c)
        .await?);
        rows.into_iter()
            .map(|(row, code, reason, cells)| {
                Ok(Rejection {
                    row,
                    code,
                    reason,
                    cells: serde_json::from_str(&cells)?,
                })
            })
            .collect()
    }
}
