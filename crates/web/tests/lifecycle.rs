//! Lifecycle stages over the REST API: a model is validated and saved, contacts move along it
//! automatically as their profile and scores meet the entry criteria, by hand along the allowed
//! transitions, every move is stored with its cause and is a `stage.changed` event, segments
//! filter on the stage, a hold keeps a recycled lead until a timer ends it, and a merge keeps the
//! stage and its history.

mod common;

use common::{eventually, spawn_app, TestApp, START};
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn scoring() -> Value {
    json!({
        "fit": [
            {"name": "Target industry", "when": {"field": "industry", "op": "eq", "value": "软件"}, "points": 40},
            {"name": "Decision maker", "when": {"field": "title", "op": "contains", "value": "总"}, "points": 30}
        ],
        "engagement": [
            {"name": "Viewed pricing", "event": {"kind": "page", "name": "Pricing"}, "points": 30}
        ]
    })
}

async fn id_of(app: &TestApp, identity: &str) -> String {
    app.contact_by(identity).await.expect("contact")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn stage(app: &TestApp, id: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v1/contacts/{id}/stage")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn stage_key(app: &TestApp, id: &str) -> Option<String> {
    stage(app, id).await["stage"].as_str().map(str::to_owned)
}

async fn members(app: &TestApp, seg: &str) -> usize {
    let (_, v) = app.get(&format!("/api/v1/segments/{seg}/members")).await;
    v["data"].as_array().map_or(0, Vec::len)
}

async fn switch_on(app: &TestApp, model: Value) -> Value {
    let (s, v) = app
        .send(Method::PUT, "/api/v1/lifecycle", json!({ "model": model }))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn move_to(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.send(Method::POST, &format!("/api/v1/contacts/{id}/stage"), body)
        .await
}

#[tokio::test]
async fn contacts_move_through_the_stages_automatically_and_by_hand() {
    let app = spawn_app().await;
    let at = chrono::DateTime::from_timestamp_millis(START)
        .unwrap()
        .to_rfc3339();
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","email":"wei@example.cn","industry":"软件","title":"销售总监"}}),
        json!({"type":"page","anonymousId":"anon-2","name":"Home","timestamp":at}),
    ])
    .await;
    let wei = id_of(&app, "user_id:1").await;
    let anon = id_of(&app, "anonymous_id:anon-2").await;

    // Off until saved; the default model is offered.
    let (_, v) = app.get("/api/v1/lifecycle").await;
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(v["model"]["stages"][2]["key"], "mql", "{v}");
    let (s, v) = move_to(&app, &wei, json!({"stage": "lead"})).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switched off"),
        "{v}"
    );

    // Bad models are refused, naming the part; nothing is saved.
    for (model, field) in [
        (
            json!({"stages": [
                {"key": "a", "name": "A", "entry": {"tag": "x"}, "next": ["b"]},
                {"key": "b", "name": "B", "entry": {"tag": "y"}, "next": ["a"]}]}),
            "model.stages",
        ),
        (
            json!({"stages": [{"key": "a", "name": "A", "entry": {"segment": "seg_99"}}]}),
            "model.stages[0].entry",
        ),
        (
            json!({"stages": [{"key": "a", "name": "A", "entry": {"stage": "zzz"}}]}),
            "model.stages[0].entry",
        ),
        (
            json!({"stages": [{"key": "a", "name": "A", "entry": {"all": []}}]}),
            "model.stages[0].entry.all",
        ),
    ] {
        let (s, v) = app
            .send(Method::PUT, "/api/v1/lifecycle", json!({ "model": model }))
            .await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
    }
    assert_eq!(app.get("/api/v1/lifecycle").await.1["version"], 0);

    // Switched on with the default model and a scoring model: 王伟 left his name and email
    // (Lead) and fits, but is not engaged yet; the anonymous visitor has no stage.
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/scoring-model",
            json!({"model": scoring()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let v = switch_on(&app, v_default()).await;
    assert_eq!(v["enabled"], true, "{v}");
    eventually("王伟 is a lead", || async {
        stage_key(&app, &wei).await.as_deref() == Some("lead")
    })
    .await;
    assert_eq!(stage_key(&app, &anon).await, None);
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Became an MQL this week",
                   "filter": {"event": {"kind": "stage.changed", "name": "mql"}, "within_days": 7}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let became = v["id"].as_str().unwrap().to_owned();

    // Two pricing views: engagement 60 ≥ 50 with fit 70 ≥ 60 → MQL.
    app.batch(vec![
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
    ])
    .await;
    eventually("王伟 is an MQL", || async {
        stage_key(&app, &wei).await.as_deref() == Some("mql")
    })
    .await;
    // The move is an event that segments see in the same evaluation.
    eventually("王伟 is in the 'became an MQL' segment", || async {
        members(&app, &became).await == 1
    })
    .await;
    let st = stage(&app, &wei).await;
    let history: Vec<(Value, Value, Value)> = st["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone(), t["cause"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (json!("lead"), json!("mql"), json!("rule")),
            (Value::Null, json!("lead"), json!("rule"))
        ],
        "{st}"
    );
    let (_, ev) = app
        .get(&format!("/api/v1/contacts/{wei}/events?kind=stage.changed"))
        .await;
    let names: Vec<&str> = ev["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mql", "lead"], "{ev}");
    assert_eq!(ev["data"][0]["properties"]["from"], "lead", "{ev}");

    // Segments filter on the stage; an unknown stage is refused.
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "MQLs", "filter": {"stage": "mql"}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let seg = v["id"].as_str().unwrap().to_owned();
    eventually("the MQL segment has 王伟", || async {
        members(&app, &seg).await == 1
    })
    .await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Typo", "filter": {"stage": "mq1"}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("mq1"),
        "{v}"
    );

    // By hand: only along allowed transitions, with a clear refusal otherwise.
    let (s, v) = move_to(&app, &wei, json!({"stage": "lead"})).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed: tql, sql, opportunity, customer, recycled, disqualified"),
        "{v}"
    );
    let (s, v) = move_to(&app, &wei, json!({"stage": "nope"})).await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("stage")),
        "{v}"
    );
    let (s, v) = move_to(&app, &wei, json!({"stage": "sql", "cause": "erp"})).await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("cause")),
        "{v}"
    );
    let (s, v) = move_to(
        &app,
        &wei,
        json!({"stage": "sql", "reason": "x".repeat(501)}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("reason")),
        "{v}"
    );
    assert_eq!(
        stage_key(&app, &wei).await.as_deref(),
        Some("mql"),
        "refusals change nothing"
    );
    let (s, v) = move_to(
        &app,
        &wei,
        json!({"stage": "sql", "reason": "预算已确认", "cause": "crm"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stage"], "sql", "{v}");
    assert_eq!(v["history"][0]["cause"], "crm", "{v}");
    assert_eq!(v["history"][0]["reason"], "预算已确认", "{v}");
    assert_eq!(v["history"][0]["from"], "mql", "{v}");
    eventually("王伟 left the MQL segment", || async {
        members(&app, &seg).await == 0
    })
    .await;

    // The contact list filters by stage.
    let (_, v) = app.get("/api/v1/contacts?stage=sql").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"][0]["stage"], "sql", "{v}");
    let (_, v) = app.get("/api/v1/contacts?stage=lead").await;
    assert!(v["data"].as_array().unwrap().is_empty(), "{v}");

    // The funnel counts contacts per stage in the model's order.
    let (_, v) = app.get("/api/v1/lifecycle").await;
    let funnel: Vec<(String, i64, i64)> = v["funnel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["stage"].as_str().unwrap().to_owned(),
                c["contacts"].as_i64().unwrap(),
                c["entered"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(funnel[1], ("lead".into(), 0, 1), "{v}");
    assert_eq!(funnel[2], ("mql".into(), 0, 1), "{v}");
    assert_eq!(funnel[4], ("sql".into(), 1, 1), "{v}");
    assert_eq!(v["unstaged"], 1, "{v}");

    // Switched off: no more moves; stages and history stay.
    let (s, v) = app
        .send(Method::DELETE, "/api/v1/lifecycle", json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["enabled"], false, "{v}");
    let (s, _) = move_to(&app, &wei, json!({"stage": "opportunity"})).await;
    assert_eq!(s, 409);
    assert_eq!(stage_key(&app, &wei).await.as_deref(), Some("sql"));
}

fn v_default() -> Value {
    // The default model as the API offers it, unchanged.
    serde_json::from_str(&hatchery_domain::lifecycle::Lifecycle::default_json().to_string())
        .unwrap()
}

#[tokio::test]
async fn a_hold_keeps_a_recycled_lead_until_a_timer_ends_it() {
    let app = spawn_app().await;
    let at = chrono::DateTime::from_timestamp_millis(START)
        .unwrap()
        .to_rfc3339();
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"李娜","mobile":"13800138000","industry":"软件","title":"总经理"}}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
        json!({"type":"page","userId":"1","name":"Pricing","timestamp":at}),
    ])
    .await;
    let na = id_of(&app, "user_id:1").await;
    app.send(
        Method::PUT,
        "/api/v1/scoring-model",
        json!({"model": scoring()}),
    )
    .await;
    switch_on(&app, v_default()).await;
    eventually("李娜 is an MQL", || async {
        stage_key(&app, &na).await.as_deref() == Some("mql")
    })
    .await;
    let (s, v) = move_to(&app, &na, json!({"stage": "recycled", "reason": "not now"})).await;
    assert_eq!(s, 200, "{v}");
    // Still qualified, but held for 30 days.
    app.clock.advance_ms(29 * DAY);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(stage_key(&app, &na).await.as_deref(), Some("recycled"));
    app.clock.advance_ms(DAY);
    eventually("the hold ended and 李娜 is an MQL again", || async {
        stage_key(&app, &na).await.as_deref() == Some("mql")
    })
    .await;
    assert_eq!(stage(&app, &na).await["history"][0]["from"], "recycled");
}

#[tokio::test]
async fn a_merge_keeps_the_stage_and_its_history() {
    let app = spawn_app().await;
    let at = chrono::DateTime::from_timestamp_millis(START)
        .unwrap()
        .to_rfc3339();
    switch_on(&app, v_default()).await;
    app.batch(vec![
        json!({"type":"identify","userId":"u1","traits":{"name":"张伟","email":"zw@example.cn"}}),
        json!({"type":"page","anonymousId":"phone-1","name":"Home","timestamp":at}),
    ])
    .await;
    let zw = id_of(&app, "user_id:u1").await;
    let phone = id_of(&app, "anonymous_id:phone-1").await;
    assert_ne!(zw, phone);
    eventually("张伟 is a lead", || async {
        stage_key(&app, &zw).await.as_deref() == Some("lead")
    })
    .await;
    // The phone's browser identifies as the same person: the profiles merge.
    app.batch(vec![
        json!({"type":"identify","userId":"u1","anonymousId":"phone-1"}),
    ])
    .await;
    let survivor = id_of(&app, "user_id:u1").await;
    assert_eq!(id_of(&app, "anonymous_id:phone-1").await, survivor);
    let st = stage(&app, &survivor).await;
    assert_eq!(st["stage"], "lead", "{st}");
    assert_eq!(st["history"][0]["to"], "lead", "{st}");
    // Either old id answers for the survivor.
    assert_eq!(stage(&app, &phone).await["stage"], "lead");
    assert_eq!(stage(&app, &zw).await["stage"], "lead");
}
