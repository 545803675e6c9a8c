//! The segment filter language: one language for every "which contacts" question — saved segments,
//! journey branches, ad-hoc counts.
//!
//! A [`Filter`] is a tree of `all` / `any` / `not` over [`Condition`]s on a contact's standard fields,
//! custom fields (traits), tags, identities, account and behaviour (events in a time window). It is
//! written as JSON (see `docs/segments.md`), read with [`Filter::parse`] — which checks every limit
//! and names the offending part by its path, e.g. `all[2].any[0].field` — and written back with
//! [`Filter::to_json`].
//!
//! The same filter is compiled two ways that must agree: [`Filter::matches`] evaluates one contact in
//! process (for incremental re-evaluation when that contact changes), and the store compiles it to
//! SQL (for counts, first materialisation and ad-hoc queries). A property test in the store checks
//! the two agree on both databases.
//!
//! Semantics, shared by both compilations:
//! - string comparisons are exact and case-sensitive (values are stored normalised: emails
//!   lower-cased, mobiles in E.164, cities without 市);
//! - a missing value (SQL `NULL`, an absent or JSON `null` trait) fails every test except
//!   `not_exists` and `ne`: `ne` and `not_exists` are the negations of `eq` and `exists`;
//! - JSON values are typed: the string `"100"` is not the number `100`; `lt`/`lte`/`gt`/`gte` compare
//!   numbers only.

mod eval;
pub mod membership;
mod parse;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::ids::SegmentId;
use crate::scoring::ScoreKind;
use crate::{IdentityKind, StandardField};

pub use eval::{AccountSnapshot, ContactSnapshot, EventRecord};
pub use parse::FilterError;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// One day in milliseconds: the unit of rolling windows.
pub const DAY_MS: Millis = 86_400_000;

/// Limits a filter must respect; [`Filter::parse`] refuses anything beyond them.
pub mod limits {
    /// Nesting of `all` / `any` / `not` (a lone condition has depth 1).
    pub const MAX_DEPTH: usize = 8;
    /// Conditions (leaves) in the whole filter, counting each event `where` test.
    pub const MAX_CONDITIONS: usize = 100;
    /// Characters of a compared string value, a tag name, an event name.
    pub const MAX_STRING_CHARS: usize = 200;
    /// Characters of a trait or property key (`A-Z a-z 0-9 _ -`).
    pub const MAX_KEY_CHARS: usize = 64;
    /// Values of one `in` list.
    pub const MAX_IN_VALUES: usize = 100;
    /// Property tests of one event condition.
    pub const MAX_WHERE: usize = 10;
    /// Largest `at_least` / `at_most` of an event condition.
    pub const MAX_COUNT: u32 = 10_000;
    /// Longest rolling window, in days (ten years).
    pub const MAX_WITHIN_DAYS: u32 = 3_650;
}

/// A segment filter. `All`/`Any` are never empty (parsing refuses it), so their meaning is never a
/// matter of convention.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Condition(Condition),
}

/// One test on one contact.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A standard profile column (`name`, `city`, `source` …). Text only.
    Field { field: StandardField, test: Test },
    /// A custom field in the contact's JSON traits.
    Trait { key: String, test: Test },
    /// A column of the contact's account. A contact without an account has every account value
    /// missing.
    Account { field: AccountField, test: Test },
    /// A custom field in the account's JSON traits.
    AccountTrait { key: String, test: Test },
    /// The contact carries the tag with this name.
    Tag { name: String },
    /// The contact holds an identifier of this kind; for WeChat openIDs optionally of one app
    /// (official account or mini program), whose id prefixes the stored value (`wx123:oAbc…`).
    Identity {
        kind: IdentityKind,
        app: Option<String>,
    },
    /// Behaviour: how many matching events the contact has in a window.
    Event(EventCondition),
    /// A score compared with a number (`lt`, `lte`, `gt`, `gte` only). Engagement is compared
    /// at evaluation time, decay included; a contact never scored has 0.
    Score { kind: ScoreKind, test: Test },
    /// The contact is a member of another saved segment now (its stored membership, not a
    /// recomputation of that segment's filter).
    InSegment(SegmentId),
    /// The contact's lifecycle stage is one of these keys (`crate::lifecycle`). A contact with no
    /// stage matches none.
    Stage(Vec<String>),
    /// The contact's tier in a dimension of the tier model (`crate::tiers`) is one of these keys.
    Tier {
        dimension: String,
        tiers: Vec<String>,
    },
    /// How many contacts this contact referred (contacts whose `referred_by` names it) is within
    /// the bounds.
    Referrals { at_least: u32, at_most: Option<u32> },
    /// The contact's latest answer for this purpose (on this channel, or on any channel when
    /// `None`) is a grant.
    Consent {
        purpose: String,
        channel: Option<String>,
    },
}

/// The standard columns of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountField {
    Name,
    Domain,
    Industry,
    CompanySize,
    Province,
    City,
}

impl AccountField {
    pub const ALL: [AccountField; 6] = [
        AccountField::Name,
        AccountField::Domain,
        AccountField::Industry,
        AccountField::CompanySize,
        AccountField::Province,
        AccountField::City,
    ];

    /// The JSON name, which is also the column name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountField::Name => "name",
            AccountField::Domain => "domain",
            AccountField::Industry => "industry",
            AccountField::CompanySize => "company_size",
            AccountField::Province => "province",
            AccountField::City => "city",
        }
    }

    pub fn parse(s: &str) -> Option<AccountField> {
        AccountField::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A comparison applied to one value. On standard and account columns (text) only the text forms
/// are allowed; parsing enforces it.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Exists,
    NotExists,
    Eq(Scalar),
    /// `not eq`: true when the value is missing or differs.
    Ne(Scalar),
    /// Equal to one of the values.
    In(Vec<Scalar>),
    Contains(String),
    StartsWith(String),
    Lt(f64),
    Lte(f64),
    Gt(f64),
    Gte(f64),
}

impl Test {
    /// The operator's JSON name.
    pub fn op(&self) -> &'static str {
        match self {
            Test::Exists => "exists",
            Test::NotExists => "not_exists",
            Test::Eq(_) => "eq",
            Test::Ne(_) => "ne",
            Test::In(_) => "in",
            Test::Contains(_) => "contains",
            Test::StartsWith(_) => "starts_with",
            Test::Lt(_) => "lt",
            Test::Lte(_) => "lte",
            Test::Gt(_) => "gt",
            Test::Gte(_) => "gte",
        }
    }
}

/// A value a test compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// "Did E (with these properties) between `at_least` and `at_most` times in the window."
/// "Did not do E since date" is `at_most: 0` with `since`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCondition {
    /// `track`, `page`, `identify` …; `None` = any kind.
    pub kind: Option<String>,
    /// The event name (`Pricing Viewed`, a page name); `None` = any name. At least one of `kind`
    /// and `name` is set.
    pub name: Option<String>,
    /// Tests on the event's properties; all must hold.
    pub properties: Vec<(String, Test)>,
    pub at_least: u32,
    pub at_most: Option<u32>,
    pub window: Window,
}

/// Which events an event condition counts, by `occurred_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every event.
    AllTime,
    /// Events at or after `now - days`: a rolling window, so the result changes with time alone.
    WithinDays(u32),
    /// Events at or after a fixed instant.
    Since(Millis),
}

impl Window {
    /// The earliest `occurred_at` counted at `now`, if any bound applies.
    pub fn start(self, now: Millis) -> Option<Millis> {
        match self {
            Window::AllTime => None,
            Window::WithinDays(d) => Some(now - Millis::from(d) * DAY_MS),
            Window::Since(t) => Some(t),
        }
    }
}

impl EventCondition {
    /// Whether a count of matching events satisfies the condition.
    pub fn count_matches(&self, n: u64) -> bool {
        n >= u64::from(self.at_least) && self.at_most.is_none_or(|m| n <= u64::from(m))
    }
}

/// What a filter reads, so an evaluator knows which changes to a contact can change its
/// membership: a tag change cannot affect a segment with no tag condition; an event of a kind no
/// condition names cannot either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    pub fields: BTreeSet<StandardField>,
    pub traits: BTreeSet<String>,
    pub account_fields: BTreeSet<AccountField>,
    pub account_traits: BTreeSet<String>,
    pub tags: BTreeSet<String>,
    pub identity_kinds: BTreeSet<IdentityKind>,
    /// Scores compared.
    pub scores: BTreeSet<ScoreKind>,
    /// Other segments whose membership is read.
    pub segments: BTreeSet<SegmentId>,
    /// Lifecycle stage keys compared.
    pub stages: BTreeSet<String>,
    /// Tier dimensions read.
    pub tiers: BTreeSet<String>,
    /// The referral count is read.
    pub referrals: bool,
    /// Consent is read.
    pub consent: bool,
    /// `(kind, name)` of each event condition; `None` is a wildcard.
    pub events: BTreeSet<(Option<String>, Option<String>)>,
    /// The longest rolling window in days, if any: the events a snapshot must hold reach back this
    /// far, and the filter's result can change with time alone.
    pub longest_window_days: Option<u32>,
    /// The earliest fixed `since` instant, if any.
    pub earliest_since: Option<Millis>,
    /// Some event condition counts every event ever.
    pub all_time_events: bool,
}

impl Dependencies {
    /// Whether an event of this kind and name could change the filter's result.
    pub fn event_matters(&self, kind: &str, name: Option<&str>) -> bool {
        self.events.iter().any(|(k, n)| {
            k.as_deref().is_none_or(|k| k == kind) && n.as_deref().is_none_or(|n| Some(n) == name)
        })
    }

    /// The earliest `occurred_at` of the events a [`ContactSnapshot`] must hold for the filter to be
    /// evaluated at `now`: `None` when no event is needed, `Some(i64::MIN)` when all are.
    pub fn events_needed_since(&self, now: Millis) -> Option<Millis> {
        if self.events.is_empty() {
            return None;
        }
        if self.all_time_events {
            return Some(Millis::MIN);
        }
        let rolling = self
            .longest_window_days
            .map(|d| now - Millis::from(d) * DAY_MS);
        match (rolling, self.earliest_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Filter {
    /// Everything the filter reads.
    pub fn dependencies(&self) -> Dependencies {
        let mut d = Dependencies::default();
        self.collect(&mut d);
        d
    }

    fn collect(&self, d: &mut Dependencies) {
        match self {
            Filter::All(fs) | Filter::Any(fs) => fs.iter().for_each(|f| f.collect(d)),
            Filter::Not(f) => f.collect(d),
            Filter::Condition(c) => match c {
                Condition::Field { field, .. } => {
                    d.fields.insert(*field);
                }
                Condition::Trait { key, .. } => {
                    d.traits.insert(key.clone());
                }
                Condition::Account { field, .. } => {
                    d.account_fields.insert(*field);
                }
                Condition::AccountTrait { key, .. } => {
                    d.account_traits.insert(key.clone());
                }
                Condition::Tag { name } => {
                    d.tags.insert(name.clone());
                }
                Condition::Identity { kind, .. } => {
                    d.identity_kinds.insert(*kind);
                }
                Condition::Score { kind, .. } => {
                    d.scores.insert(*kind);
                }
                Condition::InSegment(id) => {
                    d.segments.insert(*id);
                }
                Condition::Stage(keys) => {
                    d.stages.extend(keys.iter().cloned());
                }
                Condition::Tier { dimension, .. } => {
                    d.tiers.insert(dimension.clone());
                }
                Condition::Referrals { .. } => d.referrals = true,
                Condition::Consent { .. } => d.consent = true,
                Condition::Event(e) => {
                    d.events.insert((e.kind.clone(), e.name.clone()));
                    match e.window {
                        Window::AllTime => d.all_time_events = true,
                        Window::WithinDays(n) => {
                            d.longest_window_days =
                                Some(d.longest_window_days.map_or(n, |m| m.max(n)));
                        }
                        Window::Since(t) => {
                            d.earliest_since = Some(d.earliest_since.map_or(t, |m| m.min(t)));
                        }
                    }
                }
            },
        }
    }

    /// Leaf conditions in the filter (each event property test counts as one more).
    pub fn condition_count(&self) -> usize {
        match self {
            Filter::All(fs) | Filter::Any(fs) => fs.iter().map(Filter::condition_count).sum(),
            Filter::Not(f) => f.condition_count(),
            Filter::Condition(Condition::Event(e)) => 1 + e.properties.len(),
            Filter::Condition(_) => 1,
        }
    }

    /// Nesting depth; a lone condition has depth 1.
    pub fn depth(&self) -> usize {
        match self {
            Filter::All(fs) | Filter::Any(fs) => {
                1 + fs.iter().map(Filter::depth).max().unwrap_or(0)
            }
            Filter::Not(f) => 1 + f.depth(),
            Filter::Condition(_) => 1,
        }
    }
}
