//! The intake log: tracking requests answered once logged, applied behind, and applied exactly
//! once after a restart (see `hatchery_engine::intake`).

mod common;

use std::io::Write;
use std::sync::Arc;

use common::{spawn_app_with_intake_log, TestDb, START};
use hatchery_engine::intake::log::{read_segment, segments, LogRecord, LogWriter, MAGIC};
use hatchery_engine::intake::IntakeError;
use hatchery_engine::tracking::touches_of_body;
use hatchery_engine::{Ingestor, ManualClock, Metrics, SourceRef};
use hatchery_store::{Store, StoreOptions};
use serde_json::{json, Value};

fn log_bytes(dir: &std::path::Path) -> u64 {
    segments(dir)
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn a_logged_request_is_answered_then_applied_and_a_refused_one_logs_nothing() {
    let app = spawn_app_with_intake_log().await;
    let dir = app.db.dir().join("intake");
    let url = format!("{}/v1/batch", app.addr);
    let body = json!({"batch": [
        {"type":"identify","anonymousId":"a-1","messageId":"m1","traits":{"email":"ann@example.cn","name":"Ann"}},
        {"type":"track","anonymousId":"a-1","messageId":"m2","event":"Viewed Pricing"},
        {"type":"page","anonymousId":"a-1","name":"Home"},
    ]});
    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        log_bytes(&dir) > MAGIC.len() as u64,
        "the request is in the log"
    );
    app.state.ingestor.flush().await;
    let c = app
        .contact_by("email:ann@example.cn")
        .await
        .expect("applied");
    assert_eq!(c["name"], "Ann");
    assert_eq!(app.count("events").await, 3);
    let m = app.metrics().await;
    assert_eq!(metric(&m, "hatchery_intake_logged_total"), 3.0);
    assert_eq!(metric(&m, "hatchery_intake_backlog_messages"), 0.0);
    assert_eq!(
        app.store
            .intake_applied(&hatchery_engine::intake::log::log_id(&dir).unwrap())
            .await
            .unwrap(),
        vec![(app.org, 1)],
        "the applied request's number is stored with it"
    );

    // A refused request is not logged: the log does not grow.
    let logged = log_bytes(&dir);
    let bad = json!({"batch": [{"type":"track","anonymousId":"a-2","event":"ok"}, {"type":"track","anonymousId":"a-2"}]});
    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["details"]["field"], "batch[1].event");
    assert_eq!(log_bytes(&dir), logged);
    assert_eq!(app.count("events").await, 3);
}

fn batch(anonymous_id: &str, n: usize) -> Vec<u8> {
    // No messageId: the server makes one up, so applying a request twice would store its events
    // twice.
    let messages: Vec<Value> = (0..n)
        .map(|i| json!({"type":"track","anonymousId":anonymous_id,"event":format!("e{i}")}))
        .collect();
    json!({ "batch": messages }).to_string().into_bytes()
}

#[tokio::test]
async fn requests_logged_before_a_stop_are_applied_once_at_the_next_start() {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let org = store.create_org("Org", START).await.unwrap().id;
    let (source, _) = store
        .create_source(org, "Website", "website", START)
        .await
        .unwrap();
    let dir = db.dir().join("intake");
    let record = |body: Vec<u8>| LogRecord {
        seq: 0,
        org,
        source: source.id,
        source_name: source.name.clone(),
        kind: None,
        received_at: START,
        body,
    };

    // What a stopped process left behind: request 1 (applied before the stop), 2, a request 3
    // that no longer parses, 4, the torn start of a fifth that was never acknowledged, and the
    // next segment, whose creation was cut short before it held anything.
    let mut w = LogWriter::create(&dir, 1).unwrap();
    w.append(&mut [record(batch("a-1", 2)), record(batch("a-2", 3))])
        .unwrap();
    w.append(&mut [record(b"{\"batch\": [".to_vec())]).unwrap();
    w.append(&mut [record(batch("a-3", 4))]).unwrap();
    drop(w);
    let (_, first_segment) = segments(&dir).unwrap().remove(0);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&first_segment)
        .unwrap()
        .write_all(&[200, 0, 0, 0, 1, 2, 3])
        .unwrap();
    std::fs::write(dir.join(format!("{:020}.log", 5)), &MAGIC[..2]).unwrap();
    // Request 1's events are not in the database, so applying it again would show. Another log
    // (another server on the same database) has applied up to 9 of its own: that says nothing
    // about this one.
    std::fs::write(dir.join("ID"), "0123456789abcdef").unwrap();
    store
        .set_intake_applied(org, "0123456789abcdef", 1)
        .await
        .unwrap();
    store
        .set_intake_applied(org, "another-log", 9)
        .await
        .unwrap();

    let metrics = Arc::new(Metrics::default());
    let clock = Arc::new(ManualClock::new(START));
    let ingestor = Ingestor::start_with_intake(store.clone(), clock.clone(), metrics.clone(), &dir)
        .await
        .unwrap();
    assert_eq!(store.count_events(org).await.unwrap(), 3 + 4);
    assert_eq!(store.count_contacts(org).await.unwrap(), 2);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&metrics.intake_replayed), 7);
    assert_eq!(load(&metrics.intake_rejected), 1);
    assert_eq!(
        store.intake_applied("0123456789abcdef").await.unwrap(),
        vec![(org, 4)]
    );

    // The request that cannot be applied is kept, with why.
    let kept = dir.join("rejected").join(format!("{:020}.log", 3));
    let back = read_segment(&kept).unwrap().records;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].seq, 3);
    assert_eq!(back[0].body, b"{\"batch\": [");
    let why = std::fs::read_to_string(kept.with_extension("txt")).unwrap();
    assert!(why.contains("not valid JSON"), "{why}");

    // The replayed segment is gone; new requests continue the numbering.
    let left = segments(&dir).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, 5);
    let src = SourceRef {
        id: source.id,
        name: source.name.clone(),
    };
    let body = batch("a-4", 2);
    let touches = touches_of_body(&body, None, START, &src).unwrap().touches;
    ingestor
        .accept(org, touches, || record(body.clone()))
        .await
        .unwrap();
    ingestor.flush().await;
    assert_eq!(store.count_events(org).await.unwrap(), 3 + 4 + 2);
    assert_eq!(
        store.intake_applied("0123456789abcdef").await.unwrap(),
        vec![(org, 5)]
    );
    assert_eq!(
        store.intake_applied("another-log").await.unwrap(),
        vec![(org, 9)]
    );

    // A second process on the same log is refused while this one has it open.
    let second = Ingestor::start_with_intake(store.clone(), clock, metrics, &dir).await;
    assert!(
        matches!(second, Err(IntakeError::Locked { .. })),
        "a second opener must be refused"
    );
}

/// Traffic in which people are recognised across requests: each person browses from up to three
/// devices, then identifies from some of them (user id, email), so contacts made by one request
/// are found, extended and merged by later ones.
fn linked_traffic(requests: usize, per_request: usize) -> Vec<Value> {
    (0..requests)
        .map(|i| {
            let messages: Vec<Value> = (0..per_request)
                .map(|j| {
                    let person = (i * 7 + j * 13) % 97;
                    let device = format!("p{person}-d{}", (i + j) % 3);
                    let id = format!("m-{i}-{j}");
                    match (i + j) % 5 {
                        0 => json!({"type":"identify","anonymousId":device,"userId":format!("u{person}"),"messageId":id}),
                        1 => json!({"type":"identify","anonymousId":device,"messageId":id,
                                    "traits":{"email":format!("p{person}@example.cn")}}),
                        _ => json!({"type":"track","anonymousId":device,"event":"Viewed","messageId":id}),
                    }
                })
                .collect();
            json!({ "batch": messages })
        })
        .collect()
}

/// Who is who: every contact's identifiers, sorted.
async fn partition(app: &common::TestApp) -> Vec<Vec<String>> {
    let sql = "SELECT kind || ':' || value, contact_id FROM identities ORDER BY 1";
    let rows: Vec<(String, i64)> = match app.store.backend() {
        hatchery_store::Backend::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        hatchery_store::Backend::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
    };
    let mut by_contact: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for (id, c) in rows {
        by_contact.entry(c).or_default().push(id);
    }
    let mut out: Vec<Vec<String>> = by_contact.into_values().collect();
    out.sort();
    out
}

#[tokio::test]
async fn concurrent_senders_through_the_intake_log_end_with_the_same_people_as_without_it() {
    let traffic = Arc::new(linked_traffic(120, 40));
    let plain = common::spawn_app().await;
    if plain.state.ingestor.logs_intake() {
        return; // HATCHERY_TEST_INTAKE_LOG turns the log on for every app; this needs one without.
    }

    // With the log, 12 senders at once: requests queue up behind the group being written, are
    // applied together, and are resolved while the group before them is written.
    let app = spawn_app_with_intake_log().await;
    let url = format!("{}/v1/batch", app.addr);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..12)
        .map(|_| {
            let (client, url, key) = (app.client.clone(), url.clone(), app.write_key.clone());
            let (next, traffic) = (next.clone(), traffic.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = traffic.get(i) else { return };
                    let r = client
                        .post(&url)
                        .basic_auth(&key, Some(""))
                        .json(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    app.state.ingestor.flush().await;
    let m = app.metrics().await;
    assert_eq!(metric(&m, "hatchery_intake_rejected_total"), 0.0);
    assert!(
        metric(&m, "hatchery_intake_resolved_ahead_total") > 0.0,
        "with 12 senders, groups queue up behind the one being written"
    );
    assert_eq!(metric(&m, "hatchery_intake_resolved_again_total"), 0.0);

    // Without the log, the same requests one after the other, in the order the log holds them:
    // who is linked to whom depends on the order (an anonymous id may not merge two known people),
    // so that is the order to compare with.
    let dir = app.db.dir().join("intake");
    let logged: Vec<LogRecord> = segments(&dir)
        .unwrap()
        .iter()
        .flat_map(|(_, p)| read_segment(p).unwrap().records)
        .collect();
    assert_eq!(logged.len(), traffic.len());
    for r in &logged {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let sent = plain.track("/v1/batch", body).await;
        assert_eq!(sent.status(), 200);
    }

    assert_eq!(app.count("events").await, plain.count("events").await);
    assert_eq!(app.count("contacts").await, plain.count("contacts").await);
    assert_eq!(app.count("merges").await, plain.count("merges").await);
    let people = partition(&app).await;
    assert_eq!(people, partition(&plain).await);
    assert!(
        people.len() < 97 * 3,
        "requests link devices: {}",
        people.len()
    );
}

#[tokio::test]
async fn requests_set_aside_are_listed_per_organisation_and_applied_again_or_discarded() {
    use hatchery_engine::intake::log::keep_rejected;
    use reqwest::Method;

    let app = spawn_app_with_intake_log().await;
    let source = app.store.list_sources(app.org).await.unwrap().remove(0);
    let rejected = app.db.dir().join("intake").join("rejected");
    let record = |seq: u64, org, body: Vec<u8>| LogRecord {
        seq,
        org,
        source: source.id,
        source_name: source.name.clone(),
        kind: None,
        received_at: START - 60_000,
        body,
    };
    // As the applier keeps them (an earlier failure): one of this organisation, one of another,
    // one whose body no longer reads as a batch.
    let other = app.store.create_org("Other", START).await.unwrap().id;
    keep_rejected(
        &rejected,
        &record(7, app.org, batch("a-aside", 2)),
        "database refused it",
    )
    .unwrap();
    keep_rejected(&rejected, &record(8, other, batch("a-other", 1)), "other").unwrap();
    keep_rejected(
        &rejected,
        &record(9, app.org, b"{\"batch\":3}".to_vec()),
        "unreadable",
    )
    .unwrap();

    let (s, v) = app.get("/api/v1/intake").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["enabled"], true);
    let listed: Vec<(u64, u64, &str)> = v["set_aside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["messages"].as_u64().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![(7, 2, "database refused it"), (9, 0, "unreadable")]
    );
    assert_eq!(v["set_aside"][0]["endpoint"], "batch");
    assert_eq!(v["set_aside"][0]["received_at"], START - 60_000);

    // Another organisation's request can be neither applied nor discarded from here.
    for (method, path) in [
        (Method::POST, "/api/v1/intake/set-aside/8/retry"),
        (Method::DELETE, "/api/v1/intake/set-aside/8"),
    ] {
        let (s, v) = app.send(method, path, Value::Null).await;
        assert_eq!(s, 404, "{v}");
    }
    assert!(rejected.join(format!("{:020}.log", 8)).exists());

    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/intake/set-aside/7/retry",
            Value::Null,
        )
        .await;
    assert_eq!((s, v), (200, json!({"seq": 7, "messages": 2})));
    app.state.ingestor.flush().await;
    let c = app
        .contact_by("anonymous_id:a-aside")
        .await
        .expect("applied");
    let (_, events) = app
        .get(&format!(
            "/api/v1/contacts/{}/events",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        events["data"][0]["received_at"],
        START - 60_000,
        "as first received"
    );
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/intake/set-aside/7/retry",
            Value::Null,
        )
        .await;
    assert_eq!(s, 404, "applied once: it is no longer set aside");

    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/intake/set-aside/9/retry",
            Value::Null,
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{v}"
    );
    let (s, _) = app
        .send(Method::DELETE, "/api/v1/intake/set-aside/9", Value::Null)
        .await;
    assert_eq!(s, 204);
    let (s, v) = app
        .send(Method::DELETE, "/api/v1/intake/set-aside/x", Value::Null)
        .await;
    assert_eq!(
        (s, v["error"]["details"]["field"].as_str()),
        (422, Some("seq"))
    );
    let (_, v) = app.get("/api/v1/intake").await;
    assert_eq!(v["set_aside"], json!([]));
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn without_the_intake_log_nothing_is_set_aside() {
    let app = common::spawn_app_with(|_| {}).await;
    if app.state.ingestor.logs_intake() {
        return; // the suite's pass with the log on: the test above covers it
    }
    let (s, v) = app.get("/api/v1/intake").await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"enabled": false, "backlog_messages": 0, "set_aside": []})
        )
    );
    let (s, _) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/intake/set-aside/1/retry",
            Value::Null,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_profile_edit_waits_for_the_tracking_requests_acknowledged_before_it() {
    let app = spawn_app_with_intake_log().await;
    let identify = |title: &str| json!({"type":"identify","anonymousId":"a-edit","traits":{"email":"edit@example.cn","title":title}});
    app.batch(vec![identify("Engineer")]).await;
    let id = app.contact_by("email:edit@example.cn").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Acknowledged while the applier is held: logged, not yet applied.
    let hold = app
        .state
        .ingestor
        .hold_applier()
        .await
        .expect("the log is on");
    let r = app
        .client
        .post(format!("{}/v1/batch", app.addr))
        .basic_auth(&app.write_key, Some(""))
        .json(&json!({"batch": [identify("CTO")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let edit = tokio::spawn({
        let (client, url, key) = (
            app.client.clone(),
            format!("{}/api/v1/contacts/{id}", app.addr),
            app.api_key.clone(),
        );
        async move {
            let r = client
                .patch(url)
                .bearer_auth(key)
                .json(&json!({"title": "CEO"}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !edit.is_finished(),
        "the edit waits for the request acknowledged before it"
    );
    drop(hold);
    assert_eq!(edit.await.unwrap(), 200);
    let (_, c) = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(c["title"], "CEO", "the later edit wins: {c}");
}
