//! Organisations and their identity-resolution rules.

use hatchery_domain::{IdentityRules, OrgId};
use serde::Serialize;

use crate::backend::with_pool;
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organisation {
    #[schema(value_type = String, example = "org_1")]
    pub id: OrgId,
    pub name: String,
    pub created_at: Millis,
}

impl Store {
    pub async fn create_org(&self, name: &str, now: Millis) -> Result<Organisation> {
        let rules = serde_json::to_string(&IdentityRules::default())?;
        let id: i64 = with_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO organisations (name, identity_rules, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(&rules)
        .bind(now)
        .fetch_one(c)
        .await?);
        Ok(Organisation {
            id: OrgId(id),
            name: name.to_owned(),
            created_at: now,
        })
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organisation>> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT id, name, created_at FROM organisations ORDER BY id",
        )
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| Organisation {
                id: OrgId(id),
                name,
                created_at,
            })
            .collect())
    }

    pub async fn get_org(&self, org: OrgId) -> Result<Organisation> {
        self.list_orgs()
            .await?
            .into_iter()
            .find(|o| o.id == org)
            .ok_or(StoreError::NotFound("organisation"))
    }

    /// Renames the organisation (the name shows in the console; ids and keys do not change).
    pub async fn rename_org(&self, org: OrgId, name: &str) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("UPDATE organisations SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(org.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("organisation"));
        }
        Ok(())
    }

    /// The organisation's identity rules (validated when they were saved).
    pub async fn identity_rules(&self, org: OrgId) -> Result<IdentityRules> {
        let json: Option<String> = with_pool!(self, c => sqlx::query_scalar(
            "SELECT identity_rules FROM organisations WHERE id = $1",
        )
        .bind(org.0)
        .fetch_optional(c)
        .await?);
        let json = json.ok_or(StoreError::NotFound("organisation"))?;
        Ok(serde_json::from_str(&json)?)
    }

    /// Replaces the rules. Callers validate first; existing links are not undone, new events follow
    /// the new rules.
    pub async fn set_identity_rules(&self, org: OrgId, rules: &IdentityRules) -> Result<()> {
        let json = serde_json::to_string(rules)?;
        let n = with_pool!(self, c => sqlx::query("UPDATE organisations SET identity_rules = $1 WHERE id = $2")
            .bind(&json)
            .bind(org.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("organisation"));
        }
        Ok(())
    }
}
