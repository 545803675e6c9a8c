//! Mobile, landline and "either" phone parsing (`crates/domain/src/normalize/phone.rs`) on any text:
//! no panic, every accepted number normalised and stable, the three parsers agreeing with each
//! other, and no error message repeating the number.

#![no_main]

use hatchery_domain::normalize::{Landline, Mobile, Phone};
use hatchery_fuzz::{check_landline, check_message_hides_digits, check_mobile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let mobile = Mobile::parse(&raw);
    let landline = Landline::parse(&raw);
    let phone = Phone::parse(&raw);

    match &mobile {
        Ok(m) => check_mobile(m),
        Err(e) => {
            check_message_hides_digits(&raw, &e.message);
            assert!(matches!(e.code, "invalid_mobile" | "landline_not_mobile"));
            assert_eq!(
                e.code == "landline_not_mobile",
                landline.is_ok(),
                "a mobile is refused as a landline exactly when it parses as one"
            );
        }
    }
    match &landline {
        Ok(l) => check_landline(l),
        Err(e) => {
            check_message_hides_digits(&raw, &e.message);
            assert_eq!(e.code, "invalid_landline");
        }
    }
    match &phone {
        Ok(Phone::Mobile(m)) => assert_eq!(mobile.as_ref(), Ok(m), "Phone and Mobile disagree"),
        Ok(Phone::Landline(l)) => {
            assert!(mobile.is_err(), "Phone took a mobile for a landline");
            assert_eq!(landline.as_ref(), Ok(l), "Phone and Landline disagree");
        }
        Err(e) => {
            check_message_hides_digits(&raw, &e.message);
            assert_eq!(e.code, "invalid_phone");
            assert!(
                mobile.is_err() && landline.is_err(),
                "Phone refused a valid number"
            );
        }
    }
});
