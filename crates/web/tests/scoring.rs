//! Lead scoring over the REST API: a model is validated and saved, every contact is scored in the
//! background, scores decay without rewriting anything (a timer notices a threshold crossed by
//! decay alone), segments compare scores, and a model can be tried on one contact.

mod common;

use std::time::Duration;

use common::{eventually, spawn_app, TestApp, START};
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn model() -> Value {
    json!({
        "fit": [
            {"name": "Target industry", "when": {"field": "industry", "op": "eq", "value": "软件"}, "points": 40},
            {"name": "Decision maker", "when": {"field": "title", "op": "contains", "value": "总"}, "points": 30}
        ],
        "engagement": [
            {"name": "Viewed pricing", "event": {"kind": "page", "name": "Pricing"}, "points": 10, "cap": {"points": 20, "per_days": 7}},
            {"name": "Long webinar", "event": {"kind": "track", "name": "Webinar Watched"},
             "where": [{"property": "minutes", "op": "gte", "value": 30}], "points": 25}
        ],
        "half_life_days": 30,
        "thresholds": [{"score": "engagement", "value": 40}]
    })
}

async fn contact(app: &TestApp, user: &str) -> Value {
    let id = app
        .contact_by(&format!("user_id:{user}"))
        .await
        .expect("contact")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/v1/contacts/{id}")).await.1
}

async fn members(app: &TestApp, seg: &str) -> usize {
    let (_, v) = app.get(&format!("/api/v1/segments/{seg}/members")).await;
    v["data"].as_array().map_or(0, Vec::len)
}

async fn crossings(app: &TestApp, id: &str) -> Vec<String> {
    let (_, v) = app
        .get(&format!("/api/v1/contacts/{id}/events?kind=score.crossed"))
        .await;
    let mut names: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    names.reverse();
    names
}

#[tokio::test]
async fn contacts_are_scored_with_reasons_and_engagement_decays_on_a_timer() {
    let app = spawn_app().await;
    let at = chrono::DateTime::from_timestamp_millis(START)
        .unwrap()
        .to_rfc3339();
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","industry":"软件","title":"销售总监"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","industry":"制造业"}}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
        json!({"type":"track","userId":"1","event":"Webinar Watched","properties":{"minutes":45},"timestamp":at}),
        json!({"type":"track","userId":"2","event":"Webinar Watched","properties":{"minutes":10},"timestamp":at}),
    ])
    .await;

    // A bad model is refused, naming the part; nothing is saved.
    let mut bad = model();
    bad["engagement"][0]["cap"]["per_days"] = json!(0);
    let (s, v) = app
        .send(Method::PUT, "/api/v1/scoring-model", json!({"model": bad}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["details"]["field"], "model.engagement[0].cap.per_days",
        "{v}"
    );
    let (_, v) = app.get("/api/v1/scoring-model").await;
    assert_eq!(v["version"], 0, "{v}");
    assert!(v["model"].is_null());

    // Saved: everyone is scored in the background.
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/scoring-model",
            json!({"model": model()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 1, "{v}");
    eventually("every contact is scored", || async {
        app.get("/api/v1/scoring-model").await.1["evaluations_waiting"] == 0
            && !contact(&app, "2").await["score"].is_null()
    })
    .await;
    let wei = contact(&app, "1").await;
    let score = &wei["score"];
    assert_eq!(score["fit"], 70.0, "{wei}");
    assert_eq!(score["grade"], "B", "{wei}");
    // Pricing: 3 views, capped at 20 a week; the 45-minute webinar 25.
    assert_eq!(score["engagement"], 45.0, "{wei}");
    let reasons: Vec<(String, f64)> = score["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_owned(),
                r["points"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("Target industry".to_owned(), 40.0),
            ("Decision maker".to_owned(), 30.0),
            ("Viewed pricing".to_owned(), 20.0),
            ("Long webinar".to_owned(), 25.0)
        ]
    );
    let fang = contact(&app, "2").await;
    assert_eq!(fang["score"]["engagement"], 0.0, "{fang}");
    assert_eq!(fang["score"]["grade"], "D", "{fang}");
    let wei_id = wei["id"].as_str().unwrap().to_owned();
    assert_eq!(crossings(&app, &wei_id).await, ["engagement up 40"]);

    // A segment of engaged contacts.
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Engaged", "filter": {"score": "engagement", "op": "gte", "value": 40}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let seg = v["id"].as_str().unwrap().to_owned();
    eventually("王伟 is in the segment", || async {
        members(&app, &seg).await == 1
    })
    .await;

    // 45 decays below 40 after 30 × log2(45/40) ≈ 5.1 days: nothing is rewritten before, and a
    // timer takes him out of the segment then, with a crossing event.
    app.clock.advance_ms(5 * DAY);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(members(&app, &seg).await, 1);
    app.clock.advance_ms(DAY);
    eventually("王伟 left the segment", || async {
        members(&app, &seg).await == 0
    })
    .await;
    assert_eq!(
        crossings(&app, &wei_id).await,
        ["engagement up 40", "engagement down 40"]
    );
    let now = contact(&app, "1").await;
    let e = now["score"]["engagement"].as_f64().unwrap();
    assert!((e - 45.0 * (-6.0f64 / 30.0).exp2()).abs() < 0.11, "{now}");

    // Trying a different model on one contact changes nothing stored.
    let mut other = model();
    other["fit"][0]["points"] = json!(10);
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/scoring-model/test",
            json!({"contact_id": wei_id, "model": other}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["fit"], 40.0, "{v}");
    assert_eq!(v["grade"], "C", "{v}");
    assert_eq!(contact(&app, "1").await["score"]["fit"], 70.0);
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/scoring-model/test",
            json!({"contact_id": "ct_999999"}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
}
