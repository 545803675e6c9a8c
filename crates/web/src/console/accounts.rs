//! The account list (search by the beginning of a name or domain, keyset paging) and the account
//! page: its fields, the contacts of it the user may see, and their combined timeline.
//!
//! Accounts themselves are not placed in business units; what the pool policy hides are their
//! contacts. A user limited to some units sees the accounts that have a contact they may see, and
//! on an account page only those contacts and their events.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use hatchery_domain::ids::AccountId;
use hatchery_domain::ContactId;
use hatchery_store::contacts::ContactFilter;
use hatchery_store::events::TimelineCursor;
use serde::Deserialize;
use serde_json::Value;

use super::contacts::visibility;
use super::page::{render, Chrome, PageError};
use super::session::Viewer;
use super::urlencode;
use crate::AppState;

const PAGE_SIZE: u32 = 50;
const CONTACTS_PAGE: u32 = 50;
const TIMELINE_PAGE: u32 = 50;
/// Longest search term accepted, as on the contact list.
const MAX_QUERY: usize = 100;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
}

struct Row {
    href: String,
    name: String,
    domain: String,
    industry: String,
    region: String,
    contacts: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    rows: Vec<Row>,
    /// Contact counts are shown only to users who see every contact.
    counts: bool,
    next_href: Option<String>,
    first_href: Option<String>,
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn region(province: Option<&String>, city: Option<&String>) -> String {
    [province, city]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn list(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let visible_to = visibility(&v)?;
    let search = nonempty(q.q.as_deref());
    if search
        .as_ref()
        .is_some_and(|x| x.chars().count() > MAX_QUERY)
    {
        return Err(PageError::BadRequest(
            lang,
            format!("{}: q ≤ {MAX_QUERY}", lang.t("contacts.search")),
        ));
    }
    let before = match nonempty(q.cursor.as_deref()) {
        Some(c) => Some(
            c.parse::<AccountId>()
                .map_err(|e| PageError::BadRequest(lang, e.to_string()))?,
        ),
        None => None,
    };
    let (accounts, more) = s
        .store
        .list_visible_accounts(
            v.org(),
            search.as_deref(),
            before,
            PAGE_SIZE,
            visible_to.as_ref(),
        )
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let base = match &search {
        Some(x) => format!("/accounts?q={}&", urlencode(x)),
        None => "/accounts?".to_owned(),
    };
    let next_href = more
        .then(|| accounts.last().map(|a| format!("{base}cursor={}", a.id)))
        .flatten();
    let here = base.trim_end_matches(['&', '?']).to_owned();
    let first_href = before.map(|_| here.clone());
    let rows = accounts
        .into_iter()
        .map(|a| Row {
            href: format!("/accounts/{}", a.id),
            name: a
                .name
                .clone()
                .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
            domain: a.domain.clone().unwrap_or_default(),
            industry: a.industry.clone().unwrap_or_default(),
            region: region(a.province.as_ref(), a.city.as_ref()),
            contacts: lang.number(a.contacts),
        })
        .collect();
    let page = ListPage {
        chrome: Chrome::signed_in(&v, "accounts", &here),
        q: search.unwrap_or_default(),
        rows,
        counts: visible_to.is_none(),
        next_href,
        first_href,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct ShowQuery {
    /// The contact list's page: contacts older than this id.
    contacts: Option<String>,
    /// The timeline's page: events older than this position.
    events: Option<String>,
}

struct Field {
    label: &'static str,
    value: String,
}

struct ContactRow {
    href: String,
    name: String,
    title: String,
    email: String,
    mobile: String,
}

struct EventRow {
    when: String,
    kind: String,
    name: String,
    contact_href: String,
    contact: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    name: String,
    fields: Vec<Field>,
    traits: Vec<(String, String)>,
    contacts: Vec<ContactRow>,
    more_contacts_href: Option<String>,
    first_contacts_href: Option<String>,
    events: Vec<EventRow>,
    older_href: Option<String>,
    newest_href: Option<String>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn show(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let local = v.local();
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    let visible_to = visibility(&v)?;
    let id: AccountId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| PageError::BadRequest(lang, e.to_string()))?;
    let account = s.store.get_account(org, id).await.map_err(store_err)?;
    let contacts_before = match nonempty(q.contacts.as_deref()) {
        Some(c) => Some(
            c.parse::<ContactId>()
                .map_err(|e| PageError::BadRequest(lang, e.to_string()))?,
        ),
        None => None,
    };
    let events_before = match nonempty(q.events.as_deref()) {
        Some(c) => Some(TimelineCursor::decode(&c).ok_or_else(|| {
            PageError::BadRequest(lang, lang.t("error.bad_request.title").to_owned())
        })?),
        None => None,
    };
    let (contacts, more) = s
        .store
        .list_contacts(
            org,
            &ContactFilter {
                account_id: Some(account.id),
                before: contacts_before,
                limit: CONTACTS_PAGE,
                visible_to: visible_to.clone(),
                ..ContactFilter::default()
            },
        )
        .await
        .map_err(store_err)?;
    if visible_to.is_some() && contacts.is_empty() && contacts_before.is_none() {
        // Nothing of the account is the user's to see: as on the list, it is not there for them.
        tracing::info!(
            org.id = org.0,
            user.id = v.user.id.0,
            account.id = account.id.0,
            "account refused: no contact in the user's business units"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let (events, next) = s
        .store
        .account_timeline(
            org,
            account.id,
            visible_to.as_ref(),
            events_before,
            TIMELINE_PAGE,
        )
        .await
        .map_err(store_err)?;
    let mut names = std::collections::HashMap::new();
    for c in &contacts {
        names.insert(c.id, c.name.clone());
    }
    let mut events_rows = Vec::with_capacity(events.len());
    for e in events {
        // Contacts beyond this page of the list are looked up once each.
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(e.contact_id) {
            let name = match s.store.get_contact(org, e.contact_id).await {
                Ok(c) => c.name,
                Err(_) => None,
            };
            slot.insert(name);
        }
        let contact = names
            .get(&e.contact_id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned());
        let mut detail = vec![];
        for x in [&e.channel, &e.utm_source, &e.utm_campaign]
            .into_iter()
            .flatten()
        {
            detail.push(x.clone());
        }
        if let Some(url) = e.properties.get("url").and_then(Value::as_str) {
            detail.push(url.to_owned());
        }
        events_rows.push(EventRow {
            when: local.datetime(e.occurred_at),
            kind: lang.event_kind(&e.kind),
            name: e.name.unwrap_or_default(),
            contact_href: format!("/contacts/{}", e.contact_id),
            contact,
            detail: detail.join(" · "),
        });
    }
    let base = format!("/accounts/{}", account.id);
    let field = |label, value: &Option<String>| Field {
        label,
        value: value.clone().unwrap_or_default(),
    };
    let mut fields = vec![
        field("contact.domain", &account.domain),
        field("contact.industry", &account.industry),
        field("contact.company_size", &account.company_size),
        Field {
            label: "contact.region",
            value: region(account.province.as_ref(), account.city.as_ref()),
        },
        field("accounts.external_id", &account.external_id),
        Field {
            label: "contacts.created",
            value: local.datetime(account.created_at),
        },
        Field {
            label: "contact.updated",
            value: local.datetime(account.updated_at),
        },
    ];
    if visible_to.is_none() {
        fields.push(Field {
            label: "accounts.contacts",
            value: lang.number(account.contacts),
        });
    }
    let page = AccountPage {
        chrome: Chrome::signed_in(&v, "accounts", &base),
        name: account
            .name
            .clone()
            .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
        fields,
        traits: account
            .traits
            .iter()
            .map(|(k, val)| (k.clone(), value_text(val)))
            .collect(),
        more_contacts_href: more
            .then(|| contacts.last().map(|c| format!("{base}?contacts={}", c.id)))
            .flatten(),
        first_contacts_href: contacts_before.map(|_| base.clone()),
        contacts: contacts
            .into_iter()
            .map(|c| ContactRow {
                href: format!("/contacts/{}", c.id),
                name: c
                    .name
                    .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
                title: c.title.unwrap_or_default(),
                email: c.email.unwrap_or_default(),
                mobile: c.mobile.unwrap_or_default(),
            })
            .collect(),
        events: events_rows,
        older_href: next.map(|c| format!("{base}?events={}", c.encode())),
        newest_href: events_before.map(|_| base.clone()),
    };
    Ok(render(&page)?.into_response())
}
