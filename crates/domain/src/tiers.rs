//! Customer tiers (客户分层): computed, explainable classifications of contacts.
//!
//! A [`TierModel`] has one or more **dimensions** — by default *value* (标杆客户 benchmark/KOL,
//! 增值客户 value-added hubs whose referrals brought others, 普通客户 regular) and *size* (KA,
//! mid-market, SMB from the company size) — each an ordered list of [`Tier`]s whose criteria are
//! written in the segment language. A contact is in the **first** tier of a dimension whose
//! criteria hold; the last tier may have no criteria and then takes everyone else. A contact
//! matching no tier of a dimension has no tier there.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::ids::SegmentId;
use crate::lifecycle::valid_key;
use crate::segment::{ContactSnapshot, Filter, FilterError, Millis};

/// Limits a tier model must respect.
pub mod limits {
    pub const MAX_DIMENSIONS: usize = 5;
    pub const MAX_TIERS: usize = 10;
    pub const MAX_NAME_CHARS: usize = 40;
}

/// Why a tier model was refused, and where (`dimensions[0].tiers[1].when`).
pub type TierError = FilterError;

#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub key: String,
    pub name: String,
    pub name_zh: Option<String>,
    /// `None` only for the last tier of a dimension: everyone not in an earlier tier.
    pub when: Option<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub key: String,
    pub name: String,
    pub name_zh: Option<String>,
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierModel {
    pub dimensions: Vec<Dimension>,
}

fn err(path: &str, message: impl Into<String>) -> TierError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn only_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), TierError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(err(
            &format!("{path}.{}", k.chars().take(40).collect::<String>()),
            format!("unknown key here; expected {}", allowed.join(", ")),
        )),
    }
}

fn key(o: &Map<String, Value>, path: &str) -> Result<String, TierError> {
    match o.get("key") {
        Some(Value::String(k)) if valid_key(k) => Ok(k.clone()),
        _ => Err(err(
            &format!("{path}.key"),
            "must be 1 to 32 characters a-z, 0-9 or _, starting with a letter",
        )),
    }
}

fn names(o: &Map<String, Value>, path: &str) -> Result<(String, Option<String>), TierError> {
    let one = |k: &str, required: bool| -> Result<Option<String>, TierError> {
        let p = format!("{path}.{k}");
        match o.get(k) {
            None | Some(Value::Null) if !required => Ok(None),
            Some(Value::String(s))
                if !s.trim().is_empty() && s.trim().chars().count() <= limits::MAX_NAME_CHARS =>
            {
                Ok(Some(s.trim().to_owned()))
            }
            _ => Err(err(
                &p,
                format!(
                    "must be a text of 1 to {} characters",
                    limits::MAX_NAME_CHARS
                ),
            )),
        }
    };
    Ok((
        one("name", true)?.expect("required"),
        one("name_zh", false)?,
    ))
}

fn list<'a>(
    o: &'a Map<String, Value>,
    k: &str,
    path: &str,
    max: usize,
) -> Result<&'a [Value], TierError> {
    let p = format!("{path}.{k}");
    match o.get(k) {
        Some(Value::Array(a)) if a.is_empty() => Err(err(&p, "must hold at least one entry")),
        Some(Value::Array(a)) if a.len() > max => {
            Err(err(&p, format!("has more than {max} entries")))
        }
        Some(Value::Array(a)) => Ok(a),
        _ => Err(err(&p, "must be a list")),
    }
}

impl TierModel {
    /// The default model: value (benchmark, hub, regular) and size (KA, mid-market, SMB).
    pub fn default_json() -> Value {
        json!({ "dimensions": [
            { "key": "value", "name": "Customer value", "name_zh": "客户价值", "tiers": [
                { "key": "benchmark", "name": "Benchmark / KOL", "name_zh": "标杆客户",
                  "when": { "any": [ { "tag": "标杆客户" }, { "trait": "kol", "op": "eq", "value": true } ] } },
                { "key": "hub", "name": "Value-added hub", "name_zh": "增值客户",
                  "when": { "referrals": { "at_least": 3 } } },
                { "key": "regular", "name": "Regular", "name_zh": "普通客户" }
            ]},
            { "key": "size", "name": "Company size", "name_zh": "客户规模", "tiers": [
                { "key": "ka", "name": "Key account", "name_zh": "大客户（KA）",
                  "when": { "any": [ { "account": "company_size", "op": "in", "value": ["1000-4999", "5000+"] },
                                     { "field": "company_size", "op": "in", "value": ["1000-4999", "5000+"] } ] } },
                { "key": "mid", "name": "Mid-market", "name_zh": "中型客户",
                  "when": { "any": [ { "account": "company_size", "op": "in", "value": ["200-499", "500-999"] },
                                     { "field": "company_size", "op": "in", "value": ["200-499", "500-999"] } ] } },
                { "key": "smb", "name": "SMB", "name_zh": "小微客户" }
            ]}
        ]})
    }

    pub fn default_model() -> TierModel {
        TierModel::parse(&TierModel::default_json()).expect("the default tier model is valid")
    }

    pub fn parse(v: &Value) -> Result<TierModel, TierError> {
        let o = v.as_object().ok_or_else(|| err("", "must be an object"))?;
        if let Some(k) = o.keys().find(|k| *k != "dimensions") {
            return Err(err(k, "unknown key here; expected dimensions"));
        }
        let items = list(o, "dimensions", "", limits::MAX_DIMENSIONS).map_err(|e| FilterError {
            path: e.path.trim_start_matches('.').to_owned(),
            ..e
        })?;
        let mut dims = Vec::with_capacity(items.len());
        let mut seen = BTreeSet::new();
        for (i, d) in items.iter().enumerate() {
            let p = format!("dimensions[{i}]");
            let d = d.as_object().ok_or_else(|| err(&p, "must be an object"))?;
            only_keys(d, &p, &["key", "name", "name_zh", "tiers"])?;
            let k = key(d, &p)?;
            if !seen.insert(k.clone()) {
                return Err(err(
                    &format!("{p}.key"),
                    format!("`{k}` is used by an earlier dimension"),
                ));
            }
            let (name, name_zh) = names(d, &p)?;
            let raw = list(d, "tiers", &p, limits::MAX_TIERS)?;
            let mut tiers = Vec::with_capacity(raw.len());
            let mut tier_keys = BTreeSet::new();
            for (j, t) in raw.iter().enumerate() {
                let tp = format!("{p}.tiers[{j}]");
                let t = t.as_object().ok_or_else(|| err(&tp, "must be an object"))?;
                only_keys(t, &tp, &["key", "name", "name_zh", "when"])?;
                let tk = key(t, &tp)?;
                if !tier_keys.insert(tk.clone()) {
                    return Err(err(
                        &format!("{tp}.key"),
                        format!("`{tk}` is used by an earlier tier"),
                    ));
                }
                let (tn, tz) = names(t, &tp)?;
                let when = match t.get("when") {
                    None | Some(Value::Null) => {
                        if j + 1 != raw.len() {
                            return Err(err(
                                &format!("{tp}.when"),
                                "only the last tier may go without criteria (it takes everyone else)",
                            ));
                        }
                        None
                    }
                    Some(f) => Some(Filter::parse(f).map_err(|e| FilterError {
                        path: if e.path.is_empty() {
                            format!("{tp}.when")
                        } else {
                            format!("{tp}.when.{}", e.path)
                        },
                        message: e.message,
                    })?),
                };
                tiers.push(Tier {
                    key: tk,
                    name: tn,
                    name_zh: tz,
                    when,
                });
            }
            dims.push(Dimension {
                key: k,
                name,
                name_zh,
                tiers,
            });
        }
        let model = TierModel { dimensions: dims };
        for (i, d) in model.dimensions.iter().enumerate() {
            for (j, t) in d.tiers.iter().enumerate() {
                if t.when
                    .as_ref()
                    .is_some_and(|f| !f.dependencies().tiers.is_empty())
                {
                    return Err(err(
                        &format!("dimensions[{i}].tiers[{j}].when"),
                        "tier criteria cannot read tiers",
                    ));
                }
            }
        }
        Ok(model)
    }

    pub fn to_json(&self) -> Value {
        let named = |o: &mut Map<String, Value>, key: &str, name: &str, zh: &Option<String>| {
            o.insert("key".into(), key.into());
            o.insert("name".into(), name.into());
            if let Some(z) = zh {
                o.insert("name_zh".into(), z.clone().into());
            }
        };
        let dims: Vec<Value> = self
            .dimensions
            .iter()
            .map(|d| {
                let mut o = Map::new();
                named(&mut o, &d.key, &d.name, &d.name_zh);
                let tiers: Vec<Value> = d
                    .tiers
                    .iter()
                    .map(|t| {
                        let mut to = Map::new();
                        named(&mut to, &t.key, &t.name, &t.name_zh);
                        if let Some(f) = &t.when {
                            to.insert("when".into(), f.to_json());
                        }
                        Value::Object(to)
                    })
                    .collect();
                o.insert("tiers".into(), Value::Array(tiers));
                Value::Object(o)
            })
            .collect();
        json!({ "dimensions": dims })
    }

    pub fn dimension(&self, key: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.key == key)
    }

    pub fn filters(&self) -> impl Iterator<Item = &Filter> {
        self.dimensions
            .iter()
            .flat_map(|d| d.tiers.iter().filter_map(|t| t.when.as_ref()))
    }

    /// The saved segments read by tier criteria.
    pub fn segments_read(&self) -> BTreeSet<SegmentId> {
        self.filters()
            .flat_map(|f| f.dependencies().segments)
            .collect()
    }

    /// The contact's tier in every dimension at `now` (dimensions where it matches no tier are
    /// absent).
    pub fn classify(&self, c: &ContactSnapshot, now: Millis) -> BTreeMap<String, String> {
        self.dimensions
            .iter()
            .filter_map(|d| {
                d.tiers
                    .iter()
                    .find(|t| t.when.as_ref().is_none_or(|f| f.matches(c, now)))
                    .map(|t| (d.key.clone(), t.key.clone()))
            })
            .collect()
    }

    /// The earliest instant after `now` at which a tier can change with time alone.
    pub fn next_change_at(&self, c: &ContactSnapshot, now: Millis) -> Option<Millis> {
        self.filters()
            .filter_map(|f| f.next_change_at(c, now))
            .min()
    }
}

/// What changed in a contact's tiers: `(dimension, from, to)`, `to` `None` when it left every
/// tier of the dimension.
pub fn changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let dims: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    dims.into_iter()
        .filter(|d| before.get(*d) != after.get(*d))
        .map(|d| ((*d).clone(), before.get(d).cloned(), after.get(d).cloned()))
        .collect()
}

#[cfg(test)]
mod tests;
