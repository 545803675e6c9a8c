use std::fmt;

use serde::{Deserialize, Serialize};

use super::{fold_full_width, FieldError};

const CODE: &str = "invalid_email";
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;
const MAX_TOTAL: usize = 254;

/// An email address as people practically use it: trimmed, lower-cased, one `@`, an ASCII local
/// part of at most 64 characters, and a domain of dot-separated labels (Unicode letters allowed, so
/// internationalised domains pass) ending in a top-level domain that is not all digits. Quoted local
/// parts and IP-literal domains are rejected: no marketing list needs them and they are mostly typos.
///
/// Lower-casing the local part is technically lossy, but every mailbox provider in use treats it
/// case-insensitively, and one person must not become two identities because of a capital letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let folded = fold_full_width(raw);
        let mut s = folded.trim();
        if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            s = inner.trim();
        }
        if s.get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        {
            s = s[7..].trim();
        }
        let address = s.to_lowercase();
        validate(&address)?;
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The part after the `@`, e.g. to group contacts by company domain.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

fn error(message: &str) -> FieldError {
    FieldError::new(CODE, message)
}

fn validate(address: &str) -> Result<(), FieldError> {
    if address.is_empty() {
        return Err(error("email address is empty"));
    }
    if address.chars().any(char::is_whitespace) {
        return Err(error("email address contains a space"));
    }
    if address.chars().count() > MAX_TOTAL {
        return Err(error("email address is longer than 254 characters"));
    }
    let mut parts = address.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(if address.contains('@') {
            error("email address has more than one @")
        } else {
            error("email address has no @")
        });
    };
    validate_local(local)?;
    validate_domain(domain)
}

fn validate_local(local: &str) -> Result<(), FieldError> {
    if local.is_empty() {
        return Err(error("email address has nothing before the @"));
    }
    if local.len() > MAX_LOCAL {
        return Err(error(
            "email address has more than 64 characters before the @",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    if !local.chars().all(allowed) {
        return Err(error(
            "the part before the @ may only hold ASCII letters, digits and ! # $ % & ' * + / = ? ^ _ ` { | } ~ . -",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(error(
            "the part before the @ starts or ends with a dot, or has two dots in a row",
        ));
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), FieldError> {
    if domain.is_empty() {
        return Err(error("email address has nothing after the @"));
    }
    if !domain.contains('.') {
        return Err(error("email domain has no dot"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(error(
                "email domain starts or ends with a dot, or has two dots in a row",
            ));
        }
        if label.chars().count() > MAX_LABEL {
            return Err(error(
                "a part of the email domain is longer than 63 characters",
            ));
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err(error(
                "email domain may only hold letters, digits, hyphens and dots",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(error(
                "a part of the email domain starts or ends with a hyphen",
            ));
        }
    }
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(error(
            "email domain does not end in a top-level domain such as .com or .cn",
        ));
    }
    Ok(())
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl std::str::FromStr for Email {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Email::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(raw: &str) -> String {
        Email::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} should parse: {e}"))
            .into_string()
    }

    fn err(raw: &str) -> FieldError {
        let e = Email::parse(raw).expect_err(raw);
        assert_eq!(e.code, "invalid_email");
        e
    }

    #[test]
    fn trims_and_lower_cases_an_address() {
        assert_eq!(ok("  Ann.Lee@Example.COM \t"), "ann.lee@example.com");
    }

    #[test]
    fn strips_angle_brackets_and_mailto() {
        assert_eq!(ok("<ann@example.com>"), "ann@example.com");
        assert_eq!(ok("mailto:ann@example.com"), "ann@example.com");
        assert_eq!(ok("MAILTO:Ann@Example.com"), "ann@example.com");
        assert_eq!(ok("< mailto:ann@example.com >"), "ann@example.com");
    }

    #[test]
    fn converts_full_width_at_and_dots_typed_by_chinese_input_methods() {
        assert_eq!(ok("ann＠example．com"), "ann@example.com");
        assert_eq!(ok("ａｎｎ＠ｑｑ．ｃｏｍ"), "ann@qq.com");
        assert_eq!(ok("ann@163。com"), "ann@163.com");
        assert_eq!(ok("\u{3000}ann@qq.com\u{3000}"), "ann@qq.com");
    }

    #[test]
    fn accepts_common_practical_addresses() {
        for raw in [
            "a@b.cn",
            "first.last+tag@mail.example.co.uk",
            "x_y-z@sub-domain.example.org",
            "12345@qq.com",
        ] {
            assert_eq!(ok(raw), raw);
        }
    }

    #[test]
    fn accepts_unicode_domains() {
        assert_eq!(ok("info@例子.中国"), "info@例子.中国");
        assert_eq!(ok("Info@Bücher.DE"), "info@bücher.de");
    }

    #[test]
    fn rejects_addresses_without_exactly_one_at() {
        assert!(err("ann.example.com").message.contains("no @"));
        assert!(err("ann@@example.com").message.contains("more than one @"));
        assert!(err("a@b@example.com").message.contains("more than one @"));
    }

    #[test]
    fn rejects_short_non_ascii_input_without_panicking() {
        err("𞺀𑌵");
        err("邮箱");
    }

    #[test]
    fn rejects_empty_parts() {
        err("");
        err("   ");
        err("@example.com");
        err("ann@");
        err("<>");
    }

    #[test]
    fn rejects_spaces_inside_the_address() {
        assert!(err("ann lee@example.com").message.contains("space"));
        err("ann@exa mple.com");
        err("ann@example.com\u{3000}x");
    }

    #[test]
    fn rejects_domains_without_a_dot_or_with_bad_labels() {
        err("ann@localhost");
        err("ann@example..com");
        err("ann@.example.com");
        err("ann@example.com.");
        err("ann@-example.com");
        err("ann@example-.com");
        err("ann@exa_mple.com");
        err("ann@example.c");
        err("ann@10.0.0.1");
    }

    #[test]
    fn rejects_bad_local_parts() {
        err(".ann@example.com");
        err("ann.@example.com");
        err("an..n@example.com");
        err("\"ann\"@example.com");
        err("张三@example.com");
        err("ann(x)@example.com");
    }

    #[test]
    fn enforces_length_limits() {
        let local64 = "a".repeat(64);
        assert_eq!(
            ok(&format!("{local64}@example.com")),
            format!("{local64}@example.com")
        );
        err(&format!("a{local64}@example.com"));
        let label63 = "b".repeat(63);
        ok(&format!("a@{label63}.com"));
        err(&format!("a@b{label63}.com"));
        // 64 + 1 + 63 * 3 + 3 dots + "com" = 260 > 254
        err(&format!("{local64}@{label63}.{label63}.{label63}.com"));
    }

    #[test]
    fn error_messages_do_not_contain_the_value() {
        for raw in [
            "secret.person@@example.com",
            "secret person@example.com",
            "secret@nodot",
            "secret@x.c",
        ] {
            let e = err(raw);
            assert!(!e.message.contains("secret"), "{}", e.message);
        }
    }

    #[test]
    fn serde_round_trips_and_rejects_invalid_values() {
        let e: Email = serde_json::from_str("\"Ann@Example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"ann@example.com\"");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_a_parsed_email_is_idempotent(
            local in "[A-Za-z0-9_%+-]{1,20}(\\.[A-Za-z0-9_%+-]{1,10})?",
            domain in "[A-Za-z0-9]{1,12}(-[A-Za-z0-9]{1,5})?(\\.[A-Za-z0-9]{1,8})?\\.[A-Za-z]{2,6}",
            pad in "[ \t\u{3000}]{0,3}",
        ) {
            let raw = format!("{pad}{local}@{domain}{pad}");
            let first = Email::parse(&raw).unwrap();
            let second = Email::parse(first.as_str()).unwrap();
            prop_assert_eq!(&first, &second);
            prop_assert_eq!(first.as_str(), raw.trim().to_lowercase());
        }

        #[test]
        fn parsing_is_idempotent_for_any_accepted_input(raw in "\\PC{0,40}") {
            if let Ok(first) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(first.as_str()), Ok(first.clone()));
            }
        }
    }
}
