//! A tracking API request (one Segment message, or a `batch` of them) turned into touches. The
//! HTTP layer calls it on a request as it arrives, and the intake log on a logged request again
//! after a restart, so both read a body the same way.

use hatchery_domain::message::{
    parse_message, Envelope, MessageKind, Shallow, TrackedEvent, MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
};
use serde_json::Value;

use crate::touch::{SourceRef, Touch};

/// Why a request body was refused; nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// A field is missing or wrong (`batch[3].userId`, `sentAt` …).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// One message of a batch is over the per-message limit.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
}

fn invalid(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What a request body holds.
#[derive(Debug, Default)]
pub struct Request {
    pub touches: Vec<Touch>,
    /// Identifiers in the messages' traits that failed validation (and were left out).
    pub rejected_identifiers: u64,
}

/// A request body read, before its source is known: the write key it names (a sender without
/// HTTP Basic puts it in the body) and its messages, or why they are refused.
#[derive(Debug)]
pub struct Body {
    pub write_key: Option<String>,
    messages: Result<Vec<TrackedEvent>, RequestError>,
}

impl Body {
    /// The touches of the messages, from `source`; an invalid message refuses the whole request.
    pub fn touches(self, source: &SourceRef) -> Result<Request, RequestError> {
        let events = self.messages?;
        let mut out = Request {
            touches: Vec::with_capacity(events.len()),
            rejected_identifiers: 0,
        };
        for e in events {
            out.rejected_identifiers += e.rejected_traits.len() as u64;
            out.touches.push(Touch::from_message(e, source));
        }
        Ok(out)
    }
}

/// The touches of a raw body (see [`read_body`]).
pub fn touches_of_body(
    body: &[u8],
    kind: Option<MessageKind>,
    received_at: i64,
    source: &SourceRef,
) -> Result<Request, RequestError> {
    read_body(body, kind, received_at)?.touches(source)
}

/// Reads a request body: the message of a single-message endpoint (`kind`), or the `batch` array
/// of `/v1/batch`. Only text that is not JSON is an error here; an invalid message is kept in
/// [`Body`] so that an unknown write key is told before it.
pub fn read_body(
    body: &[u8],
    kind: Option<MessageKind>,
    received_at: i64,
) -> Result<Body, RequestError> {
    let json = |e: serde_json::Error| RequestError::Json(e.to_string());
    let top = match kind {
        Some(_) => Shallow::message(body).map_err(json)?,
        None => Shallow::batch(body).map_err(json)?,
    };
    let write_key = match &top {
        Shallow::Object(f) => match f.value("writeKey") {
            Some(Value::String(k)) => Some(k),
            _ => None,
        },
        _ => None,
    };
    Ok(Body {
        write_key,
        messages: messages_of(&top, kind, received_at),
    })
}

/// How many messages a body holds (0 if it cannot be read), without checking them.
pub fn count_messages(body: &[u8], kind: Option<MessageKind>) -> usize {
    match kind {
        Some(_) => usize::from(Shallow::message(body).is_ok()),
        None => match Shallow::batch(body) {
            Ok(Shallow::Object(f)) => f.messages("batch").map_or(0, <[_]>::len),
            _ => 0,
        },
    }
}

fn messages_of(
    top: &Shallow<'_>,
    kind: Option<MessageKind>,
    received_at: i64,
) -> Result<Vec<TrackedEvent>, RequestError> {
    let (messages, batch_sent_at, prefix) = match kind {
        Some(_) => (std::slice::from_ref(top), None, "message"),
        None => {
            let fields = match top {
                Shallow::Object(f) => Some(f),
                _ => None,
            };
            let list = fields
                .and_then(|f| f.messages("batch"))
                .ok_or_else(|| invalid("batch", "must be an array of messages"))?;
            if list.len() > MAX_BATCH_MESSAGES {
                return Err(invalid(
                    "batch",
                    format!(
                        "has {} messages; at most {MAX_BATCH_MESSAGES} are allowed",
                        list.len()
                    ),
                ));
            }
            let sent = match fields.and_then(|f| f.value("sentAt")) {
                Some(Value::String(s)) => Some(
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map_err(|_| invalid("sentAt", "must be an ISO-8601 timestamp"))?
                        .timestamp_millis(),
                ),
                _ => None,
            };
            (list, sent, "batch")
        }
    };

    let envelope = Envelope {
        received_at,
        batch_sent_at,
    };
    let mut out = Vec::with_capacity(messages.len());
    let mut counter = 0u32;
    for (i, m) in messages.iter().enumerate() {
        let field = if kind.is_some() {
            prefix.to_owned()
        } else {
            format!("{prefix}[{i}]")
        };
        if kind.is_none() && m.compact_len() > MAX_MESSAGE_BYTES {
            return Err(RequestError::TooLarge {
                message: format!("{field} is larger than {MAX_MESSAGE_BYTES} bytes"),
                field,
            });
        }
        let mut new_id = || {
            counter += 1;
            format!("hatchery-{received_at}-{}-{counter}", rand_suffix())
        };
        let e = parse_message(m, kind, envelope, &field, &mut new_id)
            .map_err(|e| invalid(&e.field, e.message))?;
        out.push(e);
    }
    Ok(out)
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
