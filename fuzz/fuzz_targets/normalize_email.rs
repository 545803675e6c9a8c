//! Email parsing (`crates/domain/src/normalize/email.rs`) on any text: no panic, and an accepted
//! address normalised (lower-case, one `@`, within the length limits) and stable when parsed again.

#![no_main]

use hatchery_domain::normalize::Email;
use hatchery_fuzz::check_email;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    match Email::parse(&raw) {
        Ok(e) => check_email(&e),
        Err(e) => {
            assert_eq!(e.code, "invalid_email");
            assert!(!e.message.is_empty());
        }
    }
});
