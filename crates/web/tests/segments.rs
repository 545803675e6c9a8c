//! Segments over the REST API: previews of a filter, saved segments, and errors that name the
//! offending part of a filter.

mod common;

use common::{spawn_app, START};
use reqwest::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

/// Three people: 王伟 (深圳, budget 120k, three pricing visits this week, tagged KA),
/// 王芳 (one pricing visit), Anna (WeChat follower of wx1, no visits).
async fn seed(app: &common::TestApp) -> Vec<String> {
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","email":"wei@yunqi.cn","city":"深圳","industry":"软件","budget":120000}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","email":"fang@acme.com","industry":"制造业","budget":"unknown"}}),
        json!({"type":"identify","userId":"3","traits":{"name":"Anna Li","company":"Acme Robotics"}}),
        json!({"type":"track","userId":"1","event":"Pricing Viewed","properties":{"plan":"pro"},"timestamp":at(START - DAY)}),
        json!({"type":"track","userId":"1","event":"Pricing Viewed","properties":{"plan":"pro"},"timestamp":at(START - 2 * DAY)}),
        json!({"type":"track","userId":"1","event":"Pricing Viewed","properties":{"plan":"basic"},"timestamp":at(START - 6 * DAY)}),
        json!({"type":"track","userId":"2","event":"Pricing Viewed","properties":{"plan":"pro"},"timestamp":at(START - 3 * DAY)}),
        json!({"type":"track","userId":"1","event":"Pricing Viewed","properties":{"plan":"pro"},"timestamp":at(START - 20 * DAY)}),
    ])
    .await;
    let mut ids = Vec::new();
    for u in ["1", "2", "3"] {
        let c = app
            .contact_by(&format!("user_id:{u}"))
            .await
            .expect("contact");
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids": [ids[0]], "add": ["KA"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    ids
}

async fn preview(app: &common::TestApp, filter: Value) -> (u16, Value) {
    app.send(
        Method::POST,
        "/api/v1/segments/preview",
        json!({ "filter": filter }),
    )
    .await
}

fn sample_names(v: &Value) -> Vec<&str> {
    v["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn preview_counts_and_samples_contacts_matching_behaviour_and_profile() {
    let app = spawn_app().await;
    seed(&app).await;
    let pricing_3_in_7 = json!({"event": {"kind": "track", "name": "Pricing Viewed"}, "at_least": 3, "within_days": 7});
    let (s, v) = preview(&app, pricing_3_in_7.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["count"], 1);
    assert_eq!(sample_names(&v), vec!["王伟"]);
    assert_eq!(v["sample"][0]["city"], "深圳");

    // Any pricing visit in 7 days, but not tagged KA.
    let (_, v) = preview(
        &app,
        json!({"all": [
            {"event": {"name": "Pricing Viewed"}, "within_days": 7},
            {"not": {"tag": "KA"}}
        ]}),
    )
    .await;
    assert_eq!(sample_names(&v), vec!["王芳"]);

    // Custom fields are typed: budget 120000 is a number, "unknown" is not.
    let (_, v) = preview(
        &app,
        json!({"trait": "budget", "op": "gte", "value": 100000}),
    )
    .await;
    assert_eq!(sample_names(&v), vec!["王伟"]);
    let (_, v) = preview(&app, json!({"trait": "budget", "op": "exists"})).await;
    assert_eq!(v["count"], 2);

    // Pro-plan pricing twice: 王伟's visits 1 and 2 days ago; the window includes its start.
    let pro_twice = |days: u32| json!({"event": {"name": "Pricing Viewed"}, "where": [{"property": "plan", "op": "eq", "value": "pro"}], "at_least": 2, "within_days": days});
    let (_, v) = preview(&app, pro_twice(2)).await;
    assert_eq!(sample_names(&v), vec!["王伟"]);
    let (_, v) = preview(&app, pro_twice(1)).await;
    assert_eq!(v["count"], 0);
    // …and nobody but Anna is either without a visit in 30 days or at a company starting "Acme".
    let (_, v) = preview(
        &app,
        json!({"any": [
            {"event": {"name": "Pricing Viewed"}, "at_most": 0, "within_days": 30},
            {"field": "company", "op": "starts_with", "value": "Acme"}
        ]}),
    )
    .await;
    assert_eq!(sample_names(&v), vec!["Anna Li"]);

    // Time moves on: ten days later the three visits have left the 7-day window.
    app.clock.advance_ms(10 * DAY);
    let (_, v) = preview(&app, pricing_3_in_7).await;
    assert_eq!(v["count"], 0);
}

#[tokio::test]
async fn an_invalid_filter_is_refused_naming_the_offending_part() {
    let app = spawn_app().await;
    let (s, v) = preview(
        &app,
        json!({"all": [{"tag": "KA"}, {"tag": "x"}, {"any": [{"field": "town", "op": "eq", "value": "深圳"}]}]}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_field");
    assert_eq!(v["error"]["details"]["field"], "filter.all[2].any[0].field");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`town` is not a standard field"),
        "{v}"
    );
    let (s, v) = preview(
        &app,
        json!({"event": {"kind": "page"}, "within_days": 99999}),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "filter.within_days");
    let (s, v) = preview(&app, json!("vip")).await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "filter");
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments/preview",
            json!({"filtre": {}}),
        )
        .await;
    assert_eq!(s, 422, "unknown request fields are refused: {v}");
}

#[tokio::test]
async fn saved_segments_can_be_created_listed_changed_and_deleted() {
    let app = spawn_app().await;
    seed(&app).await;
    let (s, created) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": " Hot leads ", "description": "pricing 3× in 7 days", "filter": {"event": {"name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("seg_"));
    assert_eq!(created["name"], "Hot leads");
    assert_eq!(
        created["filter"],
        json!({"event": {"name": "Pricing Viewed"}, "at_least": 3, "within_days": 7}),
        "stored in canonical form"
    );
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Hot leads", "filter": {"tag": "KA"}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Bad", "filter": {"any": [{"tag": ""}]}}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "filter.any[0].tag");

    let (s, v) = app.get(&format!("/api/v1/segments/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["description"], "pricing 3× in 7 days");

    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/segments/{id}"),
            json!({"description": null, "filter": {"tag": "KA"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "Hot leads");
    assert_eq!(v["description"], Value::Null);
    assert_eq!(v["filter"], json!({"tag": "KA"}));
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/segments/{id}"),
            json!({"filter": {"not": {}}}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "filter.not");

    app.send(
        Method::POST,
        "/api/v1/segments",
        json!({"name": "Shenzhen", "filter": {"field": "city", "op": "eq", "value": "深圳"}}),
    )
    .await;
    let (_, page) = app.get("/api/v1/segments?limit=1").await;
    assert_eq!(page["data"][0]["name"], "Shenzhen");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = app
        .get(&format!("/api/v1/segments?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page["data"][0]["name"], "Hot leads");
    assert_eq!(page["next_cursor"], Value::Null);

    // The members of a saved segment, evaluated when asked, newest first and paged.
    let (_, budget) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Has budget", "filter": {"trait": "budget", "op": "exists"}}),
        )
        .await;
    let members = format!(
        "/api/v1/segments/{}/contacts",
        budget["id"].as_str().unwrap()
    );
    let (s, page) = app.get(&format!("{members}?limit=1")).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["data"][0]["name"], "王芳");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = app.get(&format!("{members}?limit=1&cursor={cursor}")).await;
    assert_eq!(page["data"][0]["name"], "王伟");
    assert_eq!(page["next_cursor"], Value::Null);
    let (s, _) = app.get(&format!("{members}?cursor=seg_1")).await;
    assert_eq!(s, 422);

    let (s, _) = app
        .send(Method::DELETE, &format!("/api/v1/segments/{id}"), json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&format!("/api/v1/segments/{id}")).await;
    assert_eq!(s, 404);
    let (s, v) = app.get("/api/v1/segments/ct_1").await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test]
async fn an_event_property_holding_a_nul_character_does_not_break_previews() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"A"}}),
        json!({"type":"track","userId":"1","event":"Form Submitted","properties":{"comment":"a\u{0}b"}}),
    ])
    .await;
    let (s, v) = preview(
        &app,
        json!({"event": {"name": "Form Submitted"}, "where": [{"property": "comment", "op": "contains", "value": "a"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["count"], 1);
    let (s, v) = preview(
        &app,
        json!({"trait": "comment", "op": "eq", "value": "a\u{0}b"}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["details"]["field"], "filter.value");
}
