//! The shapes of the tracking endpoints for the OpenAPI document. Request bodies are read by
//! `hatchery_engine::tracking::read_body` and `hatchery_domain::message::parse_message`, not
//! deserialised into [`Message`] or [`Batch`]: those two describe what they read.
//! docs/ingestion.md has the rules.

use hatchery_domain::message::MessageKind;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::error::ErrorDetail;

/// The `type` of a message. Its values come from [`MessageKind::ALL`], so the document lists
/// exactly what is read.
pub struct MessageType;

impl PartialSchema for MessageType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(MessageKind::ALL.map(MessageKind::as_str)))
            .description(Some(
                "The kind of a message: on `/v1/batch` each message says it; the other endpoints imply it.",
            ))
            .into()
    }
}

impl ToSchema for MessageType {}

/// One message of the Segment spec (at most 32 KiB). Every message needs `userId` or
/// `anonymousId`; `track` needs `event`, `group` needs `groupId`, `alias` needs `previousId`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // Describes what is read; messages are read as JSON, never built as this.
pub struct Message {
    /// Required inside a batch; implied by the endpoint otherwise.
    #[schema(rename = "type")]
    pub kind: Option<MessageType>,
    /// The person's id in your systems (a number is read as its text).
    pub user_id: Option<String>,
    /// The browser's or device's id before (or without) a `userId`.
    pub anonymous_id: Option<String>,
    /// De-duplicates retries together with `timestamp`; generated when missing.
    pub message_id: Option<String>,
    /// When it happened (ISO 8601), as the client recorded it.
    pub timestamp: Option<String>,
    /// Read when `timestamp` is missing.
    pub original_timestamp: Option<String>,
    /// When the client sent it (ISO 8601): corrects the client's clock.
    pub sent_at: Option<String>,
    /// `track`: what the person did.
    pub event: Option<String>,
    /// `page`, `screen`: the page's or screen's name.
    pub name: Option<String>,
    /// `page`, `screen`.
    pub category: Option<String>,
    /// `group`: the account's id in your systems.
    pub group_id: Option<String>,
    /// `alias`: the earlier id that `userId` now replaces.
    pub previous_id: Option<String>,
    /// `identify`: the person (email, phone, name, company, WeChat ids …); `group`: the account.
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Value>,
    /// `track`, `page`, `screen`: details of what happened.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    /// Campaign (`context.campaign` → UTM), page, channel and device context.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// The source's write key, when it is not sent as the HTTP Basic user name.
    pub write_key: Option<String>,
}

/// `/v1/batch`: up to 2,500 messages and 500 KiB, stored together or not at all.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // As `Message`.
pub struct Batch {
    pub batch: Vec<Message>,
    /// When the client sent the batch (ISO 8601), for the messages that do not say.
    pub sent_at: Option<String>,
    /// The source's write key, when it is not sent as the HTTP Basic user name.
    pub write_key: Option<String>,
}

/// The answer once every message of the request is durable.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Always `true`.
    pub success: bool,
}

/// The error envelope of the API, with `code` and `message` repeated at the top level, where
/// Segment's client libraries read them.
#[derive(Serialize, ToSchema)]
pub struct TrackingErrorBody {
    pub error: ErrorDetail,
    pub code: String,
    pub message: String,
}
