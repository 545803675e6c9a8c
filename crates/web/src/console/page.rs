//! Rendering console pages and the pages shown when something is refused or goes wrong.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hatchery_store::StoreError;

use super::i18n::Lang;
use super::session::Viewer;

/// What every page's layout needs: the language, and for a signed-in user the navigation.
pub struct Chrome {
    pub lang: Lang,
    pub nav: Option<Nav>,
    /// The current path, so the language switch returns here.
    pub here: String,
}

pub struct Nav {
    pub user_name: String,
    pub csrf: String,
    /// Which entry is the current page (`home`, `contacts`, `accounts`, `segments`, `imports`,
    /// `settings`, `account`).
    pub active: &'static str,
    /// Whether the user may import (the Import entry is shown).
    pub imports: bool,
    /// Settings are for administrators; others do not see the link.
    pub settings: bool,
}

impl Chrome {
    pub fn anonymous(lang: Lang, here: &str) -> Chrome {
        Chrome {
            lang,
            nav: None,
            here: here.to_owned(),
        }
    }

    pub fn signed_in(v: &Viewer, active: &'static str, here: &str) -> Chrome {
        Chrome {
            lang: v.lang,
            nav: Some(Nav {
                user_name: v.user.name.clone(),
                csrf: v.session.csrf_token.clone(),
                active,
                imports: v.access.may_import(),
                settings: super::settings::may_open(v),
            }),
            here: here.to_owned(),
        }
    }

    /// The link that switches to the other language and comes back here.
    pub fn switch_href(&self) -> String {
        format!(
            "/language/{}?next={}",
            self.lang.other().tag(),
            super::urlencode(&self.here)
        )
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// A page that is not the one asked for.
#[derive(Debug)]
pub enum PageError {
    /// 303 to another page (sign-in, setup).
    Redirect(String),
    /// 403 with the message of this key.
    Forbidden(Lang, &'static str),
    NotFound(Lang),
    BadRequest(Lang, String),
    /// 413: an upload over the size limit; the message says what the limit is.
    TooLarge(Lang, String),
    /// 429: too many failed sign-ins.
    Throttled(Lang),
    /// 503: the database failed (logged where it happened).
    Unavailable(Lang),
}

impl PageError {
    pub fn from_store(e: StoreError, lang: Lang) -> PageError {
        match e {
            StoreError::NotFound(_) => PageError::NotFound(lang),
            StoreError::Conflict(m) => PageError::BadRequest(lang, m),
            other => {
                tracing::error!(error = %other, "console: storage failure");
                PageError::Unavailable(lang)
            }
        }
    }
}

/// Renders a template into a page.
pub fn render<T: Template>(t: &T) -> Result<Html<String>, PageError> {
    t.render().map(Html).map_err(|e| {
        tracing::error!(error = %e, "console: template failed to render");
        PageError::Unavailable(Lang::default())
    })
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, lang, title, message): (StatusCode, Lang, &str, String) = match self {
            PageError::Redirect(to) => return Redirect::to(&to).into_response(),
            PageError::Forbidden(lang, key) => (
                StatusCode::FORBIDDEN,
                lang,
                "error.forbidden.title",
                lang.t(key).to_owned(),
            ),
            PageError::NotFound(lang) => (
                StatusCode::NOT_FOUND,
                lang,
                "error.not_found.title",
                lang.t("error.not_found.body").to_owned(),
            ),
            PageError::BadRequest(lang, m) => {
                (StatusCode::BAD_REQUEST, lang, "error.bad_request.title", m)
            }
            PageError::TooLarge(lang, m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                lang,
                "error.too_large.title",
                m,
            ),
            PageError::Throttled(lang) => (
                StatusCode::TOO_MANY_REQUESTS,
                lang,
                "throttled.title",
                lang.t("throttled.body").to_owned(),
            ),
            PageError::Unavailable(lang) => (
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                "error.unavailable.title",
                lang.t("error.unavailable.body").to_owned(),
            ),
        };
        let page = ErrorPage {
            chrome: Chrome::anonymous(lang, "/"),
            title: lang.t(title),
            message: &message,
        };
        match page.render() {
            Ok(html) => {
                let mut r = (status, Html(html)).into_response();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("900"));
                }
                r
            }
            Err(_) => status.into_response(),
        }
    }
}
