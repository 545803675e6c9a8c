//! Settings, for administrators only: API keys, tracking sources, business units and the pool
//! policy, users and their roles, the organisation, its identity-resolution rules, custom fields
//! and the intake log.
//!
//! Every page and form asks `hatchery_domain::access` first (an org-wide grant carrying
//! [`Permission::SettingsManage`] or [`Permission::UsersManage`]); everyone else gets the 403 page.
//! Forms follow Post/Redirect/Get: a good form redirects to its page with a `done` notice, a bad
//! one re-renders with its errors (422) and writes nothing.

pub mod intake;
pub mod keys;
pub mod org;
pub mod people;
pub mod user_admin;

use axum::http::HeaderMap;
use hatchery_domain::Permission;

use super::page::PageError;
use super::session::{cookie, secure_cookies, Viewer};

/// Names of keys, sources, business units and users: what the REST API also accepts.
pub const MAX_NAME: usize = 100;

/// One entry of the settings sub-navigation.
pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The settings sections, in the order the sub-navigation shows them.
const SECTIONS: [(&str, &str, &str); 7] = [
    (
        "organisation",
        "/settings/organisation",
        "settings.organisation",
    ),
    ("units", "/settings/business-units", "settings.units"),
    ("users", "/settings/users", "settings.users"),
    ("keys", "/settings/api-keys", "settings.api_keys"),
    ("sources", "/settings/sources", "settings.sources"),
    ("fields", "/settings/fields", "settings.fields"),
    ("intake", "/settings/intake", "settings.intake"),
];

/// The sub-navigation with `current` marked.
pub fn tabs(current: &str) -> Vec<Tab> {
    SECTIONS
        .iter()
        .map(|(id, href, label)| Tab {
            href,
            label,
            current: *id == current,
        })
        .collect()
}

/// Whether the viewer may open the settings at all (the layout shows the link only then).
pub fn may_open(v: &Viewer) -> bool {
    v.access.may_org_wide(Permission::SettingsManage)
}

/// Refuses anyone without an org-wide grant carrying `p`.
pub fn require(v: &Viewer, p: Permission) -> Result<(), PageError> {
    if v.access.may_org_wide(p) {
        Ok(())
    } else {
        tracing::info!(
            org.id = v.org().0,
            user.id = v.user.id.0,
            "settings refused: not an administrator"
        );
        Err(PageError::Forbidden(v.lang, "error.forbidden.body"))
    }
}

/// A trimmed name of 1 to `max` characters.
pub fn name_ok(s: &str, max: usize) -> bool {
    let n = s.trim().chars().count();
    (1..=max).contains(&n)
}

/// The notice shown after a redirect: only known keys, so the query cannot put text on the page.
pub fn notice(done: Option<&str>, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let done = done?;
    known.iter().find(|(k, _)| *k == done).map(|(_, m)| *m)
}

/// Where clients reach this instance, as the browser did: scheme and `Host` of the request.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    let scheme = if secure_cookies(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The cookie carrying a just-created secret from the POST to the page it is shown on, once.
const SECRET_COOKIE: &str = "hatchery_new_secret";
/// Long enough for the redirect; the page deletes it as it shows the secret.
const SECRET_COOKIE_SECS: i64 = 300;

/// The `Set-Cookie` of the secret cookie: sent back only to the settings pages, never to scripts
/// (there are none) or other sites.
fn secret_cookie(headers: &HeaderMap, value: &str, max_age_secs: i64) -> axum::http::HeaderValue {
    let secure = if secure_cookies(headers) {
        "; Secure"
    } else {
        ""
    };
    axum::http::HeaderValue::from_str(&format!(
        "{SECRET_COOKIE}={value}; Path=/settings; Max-Age={max_age_secs}; SameSite=Strict; HttpOnly{secure}"
    ))
    .expect("ids and secrets are ASCII")
}

/// `Set-Cookie` handing a new secret (`item` is its typed id) to the next page view. The secret
/// never goes into a URL, where it would end up in history and logs.
pub fn hand_over_secret(headers: &HeaderMap, item: &str, secret: &str) -> axum::http::HeaderValue {
    secret_cookie(headers, &format!("{item}.{secret}"), SECRET_COOKIE_SECS)
}

/// The secret handed over for an item whose id starts with `prefix` (`key_`, `src_`), with the
/// `Set-Cookie` deleting it so it is shown exactly once.
pub fn take_secret(
    headers: &HeaderMap,
    prefix: &str,
) -> Option<(String, String, axum::http::HeaderValue)> {
    let c = cookie(headers, SECRET_COOKIE)?;
    let (item, secret) = c.split_once('.')?;
    if !item.starts_with(prefix) {
        return None;
    }
    let gone = secret_cookie(headers, "", 0);
    Some((item.to_owned(), secret.to_owned(), gone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert!(name_ok(" 华东事业部 ", 100));
        assert!(!name_ok("   ", 100));
        assert!(name_ok(&"字".repeat(100), 100));
        assert!(!name_ok(&"字".repeat(101), 100));
    }

    #[test]
    fn the_base_url_follows_the_request() {
        let mut h = HeaderMap::new();
        h.insert("host", "crm.example.cn".parse().unwrap());
        assert_eq!(base_url(&h), "https://crm.example.cn");
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert_eq!(base_url(&h), "http://127.0.0.1:8080");
        h.insert("host", "evil\"host".parse().unwrap());
        assert!(base_url(&h).ends_with("://127.0.0.1:8080"));
    }

    #[test]
    fn the_secret_cookie_stays_with_the_settings() {
        let mut h = HeaderMap::new();
        h.insert("host", "crm.example.cn".parse().unwrap());
        let c = hand_over_secret(&h, "key_3", "hk_1_abc");
        let c = c.to_str().unwrap();
        assert!(
            c.starts_with("hatchery_new_secret=key_3.hk_1_abc; Path=/settings;"),
            "{c}"
        );
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"));
    }

    #[test]
    fn notices_come_only_from_the_known_list() {
        let known = [("created", "settings.created")];
        assert_eq!(notice(Some("created"), &known), Some("settings.created"));
        assert_eq!(notice(Some("<b>"), &known), None);
        assert_eq!(notice(None, &known), None);
    }
}
