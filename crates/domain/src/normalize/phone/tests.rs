use proptest::prelude::*;

use super::*;

fn mobile(raw: &str) -> String {
    Mobile::parse(raw)
        .unwrap_or_else(|e| panic!("{raw:?} should be a mobile: {e}"))
        .into_string()
}

fn mobile_err(raw: &str) -> FieldError {
    Mobile::parse(raw).expect_err(raw)
}

fn landline(raw: &str) -> String {
    Landline::parse(raw)
        .unwrap_or_else(|e| panic!("{raw:?} should be a landline: {e}"))
        .into_string()
}

fn landline_err(raw: &str) -> FieldError {
    let e = Landline::parse(raw).expect_err(raw);
    assert_eq!(e.code, "invalid_landline", "{raw:?}");
    e
}

#[test]
fn normalises_mainland_mobile_written_domestically_with_spaces_or_dashes() {
    assert_eq!(mobile("13800138000"), "+8613800138000");
    assert_eq!(mobile("138 0013 8000"), "+8613800138000");
    assert_eq!(mobile("138-0013-8000"), "+8613800138000");
    assert_eq!(mobile("  13800138000\t"), "+8613800138000");
}

#[test]
fn normalises_mainland_mobile_written_with_country_code_and_dashes() {
    assert_eq!(mobile("+86-13800138000"), "+8613800138000");
    assert_eq!(mobile("+86 138 0013 8000"), "+8613800138000");
    assert_eq!(mobile("+86-138-0013-8000"), "+8613800138000");
    assert_eq!(mobile("+8613800138000"), "+8613800138000");
}

#[test]
fn normalises_mainland_mobile_with_bare_or_double_zero_country_code() {
    assert_eq!(mobile("8613800138000"), "+8613800138000");
    assert_eq!(mobile("008613800138000"), "+8613800138000");
    assert_eq!(mobile("0086 138 0013 8000"), "+8613800138000");
    assert_eq!(mobile("86 13800138000"), "+8613800138000");
}

#[test]
fn normalises_mainland_mobile_with_brackets_around_either_part() {
    assert_eq!(mobile("(+86)13800138000"), "+8613800138000");
    assert_eq!(mobile("+86(138)00138000"), "+8613800138000");
    assert_eq!(mobile("(86) 138-0013-8000"), "+8613800138000");
}

#[test]
fn normalises_mainland_mobile_typed_in_full_width_digits() {
    assert_eq!(mobile("１３８００１３８０００"), "+8613800138000");
    assert_eq!(
        mobile("＋８６　１３８　００１３　８０００"),
        "+8613800138000"
    );
    assert_eq!(
        mobile("（＋８６）１３８－００１３－８０００"),
        "+8613800138000"
    );
}

#[test]
fn accepts_every_mainland_mobile_prefix_from_13_to_19() {
    for second in 3..=9 {
        let n = format!("1{second}912345678");
        assert_eq!(mobile(&n), format!("+86{n}"));
    }
}

#[test]
fn keeps_international_numbers_written_with_plus_or_double_zero() {
    assert_eq!(mobile("+852 9123 4567"), "+85291234567");
    assert_eq!(mobile("00852-9123-4567"), "+85291234567");
    assert_eq!(mobile("+1 (415) 555-2671"), "+14155552671");
    assert_eq!(mobile("+44 7911 123456"), "+447911123456");
    assert!(!Mobile::parse("+852 9123 4567").unwrap().is_mainland());
    assert!(Mobile::parse("13800138000").unwrap().is_mainland());
}

#[test]
fn rejects_international_numbers_outside_e164_lengths() {
    assert_eq!(mobile_err("+852 123").code, "invalid_mobile");
    assert_eq!(mobile_err("+1 2345 6789 0123 4567").code, "invalid_mobile");
    assert_eq!(mobile_err("+0 123 4567 890").code, "invalid_mobile");
}

#[test]
fn rejects_mainland_mobile_with_wrong_digit_count_and_says_how_many() {
    let e = mobile_err("138 0013 800");
    assert_eq!(e.code, "invalid_mobile");
    assert_eq!(
        e.message,
        "mobile number has 10 digits; mainland mobiles have 11"
    );
    let e = mobile_err("+86 138 0013 80000");
    assert_eq!(
        e.message,
        "mobile number has 12 digits; mainland mobiles have 11"
    );
}

#[test]
fn rejects_eleven_digits_that_do_not_start_like_a_mobile() {
    assert_eq!(mobile_err("12800138000").code, "invalid_mobile");
    assert_eq!(mobile_err("10800138000").code, "invalid_mobile");
    assert_eq!(mobile_err("23800138000").code, "invalid_mobile");
}

#[test]
fn rejects_mainland_landlines_as_not_mobile() {
    for raw in [
        "010-62345678",
        "0755 1234 5678",
        "(021)12345678",
        "+86 10 6234 5678",
        "010-62345678转123",
    ] {
        let e = mobile_err(raw);
        assert_eq!(e.code, "landline_not_mobile", "{raw:?}: {e}");
    }
}

#[test]
fn rejects_letters_and_extensions_in_a_mobile() {
    assert_eq!(mobile_err("138OO138OOO").code, "invalid_mobile");
    assert_eq!(mobile_err("1380013800a").code, "invalid_mobile");
    assert_eq!(mobile_err("13800138000 ext 12").code, "invalid_mobile");
    assert_eq!(mobile_err("138+00138000").code, "invalid_mobile");
    assert_eq!(mobile_err("13800138000/13900139000").code, "invalid_mobile");
    assert_eq!(mobile_err("").code, "invalid_mobile");
    assert_eq!(mobile_err(" - ").code, "invalid_mobile");
    assert_eq!(mobile_err("0 0").code, "invalid_mobile");
    assert_eq!(mobile_err("+").code, "invalid_mobile");
}

#[test]
fn mobile_error_messages_do_not_contain_the_number() {
    for raw in [
        "13800138",
        "12800138000",
        "010-62345678",
        "+86 1380013800077",
        "1380013800a",
    ] {
        let e = mobile_err(raw);
        for fragment in ["138", "62345678", "800"] {
            assert!(
                !e.message.contains(fragment),
                "{raw:?} leaked into {:?}",
                e.message
            );
        }
    }
}

#[test]
fn normalises_landline_with_three_digit_area_code() {
    assert_eq!(landline("010-62345678"), "+86-10-62345678");
    assert_eq!(landline("(010)62345678"), "+86-10-62345678");
    assert_eq!(landline("010 6234 5678"), "+86-10-62345678");
    assert_eq!(landline("01062345678"), "+86-10-62345678");
    assert_eq!(landline("(021)12345678"), "+86-21-12345678");
    assert_eq!(landline("020-8765432"), "+86-20-8765432");
}

#[test]
fn normalises_landline_with_four_digit_area_code() {
    assert_eq!(landline("0755-12345678"), "+86-755-12345678");
    assert_eq!(landline("0755 1234 5678"), "+86-755-12345678");
    assert_eq!(landline("0571-8765432"), "+86-571-8765432");
    assert_eq!(landline("０７５５－１２３４５６７８"), "+86-755-12345678");
}

#[test]
fn normalises_landline_written_with_country_code() {
    assert_eq!(landline("+86-10-62345678"), "+86-10-62345678");
    assert_eq!(landline("+86 10 6234 5678"), "+86-10-62345678");
    assert_eq!(landline("86 755 12345678"), "+86-755-12345678");
    assert_eq!(landline("0086 755 12345678"), "+86-755-12345678");
    assert_eq!(landline("+86 (0)10 62345678"), "+86-10-62345678");
}

#[test]
fn keeps_landline_extension_after_dash_or_marker() {
    assert_eq!(landline("010-62345678-123"), "+86-10-62345678-123");
    assert_eq!(landline("010-62345678转123"), "+86-10-62345678-123");
    assert_eq!(landline("010-62345678 转 123"), "+86-10-62345678-123");
    assert_eq!(landline("010-62345678 ext 123"), "+86-10-62345678-123");
    assert_eq!(landline("010-62345678 EXT. 123"), "+86-10-62345678-123");
    assert_eq!(landline("0755-12345678 x8001"), "+86-755-12345678-8001");
    assert_eq!(landline("0755-12345678分机8001"), "+86-755-12345678-8001");
    assert_eq!(landline("+86-10-62345678-123"), "+86-10-62345678-123");
    let l = Landline::parse("0755-12345678-8001").unwrap();
    assert_eq!(
        (l.area_code(), l.local_number(), l.extension()),
        ("755", "12345678", Some("8001"))
    );
    let l = Landline::parse("010-62345678").unwrap();
    assert_eq!(
        (l.area_code(), l.local_number(), l.extension()),
        ("10", "62345678", None)
    );
}

#[test]
fn rejects_landline_without_area_code() {
    assert!(landline_err("62345678").message.contains("no area code"));
    assert!(landline_err("6234-5678").message.contains("no area code"));
}

#[test]
fn rejects_landline_with_bad_area_code_or_local_length() {
    landline_err("011-62345678");
    landline_err("010-623456");
    landline_err("010-623456789");
    landline_err("0755-02345678");
    landline_err("0");
    landline_err("010");
    landline_err("+852 2123 4567");
    landline_err("010-62345678转");
    landline_err("010-62345678 ext 1234567");
    landline_err("010-62345678 ext abc");
}

#[test]
fn rejects_mobile_as_landline() {
    landline_err("13800138000");
    landline_err("+86 138 0013 8000");
}

#[test]
fn landline_error_messages_do_not_contain_the_number() {
    for raw in ["62345678", "010-623456789", "0755-02345678"] {
        let e = landline_err(raw);
        assert!(
            !e.message.contains("2345"),
            "{raw:?} leaked into {:?}",
            e.message
        );
    }
}

#[test]
fn classifies_a_phone_column_into_mobile_or_landline() {
    assert_eq!(
        Phone::parse("138 0013 8000").unwrap(),
        Phone::Mobile(Mobile::parse("13800138000").unwrap())
    );
    assert_eq!(
        Phone::parse("010-62345678").unwrap(),
        Phone::Landline(Landline::parse("01062345678").unwrap())
    );
    assert_eq!(
        Phone::parse("+86 10 6234 5678").unwrap().as_str(),
        "+86-10-62345678"
    );
    assert_eq!(
        Phone::parse("0755-12345678转8001").unwrap().as_str(),
        "+86-755-12345678-8001"
    );
    assert_eq!(
        Phone::parse("+852 9123 4567").unwrap().as_str(),
        "+85291234567"
    );
    assert_eq!(
        Phone::parse("（０２１）１２３４５６７８")
            .unwrap()
            .to_string(),
        "+86-21-12345678"
    );
}

#[test]
fn rejects_a_phone_that_is_neither_and_explains_by_its_shape() {
    let e = Phone::parse("1380013800").unwrap_err();
    assert_eq!(e.code, "invalid_phone");
    assert_eq!(
        e.message,
        "mobile number has 10 digits; mainland mobiles have 11"
    );
    let e = Phone::parse("62345678").unwrap_err();
    assert_eq!(e.code, "invalid_phone");
    assert!(e.message.contains("no area code"), "{}", e.message);
    assert_eq!(Phone::parse("n/a").unwrap_err().code, "invalid_phone");
}

#[test]
fn serde_uses_the_normalised_string_and_parses_on_the_way_in() {
    let m: Mobile = serde_json::from_str("\"138 0013 8000\"").unwrap();
    assert_eq!(serde_json::to_string(&m).unwrap(), "\"+8613800138000\"");
    let l: Landline = serde_json::from_str("\"010-62345678\"").unwrap();
    assert_eq!(serde_json::to_string(&l).unwrap(), "\"+86-10-62345678\"");
    assert!(serde_json::from_str::<Mobile>("\"010-62345678\"").is_err());
}

fn render(national: &str, style: usize) -> String {
    let (a, b, c) = (&national[..3], &national[3..7], &national[7..]);
    let full_width = |s: &str| -> String {
        s.chars()
            .map(|ch| char::from_u32(u32::from(ch) + 0xFEE0).unwrap_or(ch))
            .collect()
    };
    match style {
        0 => national.to_owned(),
        1 => format!("{a} {b} {c}"),
        2 => format!("{a}-{b}-{c}"),
        3 => format!("+86-{national}"),
        4 => format!("+86 {a} {b} {c}"),
        5 => format!("86{national}"),
        6 => format!("0086{national}"),
        7 => format!("(+86){national}"),
        8 => format!("+86({a}){b}{c}"),
        9 => full_width(national),
        10 => format!("  {a}-{b}-{c}\t"),
        _ => format!("\u{3000}+86 {a}{b}{c}\u{3000}"),
    }
}

proptest! {
    #[test]
    fn every_accepted_rendering_of_a_mainland_mobile_parses_to_one_e164_value(
        second in 3u8..=9,
        rest in "[0-9]{9}",
        style in 0usize..12,
    ) {
        let national = format!("1{second}{rest}");
        let parsed = Mobile::parse(&render(&national, style)).map(Mobile::into_string);
        prop_assert_eq!(parsed, Ok(format!("+86{national}")));
        let phone = Phone::parse(&render(&national, style)).map(|p| p.as_str().to_owned());
        prop_assert_eq!(phone, Ok(format!("+86{national}")));
    }

    #[test]
    fn parsing_a_normalised_number_again_changes_nothing(raw in "[0-9+ ()-]{0,20}") {
        if let Ok(m) = Mobile::parse(&raw) {
            prop_assert_eq!(Mobile::parse(m.as_str()), Ok(m.clone()));
        }
        if let Ok(l) = Landline::parse(&raw) {
            prop_assert_eq!(Landline::parse(l.as_str()), Ok(l.clone()));
        }
    }
}
