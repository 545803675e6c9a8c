//! A tracking request body, as `POST /v1/batch` (and, for some inputs, `POST /v1/<type>`) reads it in
//! `crates/engine/src/tracking.rs`: `Shallow::batch` (or `Shallow::message`), the `batch` array and
//! its `sentAt`, then every message through `parse_message`. Whatever the bytes, parsing must not
//! panic; the shallow reader must accept exactly the bodies a full JSON parser accepts; an accepted
//! message must carry at least one identifier, with every email and mobile identifier normalised,
//! and its stored `properties` and `context` must be JSON objects.

#![no_main]

use hatchery_domain::message::{
    parse_message, Envelope, MessageKind, Shallow, TrackedEvent, MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
};
use hatchery_domain::normalize::{Email, Mobile};
use hatchery_domain::IdentityKind;
use hatchery_fuzz::{check_email, check_mobile};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const RECEIVED_AT: i64 = 1_795_000_000_000;
const KINDS: [MessageKind; 6] = MessageKind::ALL;

fuzz_target!(|body: &[u8]| {
    let full = serde_json::from_slice::<Value>(body);
    let (message, batch) = (Shallow::message(body), Shallow::batch(body));
    assert_eq!(full.is_ok(), message.is_ok(), "the shallow reader disagrees on {body:?}");
    assert_eq!(full.is_ok(), batch.is_ok(), "the shallow reader disagrees on {body:?}");
    let (Ok(v), Ok(message), Ok(batch)) = (full, message, batch) else {
        return;
    };
    // The single-message endpoints take the body as one message of the endpoint's type; which
    // endpoint is picked from the body's length so seeds stay plain JSON.
    if body.len() <= MAX_MESSAGE_BYTES {
        if let Some(kind) = KINDS.get(body.len() % 7) {
            parse_one(&message, Some(*kind), None, "message");
        }
    }
    let Shallow::Object(top) = batch else {
        return;
    };
    let Some(list) = top.messages("batch") else {
        return;
    };
    assert_eq!(Some(list.len()), v.get("batch").and_then(Value::as_array).map(Vec::len));
    if list.len() > MAX_BATCH_MESSAGES {
        return;
    }
    let sent_at = match top.value("sentAt") {
        Some(Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => return,
        },
        _ => None,
    };
    for (i, m) in list.iter().enumerate() {
        if m.compact_len() > MAX_MESSAGE_BYTES {
            return;
        }
        if parse_one(m, None, sent_at, &format!("batch[{i}]")).is_none() {
            return; // the endpoint rejects the whole request at the first bad message
        }
    }
});

fn parse_one(
    m: &Shallow<'_>,
    kind: Option<MessageKind>,
    batch_sent_at: Option<i64>,
    field: &str,
) -> Option<TrackedEvent> {
    let mut counter = 0u32;
    let mut new_id = || {
        counter += 1;
        format!("hatchery-{RECEIVED_AT}-0-{counter}")
    };
    let envelope = Envelope {
        received_at: RECEIVED_AT,
        batch_sent_at,
    };
    match parse_message(m, kind, envelope, field, &mut new_id) {
        Ok(e) => {
            check_event(&e, kind);
            Some(e)
        }
        Err(err) => {
            assert!(
                err.field == field || err.field.starts_with(&format!("{field}.")),
                "error field {:?} is not under {field:?}",
                err.field
            );
            assert!(!err.message.is_empty());
            None
        }
    }
}

fn check_event(e: &TrackedEvent, endpoint: Option<MessageKind>) {
    for stored in [&e.properties, &e.context] {
        let v: Value = serde_json::from_str(stored).expect("stored text is JSON");
        assert!(v.is_object(), "stored text is an object: {stored}");
        assert!(!has_nul(&v), "U+0000 is replaced: {stored}");
    }
    if let Some(kind) = endpoint {
        assert_eq!(e.kind, kind, "the endpoint's type is the message's type");
    }
    assert!(!e.message_id.is_empty());
    assert!(
        e.identifiers
            .iter()
            .any(|i| matches!(i.kind, IdentityKind::UserId | IdentityKind::AnonymousId)),
        "an accepted message has a userId or an anonymousId"
    );
    for id in &e.identifiers {
        assert!(
            !id.value.trim().is_empty(),
            "{:?} identifier is blank",
            id.kind
        );
        match id.kind {
            IdentityKind::Email => check_email(&Email::parse(&id.value).unwrap_or_else(|err| {
                panic!("email identifier {:?} does not parse: {err}", id.value)
            })),
            IdentityKind::Mobile => {
                let m = Mobile::parse(&id.value).unwrap_or_else(|err| {
                    panic!("mobile identifier {:?} does not parse: {err}", id.value)
                });
                assert_eq!(m.as_str(), id.value, "mobile identifier is not normalised");
                check_mobile(&m);
            }
            _ => {}
        }
    }
    if let Some(Value::String(email)) = e.traits.get("email") {
        if !email.trim().is_empty() {
            assert_eq!(
                Email::parse(email).map(Email::into_string).as_deref(),
                Ok(email.as_str()),
                "the email trait is not a normalised email"
            );
        }
    }
    if let Some(Value::String(mobile)) = e.traits.get("mobile") {
        if !mobile.trim().is_empty() {
            assert_eq!(
                Mobile::parse(mobile).map(Mobile::into_string).as_deref(),
                Ok(mobile.as_str()),
                "the mobile trait is not a normalised mobile"
            );
        }
    }
    match e.kind {
        MessageKind::Track => {
            let name = e.name.as_deref().expect("a track has an event name");
            assert!(!name.is_empty() && name.chars().count() <= 200);
        }
        MessageKind::Group => {
            let group = e.group.as_ref().expect("a group names its group");
            assert!(!group.group_id.is_empty());
        }
        _ => assert!(e.group.is_none()),
    }
    assert_eq!(e.received_at, RECEIVED_AT);
    let context: Value = serde_json::from_str(&e.context).expect("stored text is JSON");
    assert!(
        context.get("traits").is_none(),
        "context.traits is moved into the traits"
    );
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
