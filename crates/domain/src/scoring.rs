//! Lead scoring: a *fit* score from who the contact is (profile, account, tags, identities) and an
//! *engagement* score from what they did (events), with per-rule caps, time decay and the reasons
//! behind every number.
//!
//! Decay never rewrites stored scores. All engagement points decay with the same half-life, so
//! the sum decays as one: a score `v` computed at `s` is worth `v · 2^(−(t − s)/h)` at `t`. It is
//! stored once, as a sign and `log2 |v| + s/h` ([`ScoreSnapshot`]), and every comparison — in
//! process and in SQL — is `log − t/h` against `log2 |x|`: no row changes as days pass, and the
//! instant a decaying score crosses a threshold is known in advance, so a timer, not a rescan,
//! notices it.

mod parse;

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::segment::{ContactSnapshot, EventCondition, Filter, Millis, Test, DAY_MS};

pub use parse::ModelError;

/// Limits a scoring model must respect.
pub mod limits {
    /// Rules of each kind.
    pub const MAX_RULES: usize = 50;
    /// Thresholds that emit `score.crossed`.
    pub const MAX_THRESHOLDS: usize = 20;
    /// Largest absolute number of points of a rule or cap.
    pub const MAX_POINTS: f64 = 1_000.0;
    /// Longest half-life and cap period, in days.
    pub const MAX_DAYS: u32 = 3_650;
    /// Characters of a rule name.
    pub const MAX_NAME_CHARS: usize = 100;
}

/// Which score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    Fit,
    Engagement,
}

impl ScoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Fit => "fit",
            ScoreKind::Engagement => "engagement",
        }
    }

    pub fn parse(s: &str) -> Option<ScoreKind> {
        match s {
            "fit" => Some(ScoreKind::Fit),
            "engagement" => Some(ScoreKind::Engagement),
            _ => None,
        }
    }
}

/// An organisation's scoring model.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringModel {
    pub fit: Vec<FitRule>,
    pub engagement: Vec<EngagementRule>,
    /// Engagement half-life in days; `None`: points never fade.
    pub half_life_days: Option<u32>,
    /// Crossing one (up or down) is a `score.crossed` event.
    pub thresholds: Vec<Threshold>,
    /// Lowest fit of grades A, B and C (descending); below C is D.
    pub grades: [f64; 3],
}

/// "Contacts matching `when` get `points` of fit."
#[derive(Debug, Clone, PartialEq)]
pub struct FitRule {
    pub name: String,
    /// A filter over profile, account, tags and identities (no behaviour, no scores).
    pub when: Filter,
    pub points: f64,
}

/// "Each matching event is worth `points` of engagement, at most `cap` per period."
#[derive(Debug, Clone, PartialEq)]
pub struct EngagementRule {
    pub name: String,
    /// Which events count: kind, name and property tests (its count and window are unused).
    pub event: EventCondition,
    pub points: f64,
    pub cap: Option<Cap>,
}

/// At most `points` (in absolute value) from one rule per period of `per_days` UTC days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cap {
    pub points: f64,
    pub per_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub score: ScoreKind,
    pub value: f64,
}

/// A letter derived from fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Grade {
    A,
    B,
    C,
    D,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
        }
    }

    pub fn parse(s: &str) -> Option<Grade> {
        match s {
            "A" => Some(Grade::A),
            "B" => Some(Grade::B),
            "C" => Some(Grade::C),
            "D" => Some(Grade::D),
            _ => None,
        }
    }
}

/// Why a score is what it is: one line per rule that contributed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Reason {
    pub score: ScoreKind,
    pub rule: String,
    /// Points this rule contributes now (engagement: after caps and decay), rounded to 0.1.
    pub points: f64,
    /// Events that counted (engagement rules).
    pub events: u32,
}

/// A contact scored at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub fit: f64,
    /// Engagement at `at`.
    pub engagement: f64,
    pub at: Millis,
    pub grade: Grade,
    pub reasons: Vec<Reason>,
}

impl<'de> serde::Deserialize<'de> for ScoreKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScoreKind::parse(&s).ok_or_else(|| serde::de::Error::custom("fit or engagement"))
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl ScoringModel {
    pub fn half_life_ms(&self) -> Option<i64> {
        self.half_life_days.map(|d| i64::from(d) * DAY_MS)
    }

    /// The earliest event a score at `now` reads: with decay, points older than 20 half-lives
    /// are worth less than a millionth and are left out; without, every event counts.
    pub fn events_needed_since(&self, now: Millis) -> Option<Millis> {
        if self.engagement.is_empty() {
            return None;
        }
        Some(self.half_life_ms().map_or(Millis::MIN, |h| now - 20 * h))
    }

    /// Whether the fit rules read tags, identities or the account (so a loader must fetch them).
    pub fn fit_filters(&self) -> impl Iterator<Item = &Filter> {
        self.fit.iter().map(|r| &r.when)
    }

    pub fn grade(&self, fit: f64) -> Grade {
        if fit >= self.grades[0] {
            Grade::A
        } else if fit >= self.grades[1] {
            Grade::B
        } else if fit >= self.grades[2] {
            Grade::C
        } else {
            Grade::D
        }
    }

    /// Scores a contact at `now`. Pure.
    pub fn score(&self, c: &ContactSnapshot, now: Millis) -> Scored {
        let mut reasons = Vec::new();
        let mut fit = 0.0;
        for r in &self.fit {
            if r.when.matches(c, now) {
                fit += r.points;
                reasons.push(Reason {
                    score: ScoreKind::Fit,
                    rule: r.name.clone(),
                    points: round1(r.points),
                    events: 0,
                });
            }
        }
        let h = self.half_life_ms();
        let horizon = self.events_needed_since(now).unwrap_or(Millis::MAX);
        let mut engagement = 0.0;
        for r in &self.engagement {
            let mut times: Vec<Millis> = c
                .events
                .iter()
                .filter(|e| e.occurred_at >= horizon && r.event.event_matches(e))
                .map(|e| e.occurred_at)
                .collect();
            times.sort_unstable();
            let mut total = 0.0;
            let mut counted = 0;
            let mut period = None;
            let mut in_period = 0.0f64;
            for t in times {
                let awarded = match r.cap {
                    None => r.points,
                    Some(cap) => {
                        let p = t.div_euclid(Millis::from(cap.per_days) * DAY_MS);
                        if period != Some(p) {
                            period = Some(p);
                            in_period = 0.0;
                        }
                        let room = (cap.points - in_period).max(0.0);
                        let a = r.points.abs().min(room);
                        in_period += a;
                        a * r.points.signum()
                    }
                };
                if awarded == 0.0 {
                    continue;
                }
                counted += 1;
                let age = (now - t).max(0) as f64;
                total += h.map_or(awarded, |h| awarded * (-age / h as f64).exp2());
            }
            if counted > 0 {
                engagement += total;
                reasons.push(Reason {
                    score: ScoreKind::Engagement,
                    rule: r.name.clone(),
                    points: round1(total),
                    events: counted,
                });
            }
        }
        Scored {
            fit,
            engagement,
            at: now,
            grade: self.grade(fit),
            reasons,
        }
    }
}

/// A contact's stored scores in the form both compilations of the segment language compare (see
/// the module documentation). The default is a contact never scored: both scores 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreSnapshot {
    pub fit: f64,
    /// −1, 0 or 1.
    pub engagement_sign: i8,
    /// `log2 |engagement at s| + s / half-life` (without decay: `log2 |engagement|`); 0 when the
    /// sign is 0.
    pub engagement_log: f64,
    pub half_life_ms: Option<i64>,
}

impl ScoreSnapshot {
    /// The stored form of `scored`, made with half-life `half_life_ms`.
    pub fn of(scored: &Scored, half_life_ms: Option<i64>) -> ScoreSnapshot {
        let v = scored.engagement;
        let sign: i8 = if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        };
        let log = if sign == 0 {
            0.0
        } else {
            v.abs().log2() + half_life_ms.map_or(0.0, |h| scored.at as f64 / h as f64)
        };
        ScoreSnapshot {
            fit: scored.fit,
            engagement_sign: sign,
            engagement_log: log,
            half_life_ms,
        }
    }

    /// `t / half-life`, the part of a comparison that moves with time.
    pub fn decay_term(half_life_ms: Option<i64>, now: Millis) -> f64 {
        half_life_ms.map_or(0.0, |h| now as f64 / h as f64)
    }

    /// Engagement at `now`.
    pub fn engagement_at(&self, now: Millis) -> f64 {
        if self.engagement_sign == 0 {
            return 0.0;
        }
        f64::from(self.engagement_sign)
            * (self.engagement_log - Self::decay_term(self.half_life_ms, now)).exp2()
    }

    /// Whether a numeric test (`lt`, `lte`, `gt`, `gte`) holds for engagement at `now` — the
    /// exact comparison the SQL compilation makes.
    pub fn engagement_holds(&self, test: &Test, now: Millis) -> bool {
        let rel = self.engagement_log - Self::decay_term(self.half_life_ms, now);
        let s = self.engagement_sign;
        // "≥ x" (or "> x" when strict) for the decayed value.
        let at_least = |x: f64, strict: bool| -> bool {
            if x > 0.0 {
                s == 1
                    && if strict {
                        rel > x.log2()
                    } else {
                        rel >= x.log2()
                    }
            } else if x == 0.0 {
                if strict {
                    s == 1
                } else {
                    s >= 0
                }
            } else {
                s >= 0
                    || (s == -1
                        && if strict {
                            rel < (-x).log2()
                        } else {
                            rel <= (-x).log2()
                        })
            }
        };
        match test {
            Test::Gte(x) => at_least(*x, false),
            Test::Gt(x) => at_least(*x, true),
            Test::Lt(x) => !at_least(*x, false),
            Test::Lte(x) => !at_least(*x, true),
            _ => false,
        }
    }

    /// The first instant after `now` at which decay alone can change the answer of a test against
    /// `x`, if any: the first millisecond at which `log − t/h ≤ log2 |x|` — computed with the very
    /// comparison [`ScoreSnapshot::engagement_holds`] makes, so a timer set for it is never late
    /// (for `gte` the answer flips then or one instant later; the re-evaluation sets the next).
    pub fn engagement_crosses(&self, x: f64, now: Millis) -> Option<Millis> {
        let h = self.half_life_ms?;
        if x == 0.0 || self.engagement_sign == 0 || (x > 0.0) != (self.engagement_sign > 0) {
            return None;
        }
        let l = x.abs().log2();
        let crossed = |t: Millis| self.engagement_log - Self::decay_term(Some(h), t) <= l;
        if crossed(now) {
            // Exactly on the threshold, a `gte` still holds: it flips at the next instant.
            let on = self.engagement_log - Self::decay_term(Some(h), now) == l;
            return on.then_some(now + 1);
        }
        let estimate = h as f64 * (self.engagement_log - l);
        if !estimate.is_finite() || estimate >= (i64::MAX - 4) as f64 {
            return None;
        }
        // The estimate is within a few milliseconds; settle it with the exact comparison.
        let mut t = (estimate.floor() as Millis).max(now + 1);
        while t > now + 1 && crossed(t - 1) {
            t -= 1;
        }
        while !crossed(t) {
            t += 1;
        }
        Some(t)
    }
}
