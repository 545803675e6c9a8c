//! Tracking messages in the Segment/RudderStack HTTP spec (identify, track, page, screen, group, alias),
//! checked and reduced to what the pool stores: who (identifiers), what (kind, name, properties), when
//! (clock-skew-corrected time), where from (channel, UTM campaign) and which profile traits to set.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::identity::{Identifier, IdentityKind};
use crate::normalize::{Email, Mobile};

pub mod json;

use json::Fields;
pub use json::Shallow;

/// The spec's limit for one message.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// The spec's limit for one batch request.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// More messages than this in one batch are refused (the byte limit usually bites first).
pub const MAX_BATCH_MESSAGES: usize = 2_500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageKind {
    /// Every kind, in a fixed order (the intake log stores a kind as its position here).
    pub const ALL: [MessageKind; 6] = [
        MessageKind::Identify,
        MessageKind::Track,
        MessageKind::Page,
        MessageKind::Screen,
        MessageKind::Group,
        MessageKind::Alias,
    ];

    pub fn parse(s: &str) -> Option<MessageKind> {
        Some(match s {
            "identify" => MessageKind::Identify,
            "track" => MessageKind::Track,
            "page" => MessageKind::Page,
            "screen" => MessageKind::Screen,
            "group" => MessageKind::Group,
            "alias" => MessageKind::Alias,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Identify => "identify",
            MessageKind::Track => "track",
            MessageKind::Page => "page",
            MessageKind::Screen => "screen",
            MessageKind::Group => "group",
            MessageKind::Alias => "alias",
        }
    }
}

/// A message that cannot be accepted, naming the offending field (`batch[3].event`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MessageError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> MessageError {
    MessageError {
        field: field.into(),
        message: message.into(),
    }
}

/// UTM campaign context (`context.campaign`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Campaign {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub name: Option<String>,
    pub content: Option<String>,
    pub term: Option<String>,
}

/// The company a `group` call names; it becomes an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRef {
    pub group_id: String,
    pub traits: Map<String, Value>,
}

/// One accepted tracking message, ready for identity resolution and storage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackedEvent {
    pub message_id: String,
    pub kind: MessageKind,
    /// Track: the event name; page/screen: the page name; otherwise none.
    pub name: Option<String>,
    pub identifiers: Vec<Identifier>,
    /// Profile traits to set on the contact (identify traits and `context.traits`).
    pub traits: Map<String, Value>,
    /// `properties` as compact JSON object text, as stored.
    pub properties: String,
    /// `context` without its `traits`, as compact JSON object text, as stored.
    pub context: String,
    pub group: Option<GroupRef>,
    /// When it happened, in ms since the epoch, corrected for the sender's clock skew.
    pub occurred_at: i64,
    /// The sender's own `timestamp` (or `originalTimestamp`) exactly as sent, uncorrected. A retry
    /// of a message repeats it, so together with `message_id` it is the message's idempotency key.
    pub client_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub received_at: i64,
    pub channel: Option<String>,
    pub campaign: Campaign,
    /// Identity values present in traits that failed validation (kind only: the value is personal data).
    pub rejected_traits: Vec<IdentityKind>,
}

fn parse_time(v: Option<&Value>, field: &str) -> Result<Option<i64>, MessageError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc).timestamp_millis()))
            .map_err(|_| {
                err(
                    field,
                    "must be an ISO-8601 timestamp such as 2026-11-22T08:30:00.000Z",
                )
            }),
        Some(_) => Err(err(field, "must be an ISO-8601 timestamp string")),
    }
}

/// userId and anonymousId may be strings or numbers in the wild; anything else is an error.
fn id_string(v: Option<&Value>, field: &str) -> Result<Option<String>, MessageError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > 256 => {
            Err(err(field, "must be at most 256 characters"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(err(field, "must be a string")),
    }
}

fn object(v: Option<Value>, field: &str) -> Result<Map<String, Value>, MessageError> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(mut m)) => {
            replace_nul_in_map(&mut m);
            Ok(m)
        }
        Some(_) => Err(err(field, "must be a JSON object")),
    }
}

/// An opened member that must be an object when present (`properties`, `context`).
fn opened<'m, 'a>(
    m: &'m Fields<'a>,
    key: &str,
    field: &str,
) -> Result<Option<&'m Fields<'a>>, MessageError> {
    match m.opened(key) {
        None | Some(Shallow::Null) => Ok(None),
        Some(Shallow::Object(f)) => Ok(Some(f)),
        Some(Shallow::Other) => Err(err(field, "must be a JSON object")),
    }
}

/// Replaces U+0000 in keys and strings by U+FFFD. PostgreSQL's `jsonb` cannot hold the NUL
/// character (an `identify` whose traits held one failed there and not on SQLite), so it is
/// replaced at the edge and both databases store the same thing.
fn replace_nul_in_map(m: &mut Map<String, Value>) {
    if m.keys().any(|k| k.contains('\0')) {
        let old = std::mem::take(m);
        for (k, v) in old {
            m.insert(k.replace('\0', "\u{FFFD}"), v);
        }
    }
    m.values_mut().for_each(replace_nul);
}

fn replace_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(a) => a.iter_mut().for_each(replace_nul),
        Value::Object(m) => replace_nul_in_map(m),
        _ => {}
    }
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    scalar_text(m.get(key)?)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Context shared by every message of one request.
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    pub received_at: i64,
    /// `sentAt` of the enclosing batch, used when a message has none of its own.
    pub batch_sent_at: Option<i64>,
}

/// Checks one message, read by [`Shallow::message`] (or as one of a [`Shallow::batch`]), and
/// reduces it to a [`TrackedEvent`]. `field` names it in errors (`batch[3]`). `default_kind` is
/// the endpoint's type (`/v1/track` implies track); a batch passes `None`.
pub fn parse_message(
    raw: &Shallow<'_>,
    default_kind: Option<MessageKind>,
    envelope: Envelope,
    field: &str,
    new_message_id: &mut dyn FnMut() -> String,
) -> Result<TrackedEvent, MessageError> {
    let Shallow::Object(m) = raw else {
        return Err(err(field, "must be a JSON object"));
    };
    let f = |name: &str| format!("{field}.{name}");

    let kind = match m.value("type").as_ref() {
        Some(Value::String(t)) => MessageKind::parse(t).ok_or_else(|| {
            err(
                f("type"),
                "must be one of identify, track, page, screen, group, alias",
            )
        })?,
        None | Some(Value::Null) => {
            default_kind.ok_or_else(|| err(f("type"), "is required in a batch"))?
        }
        Some(_) => return Err(err(f("type"), "must be a string")),
    };
    if let Some(d) = default_kind {
        if d != kind {
            return Err(err(
                f("type"),
                format!(
                    "is `{}` but this endpoint takes `{}`",
                    kind.as_str(),
                    d.as_str()
                ),
            ));
        }
    }

    let value = |key: &str| m.value(key);
    let user_id = id_string(
        value("userId").or_else(|| value("user_id")).as_ref(),
        &f("userId"),
    )?;
    let anonymous_id = id_string(
        value("anonymousId")
            .or_else(|| value("anonymous_id"))
            .as_ref(),
        &f("anonymousId"),
    )?;
    let message_id = match id_string(value("messageId").as_ref(), &f("messageId"))? {
        Some(id) => id,
        None => new_message_id(),
    };

    let context = opened(m, "context", &f("context"))?;
    let context_value = |key: &str| context.and_then(|c| c.value(key));
    let mut traits = object(context_value("traits"), &f("context.traits"))?;
    let properties = opened(m, "properties", &f("properties"))?;
    let mut group = None;
    match kind {
        MessageKind::Identify => traits.extend(object(value("traits"), &f("traits"))?),
        MessageKind::Group => {
            let group_id = id_string(value("groupId").as_ref(), &f("groupId"))?
                .ok_or_else(|| err(f("groupId"), "is required for group"))?;
            group = Some(GroupRef {
                group_id,
                traits: object(value("traits"), &f("traits"))?,
            });
        }
        _ => {}
    }

    // Members added to the stored properties (where they do not name their own).
    let mut added: Vec<(&str, Value)> = Vec::new();
    let name = match kind {
        MessageKind::Track => {
            let e = match value("event") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                _ => {
                    return Err(err(
                        f("event"),
                        "is required for track and must be a non-empty string",
                    ))
                }
            };
            if e.chars().count() > 200 {
                return Err(err(f("event"), "must be at most 200 characters"));
            }
            Some(e)
        }
        MessageKind::Page | MessageKind::Screen => {
            let n = id_string(value("name").as_ref(), &f("name"))?;
            let own = |key: &str| properties.is_some_and(|p| p.contains(key));
            if let Some(n) = n.as_ref().filter(|_| !own("name")) {
                added.push(("name", Value::String(n.clone())));
            }
            // The spec's top-level `category` (Segment's libraries send it beside `name`) is kept
            // where analytics.js puts it, so it is not lost.
            if let Some(c) = value("category").as_ref().and_then(scalar_text) {
                if !own("category") {
                    added.push(("category", Value::String(c)));
                }
            }
            n
        }
        _ => None,
    };

    let mut identifiers = Vec::new();
    if let Some(u) = &user_id {
        identifiers.push(Identifier::new(IdentityKind::UserId, u.clone()));
    }
    if let Some(a) = &anonymous_id {
        identifiers.push(Identifier::new(IdentityKind::AnonymousId, a.clone()));
    }
    if kind == MessageKind::Alias {
        let prev = id_string(value("previousId").as_ref(), &f("previousId"))?
            .ok_or_else(|| err(f("previousId"), "is required for alias"))?;
        if user_id.is_none() {
            return Err(err(f("userId"), "is required for alias"));
        }
        // The common alias links an anonymous visitor to the user they became.
        identifiers.push(Identifier::new(IdentityKind::AnonymousId, prev));
    }
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(err(
            f("userId"),
            "a message needs a userId or an anonymousId",
        ));
    }

    let mut rejected_traits = Vec::new();
    collect_trait_identifiers(
        &mut traits,
        context_value("externalIds"),
        &mut identifiers,
        &mut rejected_traits,
        &f("context.externalIds"),
    )?;

    let received_at = envelope.received_at;
    let timestamp = parse_time(value("timestamp").as_ref(), &f("timestamp"))?.or(parse_time(
        value("originalTimestamp").as_ref(),
        &f("originalTimestamp"),
    )?);
    let sent_at = parse_time(value("sentAt").as_ref(), &f("sentAt"))?.or(envelope.batch_sent_at);
    let occurred_at = match (timestamp, sent_at) {
        // Segment's skew correction: the sender's clock is off by (sentAt - receivedAt).
        (Some(ts), Some(sent)) => received_at - (sent - ts),
        (Some(ts), None) => ts,
        (None, _) => received_at,
    };

    let campaign = object(context_value("campaign"), &f("context.campaign"))?;
    let campaign = Campaign {
        source: text(&campaign, "source"),
        medium: text(&campaign, "medium"),
        name: text(&campaign, "name"),
        content: text(&campaign, "content"),
        term: text(&campaign, "term"),
    };
    let channel = context_value("channel")
        .as_ref()
        .and_then(scalar_text)
        .or_else(|| value("channel").as_ref().and_then(scalar_text));
    let write = |o: Option<&Fields>, skip: &[&str], added: &[(&str, Value)]| match o {
        Some(o) => o.write(skip, added),
        None => Fields::default().write(skip, added),
    };
    let properties = write(properties, &[], &added);
    let context = write(context, &["traits"], &[]);

    Ok(TrackedEvent {
        message_id,
        kind,
        name,
        identifiers,
        traits,
        properties,
        context,
        group,
        occurred_at,
        client_at: timestamp,
        sent_at,
        received_at,
        channel,
        campaign,
        rejected_traits,
    })
}

/// Finds identity values among traits (`email`, `phone`/`mobile`, WeChat and CRM ids) and
/// `context.externalIds`, normalising them. Invalid emails or mobiles are not identities; they are
/// reported by kind and removed from the traits so the profile never stores a malformed value.
fn collect_trait_identifiers(
    traits: &mut Map<String, Value>,
    external_ids: Option<Value>,
    out: &mut Vec<Identifier>,
    rejected: &mut Vec<IdentityKind>,
    ext_field: &str,
) -> Result<(), MessageError> {
    if let Some(e) = text(traits, "email") {
        match Email::parse(&e) {
            Ok(e) => {
                traits.insert("email".into(), Value::String(e.as_str().to_owned()));
                out.push(Identifier::new(IdentityKind::Email, e.into_string()));
            }
            Err(_) => {
                traits.remove("email");
                rejected.push(IdentityKind::Email);
            }
        }
    }
    for key in ["mobile", "phone"] {
        if let Some(p) = text(traits, key) {
            match Mobile::parse(&p) {
                Ok(mob) => {
                    traits.remove(key);
                    traits.insert("mobile".into(), Value::String(mob.as_str().to_owned()));
                    out.push(Identifier::new(
                        IdentityKind::Mobile,
                        mob.as_str().to_owned(),
                    ));
                }
                Err(_) if key == "phone" => {} // a landline or extension stays a plain trait
                Err(_) => {
                    traits.remove(key);
                    rejected.push(IdentityKind::Mobile);
                }
            }
        }
    }
    for (key, kind) in [
        ("wechat_unionid", IdentityKind::WechatUnionid),
        ("unionid", IdentityKind::WechatUnionid),
        ("crm_id", IdentityKind::CrmId),
        ("wecom_external_id", IdentityKind::WecomExternalId),
    ] {
        if let Some(v) = text(traits, key) {
            out.push(Identifier::new(kind, v));
        }
    }
    if let (Some(app), Some(open)) = (text(traits, "wechat_app_id"), text(traits, "wechat_openid"))
    {
        out.push(Identifier::wechat_openid(&app, &open));
    }
    if let Some(ext) = &external_ids {
        let list = ext
            .as_array()
            .ok_or_else(|| err(ext_field, "must be an array"))?;
        for (i, e) in list.iter().enumerate() {
            let f = format!("{ext_field}[{i}]");
            let obj = e
                .as_object()
                .ok_or_else(|| err(&f, "must be an object with id and type"))?;
            let ty = text(obj, "type").ok_or_else(|| err(format!("{f}.type"), "is required"))?;
            let kind = IdentityKind::parse(&ty).ok_or_else(|| {
                err(
                    format!("{f}.type"),
                    "must be an identity kind such as crm_id, wechat_unionid, wechat_openid",
                )
            })?;
            let id = text(obj, "id").ok_or_else(|| err(format!("{f}.id"), "is required"))?;
            let identifier = match kind {
                IdentityKind::WechatOpenid => {
                    let app = text(obj, "collection").or_else(|| text(obj, "appId"));
                    let app = app.ok_or_else(|| {
                        err(
                            format!("{f}.collection"),
                            "must name the WeChat app id of an openID",
                        )
                    })?;
                    Identifier::wechat_openid(&app, &id)
                }
                IdentityKind::Email => match Email::parse(&id) {
                    Ok(e) => Identifier::new(kind, e.into_string()),
                    Err(_) => {
                        rejected.push(kind);
                        continue;
                    }
                },
                IdentityKind::Mobile => match Mobile::parse(&id) {
                    Ok(m) => Identifier::new(kind, m.as_str().to_owned()),
                    Err(_) => {
                        rejected.push(kind);
                        continue;
                    }
                },
                _ => Identifier::new(kind, id),
            };
            out.push(identifier);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
