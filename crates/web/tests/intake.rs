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
        app.store.intake_applied().await.unwrap(),
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
    // that no longer parses, 4, and the torn start of a fifth that was never acknowledged.
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
    // Request 1's events are not in the database, so applying it again would show.
    store.set_intake_applied(org, 1).await.unwrap();

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
    assert_eq!(store.intake_applied().await.unwrap(), vec![(org, 4)]);

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
    assert_eq!(store.intake_applied().await.unwrap(), vec![(org, 5)]);

    // A second process on the same log is refused while this one has it open.
    let second = Ingestor::start_with_intake(store.clone(), clock, metrics, &dir).await;
    assert!(
        matches!(second, Err(IntakeError::Locked { .. })),
        "a second opener must be refused"
    );
}
