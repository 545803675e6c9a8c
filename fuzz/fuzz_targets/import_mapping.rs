//! The import column mapping (`crates/domain/src/import_mapping.rs`) on any header row (one header
//! per line of the input): the guess has one target per column and is valid except, at most, for
//! lacking an identity column; every target survives its JSON string form; explicit targets parse
//! or are refused without panicking; tag cells split into clean, distinct, bounded tags.

#![no_main]

use hatchery_domain::import_mapping::{split_tags, ColumnTarget, ImportMapping};
use hatchery_domain::normalize::normalize_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<String> = text.split('\n').map(str::to_owned).collect();

    let mapping = ImportMapping::guess(&headers);
    assert_eq!(mapping.columns.len(), headers.len());
    if let Err(e) = mapping.validate(headers.len()) {
        assert_eq!(
            e.code, "no_identity_column",
            "a guessed mapping is invalid: {}",
            e.message
        );
    }
    for target in &mapping.columns {
        check_round_trip(target);
    }
    let json = serde_json::to_string(&mapping).expect("a mapping serialises");
    let back: ImportMapping = serde_json::from_str(&json).expect("a guessed mapping deserialises");
    assert_eq!(back, mapping);

    for header in &headers {
        if let Ok(target) = ColumnTarget::parse(header) {
            check_round_trip(&target);
        }
        let tags = split_tags(header);
        for (i, tag) in tags.iter().enumerate() {
            assert!(!tag.is_empty() && tag.chars().count() <= 64, "tag {tag:?}");
            assert_eq!(normalize_text(tag).as_deref(), Some(tag.as_str()));
            assert!(!tag.contains([',', '，', ';', '；', '|', '｜', '、']));
            assert!(!tags[..i].contains(tag), "tag {tag:?} repeats");
        }
    }
});

fn check_round_trip(target: &ColumnTarget) {
    let s = target.as_string();
    assert_eq!(
        ColumnTarget::parse(&s).as_ref(),
        Ok(target),
        "target {s:?} does not parse back"
    );
}
