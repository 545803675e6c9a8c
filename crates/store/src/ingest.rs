//! The hot write path shared by tracking ingest and imports: look up who holds a batch of
//! identifiers, then write a whole resolved batch — new contacts, identities, merges, profile
//! updates, tags, account links and events — in one transaction (one group commit).
//!
//! New contacts arrive with temporary negative ids; the store swaps in real ids from the contact
//! sequence inside the transaction and returns the mapping.

use std::collections::HashMap;

use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId};
use serde_json::{Map, Value};

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::Result;
use crate::{Millis, Store};

/// Standard profile columns a write may set; `None` leaves the stored value alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileFields {
    pub name: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub landline: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// Custom fields, merged key by key into the stored JSON (null values are ignored).
    pub custom: Map<String, Value>,
}

impl ProfileFields {
    pub fn is_empty(&self) -> bool {
        *self == ProfileFields::default()
    }

    /// Later values win, field by field.
    pub fn absorb(&mut self, later: ProfileFields) {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(
            name,
            email,
            mobile,
            landline,
            company,
            title,
            department,
            industry,
            company_size,
            province,
            city
        );
        self.custom.extend(later.custom);
    }

    fn custom_json(&self) -> String {
        let m: Map<String, Value> = self
            .custom
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(m).to_string()
    }
}

/// Lower-cased form used for prefix search and sorting.
pub fn search_key(s: &str) -> String {
    s.trim().to_lowercase()
}

#[derive(Debug, Clone)]
pub struct NewContact {
    /// Temporary (negative) id, replaced by a real one on write.
    pub temp_id: ContactId,
    pub profile: ProfileFields,
    pub source: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub identifier: Identifier,
    pub contact: ContactId,
    /// Where the link came from: `src_3`, `imp_7:row:18`, `api`.
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct MergeOp {
    pub survivor: ContactId,
    pub merged: ContactId,
    pub linked_by: Vec<Identifier>,
    /// What caused it: `message:<id>`, `import:imp_7:row:18`, `api`.
    pub cause: String,
}

#[derive(Debug, Clone)]
pub struct ProfileUpdate {
    pub contact: ContactId,
    pub profile: ProfileFields,
}

/// A company named by a `group` call (by external id) or an import row (by name).
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub contact: ContactId,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub traits: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub contact: ContactId,
    pub message_id: String,
    pub kind: String,
    pub name: Option<String>,
    pub occurred_at: Millis,
    pub sent_at: Option<Millis>,
    pub received_at: Millis,
    pub source_id: Option<i64>,
    pub channel: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub properties: String,
    pub context: String,
}

/// One resolved batch. Merges are applied in order after contacts and identities are written;
/// everything after them (updates, tags, accounts, events) must already name surviving contacts.
#[derive(Debug, Clone, Default)]
pub struct IngestWrite {
    pub contacts: Vec<NewContact>,
    pub identities: Vec<NewIdentity>,
    pub merges: Vec<MergeOp>,
    pub updates: Vec<ProfileUpdate>,
    pub tags: Vec<(ContactId, i64)>,
    pub accounts: Vec<AccountLink>,
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, Default)]
pub struct IngestOutcome {
    /// Temporary id → real id of every contact created.
    pub created: HashMap<ContactId, ContactId>,
    /// Events stored (duplicates by message id are not counted).
    pub events_inserted: u64,
}

const CHUNK: usize = 500;

impl Store {
    /// Who holds these identifiers, plus every other identifier those holders have (the resolver
    /// needs a holder's full set to check limits). Merged-away contacts never hold identifiers.
    pub async fn load_holdings(
        &self,
        org: OrgId,
        ids: &[Identifier],
    ) -> Result<Vec<(Identifier, ContactId)>> {
        let mut by_kind: HashMap<IdentityKind, Vec<&str>> = HashMap::new();
        for i in ids {
            by_kind.entry(i.kind).or_default().push(&i.value);
        }
        let mut holders: Vec<i64> = Vec::new();
        for (kind, values) in by_kind {
            for chunk in values.chunks(CHUNK) {
                let rows: Vec<i64> = with_pool!(self, c => {
                    let mut qb = sqlx::QueryBuilder::new("SELECT contact_id FROM identities WHERE org_id = ");
                    qb.push_bind(org.0).push(" AND kind = ").push_bind(kind.as_str()).push(" AND value IN (");
                    let mut sep = qb.separated(", ");
                    for v in chunk {
                        sep.push_bind(*v);
                    }
                    qb.push(")");
                    qb.build_query_scalar().fetch_all(c).await?
                });
                holders.extend(rows);
            }
        }
        holders.sort_unstable();
        holders.dedup();
        let mut out = Vec::new();
        for chunk in holders.chunks(CHUNK) {
            let rows: Vec<(String, String, i64)> = with_pool!(self, c => {
                let mut qb = sqlx::QueryBuilder::new("SELECT kind, value, contact_id FROM identities WHERE org_id = ");
                qb.push_bind(org.0).push(" AND contact_id IN (");
                let mut sep = qb.separated(", ");
                for h in chunk {
                    sep.push_bind(*h);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(c).await?
            });
            for (kind, value, contact) in rows {
                if let Some(kind) = IdentityKind::parse(&kind) {
                    out.push((Identifier::new(kind, value), ContactId(contact)));
                }
            }
        }
        Ok(out)
    }

    /// Writes a resolved batch in one transaction. On error nothing is written.
    pub async fn write_ingest(
        &self,
        org: OrgId,
        mut w: IngestWrite,
        now: Millis,
    ) -> Result<IngestOutcome> {
        let mut tx = self.begin().await?;
        match self.write_ingest_in(&mut tx, org, &mut w, now).await {
            Ok(outcome) => {
                if let Err(e) = tx.commit().await {
                    self.contact_ids.forget_block().await;
                    return Err(e);
                }
                Ok(outcome)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                self.contact_ids.forget_block().await;
                Err(e)
            }
        }
    }

    async fn write_ingest_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        w: &mut IngestWrite,
        now: Millis,
    ) -> Result<IngestOutcome> {
        let mut outcome = IngestOutcome::default();
        if !w.contacts.is_empty() {
            let real = self.contact_ids.take(tx, w.contacts.len()).await?;
            for (c, id) in w.contacts.iter_mut().zip(real) {
                outcome.created.insert(c.temp_id, ContactId(id));
                c.temp_id = ContactId(id);
            }
            let map = |c: &mut ContactId| {
                if let Some(r) = outcome.created.get(c) {
                    *c = *r;
                }
            };
            w.identities.iter_mut().for_each(|i| map(&mut i.contact));
            for m in &mut w.merges {
                map(&mut m.survivor);
                map(&mut m.merged);
            }
            w.updates.iter_mut().for_each(|u| map(&mut u.contact));
            w.tags.iter_mut().for_each(|t| map(&mut t.0));
            w.accounts.iter_mut().for_each(|a| map(&mut a.contact));
            w.events.iter_mut().for_each(|e| map(&mut e.contact));
        }

        insert_contacts(tx, org, &w.contacts).await?;
        insert_identities(tx, org, &w.identities, now).await?;
        for m in &w.merges {
            apply_merge(tx, org, m, now).await?;
        }
        for u in &w.updates {
            update_profile(tx, org, u.contact, &u.profile, now).await?;
        }
        link_tags(tx, org, &w.tags, now).await?;
        for a in &w.accounts {
            link_account(tx, org, a, now).await?;
        }
        outcome.events_inserted = insert_events(tx, org, &w.events).await?;
        Ok(outcome)
    }
}

async fn insert_contacts(tx: &mut Tx, org: OrgId, contacts: &[NewContact]) -> Result<()> {
    for chunk in contacts.chunks(CHUNK) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO contacts (id, org_id, name, name_key, email, mobile, landline, company, company_key, \
                 title, department, industry, company_size, province, city, source, traits, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, n| {
                let p = &n.profile;
                b.push_bind(n.temp_id.0)
                    .push_bind(org.0)
                    .push_bind(p.name.clone())
                    .push_bind(p.name.as_deref().map(search_key))
                    .push_bind(p.email.clone())
                    .push_bind(p.mobile.clone())
                    .push_bind(p.landline.clone())
                    .push_bind(p.company.clone())
                    .push_bind(p.company.as_deref().map(search_key))
                    .push_bind(p.title.clone())
                    .push_bind(p.department.clone())
                    .push_bind(p.industry.clone())
                    .push_bind(p.company_size.clone())
                    .push_bind(p.province.clone())
                    .push_bind(p.city.clone())
                    .push_bind(n.source.clone())
                    .push_bind(p.custom_json())
                    .push_bind(n.created_at)
                    .push_bind(n.created_at);
            });
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

async fn insert_identities(
    tx: &mut Tx,
    org: OrgId,
    ids: &[NewIdentity],
    now: Millis,
) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO identities (org_id, kind, value, contact_id, origin, created_at) ");
            qb.push_values(chunk, |mut b, i| {
                b.push_bind(org.0)
                    .push_bind(i.identifier.kind.as_str())
                    .push_bind(i.identifier.value.clone())
                    .push_bind(i.contact.0)
                    .push_bind(i.origin.clone())
                    .push_bind(now);
            });
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// The SQL expression that merges JSON object `$b` over `$a` (keys of `b` win).
fn json_merge(tx: &Tx, a: &str, b: &str) -> String {
    if tx.is_postgres() {
        format!("(({a})::jsonb || ({b})::jsonb)::text")
    } else {
        format!("json_patch({a}, {b})")
    }
}

type StoredProfile = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
    i64,
    Option<String>,
);

async fn apply_merge(tx: &mut Tx, org: OrgId, m: &MergeOp, now: Millis) -> Result<()> {
    let (s, d, o) = (m.survivor.0, m.merged.0, org.0);
    let merged: Option<StoredProfile> = with_tx!(tx, c => sqlx::query_as(
        "SELECT name, email, mobile, landline, company, title, department, industry, company_size, province, city, \
         account_id, traits, created_at, source FROM contacts WHERE org_id = $1 AND id = $2",
    )
    .bind(o)
    .bind(d)
    .fetch_optional(&mut *c)
    .await?);
    let Some(p) = merged else { return Ok(()) };
    // The survivor keeps its own values and fills gaps from the merged profile.
    let fill = format!(
        "UPDATE contacts SET name = COALESCE(name, $3), name_key = COALESCE(name_key, $4), email = COALESCE(email, $5), \
         mobile = COALESCE(mobile, $6), landline = COALESCE(landline, $7), company = COALESCE(company, $8), \
         company_key = COALESCE(company_key, $9), title = COALESCE(title, $10), department = COALESCE(department, $11), \
         industry = COALESCE(industry, $12), company_size = COALESCE(company_size, $13), province = COALESCE(province, $14), \
         city = COALESCE(city, $15), account_id = COALESCE(account_id, $16), traits = {}, \
         created_at = CASE WHEN created_at < $17 THEN created_at ELSE $17 END, source = COALESCE(source, $18), \
         updated_at = $19 WHERE org_id = $1 AND id = $2",
        json_merge(tx, "$20", "traits")
    );
    with_tx!(tx, c => {
        sqlx::query(&fill)
            .bind(o).bind(s)
            .bind(p.0.clone()).bind(p.0.as_deref().map(search_key))
            .bind(p.1).bind(p.2).bind(p.3)
            .bind(p.4.clone()).bind(p.4.as_deref().map(search_key))
            .bind(p.5).bind(p.6).bind(p.7).bind(p.8).bind(p.9).bind(p.10).bind(p.11)
            .bind(p.13).bind(p.14).bind(now).bind(p.12)
            .execute(&mut *c).await?;
        for sql in [
            "UPDATE identities SET contact_id = $1 WHERE org_id = $2 AND contact_id = $3",
            "UPDATE events SET contact_id = $1 WHERE org_id = $2 AND contact_id = $3",
            "INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) \
             SELECT org_id, $1, tag_id, created_at FROM contact_tags WHERE org_id = $2 AND contact_id = $3 \
             ON CONFLICT DO NOTHING",
            "DELETE FROM contact_tags WHERE org_id = $2 AND contact_id = $3 AND $1 <> 0",
            // Earlier tombstones pointing at the merged contact now point at the survivor, so any old
            // id resolves in one step.
            "UPDATE contacts SET merged_into = $1 WHERE org_id = $2 AND merged_into = $3",
            "UPDATE contacts SET merged_into = $1, account_id = NULL WHERE org_id = $2 AND id = $3",
        ] {
            sqlx::query(sql).bind(s).bind(o).bind(d).execute(&mut *c).await?;
        }
        sqlx::query(
            "INSERT INTO merges (org_id, survivor_id, merged_id, linked_by, cause, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(o)
        .bind(s)
        .bind(d)
        .bind(serde_json::to_string(&m.linked_by)?)
        .bind(&m.cause)
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

async fn update_profile(
    tx: &mut Tx,
    org: OrgId,
    contact: ContactId,
    p: &ProfileFields,
    now: Millis,
) -> Result<()> {
    let sql = format!(
        "UPDATE contacts SET name = COALESCE($3, name), name_key = COALESCE($4, name_key), email = COALESCE($5, email), \
         mobile = COALESCE($6, mobile), landline = COALESCE($7, landline), company = COALESCE($8, company), \
         company_key = COALESCE($9, company_key), title = COALESCE($10, title), department = COALESCE($11, department), \
         industry = COALESCE($12, industry), company_size = COALESCE($13, company_size), province = COALESCE($14, province), \
         city = COALESCE($15, city), traits = {}, updated_at = $16 WHERE org_id = $1 AND id = $2",
        json_merge(tx, "traits", "$17")
    );
    with_tx!(tx, c => sqlx::query(&sql)
        .bind(org.0).bind(contact.0)
        .bind(p.name.clone()).bind(p.name.as_deref().map(search_key))
        .bind(p.email.clone()).bind(p.mobile.clone()).bind(p.landline.clone())
        .bind(p.company.clone()).bind(p.company.as_deref().map(search_key))
        .bind(p.title.clone()).bind(p.department.clone()).bind(p.industry.clone())
        .bind(p.company_size.clone()).bind(p.province.clone()).bind(p.city.clone())
        .bind(now).bind(p.custom_json())
        .execute(&mut *c).await?.rows_affected());
    Ok(())
}

async fn link_tags(tx: &mut Tx, org: OrgId, tags: &[(ContactId, i64)], now: Millis) -> Result<()> {
    for chunk in tags.chunks(CHUNK) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) ");
            qb.push_values(chunk, |mut b, (contact, tag)| {
                b.push_bind(org.0).push_bind(contact.0).push_bind(*tag).push_bind(now);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

fn trait_text(m: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match m.get(*k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

async fn link_account(tx: &mut Tx, org: OrgId, a: &AccountLink, now: Millis) -> Result<()> {
    let name = a
        .name
        .clone()
        .or_else(|| trait_text(&a.traits, &["name", "company"]));
    let name_key = name.as_deref().map(search_key);
    let industry = trait_text(&a.traits, &["industry"]);
    let size = trait_text(&a.traits, &["employees", "company_size", "size"]);
    let domain = trait_text(&a.traits, &["website", "domain"]);
    let province = trait_text(&a.traits, &["province", "state"]);
    let city = trait_text(&a.traits, &["city"]);
    let traits = Value::Object(a.traits.clone()).to_string();
    let existing: Option<i64> = match (&a.external_id, &name_key) {
        (Some(_), _) => None,
        (None, Some(k)) => with_tx!(tx, c => sqlx::query_scalar(
            "SELECT id FROM accounts WHERE org_id = $1 AND name_key = $2 ORDER BY id LIMIT 1",
        )
        .bind(org.0)
        .bind(k)
        .fetch_optional(&mut *c)
        .await?),
        (None, None) => return Ok(()),
    };
    let id = match existing {
        Some(id) => id,
        None => {
            // By external id (a `group` call) the account is upserted; by name (an import) it is
            // created only when no account of that name exists (checked above).
            let merge = json_merge(tx, "accounts.traits", "excluded.traits");
            let sql = format!(
                "INSERT INTO accounts (org_id, external_id, name, name_key, domain, industry, company_size, province, city, traits, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                 ON CONFLICT (org_id, external_id) DO UPDATE SET name = COALESCE(excluded.name, accounts.name), \
                 name_key = COALESCE(excluded.name_key, accounts.name_key), domain = COALESCE(excluded.domain, accounts.domain), \
                 industry = COALESCE(excluded.industry, accounts.industry), company_size = COALESCE(excluded.company_size, accounts.company_size), \
                 province = COALESCE(excluded.province, accounts.province), city = COALESCE(excluded.city, accounts.city), \
                 traits = {merge}, updated_at = excluded.updated_at RETURNING id"
            );
            with_tx!(tx, c => sqlx::query_scalar(&sql)
                .bind(org.0).bind(a.external_id.clone()).bind(name.clone()).bind(name_key).bind(domain).bind(industry)
                .bind(size).bind(province).bind(city).bind(traits).bind(now)
                .fetch_one(&mut *c).await?)
        }
    };
    with_tx!(tx, c => sqlx::query(
        "UPDATE contacts SET account_id = $1, company = COALESCE(company, $4), company_key = COALESCE(company_key, $5) \
         WHERE org_id = $2 AND id = $3",
    )
    .bind(id).bind(org.0).bind(a.contact.0).bind(name.clone()).bind(name.as_deref().map(search_key))
    .execute(&mut *c).await?.rows_affected());
    Ok(())
}

async fn insert_events(tx: &mut Tx, org: OrgId, events: &[NewEvent]) -> Result<u64> {
    let mut inserted = 0;
    for chunk in events.chunks(CHUNK) {
        inserted += with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO events (org_id, contact_id, message_id, kind, name, occurred_at, sent_at, received_at, \
                 source_id, channel, utm_source, utm_medium, utm_campaign, properties, context) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(org.0)
                    .push_bind(e.contact.0)
                    .push_bind(e.message_id.clone())
                    .push_bind(e.kind.clone())
                    .push_bind(e.name.clone())
                    .push_bind(e.occurred_at)
                    .push_bind(e.sent_at)
                    .push_bind(e.received_at)
                    .push_bind(e.source_id)
                    .push_bind(e.channel.clone())
                    .push_bind(e.utm_source.clone())
                    .push_bind(e.utm_medium.clone())
                    .push_bind(e.utm_campaign.clone())
                    .push_bind(e.properties.clone())
                    .push_bind(e.context.clone());
            });
            qb.push(" ON CONFLICT (org_id, message_id) DO NOTHING");
            qb.build().execute(&mut *c).await?.rows_affected()
        });
    }
    Ok(inserted)
}
