//! A segment filter in words, in the console's language: "全部满足：城市 等于 深圳；标签 KA；行为
//! Pricing Viewed ≥ 3 次（近 7 天）". Every node of the language has a rendering, so the tree is
//! always readable; the page shows the JSON next to it for the exact form.

use hatchery_domain::scoring::ScoreKind;
use hatchery_domain::segment::{
    AccountField, Condition, EventCondition, Filter, Scalar, Test, Window,
};

use crate::console::i18n::{Lang, Local};

/// The filter as one line of text. Groups inside groups are put in brackets.
pub fn describe(f: &Filter, local: Local) -> String {
    node(f, local, true)
}

fn node(f: &Filter, local: Local, top: bool) -> String {
    let lang = local.lang;
    let group = |key: &str, fs: &[Filter]| {
        let parts: Vec<String> = fs.iter().map(|c| node(c, local, false)).collect();
        let text = format!(
            "{}{}",
            lang.t(key),
            parts.join(lang.t("segment.describe.separator"))
        );
        if top {
            text
        } else {
            bracket(&text, lang)
        }
    };
    match f {
        Filter::All(fs) => group("segment.describe.all", fs),
        Filter::Any(fs) => group("segment.describe.any", fs),
        Filter::Not(inner) => format!(
            "{}{}",
            lang.t("segment.describe.not"),
            node(inner, local, false)
        ),
        Filter::Condition(c) => condition(c, local),
    }
}

fn bracket(s: &str, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("（{s}）"),
        Lang::En => format!("({s})"),
    }
}

/// Appends a bracketed note: after a space in English, directly in Chinese (full-width
/// brackets carry their own spacing).
fn append_bracket(s: &mut String, note: &str, lang: Lang) {
    if lang == Lang::En {
        s.push(' ');
    }
    s.push_str(&bracket(note, lang));
}

fn condition(c: &Condition, local: Local) -> String {
    let lang = local.lang;
    match c {
        Condition::Field { field, test: t } => {
            let label = lang.t(&format!("target.{}", field.as_str()));
            format!("{label} {}", test(t, lang))
        }
        Condition::Trait { key, test: t } => {
            format!(
                "{} {key} {}",
                lang.t("segment.describe.trait"),
                test(t, lang)
            )
        }
        Condition::Account { field, test: t } => {
            format!(
                "{} {} {}",
                lang.t("segment.describe.account"),
                lang.t(account_field_key(*field)),
                test(t, lang)
            )
        }
        Condition::AccountTrait { key, test: t } => {
            format!(
                "{} {key} {}",
                lang.t("segment.describe.account_trait"),
                test(t, lang)
            )
        }
        Condition::Tag { name } => format!("{} {name}", lang.t("segment.describe.tag")),
        Condition::Identity { kind, app } => {
            let mut s = format!(
                "{} {}",
                lang.t("segment.describe.has"),
                lang.identity_kind(kind.as_str())
            );
            if let Some(a) = app {
                append_bracket(&mut s, a, lang);
            }
            s
        }
        Condition::Event(e) => event(e, local),
        Condition::Score { kind, test: t } => {
            let label = match kind {
                ScoreKind::Fit => lang.t("contact.fit"),
                ScoreKind::Engagement => lang.t("contact.engagement"),
            };
            format!("{label} {}", test(t, lang))
        }
        Condition::InSegment(id) => format!("{} {id}", lang.t("segment.describe.in_segment")),
        Condition::Stage(keys) => {
            format!("{} {}", lang.t("segment.describe.stage"), keys.join(" / "))
        }
        Condition::Tier { dimension, tiers } => format!(
            "{} {dimension} = {}",
            lang.t("segment.describe.tier"),
            tiers.join(" / ")
        ),
        Condition::Consent { purpose, channel } => match channel {
            None => format!("{} {purpose}", lang.t("segment.describe.consent")),
            Some(c) => format!("{} {purpose} ({c})", lang.t("segment.describe.consent")),
        },
        Condition::Referrals { at_least, at_most } => match at_most {
            None => format!("{} ≥ {at_least}", lang.t("segment.describe.referrals")),
            Some(m) => format!("{} {at_least}–{m}", lang.t("segment.describe.referrals")),
        },
    }
}

fn account_field_key(f: AccountField) -> &'static str {
    match f {
        AccountField::Name => "segment.describe.account_name",
        AccountField::Domain => "contact.domain",
        AccountField::Industry => "target.industry",
        AccountField::CompanySize => "target.company_size",
        AccountField::Province => "target.province",
        AccountField::City => "target.city",
    }
}

fn event(e: &EventCondition, local: Local) -> String {
    let lang = local.lang;
    let mut s = match (&e.kind, &e.name) {
        (Some(k), Some(n)) => format!("{} {n}", lang.event_kind(k)),
        (Some(k), None) => lang.event_kind(k),
        (None, Some(n)) => format!("{} {n}", lang.t("segment.describe.any_event")),
        (None, None) => lang.t("segment.describe.any_event").to_owned(),
    };
    if !e.properties.is_empty() {
        let tests: Vec<String> = e
            .properties
            .iter()
            .map(|(k, t)| format!("{k} {}", test(t, lang)))
            .collect();
        append_bracket(
            &mut s,
            &tests.join(lang.t("segment.describe.separator")),
            lang,
        );
    }
    let times = lang.t("segment.describe.times");
    let count = match (e.at_least, e.at_most) {
        (l, Some(m)) if l == m => format!("= {l} {times}"),
        (0, Some(m)) => format!("≤ {m} {times}"),
        (l, Some(m)) => format!("{l}–{m} {times}"),
        (l, None) => format!("≥ {l} {times}"),
    };
    s.push(' ');
    s.push_str(&count);
    match e.window {
        Window::AllTime => {}
        Window::WithinDays(d) => append_bracket(
            &mut s,
            &lang
                .t("segment.describe.within_days")
                .replace("{days}", &d.to_string()),
            lang,
        ),
        Window::Since(t) => append_bracket(
            &mut s,
            &lang
                .t("segment.describe.since")
                .replace("{time}", &local.datetime(t)),
            lang,
        ),
    }
    s
}

fn test(t: &Test, lang: Lang) -> String {
    let op = |key: &str| lang.t(key);
    match t {
        Test::Exists => op("segment.op.exists").to_owned(),
        Test::NotExists => op("segment.op.not_exists").to_owned(),
        Test::Eq(v) => format!("{} {}", op("segment.op.eq"), scalar(v)),
        Test::Ne(v) => format!("{} {}", op("segment.op.ne"), scalar(v)),
        Test::In(vs) => {
            let list: Vec<String> = vs.iter().map(scalar).collect();
            format!(
                "{} {}",
                op("segment.op.in"),
                list.join(lang.t("segment.describe.list_separator"))
            )
        }
        Test::Contains(s) => format!("{} {s}", op("segment.op.contains")),
        Test::StartsWith(s) => format!("{} {s}", op("segment.op.starts_with")),
        Test::Lt(n) => format!("< {}", number(*n)),
        Test::Lte(n) => format!("≤ {}", number(*n)),
        Test::Gt(n) => format!("> {}", number(*n)),
        Test::Gte(n) => format!("≥ {}", number(*n)),
    }
}

fn scalar(v: &Scalar) -> String {
    match v {
        Scalar::Text(s) => s.clone(),
        Scalar::Number(n) => number(*n),
        Scalar::Bool(b) => b.to_string(),
    }
}

/// A number as written: whole numbers without a decimal point.
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // A whole number below 10^15 converts to an i64 exactly.
        (n as i64).to_string()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::console::i18n::DEFAULT_TIME_ZONE;

    fn parse(v: serde_json::Value) -> Filter {
        Filter::parse(&v).unwrap()
    }

    #[test]
    fn reads_a_filter_in_both_languages() {
        let f = parse(json!({"all": [
            {"field": "city", "op": "eq", "value": "深圳"},
            {"tag": "KA"},
            {"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}
        ]}));
        assert_eq!(
            describe(&f, Local::new(Lang::Zh, DEFAULT_TIME_ZONE)),
            "全部满足：城市 等于 深圳；标签 KA；行为 Pricing Viewed ≥ 3 次（近 7 天）"
        );
        assert_eq!(
            describe(&f, Local::new(Lang::En, DEFAULT_TIME_ZONE)),
            "All of: City is 深圳; Tag KA; Action Pricing Viewed ≥ 3 times (in the last 7 days)"
        );
    }

    #[test]
    fn nested_groups_negation_and_every_condition_kind_have_words() {
        let f = parse(json!({"any": [
            {"not": {"tag": "竞品"}},
            {"all": [
                {"trait": "budget", "op": "gte", "value": 100_000},
                {"account": "industry", "op": "in", "value": ["制造", "能源"]},
                {"account_trait": "tier", "op": "exists"},
                {"identity": "wechat_openid", "app": "wx1"}
            ]},
            {"event": {"name": "Demo Requested"}, "at_most": 0, "since": 0},
            {"event": {"kind": "page"}, "where": [{"property": "plan", "op": "eq", "value": "pro"}], "at_least": 2, "at_most": 5}
        ]}));
        assert_eq!(
            describe(&f, Local::new(Lang::En, DEFAULT_TIME_ZONE)),
            "Any of: Not Tag 竞品; (All of: Custom field budget ≥ 100000; Account Industry is one of 制造, 能源; \
             Account custom field tier is set; Has WeChat openID (wx1)); Any event Demo Requested = 0 times \
             (since 1 Jan 1970 08:00); Page view (plan is pro) 2–5 times"
        );
        assert!(describe(&f, Local::new(Lang::Zh, DEFAULT_TIME_ZONE))
            .starts_with("任一满足：不满足 标签 竞品；（全部满足："));
        let mql = parse(json!({"all": [
            {"score": "fit", "op": "gte", "value": 60},
            {"score": "engagement", "op": "gt", "value": 50}
        ]}));
        assert_eq!(
            describe(&mql, Local::new(Lang::En, DEFAULT_TIME_ZONE)),
            "All of: Fit ≥ 60; Engagement > 50"
        );
        assert_eq!(
            describe(&mql, Local::new(Lang::Zh, DEFAULT_TIME_ZONE)),
            "全部满足：匹配度 ≥ 60；活跃度 > 50"
        );
    }
}
