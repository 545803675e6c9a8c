//! The JSON text of a model edited in a console textarea (scoring, lifecycle, tiers): size-checked
//! and parsed, with a message in the viewer's language when it is not usable.

use serde_json::Value;

use super::i18n::Lang;

/// Longest model text accepted from a form.
pub const MAX_MODEL_BYTES: usize = 256 * 1024;

/// Parses the text, or says why it cannot be read (too large, not JSON).
pub fn model_json(text: &str, lang: Lang) -> Result<Value, String> {
    if text.len() > MAX_MODEL_BYTES {
        return Err(format!(
            "{} ({} KiB)",
            lang.t("scoring.too_large"),
            MAX_MODEL_BYTES / 1024
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("{}: {e}", lang.t("scoring.not_json")))
}

/// Reads the text and checks it with the API's own check (`check`, which may read the store):
/// `Ok(Err(message))` for a model to show again with the reason, `Err` when the database failed.
pub async fn checked<T, F, Fut>(
    text: &str,
    lang: Lang,
    check: F,
) -> Result<Result<T, String>, super::page::PageError>
where
    F: FnOnce(Value) -> Fut,
    Fut: std::future::Future<Output = crate::error::ApiResult<T>>,
{
    let json = match model_json(text, lang) {
        Ok(j) => j,
        Err(e) => return Ok(Err(e)),
    };
    match check(json).await {
        Ok(m) => Ok(Ok(m)),
        Err(e) if e.status.is_client_error() => Ok(Err(format!(
            "{} {}",
            lang.t("lifecycle.invalid"),
            e.message
        ))),
        Err(_) => Err(super::page::PageError::Unavailable(lang)),
    }
}
