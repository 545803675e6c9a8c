//! Secrets that let clients in: tracking sources (write keys) and API keys with scopes.
//!
//! A key is shown once, at creation; only its SHA-256 is stored. Keys are long random strings, so a
//! fast hash is the right tool (a password hash would only slow down every request). The
//! organisation id is part of the key (`hwk_1_…`), so a lookup stays inside one organisation.

use hatchery_domain::ids::{ApiKeyId, SourceId};
use hatchery_domain::OrgId;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::with_pool;
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

/// What an API key may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[serde(rename = "contacts:read")]
    ContactsRead,
    #[serde(rename = "contacts:write")]
    ContactsWrite,
    #[serde(rename = "imports:write")]
    ImportsWrite,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::ImportsWrite,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::ImportsWrite => "imports:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    #[schema(value_type = String, example = "key_1")]
    pub id: ApiKeyId,
    #[schema(value_type = String, example = "org_1")]
    pub org_id: OrgId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The first characters of the key, to recognise it in a list.
    pub prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl ApiKey {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Source {
    #[schema(value_type = String, example = "src_1")]
    pub id: SourceId,
    #[schema(value_type = String, example = "org_1")]
    pub org_id: OrgId,
    pub name: String,
    /// What sends through it: `website`, `app`, `server`, `wechat`, `crm` …
    pub kind: String,
    pub prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub disabled_at: Option<Millis>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret(kind: &str, org: OrgId) -> String {
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("{kind}_{}_{random}", org.0)
}

/// The organisation a key string claims to belong to (it is verified against the hash afterwards).
fn org_of(secret: &str, kind: &str) -> Option<OrgId> {
    let rest = secret.strip_prefix(kind)?.strip_prefix('_')?;
    let (org, _) = rest.split_once('_')?;
    org.parse::<i64>().ok().filter(|n| *n > 0).map(OrgId)
}

type KeyRow = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn api_key_from(r: KeyRow) -> Result<ApiKey> {
    let scopes: Vec<String> = serde_json::from_str(&r.3)?;
    Ok(ApiKey {
        id: ApiKeyId(r.0),
        org_id: OrgId(r.1),
        name: r.2,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        prefix: r.4,
        created_at: r.5,
        last_used_at: r.6,
        revoked_at: r.7,
    })
}

fn source_from(r: KeyRow) -> Source {
    Source {
        id: SourceId(r.0),
        org_id: OrgId(r.1),
        name: r.2,
        kind: r.3,
        prefix: r.4,
        created_at: r.5,
        last_used_at: r.6,
        disabled_at: r.7,
    }
}

const KEY_COLUMNS: &str =
    "id, org_id, name, scopes, key_prefix, created_at, last_used_at, revoked_at";
const SOURCE_COLUMNS: &str =
    "id, org_id, name, kind, key_prefix, created_at, last_used_at, disabled_at";

impl Store {
    /// Creates an API key; returns it with the secret, which is never retrievable again.
    pub async fn create_api_key(
        &self,
        org: OrgId,
        name: &str,
        scopes: &[Scope],
        now: Millis,
    ) -> Result<(ApiKey, String)> {
        let secret = new_secret("hk", org);
        let prefix: String = secret.chars().take(12).collect();
        let scope_json =
            serde_json::to_string(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())?;
        let sql = format!(
            "INSERT INTO api_keys (org_id, name, scopes, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
        );
        let row: KeyRow = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(name)
            .bind(&scope_json)
            .bind(hash(&secret))
            .bind(&prefix)
            .bind(now)
            .fetch_one(c)
            .await?);
        Ok((api_key_from(row)?, secret))
    }

    /// Finds the live API key for a presented secret and records its use.
    pub async fn authenticate_api_key(&self, secret: &str, now: Millis) -> Result<Option<ApiKey>> {
        let Some(org) = org_of(secret, "hk") else {
            return Ok(None);
        };
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND key_hash = $2 AND revoked_at IS NULL");
        let row: Option<KeyRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(hash(secret))
            .fetch_optional(c)
            .await?);
        let Some(row) = row else { return Ok(None) };
        let key = api_key_from(row)?;
        // Recording the use at most once a minute keeps reads from turning into writes.
        if key.last_used_at.is_none_or(|t| now - t > 60_000) {
            with_pool!(self, c => sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE org_id = $2 AND id = $3")
                .bind(now)
                .bind(org.0)
                .bind(key.id.0)
                .execute(c)
                .await?
                .rows_affected());
        }
        Ok(Some(key))
    }

    pub async fn list_api_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY id");
        let rows: Vec<KeyRow> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_all(c).await?);
        rows.into_iter().map(api_key_from).collect()
    }

    pub async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId, now: Millis) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(org.0)
        .bind(id.0)
        .execute(c)
        .await?
        .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("API key"));
        }
        Ok(())
    }

    /// Creates a tracking source; returns it with its write key (shown once).
    pub async fn create_source(
        &self,
        org: OrgId,
        name: &str,
        kind: &str,
        now: Millis,
    ) -> Result<(Source, String)> {
        let secret = new_secret("hwk", org);
        let prefix: String = secret.chars().take(12).collect();
        let sql = format!(
            "INSERT INTO sources (org_id, name, kind, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SOURCE_COLUMNS}"
        );
        let row: KeyRow = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(name)
            .bind(kind)
            .bind(hash(&secret))
            .bind(&prefix)
            .bind(now)
            .fetch_one(c)
            .await?);
        Ok((source_from(row), secret))
    }

    /// The enabled source a write key belongs to, recording its use (at most once a minute, as for
    /// API keys, so tracking traffic does not turn into writes).
    pub async fn source_by_write_key(&self, secret: &str, now: Millis) -> Result<Option<Source>> {
        let Some(org) = org_of(secret, "hwk") else {
            return Ok(None);
        };
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE org_id = $1 AND key_hash = $2 AND disabled_at IS NULL");
        let row: Option<KeyRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(hash(secret))
            .fetch_optional(c)
            .await?);
        let Some(source) = row.map(source_from) else {
            return Ok(None);
        };
        if source.last_used_at.is_none_or(|t| now - t > 60_000) {
            with_pool!(self, c => sqlx::query("UPDATE sources SET last_used_at = $1 WHERE org_id = $2 AND id = $3")
                .bind(now)
                .bind(org.0)
                .bind(source.id.0)
                .execute(c)
                .await?
                .rows_affected());
        }
        Ok(Some(source))
    }

    pub async fn list_sources(&self, org: OrgId) -> Result<Vec<Source>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE org_id = $1 ORDER BY id");
        let rows: Vec<KeyRow> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_all(c).await?);
        Ok(rows.into_iter().map(source_from).collect())
    }

    pub async fn disable_source(&self, org: OrgId, id: SourceId, now: Millis) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query(
            "UPDATE sources SET disabled_at = $1 WHERE org_id = $2 AND id = $3 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(org.0)
        .bind(id.0)
        .execute(c)
        .await?
        .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("source"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_organisation() {
        let k = new_secret("hk", OrgId(7));
        assert_eq!(org_of(&k, "hk"), Some(OrgId(7)));
        assert_eq!(org_of(&k, "hwk"), None);
        assert_eq!(org_of("hk_x_abc", "hk"), None);
    }
}
