//! Who is using the console: the session cookie, the signed-in [`Viewer`] with their access, and
//! the forms — every POST is checked against a CSRF token before its handler runs ([`SignedForm`]
//! for signed-in users, [`AnonymousForm`] for setup and sign-in).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use hatchery_domain::{Access, OrgId};
use hatchery_store::users::{Session, User};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::i18n::{time_zone_of, Lang, Local};
use super::page::PageError;
use crate::AppState;

pub const SESSION_COOKIE: &str = "hatchery_session";
/// The double-submit token of forms shown before sign-in.
pub const FORM_COOKIE: &str = "hatchery_form";
pub const LANG_COOKIE: &str = "hatchery_lang";
/// How long a sign-in lasts: a working day.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// The value of one cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// Whether cookies must be `Secure`: always, except for plain HTTP to this machine (development
/// and first-run on `127.0.0.1`). Behind a TLS-terminating proxy, `X-Forwarded-Proto: https`
/// counts as HTTPS.
pub fn secure_cookies(headers: &HeaderMap) -> bool {
    if headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    !(name == "localhost" || name == "::1" || name.starts_with("127."))
}

/// A `Set-Cookie` value. `max_age` of 0 deletes the cookie.
pub fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_secs: i64,
    http_only: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure_cookies(headers) {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are ASCII")
}

pub fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Compares secrets without revealing through timing how much of them matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in console user, with what they may do.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub access: Access,
    pub session: Session,
    /// The cookie token (to end this session, or keep it when ending the others).
    pub token: String,
    pub lang: Lang,
}

impl Viewer {
    pub fn org(&self) -> OrgId {
        self.session.org_id
    }

    /// The user's language and time zone, for showing dates and times.
    pub fn local(&self) -> Local {
        Local::new(self.lang, time_zone_of(self.user.time_zone.as_deref()))
    }
}

/// Loads the viewer of a request, or `None` when it has no live session.
pub async fn viewer(parts: &Parts, state: &AppState) -> Result<Option<Viewer>, PageError> {
    let lang = Lang::of_request(&parts.headers);
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .session(&token, state.now())
        .await
        .map_err(|e| PageError::from_store(e, lang))?
    else {
        return Ok(None);
    };
    let org = session.org_id;
    let load = async {
        let user = state.store.get_user(org, session.user_id).await?;
        let grants = state.store.user_grants(org, user.id).await?;
        let policy = state.store.pool_policy(org).await?;
        Ok::<_, hatchery_store::StoreError>((user, grants, policy))
    };
    let (user, grants, policy) = load.await.map_err(|e| PageError::from_store(e, lang))?;
    let lang = user.locale.as_deref().and_then(Lang::parse).unwrap_or(lang);
    Ok(Some(Viewer {
        access: Access {
            user: user.id,
            grants,
            policy,
        },
        user,
        session,
        token,
        lang,
    }))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    /// Logged-out visitors are sent to sign in (and on an instance without users, to setup).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        match viewer(parts, state).await? {
            Some(v) => Ok(v),
            None => {
                let lang = Lang::of_request(&parts.headers);
                let org = super::console_org(state)
                    .await
                    .map_err(|e| PageError::from_store(e, lang))?;
                let empty = state
                    .store
                    .count_users(org)
                    .await
                    .map_err(|e| PageError::from_store(e, lang))?
                    == 0;
                if empty {
                    Err(PageError::Redirect("/setup".into()))
                } else {
                    let next = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    Err(PageError::Redirect(format!(
                        "/sign-in?next={}",
                        super::urlencode(next)
                    )))
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

async fn read_form<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
    lang: Lang,
) -> Result<WithCsrf<T>, PageError> {
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|_| PageError::BadRequest(lang, lang.t("error.bad_request.title").into()))?;
    serde_urlencoded::from_bytes::<WithCsrf<T>>(&bytes).map_err(|e| {
        PageError::BadRequest(lang, format!("{}: {e}", lang.t("error.bad_request.title")))
    })
}

/// A form posted by a signed-in user whose CSRF token matched the session's.
pub struct SignedForm<T> {
    pub viewer: Viewer,
    pub fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let lang = viewer.lang;
        let form: WithCsrf<T> = read_form(Request::from_parts(parts, body), state, lang).await?;
        if !same_secret(&form.csrf, &viewer.session.csrf_token) {
            tracing::warn!(
                user.id = viewer.user.id.0,
                "console form refused: CSRF token mismatch"
            );
            return Err(PageError::Forbidden(lang, "error.form_expired"));
        }
        Ok(SignedForm {
            viewer,
            fields: form.fields,
        })
    }
}

/// A form posted before sign-in (setup, sign-in) whose token matched its cookie.
pub struct AnonymousForm<T> {
    pub headers: HeaderMap,
    pub lang: Lang,
    pub fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AnonymousForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let headers = req.headers().clone();
        let lang = Lang::of_request(&headers);
        let expected = cookie(&headers, FORM_COOKIE).unwrap_or_default();
        let form: WithCsrf<T> = read_form(req, state, lang).await?;
        if expected.is_empty() || !same_secret(&form.csrf, &expected) {
            tracing::warn!("console form refused: CSRF token missing or mismatched");
            return Err(PageError::Forbidden(lang, "error.form_expired"));
        }
        Ok(AnonymousForm {
            headers,
            lang,
            fields: form.fields,
        })
    }
}

/// The token for a form shown before sign-in: the one in the browser's cookie, or a new one to
/// set (returned as the `Set-Cookie` value).
pub fn anonymous_form_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, FORM_COOKIE).filter(|t| t.len() == 32) {
        Some(t) => (t, None),
        None => {
            let t = random_token();
            let c = set_cookie(headers, FORM_COOKIE, &t, 24 * 3600, true);
            (t, Some(c))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_secure_except_plain_http_on_this_machine() {
        assert!(!secure_cookies(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(!secure_cookies(&headers(&[("host", "localhost")])));
        assert!(!secure_cookies(&headers(&[("host", "[::1]:8080")])));
        assert!(secure_cookies(&headers(&[("host", "crm.example.cn")])));
        assert!(secure_cookies(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https")
        ])));
    }

    #[test]
    fn reads_one_cookie_among_several() {
        let h = headers(&[("cookie", "a=1; hatchery_lang=en"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, LANG_COOKIE).as_deref(), Some("en"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
