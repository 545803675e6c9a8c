//! Reading a filter from its JSON form and writing it back. Parsing checks every limit, so a
//! [`Filter`] that exists is valid; an error names the offending part by its path from the filter's
//! root (`all[2].any[0].field`).

use serde_json::{json, Map, Value};

use super::limits::{
    MAX_COUNT, MAX_DEPTH, MAX_IN_VALUES, MAX_KEY_CHARS, MAX_STRING_CHARS, MAX_WHERE,
    MAX_WITHIN_DAYS,
};
use super::{AccountField, Condition, EventCondition, Filter, Scalar, Test, Window};
use crate::ids::SegmentId;
use crate::scoring::ScoreKind;
use crate::{IdentityKind, StandardField};

/// Why a filter was refused, and where: `path` is empty for the root, else like
/// `all[2].any[0].value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "filter" } else { path.as_str() })]
pub struct FilterError {
    pub path: String,
    pub message: String,
}

/// The keys that say which kind of node an object is; exactly one must be present.
const NODE_KEYS: [&str; 16] = [
    "all",
    "any",
    "not",
    "field",
    "trait",
    "account",
    "account_trait",
    "tag",
    "identity",
    "event",
    "score",
    "segment",
    "stage",
    "tier",
    "referrals",
    "consent",
];

struct Parser {
    conditions: usize,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl Filter {
    /// Reads a filter from JSON, checking shape, names, operators, value types and limits.
    pub fn parse(v: &Value) -> Result<Filter, FilterError> {
        let mut p = Parser { conditions: 0 };
        p.node(v, "", 1)
    }
}

impl Parser {
    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        let Value::Object(o) = v else {
            return Err(err(
                path,
                "must be an object such as {\"all\": [...]} or {\"tag\": \"vip\"}",
            ));
        };
        let present: Vec<&str> = NODE_KEYS
            .into_iter()
            .filter(|k| o.contains_key(*k))
            .collect();
        let kind = match present.as_slice() {
            [one] => *one,
            [] => {
                return Err(err(
                    path,
                    format!("must have one of the keys {}", NODE_KEYS.join(", ")),
                ))
            }
            [a, b, ..] => {
                return Err(err(
                    path,
                    format!("has both `{a}` and `{b}`; wrap several conditions in `all` or `any`"),
                ))
            }
        };
        match kind {
            "all" | "any" => {
                only_keys(o, path, &[kind])?;
                let p = join(path, kind);
                let Value::Array(items) = &o[kind] else {
                    return Err(err(&p, "must be a list of conditions"));
                };
                if items.is_empty() {
                    return Err(err(&p, "must hold at least one condition"));
                }
                let children = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.node(c, &format!("{p}[{i}]"), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if kind == "all" {
                    Filter::All(children)
                } else {
                    Filter::Any(children)
                })
            }
            "not" => {
                only_keys(o, path, &["not"])?;
                let inner = self.node(&o["not"], &join(path, "not"), depth + 1)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            _ => {
                self.count(path)?;
                self.condition(kind, o, path).map(Filter::Condition)
            }
        }
    }

    fn count(&mut self, path: &str) -> Result<(), FilterError> {
        self.conditions += 1;
        if self.conditions > super::limits::MAX_CONDITIONS {
            return Err(err(
                path,
                format!(
                    "the filter has more than {} conditions",
                    super::limits::MAX_CONDITIONS
                ),
            ));
        }
        Ok(())
    }

    fn condition(
        &mut self,
        kind: &str,
        o: &Map<String, Value>,
        path: &str,
    ) -> Result<Condition, FilterError> {
        match kind {
            "field" => {
                only_keys(o, path, &["field", "op", "value"])?;
                let p = join(path, "field");
                let name = string(&o["field"], &p)?;
                let field = StandardField::parse(name).ok_or_else(|| {
                    err(
                        &p,
                        format!(
                            "`{}` is not a standard field (one of {}); custom fields use `trait`",
                            clip(name),
                            StandardField::ALL.map(StandardField::as_str).join(", ")
                        ),
                    )
                })?;
                Ok(Condition::Field {
                    field,
                    test: test(o, path, true)?,
                })
            }
            "account" => {
                only_keys(o, path, &["account", "op", "value"])?;
                let p = join(path, "account");
                let name = string(&o["account"], &p)?;
                let field = AccountField::parse(name).ok_or_else(|| {
                    err(
                        &p,
                        format!(
                            "`{}` is not an account field (one of {}); custom account fields use `account_trait`",
                            clip(name),
                            AccountField::ALL.map(AccountField::as_str).join(", ")
                        ),
                    )
                })?;
                Ok(Condition::Account {
                    field,
                    test: test(o, path, true)?,
                })
            }
            "trait" | "account_trait" => {
                only_keys(o, path, &[kind, "op", "value"])?;
                let key = json_key(&o[kind], &join(path, kind))?;
                let test = test(o, path, false)?;
                Ok(if kind == "trait" {
                    Condition::Trait { key, test }
                } else {
                    Condition::AccountTrait { key, test }
                })
            }
            "tag" => {
                only_keys(o, path, &["tag"])?;
                let p = join(path, "tag");
                Ok(Condition::Tag {
                    name: bounded(&o["tag"], &p, 64)?.to_owned(),
                })
            }
            "identity" => {
                only_keys(o, path, &["identity", "app"])?;
                let p = join(path, "identity");
                let name = string(&o["identity"], &p)?;
                let kind = IdentityKind::parse(name).ok_or_else(|| {
                    err(
                        &p,
                        format!(
                            "`{}` is not an identifier type (one of {})",
                            clip(name),
                            IdentityKind::ALL.map(IdentityKind::as_str).join(", ")
                        ),
                    )
                })?;
                let app = match o.get("app") {
                    None | Some(Value::Null) => None,
                    Some(a) => {
                        let p = join(path, "app");
                        if kind != IdentityKind::WechatOpenid {
                            return Err(err(&p, "only applies to wechat_openid"));
                        }
                        let a = bounded(a, &p, 64)?;
                        if a.contains(':') {
                            return Err(err(&p, "an app id cannot contain `:`"));
                        }
                        Some(a.to_owned())
                    }
                };
                Ok(Condition::Identity { kind, app })
            }
            "event" => self.event(o, path).map(Condition::Event),
            "score" => {
                only_keys(o, path, &["score", "op", "value"])?;
                let p = join(path, "score");
                let kind = ScoreKind::parse(string(&o["score"], &p)?)
                    .ok_or_else(|| err(&p, "must be \"fit\" or \"engagement\""))?;
                let test = test(o, path, false)?;
                if !matches!(
                    test,
                    Test::Lt(_) | Test::Lte(_) | Test::Gt(_) | Test::Gte(_)
                ) {
                    return Err(err(
                        &join(path, "op"),
                        "scores are compared with lt, lte, gt or gte",
                    ));
                }
                Ok(Condition::Score { kind, test })
            }
            "segment" => {
                only_keys(o, path, &["segment"])?;
                let p = join(path, "segment");
                let id = string(&o["segment"], &p)?
                    .parse::<SegmentId>()
                    .map_err(|e| err(&p, e.to_string()))?;
                Ok(Condition::InSegment(id))
            }
            "stage" => {
                only_keys(o, path, &["stage"])?;
                let p = join(path, "stage");
                Ok(Condition::Stage(key_list(
                    &o["stage"],
                    &p,
                    "a stage key such as \"mql\"",
                )?))
            }
            "tier" => {
                only_keys(o, path, &["tier", "dimension"])?;
                let dp = join(path, "dimension");
                let dimension = match o.get("dimension") {
                    Some(Value::String(d)) if crate::lifecycle::valid_key(d) => d.clone(),
                    _ => return Err(err(&dp, "must name a tier dimension such as \"value\"")),
                };
                let p = join(path, "tier");
                let tiers = key_list(&o["tier"], &p, "a tier key such as \"hub\"")?;
                Ok(Condition::Tier { dimension, tiers })
            }
            "consent" => {
                only_keys(o, path, &["consent", "channel"])?;
                let key = |k: &str| -> Result<Option<String>, FilterError> {
                    match o.get(k) {
                        None | Some(Value::Null) if k == "channel" => Ok(None),
                        Some(Value::String(s)) if crate::lifecycle::valid_key(s) => {
                            Ok(Some(s.clone()))
                        }
                        _ => Err(err(
                            &join(path, k),
                            "must be a key such as \"marketing\" or \"email\" (a-z, 0-9, _)",
                        )),
                    }
                };
                Ok(Condition::Consent {
                    purpose: key("consent")?.expect("required"),
                    channel: key("channel")?,
                })
            }
            "referrals" => {
                only_keys(o, path, &["referrals"])?;
                let p = join(path, "referrals");
                let Value::Object(r) = &o["referrals"] else {
                    return Err(err(&p, "must be an object such as {\"at_least\": 3}"));
                };
                only_keys(r, &p, &["at_least", "at_most"])?;
                let bound = |k: &str| -> Result<Option<u32>, FilterError> {
                    match r.get(k) {
                        None | Some(Value::Null) => Ok(None),
                        Some(v) => v
                            .as_u64()
                            .filter(|n| *n <= u64::from(MAX_COUNT))
                            .map(|n| Some(n as u32))
                            .ok_or_else(|| {
                                err(
                                    &join(&p, k),
                                    format!("must be a whole number from 0 to {MAX_COUNT}"),
                                )
                            }),
                    }
                };
                let at_most = bound("at_most")?;
                let at_least = bound("at_least")?.unwrap_or(if at_most.is_some() { 0 } else { 1 });
                if at_most.is_some_and(|m| m < at_least) {
                    return Err(err(&join(&p, "at_most"), "must not be below `at_least`"));
                }
                Ok(Condition::Referrals { at_least, at_most })
            }
            _ => unreachable!("node kinds are listed in NODE_KEYS"),
        }
    }

    fn event(&mut self, o: &Map<String, Value>, path: &str) -> Result<EventCondition, FilterError> {
        only_keys(
            o,
            path,
            &[
                "event",
                "where",
                "at_least",
                "at_most",
                "within_days",
                "since",
            ],
        )?;
        let p = join(path, "event");
        let Value::Object(e) = &o["event"] else {
            return Err(err(&p, "must be an object with `kind` and/or `name`"));
        };
        only_keys(e, &p, &["kind", "name"])?;
        let kind = match e.get("kind") {
            None | Some(Value::Null) => None,
            Some(k) => Some(bounded(k, &join(&p, "kind"), 64)?.to_owned()),
        };
        let name = match e.get("name") {
            None | Some(Value::Null) => None,
            Some(n) => Some(bounded(n, &join(&p, "name"), MAX_STRING_CHARS)?.to_owned()),
        };
        if kind.is_none() && name.is_none() {
            return Err(err(&p, "needs a `kind`, a `name` or both"));
        }
        let mut properties = Vec::new();
        if let Some(w) = o.get("where") {
            let wp = join(path, "where");
            let Value::Array(items) = w else {
                return Err(err(&wp, "must be a list of property tests"));
            };
            if items.len() > MAX_WHERE {
                return Err(err(
                    &wp,
                    format!("has more than {MAX_WHERE} property tests"),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{wp}[{i}]");
                let Value::Object(t) = item else {
                    return Err(err(
                        &ip,
                        "must be an object {\"property\", \"op\", \"value\"}",
                    ));
                };
                only_keys(t, &ip, &["property", "op", "value"])?;
                let key = json_key(
                    t.get("property").unwrap_or(&Value::Null),
                    &join(&ip, "property"),
                )?;
                self.count(&ip)?;
                properties.push((key, test(t, &ip, false)?));
            }
        }
        let count = |k: &str| -> Result<Option<u32>, FilterError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n <= u64::from(MAX_COUNT))
                    .map(|n| Some(n as u32))
                    .ok_or_else(|| {
                        err(
                            &join(path, k),
                            format!("must be a whole number from 0 to {MAX_COUNT}"),
                        )
                    }),
            }
        };
        let at_most = count("at_most")?;
        let at_least = count("at_least")?.unwrap_or(if at_most.is_some() { 0 } else { 1 });
        if let Some(m) = at_most {
            if at_least > m {
                return Err(err(&join(path, "at_most"), "must not be below `at_least`"));
            }
        }
        let window = match (o.get("within_days"), o.get("since")) {
            (Some(_), Some(_)) => {
                return Err(err(
                    &join(path, "since"),
                    "give either `within_days` or `since`, not both",
                ))
            }
            (Some(d), None) => Window::WithinDays(
                d.as_u64()
                    .filter(|n| (1..=u64::from(MAX_WITHIN_DAYS)).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        err(
                            &join(path, "within_days"),
                            format!("must be a whole number of days from 1 to {MAX_WITHIN_DAYS}"),
                        )
                    })?,
            ),
            (None, Some(s)) => Window::Since(s.as_i64().filter(|t| *t >= 0).ok_or_else(|| {
                err(
                    &join(path, "since"),
                    "must be a time in milliseconds since the Unix epoch",
                )
            })?),
            (None, None) => Window::AllTime,
        };
        Ok(EventCondition {
            kind,
            name,
            properties,
            at_least,
            at_most,
            window,
        })
    }
}

/// One key (`"mql"`) or a list of 1 to 100 (`["sql", "opportunity"]`), each shaped like a stage or
/// tier key.
fn key_list(v: &Value, p: &str, what: &str) -> Result<Vec<String>, FilterError> {
    let keys: Vec<String> = match v {
        Value::String(k) => vec![k.clone()],
        Value::Array(a) if !a.is_empty() && a.len() <= MAX_IN_VALUES => a
            .iter()
            .enumerate()
            .map(|(i, k)| {
                k.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(&format!("{p}[{i}]"), format!("must be {what}")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(err(
                p,
                format!("must be {what} or a list of 1 to {MAX_IN_VALUES} keys"),
            ))
        }
    };
    if let Some(k) = keys.iter().find(|k| !crate::lifecycle::valid_key(k)) {
        return Err(err(p, format!("`{}` is not a key (a-z, 0-9, _)", clip(k))));
    }
    Ok(keys)
}

/// Refuses keys a node does not know, so a typo never silently widens a segment.
fn only_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), FilterError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(err(
            &join(path, &clip(k)),
            format!("unknown key here; expected {}", allowed.join(", ")),
        )),
    }
}

/// A string cut for an error message, so a long value does not flood it.
fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, FilterError> {
    v.as_str().ok_or_else(|| err(path, "must be a string"))
}

fn bounded<'a>(v: &'a Value, path: &str, max: usize) -> Result<&'a str, FilterError> {
    let s = string(v, path)?;
    if s.is_empty() || s.chars().count() > max {
        return Err(err(path, format!("must have 1 to {max} characters")));
    }
    no_nul(s, path)?;
    Ok(s)
}

/// PostgreSQL cannot read a NUL character inside JSON, so stored JSON is read there with each NUL
/// turned into U+FFFD. A compared string holding neither character gets the same answer from
/// either form, so both are refused in filters.
fn no_nul(s: &str, path: &str) -> Result<(), FilterError> {
    if s.contains(['\0', '\u{FFFD}']) {
        return Err(err(
            path,
            "must not contain the NUL character or U+FFFD (the replacement character)",
        ));
    }
    Ok(())
}

fn json_key(v: &Value, path: &str) -> Result<String, FilterError> {
    let s = string(v, path)?;
    let ok = !s.is_empty()
        && s.len() <= MAX_KEY_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(err(
            path,
            format!("must be 1 to {MAX_KEY_CHARS} characters of A-Z, a-z, 0-9, _ and -"),
        ));
    }
    Ok(s.to_owned())
}

fn scalar(v: &Value, path: &str, text_only: bool) -> Result<Scalar, FilterError> {
    let what = if text_only {
        "must be a string (this field holds text)"
    } else {
        "must be a string, a number or true/false"
    };
    match v {
        Value::String(s) => {
            if s.chars().count() > MAX_STRING_CHARS {
                return Err(err(
                    path,
                    format!("must have at most {MAX_STRING_CHARS} characters"),
                ));
            }
            no_nul(s, path)?;
            Ok(Scalar::Text(s.clone()))
        }
        Value::Number(n) if !text_only => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Scalar::Number)
            .ok_or_else(|| err(path, "must be a finite number")),
        Value::Bool(b) if !text_only => Ok(Scalar::Bool(*b)),
        _ => Err(err(path, what)),
    }
}

/// Reads `op` and `value` of a test. `text_only`: the target is a text column.
fn test(o: &Map<String, Value>, path: &str, text_only: bool) -> Result<Test, FilterError> {
    let op_path = join(path, "op");
    let vpath = join(path, "value");
    let op = string(o.get("op").unwrap_or(&Value::Null), &op_path)?;
    let value = o.get("value");
    let needs_value = || value.ok_or_else(|| err(&vpath, format!("is required by `{op}`")));
    let non_empty_text = |v: &Value| -> Result<String, FilterError> {
        Ok(bounded(v, &vpath, MAX_STRING_CHARS)?.to_owned())
    };
    let number = |v: &Value| -> Result<f64, FilterError> {
        if text_only {
            return Err(err(
                &op_path,
                format!("`{op}` compares numbers; this field holds text"),
            ));
        }
        v.as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| err(&vpath, format!("`{op}` needs a number")))
    };
    let t = match op {
        "exists" | "not_exists" => {
            if value.is_some() {
                return Err(err(&vpath, format!("`{op}` takes no value")));
            }
            if op == "exists" {
                Test::Exists
            } else {
                Test::NotExists
            }
        }
        "eq" => Test::Eq(scalar(needs_value()?, &vpath, text_only)?),
        "ne" => Test::Ne(scalar(needs_value()?, &vpath, text_only)?),
        "in" => {
            let Value::Array(items) = needs_value()? else {
                return Err(err(&vpath, "`in` needs a list of values"));
            };
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(err(&vpath, format!("must hold 1 to {MAX_IN_VALUES} values")));
            }
            Test::In(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| scalar(v, &format!("{vpath}[{i}]"), text_only))
                    .collect::<Result<_, _>>()?,
            )
        }
        "contains" => Test::Contains(non_empty_text(needs_value()?)?),
        "starts_with" => Test::StartsWith(non_empty_text(needs_value()?)?),
        "lt" => Test::Lt(number(needs_value()?)?),
        "lte" => Test::Lte(number(needs_value()?)?),
        "gt" => Test::Gt(number(needs_value()?)?),
        "gte" => Test::Gte(number(needs_value()?)?),
        other => {
            return Err(err(
                &op_path,
                format!(
                    "`{}` is not an operator (eq, ne, in, contains, starts_with, lt, lte, gt, gte, exists, not_exists)",
                    clip(other)
                ),
            ))
        }
    };
    Ok(t)
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Text(t) => Value::String(t.clone()),
        Scalar::Number(n) => json!(n),
        Scalar::Bool(b) => Value::Bool(*b),
    }
}

fn test_json(o: &mut Map<String, Value>, t: &Test) {
    o.insert("op".into(), t.op().into());
    let value = match t {
        Test::Exists | Test::NotExists => return,
        Test::Eq(s) | Test::Ne(s) => scalar_json(s),
        Test::In(l) => Value::Array(l.iter().map(scalar_json).collect()),
        Test::Contains(s) | Test::StartsWith(s) => Value::String(s.clone()),
        Test::Lt(n) | Test::Lte(n) | Test::Gt(n) | Test::Gte(n) => json!(n),
    };
    o.insert("value".into(), value);
}

impl Filter {
    /// The JSON form; [`Filter::parse`] reads it back to an equal filter.
    pub fn to_json(&self) -> Value {
        match self {
            Filter::All(fs) => json!({ "all": fs.iter().map(Filter::to_json).collect::<Vec<_>>() }),
            Filter::Any(fs) => json!({ "any": fs.iter().map(Filter::to_json).collect::<Vec<_>>() }),
            Filter::Not(f) => json!({ "not": f.to_json() }),
            Filter::Condition(c) => condition_json(c),
        }
    }
}

fn keys_json(keys: &[String]) -> Value {
    match keys {
        [one] => one.clone().into(),
        many => many.to_vec().into(),
    }
}

fn condition_json(c: &Condition) -> Value {
    let mut o = Map::new();
    match c {
        Condition::Field { field, test } => {
            o.insert("field".into(), field.as_str().into());
            test_json(&mut o, test);
        }
        Condition::Trait { key, test } => {
            o.insert("trait".into(), key.clone().into());
            test_json(&mut o, test);
        }
        Condition::Account { field, test } => {
            o.insert("account".into(), field.as_str().into());
            test_json(&mut o, test);
        }
        Condition::AccountTrait { key, test } => {
            o.insert("account_trait".into(), key.clone().into());
            test_json(&mut o, test);
        }
        Condition::Tag { name } => {
            o.insert("tag".into(), name.clone().into());
        }
        Condition::Score { kind, test } => {
            o.insert("score".into(), kind.as_str().into());
            test_json(&mut o, test);
        }
        Condition::InSegment(id) => {
            o.insert("segment".into(), id.to_string().into());
        }
        Condition::Stage(keys) => {
            o.insert("stage".into(), keys_json(keys));
        }
        Condition::Tier { dimension, tiers } => {
            o.insert("tier".into(), keys_json(tiers));
            o.insert("dimension".into(), dimension.clone().into());
        }
        Condition::Consent { purpose, channel } => {
            o.insert("consent".into(), purpose.clone().into());
            if let Some(ch) = channel {
                o.insert("channel".into(), ch.clone().into());
            }
        }
        Condition::Referrals { at_least, at_most } => {
            let mut r = Map::new();
            r.insert("at_least".into(), (*at_least).into());
            if let Some(m) = at_most {
                r.insert("at_most".into(), (*m).into());
            }
            o.insert("referrals".into(), Value::Object(r));
        }
        Condition::Identity { kind, app } => {
            o.insert("identity".into(), kind.as_str().into());
            if let Some(a) = app {
                o.insert("app".into(), a.clone().into());
            }
        }
        Condition::Event(e) => {
            let mut ev = Map::new();
            if let Some(k) = &e.kind {
                ev.insert("kind".into(), k.clone().into());
            }
            if let Some(n) = &e.name {
                ev.insert("name".into(), n.clone().into());
            }
            o.insert("event".into(), Value::Object(ev));
            if !e.properties.is_empty() {
                let w = e
                    .properties
                    .iter()
                    .map(|(k, t)| {
                        let mut p = Map::new();
                        p.insert("property".into(), k.clone().into());
                        test_json(&mut p, t);
                        Value::Object(p)
                    })
                    .collect();
                o.insert("where".into(), Value::Array(w));
            }
            o.insert("at_least".into(), e.at_least.into());
            if let Some(m) = e.at_most {
                o.insert("at_most".into(), m.into());
            }
            match e.window {
                Window::AllTime => {}
                Window::WithinDays(d) => {
                    o.insert("within_days".into(), d.into());
                }
                Window::Since(t) => {
                    o.insert("since".into(), t.into());
                }
            }
        }
    }
    Value::Object(o)
}
