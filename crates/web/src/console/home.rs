//! The home page: the size of the pool and what the user may do in it.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hatchery_domain::access::ContactScope;
use hatchery_domain::Permission;
use hatchery_store::contacts::VisibleTo;

use super::page::{render, Chrome, PageError};
use super::session::Viewer;
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    user_name: String,
    pool_size: String,
    /// Shown when the user sees less than the whole pool.
    visible: Option<String>,
    events: String,
    roles: Vec<String>,
    policy: &'static str,
}

pub async fn home(State(s): State<AppState>, v: Viewer) -> Result<Response, PageError> {
    let lang = v.lang;
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    let pool = s.store.count_contacts(org).await.map_err(store_err)?;
    let events = s.store.count_events(org).await.map_err(store_err)?;
    let visible = match v.access.contact_scope(Permission::ContactsRead) {
        ContactScope::All => None,
        ContactScope::Nothing => Some(0),
        ContactScope::Limited { bus, owner } => Some(
            s.store
                .count_visible_contacts(org, &VisibleTo { bus, owner })
                .await
                .map_err(store_err)?,
        ),
    };
    let units = s.store.list_business_units(org).await.map_err(store_err)?;
    let roles = v
        .access
        .grants
        .iter()
        .map(|g| {
            let scope = match g.bu {
                None => lang.t("home.org_wide").to_owned(),
                Some(bu) => units
                    .iter()
                    .find(|u| u.id == bu)
                    .map_or_else(|| bu.to_string(), |u| u.name.clone()),
            };
            format!("{} · {scope}", lang.role(g.role))
        })
        .collect();
    let page = HomePage {
        chrome: Chrome::signed_in(&v, "home", "/"),
        user_name: v.user.name.clone(),
        pool_size: lang.number(pool),
        visible: visible.map(|n| lang.number(n)),
        events: lang.number(events),
        roles,
        policy: match v.access.policy {
            hatchery_domain::PoolPolicy::Shared => "policy.shared",
            hatchery_domain::PoolPolicy::BuIsolated => "policy.bu_isolated",
        },
    };
    Ok(render(&page)?.into_response())
}
