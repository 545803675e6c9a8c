/// Trims and collapses every run of whitespace (including the full-width space U+3000 and line
/// breaks) to one ASCII space, so `"  上海  某某 公司\u{3000}"` and `"上海 某某 公司"` compare equal.
/// Returns `None` when nothing is left: an empty cell means "no value", not an empty string.
pub fn normalize_text(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_collapses_ascii_and_full_width_whitespace() {
        assert_eq!(normalize_text("  Acme   Ltd \t"), Some("Acme Ltd".into()));
        assert_eq!(
            normalize_text("\u{3000}上海\u{3000}\u{3000}某某 公司\u{3000}"),
            Some("上海 某某 公司".into())
        );
        assert_eq!(
            normalize_text("line one\r\n  line two"),
            Some("line one line two".into())
        );
        assert_eq!(normalize_text("plain"), Some("plain".into()));
    }

    #[test]
    fn returns_none_for_empty_or_blank_text() {
        assert_eq!(normalize_text(""), None);
        assert_eq!(normalize_text(" \t\n\u{3000} "), None);
    }
}
