//! Administering other users' accounts: disabling one (they are signed out everywhere at once and
//! cannot sign in) or enabling it again, and setting a new password for someone who lost theirs.
//! An administrator does neither to themselves: disabling oneself would lock one out, and one's
//! own password is changed under My account, where the current password is asked for.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::ids::UserId;
use hatchery_domain::Permission;
use hatchery_store::users::User;
use hatchery_store::StoreError;
use serde::Deserialize;

use super::super::page::{render, Chrome, PageError};
use super::super::password;
use super::super::session::{SignedForm, Viewer};
use super::keys::{parse_id, ConfirmPage, Empty};
use super::people::users_error;
use super::{require, tabs, Tab};
use crate::AppState;

type PageResult = Result<Response, PageError>;

/// The user a path names, in the viewer's organisation (404 otherwise).
async fn target(s: &AppState, v: &Viewer, raw: &str) -> Result<User, PageError> {
    let id: UserId = parse_id(raw, v.lang)?;
    s.store
        .get_user(v.org(), id)
        .await
        .map_err(|e| PageError::from_store(e, v.lang))
}

/// How the pages name the user acted on.
fn subject(u: &User) -> String {
    format!("{} ({})", u.name, u.email)
}

pub async fn disable_user_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    require(&v, Permission::UsersManage)?;
    let user = target(&s, &v, &id).await?;
    if user.id == v.user.id {
        return users_error(&s, &v, "settings.error.self_disable").await;
    }
    if user.disabled_at.is_some() {
        return Ok(Redirect::to("/settings/users").into_response());
    }
    let page = ConfirmPage {
        chrome: Chrome::signed_in(&v, "settings", "/settings/users"),
        tabs: tabs("users"),
        csrf: v.session.csrf_token.clone(),
        title: "settings.disable_user",
        question: "settings.disable_user_question",
        subject: subject(&user),
        action: format!("/settings/users/{}/disable", user.id),
        button: "settings.disable",
        back: "/settings/users",
    };
    Ok(render(&page)?.into_response())
}

pub async fn disable_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::UsersManage)?;
    let user = target(&s, &v, &id).await?;
    if user.id == v.user.id {
        return users_error(&s, &v, "settings.error.self_disable").await;
    }
    let ended = match s.store.disable_user(v.org(), user.id, s.now()).await {
        Ok(n) => n,
        Err(StoreError::Conflict(_)) => {
            return users_error(&s, &v, "settings.error.last_enabled_admin").await
        }
        Err(e) => return Err(PageError::from_store(e, v.lang)),
    };
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        target.id = user.id.0,
        sessions_ended = ended,
        "user disabled in the console"
    );
    Ok(Redirect::to("/settings/users?done=disabled").into_response())
}

pub async fn enable_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Empty>,
) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::UsersManage)?;
    let user = target(&s, &v, &id).await?;
    s.store
        .enable_user(v.org(), user.id, s.now())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        target.id = user.id.0,
        "user enabled in the console"
    );
    Ok(Redirect::to("/settings/users?done=enabled").into_response())
}

#[derive(Template)]
#[template(path = "settings_user_password.html")]
struct ResetPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    subject: String,
    action: String,
    errors: Vec<&'static str>,
}

fn reset_page(v: &Viewer, user: &User, errors: Vec<&'static str>) -> ResetPage {
    ResetPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/users"),
        tabs: tabs("users"),
        csrf: v.session.csrf_token.clone(),
        subject: subject(user),
        action: format!("/settings/users/{}/password", user.id),
        errors,
    }
}

pub async fn reset_password_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    require(&v, Permission::UsersManage)?;
    let user = target(&s, &v, &id).await?;
    if user.id == v.user.id {
        return users_error(&s, &v, "settings.error.self_reset").await;
    }
    Ok(render(&reset_page(&v, &user, vec![]))?.into_response())
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn reset_password(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<ResetForm>,
) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::UsersManage)?;
    let user = target(&s, &v, &id).await?;
    if user.id == v.user.id {
        return users_error(&s, &v, "settings.error.self_reset").await;
    }
    let mut errors = vec![];
    if !password::acceptable(&f.new) {
        errors.push("error.password_length");
    } else if f.new != f.confirm {
        errors.push("error.password_mismatch");
    }
    if !errors.is_empty() {
        let page = reset_page(&v, &user, errors);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let hash = password::hash(f.new).await;
    let ended = s
        .store
        .reset_password(v.org(), user.id, &hash, s.now())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        target.id = user.id.0,
        sessions_ended = ended,
        "password reset in the console"
    );
    Ok(Redirect::to("/settings/users?done=password").into_response())
}
