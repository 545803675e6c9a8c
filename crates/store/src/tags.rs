//! Tags: named labels with an optional category (industry, role, need, value, stage …).

use hatchery_domain::tag_rules::TagRules;
use hatchery_domain::{ContactId, OrgId};
use serde::Serialize;
use serde_json::Value;

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::{Result, StoreError};
use crate::models::{save_model_in, ModelKind};
use crate::{Millis, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tag {
    /// Numeric tag id.
    pub id: i64,
    pub name: String,
    pub category: Option<String>,
    /// Contacts carrying the tag (only filled by listings).
    pub contacts: Option<i64>,
    pub created_at: Millis,
}

/// A contact's tag names, sorted by the caller: with `ORDER BY t.name` SQLite walked every tag of
/// the organisation by name and probed the contact's links for each (`crate::plans` checks).
pub(crate) const CONTACT_TAGS_SQL: &str =
    "SELECT t.name FROM contact_tags ct JOIN tags t ON t.org_id = ct.org_id AND t.id = ct.tag_id \
     WHERE ct.org_id = $1 AND ct.contact_id = $2";

impl Store {
    /// The tag with this name, created if missing.
    pub async fn ensure_tag(
        &self,
        org: OrgId,
        name: &str,
        category: Option<&str>,
        now: Millis,
    ) -> Result<Tag> {
        with_pool!(self, c => sqlx::query(
            "INSERT INTO tags (org_id, name, category, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, name) DO NOTHING",
        )
        .bind(org.0)
        .bind(name)
        .bind(category)
        .bind(now)
        .execute(c)
        .await?
        .rows_affected());
        self.tag_by_name(org, name)
            .await?
            .ok_or(StoreError::NotFound("tag"))
    }

    pub async fn tag_by_name(&self, org: OrgId, name: &str) -> Result<Option<Tag>> {
        let row: Option<(i64, String, Option<String>, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT id, name, category, created_at FROM tags WHERE org_id = $1 AND name = $2",
        )
        .bind(org.0)
        .bind(name)
        .fetch_optional(c)
        .await?);
        Ok(row.map(|(id, name, category, created_at)| Tag {
            id,
            name,
            category,
            contacts: None,
            created_at,
        }))
    }

    /// The organisation's tag names in order: what a filter menu needs, without the per-tag
    /// contact counts of [`Store::list_tags`] (a count reads every link of its tag, which on every
    /// contact-list page of a large pool costs more than the page itself).
    pub async fn tag_names(&self, org: OrgId) -> Result<Vec<String>> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT name FROM tags WHERE org_id = $1 ORDER BY name",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?))
    }

    pub async fn list_tags(&self, org: OrgId) -> Result<Vec<Tag>> {
        let rows: Vec<(i64, String, Option<String>, i64, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT t.id, t.name, t.category, t.created_at, \
             (SELECT COUNT(*) FROM contact_tags ct WHERE ct.org_id = t.org_id AND ct.tag_id = t.id) \
             FROM tags t WHERE t.org_id = $1 ORDER BY t.name",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, name, category, created_at, n)| Tag {
                id,
                name,
                category,
                contacts: Some(n),
                created_at,
            })
            .collect())
    }

    /// The organisation's tag rules and their version; `None`: none saved.
    pub async fn tag_rules(&self, org: OrgId) -> Result<Option<(TagRules, Value, i64)>> {
        let Some(m) = self.stored_model(ModelKind::TagRules, org).await? else {
            return Ok(None);
        };
        let rules = TagRules::parse(&m.json)
            .map_err(|e| StoreError::Conflict(format!("the stored tag rules are invalid: {e}")))?;
        Ok(Some((rules, m.json, m.version)))
    }

    /// Saves the rules (already checked) and re-evaluates every contact against them; removing
    /// all rules leaves the tags they set where they are. Returns the version.
    pub async fn set_tag_rules(&self, org: OrgId, rules: &TagRules, now: Millis) -> Result<i64> {
        let mut tx = self.begin().await?;
        let version =
            save_model_in(&mut tx, ModelKind::TagRules, org, &rules.to_json(), now).await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(version)
    }

    /// Puts a tag in a category (`None`: in none).
    pub async fn set_tag_category(
        &self,
        org: OrgId,
        id: i64,
        category: Option<&str>,
    ) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("UPDATE tags SET category = $3 WHERE org_id = $1 AND id = $2")
            .bind(org.0)
            .bind(id)
            .bind(category)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("tag"));
        }
        Ok(())
    }

    /// A contact's tags with their categories, by category then name.
    pub async fn contact_tags_by_category(
        &self,
        org: OrgId,
        contact: ContactId,
    ) -> Result<Vec<(Option<String>, String)>> {
        Ok(with_pool!(self, c => sqlx::query_as(
            "SELECT t.category, t.name FROM contact_tags ct JOIN tags t ON t.org_id = ct.org_id AND t.id = ct.tag_id \
             WHERE ct.org_id = $1 AND ct.contact_id = $2 ORDER BY t.category, t.name",
        )
        .bind(org.0)
        .bind(contact.0)
        .fetch_all(c)
        .await?))
    }

    pub async fn delete_tag(&self, org: OrgId, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::jobs::enqueue_selected_in(
            &mut tx,
            org,
            crate::jobs::JobKind::EvaluateContact,
            "SELECT DISTINCT contact_id AS subject FROM contact_tags WHERE org_id = $1 AND tag_id = $4",
            &[crate::backend::Arg::Int(id)],
            0,
        )
        .await?;
        let n = with_tx!(&mut tx, c => {
            sqlx::query("DELETE FROM contact_tags WHERE org_id = $1 AND tag_id = $2").bind(org.0).bind(id).execute(&mut *c).await?;
            sqlx::query("DELETE FROM tags WHERE org_id = $1 AND id = $2").bind(org.0).bind(id).execute(&mut *c).await?.rows_affected()
        });
        if n == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound("tag"));
        }
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(())
    }

    /// Adds or removes a tag on many contacts at once; returns how many links changed.
    pub async fn set_tag(
        &self,
        org: OrgId,
        tag: i64,
        contacts: &[ContactId],
        on: bool,
        now: Millis,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let mut changed = 0;
        for c_id in contacts {
            changed += with_tx!(&mut tx, c => {
                if on {
                    sqlx::query(
                        "INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) SELECT $1, $2, $3, $4 \
                         WHERE EXISTS (SELECT 1 FROM contacts WHERE org_id = $1 AND id = $2 AND merged_into IS NULL) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(org.0).bind(c_id.0).bind(tag).bind(now)
                    .execute(&mut *c).await?.rows_affected()
                } else {
                    sqlx::query("DELETE FROM contact_tags WHERE org_id = $1 AND contact_id = $2 AND tag_id = $3")
                        .bind(org.0).bind(c_id.0).bind(tag)
                        .execute(&mut *c).await?.rows_affected()
                }
            });
        }
        if changed > 0 {
            let ids: Vec<i64> = contacts.iter().map(|c| c.0).collect();
            crate::jobs::enqueue_jobs_in(
                &mut tx,
                org,
                crate::jobs::JobKind::EvaluateContact,
                &ids,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(changed)
    }

    pub async fn contact_tags(&self, org: OrgId, contact: ContactId) -> Result<Vec<String>> {
        let mut names: Vec<String> = with_pool!(self, c => sqlx::query_scalar(
            CONTACT_TAGS_SQL,
        )
        .bind(org.0)
        .bind(contact.0)
        .fetch_all(c)
        .await?);
        names.sort_unstable();
        Ok(names)
    }
}

/// Applies the tag rules' decisions inside `tx`: `(contact, tags to add, tags to take off)`; a
/// rule's tag is created (with the rule's category) the first time it is used.
pub(crate) async fn apply_rule_tags_in(
    tx: &mut Tx,
    org: OrgId,
    rules: &TagRules,
    changes: &[(ContactId, Vec<String>, Vec<String>)],
    now: Millis,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut ids = std::collections::HashMap::new();
    for r in &rules.rules {
        let used = changes
            .iter()
            .any(|(_, a, d)| a.contains(&r.tag) || d.contains(&r.tag));
        if !used {
            continue;
        }
        let id: i64 = with_tx!(&mut *tx, c => {
            sqlx::query(
                "INSERT INTO tags (org_id, name, category, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, name) DO NOTHING",
            )
            .bind(org.0)
            .bind(&r.tag)
            .bind(&r.category)
            .bind(now)
            .execute(&mut *c)
            .await?;
            sqlx::query_scalar("SELECT id FROM tags WHERE org_id = $1 AND name = $2")
                .bind(org.0)
                .bind(&r.tag)
                .fetch_one(&mut *c)
                .await?
        });
        ids.insert(r.tag.clone(), id);
    }
    for (contact, add, remove) in changes {
        for (tags, on) in [(add, true), (remove, false)] {
            for t in tags {
                let Some(tag) = ids.get(t) else { continue };
                with_tx!(&mut *tx, c => if on {
                    sqlx::query(
                        "INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(org.0).bind(contact.0).bind(*tag).bind(now)
                    .execute(&mut *c).await?.rows_affected()
                } else {
                    sqlx::query("DELETE FROM contact_tags WHERE org_id = $1 AND contact_id = $2 AND tag_id = $3")
                        .bind(org.0).bind(contact.0).bind(*tag)
                        .execute(&mut *c).await?.rows_affected()
                });
            }
        }
    }
    Ok(())
}
