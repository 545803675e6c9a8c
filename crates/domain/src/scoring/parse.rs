//! Reading a scoring model from JSON. Every limit is checked and an error names the offending part
//! by its path (`engagement[1].cap.per_days`), as filters do.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::limits::{MAX_DAYS, MAX_NAME_CHARS, MAX_POINTS, MAX_RULES, MAX_THRESHOLDS};
use super::{Cap, EngagementRule, FitRule, ScoreKind, ScoringModel, Threshold};
use crate::segment::{Condition, Filter, FilterError};

/// Why a model was refused, and where (a path from the model's root).
pub type ModelError = FilterError;

fn err(path: &str, message: impl Into<String>) -> ModelError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn only_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ModelError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(err(
            &if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            },
            format!("unknown key here; expected {}", allowed.join(", ")),
        )),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ModelError> {
    v.as_object().ok_or_else(|| err(path, "must be an object"))
}

fn list<'a>(o: &'a Map<String, Value>, key: &str, max: usize) -> Result<&'a [Value], ModelError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) if a.len() <= max => Ok(a),
        Some(Value::Array(_)) => Err(err(key, format!("has more than {max} entries"))),
        Some(_) => Err(err(key, "must be a list")),
    }
}

fn points(v: Option<&Value>, path: &str) -> Result<f64, ModelError> {
    let p = v
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite())
        .ok_or_else(|| err(path, "must be a number"))?;
    if p.abs() > MAX_POINTS {
        return Err(err(
            path,
            format!("must be between -{MAX_POINTS} and {MAX_POINTS}"),
        ));
    }
    Ok(p)
}

fn days(v: Option<&Value>, path: &str) -> Result<u32, ModelError> {
    v.and_then(Value::as_u64)
        .filter(|d| (1..=u64::from(MAX_DAYS)).contains(d))
        .map(|d| d as u32)
        .ok_or_else(|| {
            err(
                path,
                format!("must be a whole number of days from 1 to {MAX_DAYS}"),
            )
        })
}

fn name(
    o: &Map<String, Value>,
    path: &str,
    seen: &mut BTreeSet<String>,
) -> Result<String, ModelError> {
    let p = format!("{path}.name");
    let n = o
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| err(&p, "must be a string"))?;
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
        return Err(err(
            &p,
            format!("must have 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if !seen.insert(n.to_owned()) {
        return Err(err(&p, "another rule has this name"));
    }
    Ok(n.to_owned())
}

/// Re-roots a filter error found inside the model at `prefix`.
fn within(prefix: &str, e: FilterError) -> ModelError {
    err(
        &if e.path.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", e.path)
        },
        e.message,
    )
}

/// Whether a filter reads behaviour or scores (fit rules may not).
fn reads_behaviour(f: &Filter) -> bool {
    match f {
        Filter::All(fs) | Filter::Any(fs) => fs.iter().any(reads_behaviour),
        Filter::Not(f) => reads_behaviour(f),
        Filter::Condition(Condition::Event(_) | Condition::Score { .. }) => true,
        Filter::Condition(_) => false,
    }
}

impl ScoringModel {
    /// Reads a model, checking shape, names, numbers and limits.
    pub fn parse(v: &Value) -> Result<ScoringModel, ModelError> {
        let o = object(v, "")?;
        only_keys(
            o,
            "",
            &[
                "fit",
                "engagement",
                "half_life_days",
                "thresholds",
                "grades",
            ],
        )?;
        let mut names = BTreeSet::new();
        let mut fit = Vec::new();
        for (i, r) in list(o, "fit", MAX_RULES)?.iter().enumerate() {
            let path = format!("fit[{i}]");
            let r = object(r, &path)?;
            only_keys(r, &path, &["name", "when", "points"])?;
            let name = name(r, &path, &mut names)?;
            let wp = format!("{path}.when");
            let when =
                Filter::parse(r.get("when").unwrap_or(&Value::Null)).map_err(|e| within(&wp, e))?;
            if reads_behaviour(&when) {
                return Err(err(
                    &wp,
                    "fit rules read the profile, account, tags and identities; behaviour belongs in engagement rules",
                ));
            }
            fit.push(FitRule {
                name,
                when,
                points: points(r.get("points"), &format!("{path}.points"))?,
            });
        }
        let mut engagement = Vec::new();
        for (i, r) in list(o, "engagement", MAX_RULES)?.iter().enumerate() {
            let path = format!("engagement[{i}]");
            let r = object(r, &path)?;
            only_keys(r, &path, &["name", "event", "where", "points", "cap"])?;
            let name = name(r, &path, &mut names)?;
            // The event selector is the segment language's: parse it as an event condition.
            let mut sel = Map::new();
            sel.insert(
                "event".into(),
                r.get("event").cloned().unwrap_or(Value::Null),
            );
            if let Some(w) = r.get("where") {
                sel.insert("where".into(), w.clone());
            }
            let event = match Filter::parse(&Value::Object(sel)).map_err(|e| within(&path, e))? {
                Filter::Condition(Condition::Event(e)) => e,
                _ => return Err(err(&format!("{path}.event"), "must select events")),
            };
            let cap = match r.get("cap") {
                None | Some(Value::Null) => None,
                Some(c) => {
                    let cp = format!("{path}.cap");
                    let c = object(c, &cp)?;
                    only_keys(c, &cp, &["points", "per_days"])?;
                    let p = points(c.get("points"), &format!("{cp}.points"))?;
                    if p <= 0.0 {
                        return Err(err(&format!("{cp}.points"), "must be more than 0"));
                    }
                    Some(Cap {
                        points: p,
                        per_days: days(c.get("per_days"), &format!("{cp}.per_days"))?,
                    })
                }
            };
            engagement.push(EngagementRule {
                name,
                event,
                points: points(r.get("points"), &format!("{path}.points"))?,
                cap,
            });
        }
        let half_life_days = match o.get("half_life_days") {
            None | Some(Value::Null) => None,
            v => Some(days(v, "half_life_days")?),
        };
        let mut thresholds = Vec::new();
        for (i, t) in list(o, "thresholds", MAX_THRESHOLDS)?.iter().enumerate() {
            let path = format!("thresholds[{i}]");
            let t = object(t, &path)?;
            only_keys(t, &path, &["score", "value"])?;
            let sp = format!("{path}.score");
            let score = t
                .get("score")
                .and_then(Value::as_str)
                .and_then(ScoreKind::parse)
                .ok_or_else(|| err(&sp, "must be \"fit\" or \"engagement\""))?;
            thresholds.push(Threshold {
                score,
                value: points(t.get("value"), &format!("{path}.value"))?,
            });
        }
        let grades = match o.get("grades") {
            None | Some(Value::Null) => [80.0, 60.0, 40.0],
            Some(g) => {
                let g = object(g, "grades")?;
                only_keys(g, "grades", &["A", "B", "C"])?;
                let a = points(g.get("A"), "grades.A")?;
                let b = points(g.get("B"), "grades.B")?;
                let c = points(g.get("C"), "grades.C")?;
                if !(a > b && b > c) {
                    return Err(err("grades", "must descend: A > B > C"));
                }
                [a, b, c]
            }
        };
        Ok(ScoringModel {
            fit,
            engagement,
            half_life_days,
            thresholds,
            grades,
        })
    }
}
