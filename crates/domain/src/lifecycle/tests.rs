use serde_json::json;

use super::*;
use crate::scoring::ScoreSnapshot;
use crate::{Identifier, IdentityKind, StandardField};

const NOW: Millis = 1_800_000_000_000;

fn contact() -> ContactSnapshot {
    ContactSnapshot::default()
}

fn scored(fit: f64, engagement: f64) -> ScoreSnapshot {
    ScoreSnapshot {
        fit,
        engagement_sign: if engagement > 0.0 { 1 } else { 0 },
        engagement_log: if engagement > 0.0 {
            engagement.log2()
        } else {
            0.0
        },
        half_life_ms: None,
    }
}

#[test]
fn the_default_model_parses_and_writes_back_to_itself() {
    let m = Lifecycle::default_model();
    assert_eq!(m.stages.len(), 9);
    assert_eq!(
        m.stages.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        [
            "subscriber",
            "lead",
            "mql",
            "tql",
            "sql",
            "opportunity",
            "customer",
            "recycled",
            "disqualified"
        ]
    );
    assert_eq!(Lifecycle::parse(&m.to_json()).unwrap(), m);
}

#[test]
fn a_contact_goes_as_far_as_its_criteria_allow_in_one_evaluation() {
    let m = Lifecycle::default_model();
    let mut c = contact();
    assert!(
        m.advance(&mut c, NOW).is_empty(),
        "an unreachable contact stays unstaged"
    );
    c.identities
        .push(Identifier::new(IdentityKind::Email, "a@x.cn"));
    assert_eq!(m.advance(&mut c, NOW), ["subscriber"]);
    assert_eq!(c.stage.as_deref(), Some("subscriber"));
    assert_eq!(c.stage_since, Some(NOW));
    c.fields.insert(StandardField::Name, "王芳".into());
    c.fields.insert(StandardField::Email, "a@x.cn".into());
    c.scores = scored(70.0, 55.0);
    // Subscriber → MQL directly: the latest allowed stage whose criteria hold.
    assert_eq!(m.advance(&mut c, NOW + 1), ["mql"]);
    assert!(
        m.advance(&mut c, NOW + 2).is_empty(),
        "later stages are manual"
    );
}

#[test]
fn automatic_moves_never_go_back_and_follow_allowed_transitions_only() {
    let m = Lifecycle::default_model();
    let mut c = contact();
    c.identities
        .push(Identifier::new(IdentityKind::Email, "a@x.cn"));
    c.stage = Some("customer".into());
    c.stage_since = Some(NOW - 1);
    assert!(
        m.advance(&mut c, NOW).is_empty(),
        "customer → subscriber is not a transition"
    );
    c.stage = Some("disqualified".into());
    assert!(m.advance(&mut c, NOW).is_empty());
}

#[test]
fn a_hold_keeps_a_recycled_contact_until_it_ends_and_schedules_a_look_then() {
    let m = Lifecycle::default_model();
    let mut c = contact();
    c.scores = scored(90.0, 90.0);
    c.stage = Some("recycled".into());
    c.stage_since = Some(NOW);
    let end = NOW + 30 * DAY_MS;
    assert!(m.advance(&mut c, end - 1).is_empty());
    assert_eq!(m.next_change_at(&c, NOW), Some(end));
    assert_eq!(m.advance(&mut c, end), ["mql"]);
}

#[test]
fn a_contact_at_a_stage_no_longer_configured_may_enter_any_stage() {
    let m = Lifecycle::default_model();
    let mut c = contact();
    c.identities
        .push(Identifier::new(IdentityKind::Mobile, "+8613800138000"));
    c.stage = Some("legacy".into());
    assert_eq!(m.advance(&mut c, NOW), ["subscriber"]);
}

#[test]
fn manual_moves_follow_the_transitions() {
    let m = Lifecycle::default_model();
    assert_eq!(m.check_move(None, "sql", None), Ok(()));
    assert_eq!(
        m.check_move(Some("mql"), "sql", Some("called, budget confirmed")),
        Ok(())
    );
    assert_eq!(
        m.check_move(Some("mql"), "mql", None),
        Err(MoveError::AlreadyThere("mql".into()))
    );
    assert_eq!(
        m.check_move(Some("mql"), "nope", None),
        Err(MoveError::UnknownStage("nope".into()))
    );
    let e = m.check_move(Some("customer"), "lead", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a contact at `customer` cannot move to `lead`; allowed: recycled"
    );
    assert_eq!(
        m.check_move(Some("lead"), "mql", Some(&"x".repeat(501))),
        Err(MoveError::ReasonTooLong)
    );
}

#[test]
fn criteria_with_rolling_windows_schedule_the_next_look() {
    let m = Lifecycle::parse(&json!({"stages": [
        {"key": "hot", "name": "Hot", "entry": {"event": {"name": "Pricing Viewed"}, "at_least": 2, "within_days": 7}},
    ]}))
    .unwrap();
    let mut c = contact();
    c.events.push(crate::segment::EventRecord {
        kind: "page".into(),
        name: Some("Pricing Viewed".into()),
        occurred_at: NOW - DAY_MS,
        properties: Default::default(),
    });
    // One visit: the answer can only change with a new event, not with time.
    assert_eq!(m.next_change_at(&c, NOW), None);
    assert!(m.advance(&mut c, NOW).is_empty());
}

#[test]
fn invalid_models_are_refused_naming_the_part() {
    let cases = [
        (json!([]), "", "must be an object"),
        (json!({"stages": []}), "stages", "at least one"),
        (
            json!({"stages": [{"key": "A", "name": "x"}]}),
            "stages[0].key",
            "a-z",
        ),
        (
            json!({"stages": [{"key": "a", "name": ""}]}),
            "stages[0].name",
            "empty",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x", "colour": 1}]}),
            "stages[0].colour",
            "unknown key",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x"}, {"key": "a", "name": "y"}]}),
            "stages[1].key",
            "earlier",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x", "next": ["b"]}]}),
            "stages[0].next[0]",
            "not a stage",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x", "next": ["a"]}]}),
            "stages[0].next[0]",
            "itself",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x", "hold_days": 0}]}),
            "stages[0].hold_days",
            "1 to",
        ),
        (
            json!({"stages": [{"key": "a", "name": "x", "entry": {"tag": 3}}]}),
            "stages[0].entry.tag",
            "",
        ),
        (
            json!({"stages": [
                {"key": "a", "name": "A", "entry": {"tag": "x"}, "next": ["b"]},
                {"key": "b", "name": "B", "entry": {"tag": "y"}, "next": ["a"]}
            ]}),
            "stages",
            "a → b → a",
        ),
    ];
    for (v, path, msg) in cases {
        let e = Lifecycle::parse(&v).unwrap_err();
        assert_eq!(e.path, path, "{v}: {e}");
        assert!(e.message.contains(msg), "{v}: {e}");
    }
    // A cycle through a stage without criteria is fine: people decide that move.
    Lifecycle::parse(&json!({"stages": [
        {"key": "a", "name": "A", "entry": {"tag": "x"}, "next": ["b"]},
        {"key": "b", "name": "B", "next": ["a"]}
    ]}))
    .unwrap();
}

#[test]
fn stage_conditions_read_the_snapshot_stage() {
    let f = Filter::parse(&json!({"stage": ["mql", "sql"]})).unwrap();
    assert_eq!(Filter::parse(&f.to_json()).unwrap(), f);
    let mut c = contact();
    assert!(!f.matches(&c, NOW));
    c.stage = Some("sql".into());
    assert!(f.matches(&c, NOW));
    c.stage = Some("lead".into());
    assert!(!f.matches(&c, NOW));
    for bad in [
        json!({"stage": []}),
        json!({"stage": "MQL"}),
        json!({"stage": 3}),
    ] {
        assert_eq!(Filter::parse(&bad).unwrap_err().path, "stage", "{bad}");
    }
}
