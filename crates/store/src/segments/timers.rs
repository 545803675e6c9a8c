//! The first timers of a freshly materialised segment: for every contact whose answer can change
//! with time alone, the instant it first can — computed by a query per time-dependent condition,
//! not by evaluating each contact. A timer is never late (the evaluation it triggers sets the
//! exact next one); a contact whose answer cannot change with time gets none.
//!
//! Time-dependent conditions are rolling windows ("≥ 3 times in the last 7 days": the count
//! drops when the k-th newest counted event leaves the window) and engagement-score comparisons
//! (a decaying score crosses the value).

use std::collections::HashMap;

use hatchery_domain::scoring::{ScoreKind, ScoreSnapshot};
use hatchery_domain::segment::{Condition, EventCondition, Filter, Test, Window, DAY_MS};
use hatchery_domain::OrgId;

use super::sql::SqlFilter;
use crate::backend::{bind_args, with_pool, Arg};
use crate::error::Result;
use crate::{Millis, Store};

impl Store {
    /// `contact id → the earliest instant after now at which its answer to `f` can change with no
    /// new data`, for the contacts that have one.
    pub async fn first_timers(
        &self,
        org: OrgId,
        f: &Filter,
        now: Millis,
    ) -> Result<HashMap<i64, Millis>> {
        let mut windows = Vec::new();
        let mut engagement = Vec::new();
        collect(f, &mut windows, &mut engagement);
        let mut out: HashMap<i64, Millis> = HashMap::new();
        let mut earliest = |contact: i64, at: Millis| {
            out.entry(contact)
                .and_modify(|t| *t = (*t).min(at))
                .or_insert(at);
        };
        for e in windows {
            for (contact, at) in self.window_timers(org, e, now).await? {
                earliest(contact, at);
            }
        }
        if !engagement.is_empty() {
            let rows: Vec<(i64, i32, f64, Option<i64>)> = with_pool!(self, c => sqlx::query_as(
                "SELECT contact_id, engagement_sign, engagement_log, half_life_ms FROM contact_scores \
                 WHERE org_id = $1 AND engagement_sign <> 0 AND half_life_ms IS NOT NULL",
            )
            .bind(org.0)
            .fetch_all(c)
            .await?);
            for (contact, sign, log, half_life_ms) in rows {
                let s = ScoreSnapshot {
                    fit: 0.0,
                    engagement_sign: sign.signum() as i8,
                    engagement_log: log,
                    half_life_ms,
                };
                if let Some(at) = engagement
                    .iter()
                    .filter_map(|x| s.engagement_crosses(*x, now))
                    .min()
                {
                    earliest(contact, at);
                }
            }
        }
        Ok(out)
    }

    /// When the answer of one rolling-window condition first changes for each contact with
    /// counted events: as in the in-process evaluation, a counted event leaves the window at
    /// `occurred_at + window + 1 ms`; with `n` events counted the answer flips when the
    /// `(at_most + 1)`-th newest leaves (if `n > at_most`), else when the `at_least`-th newest
    /// leaves (if `n ≥ at_least`), else never (the count only falls).
    async fn window_timers(
        &self,
        org: OrgId,
        e: &EventCondition,
        now: Millis,
    ) -> Result<Vec<(i64, Millis)>> {
        let Window::WithinDays(d) = e.window else {
            return Ok(Vec::new());
        };
        let span = Millis::from(d) * DAY_MS;
        let above = e.at_most.map(|m| i64::from(m) + 1);
        let reach = (e.at_least >= 1).then_some(i64::from(e.at_least));
        let ranks: Vec<i64> = above.into_iter().chain(reach).collect();
        if ranks.is_empty() {
            return Ok(Vec::new());
        }
        let mut b = SqlFilter::new(self.dialect(), now, vec![Arg::Int(org.0)]);
        let pred = b.event_predicate(e);
        let args = b.args;
        let rows: Vec<(i64, i64, i64)> = if ranks == [1] {
            // The newest counted event: one index range per contact, no window function.
            let sql = format!(
                "SELECT e.contact_id, MAX(e.occurred_at), CAST(1 AS BIGINT) FROM events e \
                 WHERE e.org_id = $1 AND {pred} GROUP BY e.contact_id"
            );
            with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?)
        } else {
            let list: Vec<String> = ranks.iter().map(i64::to_string).collect();
            let sql = format!(
                "SELECT contact_id, occurred_at, rn FROM (SELECT e.contact_id, e.occurred_at, \
                 ROW_NUMBER() OVER (PARTITION BY e.contact_id ORDER BY e.occurred_at DESC) AS rn \
                 FROM events e WHERE e.org_id = $1 AND {pred}) r WHERE rn IN ({})",
                list.join(", ")
            );
            with_pool!(self, c => bind_args!(sqlx::query_as(&sql), &args).fetch_all(c).await?)
        };
        // Per contact: the event at rank `above` if there is one (the count exceeds at_most),
        // else the one at rank `reach`.
        let mut by_contact: HashMap<i64, (Option<Millis>, Option<Millis>)> = HashMap::new();
        for (contact, at, rank) in rows {
            let slot = by_contact.entry(contact).or_default();
            if Some(rank) == above {
                slot.0 = Some(at);
            }
            if Some(rank) == reach {
                slot.1 = Some(at);
            }
        }
        Ok(by_contact
            .into_iter()
            .filter_map(|(contact, (over, at_least))| {
                over.or(at_least).map(|t| (contact, t + span + 1))
            })
            .collect())
    }
}

/// The rolling-window event conditions and the engagement values compared, anywhere in `f`
/// (under `not` too: negation flips an answer, it does not stop it changing).
fn collect<'f>(f: &'f Filter, windows: &mut Vec<&'f EventCondition>, engagement: &mut Vec<f64>) {
    match f {
        Filter::All(fs) | Filter::Any(fs) => {
            fs.iter().for_each(|f| collect(f, windows, engagement));
        }
        Filter::Not(f) => collect(f, windows, engagement),
        Filter::Condition(Condition::Event(e)) => {
            if matches!(e.window, Window::WithinDays(_)) {
                windows.push(e);
            }
        }
        Filter::Condition(Condition::Score {
            kind: ScoreKind::Engagement,
            test: Test::Lt(x) | Test::Lte(x) | Test::Gt(x) | Test::Gte(x),
        }) => engagement.push(*x),
        Filter::Condition(_) => {}
    }
}
