use serde_json::json;

use super::*;
use crate::segment::{EventRecord, Test};
use crate::StandardField;

const NOW: Millis = 1_795_000_000_000;

fn model() -> ScoringModel {
    ScoringModel::parse(&json!({
        "fit": [
            {"name": "Target industry", "when": {"field": "industry", "op": "in", "value": ["软件", "制造业"]}, "points": 40},
            {"name": "Decision maker", "when": {"field": "title", "op": "contains", "value": "总"}, "points": 30}
        ],
        "engagement": [
            {"name": "Viewed pricing", "event": {"kind": "page", "name": "Pricing"}, "points": 10, "cap": {"points": 20, "per_days": 7}},
            {"name": "Long webinar", "event": {"name": "Webinar Watched"}, "where": [{"property": "minutes", "op": "gte", "value": 30}], "points": 25},
            {"name": "Unsubscribed", "event": {"name": "Unsubscribed"}, "points": -50}
        ],
        "half_life_days": 30,
        "thresholds": [{"score": "engagement", "value": 40}]
    }))
    .unwrap()
}

fn event(kind: &str, name: &str, days_ago: f64, props: serde_json::Value) -> EventRecord {
    EventRecord {
        kind: kind.into(),
        name: Some(name.into()),
        occurred_at: NOW - (days_ago * DAY_MS as f64) as Millis,
        properties: props.as_object().cloned().unwrap_or_default(),
    }
}

#[test]
fn fit_adds_the_points_of_matching_rules_and_grades_them() {
    let m = model();
    let mut c = ContactSnapshot::default();
    c.fields.insert(StandardField::Industry, "软件".into());
    c.fields.insert(StandardField::Title, "销售总监".into());
    let s = m.score(&c, NOW);
    assert_eq!(s.fit, 70.0);
    assert_eq!(s.grade, Grade::B);
    assert_eq!(s.engagement, 0.0);
    let rules: Vec<&str> = s.reasons.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(rules, ["Target industry", "Decision maker"]);
    c.fields.remove(&StandardField::Title);
    assert_eq!(m.score(&c, NOW).grade, Grade::C);
}

#[test]
fn engagement_caps_per_period_decays_and_explains_itself() {
    let m = model();
    let mut c = ContactSnapshot::default();
    // Three pricing views today count 10 + 10 + 0 (cap 20 per 7-day period) …
    c.events = vec![
        event("page", "Pricing", 0.0, json!({})),
        event("page", "Pricing", 0.0, json!({})),
        event("page", "Pricing", 0.0, json!({})),
        // … a 45-minute webinar 30 days ago is worth half of 25; a 10-minute one nothing.
        event("track", "Webinar Watched", 30.0, json!({"minutes": 45})),
        event("track", "Webinar Watched", 1.0, json!({"minutes": 10})),
    ];
    let s = m.score(&c, NOW);
    assert!((s.engagement - 32.5).abs() < 1e-9, "{}", s.engagement);
    let pricing = s
        .reasons
        .iter()
        .find(|r| r.rule == "Viewed pricing")
        .unwrap();
    assert_eq!((pricing.points, pricing.events), (20.0, 2));
    let webinar = s.reasons.iter().find(|r| r.rule == "Long webinar").unwrap();
    assert_eq!((webinar.points, webinar.events), (12.5, 1));
    // Negative rules subtract.
    c.events
        .push(event("track", "Unsubscribed", 0.0, json!({})));
    assert!((m.score(&c, NOW).engagement - (-17.5)).abs() < 1e-9);
}

#[test]
fn stored_scores_decay_without_rewriting_and_know_when_they_cross() {
    let m = model();
    let h = m.half_life_ms();
    let scored = Scored {
        fit: 10.0,
        engagement: 80.0,
        at: NOW,
        grade: Grade::D,
        reasons: vec![],
    };
    let snap = ScoreSnapshot::of(&scored, h);
    assert!((snap.engagement_at(NOW) - 80.0).abs() < 1e-9);
    assert!((snap.engagement_at(NOW + 30 * DAY_MS) - 40.0).abs() < 1e-9);
    assert!(snap.engagement_holds(&Test::Gte(50.0), NOW));
    // 80 halves to 40 after one half-life: "≥ 40" holds until just after that instant.
    let at = snap.engagement_crosses(40.0, NOW).unwrap();
    assert!((at - (NOW + 30 * DAY_MS)).abs() <= 2, "{at}");
    // Never late: up to the instant before, neither `gte` nor `lt` has changed.
    assert!(snap.engagement_holds(&Test::Gte(40.0), at - 1));
    assert!(!snap.engagement_holds(&Test::Lt(40.0), at - 1));
    // At the instant, or (exactly on the threshold) one later, they have; and a contact exactly
    // on it is promised that next instant.
    let after = if snap.engagement_holds(&Test::Gte(40.0), at) {
        assert_eq!(snap.engagement_crosses(40.0, at), Some(at + 1));
        at + 1
    } else {
        at
    };
    assert!(!snap.engagement_holds(&Test::Gte(40.0), after));
    assert!(snap.engagement_holds(&Test::Lt(40.0), after));
    assert_eq!(snap.engagement_crosses(40.0, after), None);
    // Thresholds of the other sign or at 0 are never crossed by decay.
    assert_eq!(snap.engagement_crosses(-5.0, NOW), None);
    assert_eq!(snap.engagement_crosses(0.0, NOW), None);
    // A negative score rises towards 0.
    let neg = ScoreSnapshot::of(
        &Scored {
            engagement: -40.0,
            ..scored.clone()
        },
        h,
    );
    assert!(!neg.engagement_holds(&Test::Gte(-20.0), NOW));
    let up = neg.engagement_crosses(-20.0, NOW).unwrap();
    assert!(neg.engagement_holds(&Test::Gte(-20.0), up));
    // Without decay nothing moves.
    let flat = ScoreSnapshot::of(&scored, None);
    assert!((flat.engagement_at(NOW + 1_000 * DAY_MS) - 80.0).abs() < 1e-9);
    assert_eq!(flat.engagement_crosses(40.0, NOW), None);
    // Never scored: 0.
    let zero = ScoreSnapshot::default();
    assert!(zero.engagement_holds(&Test::Gte(0.0), NOW));
    assert!(!zero.engagement_holds(&Test::Gt(0.0), NOW));
}

#[test]
fn invalid_models_are_refused_naming_the_offending_part() {
    let bad = |v: serde_json::Value| ScoringModel::parse(&v).expect_err("refused");
    let e = bad(
        json!({"fit": [{"name": "x", "when": {"field": "nope", "op": "eq", "value": "a"}, "points": 1}]}),
    );
    assert_eq!(e.path, "fit[0].when.field");
    let e = bad(json!({"fit": [{"name": "x", "when": {"event": {"name": "A"}}, "points": 1}]}));
    assert_eq!(e.path, "fit[0].when");
    let e = bad(
        json!({"engagement": [{"name": "x", "event": {"name": "A"}, "points": 1, "cap": {"points": 5, "per_days": 0}}]}),
    );
    assert_eq!(e.path, "engagement[0].cap.per_days");
    let e = bad(json!({"engagement": [{"name": "x", "event": {}, "points": 1}]}));
    assert_eq!(e.path, "engagement[0].event");
    let e = bad(json!({"engagement": [{"name": "x", "event": {"name": "A"}, "points": 5000}]}));
    assert_eq!(e.path, "engagement[0].points");
    let e = bad(
        json!({"fit": [{"name": "a", "when": {"tag": "x"}, "points": 1}], "engagement": [{"name": "a", "event": {"name": "A"}, "points": 1}]}),
    );
    assert_eq!(e.path, "engagement[0].name");
    let e = bad(json!({"grades": {"A": 50, "B": 60, "C": 40}}));
    assert_eq!(e.path, "grades");
    let e = bad(json!({"thresholds": [{"score": "karma", "value": 3}]}));
    assert_eq!(e.path, "thresholds[0].score");
    let e = bad(json!({"decay": 3}));
    assert_eq!(e.path, "decay");
}

#[test]
fn segments_compare_scores() {
    use crate::segment::Filter;
    let f = |v| Filter::parse(&v).unwrap();
    let mut c = ContactSnapshot::default();
    c.scores = ScoreSnapshot::of(
        &Scored {
            fit: 65.0,
            engagement: 80.0,
            at: NOW,
            grade: Grade::B,
            reasons: vec![],
        },
        Some(30 * DAY_MS),
    );
    let mql = f(
        json!({"all": [{"score": "fit", "op": "gte", "value": 60}, {"score": "engagement", "op": "gte", "value": 50}]}),
    );
    assert!(mql.matches(&c, NOW));
    // Engagement decays below 50 after log2(80/50) half-lives: the filter says when.
    let at = mql.next_change_at(&c, NOW).unwrap();
    assert!(!mql.matches(&c, at));
    assert!(mql.matches(&c, at - 2));
    let e = Filter::parse(&json!({"score": "fit", "op": "eq", "value": 3})).unwrap_err();
    assert_eq!(e.path, "op");
    assert!(mql.dependencies().scores.contains(&ScoreKind::Engagement));
}
