//! Invariants the fuzz targets share: what a normalised value must look like, whichever parser
//! produced it. A failed check panics, which libFuzzer reports as a crash with the input saved.
//!
//! Panic messages name the broken rule and show the offending value: fuzz inputs are generated, never
//! personal data.

use hatchery_domain::normalize::{Email, Landline, Mobile};

/// A mobile is E.164: `+`, then 8 to 15 digits with no leading 0; a mainland one is `+86` and 11
/// digits starting 13–19. Parsing it again gives it back unchanged.
pub fn check_mobile(m: &Mobile) {
    let s = m.as_str();
    let digits = s
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("mobile {s:?} does not start with +"));
    assert!(
        digits.bytes().all(|b| b.is_ascii_digit()),
        "mobile {s:?} holds a non-digit"
    );
    assert!(
        (8..=15).contains(&digits.len()),
        "mobile {s:?} has {} digits",
        digits.len()
    );
    assert!(
        !digits.starts_with('0'),
        "mobile {s:?} has a 0 country code"
    );
    if let Some(national) = digits.strip_prefix("86") {
        assert!(
            national.len() == 11 && matches!(national.as_bytes(), [b'1', b'3'..=b'9', ..]),
            "mainland mobile {s:?} is not 11 digits starting 13 to 19"
        );
    }
    assert_eq!(
        Mobile::parse(s).as_ref(),
        Ok(m),
        "a normalised mobile does not parse to itself"
    );
    assert!(m.is_mainland() == s.starts_with("+86"));
}

/// A landline is `+86-<area>-<local>[-<extension>]` with a mainland area code, a 7- or 8-digit local
/// number not starting with 0 and an extension of 1 to 6 digits; parsing it again gives it back.
pub fn check_landline(l: &Landline) {
    let s = l.as_str();
    let parts: Vec<&str> = s.split('-').collect();
    assert!(
        (3..=4).contains(&parts.len()) && parts[0] == "+86",
        "landline {s:?} is not +86-area-local[-ext]"
    );
    for part in &parts[1..] {
        assert!(
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
            "landline {s:?} has a part that is not digits"
        );
    }
    let (area, local) = (parts[1], parts[2]);
    let area_ok = match area.as_bytes() {
        [b'1', b'0'] | [b'2', _] => true,
        [b'3'..=b'9', _, _] => true,
        _ => false,
    };
    assert!(area_ok, "landline {s:?} has area code {area:?}");
    assert!(
        (7..=8).contains(&local.len()) && !local.starts_with('0'),
        "landline {s:?} has local number {local:?}"
    );
    if let Some(ext) = parts.get(3) {
        assert!(ext.len() <= 6, "landline {s:?} has a long extension");
    }
    assert_eq!(l.area_code(), area);
    assert_eq!(l.local_number(), local);
    assert_eq!(l.extension(), parts.get(3).copied());
    assert_eq!(
        Landline::parse(s).as_ref(),
        Ok(l),
        "a normalised landline does not parse to itself"
    );
}

/// An email is lower-cased, trimmed, has one `@` with a non-empty ASCII local part of at most 64
/// bytes and a dotted domain, at most 254 characters in all; parsing it again gives it back.
pub fn check_email(e: &Email) {
    let s = e.as_str();
    assert!(
        !s.chars().any(char::is_whitespace),
        "email {s:?} has a space"
    );
    assert!(s.chars().count() <= 254, "email {s:?} is too long");
    assert_eq!(s, s.to_lowercase(), "email {s:?} is not lower-case");
    let (local, domain) = s
        .split_once('@')
        .unwrap_or_else(|| panic!("email {s:?} has no @"));
    assert!(!domain.contains('@'), "email {s:?} has two @");
    assert!(
        !local.is_empty() && local.len() <= 64 && local.is_ascii(),
        "email {s:?} has a bad local part"
    );
    assert!(domain.contains('.'), "email {s:?} has no dot in its domain");
    assert_eq!(e.domain(), domain);
    assert_eq!(
        Email::parse(s).as_ref(),
        Ok(e),
        "a normalised email does not parse to itself"
    );
}

/// The digits of `raw` must not appear in an error message: the value is personal data and error
/// messages reach logs and import reports. Runs of fewer than 6 digits are not checked, since
/// messages do hold small counts ("has 12 digits").
pub fn check_message_hides_digits(raw: &str, message: &str) {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 6 {
        assert!(
            !message.contains(&digits),
            "error message {message:?} repeats the number"
        );
    }
}

/// Reads every row of an import file and checks what [`hatchery_tabular::Table`] promises: a
/// non-empty trimmed header without trailing blanks, and data rows numbered in increasing order
/// after it, each at least as wide as the header, with trimmed cells within the size limit, never
/// all blank, and no empty cell kept past the header's width.
pub fn read_whole_table(table: hatchery_tabular::Table) {
    use hatchery_tabular::{Encoding, MAX_CELL_BYTES, MAX_COLUMNS};

    assert_ne!(table.detected_encoding, Encoding::Auto);
    let headers = table.headers.clone();
    assert!(!headers.is_empty(), "a table has a header");
    assert!(headers.len() <= MAX_COLUMNS);
    assert!(
        !headers.last().is_some_and(String::is_empty),
        "trailing blank header"
    );
    for h in &headers {
        assert_eq!(h, h.trim(), "header not trimmed");
        assert!(h.len() <= MAX_CELL_BYTES);
    }
    let mut last = 1u64;
    for row in table {
        let Ok(row) = row else { continue };
        assert!(row.number > last, "row {} after row {last}", row.number);
        last = row.number;
        assert!(
            row.cells.len() >= headers.len(),
            "row {} is short",
            row.number
        );
        assert!(row.cells.len() <= MAX_COLUMNS.max(headers.len()));
        if row.cells.len() > headers.len() {
            assert!(
                !row.cells.last().is_some_and(String::is_empty),
                "row {} keeps an empty cell past the header",
                row.number
            );
        }
        assert!(
            row.cells.iter().any(|c| !c.is_empty()),
            "row {} is blank",
            row.number
        );
        for c in &row.cells {
            assert_eq!(c, c.trim(), "cell not trimmed in row {}", row.number);
            assert!(c.len() <= MAX_CELL_BYTES);
        }
    }
}
