//! The in-process compilation of a filter: a pure predicate over one contact's snapshot, and the
//! instant at which its time windows can next change the answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{
    AccountField, Condition, EventCondition, Filter, Millis, Scalar, Test, Window, DAY_MS,
};
use crate::ids::SegmentId;
use crate::scoring::{ScoreKind, ScoreSnapshot};
use crate::{Identifier, StandardField};

/// Everything a filter may read about one contact. `events` must hold at least every event at or
/// after [`super::Dependencies::events_needed_since`]; the filter never reads older ones, so a
/// loader leaves them out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactSnapshot {
    /// Standard profile columns that have a value.
    pub fields: BTreeMap<StandardField, String>,
    pub traits: Map<String, Value>,
    /// Tag names.
    pub tags: BTreeSet<String>,
    pub identities: Vec<Identifier>,
    pub account: Option<AccountSnapshot>,
    pub events: Vec<EventRecord>,
    /// Stored scores (both 0 for a contact never scored).
    pub scores: ScoreSnapshot,
    /// The saved segments the contact is in (read by `segment` conditions).
    pub segments: BTreeSet<SegmentId>,
    /// The lifecycle stage's key, if the contact has one.
    pub stage: Option<String>,
    /// When the contact entered its stage.
    pub stage_since: Option<Millis>,
    /// The contact's tier in each dimension of the tier model (dimension → tier).
    pub tiers: BTreeMap<String, String>,
    /// How many contacts it referred.
    pub referrals: u32,
    /// The latest consent answer per (purpose, channel): `true` = granted.
    pub consents: BTreeMap<(String, String), bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountSnapshot {
    pub fields: BTreeMap<AccountField, String>,
    pub traits: Map<String, Value>,
}

/// One event as a filter sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub kind: String,
    pub name: Option<String>,
    pub occurred_at: Millis,
    pub properties: Map<String, Value>,
}

/// A value under test: a text column or a JSON value (trait, property).
#[derive(Clone, Copy)]
enum Subject<'a> {
    Text(Option<&'a str>),
    Json(Option<&'a Value>),
}

impl<'a> Subject<'a> {
    fn json(v: Option<&'a Value>) -> Subject<'a> {
        Subject::Json(v.filter(|v| !v.is_null()))
    }

    fn present(self) -> bool {
        match self {
            Subject::Text(t) => t.is_some(),
            Subject::Json(v) => v.is_some(),
        }
    }

    fn text(self) -> Option<&'a str> {
        match self {
            Subject::Text(t) => t,
            Subject::Json(v) => v.and_then(Value::as_str),
        }
    }

    fn number(self) -> Option<f64> {
        match self {
            Subject::Text(_) => None,
            Subject::Json(v) => v.filter(|v| v.is_number()).and_then(Value::as_f64),
        }
    }

    fn equals(self, s: &Scalar) -> bool {
        match s {
            Scalar::Text(t) => self.text() == Some(t.as_str()),
            Scalar::Number(n) => self.number() == Some(*n),
            Scalar::Bool(b) => matches!(self, Subject::Json(Some(Value::Bool(v))) if v == b),
        }
    }
}

impl Test {
    fn holds(&self, s: Subject<'_>) -> bool {
        match self {
            Test::Exists => s.present(),
            Test::NotExists => !s.present(),
            Test::Eq(v) => s.equals(v),
            Test::Ne(v) => !s.equals(v),
            Test::In(vs) => vs.iter().any(|v| s.equals(v)),
            Test::Contains(p) => s.text().is_some_and(|t| t.contains(p.as_str())),
            Test::StartsWith(p) => s.text().is_some_and(|t| t.starts_with(p.as_str())),
            Test::Lt(n) => s.number().is_some_and(|v| v < *n),
            Test::Lte(n) => s.number().is_some_and(|v| v <= *n),
            Test::Gt(n) => s.number().is_some_and(|v| v > *n),
            Test::Gte(n) => s.number().is_some_and(|v| v >= *n),
        }
    }
}

impl EventCondition {
    /// Whether one event is of the kind and name and passes the property tests (the window and
    /// counts aside).
    pub fn event_matches(&self, e: &EventRecord) -> bool {
        self.kind.as_deref().is_none_or(|k| k == e.kind)
            && self
                .name
                .as_deref()
                .is_none_or(|n| e.name.as_deref() == Some(n))
            && self
                .properties
                .iter()
                .all(|(k, t)| t.holds(Subject::json(e.properties.get(k))))
    }

    /// `occurred_at` of the matching events inside the window at `now`.
    fn counted<'s>(
        &'s self,
        c: &'s ContactSnapshot,
        now: Millis,
    ) -> impl Iterator<Item = Millis> + 's {
        let start = self.window.start(now);
        c.events
            .iter()
            .filter(move |e| start.is_none_or(|s| e.occurred_at >= s))
            .filter(|e| self.event_matches(e))
            .map(|e| e.occurred_at)
    }

    /// When the condition's answer next changes through events leaving a rolling window: each
    /// counted event leaves at `occurred_at + window + 1 ms`, and the count drops by one.
    fn next_change_at(&self, c: &ContactSnapshot, now: Millis) -> Option<Millis> {
        let Window::WithinDays(d) = self.window else {
            return None;
        };
        let span = Millis::from(d) * DAY_MS;
        let mut leaves: Vec<Millis> = self.counted(c, now).map(|t| t + span + 1).collect();
        leaves.sort_unstable();
        let mut n = leaves.len() as u64;
        let current = self.count_matches(n);
        for t in leaves {
            n -= 1;
            if self.count_matches(n) != current {
                return Some(t);
            }
        }
        None
    }
}

impl Filter {
    /// Whether the contact belongs to the segment at `now`. Pure: `now` is the only clock.
    pub fn matches(&self, c: &ContactSnapshot, now: Millis) -> bool {
        match self {
            Filter::All(fs) => fs.iter().all(|f| f.matches(c, now)),
            Filter::Any(fs) => fs.iter().any(|f| f.matches(c, now)),
            Filter::Not(f) => !f.matches(c, now),
            Filter::Condition(cond) => cond.matches(c, now),
        }
    }

    /// The earliest instant after `now` at which the answer of [`Filter::matches`] can change with
    /// no new data — an event leaving a rolling window. `None`: only a change to the contact can
    /// change it. At that instant the caller re-evaluates (the answer may turn out unchanged, for
    /// instance under an `any` another branch still holds) and asks again.
    pub fn next_change_at(&self, c: &ContactSnapshot, now: Millis) -> Option<Millis> {
        match self {
            Filter::All(fs) | Filter::Any(fs) => {
                fs.iter().filter_map(|f| f.next_change_at(c, now)).min()
            }
            Filter::Not(f) => f.next_change_at(c, now),
            Filter::Condition(Condition::Event(e)) => e.next_change_at(c, now),
            Filter::Condition(Condition::Score {
                kind: ScoreKind::Engagement,
                test: Test::Lt(x) | Test::Lte(x) | Test::Gt(x) | Test::Gte(x),
            }) => c.scores.engagement_crosses(*x, now),
            Filter::Condition(_) => None,
        }
    }
}

impl Condition {
    fn matches(&self, c: &ContactSnapshot, now: Millis) -> bool {
        match self {
            Condition::Field { field, test } => {
                test.holds(Subject::Text(c.fields.get(field).map(String::as_str)))
            }
            Condition::Trait { key, test } => test.holds(Subject::json(c.traits.get(key))),
            Condition::Account { field, test } => test.holds(Subject::Text(
                c.account
                    .as_ref()
                    .and_then(|a| a.fields.get(field))
                    .map(String::as_str),
            )),
            Condition::AccountTrait { key, test } => test.holds(Subject::json(
                c.account.as_ref().and_then(|a| a.traits.get(key)),
            )),
            Condition::Tag { name } => c.tags.contains(name),
            Condition::Identity { kind, app } => c.identities.iter().any(|i| {
                i.kind == *kind
                    && app.as_deref().is_none_or(|a| {
                        i.value
                            .strip_prefix(a)
                            .is_some_and(|rest| rest.starts_with(':'))
                    })
            }),
            Condition::Event(e) => e.count_matches(e.counted(c, now).count() as u64),
            Condition::Score {
                kind: ScoreKind::Fit,
                test,
            } => test.holds(Subject::Json(Some(&Value::from(c.scores.fit)))),
            Condition::Score {
                kind: ScoreKind::Engagement,
                test,
            } => c.scores.engagement_holds(test, now),
            Condition::InSegment(id) => c.segments.contains(id),
            Condition::Stage(keys) => c.stage.as_ref().is_some_and(|s| keys.contains(s)),
            Condition::Tier { dimension, tiers } => {
                c.tiers.get(dimension).is_some_and(|t| tiers.contains(t))
            }
            Condition::Consent { purpose, channel } => {
                c.consents.iter().any(|((p, ch), granted)| {
                    *granted && p == purpose && channel.as_ref().is_none_or(|want| want == ch)
                })
            }
            Condition::Referrals { at_least, at_most } => {
                c.referrals >= *at_least && at_most.is_none_or(|m| c.referrals <= m)
            }
        }
    }
}
