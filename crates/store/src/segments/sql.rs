//! The SQL compilation of a segment filter: a boolean expression over `contacts c` with bound
//! parameters, for SQLite and PostgreSQL. It must agree with the in-process predicate
//! (`Filter::matches`) on every contact; `tests/segments.rs` checks that with random filters and
//! contacts on both databases.
//!
//! Every expression this module produces is two-valued — never SQL `NULL` — so `NOT` means what
//! it means in the domain (`ne` is `NOT eq`, a missing value fails `eq`). Each leaf test is wrapped
//! in `COALESCE(…, FALSE)` for that reason.
//!
//! Dialects differ in JSON access (SQLite `json_type`/`json_extract` with a `$."key"` path;
//! PostgreSQL `jsonb_typeof`/`->>` on the text column cast to `jsonb`, NUL escapes made
//! readable), in substring search
//! (`instr` vs `strpos`) and in parameter types (PostgreSQL placeholders carry a cast so an
//! untyped parameter never makes a function call ambiguous). Comparisons are exact and
//! case-sensitive on both: `=` and `substr` compare characters, never a locale's collation.

use std::collections::HashMap;

use hatchery_domain::scoring::ScoreKind;
use hatchery_domain::segment::{Condition, EventCondition, Filter, Millis, Scalar, Test};

use crate::backend::Arg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Builds the SQL text and its arguments; placeholders continue after the arguments already
/// present (`$1` is usually the organisation).
pub(crate) struct SqlFilter {
    dialect: Dialect,
    now: Millis,
    pub(crate) args: Vec<Arg>,
    /// Placeholder number of each text already bound.
    texts: HashMap<String, usize>,
}

/// What a test reads: a text expression, or a key of a JSON document held as text.
enum Subject<'a> {
    Column(String),
    Json { doc: String, key: &'a str },
}

#[derive(Clone, Copy)]
enum JsonType {
    Text,
    Number,
    True,
    False,
}

impl SqlFilter {
    pub(crate) fn new(dialect: Dialect, now: Millis, args: Vec<Arg>) -> SqlFilter {
        SqlFilter {
            dialect,
            now,
            args,
            texts: HashMap::new(),
        }
    }

    /// The placeholder for a value. Equal texts share one (a JSON path is used several times per
    /// test): fewer parameters keep a filter at the limits quick to prepare.
    fn push(&mut self, a: Arg) -> String {
        let cast = match (&a, self.dialect) {
            (_, Dialect::Sqlite) => "",
            (Arg::Int(_), Dialect::Postgres) => "::bigint",
            (Arg::Text(_), Dialect::Postgres) => "::text",
            (Arg::Float(_), Dialect::Postgres) => "::float8",
        };
        if let Arg::Text(t) = &a {
            if let Some(&n) = self.texts.get(t) {
                return format!("${n}{cast}");
            }
        }
        self.args.push(a);
        let n = self.args.len();
        if let Some(Arg::Text(t)) = self.args.last() {
            self.texts.insert(t.clone(), n);
        }
        format!("${n}{cast}")
    }

    fn text(&mut self, s: &str) -> String {
        self.push(Arg::Text(s.to_owned()))
    }

    /// The boolean expression for the filter over `contacts c`.
    pub(crate) fn filter(&mut self, f: &Filter) -> String {
        match f {
            Filter::All(fs) => self.join(fs, " AND "),
            Filter::Any(fs) => self.join(fs, " OR "),
            Filter::Not(f) => format!("(NOT {})", self.filter(f)),
            Filter::Condition(c) => self.condition(c),
        }
    }

    fn join(&mut self, fs: &[Filter], op: &str) -> String {
        let parts: Vec<String> = fs.iter().map(|f| self.filter(f)).collect();
        format!("({})", parts.join(op))
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Field { field, test } => {
                self.test(&Subject::Column(format!("c.{}", field.as_str())), test)
            }
            Condition::Trait { key, test } => self.test(
                &Subject::Json {
                    doc: "c.traits".into(),
                    key,
                },
                test,
            ),
            Condition::Account { field, test } => {
                self.test(&Subject::Column(account_column(field.as_str())), test)
            }
            Condition::AccountTrait { key, test } => self.test(
                &Subject::Json {
                    doc: account_column("traits"),
                    key,
                },
                test,
            ),
            Condition::Tag { name } => {
                let n = self.text(name);
                format!(
                    "EXISTS (SELECT 1 FROM contact_tags ct JOIN tags t ON t.org_id = ct.org_id AND t.id = ct.tag_id \
                     WHERE ct.org_id = c.org_id AND ct.contact_id = c.id AND t.name = {n})"
                )
            }
            Condition::Identity { kind, app } => {
                let k = self.text(kind.as_str());
                let app = match app {
                    None => String::new(),
                    Some(a) => {
                        let prefix = format!("{a}:");
                        let n = prefix.chars().count();
                        let p = self.text(&prefix);
                        format!(" AND substr(i.value, 1, {n}) = {p}")
                    }
                };
                format!(
                    "EXISTS (SELECT 1 FROM identities i WHERE i.org_id = c.org_id AND i.contact_id = c.id \
                     AND i.kind = {k}{app})"
                )
            }
            Condition::Event(e) => self.event(e),
            Condition::Score { kind, test } => self.score(*kind, test),
            Condition::InSegment(id) => {
                let p = self.push(Arg::Int(id.0));
                format!(
                    "EXISTS (SELECT 1 FROM segment_members m WHERE m.org_id = c.org_id \
                     AND m.segment_id = {p} AND m.contact_id = c.id)"
                )
            }
            Condition::Stage(keys) => {
                let list: Vec<String> = keys.iter().map(|k| self.text(k)).collect();
                // A contact without a stage is in no stage, also under `not`.
                format!("(c.stage IS NOT NULL AND c.stage IN ({}))", list.join(", "))
            }
            Condition::Tier { dimension, tiers } => {
                let d = self.text(dimension);
                let list: Vec<String> = tiers.iter().map(|t| self.text(t)).collect();
                format!(
                    "EXISTS (SELECT 1 FROM contact_tiers t WHERE t.org_id = c.org_id AND t.contact_id = c.id \
                     AND t.dimension = {d} AND t.tier IN ({}))",
                    list.join(", ")
                )
            }
            Condition::Consent { purpose, channel } => {
                let p = self.text(purpose);
                let ch = match channel {
                    Some(c) => format!(" AND k.channel = {}", self.text(c)),
                    None => String::new(),
                };
                format!(
                    "EXISTS (SELECT 1 FROM consents k WHERE k.org_id = c.org_id AND k.contact_id = c.id \
                     AND k.purpose = {p}{ch} AND k.granted = 1)"
                )
            }
            Condition::Referrals { at_least, at_most } => {
                let count = "(SELECT COUNT(*) FROM referrals r WHERE r.org_id = c.org_id AND r.referrer_id = c.id)";
                let lo = self.push(Arg::Int(i64::from(*at_least)));
                match at_most {
                    None => format!("({count} >= {lo})"),
                    Some(m) => {
                        let hi = self.push(Arg::Int(i64::from(*m)));
                        format!("({count} >= {lo} AND {count} <= {hi})")
                    }
                }
            }
        }
    }

    /// A score test, made exactly as `ScoreSnapshot::engagement_holds` makes it in process (the
    /// same floating-point operations in the same order), so both compilations agree at the
    /// boundary. A contact without a score row has both scores 0.
    fn score(&mut self, kind: ScoreKind, t: &Test) -> String {
        const ROW: &str = "FROM contact_scores s WHERE s.org_id = c.org_id AND s.contact_id = c.id";
        let (x, strict, negate) = match t {
            Test::Gte(x) => (*x, false, false),
            Test::Gt(x) => (*x, true, false),
            Test::Lt(x) => (*x, false, true),
            Test::Lte(x) => (*x, true, true),
            _ => return "FALSE".into(),
        };
        let holds = match kind {
            ScoreKind::Fit => {
                let p = self.push(Arg::Float(x));
                let op = if strict { ">" } else { ">=" };
                format!("(COALESCE((SELECT s.fit {ROW}), 0) {op} {p})")
            }
            ScoreKind::Engagement => {
                let sign = format!("COALESCE((SELECT s.engagement_sign {ROW}), 0)");
                let now = self.push(Arg::Int(self.now));
                let now = match self.dialect {
                    Dialect::Sqlite => format!("({now} * 1.0)"),
                    Dialect::Postgres => format!("({now}::float8)"),
                };
                let rel = format!(
                    "(SELECT s.engagement_log - COALESCE({now} / s.half_life_ms, 0) {ROW})"
                );
                if x > 0.0 {
                    let l = self.push(Arg::Float(x.log2()));
                    let op = if strict { ">" } else { ">=" };
                    format!("({sign} = 1 AND {rel} {op} {l})")
                } else if x == 0.0 {
                    if strict {
                        format!("({sign} = 1)")
                    } else {
                        format!("({sign} >= 0)")
                    }
                } else {
                    let l = self.push(Arg::Float((-x).log2()));
                    let op = if strict { "<" } else { "<=" };
                    format!("({sign} >= 0 OR ({sign} = -1 AND {rel} {op} {l}))")
                }
            }
        };
        if negate {
            format!("(NOT {holds})")
        } else {
            holds
        }
    }

    fn event(&mut self, e: &EventCondition) -> String {
        let pred = self.event_predicate(e);
        let sql = format!(
            "SELECT 1 FROM events e WHERE e.org_id = c.org_id AND e.contact_id = c.id AND {pred}"
        );
        // Counting stops one past what the condition needs to know.
        let limit = e.at_most.map_or(e.at_least.max(1), |m| m + 1);
        let count = format!("(SELECT COUNT(*) FROM ({sql} LIMIT {limit}) n)");
        match e.at_most {
            None => format!("({count} >= {})", e.at_least),
            Some(m) => format!("({count} BETWEEN {} AND {m})", e.at_least),
        }
    }

    /// The predicate on `events e` selecting the events a condition counts at `now`: its kind,
    /// name, window and property tests (`TRUE` when it has none).
    pub(crate) fn event_predicate(&mut self, e: &EventCondition) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &e.kind {
            let p = self.text(k);
            parts.push(format!("e.kind = {p}"));
        }
        if let Some(n) = &e.name {
            let p = self.text(n);
            parts.push(format!("e.name = {p}"));
        }
        if let Some(start) = e.window.start(self.now) {
            let p = self.push(Arg::Int(start));
            parts.push(format!("e.occurred_at >= {p}"));
        }
        for (key, test) in &e.properties {
            let t = self.test(
                &Subject::Json {
                    doc: "e.properties".into(),
                    key,
                },
                test,
            );
            parts.push(t);
        }
        if parts.is_empty() {
            "TRUE".to_owned()
        } else {
            parts.join(" AND ")
        }
    }

    /// A two-valued expression for one test.
    fn test(&mut self, s: &Subject<'_>, t: &Test) -> String {
        let positive = |this: &mut Self, t: &Test| -> String {
            let e = this.positive(s, t);
            format!("COALESCE({e}, FALSE)")
        };
        match t {
            Test::Ne(v) => format!("(NOT {})", positive(self, &Test::Eq(v.clone()))),
            Test::NotExists => format!("(NOT {})", positive(self, &Test::Exists)),
            other => positive(self, other),
        }
    }

    /// The expression for a test other than `ne` / `not_exists`; may be `NULL` for a missing value.
    fn positive(&mut self, s: &Subject<'_>, t: &Test) -> String {
        match s {
            Subject::Column(col) => self.column_test(col, t),
            Subject::Json { doc, key } => self.json_test(doc, key, t),
        }
    }

    fn column_test(&mut self, col: &str, t: &Test) -> String {
        match t {
            Test::Exists => format!("({col} IS NOT NULL)"),
            Test::Eq(Scalar::Text(v)) => {
                let p = self.text(v);
                format!("({col} = {p})")
            }
            Test::In(vs) => {
                let ps: Vec<String> = vs
                    .iter()
                    .filter_map(|v| match v {
                        Scalar::Text(t) => Some(self.text(t)),
                        _ => None,
                    })
                    .collect();
                if ps.is_empty() {
                    "FALSE".into()
                } else {
                    format!("({col} IN ({}))", ps.join(", "))
                }
            }
            Test::Contains(v) => self.contains(col, v),
            Test::StartsWith(v) => self.starts_with(col, v),
            // Parsing allows only text tests on columns; anything else matches nothing, as in
            // the domain's evaluation.
            _ => "FALSE".into(),
        }
    }

    fn contains(&mut self, text: &str, v: &str) -> String {
        let p = self.text(v);
        match self.dialect {
            Dialect::Sqlite => format!("(instr({text}, {p}) > 0)"),
            Dialect::Postgres => format!("(strpos({text}, {p}) > 0)"),
        }
    }

    fn starts_with(&mut self, text: &str, v: &str) -> String {
        let n = v.chars().count();
        let p = self.text(v);
        format!("(substr({text}, 1, {n}) = {p})")
    }

    fn json_type(&mut self, doc: &str, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let p = self.text(&format!("$.\"{key}\""));
                format!("json_type({doc}, {p})")
            }
            Dialect::Postgres => {
                let k = self.text(key);
                format!("jsonb_typeof({} -> {k})", jsonb(doc))
            }
        }
    }

    fn json_is(&mut self, doc: &str, key: &str, ty: JsonType) -> String {
        let t = self.json_type(doc, key);
        let names: &str = match (self.dialect, ty) {
            (Dialect::Sqlite, JsonType::Text) => "'text'",
            (Dialect::Sqlite, JsonType::Number) => "'integer', 'real'",
            (Dialect::Sqlite, JsonType::True) => "'true'",
            (Dialect::Sqlite, JsonType::False) => "'false'",
            (Dialect::Postgres, JsonType::Text) => "'string'",
            (Dialect::Postgres, JsonType::Number) => "'number'",
            // jsonb has one boolean type; the value is then compared as text.
            (Dialect::Postgres, JsonType::True | JsonType::False) => "'boolean'",
        };
        let is = format!("({t} IN ({names}))");
        match (self.dialect, ty) {
            (Dialect::Postgres, JsonType::True | JsonType::False) => {
                let v = self.json_text(doc, key);
                let want = if matches!(ty, JsonType::True) {
                    "true"
                } else {
                    "false"
                };
                format!("({is} AND {v} = '{want}')")
            }
            _ => is,
        }
    }

    /// The value as SQL text (strings unquoted).
    fn json_text(&mut self, doc: &str, key: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let p = self.text(&format!("$.\"{key}\""));
                format!("json_extract({doc}, {p})")
            }
            Dialect::Postgres => {
                let k = self.text(key);
                format!("({} ->> {k})", jsonb(doc))
            }
        }
    }

    /// The value as a 64-bit float, as the domain compares it (SQLite would compare a large
    /// integer exactly); only evaluated once its type is known to be a number.
    fn json_number(&mut self, doc: &str, key: &str) -> String {
        let t = self.json_text(doc, key);
        match self.dialect {
            Dialect::Sqlite => format!("CAST({t} AS REAL)"),
            Dialect::Postgres => format!("({t})::float8"),
        }
    }

    fn json_compare(&mut self, doc: &str, key: &str, op: &str, n: f64) -> String {
        let is = self.json_is(doc, key, JsonType::Number);
        let v = self.json_number(doc, key);
        let p = self.push(Arg::Float(n));
        // CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and casting a
        // string to a number would fail the whole query.
        format!("(CASE WHEN {is} THEN {v} {op} {p} ELSE FALSE END)")
    }

    fn json_eq(&mut self, doc: &str, key: &str, v: &Scalar) -> String {
        match v {
            Scalar::Text(s) => {
                let is = self.json_is(doc, key, JsonType::Text);
                let t = self.json_text(doc, key);
                let p = self.text(s);
                format!("({is} AND {t} = {p})")
            }
            Scalar::Number(n) => self.json_compare(doc, key, "=", *n),
            Scalar::Bool(b) => {
                self.json_is(doc, key, if *b { JsonType::True } else { JsonType::False })
            }
        }
    }

    fn json_test(&mut self, doc: &str, key: &str, t: &Test) -> String {
        match t {
            Test::Exists => {
                let ty = self.json_type(doc, key);
                format!("(COALESCE({ty}, 'null') <> 'null')")
            }
            Test::Eq(v) => self.json_eq(doc, key, v),
            Test::In(vs) => {
                // One membership test per JSON type, not one comparison per value.
                let mut texts = Vec::new();
                let mut numbers = Vec::new();
                let mut parts = Vec::new();
                for v in vs {
                    match v {
                        Scalar::Text(t) => texts.push(t),
                        Scalar::Number(n) => numbers.push(*n),
                        Scalar::Bool(_) => {
                            let e = self.json_eq(doc, key, v);
                            parts.push(format!("COALESCE({e}, FALSE)"));
                        }
                    }
                }
                if !texts.is_empty() {
                    let is = self.json_is(doc, key, JsonType::Text);
                    let t = self.json_text(doc, key);
                    let ps: Vec<String> = texts.into_iter().map(|v| self.text(v)).collect();
                    parts.push(format!(
                        "COALESCE(({is} AND {t} IN ({})), FALSE)",
                        ps.join(", ")
                    ));
                }
                if !numbers.is_empty() {
                    let is = self.json_is(doc, key, JsonType::Number);
                    let v = self.json_number(doc, key);
                    let ps: Vec<String> = numbers
                        .into_iter()
                        .map(|n| self.push(Arg::Float(n)))
                        .collect();
                    parts.push(format!(
                        "COALESCE((CASE WHEN {is} THEN {v} IN ({}) ELSE FALSE END), FALSE)",
                        ps.join(", ")
                    ));
                }
                format!("({})", parts.join(" OR "))
            }
            Test::Contains(v) | Test::StartsWith(v) => {
                let is = self.json_is(doc, key, JsonType::Text);
                let text = self.json_text(doc, key);
                let m = if matches!(t, Test::Contains(_)) {
                    self.contains(&text, v)
                } else {
                    self.starts_with(&text, v)
                };
                format!("({is} AND {m})")
            }
            Test::Lt(n) => self.json_compare(doc, key, "<", *n),
            Test::Lte(n) => self.json_compare(doc, key, "<=", *n),
            Test::Gt(n) => self.json_compare(doc, key, ">", *n),
            Test::Gte(n) => self.json_compare(doc, key, ">=", *n),
            Test::Ne(_) | Test::NotExists => unreachable!("negations are built by `test`"),
        }
    }
}

/// JSON text as `jsonb` on PostgreSQL. `jsonb` refuses the escape `\u0000` (a NUL character, which
/// a tracked property may hold), and one such row would fail the whole query; it is read as
/// U+FFFD instead, which filters cannot mention (see the domain's parsing), so answers agree.
fn jsonb(doc: &str) -> String {
    format!("(replace({doc}, E'\\\\u0000', E'\\\\ufffd'))::jsonb")
}

/// A column of the contact's account, `NULL` when it has none.
fn account_column(col: &str) -> String {
    format!("(SELECT a.{col} FROM accounts a WHERE a.org_id = c.org_id AND a.id = c.account_id)")
}
