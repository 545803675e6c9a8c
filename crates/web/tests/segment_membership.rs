//! Segment membership kept current: a saved segment's members follow every change to a contact
//! (events, tags, edits, merges, erasure) and the passing of time (rolling windows), without a
//! rebuild; entering and leaving are events on the contact's timeline; sizes are kept per day.

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, TestApp, START};
use hatchery_engine::Clock;
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

async fn create_segment(app: &TestApp, name: &str, filter: Value) -> String {
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": name, "filter": filter}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "pending", "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    eventually("the segment is materialised", || async {
        app.get(&format!("/api/v1/segments/{id}")).await.1["status"] == "ready"
    })
    .await;
    id
}

async fn members(app: &TestApp, segment: &str) -> Vec<String> {
    let (s, v) = app
        .get(&format!("/api/v1/segments/{segment}/members"))
        .await;
    assert_eq!(s, 200, "{v}");
    let mut out: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["contact"]["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

async fn wait_members(app: &TestApp, segment: &str, want: &[&str]) {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = members(app, segment).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("members of {segment} stayed {last:?}, expected {want:?}");
}

/// `(kind, name)` of a contact's `segment.*` events, oldest first.
async fn membership_events(app: &TestApp, contact: &str) -> Vec<(String, String)> {
    let (s, v) = app
        .get(&format!("/api/v1/contacts/{contact}/events?limit=200"))
        .await;
    assert_eq!(s, 200, "{v}");
    let mut out: Vec<(String, String)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("segment."))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.reverse();
    out
}

async fn contact_id(app: &TestApp, user: &str) -> String {
    app.contact_by(&format!("user_id:{user}"))
        .await
        .expect("contact")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn pricing(user: &str, ms: i64) -> Value {
    json!({"type":"track","userId":user,"event":"Pricing Viewed","timestamp":at(ms)})
}

#[tokio::test]
async fn a_behavioural_segment_follows_new_events_and_the_passing_of_time() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","city":"深圳"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","city":"广州"}}),
        json!({"type":"identify","userId":"3","traits":{"name":"Anna Li"}}),
        pricing("1", START - DAY),
        pricing("1", START - 2 * DAY),
        pricing("1", START - 6 * DAY),
        pricing("2", START - 3 * DAY),
    ])
    .await;
    let (wei, fang) = (contact_id(&app, "1").await, contact_id(&app, "2").await);
    let hot = create_segment(
        &app,
        "Hot pricing",
        json!({"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}),
    )
    .await;
    // The first materialisation finds 王伟 (three visits this week) and writes no events.
    wait_members(&app, &hot, &["王伟"]).await;
    let (_, seg) = app.get(&format!("/api/v1/segments/{hot}")).await;
    assert_eq!(seg["member_count"], 1, "{seg}");
    assert!(membership_events(&app, &wei).await.is_empty());

    // Two more visits bring 王芳 in, with an event on her timeline and the segment on her page.
    app.batch(vec![
        pricing("2", START - 3_600_000),
        pricing("2", START - 60_000),
    ])
    .await;
    wait_members(&app, &hot, &["王伟", "王芳"]).await;
    assert_eq!(
        membership_events(&app, &fang).await,
        vec![("segment.entered".to_owned(), "Hot pricing".to_owned())]
    );
    let (_, detail) = app.get(&format!("/api/v1/contacts/{fang}")).await;
    assert_eq!(detail["segments"][0]["name"], "Hot pricing", "{detail}");
    assert_eq!(detail["segments"][0]["entered_at"], START, "{detail}");

    // Nothing happens before 王伟's third-newest visit (6 days old) leaves the 7-day window …
    app.clock.advance_ms(DAY - 60_000);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(members(&app, &hot).await, ["王伟", "王芳"]);
    // … and once it has, a timer takes him out: no event arrived, nothing was rebuilt.
    app.clock.advance_ms(120_000);
    wait_members(&app, &hot, &["王芳"]).await;
    assert_eq!(
        membership_events(&app, &wei).await,
        vec![("segment.exited".to_owned(), "Hot pricing".to_owned())]
    );
    let (_, seg) = app.get(&format!("/api/v1/segments/{hot}")).await;
    assert_eq!(seg["member_count"], 1, "{seg}");
    // The lag histogram saw the evaluations after ingest (no time passed on the test clock) and
    // the timer, which ran a minute after it fell due because the clock jumped past it.
    let text = app.metrics().await;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
    };
    let count = value("hatchery_evaluation_lag_seconds_count");
    assert_eq!(count, 2.0, "王芳's evaluation and 王伟's timer: {text}");
    assert!(
        value("hatchery_evaluation_lag_seconds_bucket{le=\"30\"}") < count,
        "{text}"
    );
    assert_eq!(
        value("hatchery_evaluation_lag_seconds_bucket{le=\"60\"}"),
        count,
        "{text}"
    );
    assert_eq!(
        value("hatchery_evaluation_lag_seconds_bucket{le=\"0.05\"}"),
        1.0,
        "{text}"
    );
    // Due when his visit left the window (a day and 1 ms after the start), run at a day and a minute.
    let sum = value("hatchery_evaluation_lag_seconds_sum");
    assert!((sum - 59.999).abs() < 1e-6, "{text}");

    // Size history: the day of creation (1 member, then 王芳 entered) and the day 王伟 left.
    let (s, sizes) = app.get(&format!("/api/v1/segments/{hot}/sizes")).await;
    assert_eq!(s, 200, "{sizes}");
    let days: Vec<(i64, i64, i64)> = sizes
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["size"].as_i64().unwrap(),
                d["entered"].as_i64().unwrap(),
                d["exited"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(days, vec![(2, 2, 0), (1, 0, 1)], "{sizes}");
    let (s, v) = app
        .get(&format!("/api/v1/segments/{hot}/sizes?days=0"))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["details"]["field"], "days", "{v}");
}

#[tokio::test]
async fn memberships_follow_tags_edits_filter_changes_merges_and_erasure() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","city":"深圳"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","city":"广州"}}),
        json!({"type":"identify","anonymousId":"anon-9","traits":{"name":"Anna Li","city":"深圳"}}),
    ])
    .await;
    let (wei, fang) = (contact_id(&app, "1").await, contact_id(&app, "2").await);
    let ka = create_segment(&app, "KA", json!({"tag": "KA"})).await;
    let sz = create_segment(
        &app,
        "Shenzhen",
        json!({"field": "city", "op": "eq", "value": "深圳"}),
    )
    .await;
    wait_members(&app, &ka, &[]).await;
    wait_members(&app, &sz, &["Anna Li", "王伟"]).await;

    // Tags through the API.
    let tag = |ids: Vec<&str>, add: bool| {
        let key = if add { "add" } else { "remove" };
        json!({"contact_ids": ids, key: ["KA"]})
    };
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            tag(vec![&wei, &fang], true),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_members(&app, &ka, &["王伟", "王芳"]).await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            tag(vec![&wei], false),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_members(&app, &ka, &["王芳"]).await;

    // A profile edit through the API moves 王芳 to 深圳.
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/contacts/{fang}"),
            json!({"city": "深圳"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_members(&app, &sz, &["Anna Li", "王伟", "王芳"]).await;

    // The anonymous visitor identifies as 王伟: merged into him, she is no longer a member of
    // anything, and no contact is counted twice.
    app.batch(vec![
        json!({"type":"identify","anonymousId":"anon-9","userId":"1"}),
    ])
    .await;
    wait_members(&app, &sz, &["王伟", "王芳"]).await;
    let (_, seg) = app.get(&format!("/api/v1/segments/{sz}")).await;
    assert_eq!(seg["member_count"], 2, "{seg}");

    // A filter edit recomputes the members; who moved gets an event.
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/segments/{sz}"),
            json!({"filter": {"field": "city", "op": "eq", "value": "广州"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_members(&app, &sz, &[]).await;
    let ev = |k: &str, n: &str| (k.to_owned(), n.to_owned());
    assert_eq!(
        membership_events(&app, &wei).await,
        vec![
            ev("segment.entered", "KA"),
            ev("segment.exited", "KA"),
            ev("segment.exited", "Shenzhen")
        ]
    );

    // Erasure takes a contact out of its segments.
    let (s, v) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/contacts/{fang}"),
            json!(null),
        )
        .await;
    assert!(s == 204 || s == 200, "{s} {v}");
    eventually("the erased contact has left", || async {
        app.get(&format!("/api/v1/segments/{ka}")).await.1["member_count"] == 0
    })
    .await;
    assert_eq!(app.count("segment_members").await, 0);

    // Deleting a segment removes it from contacts' pages.
    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/segments/{ka}"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = app.get(&format!("/api/v1/segments/{ka}/members")).await;
    assert_eq!(s, 404, "{v}");
}

#[tokio::test]
async fn a_segment_built_on_another_follows_it_without_recomputing_it() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","city":"深圳"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","city":"广州"}}),
    ])
    .await;
    let (wei, fang) = (contact_id(&app, "1").await, contact_id(&app, "2").await);
    let ka = create_segment(&app, "KA", json!({"tag": "KA"})).await;
    let ka_sz = create_segment(
        &app,
        "KA in Shenzhen",
        json!({"all": [{"segment": ka}, {"field": "city", "op": "eq", "value": "深圳"}]}),
    )
    .await;
    wait_members(&app, &ka_sz, &[]).await;

    // Tagging both puts both in KA and, in the same pass, 王伟 in "KA in Shenzhen".
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids": [wei, fang], "add": ["KA"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_members(&app, &ka, &["王伟", "王芳"]).await;
    wait_members(&app, &ka_sz, &["王伟"]).await;

    // References must name a segment of the organisation and never form a cycle; a segment
    // others are built on cannot be deleted.
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Nowhere", "filter": {"segment": "seg_999"}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/segments/{ka}"),
            json!({"filter": {"segment": ka_sz}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("cycle"),
        "{v}"
    );
    let (s, v) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/segments/{ka}"),
            json!(null),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/segments/{ka_sz}"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/segments/{ka}"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
}

/// The stored members of a segment (`seg_N`), by contact id.
async fn member_ids(app: &TestApp, segment: &str) -> Vec<i64> {
    let id: i64 = segment.trim_start_matches("seg_").parse().unwrap();
    let sql = format!(
        "SELECT contact_id FROM segment_members WHERE segment_id = {id} ORDER BY contact_id"
    );
    match app.store.backend() {
        hatchery_store::Backend::Sqlite(p) => sqlx::query_scalar(&sql).fetch_all(p).await.unwrap(),
        hatchery_store::Backend::Postgres(p) => {
            sqlx::query_scalar(&sql).fetch_all(p).await.unwrap()
        }
    }
}

#[tokio::test]
async fn workers_side_by_side_leave_every_segment_as_a_fresh_materialisation_finds_it() {
    let app = spawn_app().await;
    let filters = [
        json!({"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 2, "within_days": 7}),
        json!({"field": "city", "op": "eq", "value": "深圳"}),
        json!({"any": [
            {"tag": "KA"},
            {"all": [
                {"field": "city", "op": "eq", "value": "广州"},
                {"not": {"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 1, "within_days": 30}}
            ]}
        ]}),
    ];
    let mut live = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        live.push(create_segment(&app, &format!("live {i}"), f.clone()).await);
    }
    // Three waves of 1,200 people changing at once: several evaluator batches each, taken by
    // the workers side by side; the later waves move people between cities (exits) and bring
    // more pricing views (entries).
    let cities = ["深圳", "广州", "上海"];
    for wave in 0..3usize {
        for part in 0..3usize {
            let mut messages = Vec::new();
            for u in part * 400..(part + 1) * 400 {
                let city = cities[(u + wave) % 3];
                messages.push(json!({"type": "identify", "userId": format!("u{u}"),
                    "traits": {"name": format!("P{u}"), "city": city}}));
                if u % 2 == wave % 2 {
                    messages.push(pricing(&format!("u{u}"), START - (wave as i64 + 1) * DAY));
                }
            }
            app.batch(messages).await;
        }
    }
    let tagged: Vec<String> = {
        let mut ids = Vec::new();
        for u in (0..1200).step_by(7) {
            ids.push(contact_id(&app, &format!("u{u}")).await);
        }
        ids
    };
    for chunk in tagged.chunks(100) {
        let (s, v) = app
            .send(
                Method::POST,
                "/api/v1/contacts/tags",
                json!({"contact_ids": chunk, "add": ["KA"]}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    eventually("every change is evaluated", || async {
        app.store
            .due_jobs(app.org, app.clock.now_ms())
            .await
            .unwrap()
            == 0
    })
    .await;
    // A failed evaluation batch is put back 5 s later on the application's clock, which this test
    // does not move: it would not count as due above, and its contacts would stay unevaluated.
    let failures = app.metrics().await.lines().find_map(|l| {
        l.strip_prefix("hatchery_evaluation_failures_total ")?
            .parse::<u64>()
            .ok()
    });
    assert_eq!(failures, Some(0), "no evaluation batch may fail");
    for (i, f) in filters.iter().enumerate() {
        let fresh = create_segment(&app, &format!("fresh {i}"), f.clone()).await;
        let (want, got) = (
            member_ids(&app, &fresh).await,
            member_ids(&app, &live[i]).await,
        );
        assert!(!want.is_empty(), "segment {i} selects somebody");
        assert_eq!(got, want, "segment {i}: kept current = materialised afresh");
        let (_, seg) = app.get(&format!("/api/v1/segments/{}", live[i])).await;
        assert_eq!(
            seg["member_count"],
            want.len(),
            "segment {i}'s counter: {seg}"
        );
    }
}

/// An evaluation write takes the organisation's row first, as a group commit does, so the two take
/// turns instead of locking contacts' job rows in opposite orders (on PostgreSQL that deadlocked
/// and aborted one of them). While a group commit holds the row, the evaluation write waits.
#[tokio::test]
async fn an_evaluation_write_waits_while_a_group_commit_holds_the_organisation() {
    let app = spawn_app().await;
    let store = app.store.clone();
    let mut group_commit = store.begin().await.unwrap();
    store
        .lock_holdings(&mut group_commit, app.org)
        .await
        .unwrap();
    let (evaluator, org) = (store.clone(), app.org);
    let evaluation = tokio::spawn(async move {
        evaluator
            .apply_evaluations(
                org,
                &Default::default(),
                &hatchery_store::segments::membership::Evaluations::default(),
                START,
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !evaluation.is_finished(),
        "the evaluation write must wait for the organisation's row"
    );
    group_commit.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), evaluation)
        .await
        .expect("the evaluation write goes on once the row is free")
        .unwrap()
        .unwrap();
}
