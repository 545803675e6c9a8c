//! Custom field definitions. Values live in each contact's JSON traits; a definition gives the
//! field a label and a type that API edits are checked against.

use hatchery_domain::ids::FieldId;
use hatchery_domain::OrgId;
use serde::{Deserialize, Serialize};

use crate::backend::with_pool;
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    Date,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
        }
    }
    pub fn parse(s: &str) -> Option<FieldType> {
        [
            FieldType::Text,
            FieldType::Number,
            FieldType::Boolean,
            FieldType::Date,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomField {
    #[schema(value_type = String, example = "fld_1")]
    pub id: FieldId,
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub created_at: Millis,
}

impl Store {
    pub async fn create_field(
        &self,
        org: OrgId,
        key: &str,
        label: &str,
        ty: FieldType,
        now: Millis,
    ) -> Result<CustomField> {
        let id: Option<i64> = with_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO custom_fields (org_id, key, label, field_type, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, key) DO NOTHING RETURNING id",
        )
        .bind(org.0)
        .bind(key)
        .bind(label)
        .bind(ty.as_str())
        .bind(now)
        .fetch_optional(c)
        .await?);
        let id = id.ok_or_else(|| {
            StoreError::Conflict(format!("a custom field with key `{key}` already exists"))
        })?;
        Ok(CustomField {
            id: FieldId(id),
            key: key.to_owned(),
            label: label.to_owned(),
            field_type: ty,
            created_at: now,
        })
    }

    pub async fn list_fields(&self, org: OrgId) -> Result<Vec<CustomField>> {
        let rows: Vec<(i64, String, String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT id, key, label, field_type, created_at FROM custom_fields WHERE org_id = $1 ORDER BY key",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, key, label, ty, created_at)| CustomField {
                id: FieldId(id),
                key,
                label,
                field_type: FieldType::parse(&ty).unwrap_or(FieldType::Text),
                created_at,
            })
            .collect())
    }

    /// Removes the definition; values already stored on contacts stay (they are data, not schema).
    pub async fn delete_field(&self, org: OrgId, id: FieldId) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("DELETE FROM custom_fields WHERE org_id = $1 AND id = $2")
            .bind(org.0)
            .bind(id.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("custom field"));
        }
        Ok(())
    }
}
