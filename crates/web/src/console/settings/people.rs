//! Business units and the pool policy; users and their roles (granted org-wide or in one unit).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hatchery_domain::ids::{BusinessUnitId, UserId};
use hatchery_domain::normalize::Email;
use hatchery_domain::{Grant, Permission, PoolPolicy, Role};
use hatchery_store::users::NewUser;
use hatchery_store::StoreError;
use serde::Deserialize;

use super::super::page::{render, Chrome, PageError};
use super::super::password;
use super::super::session::{SignedForm, Viewer};
use super::keys::DoneQuery;
use super::{name_ok, notice, require, tabs, Tab, MAX_NAME};
use crate::AppState;

type PageResult = Result<Response, PageError>;

struct UnitRow {
    id: String,
    name: String,
    created: String,
}

#[derive(Template)]
#[template(path = "settings_units.html")]
struct UnitsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    rows: Vec<UnitRow>,
    name: String,
    policy: &'static str,
}

const UNIT_NOTICES: [(&str, &str); 2] = [
    ("created", "settings.unit_created"),
    ("policy", "settings.policy_saved"),
];

async fn units_page(
    s: &AppState,
    v: &Viewer,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    name: String,
) -> Result<UnitsPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let store_err = |e| PageError::from_store(e, lang);
    let units = s
        .store
        .list_business_units(v.org())
        .await
        .map_err(store_err)?;
    let policy = s.store.pool_policy(v.org()).await.map_err(store_err)?;
    Ok(UnitsPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/business-units"),
        tabs: tabs("units"),
        csrf: v.session.csrf_token.clone(),
        notice,
        errors,
        rows: units
            .into_iter()
            .map(|u| UnitRow {
                id: u.id.to_string(),
                name: u.name,
                created: local.datetime(u.created_at),
            })
            .collect(),
        name,
        policy: policy.as_str(),
    })
}

pub async fn units(State(s): State<AppState>, v: Viewer, Query(q): Query<DoneQuery>) -> PageResult {
    require(&v, Permission::UsersManage)?;
    let page = units_page(
        &s,
        &v,
        notice(q.done.as_deref(), &UNIT_NOTICES),
        vec![],
        String::new(),
    )
    .await?;
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct NewUnitForm {
    #[serde(default)]
    name: String,
}

pub async fn create_unit(State(s): State<AppState>, form: SignedForm<NewUnitForm>) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::UsersManage)?;
    let lang = v.lang;
    let mut errors = vec![];
    if name_ok(&f.name, MAX_NAME) {
        match s
            .store
            .create_business_unit(v.org(), f.name.trim(), s.now())
            .await
        {
            Ok(unit) => {
                tracing::info!(
                    org.id = v.org().0,
                    user.id = v.user.id.0,
                    bu.id = unit.id.0,
                    "business unit created in the console"
                );
                return Ok(Redirect::to("/settings/business-units?done=created").into_response());
            }
            Err(StoreError::Conflict(_)) => errors.push("settings.error.unit_exists"),
            Err(e) => return Err(PageError::from_store(e, lang)),
        }
    } else {
        errors.push("settings.error.name");
    }
    let page = units_page(&s, &v, None, errors, f.name).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    policy: String,
}

pub async fn set_policy(State(s): State<AppState>, form: SignedForm<PolicyForm>) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::SettingsManage)?;
    let lang = v.lang;
    let Some(policy) = PoolPolicy::parse(&form.fields.policy) else {
        let page = units_page(&s, &v, None, vec!["settings.error.policy"], String::new()).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    s.store
        .set_pool_policy(v.org(), policy)
        .await
        .map_err(|e| PageError::from_store(e, lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        policy = policy.as_str(),
        "pool policy changed in the console"
    );
    Ok(Redirect::to("/settings/business-units?done=policy").into_response())
}

struct GrantView {
    label: String,
    role: &'static str,
    bu: String,
}

struct UserRow {
    id: String,
    name: String,
    email: String,
    created: String,
    grants: Vec<GrantView>,
    /// Disabled users cannot sign in; the row offers to enable them instead of disabling.
    disabled: bool,
    /// The viewer's own row offers neither disabling nor a password reset.
    is_self: bool,
}

struct Choice {
    value: String,
    label: String,
}

/// What the create-user form held, to show it again after an error (never the password).
#[derive(Default)]
struct NewUserState {
    name: String,
    email: String,
    role: String,
    bu: String,
}

#[derive(Template)]
#[template(path = "settings_users.html")]
struct UsersPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    csrf: String,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    rows: Vec<UserRow>,
    users: Vec<Choice>,
    roles: Vec<Choice>,
    scopes: Vec<Choice>,
    new: NewUserState,
}

const USER_NOTICES: [(&str, &str); 6] = [
    ("created", "settings.user_created"),
    ("granted", "settings.role_granted"),
    ("revoked", "settings.role_revoked"),
    ("disabled", "settings.user_disabled"),
    ("enabled", "settings.user_enabled"),
    ("password", "settings.password_reset"),
];

/// The value of a grant's scope in forms: `org` or a business unit's id.
const ORG_WIDE: &str = "org";

async fn users_page(
    s: &AppState,
    v: &Viewer,
    notice: Option<&'static str>,
    errors: Vec<&'static str>,
    new: NewUserState,
) -> Result<UsersPage, PageError> {
    let lang = v.lang;
    let local = v.local();
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    let users = s.store.list_users(org).await.map_err(store_err)?;
    let grants = s.store.org_grants(org).await.map_err(store_err)?;
    let units = s.store.list_business_units(org).await.map_err(store_err)?;
    let unit_name = |bu: Option<BusinessUnitId>| match bu {
        None => lang.t("home.org_wide").to_owned(),
        Some(b) => units
            .iter()
            .find(|u| u.id == b)
            .map_or_else(|| b.to_string(), |u| u.name.clone()),
    };
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            name: u.name.clone(),
            email: u.email.clone(),
            created: local.datetime(u.created_at),
            disabled: u.disabled_at.is_some(),
            is_self: u.id == v.user.id,
            grants: grants
                .iter()
                .filter(|(owner, _)| *owner == u.id)
                .map(|(_, g)| GrantView {
                    label: format!("{} · {}", lang.role(g.role), unit_name(g.bu)),
                    role: g.role.as_str(),
                    bu: g.bu.map_or_else(|| ORG_WIDE.to_owned(), |b| b.to_string()),
                })
                .collect(),
        })
        .collect();
    let mut scopes = vec![Choice {
        value: ORG_WIDE.to_owned(),
        label: lang.t("home.org_wide").to_owned(),
    }];
    scopes.extend(units.iter().map(|u| Choice {
        value: u.id.to_string(),
        label: u.name.clone(),
    }));
    Ok(UsersPage {
        chrome: Chrome::signed_in(v, "settings", "/settings/users"),
        tabs: tabs("users"),
        csrf: v.session.csrf_token.clone(),
        notice,
        errors,
        rows,
        users: users
            .iter()
            .map(|u| Choice {
                value: u.id.to_string(),
                label: format!("{} ({})", u.name, u.email),
            })
            .collect(),
        roles: Role::ALL
            .into_iter()
            .map(|r| Choice {
                value: r.as_str().to_owned(),
                label: lang.role(r).to_owned(),
            })
            .collect(),
        scopes,
        new,
    })
}

pub async fn users(State(s): State<AppState>, v: Viewer, Query(q): Query<DoneQuery>) -> PageResult {
    require(&v, Permission::UsersManage)?;
    let page = users_page(
        &s,
        &v,
        notice(q.done.as_deref(), &USER_NOTICES),
        vec![],
        NewUserState {
            role: Role::Marketer.as_str().to_owned(),
            bu: ORG_WIDE.to_owned(),
            ..NewUserState::default()
        },
    )
    .await?;
    Ok(render(&page)?.into_response())
}

/// A grant as a form names it: a role and `org` or a business unit id of this organisation.
async fn parse_grant(s: &AppState, v: &Viewer, role: &str, bu: &str) -> Option<Grant> {
    let role = Role::parse(role)?;
    if bu == ORG_WIDE {
        return Some(Grant::org_wide(role));
    }
    let bu: BusinessUnitId = bu.parse().ok()?;
    s.store.get_business_unit(v.org(), bu).await.ok()?;
    Some(Grant::in_bu(role, bu))
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    bu: String,
}

pub async fn create_user(State(s): State<AppState>, form: SignedForm<NewUserForm>) -> PageResult {
    let v = form.viewer;
    let f = form.fields;
    require(&v, Permission::UsersManage)?;
    let lang = v.lang;
    let mut errors = vec![];
    if !name_ok(&f.name, MAX_NAME) {
        errors.push("error.name_required");
    }
    let email = Email::parse(&f.email).ok();
    if email.is_none() {
        errors.push("error.email_invalid");
    }
    if !password::acceptable(&f.password) {
        errors.push("error.password_length");
    }
    let grant = parse_grant(&s, &v, &f.role, &f.bu).await;
    if grant.is_none() {
        errors.push("settings.error.grant");
    }
    if let (true, Some(email), Some(grant)) = (errors.is_empty(), &email, grant) {
        let hash = password::hash(f.password).await;
        let created = s
            .store
            .create_user(
                v.org(),
                &NewUser {
                    email: email.as_str(),
                    name: f.name.trim(),
                    password_hash: &hash,
                    locale: None,
                },
                &[grant],
                false,
                s.now(),
            )
            .await;
        match created {
            Ok(user) => {
                tracing::info!(
                    org.id = v.org().0,
                    user.id = v.user.id.0,
                    new_user.id = user.id.0,
                    "user created in the console"
                );
                return Ok(Redirect::to("/settings/users?done=created").into_response());
            }
            Err(StoreError::Conflict(_)) => errors.push("settings.error.user_exists"),
            Err(e) => return Err(PageError::from_store(e, lang)),
        }
    }
    let page = users_page(
        &s,
        &v,
        None,
        errors,
        NewUserState {
            name: f.name,
            email: f.email,
            role: f.role,
            bu: f.bu,
        },
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    bu: String,
}

async fn grant_target(
    s: &AppState,
    v: &Viewer,
    f: &GrantForm,
) -> Result<Option<(UserId, Grant)>, PageError> {
    let Ok(user) = f.user.parse::<UserId>() else {
        return Ok(None);
    };
    match s.store.get_user(v.org(), user).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(PageError::from_store(e, v.lang)),
    }
    Ok(parse_grant(s, v, &f.role, &f.bu).await.map(|g| (user, g)))
}

pub(super) async fn users_error(s: &AppState, v: &Viewer, error: &'static str) -> PageResult {
    let page = users_page(s, v, None, vec![error], NewUserState::default()).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

pub async fn grant(State(s): State<AppState>, form: SignedForm<GrantForm>) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::UsersManage)?;
    let Some((user, g)) = grant_target(&s, &v, &form.fields).await? else {
        return users_error(&s, &v, "settings.error.grant").await;
    };
    s.store
        .grant_role(v.org(), user, g, s.now())
        .await
        .map_err(|e| PageError::from_store(e, v.lang))?;
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        grantee.id = user.0,
        role = g.role.as_str(),
        bu.id = g.bu.map(|b| b.0),
        "role granted in the console"
    );
    Ok(Redirect::to("/settings/users?done=granted").into_response())
}

pub async fn revoke(State(s): State<AppState>, form: SignedForm<GrantForm>) -> PageResult {
    let v = form.viewer;
    require(&v, Permission::UsersManage)?;
    let Some((user, g)) = grant_target(&s, &v, &form.fields).await? else {
        return users_error(&s, &v, "settings.error.grant").await;
    };
    match s.store.revoke_grant(v.org(), user, g).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return users_error(&s, &v, "settings.error.last_admin").await
        }
        Err(StoreError::NotFound(_)) => return users_error(&s, &v, "settings.error.grant").await,
        Err(e) => return Err(PageError::from_store(e, v.lang)),
    }
    tracing::info!(
        org.id = v.org().0,
        user.id = v.user.id.0,
        grantee.id = user.0,
        role = g.role.as_str(),
        bu.id = g.bu.map(|b| b.0),
        "role revoked in the console"
    );
    Ok(Redirect::to("/settings/users?done=revoked").into_response())
}
