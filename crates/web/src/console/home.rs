//! The home page: the size of the pool and what the user may do in it.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hatchery_domain::access::ContactScope;
use hatchery_domain::Permission;
use hatchery_store::contacts::VisibleTo;

use super::i18n::Lang;
use super::page::{render, Chrome, PageError};
use super::session::Viewer;
use crate::AppState;

/// One bar of a server-drawn SVG chart (coordinates in the chart's own units).
struct Bar {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    /// What a pointer over the bar (or a screen reader) is told.
    label: String,
}

/// A bar chart of one count per day, drawn on the server: no script, no external file.
struct Chart {
    bars: Vec<Bar>,
    max: String,
    first: String,
    last: String,
    total: String,
}

/// Days the charts cover.
const CHART_DAYS: u32 = 30;
const CHART_W: i64 = 600;
const CHART_H: i64 = 100;

fn short_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |d| d.format("%m-%d").to_string())
}

fn chart(lang: Lang, days: &[(i64, i64)]) -> Chart {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let n = days.len().max(1) as i64;
    let slot = CHART_W / n;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, v))| {
            let h = (v * CHART_H + max - 1) / max;
            Bar {
                x: i as i64 * slot + 1,
                y: CHART_H - h,
                w: (slot - 2).max(1),
                h,
                label: format!("{} · {}", short_day(*day), lang.number(*v)),
            }
        })
        .collect();
    Chart {
        bars,
        max: lang.number(max),
        first: days.first().map_or_else(String::new, |d| short_day(d.0)),
        last: days.last().map_or_else(String::new, |d| short_day(d.0)),
        total: lang.number(days.iter().map(|d| d.1).sum()),
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    /// (caption key, element id, chart)
    charts: Vec<(&'static str, &'static str, Chart)>,
    /// (source, new contacts in the chart's days)
    sources: Vec<(String, String)>,
    user_name: String,
    pool_size: String,
    /// Shown when the user sees less than the whole pool.
    visible: Option<String>,
    events: String,
    roles: Vec<String>,
    policy: &'static str,
    /// Says that the charts count UTC days, for a user whose time zone is not UTC: the rollup
    /// they read (`daily_counts`) is cut at UTC midnight and cannot be re-cut per user.
    days_note: Option<String>,
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
    let now = s.now();
    let daily = s
        .store
        .daily_counts(org, CHART_DAYS, now)
        .await
        .map_err(store_err)?;
    let since = daily.first().map_or(now, |d| d.day);
    let sources = s
        .store
        .top_sources(org, since, 5)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|(src, n)| {
            let src = if src.is_empty() {
                lang.t("home.no_source").to_owned()
            } else {
                src
            };
            (src, lang.number(n))
        })
        .collect();
    let new_contacts = chart(
        lang,
        &daily
            .iter()
            .map(|d| (d.day, d.contacts))
            .collect::<Vec<_>>(),
    );
    let new_events = chart(
        lang,
        &daily.iter().map(|d| (d.day, d.events)).collect::<Vec<_>>(),
    );
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
        charts: vec![
            ("home.new_contacts", "chart-contacts", new_contacts),
            ("home.new_events", "chart-events", new_events),
        ],
        sources,
        user_name: v.user.name.clone(),
        pool_size: lang.number(pool),
        visible: visible.map(|n| lang.number(n)),
        events: lang.number(events),
        roles,
        policy: match v.access.policy {
            hatchery_domain::PoolPolicy::Shared => "policy.shared",
            hatchery_domain::PoolPolicy::BuIsolated => "policy.bu_isolated",
        },
        days_note: Some(v.local().tz)
            .filter(|tz| *tz != chrono_tz::Tz::UTC)
            .map(|tz| lang.t("home.days_note").replace("{zone}", tz.name())),
    };
    Ok(render(&page)?.into_response())
}
