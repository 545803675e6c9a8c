//! Query plans of the statements on hot paths, on SQLite. Its planner has no statistics to go
//! by, and a statement that means "these few keys" can be planned as a walk over the
//! organisation's whole part of a table — unnoticed on a small pool, hundreds of milliseconds a
//! call at a million contacts. Each statement here must seek its rows by key: no step of its plan
//! may `SCAN` a table or search it by the organisation alone.

use hatchery_domain::{ContactId, OrgId};

use crate::backend::{bind_args, Arg, Backend};
use crate::segments::membership::{ids_args, memberships_sql, SnapshotSql};
use crate::{Store, StoreOptions};

/// The plan steps of `sql` with `args` that walk rather than seek.
async fn walks(pool: &sqlx::SqlitePool, sql: &str, args: &[Arg]) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let plan: Vec<(i64, i64, i64, String)> = bind_args!(sqlx::query_as(&explain), args)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("cannot plan {sql}: {e}"));
    assert!(!plan.is_empty(), "no plan for {sql}");
    plan.into_iter()
        .map(|(_, _, _, step)| step)
        .filter(|s| {
            // Scanning the list of keys itself (or one constant) is what seeking them starts from.
            let keys = s.ends_with("VALUES CLAUSE") || s == "SCAN CONSTANT ROW";
            (s.starts_with("SCAN") && !keys) || s.ends_with("(org_id=?)")
        })
        .collect()
}

/// `VALUES (?, ?), …` with `n` pairs, as `QueryBuilder::push_values` writes it for SQLite.
fn pairs(n: usize) -> String {
    format!("VALUES {}", vec!["(?, ?)"; n].join(", "))
}

#[tokio::test]
async fn statements_on_hot_paths_seek_their_rows_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let Backend::Sqlite(pool) = store.backend() else {
        unreachable!("a sqlite: URL opens SQLite")
    };
    let ids: Vec<ContactId> = (1..=300).map(ContactId).collect();
    let batch = ids_args(OrgId(1), &ids);
    let one = [Arg::Int(1), Arg::Int(7)];
    let snapshot = SnapshotSql::new(ids.len());
    let mut statements: Vec<(String, Vec<Arg>)> = snapshot
        .all()
        .into_iter()
        .map(|q| {
            let mut a = batch.clone();
            if q == snapshot.events {
                a.push(Arg::Int(0));
            }
            (q.to_owned(), a)
        })
        .collect();
    statements.push((memberships_sql(ids.len()), batch.clone()));
    // Ending an evaluation batch's jobs; its contacts leaving segments.
    let pair_args: Vec<Arg> = (0..600).map(Arg::Int).collect();
    statements.push((
        format!("DELETE FROM jobs WHERE (id, touched) IN ({})", pairs(300)),
        pair_args.clone(),
    ));
    let mut member_args = vec![Arg::Int(1)];
    member_args.extend(pair_args);
    statements.push((
        format!(
            "DELETE FROM segment_members WHERE org_id = ? AND (segment_id, contact_id) IN ({}) \
             RETURNING segment_id, contact_id",
            pairs(300)
        ),
        member_args,
    ));
    // A contact's page; erasing a contact.
    for q in [
        crate::contacts::CONTACT_MERGES_SQL,
        crate::tags::CONTACT_TAGS_SQL,
    ]
    .into_iter()
    .chain(crate::contacts::ERASE_CONTACT_SQL)
    {
        statements.push((q.to_owned(), one.to_vec()));
    }
    // An account's timeline.
    statements.push((
        crate::events::account_timeline_sql("", 51),
        vec![
            Arg::Int(1),
            Arg::Int(2),
            Arg::Int(i64::MAX),
            Arg::Int(i64::MAX),
        ],
    ));
    for (sql, args) in &statements {
        let bad = walks(pool, sql, args).await;
        assert!(
            bad.is_empty(),
            "{bad:?} in the plan of {}…",
            &sql[..sql.len().min(160)]
        );
    }
    store.close().await;
}
