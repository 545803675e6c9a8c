//! Parsing of the values people type into forms and spreadsheets: emails, mobiles, landlines,
//! provinces, free text. Each parser returns a newtype that can only hold a normalised value, so code
//! past the edge never re-checks (and two spellings of one number are always the same identity).
//!
//! Errors describe what is wrong without repeating the value: the value is personal data and error
//! messages end up in logs and import reports.

mod email;
mod phone;
mod region;
mod text;

pub use email::Email;
pub use phone::{Landline, Mobile, Phone};
pub use region::{normalize_city, normalize_province};
pub use text::normalize_text;

/// A value that could not be parsed. `code` is stable and machine-readable (`invalid_email`,
/// `invalid_mobile`, `landline_not_mobile`, `invalid_landline`, `invalid_phone`, …); `message` says
/// what is wrong in words, and never contains the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            code,
            message: message.into(),
        }
    }
}

/// Chinese input methods type full-width forms (`１３８`, `＠`, `．`, `（`) and the ideographic space
/// and full stop; fold them to their ASCII twins before any parsing.
pub(crate) fn fold_full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            '\u{3002}' | '\u{FF61}' => '.',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_digits_and_punctuation_to_ascii() {
        assert_eq!(
            fold_full_width("１３８（０）＠ｅｘ．ｃｎ　。"),
            "138(0)@ex.cn ."
        );
        assert_eq!(fold_full_width("张三"), "张三");
    }

    #[test]
    fn field_error_displays_its_message() {
        let e = FieldError::new("invalid_email", "email address has no @");
        assert_eq!(e.to_string(), "email address has no @");
    }
}
