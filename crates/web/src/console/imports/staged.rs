//! Files uploaded in the console, kept between the mapping page, the dry run and the run.
//!
//! A staged file lives in `<upload_dir>/console/` as `<token>.upload` beside `<token>.json` (its
//! organisation, display name and upload time). The token — 32 random letters and digits — is the
//! only way to reach the file, and every use checks it against the organisation. A real run consumes
//! the file (it is removed when the import ends); files nobody ran within a day are removed the next
//! time someone uploads.

use std::path::{Path, PathBuf};

use hatchery_domain::OrgId;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::super::session::random_token;

/// How long a staged file waits for its run.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;

#[derive(Serialize, Deserialize)]
struct Meta {
    org: i64,
    file_name: String,
    created_at: i64,
}

fn dir(upload_dir: &Path) -> PathBuf {
    upload_dir.join("console")
}

fn well_formed(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A file being received; removed when dropped before [`Incoming::keep`].
pub struct Incoming {
    token: String,
    dir: PathBuf,
    file: Option<tokio::fs::File>,
    pub size: u64,
    kept: bool,
}

impl Incoming {
    pub async fn create(upload_dir: &Path) -> std::io::Result<Incoming> {
        let dir = dir(upload_dir);
        tokio::fs::create_dir_all(&dir).await?;
        let token = random_token();
        let file = tokio::fs::File::create(dir.join(format!("{token}.upload"))).await?;
        Ok(Incoming {
            token,
            dir,
            file: Some(file),
            size: 0,
            kept: false,
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.size += data.len() as u64;
        match &mut self.file {
            Some(f) => f.write_all(data).await,
            None => Ok(()),
        }
    }

    /// Finishes the file and records whose it is.
    pub async fn keep(mut self, org: OrgId, file_name: &str, now: i64) -> std::io::Result<Staged> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
        }
        let meta = Meta {
            org: org.0,
            file_name: file_name.to_owned(),
            created_at: now,
        };
        let json = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        tokio::fs::write(self.dir.join(format!("{}.json", self.token)), json).await?;
        self.kept = true;
        Ok(Staged {
            token: self.token.clone(),
            file_name: file_name.to_owned(),
            dir: self.dir.clone(),
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.kept {
            remove(&self.dir.join(format!("{}.upload", self.token)));
        }
    }
}

/// A staged file of one organisation.
#[derive(Debug)]
pub struct Staged {
    pub token: String,
    pub file_name: String,
    dir: PathBuf,
}

impl Staged {
    /// The organisation's staged file of this token, or `None` (malformed token, no such file, or a
    /// file of another organisation).
    pub async fn find(upload_dir: &Path, org: OrgId, token: &str) -> Option<Staged> {
        if !well_formed(token) {
            return None;
        }
        let dir = dir(upload_dir);
        let json = tokio::fs::read(dir.join(format!("{token}.json")))
            .await
            .ok()?;
        let meta: Meta = serde_json::from_slice(&json).ok()?;
        let staged = Staged {
            token: token.to_owned(),
            file_name: meta.file_name,
            dir,
        };
        (meta.org == org.0 && tokio::fs::try_exists(staged.path()).await.unwrap_or(false))
            .then_some(staged)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.upload", self.token))
    }

    /// Hands the file to a run: it is removed when the returned guard is dropped.
    pub fn consume(self) -> Consumed {
        Consumed(self)
    }
}

/// A staged file a run is reading; removed, with its record, when dropped.
pub struct Consumed(Staged);

impl Drop for Consumed {
    fn drop(&mut self) {
        remove(&self.0.path());
        remove(&self.0.dir.join(format!("{}.json", self.0.token)));
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "could not remove a console upload");
        }
    }
}

/// Removes staged files older than [`KEEP_MS`].
pub async fn sweep(upload_dir: &Path, now: i64) {
    let dir = dir(upload_dir);
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(json) = tokio::fs::read(&path).await else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<Meta>(&json) else {
            continue;
        };
        if now - meta.created_at > KEEP_MS {
            remove(&path.with_extension("upload"));
            remove(&path);
        }
    }
}
