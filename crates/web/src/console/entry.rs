//! Getting in and out: first-run setup, sign-in with throttling, sign-out, password change and the
//! language switch.

use std::collections::HashMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::normalize::Email;
use hatchery_domain::{Grant, Role};
use hatchery_store::users::NewUser;
use hatchery_store::StoreError;
use serde::Deserialize;

use super::i18n::{offered_time_zone, Lang, Local, TIME_ZONES};
use super::page::{render, Chrome, PageError};
use super::session::{
    anonymous_form_token, set_cookie, viewer, AnonymousForm, SignedForm, Viewer, LANG_COOKIE,
    SESSION_COOKIE, SESSION_LIFETIME_MS,
};
use super::{console_org, password, safe_next};
use crate::AppState;

/// Failed sign-ins per email and client address before further attempts are refused.
pub const MAX_FAILURES: i64 = 5;
/// The window those failures are counted in.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    csrf: String,
    name: String,
    email: String,
    errors: Vec<&'static str>,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

fn with_cookie(mut r: Response, c: Option<header::HeaderValue>) -> Response {
    if let Some(c) = c {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn users_exist(state: &AppState, lang: Lang) -> Result<bool, PageError> {
    let org = console_org(state)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    Ok(state
        .store
        .count_users(org)
        .await
        .map_err(|e| PageError::from_store(e, lang))?
        > 0)
}

/// The first-run page; gone (404) once the organisation has a user.
pub async fn setup_page(State(s): State<AppState>, headers: HeaderMap) -> PageResult {
    let lang = Lang::of_request(&headers);
    if users_exist(&s, lang).await? {
        return Err(PageError::NotFound(lang));
    }
    let (csrf, cookie) = anonymous_form_token(&headers);
    let page = SetupPage {
        chrome: Chrome::anonymous(lang, "/setup"),
        csrf,
        name: String::new(),
        email: String::new(),
        errors: vec![],
    };
    Ok(with_cookie(render(&page)?.into_response(), cookie))
}

/// Starts a session for a user and sends the browser on.
async fn start_session(
    s: &AppState,
    headers: &HeaderMap,
    org: hatchery_domain::OrgId,
    user: hatchery_domain::ids::UserId,
    to: &str,
) -> PageResult {
    let lang = Lang::of_request(headers);
    let (token, _) = s
        .store
        .create_session(org, user, s.now(), SESSION_LIFETIME_MS)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            headers,
            SESSION_COOKIE,
            &token,
            SESSION_LIFETIME_MS / 1000,
            true,
        ),
    );
    Ok(r)
}

pub async fn setup(State(s): State<AppState>, form: AnonymousForm<SetupForm>) -> PageResult {
    let lang = form.lang;
    let f = form.fields;
    let org = console_org(&s)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    if users_exist(&s, lang).await? {
        return Err(PageError::NotFound(lang));
    }
    let mut errors = vec![];
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push("error.name_required");
    }
    let email = Email::parse(&f.email).ok();
    if email.is_none() {
        errors.push("error.email_invalid");
    }
    if !password::acceptable(&f.password) {
        errors.push("error.password_length");
    } else if f.password != f.password_confirm {
        errors.push("error.password_mismatch");
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let (csrf, _) = anonymous_form_token(&form.headers);
        let page = SetupPage {
            chrome: Chrome::anonymous(lang, "/setup"),
            csrf,
            name: f.name,
            email: f.email,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let hash = password::hash(f.password).await;
    let user = s
        .store
        .create_user(
            org,
            &NewUser {
                email: email.as_str(),
                name: &name,
                password_hash: &hash,
                locale: Some(lang.tag()),
            },
            &[Grant::org_wide(Role::Admin)],
            true,
            s.now(),
        )
        .await;
    let user = match user {
        Ok(u) => u,
        // Someone else finished setup first.
        Err(StoreError::Conflict(_)) => return Err(PageError::NotFound(lang)),
        Err(e) => return Err(PageError::from_store(e, lang)),
    };
    tracing::info!(
        org.id = org.0,
        user.id = user.id.0,
        "first administrator created"
    );
    start_session(&s, &form.headers, org, user.id, "/").await
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    email: String,
    next: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

pub async fn sign_in_page(
    State(s): State<AppState>,
    Query(q): Query<SignInQuery>,
    req: Request,
) -> PageResult {
    let (parts, _) = req.into_parts();
    let lang = Lang::of_request(&parts.headers);
    let next = safe_next(q.next.as_deref());
    if viewer(&parts, &s).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    if !users_exist(&s, lang).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    let (csrf, cookie) = anonymous_form_token(&parts.headers);
    let page = SignInPage {
        chrome: Chrome::anonymous(lang, "/sign-in"),
        csrf,
        email: String::new(),
        next,
        error: None,
        notice: q.signed_out.map(|_| "sign_in.signed_out"),
    };
    Ok(with_cookie(render(&page)?.into_response(), cookie))
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn sign_in(State(s): State<AppState>, req: Request) -> PageResult {
    // The client address comes from the connection (never from a header a client can forge).
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let form = AnonymousForm::<SignInForm>::from_request(req, &s).await?;
    let lang = form.lang;
    let f = form.fields;
    let org = console_org(&s)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    let email = f.email.trim().to_lowercase();
    let key = format!("{email}|{peer}");
    let now = s.now();
    let store_err = |e| PageError::from_store(e, lang);
    let failures = s
        .store
        .login_failures_since(org, &key, now - FAILURE_WINDOW_MS)
        .await
        .map_err(store_err)?;
    if failures >= MAX_FAILURES {
        tracing::warn!(org.id = org.0, "sign-in refused: too many failures");
        return Err(PageError::Throttled(lang));
    }
    let found = s
        .store
        .user_credentials(org, &email)
        .await
        .map_err(store_err)?;
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), Some(h)),
        None => (None, None),
    };
    let ok = password::verify(f.password, hash).await;
    let next = safe_next(f.next.as_deref());
    match user.filter(|_| ok) {
        // The password is right but the account is disabled: say so (only to someone who knows
        // the password, so it tells nothing about which emails have accounts).
        Some(user) if user.disabled_at.is_some() => {
            tracing::info!(
                org.id = org.0,
                user.id = user.id.0,
                "sign-in refused: user disabled"
            );
            let (csrf, _) = anonymous_form_token(&form.headers);
            let page = SignInPage {
                chrome: Chrome::anonymous(lang, "/sign-in"),
                csrf,
                email: f.email,
                next,
                error: Some("sign_in.disabled"),
                notice: None,
            };
            Ok((StatusCode::FORBIDDEN, render(&page)?).into_response())
        }
        Some(user) => {
            s.store
                .clear_login_failures(org, &key)
                .await
                .map_err(store_err)?;
            tracing::info!(org.id = org.0, user.id = user.id.0, "signed in");
            start_session(&s, &form.headers, org, user.id, &next).await
        }
        None => {
            s.store
                .record_login_failure(org, &key, now, FAILURE_WINDOW_MS)
                .await
                .map_err(store_err)?;
            tracing::info!(org.id = org.0, "sign-in failed");
            let (csrf, _) = anonymous_form_token(&form.headers);
            let page = SignInPage {
                chrome: Chrome::anonymous(lang, "/sign-in"),
                csrf,
                email: f.email,
                next,
                error: Some("sign_in.failed"),
                notice: None,
            };
            Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response())
        }
    }
}

pub async fn sign_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: SignedForm<HashMap<String, String>>,
) -> PageResult {
    let v = form.viewer;
    s.store
        .delete_session(&v.token)
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(org.id = v.org().0, user.id = v.user.id.0, "signed out");
    let mut r = Redirect::to("/sign-in?signed_out=1").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0, true),
    );
    Ok(r)
}

/// One time zone of the choice on My account.
struct ZoneChoice {
    name: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    csrf: String,
    errors: Vec<&'static str>,
    done: bool,
    /// The time-zone form: its choices, its problem and whether it was just saved.
    zones: Vec<ZoneChoice>,
    zone_error: Option<&'static str>,
    zone_saved: bool,
}

impl PasswordPage {
    fn new(s: &AppState, v: &Viewer) -> PasswordPage {
        let local = v.local();
        let now = s.now();
        PasswordPage {
            chrome: Chrome::signed_in(v, "account", "/account/password"),
            csrf: v.session.csrf_token.clone(),
            errors: vec![],
            done: false,
            zones: TIME_ZONES
                .into_iter()
                .map(|tz| ZoneChoice {
                    name: tz.name(),
                    label: Local::new(local.lang, tz).zone_label(now),
                    selected: tz == local.tz,
                })
                .collect(),
            zone_error: None,
            zone_saved: false,
        }
    }
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

pub async fn password_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<AccountQuery>,
) -> PageResult {
    let mut page = PasswordPage::new(&s, &v);
    page.zone_saved = q.done.as_deref() == Some("time_zone");
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct TimeZoneForm {
    #[serde(default)]
    time_zone: String,
}

/// Saves the user's time zone (one of those offered); every page shows times in it from then on.
pub async fn set_time_zone(
    State(s): State<AppState>,
    form: SignedForm<TimeZoneForm>,
) -> PageResult {
    let v = form.viewer;
    let Some(tz) = offered_time_zone(form.fields.time_zone.trim()) else {
        let mut page = PasswordPage::new(&s, &v);
        page.zone_error = Some("account.error.time_zone");
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    s.store
        .set_user_time_zone(v.org(), v.user.id, tz.name())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        time_zone = tz.name(),
        "time zone changed"
    );
    Ok(Redirect::to("/account/password?done=time_zone").into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    form: SignedForm<PasswordForm>,
) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    let lang = v.lang;
    let store_err = |e| PageError::from_store(e, lang);
    let stored = s
        .store
        .password_hash(v.org(), v.user.id)
        .await
        .map_err(store_err)?;
    let mut errors = vec![];
    if !password::verify(f.current, Some(stored)).await {
        errors.push("password.wrong_current");
    }
    if !password::acceptable(&f.new) {
        errors.push("error.password_length");
    } else if f.new != f.confirm {
        errors.push("error.password_mismatch");
    }
    if errors.is_empty() {
        let hash = password::hash(f.new).await;
        s.store
            .set_password_hash(v.org(), v.user.id, &hash, s.now())
            .await
            .map_err(store_err)?;
        let ended = s
            .store
            .end_other_sessions(v.org(), v.user.id, &v.token, s.now())
            .await
            .map_err(store_err)?;
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            sessions_ended = ended,
            "password changed"
        );
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut page = PasswordPage::new(&s, &v);
    page.done = errors.is_empty();
    page.errors = errors;
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Switches the language (a plain link, so it works without JavaScript): remembered in a cookie,
/// and as the user's preference when signed in.
pub async fn switch_language(
    State(s): State<AppState>,
    Path(tag): Path<String>,
    Query(q): Query<NextQuery>,
    req: Request,
) -> PageResult {
    let (parts, _) = req.into_parts();
    let lang = Lang::parse(&tag).ok_or(PageError::NotFound(Lang::of_request(&parts.headers)))?;
    if let Some(v) = viewer(&parts, &s).await? {
        s.store
            .set_user_locale(v.org(), v.user.id, lang.tag())
            .await
            .map_err(|e| PageError::from_store(e, lang))?;
    }
    let mut r = Redirect::to(&safe_next(q.next.as_deref())).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &parts.headers,
            LANG_COOKIE,
            lang.tag(),
            365 * 24 * 3600,
            true,
        ),
    );
    Ok(r)
}
