use serde_json::json;

use super::*;

const NOW: i64 = 1_790_000_000_000;

fn parse(v: Value, kind: Option<MessageKind>) -> Result<TrackedEvent, MessageError> {
    parse_text(&v.to_string(), kind)
}

fn parse_text(text: &str, kind: Option<MessageKind>) -> Result<TrackedEvent, MessageError> {
    let mut n = 0;
    parse_message(
        &Shallow::message(text.as_bytes()).unwrap(),
        kind,
        Envelope {
            received_at: NOW,
            batch_sent_at: None,
        },
        "batch[0]",
        &mut || {
            n += 1;
            format!("gen-{n}")
        },
    )
}

/// The stored properties, read back.
fn props(e: &TrackedEvent) -> Value {
    serde_json::from_str(&e.properties).unwrap()
}

#[test]
fn identify_takes_identifiers_from_user_id_and_traits() {
    let e = parse(
        json!({"type":"identify","userId":"u1","anonymousId":"a1","messageId":"m1",
               "traits":{"email":" Ann@Example.COM ","phone":"138 0013 8000","name":"王安","crm_id":"C-9"}}),
        None,
    )
    .unwrap();
    let kinds: Vec<_> = e
        .identifiers
        .iter()
        .map(|i| (i.kind, i.value.as_str()))
        .collect();
    assert!(kinds.contains(&(IdentityKind::UserId, "u1")));
    assert!(kinds.contains(&(IdentityKind::AnonymousId, "a1")));
    assert!(kinds.contains(&(IdentityKind::Email, "ann@example.com")));
    assert!(kinds.contains(&(IdentityKind::Mobile, "+8613800138000")));
    assert!(kinds.contains(&(IdentityKind::CrmId, "C-9")));
    assert_eq!(e.traits["mobile"], "+8613800138000");
    assert_eq!(e.traits["name"], "王安");
    assert_eq!(e.message_id, "m1");
}

#[test]
fn track_without_event_name_names_the_field() {
    let e = parse(json!({"type":"track","userId":"u1"}), None).unwrap_err();
    assert_eq!(e.field, "batch[0].event");
}

#[test]
fn a_message_needs_some_identity() {
    let e = parse(json!({"type":"track","event":"x"}), None).unwrap_err();
    assert_eq!(e.field, "batch[0].userId");
}

#[test]
fn endpoint_type_must_match_message_type() {
    let e = parse(
        json!({"type":"page","userId":"u"}),
        Some(MessageKind::Track),
    )
    .unwrap_err();
    assert_eq!(e.field, "batch[0].type");
    assert!(parse(json!({"userId":"u","event":"E"}), Some(MessageKind::Track)).is_ok());
}

#[test]
fn clock_skew_is_corrected_with_sent_at() {
    // The sender's clock is 10 s fast; the event happened 2 s before it was sent.
    let e = parse(
        json!({"type":"track","userId":"u","event":"E",
               "timestamp": "2026-09-21T12:00:08Z", "sentAt": "2026-09-21T12:00:10Z"}),
        None,
    )
    .unwrap();
    assert_eq!(e.occurred_at, NOW - 2_000);
    // The idempotency key keeps the sender's timestamp as sent, so a retry (with a later sentAt)
    // produces the same key although its corrected time differs.
    assert_eq!(
        e.client_at,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-09-21T12:00:08Z")
                .unwrap()
                .timestamp_millis()
        )
    );
}

#[test]
fn a_message_without_timestamp_has_no_client_time() {
    let e = parse(json!({"type":"track","userId":"u","event":"E"}), None).unwrap();
    assert_eq!(e.client_at, None);
    assert_eq!(e.occurred_at, NOW);
}

#[test]
fn bad_timestamp_is_a_clear_error() {
    let e = parse(
        json!({"type":"track","userId":"u","event":"E","timestamp":"yesterday"}),
        None,
    )
    .unwrap_err();
    assert_eq!(e.field, "batch[0].timestamp");
}

#[test]
fn missing_message_id_is_generated() {
    let e = parse(
        json!({"type":"page","anonymousId":"a","name":"Pricing"}),
        None,
    )
    .unwrap();
    assert_eq!(e.message_id, "gen-1");
    assert_eq!(e.name.as_deref(), Some("Pricing"));
    assert_eq!(props(&e)["name"], "Pricing");
}

#[test]
fn page_category_is_kept_in_properties_unless_they_name_one() {
    let e = parse(
        json!({"type":"page","anonymousId":"a","name":"Pricing","category":"Docs","properties":{}}),
        None,
    )
    .unwrap();
    assert_eq!(props(&e)["category"], "Docs");
    let e = parse(
        json!({"type":"screen","anonymousId":"a","category":"Docs","properties":{"category":"Own"}}),
        None,
    )
    .unwrap();
    assert_eq!(props(&e)["category"], "Own");
    let e = parse(
        json!({"type":"page","anonymousId":"a","name":"Pricing","category":null}),
        None,
    )
    .unwrap();
    assert!(!props(&e).as_object().unwrap().contains_key("category"));
}

#[test]
fn invalid_trait_email_is_dropped_and_reported_by_kind() {
    let e = parse(
        json!({"type":"identify","userId":"u","traits":{"email":"not-an-email"}}),
        None,
    )
    .unwrap();
    assert!(e.identifiers.iter().all(|i| i.kind != IdentityKind::Email));
    assert!(!e.traits.contains_key("email"));
    assert_eq!(e.rejected_traits, vec![IdentityKind::Email]);
}

#[test]
fn external_ids_carry_wechat_openids_with_their_app() {
    let e = parse(
        json!({"type":"track","anonymousId":"a","event":"Followed",
               "context":{"externalIds":[{"id":"oX","type":"wechat_openid","collection":"wxA"},
                                         {"id":"U1","type":"wechat_unionid"}],
                          "campaign":{"source":"wechat","medium":"qr","name":"expo"}}}),
        None,
    )
    .unwrap();
    assert!(e
        .identifiers
        .contains(&Identifier::wechat_openid("wxA", "oX")));
    assert!(e
        .identifiers
        .contains(&Identifier::new(IdentityKind::WechatUnionid, "U1")));
    assert_eq!(e.campaign.name.as_deref(), Some("expo"));
    let bad = parse(
        json!({"type":"track","anonymousId":"a","event":"E","context":{"externalIds":[{"id":"o","type":"wechat_openid"}]}}),
        None,
    )
    .unwrap_err();
    assert_eq!(bad.field, "batch[0].context.externalIds[0].collection");
}

#[test]
fn alias_links_the_previous_anonymous_id() {
    let e = parse(
        json!({"type":"alias","previousId":"anon-7","userId":"u9"}),
        None,
    )
    .unwrap();
    assert!(e
        .identifiers
        .contains(&Identifier::new(IdentityKind::AnonymousId, "anon-7")));
    assert!(parse(json!({"type":"alias","userId":"u9"}), None).is_err());
}

#[test]
fn group_needs_a_group_id_and_keeps_its_traits() {
    let e = parse(
        json!({"type":"group","userId":"u","groupId":"g1","traits":{"name":"华为"}}),
        None,
    )
    .unwrap();
    assert_eq!(e.group.unwrap().traits["name"], "华为");
    assert!(parse(json!({"type":"group","userId":"u"}), None).is_err());
}

#[test]
fn nul_characters_in_traits_and_properties_become_replacement_characters() {
    let e = parse(
        json!({"type":"identify","userId":"u","traits":{"note":"a\u{0}b","k\u{0}":["x\u{0}"]}}),
        None,
    )
    .unwrap();
    assert_eq!(e.traits["note"], "a\u{FFFD}b");
    assert_eq!(e.traits["k\u{FFFD}"][0], "x\u{FFFD}");
    let e = parse(
        json!({"type":"track","userId":"u","event":"E","properties":{"c":{"d":"\u{0}"}}}),
        None,
    )
    .unwrap();
    assert_eq!(props(&e)["c"]["d"], "\u{FFFD}");
}

#[test]
fn properties_and_context_are_stored_as_sent_compacted_and_context_without_traits() {
    let e = parse_text(
        r#"{"type":"track","userId":"u","event":"E",
            "properties":{ "b" : [1, 2.50, "x y"], "a":"\u4e2d" },
            "context":{"traits":{"email":"Ann@Example.com"},"page":{"path":"/"},"channel":"web"}}"#,
        None,
    )
    .unwrap();
    assert_eq!(e.properties, r#"{"b":[1,2.50,"x y"],"a":"\u4e2d"}"#);
    assert_eq!(e.context, r#"{"page":{"path":"/"},"channel":"web"}"#);
    assert_eq!(e.traits["email"], "ann@example.com");
    assert_eq!(e.channel.as_deref(), Some("web"));
    let e = parse(json!({"type":"identify","userId":"u"}), None).unwrap();
    assert_eq!((e.properties.as_str(), e.context.as_str()), ("{}", "{}"));
    let e = parse(
        json!({"type":"page","userId":"u","name":"P","properties":null}),
        None,
    )
    .unwrap();
    assert_eq!(e.properties, r#"{"name":"P"}"#);
}

#[test]
fn properties_or_context_that_are_not_objects_name_the_field() {
    for (m, field) in [
        (
            json!({"type":"track","userId":"u","event":"E","properties":[1]}),
            "batch[0].properties",
        ),
        (
            json!({"type":"track","userId":"u","event":"E","context":"web"}),
            "batch[0].context",
        ),
        (
            json!({"type":"track","userId":"u","event":"E","context":{"traits":3}}),
            "batch[0].context.traits",
        ),
        (
            json!({"type":"track","userId":"u","event":"E","context":{"campaign":[]}}),
            "batch[0].context.campaign",
        ),
    ] {
        assert_eq!(parse(m, None).unwrap_err().field, field);
    }
    let not_object = parse_message(
        &Shallow::message(b"[1]").unwrap(),
        None,
        Envelope {
            received_at: NOW,
            batch_sent_at: None,
        },
        "batch[0]",
        &mut || "x".to_owned(),
    );
    assert_eq!(not_object.unwrap_err().field, "batch[0]");
}
