//! Daily counts behind the console's home page (migration 0010): contacts created per UTC day and
//! first-touch source, events received per UTC day. Every ingest transaction adds to them, so a
//! chart reads a few dozen rows however large the pool.

use std::collections::BTreeMap;

use hatchery_domain::OrgId;
use serde::Serialize;

use crate::backend::{with_pool, with_tx, Tx};
use crate::error::Result;
use crate::ingest::IngestWrite;
use crate::{Millis, Store};

const DAY_MS: Millis = 86_400_000;

/// One UTC day of the pool's growth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyCount {
    /// Start of the day, ms since the epoch.
    pub day: Millis,
    pub contacts: i64,
    pub events: i64,
}

fn day_of(t: Millis) -> Millis {
    t.div_euclid(DAY_MS) * DAY_MS
}

/// Adds a batch's new contacts and stored events to the daily counts, inside its transaction.
pub(crate) async fn count_ingest_in(
    tx: &mut Tx,
    org: OrgId,
    w: &IngestWrite,
    events_inserted: u64,
    now: Millis,
) -> Result<()> {
    let mut rows: BTreeMap<(Millis, &'static str, &str), i64> = BTreeMap::new();
    for c in &w.contacts {
        *rows
            .entry((
                day_of(c.created_at),
                "contacts",
                c.source.as_deref().unwrap_or(""),
            ))
            .or_default() += 1;
    }
    if events_inserted > 0 {
        *rows.entry((day_of(now), "events", "")).or_default() += events_inserted as i64;
    }
    for ((day, kind, key), n) in rows {
        with_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO daily_counts (org_id, day, kind, key, n) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, kind, day, key) DO UPDATE SET n = daily_counts.n + excluded.n",
        )
        .bind(org.0)
        .bind(day)
        .bind(kind)
        .bind(key)
        .bind(n)
        .execute(&mut *c)
        .await?
        .rows_affected());
    }
    Ok(())
}

impl Store {
    /// New contacts and events per UTC day for the `days` days up to and including today (`now`'s
    /// day), oldest first; days without any are zeros.
    pub async fn daily_counts(
        &self,
        org: OrgId,
        days: u32,
        now: Millis,
    ) -> Result<Vec<DailyCount>> {
        let last = day_of(now);
        let first = last - Millis::from(days.max(1) - 1) * DAY_MS;
        let rows: Vec<(Millis, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT day, kind, CAST(SUM(n) AS BIGINT) FROM daily_counts WHERE org_id = $1 AND kind IN ('contacts', 'events') \
             AND day >= $2 AND day <= $3 GROUP BY day, kind",
        )
        .bind(org.0)
        .bind(first)
        .bind(last)
        .fetch_all(c)
        .await?);
        let mut out: Vec<DailyCount> = (0..Millis::from(days.max(1)))
            .map(|i| DailyCount {
                day: first + i * DAY_MS,
                contacts: 0,
                events: 0,
            })
            .collect();
        for (day, kind, n) in rows {
            let i = ((day - first) / DAY_MS) as usize;
            if let Some(d) = out.get_mut(i) {
                if kind == "contacts" {
                    d.contacts = n;
                } else {
                    d.events = n;
                }
            }
        }
        Ok(out)
    }

    /// The first-touch sources that brought the most new contacts since `since`, most first
    /// (`""` for contacts without a source).
    pub async fn top_sources(
        &self,
        org: OrgId,
        since: Millis,
        limit: u32,
    ) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(self, c => sqlx::query_as(
            "SELECT key, CAST(SUM(n) AS BIGINT) AS total FROM daily_counts WHERE org_id = $1 AND kind = 'contacts' AND day >= $2 \
             GROUP BY key ORDER BY total DESC, key LIMIT $3",
        )
        .bind(org.0)
        .bind(day_of(since))
        .bind(i64::from(limit))
        .fetch_all(c)
        .await?))
    }
}
