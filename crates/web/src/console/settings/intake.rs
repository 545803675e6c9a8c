//! The intake log (docs/ingestion.md, "The intake log"): how many acknowledged messages wait to be
//! applied, and the tracking requests that could not be applied. An administrator applies such a
//! request again (once the cause is fixed) or discards it after a confirmation page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::Permission;
use hatchery_engine::IngestError;

use super::super::page::{render, Chrome, PageError};
use super::super::session::{SignedForm, Viewer};
use super::keys::{parse_id, ConfirmPage, DoneQuery, Empty};
use super::{notice, require, tabs, Tab};
use crate::AppState;

type PageResult = Result<Response, PageError>;

struct Row {
    seq: u64,
    received: String,
    source: String,
    endpoint: &'static str,
    messages: usize,
    kib: usize,
    reason: String,
}

#[derive(Template)]
#[template(path = "settings_intake.html")]
struct IntakePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    enabled: bool,
    backlog: u64,
    rows: Vec<Row>,
}

fn page_error(e: IngestError, v: &Viewer) -> PageError {
    match e {
        IngestError::Store(e) => PageError::from_store(e, v.lang),
        other => {
            tracing::error!(org.id = v.org().0, error = %other, "the intake log could not be read");
            PageError::Unavailable(v.lang)
        }
    }
}

pub async fn intake(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let local = v.local();
    let set_aside = s
        .ingestor
        .set_aside(v.org())
        .map_err(|e| page_error(e, &v))?;
    let known = [
        ("retried", "settings.intake_retried"),
        ("discarded", "settings.intake_discarded"),
    ];
    let errors = match q.done.as_deref() {
        Some("unreadable") => vec!["settings.intake_unreadable"],
        _ => Vec::new(),
    };
    let page = IntakePage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/intake"),
        tabs: tabs("intake"),
        csrf: v.session.csrf_token.clone(),
        notice: notice(q.done.as_deref(), &known),
        errors,
        enabled: set_aside.is_some(),
        backlog: s.ingestor.backlog(),
        rows: set_aside
            .unwrap_or_default()
            .into_iter()
            .map(|r| Row {
                seq: r.seq,
                received: local.datetime(r.received_at),
                source: r.source_name,
                endpoint: r.kind.map_or("batch", |k| k.as_str()),
                messages: r.messages,
                kib: r.bytes.div_ceil(1024),
                reason: r.reason,
            })
            .collect(),
    };
    Ok(render(&page)?.into_response())
}

pub async fn retry(
    State(s): State<AppState>,
    Path(seq): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let seq: u64 = parse_id(&seq, v.lang)?;
    match s.ingestor.retry_set_aside(v.org(), seq).await {
        Ok(Some(_)) => {
            tracing::info!(
                org.id = v.org().0,
                user.id = v.user.id.0,
                seq,
                "a set-aside tracking request was accepted again in the console"
            );
            Ok(Redirect::to("/settings/intake?done=retried").into_response())
        }
        Ok(None) => Err(PageError::NotFound(v.lang)),
        Err(IngestError::Invalid { .. }) => {
            Ok(Redirect::to("/settings/intake?done=unreadable").into_response())
        }
        Err(e) => Err(page_error(e, &v)),
    }
}

pub async fn discard_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(seq): Path<String>,
) -> PageResult {
    require(&v, Permission::SettingsManage)?;
    let seq: u64 = parse_id(&seq, v.lang)?;
    let r = s
        .ingestor
        .set_aside(v.org())
        .map_err(|e| page_error(e, &v))?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or(PageError::NotFound(v.lang))?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/intake"),
        tabs: tabs("intake"),
        csrf: v.session.csrf_token.clone(),
        title: "settings.intake_discard",
        question: "settings.intake_discard_question",
        subject: format!(
            "#{} · {} · {} · {}",
            r.seq,
            v.local().datetime(r.received_at),
            r.source_name,
            r.messages
        ),
        action: format!("/settings/intake/{seq}/discard"),
        button: "settings.intake_discard_button",
        back: "/settings/intake",
    };
    Ok(render(&page)?.into_response())
}

pub async fn discard(
    State(s): State<AppState>,
    Path(seq): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let seq: u64 = parse_id(&seq, v.lang)?;
    if !s
        .ingestor
        .discard_set_aside(v.org(), seq)
        .await
        .map_err(|e| page_error(e, &v))?
    {
        return Err(PageError::NotFound(v.lang));
    }
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        seq,
        "a set-aside tracking request was discarded in the console"
    );
    Ok(Redirect::to("/settings/intake?done=discarded").into_response())
}
