//! Reading tracking requests without building them into trees. A message's `properties` and
//! `context` are stored as JSON text, so building them into `serde_json::Value` trees only to write
//! the trees out again was most of the cost of taking a message in. Here a request is read in one
//! pass of the parser: an object becomes its members, each value kept as its raw text, except the
//! members a message is read by (a batch's `batch`, a message's `properties` and `context`), which
//! are opened one level further. A stored object is written back from that text, compacted.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// Which members of an object are opened further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// Every member stays raw text.
    Nothing,
    /// A message: `properties` and `context` are opened.
    Message,
    /// A `/v1/batch` body: `batch` is a list of messages.
    Batch,
}

/// A JSON value read as described above: an object's members, or what else it was.
#[derive(Debug)]
pub enum Shallow<'a> {
    Object(Fields<'a>),
    Null,
    Other,
}

/// One member's value.
#[derive(Debug)]
pub enum Member<'a> {
    Raw(&'a RawValue),
    Opened(Shallow<'a>),
    /// A batch's `batch` member: its messages, or `None` when it was not an array.
    Messages(Option<Vec<Shallow<'a>>>),
}

/// An object's members, in the order they came.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    members: Vec<(Cow<'a, str>, Member<'a>)>,
}

impl<'a> Shallow<'a> {
    /// Reads one message (the body of `/v1/track` and the like).
    pub fn message(text: &'a [u8]) -> Result<Shallow<'a>, serde_json::Error> {
        read(text, Open::Message)
    }

    /// Reads a `/v1/batch` body.
    pub fn batch(text: &'a [u8]) -> Result<Shallow<'a>, serde_json::Error> {
        read(text, Open::Batch)
    }

    /// Reads JSON text with every member raw.
    pub fn raw(text: &'a str) -> Result<Shallow<'a>, serde_json::Error> {
        read(text.as_bytes(), Open::Nothing)
    }

    /// The length of this value as compact JSON.
    pub fn compact_len(&self) -> usize {
        match self {
            Shallow::Object(f) => f.compact_len(),
            Shallow::Null => 4,
            Shallow::Other => 0,
        }
    }
}

fn read(text: &[u8], open: Open) -> Result<Shallow<'_>, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(text);
    let v = Seed(open).deserialize(&mut d)?;
    d.end()?;
    // Text kept raw is only scanned, and the scan lets through what a full parse refuses (and
    // what PostgreSQL would refuse to store, or a later read could not parse): a `\uD800`–`\uDFFF`
    // escape without its pair, a number beyond a double's range. Both are rare (an escaped emoji, a
    // huge exponent), so a body that may hold one is parsed once more, in full.
    if needs_full_parse(text) {
        serde_json::from_slice::<Value>(text)?;
    }
    Ok(v)
}

/// Whether `text` may hold a `\u` escape of a UTF-16 surrogate, or a number too large for a
/// double: an exponent of three digits or more, or 300 digits in a row. Where it says yes without
/// reason (a string holding such text), the price is one more parse.
fn needs_full_parse(text: &[u8]) -> bool {
    let mut digits = 0;
    for (i, &b) in text.iter().enumerate() {
        if b.is_ascii_digit() {
            digits += 1;
            if digits >= 300 {
                return true;
            }
            continue;
        }
        digits = 0;
        let rest = &text[i + 1..];
        match b {
            b'\\' => {
                if let [b'u', b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F', ..] = rest {
                    return true;
                }
            }
            b'e' | b'E' if i > 0 && matches!(text[i - 1], b'0'..=b'9' | b'.') => {
                let exponent = rest
                    .strip_prefix(b"-")
                    .or(rest.strip_prefix(b"+"))
                    .unwrap_or(rest);
                if exponent.iter().take_while(|c| c.is_ascii_digit()).count() >= 3 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&Member<'a>> {
        // The last one where a key repeats, as a parser building a map keeps.
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The raw text of `key`'s value (`None` also for an opened member).
    pub fn raw(&self, key: &str) -> Option<&'a RawValue> {
        match self.get(key)? {
            Member::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// An opened member (`properties`, `context`).
    pub fn opened(&self, key: &str) -> Option<&Shallow<'a>> {
        match self.get(key)? {
            Member::Opened(s) => Some(s),
            _ => None,
        }
    }

    /// A batch's messages: `None` if there is no `batch` or it is not an array.
    pub fn messages(&self, key: &str) -> Option<&[Shallow<'a>]> {
        match self.get(key)? {
            Member::Messages(m) => m.as_deref(),
            _ => None,
        }
    }

    /// The value of a raw member as a tree; for the small scalars of a message (ids, names,
    /// times) and the objects read member by member (traits).
    pub fn value(&self, key: &str) -> Option<Value> {
        self.raw(key).map(tree)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// Writes the object as compact JSON, leaving out the keys in `skip` and appending `extra`
    /// members. A repeated key is written once, with its last value; U+0000 becomes U+FFFD, as
    /// for every stored object (see `replace_nul` in the parent module).
    pub fn write(&self, skip: &[&str], extra: &[(&str, Value)]) -> String {
        let mut out = String::with_capacity(self.compact_len() + 2);
        out.push('{');
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
        };
        let repeats = has_repeated_keys(&self.members);
        for (i, (k, v)) in self.members.iter().enumerate() {
            if skip.contains(&k.as_ref())
                || (repeats && self.members[i + 1..].iter().any(|(later, _)| later == k))
            {
                continue;
            }
            sep(&mut out);
            write_key(&mut out, k);
            match v {
                Member::Raw(v) => write_raw(&mut out, v),
                Member::Opened(Shallow::Object(f)) => out.push_str(&f.write(&[], &[])),
                // Members other than those of a message are never opened, and an opened member
                // that is not an object refuses the message before anything is written.
                Member::Opened(_) | Member::Messages(_) => out.push_str("null"),
            }
        }
        for (k, v) in extra {
            if skip.contains(k) {
                continue;
            }
            sep(&mut out);
            write_key(&mut out, k);
            out.push_str(&v.to_string());
        }
        out.push('}');
        out
    }

    /// The length of this object as compact JSON (a repeated key counted each time).
    pub fn compact_len(&self) -> usize {
        let members: usize = self
            .members
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Member::Raw(v) => compact_len(v.get()),
                    Member::Opened(s) => s.compact_len(),
                    Member::Messages(m) => m.iter().flatten().map(|s| s.compact_len() + 1).sum(),
                };
                key_len(k) + 1 + value
            })
            .sum();
        2 + members + self.members.len().saturating_sub(1)
    }
}

fn has_repeated_keys<T>(members: &[(Cow<'_, str>, T)]) -> bool {
    if members.len() <= 16 {
        members
            .iter()
            .enumerate()
            .any(|(i, (k, _))| members[i + 1..].iter().any(|(l, _)| l == k))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        !members.iter().all(|(k, _)| seen.insert(k.as_ref()))
    }
}

fn needs_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

fn key_len(k: &str) -> usize {
    if k.bytes().any(needs_escape) {
        Value::String(k.to_owned()).to_string().len()
    } else {
        k.len() + 2
    }
}

fn write_key(out: &mut String, k: &str) {
    if k.bytes().any(|b| needs_escape(b) || b == 0) {
        out.push_str(&Value::String(k.replace('\0', "\u{FFFD}")).to_string());
    } else {
        out.push('"');
        out.push_str(k);
        out.push('"');
    }
    out.push(':');
}

/// Raw JSON text, compacted. Text that spells U+0000 goes through a tree so that it is replaced
/// (JSON cannot hold a raw NUL byte, so `\u0000` is the only way to write one).
fn write_raw(out: &mut String, v: &RawValue) {
    let text = v.get();
    if text.contains("\\u0000") {
        let mut t = tree(v);
        super::replace_nul(&mut t);
        out.push_str(&t.to_string());
    } else {
        compact_into(out, text);
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Walks valid JSON text, calling `keep` with each run between whitespace outside strings.
fn without_whitespace(text: &str, mut keep: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if is_space(b) {
            keep(&text[start..i]);
            start = i + 1;
        }
    }
    keep(&text[start..]);
}

/// Copies valid JSON text without the whitespace between its tokens.
fn compact_into(out: &mut String, text: &str) {
    if text.bytes().any(is_space) {
        without_whitespace(text, |run| out.push_str(run));
    } else {
        out.push_str(text);
    }
}

/// The length of valid JSON text once compacted.
fn compact_len(text: &str) -> usize {
    let mut n = 0;
    without_whitespace(text, |run| n += run.len());
    n
}

/// A raw value as a tree. The text was checked when it was read, so this cannot fail.
pub fn tree(v: &RawValue) -> Value {
    serde_json::from_str(v.get()).unwrap_or(Value::Null)
}

/// A visitor's methods for booleans, numbers and strings, each giving `$v` whatever the value (the
/// parser has checked it).
macro_rules! scalars_give {
    ($v:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($v)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($v)
        }
    };
}

/// Reads a value as [`Shallow`], opening the members that `.0` names.
struct Seed(Open);

struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A batch's `batch` member: a list of messages, or anything else.
struct MessagesSeed;

impl<'de> DeserializeSeed<'de> for MessagesSeed {
    type Value = Option<Vec<Shallow<'de>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<Shallow<'de>>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(64).min(4096));
                while let Some(m) = seq.next_element_seed(Seed(Open::Message))? {
                    list.push(m);
                }
                Ok(Some(list))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Read as raw text, not skipped: skipping does not check UTF-8.
                while map.next_entry::<Key<'de>, &'de RawValue>()?.is_some() {}
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            scalars_give!(None);
        }
        d.deserialize_any(V)
    }
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Shallow<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shallow<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Shallow<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(k)) = map.next_key()? {
            let v = match (self.0, k.as_ref()) {
                (Open::Message, "properties" | "context") => {
                    Member::Opened(map.next_value_seed(Seed(Open::Nothing))?)
                }
                (Open::Batch, "batch") => Member::Messages(map.next_value_seed(MessagesSeed)?),
                _ => Member::Raw(map.next_value()?),
            };
            members.push((k, v));
        }
        Ok(Shallow::Object(Fields { members }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shallow<'de>, A::Error> {
        // Read as raw text, not skipped: skipping does not check UTF-8.
        while seq.next_element::<&'de RawValue>()?.is_some() {}
        Ok(Shallow::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shallow<'de>, E> {
        Ok(Shallow::Null)
    }
    scalars_give!(Shallow::Other);
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn fields(text: &str) -> Fields<'_> {
        match Shallow::raw(text).unwrap() {
            Shallow::Object(f) => f,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn an_object_is_written_back_compact_with_its_nested_text_kept() {
        let text = r#"{ "a" : [1, 2, {"b c": "x  y"}], "d":"\u00e9\"", "e" : 1.50 }"#;
        let f = fields(text);
        let compact = r#"{"a":[1,2,{"b c":"x  y"}],"d":"\u00e9\"","e":1.50}"#;
        assert_eq!(f.write(&[], &[]), compact);
        assert_eq!(f.compact_len(), compact.len());
        assert_eq!(
            f.write(&["a"], &[("n", Value::from("x"))]),
            r#"{"d":"\u00e9\"","e":1.50,"n":"x"}"#
        );
        let back: Value = serde_json::from_str(&f.write(&[], &[])).unwrap();
        assert_eq!(back["d"], "é\"");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_a_map_would() {
        let f = fields(r#"{"a":1,"b":2,"a":3}"#);
        assert_eq!(f.write(&[], &[]), r#"{"b":2,"a":3}"#);
        assert_eq!(f.value("a"), Some(Value::from(3)));
        let many: String = (0..40).map(|i| format!("\"k{}\":{i},", i % 30)).collect();
        let text = format!("{{{many}\"z\":0}}");
        let back: Map<String, Value> =
            serde_json::from_str(&fields(&text).write(&[], &[])).unwrap();
        assert_eq!(back.len(), 31);
        assert_eq!(back["k3"], 33);
    }

    #[test]
    fn nul_characters_are_replaced_in_keys_and_values() {
        let f = fields(r#"{"k\u0000":{"d":["\u0000"]},"e":"ok"}"#);
        let back: Value = serde_json::from_str(&f.write(&[], &[])).unwrap();
        assert_eq!(back["k\u{FFFD}"]["d"][0], "\u{FFFD}");
        assert_eq!(back["e"], "ok");
    }

    #[test]
    fn a_batch_opens_its_messages_and_their_properties_and_context() {
        let body = br#"{"writeKey":"k","batch":[{"type":"track","properties":{"a" : 1},"context":[]}, 7]}"#;
        let Shallow::Object(top) = Shallow::batch(body).unwrap() else {
            panic!("an object")
        };
        assert_eq!(top.value("writeKey"), Some(Value::from("k")));
        let messages = top.messages("batch").unwrap();
        assert_eq!(messages.len(), 2);
        let Shallow::Object(m) = &messages[0] else {
            panic!("an object")
        };
        let Some(Shallow::Object(p)) = m.opened("properties") else {
            panic!("opened")
        };
        assert_eq!(p.write(&[], &[]), r#"{"a":1}"#);
        assert!(matches!(m.opened("context"), Some(Shallow::Other)));
        assert!(matches!(messages[1], Shallow::Other));
        let Shallow::Object(top) = Shallow::batch(br#"{"batch":{"a":1}}"#).unwrap() else {
            panic!("an object")
        };
        assert!(top.messages("batch").is_none());
    }

    #[test]
    fn escaped_keys_non_objects_and_bad_text_are_told_apart() {
        let f = fields(r#"{"a\"b":1}"#);
        assert_eq!(f.value("a\"b"), Some(Value::from(1)));
        assert_eq!(f.compact_len(), r#"{"a\"b":1}"#.len());
        assert!(matches!(
            Shallow::raw("[1,{\"a\":2}]").unwrap(),
            Shallow::Other
        ));
        assert!(matches!(Shallow::raw("null").unwrap(), Shallow::Null));
        assert!(matches!(Shallow::raw("\"s\"").unwrap(), Shallow::Other));
        assert!(Shallow::raw("{\"a\":}").is_err());
        assert!(Shallow::raw("{\"a\":1} x").is_err());
        assert!(Shallow::message(b"{\"a\":\"\\x\"}").is_err());
        assert!(Shallow::message(b"{\"a\":\"\xff\"}").is_err());
        // Found by fuzzing: invalid UTF-8 where a value is not opened (a top-level array, a batch
        // that is an object, an array in place of a message or of properties).
        for text in [
            &b"[\"2026-1\xcf\xd2\xcd\"]"[..],
            b"{\"batch\":{\"a\":\"\xff\"}}",
            b"{\"batch\":{\"\xff\":1}}",
            b"{\"batch\":[[\"\xff\"]]}",
            b"{\"properties\":[\"\xff\"]}",
        ] {
            assert!(serde_json::from_slice::<Value>(text).is_err());
            assert!(Shallow::batch(text).is_err(), "{text:?}");
            assert!(Shallow::message(text).is_err(), "{text:?}");
        }
        assert_eq!(compact_len("{ \"a\" : \" \" }"), 9);
    }

    #[test]
    fn bad_numbers_raw_control_characters_and_lone_surrogates_are_refused_as_a_full_parser_refuses_them(
    ) {
        for text in [
            r#"{"properties":{"a":01}}"#,
            r#"{"properties":{"a":[1.]}}"#,
            r#"{"context":{"a":-}}"#,
            "{\"properties\":{\"a\":\"x\ny\"}}",
            r#"{"properties":{"a":"\ud800"}}"#,
            r#"{"context":{"a":["x\uDC00"]}}"#,
            r#"{"userId":"\ud83d"}"#,
            // Found by fuzzing: numbers beyond a double's range where values are kept raw.
            r#"{"properties":{"a":3.3e001313}}"#,
            r#"{"context":{"a":[-1E+400]}}"#,
            r#"{"anonymousId":"a","x":1e309}"#,
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(Shallow::message(text.as_bytes()).is_err(), "{text}");
            assert!(
                Shallow::batch(format!("{{\"batch\":[{text}]}}").as_bytes()).is_err(),
                "{text}"
            );
        }
        let huge = format!(r#"{{"batc,":3.3e001313,"n":{}}}"#, "9".repeat(310));
        assert!(serde_json::from_str::<Value>(&huge).is_err());
        assert!(Shallow::batch(huge.as_bytes()).is_err());
        let long = format!("{{\"n\":{}}}", "9".repeat(310));
        assert!(serde_json::from_str::<Value>(&long).is_err());
        assert!(Shallow::message(long.as_bytes()).is_err());
        // In range, or only text that looks like a number: read as before.
        for text in [
            r#"{"properties":{"a":1e100,"b":2.5E-400,"c":"1e999"}}"#,
            r#"{"context":{"a":1e99}}"#,
        ] {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
            assert!(Shallow::message(text.as_bytes()).is_ok(), "{text}");
        }
        let pair = r#"{"properties":{"a":"\ud83d\ude00 \\ud800"}}"#;
        let Shallow::Object(m) = Shallow::message(pair.as_bytes()).unwrap() else {
            panic!("an object")
        };
        let Some(Shallow::Object(p)) = m.opened("properties") else {
            panic!("opened")
        };
        let back: Value = serde_json::from_str(&p.write(&[], &[])).unwrap();
        assert_eq!(back["a"], "😀 \\ud800");
    }
}
