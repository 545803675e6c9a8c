//! The hot write path shared by tracking ingest and imports: look up who holds a batch of
//! identifiers, then write a whole resolved batch — new contacts, identities, merges, profile
//! updates, tags, account links and events — in one transaction (one group commit).
//!
//! New contacts arrive with temporary negative ids; the store swaps in real ids from the contact
//! sequence inside the transaction and returns the mapping.

use std::collections::HashMap;

use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId};
use serde_json::{Map, Value};

use crate::backend::{with_pool, with_tx, Backend, Tx};
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
    /// The sender's own timestamp (ms), or 0 when it sent none: with `message_id`, the key that
    /// makes a retried message a duplicate (see migration 0002).
    pub client_at: Millis,
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
    /// The intake log (its id) and sequence number of the last request this write applies,
    /// recorded in the same transaction (see [`Store::intake_applied`]).
    pub intake_seq: Option<(String, i64)>,
    /// Accounts by name key that an earlier write of the same caller found or created, so their
    /// names need no lookup (accounts are never deleted, so such an id stays valid). Names not in
    /// here are looked up in the transaction. The one difference from a lookup: if a `group` call
    /// renames an account to or from that name meanwhile, the name keeps the account it had.
    pub known_accounts: HashMap<String, i64>,
}

impl IngestWrite {
    /// Replaces provisional contact ids wherever the write names a contact, except the new
    /// contacts' own ids.
    pub fn rename_contacts(&mut self, to: &HashMap<ContactId, ContactId>) {
        if to.is_empty() {
            return;
        }
        let map = |c: &mut ContactId| {
            if let Some(r) = to.get(c) {
                *c = *r;
            }
        };
        self.identities.iter_mut().for_each(|i| map(&mut i.contact));
        for m in &mut self.merges {
            map(&mut m.survivor);
            map(&mut m.merged);
        }
        self.updates.iter_mut().for_each(|u| map(&mut u.contact));
        self.tags.iter_mut().for_each(|t| map(&mut t.0));
        self.accounts.iter_mut().for_each(|a| map(&mut a.contact));
        self.events.iter_mut().for_each(|e| map(&mut e.contact));
    }
}

#[derive(Debug, Clone, Default)]
pub struct IngestOutcome {
    /// Temporary id → real id of every contact created.
    pub created: HashMap<ContactId, ContactId>,
    /// Events stored (duplicates by message id are not counted).
    pub events_inserted: u64,
    /// The organisation's holdings counter after this write, when it changed holdings (see
    /// [`Store::lock_holdings`]).
    pub holdings_epoch: Option<i64>,
    /// The accounts this write found or created by name (name key → id), for
    /// [`IngestWrite::known_accounts`] of later writes.
    pub accounts_by_name: Vec<(String, i64)>,
}

/// Most rows one multi-row statement writes.
const CHUNK: usize = 512;

/// Splits `rows` into statements of 512, 64, 8 and 1 rows. Every distinct row count is a distinct
/// SQL text that the driver prepares and caches; with arbitrary remainders each batch prepared a
/// new multi-thousand-parameter statement (and pushed useful ones out of the cache), with these
/// four sizes the statements are prepared once.
fn statement_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = [CHUNK, CHUNK / 8, CHUNK / 64, 1]
            .into_iter()
            .find(|s| *s <= rest.len())
            .unwrap_or(1);
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}
/// Most identifier values looked up by one statement (SQLite allows 32,766 parameters).
const LOOKUP_CHUNK: usize = 5_000;

impl Store {
    /// Locks the organisation's identity holdings for the rest of `tx` and returns its holdings
    /// counter (migration 0002), which every transaction that changes holdings increments.
    ///
    /// While the lock is held nobody else — no other task, process or node — can change who holds
    /// which identifier, so what the transaction reads stays true until it commits, and a process
    /// that remembered holdings at counter *n* knows its memory is exact if the counter is still
    /// *n*. On SQLite [`Store::begin`] already holds the database's one write lock; on PostgreSQL
    /// the organisation's row is locked (`FOR UPDATE`), so writers of one organisation take turns
    /// while other organisations proceed in parallel.
    pub async fn lock_holdings(&self, tx: &mut Tx, org: OrgId) -> Result<i64> {
        let sql = if tx.is_postgres() {
            "SELECT holdings_epoch FROM organisations WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT holdings_epoch FROM organisations WHERE id = $1"
        };
        Ok(with_tx!(tx, c => sqlx::query_scalar(sql)
            .bind(org.0)
            .fetch_optional(&mut *c)
            .await?)
        .unwrap_or(0))
    }

    /// Who holds these identifiers, plus every other identifier those holders have (the resolver
    /// needs a holder's full set to check limits). Merged-away contacts never hold identifiers.
    pub async fn load_holdings(
        &self,
        org: OrgId,
        ids: &[Identifier],
    ) -> Result<Vec<(Identifier, ContactId)>> {
        match &self.backend {
            Backend::Sqlite(p) => holdings_sqlite(&mut *p.acquire().await?, org, ids).await,
            Backend::Postgres(p) => holdings_postgres(&mut *p.acquire().await?, org, ids).await,
        }
    }

    /// [`Store::load_holdings`] and the organisation's holdings counter (see
    /// [`Store::lock_holdings`]) read from one snapshot of the database, outside any write
    /// transaction: the holdings returned are exactly those of that counter.
    pub async fn holdings_snapshot(
        &self,
        org: OrgId,
        ids: &[Identifier],
    ) -> Result<(i64, Vec<(Identifier, ContactId)>)> {
        // The counter, then the holdings, in the open read transaction `$t`.
        macro_rules! read {
            ($t:ident, $holdings:ident) => {{
                let epoch: Option<i64> =
                    sqlx::query_scalar("SELECT holdings_epoch FROM organisations WHERE id = $1")
                        .bind(org.0)
                        .fetch_optional(&mut *$t)
                        .await?;
                let found = $holdings(&mut $t, org, ids).await?;
                $t.commit().await?;
                Ok((epoch.unwrap_or(0), found))
            }};
        }
        match &self.backend {
            Backend::Sqlite(p) => {
                // A read transaction sees one snapshot of the WAL from its first read on.
                let mut t = self.sqlite_lookup.as_ref().unwrap_or(p).begin().await?;
                read!(t, holdings_sqlite)
            }
            Backend::Postgres(p) => {
                let mut t = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *t)
                    .await?;
                read!(t, holdings_postgres)
            }
        }
    }

    /// [`Store::load_holdings`] inside a write transaction, so that on SQLite nobody can change the
    /// answer before the transaction commits.
    pub async fn load_holdings_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        ids: &[Identifier],
    ) -> Result<Vec<(Identifier, ContactId)>> {
        match tx {
            Tx::Sqlite(t, _) => holdings_sqlite(&mut *t, org, ids).await,
            Tx::Postgres(t) => holdings_postgres(&mut *t, org, ids).await,
        }
    }

    /// Writes a resolved batch in one transaction. On error nothing is written.
    pub async fn write_ingest(
        &self,
        org: OrgId,
        mut w: IngestWrite,
        now: Millis,
    ) -> Result<IngestOutcome> {
        let mut tx = self.begin().await?;
        let outcome = self.write_ingest_in(&mut tx, org, &mut w, now).await;
        self.end_ingest(tx, outcome).await
    }

    /// Commits an ingest transaction if `outcome` is a success, rolls it back otherwise.
    pub async fn end_ingest<T>(&self, tx: Tx, outcome: Result<T>) -> Result<T> {
        match outcome {
            Ok(v) => {
                if let Err(e) = tx.commit().await {
                    self.contact_ids.forget_block().await;
                    return Err(e);
                }
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                self.contact_ids.forget_block().await;
                Err(e)
            }
        }
    }

    /// Writes a resolved batch inside `tx`, which must hold [`Store::lock_holdings`]. When it
    /// changes holdings it increments the organisation's holdings counter and reports the new value
    /// in the outcome.
    pub async fn write_ingest_in(
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
            w.rename_contacts(&outcome.created);
        }

        // Accounts are found or created first, so that a new contact takes its account as it is
        // inserted instead of being updated again afterwards. New contacts a merge of this batch
        // involves are linked after the merges, as every existing contact is.
        let mut account_of = resolve_accounts(tx, org, w, &mut outcome, now).await?;
        let mut at_insert: HashMap<ContactId, AccountOf> = HashMap::new();
        if !account_of.is_empty() {
            let merging: std::collections::HashSet<ContactId> = w
                .merges
                .iter()
                .flat_map(|m| [m.survivor, m.merged])
                .collect();
            for c in &w.contacts {
                if !merging.contains(&c.temp_id) {
                    if let Some(a) = account_of.remove(&c.temp_id) {
                        at_insert.insert(c.temp_id, a);
                    }
                }
            }
        }
        insert_contacts(tx, org, &w.contacts, &at_insert).await?;
        insert_identities(tx, org, &w.identities, now).await?;
        for m in &w.merges {
            apply_merge(tx, org, m, now).await?;
        }
        update_profiles(tx, org, &w.updates, now).await?;
        link_tags(tx, org, &w.tags, now).await?;
        update_account_links(tx, org, account_of).await?;
        outcome.events_inserted = insert_events(tx, org, &w.events).await?;
        evaluate_later(tx, org, w, now).await?;
        crate::stats::count_ingest_in(tx, org, w, outcome.events_inserted, now).await?;
        if !w.identities.is_empty() || !w.merges.is_empty() {
            outcome.holdings_epoch = self.holdings_changed(tx, org).await?;
        }
        if let Some((log, seq)) = &w.intake_seq {
            set_intake_applied(tx, org, log, *seq).await?;
        }
        self.wrote_rows(
            (w.contacts.len() + w.identities.len() + w.updates.len()) as u64
                + outcome.events_inserted,
        );
        Ok(outcome)
    }

    /// The sequence number up to which each organisation's requests in intake log `log` are
    /// applied.
    pub async fn intake_applied(&self, log: &str) -> Result<Vec<(OrgId, i64)>> {
        let rows: Vec<(i64, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT org_id, seq FROM intake_applied WHERE log_id = $1 ORDER BY org_id",
        )
        .bind(log)
        .fetch_all(c)
        .await?);
        Ok(rows.into_iter().map(|(o, s)| (OrgId(o), s)).collect())
    }

    /// Records that the requests of `org` in intake log `log` up to `seq` are dealt with, for one
    /// that was set aside instead of applied.
    pub async fn set_intake_applied(&self, org: OrgId, log: &str, seq: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        set_intake_applied(&mut tx, org, log, seq).await?;
        tx.commit().await
    }

    /// Records that holdings of `org` changed in `tx`; returns the new counter value.
    pub(crate) async fn holdings_changed(&self, tx: &mut Tx, org: OrgId) -> Result<Option<i64>> {
        Ok(with_tx!(tx, c => sqlx::query_scalar(
            "UPDATE organisations SET holdings_epoch = holdings_epoch + 1 WHERE id = $1 RETURNING holdings_epoch",
        )
        .bind(org.0)
        .fetch_optional(&mut *c)
        .await?))
    }
}

async fn set_intake_applied(tx: &mut Tx, org: OrgId, log: &str, seq: i64) -> Result<()> {
    with_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO intake_applied (org_id, log_id, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, log_id) DO UPDATE SET seq = excluded.seq",
        )
        .bind(org.0)
        .bind(log)
        .bind(seq)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

/// Asks for every contact the batch changed to be re-evaluated (segment memberships) — if the
/// organisation has anything to evaluate, which one indexed read tells. The request is written in
/// the batch's own transaction, so a change is never stored without it. It is due from the
/// receipt of the batch's earliest message, so the evaluation lag the evaluator reports
/// (`hatchery_evaluation_lag_seconds`) runs from receipt, not from the commit.
async fn evaluate_later(tx: &mut Tx, org: OrgId, w: &IngestWrite, now: Millis) -> Result<()> {
    if !crate::segments::has_dependents_in(tx, org).await? {
        return Ok(());
    }
    let mut ids: Vec<i64> = Vec::with_capacity(w.events.len() + w.contacts.len());
    ids.extend(w.contacts.iter().map(|c| c.temp_id.0));
    ids.extend(w.events.iter().map(|e| e.contact.0));
    ids.extend(w.updates.iter().map(|u| u.contact.0));
    ids.extend(w.tags.iter().map(|t| t.0 .0));
    ids.extend(w.accounts.iter().map(|a| a.contact.0));
    ids.extend(w.identities.iter().map(|i| i.contact.0));
    for m in &w.merges {
        ids.push(m.survivor.0);
        ids.push(m.merged.0);
    }
    let due = w
        .events
        .iter()
        .map(|e| e.received_at)
        .min()
        .map_or(now, |r| r.min(now));
    crate::jobs::enqueue_jobs_in(tx, org, crate::jobs::JobKind::EvaluateContact, &ids, due).await
}

/// Values grouped by kind, in chunks of at most [`LOOKUP_CHUNK`] values.
fn lookup_chunks(ids: &[Identifier]) -> Vec<Vec<(IdentityKind, Vec<&str>)>> {
    let mut by_kind: HashMap<IdentityKind, Vec<&str>> = HashMap::new();
    for i in ids {
        by_kind.entry(i.kind).or_default().push(&i.value);
    }
    let mut chunks = vec![Vec::new()];
    let mut size = 0;
    for (kind, values) in by_kind {
        for part in values.chunks(LOOKUP_CHUNK) {
            if size + part.len() > LOOKUP_CHUNK {
                chunks.push(Vec::new());
                size = 0;
            }
            size += part.len();
            chunks
                .last_mut()
                .expect("one chunk")
                .push((kind, part.to_vec()));
        }
    }
    chunks
}

fn holdings_rows(rows: Vec<(String, String, i64)>, out: &mut Vec<(Identifier, ContactId)>) {
    for (kind, value, contact) in rows {
        if let Some(kind) = IdentityKind::parse(&kind) {
            out.push((Identifier::new(kind, value), ContactId(contact)));
        }
    }
}

/// One statement per chunk: the holders of the values, and all their identifiers.
async fn holdings_sqlite(
    c: &mut sqlx::SqliteConnection,
    org: OrgId,
    ids: &[Identifier],
) -> Result<Vec<(Identifier, ContactId)>> {
    let mut out = Vec::new();
    for chunk in lookup_chunks(ids) {
        if chunk.is_empty() {
            continue;
        }
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT kind, value, contact_id FROM identities WHERE org_id = ",
        );
        qb.push_bind(org.0).push(" AND contact_id IN (");
        for (i, (kind, values)) in chunk.iter().enumerate() {
            if i > 0 {
                qb.push(" UNION ALL ");
            }
            qb.push("SELECT contact_id FROM identities WHERE org_id = ")
                .push_bind(org.0)
                .push(" AND kind = ")
                .push_bind(kind.as_str())
                .push(" AND value IN (");
            let mut sep = qb.separated(", ");
            for v in values {
                sep.push_bind(*v);
            }
            qb.push(")");
        }
        qb.push(")");
        holdings_rows(qb.build_query_as().fetch_all(&mut *c).await?, &mut out);
    }
    Ok(out)
}

/// As [`holdings_sqlite`], with each kind's values bound as one array (one prepared statement
/// whatever the number of values, and an index scan of the primary key).
async fn holdings_postgres(
    c: &mut sqlx::PgConnection,
    org: OrgId,
    ids: &[Identifier],
) -> Result<Vec<(Identifier, ContactId)>> {
    let mut out = Vec::new();
    for chunk in lookup_chunks(ids) {
        if chunk.is_empty() {
            continue;
        }
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT kind, value, contact_id FROM identities WHERE org_id = ",
        );
        qb.push_bind(org.0).push(" AND contact_id IN (");
        for (i, (kind, values)) in chunk.into_iter().enumerate() {
            if i > 0 {
                qb.push(" UNION ALL ");
            }
            qb.push("SELECT contact_id FROM identities WHERE org_id = ")
                .push_bind(org.0)
                .push(" AND kind = ")
                .push_bind(kind.as_str())
                .push(" AND value = ANY(")
                .push_bind(values)
                .push(")");
        }
        qb.push(")");
        holdings_rows(qb.build_query_as().fetch_all(&mut *c).await?, &mut out);
    }
    Ok(out)
}

/// A contact's account as a batch links it: the account id, its name and name key.
type AccountOf = (i64, Option<String>, Option<String>);

/// The company columns of a new contact: its own, else its account's name (as
/// [`update_account_links`] fills them for a contact that has none).
fn company_of(n: &NewContact, account: Option<&AccountOf>) -> (Option<String>, Option<String>) {
    match (&n.profile.company, account) {
        (Some(c), _) => (Some(c.clone()), Some(search_key(c))),
        (None, Some((_, name, key))) => (name.clone(), key.clone()),
        (None, None) => (None, None),
    }
}

async fn insert_contacts(
    tx: &mut Tx,
    org: OrgId,
    contacts: &[NewContact],
    accounts: &HashMap<ContactId, AccountOf>,
) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        return postgres::insert_contacts(t, org, contacts, accounts).await;
    }
    for chunk in statement_chunks(contacts) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT OR FAIL INTO contacts (id, org_id, name, name_key, email, mobile, landline, company, company_key, \
                 title, department, industry, company_size, province, city, source, traits, created_at, updated_at, account_id) ",
            );
            qb.push_values(chunk, |mut b, n| {
                let p = &n.profile;
                let account = accounts.get(&n.temp_id);
                let (company, company_key) = company_of(n, account);
                b.push_bind(n.temp_id.0)
                    .push_bind(org.0)
                    .push_bind(p.name.clone())
                    .push_bind(p.name.as_deref().map(search_key))
                    .push_bind(p.email.clone())
                    .push_bind(p.mobile.clone())
                    .push_bind(p.landline.clone())
                    .push_bind(company)
                    .push_bind(company_key)
                    .push_bind(p.title.clone())
                    .push_bind(p.department.clone())
                    .push_bind(p.industry.clone())
                    .push_bind(p.company_size.clone())
                    .push_bind(p.province.clone())
                    .push_bind(p.city.clone())
                    .push_bind(n.source.clone())
                    .push_bind(p.custom_json())
                    .push_bind(n.created_at)
                    .push_bind(n.created_at)
                    .push_bind(account.map(|a| a.0));
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
    if let Tx::Postgres(t) = tx {
        return postgres::insert_identities(t, org, ids, now).await;
    }
    // In key order, so that consecutive inserts descend the identity index along the same path.
    let mut sorted: Vec<&NewIdentity> = ids.iter().collect();
    sorted.sort_unstable_by(|a, b| {
        (a.identifier.kind.as_str(), &a.identifier.value)
            .cmp(&(b.identifier.kind.as_str(), &b.identifier.value))
    });
    for chunk in statement_chunks(&sorted) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT OR FAIL INTO identities (org_id, kind, value, contact_id, origin, created_at) ");
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

/// The conflict clause of the batch's multi-row `INSERT`s and `UPDATE`s on SQLite: ` OR FAIL`
/// stops a statement at a failing row without undoing the rows before it. With the default
/// (`ABORT`) SQLite keeps a statement journal, a copy of every page the statement changes, to undo
/// them; that copying and its allocations took a sixth of the import's writing time. The batch's
/// transaction is rolled back as a whole on any error, so nothing partial is committed either way.
/// PostgreSQL has no such clause (and no such cost).
fn or_fail(tx: &Tx) -> &'static str {
    if tx.is_postgres() {
        ""
    } else {
        " OR FAIL"
    }
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

/// The statements that move everything of a merged contact to its survivor (see [`apply_merge`]).
const MERGE_FOLLOW_SQL: [&str; 14] = [
    "UPDATE identities SET contact_id = $1 WHERE org_id = $2 AND contact_id = $3",
    "UPDATE events SET contact_id = $1 WHERE org_id = $2 AND contact_id = $3",
    "UPDATE stage_transitions SET contact_id = $1 WHERE org_id = $2 AND contact_id = $3",
    // The referral graph follows the person: the survivor keeps its own referrer (or takes
    // the merged profile's) and every referral either made; none is of itself.
    "DELETE FROM referrals WHERE org_id = $2 AND referred_id = $3 AND EXISTS \
     (SELECT 1 FROM referrals r WHERE r.org_id = $2 AND r.referred_id = $1)",
    "UPDATE referrals SET referred_id = $1 WHERE org_id = $2 AND referred_id = $3",
    // Consent answers follow the person too; of two answers the newer wins.
    "INSERT INTO consents (org_id, contact_id, purpose, channel, granted, source, at) \
     SELECT org_id, $1, purpose, channel, granted, source, at FROM consents WHERE org_id = $2 AND contact_id = $3 \
     ON CONFLICT (org_id, contact_id, purpose, channel) DO UPDATE SET granted = excluded.granted, \
     source = excluded.source, at = excluded.at WHERE excluded.at > consents.at",
    "DELETE FROM consents WHERE org_id = $2 AND contact_id = $3 AND $1 <> 0",
    "UPDATE referrals SET referrer_id = $1 WHERE org_id = $2 AND referrer_id = $3",
    "DELETE FROM referrals WHERE org_id = $2 AND referred_id = $1 AND referrer_id = $1 AND $3 <> 0",
    // A survivor without a lifecycle stage takes the merged profile's.
    "UPDATE contacts SET stage_at = (SELECT stage_at FROM contacts WHERE org_id = $2 AND id = $3), \
     stage = (SELECT stage FROM contacts WHERE org_id = $2 AND id = $3) \
     WHERE org_id = $2 AND id = $1 AND stage IS NULL",
    "INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) \
     SELECT org_id, $1, tag_id, created_at FROM contact_tags WHERE org_id = $2 AND contact_id = $3 \
     ON CONFLICT DO NOTHING",
    "DELETE FROM contact_tags WHERE org_id = $2 AND contact_id = $3 AND $1 <> 0",
    // Earlier tombstones pointing at the merged contact now point at the survivor, so any old
    // id resolves in one step.
    "UPDATE contacts SET merged_into = $1 WHERE org_id = $2 AND merged_into = $3",
    "UPDATE contacts SET merged_into = $1, account_id = NULL, stage = NULL, stage_at = NULL \
     WHERE org_id = $2 AND id = $3",
];

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
    });
    // What follows the person: `$1` the survivor, `$2` the organisation, `$3` the merged contact.
    // They go in one round trip instead of fourteen: on PostgreSQL as one simple query (the ids are
    // integers, written into the text); on SQLite as one query of several statements, each bound
    // the numbered arguments it names. One by one they cost a 1M-row import about 0.7 ms per
    // merge, mostly in round trips to SQLite's thread.
    if let Tx::Postgres(t) = tx {
        let script: String = MERGE_FOLLOW_SQL
            .iter()
            .map(|q| {
                let q = q
                    .replace("$1", &s.to_string())
                    .replace("$2", &o.to_string())
                    .replace("$3", &d.to_string());
                format!("{q};\n")
            })
            .collect();
        // Without arguments sqlx sends the text as one simple query, which may hold several
        // statements; they run inside the open transaction.
        sqlx::Executor::execute(&mut **t, script.as_str()).await?;
    } else {
        static SCRIPT: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| MERGE_FOLLOW_SQL.join(";\n"));
        with_tx!(tx, c => {
            sqlx::query(SCRIPT.as_str()).bind(s).bind(o).bind(d).execute(&mut *c).await?;
        });
    }
    with_tx!(tx, c => {
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

/// Profile updates of one batch, as few statements as possible: `UPDATE … FROM (VALUES …)` with one
/// row per contact (the planner already folded several updates of one contact into one).
async fn update_profiles(
    tx: &mut Tx,
    org: OrgId,
    updates: &[ProfileUpdate],
    now: Millis,
) -> Result<()> {
    // v.column1 = id, 2 name, 3 name_key, 4 email, 5 mobile, 6 landline, 7 company, 8 company_key,
    // 9 title, 10 department, 11 industry, 12 company_size, 13 province, 14 city, 15 custom JSON.
    let head = format!(
        "UPDATE{} contacts SET name = COALESCE(v.column2, name), name_key = COALESCE(v.column3, name_key), \
         email = COALESCE(v.column4, email), mobile = COALESCE(v.column5, mobile), landline = COALESCE(v.column6, landline), \
         company = COALESCE(v.column7, company), company_key = COALESCE(v.column8, company_key), \
         title = COALESCE(v.column9, title), department = COALESCE(v.column10, department), \
         industry = COALESCE(v.column11, industry), company_size = COALESCE(v.column12, company_size), \
         province = COALESCE(v.column13, province), city = COALESCE(v.column14, city), traits = {}, updated_at = ",
        or_fail(tx),
        json_merge(tx, "traits", "v.column15")
    );
    let changes = profile_changes(tx);
    if let Tx::Postgres(t) = tx {
        return postgres::update_profiles(t, org, &head, &changes, updates, now).await;
    }
    for chunk in statement_chunks(updates) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(head.as_str());
            qb.push_bind(now).push(" FROM (");
            qb.push_values(chunk, |mut b, u| {
                let p = &u.profile;
                b.push_bind(u.contact.0)
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
                    .push_bind(p.custom_json());
            });
            qb.push(") AS v WHERE contacts.org_id = ").push_bind(org.0).push(" AND contacts.id = v.column1").push(&changes);
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// The `AND (…)` that keeps a profile update to the contacts it changes. Most identify calls
/// repeat what is stored (tracking libraries send the traits on every page load); such a row is
/// read but not written, so it dirties no page of the table or its name and company indexes, and
/// `updated_at` keeps the time of the last real change.
fn profile_changes(tx: &Tx) -> String {
    const COLUMNS: [&str; 13] = [
        "name",
        "name_key",
        "email",
        "mobile",
        "landline",
        "company",
        "company_key",
        "title",
        "department",
        "industry",
        "company_size",
        "province",
        "city",
    ];
    let (differs, traits) = if tx.is_postgres() {
        (
            "IS DISTINCT FROM",
            "contacts.traits::jsonb IS DISTINCT FROM (contacts.traits::jsonb || v.column15::jsonb)",
        )
    } else {
        (
            "IS NOT",
            "contacts.traits IS NOT json_patch(contacts.traits, v.column15)",
        )
    };
    let mut any: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "contacts.{c} {differs} COALESCE(v.column{}, contacts.{c})",
                i + 2
            )
        })
        .collect();
    any.push(traits.to_owned());
    format!(" AND ({})", any.join(" OR "))
}

async fn link_tags(tx: &mut Tx, org: OrgId, tags: &[(ContactId, i64)], now: Millis) -> Result<()> {
    let head = format!(
        "INSERT{} INTO contact_tags (org_id, contact_id, tag_id, created_at) ",
        or_fail(tx)
    );
    for chunk in statement_chunks(tags) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(head.as_str());
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

/// An account as a link names it, with the columns taken from its traits.
struct AccountRow {
    external_id: Option<String>,
    name: Option<String>,
    name_key: Option<String>,
    domain: Option<String>,
    industry: Option<String>,
    size: Option<String>,
    province: Option<String>,
    city: Option<String>,
    traits: String,
}

impl AccountLink {
    fn account_name(&self) -> Option<String> {
        self.name
            .clone()
            .or_else(|| trait_text(&self.traits, &["name", "company"]))
    }

    /// The name key the account is found by, for a link without an external id.
    pub fn name_key(&self) -> Option<String> {
        match &self.external_id {
            Some(_) => None,
            None => self.account_name().as_deref().map(search_key),
        }
    }
}

impl AccountRow {
    fn of(a: &AccountLink) -> AccountRow {
        let name = a.account_name();
        AccountRow {
            external_id: a.external_id.clone(),
            name_key: name.as_deref().map(search_key),
            name,
            domain: trait_text(&a.traits, &["website", "domain"]),
            industry: trait_text(&a.traits, &["industry"]),
            size: trait_text(&a.traits, &["employees", "company_size", "size"]),
            province: trait_text(&a.traits, &["province", "state"]),
            city: trait_text(&a.traits, &["city"]),
            traits: Value::Object(a.traits.clone()).to_string(),
        }
    }
}

/// Links contacts to their accounts. By external id (a `group` call) the account is upserted; by
/// name (an import row) it is created only when no account of that name exists. A batch costs a
/// lookup of the names it mentions, one insert of the missing accounts and one update of the
/// contacts, however many rows name a company.
async fn resolve_accounts(
    tx: &mut Tx,
    org: OrgId,
    w: &IngestWrite,
    outcome: &mut IngestOutcome,
    now: Millis,
) -> Result<HashMap<ContactId, AccountOf>> {
    let links = &w.accounts;
    if links.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<AccountRow> = links.iter().map(AccountRow::of).collect();
    let mut by_external: HashMap<&str, i64> = HashMap::new();
    let mut by_name: HashMap<&str, i64> = HashMap::new();

    let merge = json_merge(tx, "accounts.traits", "excluded.traits");
    let upsert = format!(
        "INSERT INTO accounts (org_id, external_id, name, name_key, domain, industry, company_size, province, city, traits, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (org_id, external_id) DO UPDATE SET name = COALESCE(excluded.name, accounts.name), \
         name_key = COALESCE(excluded.name_key, accounts.name_key), domain = COALESCE(excluded.domain, accounts.domain), \
         industry = COALESCE(excluded.industry, accounts.industry), company_size = COALESCE(excluded.company_size, accounts.company_size), \
         province = COALESCE(excluded.province, accounts.province), city = COALESCE(excluded.city, accounts.city), \
         traits = {merge}, updated_at = excluded.updated_at RETURNING id"
    );
    for r in &rows {
        let Some(ext) = r.external_id.as_deref() else {
            continue;
        };
        let id: i64 = with_tx!(tx, c => sqlx::query_scalar(&upsert)
            .bind(org.0).bind(ext).bind(r.name.clone()).bind(r.name_key.clone()).bind(r.domain.clone())
            .bind(r.industry.clone()).bind(r.size.clone()).bind(r.province.clone()).bind(r.city.clone())
            .bind(r.traits.clone()).bind(now)
            .fetch_one(&mut *c).await?);
        by_external.insert(ext, id);
    }

    let mut wanted: Vec<&AccountRow> = Vec::new();
    for r in &rows {
        if let (None, Some(k)) = (&r.external_id, r.name_key.as_deref()) {
            if let Some(id) = w.known_accounts.get(k) {
                by_name.insert(k, *id);
            } else if by_name.insert(k, 0).is_none() {
                wanted.push(r);
            }
        }
    }
    for chunk in wanted.chunks(LOOKUP_CHUNK) {
        let found: Vec<(i64, String)> = with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("SELECT id, name_key FROM accounts WHERE org_id = ");
            qb.push_bind(org.0).push(" AND name_key IN (");
            let mut sep = qb.separated(", ");
            for r in chunk {
                sep.push_bind(r.name_key.clone());
            }
            qb.push(") ORDER BY id DESC");
            qb.build_query_as().fetch_all(&mut *c).await?
        });
        // Descending ids: the oldest account of a name is written last and wins.
        for (id, key) in found {
            if let Some(slot) = by_name.get_mut(key.as_str()) {
                *slot = id;
            }
        }
    }
    let missing: Vec<&AccountRow> = wanted
        .into_iter()
        .filter(|r| r.name_key.as_deref().and_then(|k| by_name.get(k)) == Some(&0))
        .collect();
    let insert = format!(
        "INSERT{} INTO accounts (org_id, name, name_key, domain, industry, company_size, province, city, traits, created_at, updated_at) ",
        or_fail(tx)
    );
    for chunk in statement_chunks(&missing) {
        let created: Vec<(i64, String)> = with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(insert.as_str());
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(org.0).push_bind(r.name.clone()).push_bind(r.name_key.clone()).push_bind(r.domain.clone())
                    .push_bind(r.industry.clone()).push_bind(r.size.clone()).push_bind(r.province.clone())
                    .push_bind(r.city.clone()).push_bind(r.traits.clone()).push_bind(now).push_bind(now);
            });
            qb.push(" RETURNING id, name_key");
            qb.build_query_as().fetch_all(&mut *c).await?
        });
        for (id, key) in created {
            if let Some(slot) = by_name.get_mut(key.as_str()) {
                *slot = id;
            }
        }
    }

    outcome.accounts_by_name.extend(
        by_name
            .iter()
            .filter(|(k, id)| **id != 0 && !w.known_accounts.contains_key(**k))
            .map(|(k, id)| ((*k).to_owned(), *id)),
    );
    // The last link of a contact wins.
    let mut contact_rows: HashMap<ContactId, AccountOf> = HashMap::new();
    for (link, r) in links.iter().zip(&rows) {
        let id = match (r.external_id.as_deref(), r.name_key.as_deref()) {
            (Some(ext), _) => by_external.get(ext).copied(),
            (None, Some(k)) => by_name.get(k).copied().filter(|id| *id != 0),
            (None, None) => None,
        };
        if let Some(id) = id {
            contact_rows.insert(link.contact, (id, r.name.clone(), r.name_key.clone()));
        }
    }
    Ok(contact_rows)
}

/// Links contacts to the accounts [`resolve_accounts`] found for them: one update for all.
async fn update_account_links(
    tx: &mut Tx,
    org: OrgId,
    links: HashMap<ContactId, AccountOf>,
) -> Result<()> {
    let mut updates: Vec<(ContactId, AccountOf)> = links.into_iter().collect();
    updates.sort_unstable_by_key(|(c, _)| *c);
    let head = format!(
        "UPDATE{} contacts SET account_id = v.column2, company = COALESCE(company, v.column3), \
         company_key = COALESCE(company_key, v.column4) FROM (",
        or_fail(tx)
    );
    for chunk in statement_chunks(&updates) {
        with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(head.as_str());
            qb.push_values(chunk, |mut b, (contact, (id, name, key))| {
                b.push_bind(contact.0).push_bind(*id).push_bind(name.clone()).push_bind(key.clone());
            });
            qb.push(") AS v WHERE contacts.org_id = ").push_bind(org.0).push(" AND contacts.id = v.column1");
            qb.build().execute(&mut *c).await?;
        });
    }
    Ok(())
}

pub(crate) async fn insert_events(tx: &mut Tx, org: OrgId, events: &[NewEvent]) -> Result<u64> {
    // A duplicate (same org, client timestamp and messageId) is skipped. `OR IGNORE` says so for
    // every constraint, which spares SQLite the statement journal it keeps for a multi-row
    // statement that might abort halfway (none of the other constraints can fail: every NOT NULL
    // column is always bound a value).
    if let Tx::Postgres(t) = tx {
        return postgres::insert_events(t, org, events).await;
    }
    let mut inserted = 0;
    for chunk in statement_chunks(events) {
        inserted += with_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT OR IGNORE INTO events (org_id, contact_id, message_id, client_at, kind, name, occurred_at, sent_at, received_at, \
                 source_id, channel, utm_source, utm_medium, utm_campaign, properties, context) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(org.0)
                    .push_bind(e.contact.0)
                    .push_bind(e.message_id.clone())
                    .push_bind(e.client_at)
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
            qb.build().execute(&mut *c).await?.rows_affected()
        });
    }
    Ok(inserted)
}

/// PostgreSQL's fast path for the bulk writes: each column bound as one array and the rows made
/// by `unnest`, so a batch of any size is one statement prepared once, instead of thousands of
/// parameters that the server must parse per statement.
mod postgres {
    use sqlx::PgConnection;

    use std::collections::HashMap;

    use super::{
        company_of, search_key, AccountOf, NewContact, NewEvent, NewIdentity, ProfileFields,
        ProfileUpdate,
    };
    use crate::error::Result;
    use crate::Millis;
    use hatchery_domain::ContactId;
    use hatchery_domain::OrgId;

    pub(super) async fn insert_contacts(
        c: &mut PgConnection,
        org: OrgId,
        contacts: &[NewContact],
        accounts: &HashMap<ContactId, AccountOf>,
    ) -> Result<()> {
        if contacts.is_empty() {
            return Ok(());
        }
        let col = |f: &dyn Fn(&NewContact) -> Option<String>| -> Vec<Option<String>> {
            contacts.iter().map(f).collect()
        };
        sqlx::query(
            "INSERT INTO contacts (id, org_id, name, name_key, email, mobile, landline, company, company_key, \
             title, department, industry, company_size, province, city, source, traits, created_at, updated_at, account_id) \
             SELECT u.id, $1, u.name, u.name_key, u.email, u.mobile, u.landline, u.company, u.company_key, u.title, \
             u.department, u.industry, u.company_size, u.province, u.city, u.source, u.traits, u.created_at, u.created_at, \
             u.account_id \
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
             $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bigint[], \
             $19::bigint[]) \
             AS u(id, name, name_key, email, mobile, landline, company, company_key, title, department, industry, \
             company_size, province, city, source, traits, created_at, account_id)",
        )
        .bind(org.0)
        .bind(contacts.iter().map(|n| n.temp_id.0).collect::<Vec<i64>>())
        .bind(col(&|n| n.profile.name.clone()))
        .bind(col(&|n| n.profile.name.as_deref().map(search_key)))
        .bind(col(&|n| n.profile.email.clone()))
        .bind(col(&|n| n.profile.mobile.clone()))
        .bind(col(&|n| n.profile.landline.clone()))
        .bind(col(&|n| company_of(n, accounts.get(&n.temp_id)).0))
        .bind(col(&|n| company_of(n, accounts.get(&n.temp_id)).1))
        .bind(col(&|n| n.profile.title.clone()))
        .bind(col(&|n| n.profile.department.clone()))
        .bind(col(&|n| n.profile.industry.clone()))
        .bind(col(&|n| n.profile.company_size.clone()))
        .bind(col(&|n| n.profile.province.clone()))
        .bind(col(&|n| n.profile.city.clone()))
        .bind(col(&|n| n.source.clone()))
        .bind(contacts.iter().map(|n| n.profile.custom_json()).collect::<Vec<String>>())
        .bind(contacts.iter().map(|n| n.created_at).collect::<Vec<i64>>())
        .bind(
            contacts
                .iter()
                .map(|n| accounts.get(&n.temp_id).map(|a| a.0))
                .collect::<Vec<Option<i64>>>(),
        )
        .execute(c)
        .await?;
        Ok(())
    }

    /// `set` is the `UPDATE contacts SET … updated_at = ` head shared with SQLite, which reads the
    /// new values from `v.column1` … `v.column15`.
    pub(super) async fn update_profiles(
        c: &mut PgConnection,
        org: OrgId,
        set: &str,
        changes: &str,
        updates: &[ProfileUpdate],
        now: Millis,
    ) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let col = |f: &dyn Fn(&ProfileFields) -> Option<String>| -> Vec<Option<String>> {
            updates.iter().map(|u| f(&u.profile)).collect()
        };
        let sql = format!(
            "{set}$2 FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
             $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[]) \
             AS v(column1, column2, column3, column4, column5, column6, column7, column8, column9, column10, column11, \
             column12, column13, column14, column15) WHERE contacts.org_id = $1 AND contacts.id = v.column1{changes}"
        );
        sqlx::query(&sql)
            .bind(org.0)
            .bind(now)
            .bind(updates.iter().map(|u| u.contact.0).collect::<Vec<i64>>())
            .bind(col(&|p| p.name.clone()))
            .bind(col(&|p| p.name.as_deref().map(search_key)))
            .bind(col(&|p| p.email.clone()))
            .bind(col(&|p| p.mobile.clone()))
            .bind(col(&|p| p.landline.clone()))
            .bind(col(&|p| p.company.clone()))
            .bind(col(&|p| p.company.as_deref().map(search_key)))
            .bind(col(&|p| p.title.clone()))
            .bind(col(&|p| p.department.clone()))
            .bind(col(&|p| p.industry.clone()))
            .bind(col(&|p| p.company_size.clone()))
            .bind(col(&|p| p.province.clone()))
            .bind(col(&|p| p.city.clone()))
            .bind(
                updates
                    .iter()
                    .map(|u| u.profile.custom_json())
                    .collect::<Vec<String>>(),
            )
            .execute(c)
            .await?;
        Ok(())
    }

    pub(super) async fn insert_identities(
        c: &mut PgConnection,
        org: OrgId,
        ids: &[NewIdentity],
        now: Millis,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO identities (org_id, kind, value, contact_id, origin, created_at) \
             SELECT $1, u.kind, u.value, u.contact_id, u.origin, $2 \
             FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[]) AS u(kind, value, contact_id, origin)",
        )
        .bind(org.0)
        .bind(now)
        .bind(ids.iter().map(|i| i.identifier.kind.as_str()).collect::<Vec<&str>>())
        .bind(ids.iter().map(|i| i.identifier.value.as_str()).collect::<Vec<&str>>())
        .bind(ids.iter().map(|i| i.contact.0).collect::<Vec<i64>>())
        .bind(ids.iter().map(|i| i.origin.as_str()).collect::<Vec<&str>>())
        .execute(c)
        .await?;
        Ok(())
    }

    pub(super) async fn insert_events(
        c: &mut PgConnection,
        org: OrgId,
        events: &[NewEvent],
    ) -> Result<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        let text = |f: &dyn Fn(&NewEvent) -> Option<&str>| -> Vec<Option<&str>> {
            events.iter().map(f).collect()
        };
        let done = sqlx::query(
            "INSERT INTO events (org_id, contact_id, message_id, client_at, kind, name, occurred_at, sent_at, received_at, \
             source_id, channel, utm_source, utm_medium, utm_campaign, properties, context) \
             SELECT $1, u.* FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], \
             $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) AS u \
             ON CONFLICT (org_id, client_at, message_id) DO NOTHING",
        )
        .bind(org.0)
        .bind(events.iter().map(|e| e.contact.0).collect::<Vec<i64>>())
        .bind(events.iter().map(|e| e.message_id.as_str()).collect::<Vec<&str>>())
        .bind(events.iter().map(|e| e.client_at).collect::<Vec<i64>>())
        .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<&str>>())
        .bind(text(&|e| e.name.as_deref()))
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<i64>>())
        .bind(events.iter().map(|e| e.sent_at).collect::<Vec<Option<i64>>>())
        .bind(events.iter().map(|e| e.received_at).collect::<Vec<i64>>())
        .bind(events.iter().map(|e| e.source_id).collect::<Vec<Option<i64>>>())
        .bind(text(&|e| e.channel.as_deref()))
        .bind(text(&|e| e.utm_source.as_deref()))
        .bind(text(&|e| e.utm_medium.as_deref()))
        .bind(text(&|e| e.utm_campaign.as_deref()))
        .bind(events.iter().map(|e| e.properties.as_str()).collect::<Vec<&str>>())
        .bind(events.iter().map(|e| e.context.as_str()).collect::<Vec<&str>>())
        .execute(c)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::{statement_chunks, IngestWrite, NewContact, NewIdentity, ProfileFields};
    use crate::{Store, StoreOptions};
    use hatchery_domain::{ContactId, Identifier, IdentityKind};

    const NOW: i64 = 1_795_000_000_000;

    fn person(id: i64, email: &str) -> (NewContact, NewIdentity) {
        let contact = NewContact {
            temp_id: ContactId(id),
            profile: ProfileFields {
                name: Some(format!("P{id}")),
                ..ProfileFields::default()
            },
            source: None,
            created_at: NOW,
        };
        let identity = NewIdentity {
            identifier: Identifier::new(IdentityKind::Email, email),
            contact: ContactId(id),
            origin: "api".into(),
        };
        (contact, identity)
    }

    /// The batch's statements stop at a failing row without undoing the rows before it (`OR FAIL`
    /// on SQLite); the transaction must still leave nothing of the batch.
    #[tokio::test]
    async fn a_batch_failing_at_its_last_row_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("t.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        let org = store.create_org("Org", NOW).await.unwrap().id;
        let (c, i) = person(-1, "zz@example.com");
        let first = IngestWrite {
            contacts: vec![c],
            identities: vec![i],
            ..IngestWrite::default()
        };
        store.write_ingest(org, first, NOW).await.unwrap();

        // 600 new people; the identities are written in value order, so the one that clashes
        // with the stored identifier comes last, after a full statement of 512 rows.
        let mut w = IngestWrite::default();
        for n in 1..=600_i64 {
            let email = if n == 600 {
                "zz@example.com".to_owned()
            } else {
                format!("a{n:04}@example.com")
            };
            let (c, i) = person(-n, &email);
            w.contacts.push(c);
            w.identities.push(i);
        }
        assert!(store.write_ingest(org, w, NOW).await.is_err());
        assert_eq!(store.count_contacts(org).await.unwrap(), 1);
        let early = Identifier::new(IdentityKind::Email, "a0001@example.com");
        assert_eq!(store.contact_by_identity(org, &early).await.unwrap(), None);
        let kept = Identifier::new(IdentityKind::Email, "zz@example.com");
        assert!(store
            .contact_by_identity(org, &kept)
            .await
            .unwrap()
            .is_some());
    }

    #[test]
    fn statements_come_in_four_sizes_and_cover_every_row() {
        let rows: Vec<u32> = (0..1_237).collect();
        let chunks: Vec<&[u32]> = statement_chunks(&rows).collect();
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [512, 512, 64, 64, 64, 8, 8, 1, 1, 1, 1, 1]);
        assert_eq!(chunks.concat(), rows);
        assert_eq!(statement_chunks::<u32>(&[]).count(), 0);
    }
}
