//! Customer tiers over the REST API: a model is validated and saved, contacts are classified in
//! the background from their profile, tags and the referral graph (`referred_by` traits), every
//! change is a `tier.changed` event, segments filter on tiers, and switching off forgets them.

mod common;

use common::{eventually, spawn_app, TestApp};
use hatchery_domain::tiers::TierModel;
use reqwest::Method;
use serde_json::{json, Value};

async fn detail(app: &TestApp, user: &str) -> Value {
    let id = app
        .contact_by(&format!("user_id:{user}"))
        .await
        .expect("contact")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/v1/contacts/{id}")).await.1
}

fn tier_of(c: &Value, dimension: &str) -> Option<String> {
    c["tiers"]
        .as_array()?
        .iter()
        .find(|t| t["dimension"] == dimension)
        .map(|t| t["tier"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn contacts_are_tiered_from_profile_tags_and_referrals() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"a","traits":{"name":"陈静","company_size":"5000+"}}),
        json!({"type":"identify","userId":"b","traits":{"name":"B","referred_by":"a"}}),
        json!({"type":"identify","userId":"c","traits":{"name":"C","referred_by":"a"}}),
        json!({"type":"identify","userId":"d","traits":{"name":"D","referred_by":"a","company_size":"200-499"}}),
        json!({"type":"identify","userId":"e","traits":{"name":"E","referred_by":"e"}}),
    ])
    .await;

    // Off: the default model is offered; a bad one is refused naming the part.
    let (_, v) = app.get("/api/v1/tiers").await;
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(v["model"]["dimensions"][0]["tiers"][1]["key"], "hub", "{v}");
    let mut bad = TierModel::default_json();
    bad["dimensions"][0]["tiers"][0]
        .as_object_mut()
        .unwrap()
        .remove("when");
    let (s, v) = app
        .send(Method::PUT, "/api/v1/tiers", json!({"model": bad}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["details"]["field"], "model.dimensions[0].tiers[0].when",
        "{v}"
    );
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/tiers",
            json!({"model": {"dimensions": [{"key": "v", "name": "V", "tiers": [
                {"key": "x", "name": "X", "when": {"segment": "seg_77"}}]}]}}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["details"]["field"], "model.dimensions[0].tiers[0].when",
        "{v}"
    );

    // On: 陈静 referred three contacts (a value-added hub) and works at a 5000+ company (KA).
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/tiers",
            json!({"model": TierModel::default_json()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    eventually("陈静 is a hub", || async {
        tier_of(&detail(&app, "a").await, "value").as_deref() == Some("hub")
    })
    .await;
    let a = detail(&app, "a").await;
    assert_eq!(a["referrals"], 3, "{a}");
    assert_eq!(tier_of(&a, "size").as_deref(), Some("ka"), "{a}");
    let d = detail(&app, "d").await;
    assert_eq!(tier_of(&d, "value").as_deref(), Some("regular"), "{d}");
    assert_eq!(tier_of(&d, "size").as_deref(), Some("mid"), "{d}");
    // Referring oneself counts for nothing.
    assert_eq!(detail(&app, "e").await["referrals"], 0);

    // A benchmark tag outranks hub; the change is an event.
    let a_id = a["id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids": [a_id], "add": ["标杆客户"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    eventually("陈静 is a benchmark customer", || async {
        tier_of(&detail(&app, "a").await, "value").as_deref() == Some("benchmark")
    })
    .await;
    let (_, ev) = app
        .get(&format!("/api/v1/contacts/{a_id}/events?kind=tier.changed"))
        .await;
    let names: Vec<&str> = ev["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"value:benchmark") && names.contains(&"value:hub"),
        "{ev}"
    );
    assert_eq!(ev["data"][0]["properties"]["from"], "hub", "{ev}");

    // Counts per tier, and segments on tiers.
    let (_, v) = app.get("/api/v1/tiers").await;
    let count = |d: &str, t: &str| {
        v["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["dimension"] == d && c["tier"] == t)
            .unwrap()["contacts"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        (
            count("value", "benchmark"),
            count("value", "regular"),
            count("size", "ka")
        ),
        (1, 4, 1),
        "{v}"
    );
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "KA", "filter": {"tier": "ka", "dimension": "size"}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let seg = v["id"].as_str().unwrap().to_owned();
    eventually("the KA segment has one member", || async {
        app.get(&format!("/api/v1/segments/{seg}/members")).await.1["data"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
    })
    .await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "Bad", "filter": {"tier": "ka", "dimension": "nope"}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");

    // Off: tiers are forgotten.
    let (s, v) = app.send(Method::DELETE, "/api/v1/tiers", json!({})).await;
    assert_eq!((s, v["enabled"].clone()), (200, json!(false)), "{v}");
    assert!(detail(&app, "a").await["tiers"]
        .as_array()
        .unwrap()
        .is_empty());
}
