use serde_json::{json, Value};

use super::*;
use crate::Identifier;

const NOW: Millis = 1_795_000_000_000;

fn f(v: Value) -> Filter {
    Filter::parse(&v).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(v: Value) -> FilterError {
    Filter::parse(&v).expect_err("the filter should be refused")
}

fn event(kind: &str, name: &str, days_ago: i64, props: Value) -> EventRecord {
    EventRecord {
        kind: kind.into(),
        name: Some(name.into()),
        occurred_at: NOW - days_ago * DAY_MS,
        properties: props.as_object().cloned().unwrap_or_default(),
    }
}

fn contact() -> ContactSnapshot {
    let mut c = ContactSnapshot::default();
    c.fields.insert(StandardField::City, "深圳".into());
    c.fields.insert(StandardField::Source, "wechat".into());
    c.fields.insert(StandardField::Email, "wei@yunqi.cn".into());
    c.traits = json!({"budget": 120000, "plan": "pro", "trial": true, "note": null})
        .as_object()
        .cloned()
        .unwrap();
    c.tags.insert("vip".into());
    c.identities
        .push(Identifier::wechat_openid("wx123", "oAbc"));
    c.account = Some(AccountSnapshot {
        fields: [(AccountField::Industry, "制造业".to_owned())].into(),
        traits: json!({"tier": "KA"}).as_object().cloned().unwrap(),
    });
    c.events = vec![
        event("page", "Pricing", 1, json!({"plan": "pro"})),
        event("page", "Pricing", 3, json!({"plan": "basic"})),
        event("page", "Pricing", 6, json!({"plan": "pro"})),
        event("page", "Pricing", 20, json!({"plan": "pro"})),
        event("track", "Demo Requested", 40, json!({})),
    ];
    c
}

#[test]
fn profile_trait_tag_identity_and_account_conditions_read_the_snapshot() {
    let c = contact();
    for (filter, expected) in [
        (json!({"field": "city", "op": "eq", "value": "深圳"}), true),
        (
            json!({"field": "source", "op": "in", "value": ["sem", "wechat"]}),
            true,
        ),
        (
            json!({"field": "email", "op": "contains", "value": "@yunqi"}),
            true,
        ),
        (
            json!({"field": "email", "op": "starts_with", "value": "WEI"}),
            false,
        ),
        (json!({"field": "title", "op": "not_exists"}), true),
        (json!({"field": "title", "op": "ne", "value": "CTO"}), true),
        (
            json!({"trait": "budget", "op": "gte", "value": 100000}),
            true,
        ),
        (
            json!({"trait": "budget", "op": "eq", "value": "120000"}),
            false,
        ),
        (json!({"trait": "plan", "op": "gt", "value": 1}), false),
        (json!({"trait": "trial", "op": "eq", "value": true}), true),
        (json!({"trait": "note", "op": "exists"}), false),
        (json!({"tag": "vip"}), true),
        (json!({"tag": "VIP"}), false),
        (json!({"identity": "wechat_openid", "app": "wx123"}), true),
        (json!({"identity": "wechat_openid", "app": "wx12"}), false),
        (json!({"identity": "email"}), false),
        (
            json!({"account": "industry", "op": "eq", "value": "制造业"}),
            true,
        ),
        (
            json!({"account_trait": "tier", "op": "in", "value": ["KA", "SMB"]}),
            true,
        ),
        (json!({"account": "city", "op": "exists"}), false),
    ] {
        assert_eq!(f(filter.clone()).matches(&c, NOW), expected, "{filter}");
    }
    let mut no_account = c.clone();
    no_account.account = None;
    let missing = f(json!({"account": "industry", "op": "not_exists"}));
    assert!(missing.matches(&no_account, NOW));
    assert!(!missing.matches(&c, NOW));
}

#[test]
fn event_conditions_count_matching_events_in_the_window() {
    let c = contact();
    let pricing = |extra: Value| {
        let mut v = json!({"event": {"kind": "page", "name": "Pricing"}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f(v)
    };
    assert!(pricing(json!({"at_least": 3, "within_days": 7})).matches(&c, NOW));
    assert!(!pricing(json!({"at_least": 4, "within_days": 7})).matches(&c, NOW));
    assert!(pricing(json!({"at_least": 4})).matches(&c, NOW), "all time");
    let pro = json!([{"property": "plan", "op": "eq", "value": "pro"}]);
    assert!(pricing(json!({"where": pro, "at_least": 2, "within_days": 7})).matches(&c, NOW));
    assert!(!pricing(json!({"where": pro, "at_least": 3, "within_days": 7})).matches(&c, NOW));
    // "Has not requested a demo since 30 days ago" vs "since 50 days ago".
    let no_demo = |since: Millis| {
        f(json!({"event": {"name": "Demo Requested"}, "at_most": 0, "since": since}))
    };
    assert!(no_demo(NOW - 30 * DAY_MS).matches(&c, NOW));
    assert!(!no_demo(NOW - 50 * DAY_MS).matches(&c, NOW));
    let between = pricing(json!({"at_least": 1, "at_most": 2, "within_days": 5}));
    assert!(between.matches(&c, NOW));
    assert!(
        between.matches(&c, NOW + 4 * DAY_MS),
        "the event from 1 day ago is exactly at the window's start, which counts"
    );
    assert!(
        !between.matches(&c, NOW + 5 * DAY_MS),
        "both events left the window"
    );
}

#[test]
fn nested_all_any_not_combine_conditions() {
    let c = contact();
    let filter = f(json!({"all": [
        {"tag": "vip"},
        {"any": [{"field": "city", "op": "eq", "value": "北京"}, {"trait": "plan", "op": "eq", "value": "pro"}]},
        {"not": {"identity": "mobile"}}
    ]}));
    assert!(filter.matches(&c, NOW));
    let mut without = c.clone();
    without
        .identities
        .push(Identifier::new(IdentityKind::Mobile, "+8613800000001"));
    assert!(!filter.matches(&without, NOW));
}

#[test]
fn errors_name_the_offending_part_by_its_path() {
    let cases = [
        (
            json!({"all": [{"tag": "a"}, {"tag": "b"}, {"any": [{"field": "town", "op": "eq", "value": "x"}]}]}),
            "all[2].any[0].field",
        ),
        (
            json!({"all": [{"field": "city", "op": "gte", "value": 3}]}),
            "all[0].op",
        ),
        (
            json!({"any": [{"trait": "budget", "op": "gte", "value": "a lot"}]}),
            "any[0].value",
        ),
        (json!({"not": {"tag": "vip", "field": "city"}}), "not"),
        (json!({"all": []}), "all"),
        (json!({"tag": "vip", "colour": "red"}), "colour"),
        (json!({"identity": "email", "app": "wx1"}), "app"),
        (
            json!({"event": {"kind": "page"}, "within_days": 0}),
            "within_days",
        ),
        (
            json!({"event": {"kind": "page"}, "within_days": 7, "since": 1}),
            "since",
        ),
        (
            json!({"event": {"kind": "page"}, "at_least": 3, "at_most": 2}),
            "at_most",
        ),
        (json!({"event": {}}), "event"),
        (
            json!({"event": {"kind": "page"}, "where": [{"property": "a.b", "op": "exists"}]}),
            "where[0].property",
        ),
        (json!({"trait": "x", "op": "like", "value": "y"}), "op"),
        (json!({"trait": "x", "op": "exists", "value": "y"}), "value"),
        (json!([1]), ""),
        (
            json!({"trait": "x", "op": "contains", "value": "a\u{0}b"}),
            "value",
        ),
        (
            json!({"any": [{"trait": "x", "op": "in", "value": ["ok", "\u{FFFD}"]}]}),
            "any[0].value[1]",
        ),
    ];
    for (filter, path) in cases {
        let e = refused(filter.clone());
        assert_eq!(e.path, path, "{filter}: {e}");
        assert!(!e.message.is_empty());
    }
    let e = refused(json!({"field": "town", "op": "eq", "value": "x"}));
    assert!(
        e.to_string()
            .starts_with("field: `town` is not a standard field"),
        "{e}"
    );
}

#[test]
fn limits_on_depth_conditions_strings_counts_and_windows_are_enforced() {
    let mut deep = json!({"tag": "vip"});
    for _ in 0..limits::MAX_DEPTH - 1 {
        deep = json!({"not": deep});
    }
    assert!(Filter::parse(&deep).is_ok());
    let e = refused(json!({"not": deep}));
    assert!(e.message.contains("deeper"), "{e}");
    assert_eq!(e.path.matches("not").count(), limits::MAX_DEPTH);

    let many: Vec<Value> = (0..=limits::MAX_CONDITIONS)
        .map(|i| json!({"tag": format!("t{i}")}))
        .collect();
    let e = refused(json!({"any": many}));
    assert_eq!(e.path, format!("any[{}]", limits::MAX_CONDITIONS));

    let long = "字".repeat(limits::MAX_STRING_CHARS + 1);
    assert_eq!(
        refused(json!({"field": "name", "op": "eq", "value": long})).path,
        "value"
    );
    let e = refused(json!({"event": {"kind": "page"}, "at_least": limits::MAX_COUNT + 1}));
    assert_eq!(e.path, "at_least");
    let e = refused(json!({"event": {"kind": "page"}, "within_days": limits::MAX_WITHIN_DAYS + 1}));
    assert_eq!(e.path, "within_days");
    let list: Vec<u32> = (0..=limits::MAX_IN_VALUES as u32).collect();
    assert_eq!(
        refused(json!({"trait": "n", "op": "in", "value": list})).path,
        "value"
    );
}

#[test]
fn json_form_round_trips() {
    let v = json!({"all": [
        {"field": "city", "op": "in", "value": ["深圳", "广州"]},
        {"trait": "budget", "op": "lt", "value": 1.5},
        {"account_trait": "tier", "op": "not_exists"},
        {"identity": "wechat_openid", "app": "wx1"},
        {"not": {"event": {"kind": "track", "name": "Signed Up"}, "where": [{"property": "plan", "op": "ne", "value": false}], "at_least": 2, "at_most": 5, "within_days": 30}},
        {"event": {"name": "Webinar Attended"}, "since": 1_700_000_000_000_i64}
    ]});
    let filter = f(v);
    assert_eq!(Filter::parse(&filter.to_json()).unwrap(), filter);
}

#[test]
fn dependencies_list_what_the_filter_reads() {
    let filter = f(json!({"any": [
        {"field": "city", "op": "eq", "value": "深圳"},
        {"tag": "vip"},
        {"not": {"trait": "budget", "op": "exists"}},
        {"account": "industry", "op": "exists"},
        {"identity": "wechat_unionid"},
        {"event": {"kind": "page", "name": "Pricing"}, "within_days": 7},
        {"event": {"kind": "track"}, "within_days": 30},
        {"event": {"name": "Demo"}, "since": 1000}
    ]}));
    let d = filter.dependencies();
    assert_eq!(d.fields, [StandardField::City].into());
    assert_eq!(d.tags, ["vip".to_owned()].into());
    assert_eq!(d.traits, ["budget".to_owned()].into());
    assert_eq!(d.account_fields, [AccountField::Industry].into());
    assert_eq!(d.identity_kinds, [IdentityKind::WechatUnionid].into());
    assert_eq!(d.longest_window_days, Some(30));
    assert_eq!(d.earliest_since, Some(1000));
    assert!(!d.all_time_events);
    assert!(d.event_matters("page", Some("Pricing")));
    assert!(
        d.event_matters("track", Some("Anything")),
        "track with any name"
    );
    assert!(
        d.event_matters("identify", Some("Demo")),
        "Demo of any kind"
    );
    assert!(!d.event_matters("page", Some("Home")));
    assert_eq!(d.events_needed_since(NOW), Some(1000));
    let no_events = f(json!({"tag": "vip"})).dependencies();
    assert_eq!(no_events.events_needed_since(NOW), None);
    assert!(!no_events.event_matters("page", None));
}

#[test]
fn next_change_is_when_enough_events_leave_the_rolling_window() {
    let c = contact();
    // Pricing pages 1, 3 and 6 days ago are inside 7 days: three now, two once the 6-day-old
    // one is older than 7 days.
    let three =
        f(json!({"event": {"kind": "page", "name": "Pricing"}, "at_least": 3, "within_days": 7}));
    let at = three.next_change_at(&c, NOW).expect("the count will drop");
    assert_eq!(at, NOW - 6 * DAY_MS + 7 * DAY_MS + 1);
    assert!(three.matches(&c, at - 1));
    assert!(!three.matches(&c, at));
    // At least two: it changes only when the second event (3 days old) leaves.
    let two =
        f(json!({"event": {"kind": "page", "name": "Pricing"}, "at_least": 2, "within_days": 7}));
    assert_eq!(two.next_change_at(&c, NOW), Some(NOW + 4 * DAY_MS + 1));
    // Not matching now (too few): it only changes through new events.
    let four =
        f(json!({"event": {"kind": "page", "name": "Pricing"}, "at_least": 4, "within_days": 7}));
    assert_eq!(four.next_change_at(&c, NOW), None);
    // "At most 0 in 7 days" becomes true when the last counted event leaves; wrapped in `not`
    // and `all`, the earliest change still shows.
    let quiet = f(
        json!({"all": [{"tag": "vip"}, {"not": {"event": {"kind": "page"}, "at_most": 0, "within_days": 7}}]}),
    );
    assert_eq!(quiet.next_change_at(&c, NOW), Some(NOW + 6 * DAY_MS + 1));
    // Fixed windows and profile conditions never change with time alone.
    let fixed = f(json!({"any": [{"tag": "vip"}, {"event": {"kind": "page"}, "since": 5}]}));
    assert_eq!(fixed.next_change_at(&c, NOW), None);
}

#[test]
fn every_filter_in_the_documentation_is_valid() {
    let doc = include_str!("../../../../docs/segments.md");
    let mut checked = 0;
    let mut candidates: Vec<&str> = doc
        .split("```json")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    // Inline code that is JSON, e.g. `{"tag": "KA"}`.
    candidates.extend(doc.split('`').skip(1).step_by(2));
    for text in candidates {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        // The error envelope, and templates such as {"identity": "<type>"}.
        if o.contains_key("error") || text.contains('<') {
            continue;
        }
        let v = Value::Object(o);
        Filter::parse(&v).unwrap_or_else(|e| panic!("docs/segments.md: {text}: {e}"));
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} examples found");
}

#[test]
fn membership_reports_entered_and_exited_segments_and_the_next_check() {
    use crate::ids::SegmentId;
    use std::collections::BTreeSet;
    let mut c = contact();
    let vip = f(json!({"tag": "vip"}));
    let beijing = f(json!({"field": "city", "op": "eq", "value": "北京"}));
    let three =
        f(json!({"event": {"kind": "page", "name": "Pricing"}, "at_least": 3, "within_days": 7}));
    let segments = [
        (SegmentId(1), &vip),
        (SegmentId(2), &beijing),
        (SegmentId(3), &three),
    ];
    // In 2 (wrongly) and in 9 (a segment not evaluated here: left alone).
    let current: BTreeSet<SegmentId> = [SegmentId(2), SegmentId(9)].into();
    let change = membership::evaluate(&mut c, segments, &current, NOW);
    assert_eq!(change.entered, vec![SegmentId(1), SegmentId(3)]);
    assert_eq!(change.exited, vec![SegmentId(2)]);
    assert_eq!(change.next_check, Some(NOW + DAY_MS + 1));
    assert!(!change.is_empty());
    // At the next check the behavioural segment is left, and nothing else changes.
    let now = change.next_check.unwrap();
    let current: BTreeSet<SegmentId> = [SegmentId(1), SegmentId(3)].into();
    let later = membership::evaluate(&mut c, segments, &current, now);
    assert_eq!(later.entered, vec![]);
    assert_eq!(later.exited, vec![SegmentId(3)]);
    assert_eq!(later.next_check, None);
}

#[test]
fn a_segment_reads_another_segments_membership_in_the_same_pass() {
    use crate::ids::SegmentId;
    use std::collections::BTreeSet;
    let mut c = contact();
    let vip = f(json!({"tag": "vip"}));
    let vip_in_shenzhen =
        f(json!({"all": [{"segment": "seg_1"}, {"field": "city", "op": "eq", "value": "深圳"}]}));
    assert_eq!(
        vip_in_shenzhen.dependencies().segments,
        [SegmentId(1)].into()
    );
    // seg_2 references seg_1: ordered after it, it sees seg_1's new answer at once.
    let ordered = membership::in_reference_order(
        vec![(SegmentId(2), &vip_in_shenzhen), (SegmentId(1), &vip)],
        |f| f.dependencies().segments,
    )
    .unwrap();
    assert_eq!(ordered[0].0, SegmentId(1));
    let change = membership::evaluate(
        &mut c,
        ordered.iter().map(|(i, f)| (*i, *f)),
        &BTreeSet::new(),
        NOW,
    );
    assert_eq!(change.entered, vec![SegmentId(1), SegmentId(2)]);
    // Cycles are refused.
    let a = f(json!({"segment": "seg_4"}));
    let b = f(json!({"segment": "seg_3"}));
    assert!(
        membership::in_reference_order(vec![(SegmentId(3), &a), (SegmentId(4), &b)], |f| f
            .dependencies()
            .segments)
        .is_err()
    );
    let e = Filter::parse(&json!({"segment": "ct_1"})).unwrap_err();
    assert_eq!(e.path, "segment");
    assert_eq!(
        f(json!({"segment": "seg_9"})).to_json(),
        json!({"segment": "seg_9"})
    );
}
