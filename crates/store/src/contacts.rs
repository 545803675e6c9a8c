//! Reading and managing contacts: the list with filters and search, one contact with its
//! identities and merge history, profile edits and erasure.

use hatchery_domain::ids::{AccountId, BusinessUnitId, MergeId, UserId};
use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::{bind_args, with_pool, with_tx, Arg};
use crate::error::{Result, StoreError};
use crate::ingest::search_key;
use crate::{Millis, Store};

/// A contact as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contact {
    #[schema(value_type = String, example = "ct_42")]
    pub id: ContactId,
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
    /// The first-touch source (channel, campaign source or tracking source name).
    pub source: Option<String>,
    #[schema(value_type = Option<String>, example = "acc_7")]
    pub account_id: Option<AccountId>,
    /// Custom fields.
    #[schema(value_type = Object)]
    pub traits: Map<String, Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The lifecycle stage's key (`mql`), if the contact has one.
    pub stage: Option<String>,
    /// When the contact entered its stage.
    pub stage_at: Option<Millis>,
}

pub(crate) const CONTACT_COLUMNS: &str =
    "id, name, email, mobile, landline, company, title, department, industry, \
     company_size, province, city, source, account_id, traits, created_at, updated_at, stage, stage_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ContactRow {
    id: i64,
    name: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    landline: Option<String>,
    company: Option<String>,
    title: Option<String>,
    department: Option<String>,
    industry: Option<String>,
    company_size: Option<String>,
    province: Option<String>,
    city: Option<String>,
    source: Option<String>,
    account_id: Option<i64>,
    traits: String,
    created_at: i64,
    updated_at: i64,
    stage: Option<String>,
    stage_at: Option<i64>,
}

impl ContactRow {
    pub(crate) fn into_contact(self) -> Contact {
        Contact {
            id: ContactId(self.id),
            name: self.name,
            email: self.email,
            mobile: self.mobile,
            landline: self.landline,
            company: self.company,
            title: self.title,
            department: self.department,
            industry: self.industry,
            company_size: self.company_size,
            province: self.province,
            city: self.city,
            source: self.source,
            account_id: self.account_id.map(AccountId),
            traits: serde_json::from_str(&self.traits).unwrap_or_default(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            stage: self.stage,
            stage_at: self.stage_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityRecord {
    pub kind: IdentityKind,
    pub value: String,
    /// Where the link was learnt: `src_3` (a tracking source), `imp_7:row:18`, `api`.
    pub origin: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MergeRecord {
    #[schema(value_type = String, example = "mg_3")]
    pub id: MergeId,
    #[schema(value_type = String, example = "ct_42")]
    pub survivor_id: ContactId,
    #[schema(value_type = String, example = "ct_57")]
    pub merged_id: ContactId,
    /// The identifiers that showed both profiles were one person.
    #[schema(value_type = Vec<Object>)]
    pub linked_by: Vec<Identifier>,
    /// What carried the link: `message:<messageId>`, `import:imp_7:row:18`, `api`.
    pub cause: String,
    pub created_at: Millis,
}

/// Filters of the contact list. All given filters must hold.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Matches the beginning of a name, company, email or mobile.
    pub q: Option<String>,
    pub source: Option<String>,
    pub tag_id: Option<i64>,
    pub account_id: Option<AccountId>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// Lifecycle stage key.
    pub stage: Option<String>,
    /// Placed in this business unit.
    pub bu: Option<BusinessUnitId>,
    /// Owned by this user.
    pub owner: Option<UserId>,
    /// Only contacts with an id below this (keyset pagination, newest first).
    pub before: Option<ContactId>,
    pub limit: u32,
    /// Only contacts a console user may see under a BU-isolated pool; `None` for the whole pool
    /// (API keys are org-wide).
    pub visible_to: Option<VisibleTo>,
}

/// Contacts placed in one of these business units or owned by this user (see
/// `hatchery_domain::access::ContactScope::Limited`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleTo {
    pub bus: Vec<BusinessUnitId>,
    pub owner: UserId,
}

impl VisibleTo {
    /// The condition with `${0}` for the owner and `${1}`… for the business units, on the
    /// columns of `contacts` (unqualified, so it also fits a subquery over `contacts`).
    pub(crate) fn clause(&self) -> (String, Vec<Arg>) {
        self.clause_on("")
    }

    /// [`VisibleTo::clause`] on the columns of a table alias (`c.`), or unqualified (`""`).
    pub(crate) fn clause_on(&self, alias: &str) -> (String, Vec<Arg>) {
        let mut args = vec![Arg::Int(self.owner.0)];
        let mut clause = format!("({alias}owner_user_id = ${{0}}");
        if !self.bus.is_empty() {
            let list: Vec<String> = (1..=self.bus.len()).map(|i| format!("${{{i}}}")).collect();
            clause.push_str(&format!(" OR {alias}bu_id IN ({})", list.join(", ")));
            args.extend(self.bus.iter().map(|b| Arg::Int(b.0)));
        }
        clause.push(')');
        (clause, args)
    }
}

/// Orders of the contact list other than newest first (which [`Store::list_contacts`] pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first.
    Oldest,
    /// By name (its search key, so case and width do not matter), unnamed contacts last.
    Name,
}

impl ListOrder {
    pub fn parse(s: &str) -> Option<ListOrder> {
        match s {
            "oldest" => Some(ListOrder::Oldest),
            "name" => Some(ListOrder::Name),
            _ => None,
        }
    }
}

/// Where a sorted page continues: `o:<id>` (oldest first), `n:<id>:<name key>` (by name) or
/// `u:<id>` (by name, among the unnamed contacts that come last).
fn parse_sorted_cursor(order: ListOrder, c: &str) -> Option<(char, i64, Option<String>)> {
    let (tag, rest) = c.split_once(':')?;
    match (order, tag) {
        (ListOrder::Oldest, "o") | (ListOrder::Name, "u") => {
            Some((tag.chars().next()?, rest.parse().ok()?, None))
        }
        (ListOrder::Name, "n") => {
            let (id, key) = rest.split_once(':')?;
            Some(('n', id.parse().ok()?, Some(key.to_owned())))
        }
        _ => None,
    }
}

/// How many of the newest contacts a search looks at before it turns to the indexes.
const SEARCH_WINDOW: u32 = 5_000;
/// Contacts a search fetches per statement once it has collected the matching ids.
const FETCH_IDS: usize = 500;

fn upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// How a search term reads as a mobile prefix: digits (spaces and dashes ignored) in E.164.
fn mobile_prefix(q: &str) -> Option<String> {
    let digits: String = q
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '+'))
        .collect();
    if digits.len() < 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(if digits.starts_with('1') {
        format!("+86{digits}")
    } else {
        format!("+{digits}")
    })
}

/// A contact's merge history: the merges into it and into the contacts merged into it. One `IN`
/// rather than `survivor_id = $2 OR …`: with the `OR`, SQLite walked every merge of the
/// organisation (`crate::plans` checks).
pub(crate) const CONTACT_MERGES_SQL: &str =
    "SELECT id, survivor_id, merged_id, linked_by, cause, created_at FROM merges WHERE org_id = $1 AND \
     survivor_id IN (SELECT $2 UNION ALL SELECT id FROM contacts WHERE org_id = $1 AND merged_into = $2) \
     ORDER BY id";

/// What erasing contact `$2` deletes, in order. Each condition on its own: an `OR` of two made
/// SQLite walk the organisation's rows (`crate::plans` checks).
pub(crate) const ERASE_CONTACT_SQL: [&str; 11] = [
    "DELETE FROM events WHERE org_id = $1 AND contact_id = $2",
    "DELETE FROM identities WHERE org_id = $1 AND contact_id = $2",
    "DELETE FROM contact_tags WHERE org_id = $1 AND contact_id = $2",
    "DELETE FROM contact_tiers WHERE org_id = $1 AND contact_id = $2",
    "DELETE FROM consents WHERE org_id = $1 AND contact_id = $2",
    "DELETE FROM referrals WHERE org_id = $1 AND referred_id = $2",
    "DELETE FROM referrals WHERE org_id = $1 AND referrer_id = $2",
    "DELETE FROM stage_transitions WHERE org_id = $1 AND contact_id IN \
     (SELECT $2 UNION ALL SELECT id FROM contacts WHERE org_id = $1 AND merged_into = $2)",
    "DELETE FROM merges WHERE org_id = $1 AND merged_id = $2",
    "DELETE FROM merges WHERE org_id = $1 AND survivor_id IN \
     (SELECT $2 UNION ALL SELECT id FROM contacts WHERE org_id = $1 AND merged_into = $2)",
    "DELETE FROM contacts WHERE org_id = $1 AND (id = $2 OR merged_into = $2)",
];

impl Store {
    /// Lists live (not merged-away) contacts, newest first; returns one page and whether more follow.
    pub async fn list_contacts(
        &self,
        org: OrgId,
        f: &ContactFilter,
    ) -> Result<(Vec<Contact>, bool)> {
        let limit = f.limit.clamp(1, 200);
        let mut args: Vec<Arg> = vec![Arg::Int(org.0)];
        // With a tag, the tag's index leads: it holds the tagged contacts in id order, so a page
        // is the next few of them whatever share of the pool carries the tag. (`id IN (tagged)`
        // let the database collect every tagged contact and sort them — a second at 150,000.)
        // The derived table exposes only `tagged`, so the other conditions name contacts alone.
        let (from, order) = match f.tag_id {
            Some(t) => {
                args.push(Arg::Int(t));
                (
                    "(SELECT contact_id AS tagged FROM contact_tags WHERE org_id = $1 AND tag_id = $2) t \
                     JOIN contacts ON contacts.org_id = $1 AND contacts.id = t.tagged",
                    "tagged",
                )
            }
            None => ("contacts", "id"),
        };
        let mut sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM {from} WHERE org_id = $1 AND merged_into IS NULL"
        );
        let mut push = |sql: &mut String, clause: &str, a: Vec<Arg>| {
            let mut clause = clause.to_owned();
            for (i, arg) in a.into_iter().enumerate() {
                args.push(arg);
                clause = clause.replace(&format!("${{{i}}}"), &format!("${}", args.len()));
            }
            sql.push_str(" AND ");
            sql.push_str(&clause);
        };
        if let Some(s) = &f.source {
            push(&mut sql, "source = ${0}", vec![Arg::Text(s.clone())]);
        }
        if let Some(a) = f.account_id {
            push(&mut sql, "account_id = ${0}", vec![Arg::Int(a.0)]);
        }
        if let Some(b) = f.bu {
            push(&mut sql, "bu_id = ${0}", vec![Arg::Int(b.0)]);
        }
        if let Some(u) = f.owner {
            push(&mut sql, "owner_user_id = ${0}", vec![Arg::Int(u.0)]);
        }
        for (col, v) in [
            ("industry", &f.industry),
            ("province", &f.province),
            ("city", &f.city),
            ("stage", &f.stage),
        ] {
            if let Some(v) = v {
                push(
                    &mut sql,
                    &format!("{col} = ${{0}}"),
                    vec![Arg::Text(v.clone())],
                );
            }
        }
        if let Some(b) = f.before {
            push(&mut sql, &format!("{order} < ${{0}}"), vec![Arg::Int(b.0)]);
        }
        // What a limited user may see is kept apart: a search applies it after its window (below).
        let mut visible = String::new();
        if let Some(v) = &f.visible_to {
            let (mut clause, a) = v.clause();
            for (i, arg) in a.into_iter().enumerate() {
                args.push(arg);
                clause = clause.replace(&format!("${{{i}}}"), &format!("${}", args.len()));
            }
            visible = format!(" AND {clause}");
        }
        let search = f.q.as_deref().map(search_key).filter(|q| !q.is_empty());
        let Some(q) = search else {
            sql.push_str(&format!(
                "{visible} ORDER BY {order} DESC LIMIT {}",
                limit + 1
            ));
            return self.contact_page(&sql, &args, limit).await;
        };

        // A search matches the beginning of a name, company, email or mobile. Common prefixes (a
        // surname such as 王 matches one contact in fourteen) have so many matches that collecting
        // them all to sort by recency is slow, while the newest few thousand contacts already fill
        // the page; rare ones are the opposite. So first look among the newest SEARCH_WINDOW
        // contacts (exact when it fills the page: every contact outside the window is older), and
        // only when it does not, collect the matches through the indexes. The window is the newest
        // contacts whatever a limited user may see, and their visibility is checked inside it:
        // finding the newest SEARCH_WINDOW *visible* contacts would read five times as many rows
        // for a user who sees a fifth of the pool (no index serves "in these units or mine").
        let hi = upper_bound(&q);
        let mobile = mobile_prefix(&q);
        let mut qargs = vec![Arg::Text(q.clone()), Arg::Text(hi)];
        let mut identity_kinds = "kind = 'email' AND value >= ${0} AND value < ${1}".to_owned();
        if let Some(m) = &mobile {
            identity_kinds = format!(
                "({identity_kinds}) OR (kind = 'mobile' AND value >= ${{2}} AND value < ${{3}})"
            );
            qargs.push(Arg::Text(m.clone()));
            qargs.push(Arg::Text(upper_bound(m)));
        }
        let base = args.len();
        let n_qargs = qargs.len();
        let renumber = |clause: &str| {
            let mut c = clause.to_owned();
            for i in 0..n_qargs {
                c = c.replace(&format!("${{{i}}}"), &format!("${}", base + i + 1));
            }
            c
        };
        let on_row = renumber(&format!(
            "(name_key >= ${{0}} AND name_key < ${{1}}) OR (company_key >= ${{0}} AND company_key < ${{1}}) \
             OR EXISTS (SELECT 1 FROM identities i WHERE i.org_id = $1 AND i.contact_id = w.id AND ({identity_kinds}))"
        ));
        let columns = CONTACT_COLUMNS.replace(", ", ", w.");
        let newest = sql.replacen(
            CONTACT_COLUMNS,
            &format!("{CONTACT_COLUMNS}, name_key, company_key, owner_user_id, bu_id"),
            1,
        );
        let window = format!(
            "SELECT w.{columns} FROM ({newest} ORDER BY {order} DESC LIMIT {SEARCH_WINDOW}) w WHERE ({on_row}){visible} ORDER BY w.id DESC LIMIT {}",
            limit + 1
        );
        let mut all_args = args;
        all_args.extend(qargs);
        let (page, more) = self.contact_page(&window, &all_args, limit).await?;
        if more {
            return Ok((page, more));
        }
        // Otherwise the prefix is rare among recent contacts: collect the ids of every match
        // through the indexes (one range scan per field; an OR across identity kinds would defeat
        // the index), newest first, and fetch rows in that order until the page is full. Sorting
        // ids in memory keeps the plan the same on both databases, whatever their statistics.
        let mut branches = vec![
            "SELECT id FROM contacts WHERE org_id = $1 AND name_key >= ${0} AND name_key < ${1}",
            "SELECT id FROM contacts WHERE org_id = $1 AND company_key >= ${0} AND company_key < ${1}",
            "SELECT contact_id FROM identities WHERE org_id = $1 AND kind = 'email' AND value >= ${0} AND value < ${1}",
        ];
        if mobile.is_some() {
            branches.push("SELECT contact_id FROM identities WHERE org_id = $1 AND kind = 'mobile' AND value >= ${2} AND value < ${3}");
        }
        // Numbered on its own: $1 is the organisation, the search terms follow.
        let mut matches = branches.join(" UNION ALL ");
        for i in 0..n_qargs {
            matches = matches.replace(&format!("${{{i}}}"), &format!("${}", i + 2));
        }
        let mut ids: Vec<i64> = with_pool!(self, c => {
            let q = sqlx::query_scalar(&matches).bind(org.0);
            bind_args!(q, &all_args[base..]).fetch_all(c).await?
        });
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        let mut page: Vec<Contact> = Vec::new();
        for chunk in ids.chunks(FETCH_IDS) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let want = limit as usize + 1 - page.len();
            let sql = format!(
                "{sql}{visible} AND id IN ({}) ORDER BY id DESC LIMIT {want}",
                list.join(", ")
            );
            let (rows, _) = self
                .contact_page(&sql, &all_args[..base], want as u32)
                .await?;
            page.extend(rows);
            if page.len() > limit as usize {
                break;
            }
        }
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        Ok((page, more))
    }

    /// The contact list in another order than newest first, with the filters of `f` except the
    /// search (`q`) and `before`, which this order does not use. Pages are keyset-paged by the
    /// opaque `cursor` this returns; a cursor of another order is refused.
    pub async fn list_contacts_sorted(
        &self,
        org: OrgId,
        f: &ContactFilter,
        order: ListOrder,
        cursor: Option<&str>,
    ) -> Result<(Vec<Contact>, Option<String>)> {
        let at = match cursor {
            None => None,
            Some(c) => Some(parse_sorted_cursor(order, c).ok_or_else(|| {
                StoreError::Conflict("the cursor is not one of this order".into())
            })?),
        };
        let limit = f.limit.clamp(1, 200) as usize;
        let plain = ContactFilter {
            q: None,
            before: None,
            ..f.clone()
        };
        // Every filter, built once; each phase adds its own range and order.
        let phase = |range: &str, args: Vec<Arg>, ord: &str, n: usize| {
            let mut sql = String::new();
            let mut all = args;
            let base = self.filter_sql(org, &plain, &mut all);
            sql.push_str(&base);
            sql.push_str(range);
            sql.push_str(&format!(" ORDER BY {ord} LIMIT {}", n + 1));
            (sql, all)
        };
        let mut out: Vec<Contact> = Vec::new();
        let mut more = false;
        match order {
            ListOrder::Oldest => {
                let after = at.map_or(0, |a| a.1);
                let (sql, args) = phase(
                    " AND id > $2",
                    vec![Arg::Int(org.0), Arg::Int(after)],
                    "id",
                    limit,
                );
                let (rows, m) = self.contact_page(&sql, &args, limit as u32).await?;
                out = rows;
                more = m;
            }
            ListOrder::Name => {
                if at.as_ref().is_none_or(|a| a.0 == 'n') {
                    let (range, args) = match &at {
                        Some((_, id, Some(key))) => (
                            " AND name_key IS NOT NULL AND (name_key > $2 OR (name_key = $2 AND id > $3))",
                            vec![Arg::Int(org.0), Arg::Text(key.clone()), Arg::Int(*id)],
                        ),
                        _ => (" AND name_key IS NOT NULL", vec![Arg::Int(org.0)]),
                    };
                    let (sql, args) = phase(range, args, "name_key, id", limit);
                    let (rows, m) = self.contact_page(&sql, &args, limit as u32).await?;
                    out = rows;
                    more = m;
                }
                // Named contacts exhausted: the unnamed follow (when the page is already full,
                // this only learns whether there are any, for the next-page cursor).
                if !more {
                    let after = match &at {
                        Some(('u', id, _)) => *id,
                        _ => 0,
                    };
                    let need = limit - out.len();
                    let (sql, args) = phase(
                        " AND name_key IS NULL AND id > $2",
                        vec![Arg::Int(org.0), Arg::Int(after)],
                        "id",
                        need,
                    );
                    let (rows, m) = self.contact_page(&sql, &args, need as u32).await?;
                    out.extend(rows);
                    more = m;
                }
            }
        }
        let next = if more {
            out.last().map(|c| match (order, &c.name) {
                (ListOrder::Oldest, _) => format!("o:{}", c.id.0),
                (ListOrder::Name, Some(n)) => format!("n:{}:{}", c.id.0, search_key(n)),
                (ListOrder::Name, _) => format!("u:{}", c.id.0),
            })
        } else {
            None
        };
        Ok((out, next))
    }

    /// `SELECT … FROM contacts WHERE org_id = $1 …` with the filters of `f` (not `q`, `before`
    /// nor the tag's index walk), appending their arguments after those already in `args`.
    fn filter_sql(&self, _org: OrgId, f: &ContactFilter, args: &mut Vec<Arg>) -> String {
        let mut sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE org_id = $1 AND merged_into IS NULL"
        );
        let mut push = |sql: &mut String, clause: &str, a: Arg| {
            args.push(a);
            sql.push_str(" AND ");
            sql.push_str(&clause.replace("${0}", &format!("${}", args.len())));
        };
        if let Some(t) = f.tag_id {
            push(
                &mut sql,
                "id IN (SELECT contact_id FROM contact_tags WHERE org_id = $1 AND tag_id = ${0})",
                Arg::Int(t),
            );
        }
        if let Some(s) = &f.source {
            push(&mut sql, "source = ${0}", Arg::Text(s.clone()));
        }
        if let Some(a) = f.account_id {
            push(&mut sql, "account_id = ${0}", Arg::Int(a.0));
        }
        if let Some(b) = f.bu {
            push(&mut sql, "bu_id = ${0}", Arg::Int(b.0));
        }
        if let Some(u) = f.owner {
            push(&mut sql, "owner_user_id = ${0}", Arg::Int(u.0));
        }
        for (col, v) in [
            ("industry", &f.industry),
            ("province", &f.province),
            ("city", &f.city),
            ("stage", &f.stage),
        ] {
            if let Some(v) = v {
                push(&mut sql, &format!("{col} = ${{0}}"), Arg::Text(v.clone()));
            }
        }
        if let Some(v) = &f.visible_to {
            let (mut clause, a) = v.clause();
            for (i, arg) in a.into_iter().enumerate() {
                args.push(arg);
                clause = clause.replace(&format!("${{{i}}}"), &format!("${}", args.len()));
            }
            sql.push_str(" AND ");
            sql.push_str(&clause);
        }
        sql
    }

    async fn contact_page(
        &self,
        sql: &str,
        args: &[Arg],
        limit: u32,
    ) -> Result<(Vec<Contact>, bool)> {
        let mut rows: Vec<ContactRow> = with_pool!(self, c => {
            bind_args!(sqlx::query_as::<_, ContactRow>(sql), args).fetch_all(c).await?
        });
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((
            rows.into_iter().map(ContactRow::into_contact).collect(),
            more,
        ))
    }

    /// Where a contact id leads now: itself, or the contact it was merged into.
    pub async fn resolve_contact_id(&self, org: OrgId, id: ContactId) -> Result<ContactId> {
        let row: Option<Option<i64>> = with_pool!(self, c => sqlx::query_scalar(
            "SELECT merged_into FROM contacts WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(c)
        .await?);
        match row {
            None => Err(StoreError::NotFound("contact")),
            Some(None) => Ok(id),
            Some(Some(s)) => Ok(ContactId(s)),
        }
    }

    /// One contact, following merges (a merged-away id returns its survivor).
    pub async fn get_contact(&self, org: OrgId, id: ContactId) -> Result<Contact> {
        let id = self.resolve_contact_id(org, id).await?;
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE org_id = $1 AND id = $2");
        let row: Option<ContactRow> = with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).bind(id.0).fetch_optional(c).await?);
        row.map(ContactRow::into_contact)
            .ok_or(StoreError::NotFound("contact"))
    }

    pub async fn contact_by_identity(
        &self,
        org: OrgId,
        id: &Identifier,
    ) -> Result<Option<ContactId>> {
        let row: Option<i64> = with_pool!(self, c => sqlx::query_scalar(
            "SELECT contact_id FROM identities WHERE org_id = $1 AND kind = $2 AND value = $3",
        )
        .bind(org.0)
        .bind(id.kind.as_str())
        .bind(&id.value)
        .fetch_optional(c)
        .await?);
        Ok(row.map(ContactId))
    }

    pub async fn contact_identities(
        &self,
        org: OrgId,
        id: ContactId,
    ) -> Result<Vec<IdentityRecord>> {
        // The contact's keys come from the covering index `identities (org_id, contact_id)`, the
        // rows by primary key. Asked for the whole rows directly, SQLite (without statistics)
        // walks the primary key over every identity of the organisation instead: 200 ms at 2M.
        let rows: Vec<(String, String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT i.kind, i.value, i.origin, i.created_at FROM identities k \
             JOIN identities i ON i.org_id = k.org_id AND i.kind = k.kind AND i.value = k.value \
             WHERE k.org_id = $1 AND k.contact_id = $2 ORDER BY i.created_at, i.kind, i.value",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .filter_map(|(k, value, origin, created_at)| {
                Some(IdentityRecord {
                    kind: IdentityKind::parse(&k)?,
                    value,
                    origin,
                    created_at,
                })
            })
            .collect())
    }

    /// Every merge that folded a profile into this contact, directly or through an earlier survivor.
    pub async fn contact_merges(&self, org: OrgId, id: ContactId) -> Result<Vec<MergeRecord>> {
        let rows: Vec<(i64, i64, i64, String, String, i64)> = with_pool!(self, c => sqlx::query_as(
            CONTACT_MERGES_SQL,
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await?);
        rows.into_iter()
            .map(|(mid, s, m, linked, cause, at)| {
                Ok(MergeRecord {
                    id: MergeId(mid),
                    survivor_id: ContactId(s),
                    merged_id: ContactId(m),
                    linked_by: serde_json::from_str(&linked)?,
                    cause,
                    created_at: at,
                })
            })
            .collect()
    }

    pub async fn count_contacts(&self, org: OrgId) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM contacts WHERE org_id = $1 AND merged_into IS NULL",
        )
        .bind(org.0)
        .fetch_one(c)
        .await?))
    }

    /// Live contacts a console user with limited visibility may see.
    pub async fn count_visible_contacts(&self, org: OrgId, v: &VisibleTo) -> Result<i64> {
        let (mut clause, args) = v.clause();
        for i in (0..args.len()).rev() {
            clause = clause.replace(&format!("${{{i}}}"), &format!("${}", i + 2));
        }
        let sql = format!(
            "SELECT COUNT(*) FROM contacts WHERE org_id = $1 AND merged_into IS NULL AND {clause}"
        );
        Ok(
            with_pool!(self, c => bind_args!(sqlx::query_scalar(&sql).bind(org.0), &args)
            .fetch_one(c)
            .await?),
        )
    }

    /// Erases a contact and everything recorded about it (right to erasure): events, identities,
    /// tags, merge records and the profiles merged into it.
    pub async fn delete_contact(&self, org: OrgId, id: ContactId) -> Result<()> {
        let id = self.resolve_contact_id(org, id).await?;
        let mut tx = self.begin().await?;
        self.lock_holdings(&mut tx, org).await?;
        with_tx!(&mut tx, c => {
            for sql in ERASE_CONTACT_SQL {
                sqlx::query(sql).bind(org.0).bind(id.0).execute(&mut *c).await?;
            }
        });
        self.holdings_changed(&mut tx, org).await?;
        // The evaluator finds the contact gone and takes it out of its segments.
        crate::jobs::enqueue_jobs_in(
            &mut tx,
            org,
            crate::jobs::JobKind::EvaluateContact,
            &[id.0],
            0,
        )
        .await?;
        tx.commit().await?;
        self.jobs_enqueued();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_search_as_a_mobile_prefix() {
        assert_eq!(mobile_prefix("138 0013").as_deref(), Some("+861380013"));
        assert_eq!(mobile_prefix("+852 9"), Some("+8529".into()));
        assert_eq!(mobile_prefix("13"), None);
        assert_eq!(mobile_prefix("张伟"), None);
    }
}
