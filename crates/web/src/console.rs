//! The console: server-rendered pages (askama templates, escaped by default) in Simplified
//! Chinese and English, for people who sign in with email and password. Works without
//! JavaScript; the stylesheet and the one small script (a live count in the segment builder)
//! are compiled into the binary.
//!
//! What a user may see is decided by `hatchery_domain::access`; pages only ask it.

pub mod accounts;
pub mod contacts;
pub mod entry;
pub mod home;
pub mod i18n;
pub mod imports;
pub mod lifecycle;
pub mod model_text;
pub mod page;
pub mod password;
pub mod scoring;
pub mod segments;
pub mod session;
pub mod settings;
pub mod tags;
pub mod tiers;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hatchery_domain::OrgId;
use hatchery_store::StoreError;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/setup", get(entry::setup_page).post(entry::setup))
        .route("/sign-in", get(entry::sign_in_page).post(entry::sign_in))
        .route("/sign-out", post(entry::sign_out))
        .route(
            "/account/password",
            get(entry::password_page).post(entry::change_password),
        )
        .route("/language/{lang}", get(entry::switch_language))
        .route("/contacts", get(contacts::list))
        .route("/contacts/{id}", get(contacts::show))
        .route(
            "/imports",
            // The upload handler streams the file and applies the upload limit itself.
            get(imports::list)
                .post(imports::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/imports/uploads/{token}",
            get(imports::mapping).post(imports::start),
        )
        .route("/imports/{id}", get(imports::show))
        .route("/imports/{id}/rejected.csv", get(imports::rejected_csv))
        .route("/accounts", get(accounts::list))
        .route("/accounts/{id}", get(accounts::show))
        .route("/settings", get(settings_home))
        .route(
            "/settings/api-keys",
            get(settings::keys::api_keys).post(settings::keys::create_api_key),
        )
        .route(
            "/settings/api-keys/{id}/revoke",
            get(settings::keys::revoke_key_page).post(settings::keys::revoke_key),
        )
        .route(
            "/settings/sources",
            get(settings::keys::sources).post(settings::keys::create_source),
        )
        .route(
            "/settings/sources/{id}/disable",
            get(settings::keys::disable_source_page).post(settings::keys::disable_source),
        )
        .route("/settings/intake", get(settings::intake::intake))
        .route(
            "/settings/intake/{seq}/retry",
            post(settings::intake::retry),
        )
        .route(
            "/settings/intake/{seq}/discard",
            get(settings::intake::discard_page).post(settings::intake::discard),
        )
        .route(
            "/settings/business-units",
            get(settings::people::units).post(settings::people::create_unit),
        )
        .route("/settings/pool-policy", post(settings::people::set_policy))
        .route(
            "/settings/users",
            get(settings::people::users).post(settings::people::create_user),
        )
        .route("/settings/users/grant", post(settings::people::grant))
        .route("/settings/users/revoke", post(settings::people::revoke))
        .route(
            "/settings/organisation",
            get(settings::org::organisation).post(settings::org::rename),
        )
        .route("/settings/identity-rules", post(settings::org::set_rules))
        .route(
            "/settings/fields",
            get(settings::org::fields).post(settings::org::create_field),
        )
        .route("/segments", get(segments::list))
        .route(
            "/segments/new",
            get(segments::new_page).post(segments::create),
        )
        .route("/segments/{id}", get(segments::show))
        .route(
            "/segments/{id}/edit",
            get(segments::edit_page).post(segments::update),
        )
        .route("/segments/{id}/delete", post(segments::delete))
        .route("/segments/count", post(segments::count))
        .route("/scoring", get(scoring::show).post(scoring::submit))
        .route("/lifecycle", get(lifecycle::show).post(lifecycle::submit))
        .route("/contacts/{id}/stage", post(lifecycle::move_contact))
        .route("/tiers", get(tiers::show).post(tiers::submit))
        .route("/tags", get(tags::show).post(tags::create))
        .route("/contacts/tags", post(contacts::bulk_tag))
        .route("/tags/{id}/category", post(tags::set_category))
        .route("/tags/rules", post(tags::save_rules))
        // Administering users (disable, enable, reset a password), the user's own time zone and
        // deleting custom fields.
        .route("/account/time-zone", post(entry::set_time_zone))
        .route(
            "/settings/users/{id}/disable",
            get(settings::user_admin::disable_user_page).post(settings::user_admin::disable_user),
        )
        .route(
            "/settings/users/{id}/enable",
            post(settings::user_admin::enable_user),
        )
        .route(
            "/settings/users/{id}/password",
            get(settings::user_admin::reset_password_page)
                .post(settings::user_admin::reset_password),
        )
        .route(
            "/settings/fields/{id}/delete",
            get(settings::org::delete_field_page).post(settings::org::delete_field),
        )
        .route("/static/console.css", get(stylesheet))
        .route("/static/segments.js", get(segments_script))
        .layer(axum::middleware::map_response(security_headers))
}

/// The settings start at the organisation page.
async fn settings_home(v: session::Viewer) -> Result<Response, page::PageError> {
    settings::require(&v, hatchery_domain::Permission::SettingsManage)?;
    Ok(axum::response::Redirect::to("/settings/organisation").into_response())
}

/// Headers every console response carries: no scripts, styles or frames from elsewhere (the
/// only scripts are this binary's own static files, never inline ones), no embedding in other
/// sites' frames, and pages holding personal data are not kept in caches.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The organisation the console serves: the instance's first organisation (the one `hatchery
/// serve` creates), created on a brand-new database.
pub async fn console_org(state: &AppState) -> Result<OrgId, StoreError> {
    match state.store.list_orgs().await?.first() {
        Some(o) => Ok(o.id),
        None => Ok(state
            .store
            .create_org("Default organisation", state.now())
            .await?
            .id),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/console.css"),
    )
}

/// The segment builder's progressive enhancement (a live count while the filter is edited).
async fn segments_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/segments.js"),
    )
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `next` target that stays on this site (a path, not `//host` or a full URL).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_stay_on_this_site() {
        assert_eq!(safe_next(Some("/contacts?q=a")), "/contacts?q=a");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
