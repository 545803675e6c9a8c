//! Lifecycle stages: where a contact stands on the road from first contact to customer.
//!
//! An organisation's [`Lifecycle`] is an ordered list of [`Stage`]s (default Subscriber → Lead →
//! MQL → TQL → SQL → Opportunity → Customer, plus Recycled and Disqualified). Each stage names the
//! stages a contact may move on to from it (`next`), and may carry **entry criteria** written in
//! the segment language: a contact whose criteria hold is moved there automatically
//! ([`Lifecycle::advance`]). Stages without criteria are entered only by hand (a user, the API, a
//! CRM). Every move is a [`Transition`] with its cause.
//!
//! Rules of automatic moves, which keep them predictable:
//! - a contact only moves along allowed transitions (`next` of its current stage; a contact with
//!   no stage, or with a stage no longer configured, may enter any stage);
//! - among the allowed stages whose criteria hold, it goes to the one latest in the list, then
//!   looks again from there (so Subscriber → MQL can happen in one evaluation);
//! - a stage with `hold_days` keeps its contacts at least that long before an automatic move out
//!   (a recycled lead is not re-qualified by the next page view);
//! - the automatic moves (A → B where B has criteria) may not form a cycle: parsing refuses a
//!   model in which contacts could be moved back and forth for ever.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::ids::SegmentId;
use crate::segment::{ContactSnapshot, Filter, FilterError, Millis, DAY_MS};

/// Limits a lifecycle model must respect.
pub mod limits {
    /// Stages in one model.
    pub const MAX_STAGES: usize = 20;
    /// Characters of a stage key (`a-z 0-9 _`, starting with a letter).
    pub const MAX_KEY_CHARS: usize = 32;
    /// Characters of a stage's display name.
    pub const MAX_NAME_CHARS: usize = 40;
    /// Characters of the reason given with a manual move.
    pub const MAX_REASON_CHARS: usize = 500;
    /// Longest hold, in days.
    pub const MAX_HOLD_DAYS: u32 = 3_650;
}

/// Why a lifecycle model was refused, and where (`stages[2].next[0]`).
pub type LifecycleError = FilterError;

/// One stage of the lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Stable identifier used by the API, segment filters and stored transitions (`mql`).
    pub key: String,
    /// Display name (`MQL`).
    pub name: String,
    /// Display name in Chinese, if it differs (`市场认可线索`).
    pub name_zh: Option<String>,
    /// Entry criteria; `None`: entered only by hand.
    pub entry: Option<Filter>,
    /// Stages a contact may move on to from this one.
    pub next: Vec<String>,
    /// Days a contact stays at least before an automatic move out of this stage.
    pub hold_days: Option<u32>,
}

/// An organisation's lifecycle model.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub stages: Vec<Stage>,
}

/// What caused a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// Entry criteria were met (the evaluator).
    Rule,
    /// A user in the console.
    User,
    /// A call of the REST API.
    Api,
    /// A CRM, through the API.
    Crm,
}

impl Cause {
    pub const ALL: [Cause; 4] = [Cause::Rule, Cause::User, Cause::Api, Cause::Crm];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Rule => "rule",
            Cause::User => "user",
            Cause::Api => "api",
            Cause::Crm => "crm",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why a manual move was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("`{0}` is not a stage of this organisation")]
    UnknownStage(String),
    #[error("the contact is already at stage `{0}`")]
    AlreadyThere(String),
    #[error("a contact at `{from}` cannot move to `{to}`; allowed: {}", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") })]
    NotAllowed {
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    #[error("the reason is longer than {} characters", limits::MAX_REASON_CHARS)]
    ReasonTooLong,
}

/// A stage key's shape: what filters, URLs and stored rows can carry without quoting.
pub fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= limits::MAX_KEY_CHARS
        && k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Lifecycle {
    /// The default model, as JSON: the stages of PRODUCT.md with criteria for the first three
    /// (reachable → Subscriber, name and email or mobile left → Lead, fit ≥ 60 and engagement ≥ 50
    /// → MQL); the later stages are decided by people (SDR, sales, CRM).
    pub fn default_json() -> Value {
        let later = |s: &[&str]| -> Value { s.iter().map(|k| Value::from(*k)).collect() };
        json!({ "stages": [
            { "key": "subscriber", "name": "Subscriber", "name_zh": "订阅者",
              "entry": { "any": [ { "identity": "email" }, { "identity": "mobile" },
                                   { "identity": "wechat_openid" }, { "identity": "wecom_external_id" } ] },
              "next": later(&["lead", "mql", "tql", "sql", "opportunity", "customer", "disqualified"]) },
            { "key": "lead", "name": "Lead", "name_zh": "线索",
              "entry": { "all": [ { "field": "name", "op": "exists" },
                                   { "any": [ { "field": "email", "op": "exists" }, { "field": "mobile", "op": "exists" } ] } ] },
              "next": later(&["mql", "tql", "sql", "opportunity", "customer", "recycled", "disqualified"]) },
            { "key": "mql", "name": "MQL", "name_zh": "市场认可线索",
              "entry": { "all": [ { "score": "fit", "op": "gte", "value": 60 },
                                   { "score": "engagement", "op": "gte", "value": 50 } ] },
              "next": later(&["tql", "sql", "opportunity", "customer", "recycled", "disqualified"]) },
            { "key": "tql", "name": "TQL", "name_zh": "电话确认线索",
              "next": later(&["sql", "opportunity", "customer", "recycled", "disqualified"]) },
            { "key": "sql", "name": "SQL", "name_zh": "销售接受线索",
              "next": later(&["opportunity", "customer", "recycled", "disqualified"]) },
            { "key": "opportunity", "name": "Opportunity", "name_zh": "商机",
              "next": later(&["customer", "recycled", "disqualified"]) },
            { "key": "customer", "name": "Customer", "name_zh": "客户",
              "next": later(&["recycled"]) },
            { "key": "recycled", "name": "Recycled", "name_zh": "回收再培育", "hold_days": 30,
              "next": later(&["mql", "tql", "sql", "opportunity", "customer", "disqualified"]) },
            { "key": "disqualified", "name": "Disqualified", "name_zh": "不合格",
              "next": later(&["recycled"]) }
        ]})
    }

    pub fn default_model() -> Lifecycle {
        Lifecycle::parse(&Lifecycle::default_json()).expect("the default lifecycle is valid")
    }

    /// Reads a model, checking keys, names, transitions, criteria and that automatic moves cannot
    /// cycle.
    pub fn parse(v: &Value) -> Result<Lifecycle, LifecycleError> {
        let o = v.as_object().ok_or_else(|| err("", "must be an object"))?;
        only_keys(o, "", &["stages"])?;
        let Some(Value::Array(items)) = o.get("stages") else {
            return Err(err("stages", "must be a list of stages"));
        };
        if items.is_empty() {
            return Err(err("stages", "must hold at least one stage"));
        }
        if items.len() > limits::MAX_STAGES {
            return Err(err(
                "stages",
                format!("has more than {} stages", limits::MAX_STAGES),
            ));
        }
        let mut stages = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            stages.push(stage(item, &format!("stages[{i}]"))?);
        }
        let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, s) in stages.iter().enumerate() {
            if keys.insert(s.key.as_str(), i).is_some() {
                return Err(err(
                    &format!("stages[{i}].key"),
                    format!("`{}` is used by an earlier stage", s.key),
                ));
            }
        }
        for (i, s) in stages.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for (j, n) in s.next.iter().enumerate() {
                let p = format!("stages[{i}].next[{j}]");
                if !keys.contains_key(n.as_str()) {
                    return Err(err(&p, format!("`{n}` is not a stage of this model")));
                }
                if n == &s.key {
                    return Err(err(&p, "a stage cannot lead to itself"));
                }
                if !seen.insert(n) {
                    return Err(err(&p, format!("`{n}` is listed twice")));
                }
            }
        }
        let model = Lifecycle { stages };
        if let Some(cycle) = model.automatic_cycle() {
            return Err(err(
                "stages",
                format!(
                    "automatic moves {} would move contacts back and forth; remove the entry criteria of one of these stages or one of the transitions",
                    cycle.join(" → ")
                ),
            ));
        }
        Ok(model)
    }

    /// The model as JSON, in the form [`Lifecycle::parse`] reads.
    pub fn to_json(&self) -> Value {
        let stages: Vec<Value> = self
            .stages
            .iter()
            .map(|s| {
                let mut o = Map::new();
                o.insert("key".into(), s.key.clone().into());
                o.insert("name".into(), s.name.clone().into());
                if let Some(z) = &s.name_zh {
                    o.insert("name_zh".into(), z.clone().into());
                }
                if let Some(f) = &s.entry {
                    o.insert("entry".into(), f.to_json());
                }
                o.insert("next".into(), s.next.clone().into());
                if let Some(h) = s.hold_days {
                    o.insert("hold_days".into(), h.into());
                }
                Value::Object(o)
            })
            .collect();
        json!({ "stages": stages })
    }

    pub fn stage(&self, key: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.key == key)
    }

    fn position(&self, key: Option<&str>) -> Option<usize> {
        key.and_then(|k| self.stages.iter().position(|s| s.key == k))
    }

    /// Whether a contact at `from` (`None`: no stage) may move to `to`.
    pub fn allows(&self, from: Option<&str>, to: &str) -> bool {
        self.stage(to).is_some()
            && match self.position(from) {
                None => from != Some(to),
                Some(i) => self.stages[i].next.iter().any(|n| n == to),
            }
    }

    /// Checks a manual move of a contact at `from` to `to` with an optional reason.
    pub fn check_move(
        &self,
        from: Option<&str>,
        to: &str,
        reason: Option<&str>,
    ) -> Result<(), MoveError> {
        if reason.is_some_and(|r| r.chars().count() > limits::MAX_REASON_CHARS) {
            return Err(MoveError::ReasonTooLong);
        }
        if self.stage(to).is_none() {
            return Err(MoveError::UnknownStage(to.to_owned()));
        }
        if from == Some(to) {
            return Err(MoveError::AlreadyThere(to.to_owned()));
        }
        if self.allows(from, to) {
            return Ok(());
        }
        let from = from.unwrap_or_default().to_owned();
        let allowed = self
            .stage(&from)
            .map(|s| s.next.clone())
            .unwrap_or_default();
        Err(MoveError::NotAllowed {
            from,
            to: to.to_owned(),
            allowed,
        })
    }

    /// Every entry criterion, for an evaluator that must know what to load.
    pub fn entry_filters(&self) -> impl Iterator<Item = &Filter> {
        self.stages.iter().filter_map(|s| s.entry.as_ref())
    }

    /// The saved segments read by entry criteria.
    pub fn segments_read(&self) -> BTreeSet<SegmentId> {
        self.entry_filters()
            .flat_map(|f| f.dependencies().segments)
            .collect()
    }

    /// When the hold of the contact's stage ends, if the stage has one.
    fn hold_until(&self, contact: &ContactSnapshot) -> Option<Millis> {
        let s = self.stage(contact.stage.as_deref()?)?;
        let since = contact.stage_since?;
        s.hold_days.map(|d| since + Millis::from(d) * DAY_MS)
    }

    /// Moves `contact` automatically as far as the entry criteria allow at `now`, updating its
    /// `stage` and `stage_since`, and returns the stages it entered, in order (empty: it stays).
    pub fn advance(&self, contact: &mut ContactSnapshot, now: Millis) -> Vec<String> {
        let mut entered: Vec<String> = Vec::new();
        for _ in 0..self.stages.len() {
            if self.hold_until(contact).is_some_and(|t| now < t) {
                break;
            }
            let from = contact.stage.clone();
            let best = self
                .stages
                .iter()
                .rev()
                .filter(|s| !entered.contains(&s.key))
                .filter(|s| from.as_deref() != Some(s.key.as_str()))
                .filter(|s| self.allows(from.as_deref(), &s.key))
                .find(|s| s.entry.as_ref().is_some_and(|f| f.matches(contact, now)));
            let Some(s) = best else { break };
            contact.stage = Some(s.key.clone());
            contact.stage_since = Some(now);
            entered.push(s.key.clone());
        }
        entered
    }

    /// The earliest instant after `now` at which an automatic move of `contact` could become due
    /// with time alone: the end of a hold, or a rolling window of a reachable stage's criteria.
    pub fn next_change_at(&self, contact: &ContactSnapshot, now: Millis) -> Option<Millis> {
        if let Some(t) = self.hold_until(contact).filter(|t| *t > now) {
            return Some(t);
        }
        let from = contact.stage.as_deref();
        self.stages
            .iter()
            .filter(|s| from != Some(s.key.as_str()) && self.allows(from, &s.key))
            .filter_map(|s| s.entry.as_ref()?.next_change_at(contact, now))
            .min()
    }

    /// A cycle of automatic moves, as stage keys, if there is one.
    fn automatic_cycle(&self) -> Option<Vec<String>> {
        // Depth-first search over edges A → B where B has entry criteria.
        fn visit(
            m: &Lifecycle,
            i: usize,
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<String>> {
            state[i] = 1;
            path.push(i);
            for n in &m.stages[i].next {
                let j = m.position(Some(n)).expect("checked");
                if m.stages[j].entry.is_none() {
                    continue;
                }
                if state[j] == 1 {
                    let from = path.iter().position(|p| *p == j).expect("on the path");
                    let mut c: Vec<String> = path[from..]
                        .iter()
                        .map(|p| m.stages[*p].key.clone())
                        .collect();
                    c.push(m.stages[j].key.clone());
                    return Some(c);
                }
                if state[j] == 0 {
                    if let Some(c) = visit(m, j, state, path) {
                        return Some(c);
                    }
                }
            }
            path.pop();
            state[i] = 2;
            None
        }
        let mut state = vec![0u8; self.stages.len()];
        (0..self.stages.len()).find_map(|i| {
            if state[i] == 0 {
                visit(self, i, &mut state, &mut Vec::new())
            } else {
                None
            }
        })
    }
}

/// One stored move.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub from: Option<String>,
    pub to: String,
    pub cause: Cause,
    pub reason: Option<String>,
}

fn err(path: &str, message: impl Into<String>) -> LifecycleError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn only_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), LifecycleError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(err(
            &if path.is_empty() {
                k.chars().take(40).collect()
            } else {
                format!("{path}.{}", k.chars().take(40).collect::<String>())
            },
            format!("unknown key here; expected {}", allowed.join(", ")),
        )),
    }
}

fn display_name(
    v: Option<&Value>,
    path: &str,
    required: bool,
) -> Result<Option<String>, LifecycleError> {
    match v {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Err(err(path, "must not be empty"));
            }
            if t.chars().count() > limits::MAX_NAME_CHARS {
                return Err(err(
                    path,
                    format!("is longer than {} characters", limits::MAX_NAME_CHARS),
                ));
            }
            Ok(Some(t.to_owned()))
        }
        _ => Err(err(path, "must be a text")),
    }
}

fn stage(v: &Value, path: &str) -> Result<Stage, LifecycleError> {
    let o = v
        .as_object()
        .ok_or_else(|| err(path, "must be an object"))?;
    only_keys(
        o,
        path,
        &["key", "name", "name_zh", "entry", "next", "hold_days"],
    )?;
    let kp = format!("{path}.key");
    let key = match o.get("key") {
        Some(Value::String(k)) if valid_key(k) => k.clone(),
        Some(Value::String(_)) => {
            return Err(err(
                &kp,
                format!(
                    "must be 1 to {} characters a-z, 0-9 or _, starting with a letter",
                    limits::MAX_KEY_CHARS
                ),
            ))
        }
        _ => return Err(err(&kp, "must be a text such as \"mql\"")),
    };
    let name = display_name(o.get("name"), &format!("{path}.name"), true)?.expect("required");
    let name_zh = display_name(o.get("name_zh"), &format!("{path}.name_zh"), false)?;
    let entry = match o.get("entry") {
        None | Some(Value::Null) => None,
        Some(f) => Some(Filter::parse(f).map_err(|e| FilterError {
            path: if e.path.is_empty() {
                format!("{path}.entry")
            } else {
                format!("{path}.entry.{}", e.path)
            },
            message: e.message,
        })?),
    };
    let np = format!("{path}.next");
    let next = match o.get("next") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, n)| {
                n.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(&format!("{np}[{j}]"), "must be a stage key"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(err(&np, "must be a list of stage keys")),
    };
    let hold_days = match o.get("hold_days") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            d.as_u64()
                .filter(|d| (1..=u64::from(limits::MAX_HOLD_DAYS)).contains(d))
                .map(|d| d as u32)
                .ok_or_else(|| {
                    err(
                        &format!("{path}.hold_days"),
                        format!(
                            "must be a whole number of days from 1 to {}",
                            limits::MAX_HOLD_DAYS
                        ),
                    )
                })?,
        ),
    };
    Ok(Stage {
        key,
        name,
        name_zh,
        entry,
        next,
        hold_days,
    })
}

#[cfg(test)]
mod tests;
