//! The structured builder: a filter as an outline of rows that a form without JavaScript can
//! edit. A row is a group (all / any, or their negation) or a condition (field, trait, tag,
//! identity, event); a row's children are the rows after it that are indented deeper. The rows
//! are turned into the filter's JSON and read by `Filter::parse`, so the language's rules and its
//! error paths apply unchanged; each path is mapped back to the row it came from.
//!
//! Filters the rows cannot say exactly (account conditions, event kinds or property tests, `since`
//! windows, `at_most` …) stay in the JSON editor.

use std::collections::HashMap;

use hatchery_domain::segment::limits::MAX_DEPTH;
use hatchery_domain::segment::{Condition, Filter, Scalar, Test, Window};
use serde_json::{json, Map, Value};

/// Group kinds, in the order the select box offers them.
pub const GROUP_KINDS: [&str; 4] = ["all", "any", "not_all", "not_any"];
/// Condition kinds, in the order the select box offers them.
pub const CONDITION_KINDS: [&str; 5] = ["field", "trait", "tag", "identity", "event"];
/// Operators of field and trait conditions.
pub const OPS: [&str; 11] = [
    "eq",
    "ne",
    "in",
    "contains",
    "starts_with",
    "lt",
    "lte",
    "gt",
    "gte",
    "exists",
    "not_exists",
];
/// Rows one form may hold (the language allows 100 conditions).
pub const MAX_ROWS: usize = 150;

/// One line of the outline, as the form holds it (text, so a wrong value is shown back as typed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub depth: usize,
    pub kind: String,
    pub subject: String,
    pub op: String,
    pub value: String,
    pub at_least: String,
    pub within_days: String,
}

impl Row {
    pub fn is_group(&self) -> bool {
        GROUP_KINDS.contains(&self.kind.as_str())
    }

    fn group(depth: usize, kind: &str) -> Row {
        Row {
            depth,
            kind: kind.to_owned(),
            ..Row::default()
        }
    }

    /// A new condition row: a tag, the simplest condition to fill in.
    pub fn new_condition(depth: usize) -> Row {
        Row {
            depth,
            kind: "tag".into(),
            op: "eq".into(),
            ..Row::default()
        }
    }
}

/// The rows a new segment starts with: the same example as the JSON editor's, minus the event
/// kind.
pub fn example() -> Vec<Row> {
    vec![
        Row::group(0, "all"),
        Row {
            depth: 1,
            kind: "field".into(),
            subject: "city".into(),
            op: "in".into(),
            value: "深圳, 广州".into(),
            ..Row::default()
        },
        Row {
            depth: 1,
            kind: "tag".into(),
            subject: "KA".into(),
            op: "eq".into(),
            ..Row::default()
        },
        Row {
            depth: 1,
            kind: "event".into(),
            subject: "Pricing Viewed".into(),
            op: "eq".into(),
            at_least: "3".into(),
            within_days: "7".into(),
            ..Row::default()
        },
    ]
}

/// Reads the rows of a posted form (`r0_kind`, `r0_depth`, `r0_subject` …). The first row is
/// always the root group; every other row sits below it.
pub fn from_form(fields: &HashMap<String, String>) -> Vec<Row> {
    let get = |i: usize, k: &str| {
        fields
            .get(&format!("r{i}_{k}"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for i in 0..MAX_ROWS {
        let kind = get(i, "kind");
        if kind.is_empty() {
            break;
        }
        let depth = get(i, "depth").parse::<usize>().unwrap_or(1).min(MAX_DEPTH);
        rows.push(Row {
            depth: if i == 0 { 0 } else { depth.max(1) },
            kind: if GROUP_KINDS.contains(&kind.as_str())
                || CONDITION_KINDS.contains(&kind.as_str())
            {
                kind
            } else {
                "tag".into()
            },
            subject: get(i, "subject"),
            op: get(i, "op"),
            value: get(i, "value"),
            at_least: get(i, "at_least"),
            within_days: get(i, "within_days"),
        });
    }
    if rows.first().is_none_or(|r| !r.is_group()) {
        rows.insert(0, Row::group(0, "all"));
    }
    rows
}

/// The end (exclusive) of row `i` with its descendants.
pub fn subtree_end(rows: &[Row], i: usize) -> usize {
    let depth = rows[i].depth;
    let mut end = i + 1;
    while end < rows.len() && rows[end].depth > depth {
        end += 1;
    }
    end
}

/// Applies an outline edit (`add_condition:3`, `add_group:0`, `remove:2`); false when the action
/// is not one.
pub fn edit(rows: &mut Vec<Row>, action: &str) -> bool {
    let Some((what, at)) = action.split_once(':') else {
        return false;
    };
    let Ok(i) = at.parse::<usize>() else {
        return false;
    };
    if i >= rows.len() || (what.starts_with("add") && rows.len() + 2 > MAX_ROWS) {
        return false;
    }
    match what {
        "add_condition" if rows[i].is_group() => {
            let end = subtree_end(rows, i);
            rows.insert(end, Row::new_condition(rows[i].depth + 1));
        }
        "add_group" if rows[i].is_group() => {
            let end = subtree_end(rows, i);
            let d = rows[i].depth + 1;
            rows.insert(end, Row::group(d, "any"));
            rows.insert(end + 1, Row::new_condition(d + 1));
        }
        "remove" if i > 0 => {
            let end = subtree_end(rows, i);
            rows.drain(i..end);
        }
        _ => return false,
    }
    true
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The filter's JSON, and for each node the path it sits at (as `Filter::parse` names it) with
/// the row it came from.
pub fn to_json(rows: &[Row]) -> (Value, Vec<(String, usize)>) {
    let mut paths = Vec::new();
    let mut i = 0;
    let v = node(rows, &mut i, "", &mut paths);
    (v, paths)
}

fn node(rows: &[Row], i: &mut usize, path: &str, paths: &mut Vec<(String, usize)>) -> Value {
    let at = *i;
    let r = &rows[at];
    *i += 1;
    paths.push((path.to_owned(), at));
    if !r.is_group() {
        return condition(r);
    }
    let negated = r.kind.starts_with("not_");
    let key = if r.kind.ends_with("any") {
        "any"
    } else {
        "all"
    };
    let end = subtree_end(rows, at);
    let mut direct = Vec::new();
    let mut j = *i;
    while j < end {
        direct.push(j);
        j = subtree_end(rows, j);
    }
    let inner = if negated {
        join(path, "not")
    } else {
        path.to_owned()
    };
    let value = if negated && direct.len() == 1 {
        node(rows, i, &inner, paths)
    } else {
        let list = join(&inner, key);
        let children: Vec<Value> = (0..direct.len())
            .map(|k| node(rows, i, &format!("{list}[{k}]"), paths))
            .collect();
        json!({ key: children })
    };
    *i = end;
    if negated {
        json!({ "not": value })
    } else {
        value
    }
}

/// A typed value: a number or true/false when it reads as one, else text.
fn typed(s: &str) -> Value {
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or_else(|| Value::String(s.to_owned()), |f| json!(f)),
    }
}

/// A number as typed: whole numbers without a decimal point.
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // A whole number below 10^15 converts to an i64 exactly.
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

fn split_list(s: &str) -> Vec<&str> {
    s.split([',', '，', '、'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

fn condition(r: &Row) -> Value {
    let mut o = Map::new();
    match r.kind.as_str() {
        "tag" | "identity" => {
            o.insert(r.kind.clone(), r.subject.clone().into());
        }
        "event" => {
            o.insert("event".into(), json!({ "name": r.subject }));
            let count = |s: &str| {
                s.parse::<u64>()
                    .map_or_else(|_| Value::String(s.to_owned()), Value::from)
            };
            if !r.at_least.is_empty() {
                o.insert("at_least".into(), count(&r.at_least));
            }
            if !r.within_days.is_empty() {
                o.insert("within_days".into(), count(&r.within_days));
            }
        }
        kind => {
            let text_only = kind == "field";
            o.insert(kind.to_owned(), r.subject.clone().into());
            o.insert("op".into(), r.op.clone().into());
            let one = |s: &str| {
                if text_only {
                    Value::String(s.to_owned())
                } else {
                    typed(s)
                }
            };
            let value = match r.op.as_str() {
                "exists" | "not_exists" => None,
                "in" => Some(Value::Array(
                    split_list(&r.value).into_iter().map(one).collect(),
                )),
                "lt" | "lte" | "gt" | "gte" => Some(typed(&r.value)),
                _ => Some(one(&r.value)),
            };
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
        }
    }
    Value::Object(o)
}

/// The row of the node an error path points into: the deepest node whose path starts it.
pub fn row_of(paths: &[(String, usize)], error_path: &str) -> usize {
    paths
        .iter()
        .filter(|(p, _)| {
            p.is_empty()
                || error_path == p
                || error_path.starts_with(&format!("{p}."))
                || error_path.starts_with(&format!("{p}["))
        })
        .max_by_key(|(p, _)| p.len())
        .map_or(0, |(_, r)| *r)
}

/// The rows of a filter, when they can say it exactly.
pub fn from_filter(f: &Filter) -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    match f {
        Filter::Condition(_) => {
            rows.push(Row::group(0, "all"));
            push(f, 1, &mut rows)?;
        }
        _ => push(f, 0, &mut rows)?,
    }
    Some(rows)
}

fn push(f: &Filter, depth: usize, rows: &mut Vec<Row>) -> Option<()> {
    match f {
        Filter::All(fs) | Filter::Any(fs) => {
            let kind = if matches!(f, Filter::All(_)) {
                "all"
            } else {
                "any"
            };
            rows.push(Row::group(depth, kind));
            for c in fs {
                push(c, depth + 1, rows)?;
            }
        }
        Filter::Not(inner) => match inner.as_ref() {
            Filter::All(fs) | Filter::Any(fs) if fs.len() > 1 => {
                let kind = if matches!(inner.as_ref(), Filter::All(_)) {
                    "not_all"
                } else {
                    "not_any"
                };
                rows.push(Row::group(depth, kind));
                for c in fs {
                    push(c, depth + 1, rows)?;
                }
            }
            // `not` of a one-child group would come back as `not` of the child: keep the JSON.
            Filter::All(_) | Filter::Any(_) => return None,
            other => {
                rows.push(Row::group(depth, "not_all"));
                push(other, depth + 1, rows)?;
            }
        },
        Filter::Condition(c) => rows.push(condition_row(c, depth)?),
    }
    Some(())
}

fn scalar_text(s: &Scalar, text_only: bool) -> Option<String> {
    match s {
        // Text that would read back as a number, true/false or a list is left to the JSON editor.
        Scalar::Text(t)
            if !text_only && !matches!(typed(t), Value::String(_))
                || t.contains([',', '，', '、'])
                || t.trim() != t
                || t.is_empty() =>
        {
            None
        }
        Scalar::Text(t) => Some(t.clone()),
        Scalar::Number(n) => Some(num(*n)),
        Scalar::Bool(b) => Some(b.to_string()),
    }
}

fn test_parts(t: &Test, text_only: bool) -> Option<(String, String)> {
    let v = match t {
        Test::Exists | Test::NotExists => String::new(),
        Test::Eq(s) | Test::Ne(s) => scalar_text(s, text_only)?,
        Test::In(l) => l
            .iter()
            .map(|s| scalar_text(s, text_only))
            .collect::<Option<Vec<_>>>()?
            .join(", "),
        Test::Contains(s) | Test::StartsWith(s) => scalar_text(&Scalar::Text(s.clone()), true)?,
        Test::Lt(n) | Test::Lte(n) | Test::Gt(n) | Test::Gte(n) => num(*n),
    };
    Some((t.op().to_owned(), v))
}

fn condition_row(c: &Condition, depth: usize) -> Option<Row> {
    let row = |kind: &str, subject: String| Row {
        depth,
        kind: kind.to_owned(),
        subject,
        op: "eq".into(),
        ..Row::default()
    };
    Some(match c {
        Condition::Field { field, test } => {
            let (op, value) = test_parts(test, true)?;
            Row {
                op,
                value,
                ..row("field", field.as_str().to_owned())
            }
        }
        Condition::Trait { key, test } => {
            let (op, value) = test_parts(test, false)?;
            Row {
                op,
                value,
                ..row("trait", key.clone())
            }
        }
        Condition::Tag { name } if name.trim() == name => row("tag", name.clone()),
        Condition::Identity { kind, app: None } => row("identity", kind.as_str().to_owned()),
        Condition::Event(e)
            if e.kind.is_none()
                && e.properties.is_empty()
                && e.at_most.is_none()
                && !matches!(e.window, Window::Since(_)) =>
        {
            let name = e.name.clone()?;
            if name.trim() != name {
                return None;
            }
            Row {
                at_least: e.at_least.to_string(),
                within_days: match e.window {
                    Window::WithinDays(d) => d.to_string(),
                    _ => String::new(),
                },
                ..row("event", name)
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(v: Value) -> Vec<Row> {
        from_filter(&Filter::parse(&v).unwrap()).expect("expressible as rows")
    }

    #[test]
    fn expressible_filters_go_to_rows_and_back_unchanged() {
        for v in [
            json!({"all": [
                {"field": "city", "op": "in", "value": ["深圳", "广州"]},
                {"tag": "KA"},
                {"event": {"name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}
            ]}),
            json!({"any": [
                {"not": {"tag": "竞品"}},
                {"not": {"all": [{"identity": "email"}, {"trait": "budget", "op": "gte", "value": 100_000}]}},
                {"all": [{"trait": "vip", "op": "eq", "value": true}, {"field": "email", "op": "exists"}]}
            ]}),
        ] {
            let f = Filter::parse(&v).unwrap();
            let (back, _) = to_json(&rows_of(v.clone()));
            assert_eq!(Filter::parse(&back).unwrap(), f, "{back}");
        }
    }

    #[test]
    fn what_rows_cannot_say_stays_json() {
        for v in [
            json!({"account": "industry", "op": "eq", "value": "制造"}),
            json!({"event": {"kind": "page", "name": "Pricing"}, "at_least": 3}),
            json!({"trait": "code", "op": "eq", "value": "100"}),
            json!({"not": {"all": [{"tag": "a"}]}}),
        ] {
            assert!(from_filter(&Filter::parse(&v).unwrap()).is_none(), "{v}");
        }
    }

    #[test]
    fn outline_edits_add_and_remove_whole_branches() {
        let mut rows = example();
        assert!(edit(&mut rows, "add_group:0"));
        assert_eq!(rows.len(), 6);
        assert_eq!((rows[4].kind.as_str(), rows[4].depth), ("any", 1));
        assert!(edit(&mut rows, "add_condition:4"));
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[6].depth, 2);
        assert!(edit(&mut rows, "remove:4"));
        assert_eq!(rows, example());
        assert!(!edit(&mut rows, "remove:0"), "the root stays");
        assert!(
            !edit(&mut rows, "add_condition:1"),
            "conditions hold nothing"
        );
    }

    #[test]
    fn an_error_path_points_at_its_row() {
        let mut rows = example();
        rows[1].subject = "town".into();
        edit(&mut rows, "add_group:0");
        rows[5].subject = String::new();
        let (v, paths) = to_json(&rows);
        let e = Filter::parse(&v).unwrap_err();
        assert_eq!(e.path, "all[0].field");
        assert_eq!(row_of(&paths, &e.path), 1);
        assert_eq!(row_of(&paths, "all[3].any[0].tag"), 5);
        assert_eq!(row_of(&paths, "all[3].any"), 4);
        assert_eq!(row_of(&paths, "all"), 0);
    }
}
