//! Accounts: the companies contacts work for (B2B buying groups).

use hatchery_domain::ids::AccountId;
use hatchery_domain::OrgId;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::{bind_args, with_pool, Arg};
use crate::contacts::VisibleTo;
use crate::error::{Result, StoreError};
use crate::ingest::search_key;
use crate::{Millis, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    #[schema(value_type = String, example = "acc_7")]
    pub id: AccountId,
    /// The `groupId` of tracking `group` calls, when known.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    #[schema(value_type = Object)]
    pub traits: Map<String, Value>,
    /// Live contacts of the account.
    pub contacts: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

type AccountRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
);

const ACCOUNT_SELECT: &str = "SELECT a.id, a.external_id, a.name, a.domain, a.industry, a.company_size, a.province, a.city, \
     a.traits, a.created_at, a.updated_at, \
     (SELECT COUNT(*) FROM contacts c WHERE c.org_id = a.org_id AND c.account_id = a.id AND c.merged_into IS NULL) \
     FROM accounts a WHERE a.org_id = $1";

fn account_from(r: AccountRow) -> Account {
    Account {
        id: AccountId(r.0),
        external_id: r.1,
        name: r.2,
        domain: r.3,
        industry: r.4,
        company_size: r.5,
        province: r.6,
        city: r.7,
        traits: serde_json::from_str(&r.8).unwrap_or_default(),
        created_at: r.9,
        updated_at: r.10,
        contacts: r.11,
    }
}

impl Store {
    /// Accounts newest first, optionally by name prefix; one page and whether more follow.
    pub async fn list_accounts(
        &self,
        org: OrgId,
        q: Option<&str>,
        before: Option<AccountId>,
        limit: u32,
    ) -> Result<(Vec<Account>, bool)> {
        let limit = limit.clamp(1, 200);
        let q = q.map(search_key).unwrap_or_default();
        let sql = format!(
            "{ACCOUNT_SELECT} AND a.id < $2 AND ($3 = '' OR (a.name_key >= $3 AND a.name_key < $4)) ORDER BY a.id DESC LIMIT {}",
            limit + 1
        );
        let mut rows: Vec<AccountRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(&q)
            .bind(format!("{q}\u{10FFFF}"))
            .fetch_all(c)
            .await?);
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows.into_iter().map(account_from).collect(), more))
    }

    /// Accounts newest first for the console: by the beginning of the name or the domain, and for
    /// a user limited by the pool policy only accounts with a contact they may see (an account
    /// only they cannot see into would tell them nothing but that it exists).
    pub async fn list_visible_accounts(
        &self,
        org: OrgId,
        q: Option<&str>,
        before: Option<AccountId>,
        limit: u32,
        visible_to: Option<&VisibleTo>,
    ) -> Result<(Vec<Account>, bool)> {
        let limit = limit.clamp(1, 200);
        let key = q.map(search_key).unwrap_or_default();
        let domain = q.map(|q| q.trim().to_lowercase()).unwrap_or_default();
        let mut args = vec![
            Arg::Int(org.0),
            Arg::Int(before.map_or(i64::MAX, |b| b.0)),
            Arg::Text(key.clone()),
            Arg::Text(format!("{key}\u{10FFFF}")),
            Arg::Text(domain.clone()),
            Arg::Text(format!("{domain}\u{10FFFF}")),
        ];
        let mut sql = format!(
            "{ACCOUNT_SELECT} AND a.id < $2 AND ($3 = '' OR (a.name_key >= $3 AND a.name_key < $4) \
             OR (LOWER(a.domain) >= $5 AND LOWER(a.domain) < $6))"
        );
        if let Some(v) = visible_to {
            let (mut clause, extra) = v.clause_on("c.");
            for (i, arg) in extra.into_iter().enumerate() {
                args.push(arg);
                clause = clause.replace(&format!("${{{i}}}"), &format!("${}", args.len()));
            }
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM contacts c WHERE c.org_id = a.org_id AND c.account_id = a.id \
                 AND c.merged_into IS NULL AND {clause})"
            ));
        }
        sql.push_str(&format!(" ORDER BY a.id DESC LIMIT {}", limit + 1));
        let mut rows: Vec<AccountRow> = with_pool!(self, c => {
            bind_args!(sqlx::query_as::<_, AccountRow>(&sql), &args).fetch_all(c).await?
        });
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows.into_iter().map(account_from).collect(), more))
    }

    pub async fn get_account(&self, org: OrgId, id: AccountId) -> Result<Account> {
        let sql = format!("{ACCOUNT_SELECT} AND a.id = $2");
        let row: Option<AccountRow> = with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).bind(id.0).fetch_optional(c).await?);
        row.map(account_from).ok_or(StoreError::NotFound("account"))
    }
}
