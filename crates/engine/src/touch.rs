//! A touch: anything that tells the pool about a person — a tracking message, an import row, an API
//! edit — reduced to the identifiers it carries and what it changes.

use hatchery_domain::message::TrackedEvent;
use hatchery_domain::Identifier;
use hatchery_store::ingest::{NewEvent, ProfileFields};
use serde_json::{Map, Value};

/// The tracking source a message arrived through, as much of it as a touch records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    pub id: hatchery_domain::ids::SourceId,
    pub name: String,
}

/// A company the touch links the contact to.
#[derive(Debug, Clone, Default)]
pub struct AccountRef {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub traits: Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Touch {
    pub identifiers: Vec<Identifier>,
    pub profile: ProfileFields,
    /// First-touch source recorded on a contact this touch creates.
    pub source: Option<String>,
    pub tags: Vec<i64>,
    pub account: Option<AccountRef>,
    /// The event to append (its `contact` is filled in by the pipeline).
    pub event: Option<NewEvent>,
    /// Where new identity links come from (`src_3`, `imp_7:row:18`, `api`).
    pub origin: String,
    /// What a merge caused by this touch is recorded as.
    pub cause: String,
    /// When it happened (ms); a new contact's creation time.
    pub at: i64,
}

fn text(m: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match m.get(*k)? {
        Value::String(s) => hatchery_domain::normalize::normalize_text(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Standard fields named in Segment traits (and their common aliases); the rest are custom.
pub fn profile_from_traits(traits: &Map<String, Value>) -> ProfileFields {
    use hatchery_domain::normalize::{normalize_city, normalize_province};
    let mut name = text(traits, &["name", "full_name"]);
    if name.is_none() {
        // Segment sends firstName/lastName; Chinese names have no split, so join without a space
        // when either part is CJK.
        let (f, l) = (
            text(traits, &["firstName", "first_name"]),
            text(traits, &["lastName", "last_name"]),
        );
        name = match (f, l) {
            (Some(f), Some(l)) if l.chars().any(|c| c as u32 > 0x2E80) => Some(format!("{l}{f}")),
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        };
    }
    let address = traits.get("address").and_then(Value::as_object);
    let from_addr = |k: &str| address.and_then(|a| text(a, &[k]));
    const STANDARD: [&str; 22] = [
        "name",
        "full_name",
        "firstName",
        "first_name",
        "lastName",
        "last_name",
        "email",
        "mobile",
        "phone",
        "landline",
        "company",
        "title",
        "department",
        "industry",
        "company_size",
        "employees",
        "province",
        "state",
        "city",
        "address",
        "userId",
        "id",
    ];
    let custom = traits
        .iter()
        .filter(|(k, _)| !STANDARD.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let company = match traits.get("company") {
        Some(Value::Object(c)) => text(c, &["name"]),
        _ => text(traits, &["company"]),
    };
    ProfileFields {
        name,
        email: text(traits, &["email"]),
        mobile: text(traits, &["mobile"]),
        landline: text(traits, &["landline"]),
        company,
        title: text(traits, &["title"]),
        department: text(traits, &["department"]),
        industry: text(traits, &["industry"]),
        company_size: text(traits, &["company_size", "employees"]),
        province: text(traits, &["province", "state"])
            .or_else(|| from_addr("state"))
            .map(|p| normalize_province(&p)),
        city: text(traits, &["city"])
            .or_else(|| from_addr("city"))
            .map(|c| normalize_city(&c)),
        custom,
    }
}

impl Touch {
    /// The touch a tracking message makes, arriving through `source`.
    pub fn from_message(e: TrackedEvent, source: &SourceRef) -> Touch {
        let profile = profile_from_traits(&e.traits);
        let first_source = e
            .campaign
            .source
            .clone()
            .or_else(|| e.channel.clone())
            .or_else(|| Some(source.name.clone()));
        let account = e.group.map(|g| AccountRef {
            external_id: Some(g.group_id),
            name: None,
            traits: g.traits,
        });
        let cause = format!("message:{}", e.message_id);
        let event = NewEvent {
            contact: hatchery_domain::ContactId(0),
            message_id: e.message_id,
            client_at: e.client_at.unwrap_or(0),
            kind: e.kind.as_str().to_owned(),
            name: e.name,
            occurred_at: e.occurred_at,
            sent_at: e.sent_at,
            received_at: e.received_at,
            source_id: Some(source.id.0),
            channel: e.channel,
            utm_source: e.campaign.source,
            utm_medium: e.campaign.medium,
            utm_campaign: e.campaign.name,
            properties: e.properties,
            context: e.context,
        };
        Touch {
            identifiers: e.identifiers,
            profile,
            source: first_source,
            tags: Vec::new(),
            account,
            event: Some(event),
            origin: source.id.to_string(),
            cause,
            at: e.occurred_at,
        }
    }
}
