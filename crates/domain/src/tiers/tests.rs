use serde_json::json;

use super::*;
use crate::segment::AccountField;
use crate::segment::AccountSnapshot;

const NOW: Millis = 1_800_000_000_000;

#[test]
fn the_default_model_parses_and_writes_back_to_itself() {
    let m = TierModel::default_model();
    assert_eq!(m.dimensions.len(), 2);
    assert_eq!(TierModel::parse(&m.to_json()).unwrap(), m);
}

#[test]
fn a_contact_is_in_the_first_matching_tier_of_each_dimension() {
    let m = TierModel::default_model();
    let mut c = ContactSnapshot::default();
    let t = m.classify(&c, NOW);
    assert_eq!(t.get("value").map(String::as_str), Some("regular"));
    assert_eq!(t.get("size").map(String::as_str), Some("smb"));
    c.referrals = 3;
    c.account = Some(AccountSnapshot {
        fields: [(AccountField::CompanySize, "5000+".to_owned())].into(),
        traits: Default::default(),
    });
    let t = m.classify(&c, NOW);
    assert_eq!(t["value"], "hub");
    assert_eq!(t["size"], "ka");
    // Benchmark comes first, even for a hub.
    c.tags.insert("标杆客户".into());
    assert_eq!(m.classify(&c, NOW)["value"], "benchmark");
}

#[test]
fn changes_list_every_dimension_that_moved() {
    let a: BTreeMap<String, String> = [
        ("value".into(), "regular".into()),
        ("size".into(), "smb".into()),
    ]
    .into();
    let b: BTreeMap<String, String> = [("value".into(), "hub".into())].into();
    assert_eq!(
        changes(&a, &b),
        [
            ("size".to_owned(), Some("smb".to_owned()), None),
            (
                "value".to_owned(),
                Some("regular".to_owned()),
                Some("hub".to_owned())
            )
        ]
    );
    assert!(changes(&a, &a).is_empty());
}

#[test]
fn invalid_models_are_refused_naming_the_part() {
    let cases = [
        (json!({"dimensions": []}), "dimensions", "at least one"),
        (json!({"dims": []}), "dims", "unknown key"),
        (
            json!({"dimensions": [{"key": "V", "name": "x", "tiers": [{"key": "a", "name": "A"}]}]}),
            "dimensions[0].key",
            "a-z",
        ),
        (
            json!({"dimensions": [{"key": "v", "name": "x", "tiers": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]}]}),
            "dimensions[0].tiers[0].when",
            "only the last",
        ),
        (
            json!({"dimensions": [{"key": "v", "name": "x", "tiers": [{"key": "a", "name": "A", "when": {"tag": "x"}}, {"key": "a", "name": "B"}]}]}),
            "dimensions[0].tiers[1].key",
            "earlier",
        ),
        (
            json!({"dimensions": [{"key": "v", "name": "x", "tiers": [{"key": "a", "name": "A", "when": {"referrals": {"at_least": -1}}}]}]}),
            "dimensions[0].tiers[0].when.referrals.at_least",
            "whole number",
        ),
        (
            json!({"dimensions": [{"key": "v", "name": "x", "tiers": [{"key": "a", "name": "A", "when": {"tier": "b", "dimension": "w"}}]}]}),
            "dimensions[0].tiers[0].when",
            "cannot read tiers",
        ),
        (
            json!({"dimensions": [{"key": "v", "name": "", "tiers": [{"key": "a", "name": "A"}]}]}),
            "dimensions[0].name",
            "1 to 40",
        ),
    ];
    for (v, path, msg) in cases {
        let e = TierModel::parse(&v).unwrap_err();
        assert_eq!(e.path, path, "{v}: {e}");
        assert!(e.message.contains(msg), "{v}: {e}");
    }
}

#[test]
fn tier_and_referral_conditions_read_the_snapshot() {
    let f = Filter::parse(&json!({"all": [{"tier": ["ka", "mid"], "dimension": "size"}, {"referrals": {"at_least": 2, "at_most": 5}}]})).unwrap();
    assert_eq!(Filter::parse(&f.to_json()).unwrap(), f);
    let mut c = ContactSnapshot::default();
    c.tiers.insert("size".into(), "mid".into());
    c.referrals = 1;
    assert!(!f.matches(&c, NOW));
    c.referrals = 2;
    assert!(f.matches(&c, NOW));
    c.referrals = 6;
    assert!(!f.matches(&c, NOW));
    let e = Filter::parse(&json!({"tier": "ka"})).unwrap_err();
    assert_eq!(e.path, "dimension");
}
