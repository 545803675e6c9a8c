//! Consent per purpose and channel over the REST API: answers are recorded with their source and
//! time, replace earlier ones, are `consent.changed` events, follow a merge, and segments read
//! them at once.

mod common;

use common::{eventually, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn id_of(app: &TestApp, identity: &str) -> String {
    app.contact_by(identity).await.expect("contact")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn consent(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.send(
        Method::PUT,
        &format!("/api/v1/contacts/{id}/consents"),
        body,
    )
    .await
}

async fn members(app: &TestApp, seg: &str) -> usize {
    let (_, v) = app.get(&format!("/api/v1/segments/{seg}/members")).await;
    v["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn consent_is_recorded_read_by_segments_and_follows_a_merge() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","email":"wei@example.cn"}}),
        json!({"type":"page","anonymousId":"b-9","name":"Home"}),
    ])
    .await;
    let wei = id_of(&app, "user_id:1").await;
    let anon = id_of(&app, "anonymous_id:b-9").await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/segments",
            json!({"name": "May email", "filter": {"consent": "marketing", "channel": "email"}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let seg = v["id"].as_str().unwrap().to_owned();

    // Bad answers are refused, naming the field; nothing is written.
    for (body, field) in [
        (
            json!({"purpose": "Marketing", "channel": "email", "granted": true}),
            "purpose",
        ),
        (
            json!({"purpose": "marketing", "channel": "", "granted": true}),
            "channel",
        ),
        (
            json!({"purpose": "marketing", "channel": "email", "granted": true, "source": ""}),
            "source",
        ),
    ] {
        let (s, v) = consent(&app, &wei, body).await;
        assert_eq!(
            (s, v["error"]["details"]["field"].clone()),
            (422, json!(field)),
            "{v}"
        );
    }
    let (s, _) = consent(
        &app,
        "ct_999999",
        json!({"purpose": "marketing", "channel": "email", "granted": true}),
    )
    .await;
    assert_eq!(s, 404);
    assert!(app
        .get(&format!("/api/v1/contacts/{wei}/consents"))
        .await
        .1
        .as_array()
        .unwrap()
        .is_empty());

    // Granted: in the segment at once; withdrawn: out again.
    let (s, v) = consent(
        &app,
        &wei,
        json!({"purpose": "marketing", "channel": "email", "granted": true, "source": "form:webinar-2026"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[0]["source"], "form:webinar-2026", "{v}");
    eventually("王伟 may be emailed", || async {
        members(&app, &seg).await == 1
    })
    .await;
    consent(
        &app,
        &wei,
        json!({"purpose": "marketing", "channel": "email", "granted": false}),
    )
    .await;
    eventually("王伟 withdrew", || async {
        members(&app, &seg).await == 0
    })
    .await;
    let (_, v) = app.get(&format!("/api/v1/contacts/{wei}/consents")).await;
    assert_eq!(
        (v[0]["granted"].clone(), v[0]["source"].clone()),
        (json!(false), json!("api")),
        "{v}"
    );
    let (_, ev) = app
        .get(&format!(
            "/api/v1/contacts/{wei}/events?kind=consent.changed"
        ))
        .await;
    assert_eq!(ev["data"].as_array().unwrap().len(), 2, "{ev}");

    // The anonymous browser granted newsletters; when it turns out to be 王伟, he keeps the answer.
    consent(
        &app,
        &anon,
        json!({"purpose": "newsletter", "channel": "wechat", "granted": true}),
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","anonymousId":"b-9"}),
    ])
    .await;
    let survivor = id_of(&app, "user_id:1").await;
    let (_, v) = app
        .get(&format!("/api/v1/contacts/{survivor}/consents"))
        .await;
    let kept: Vec<(String, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["purpose"].as_str().unwrap().to_owned(),
                k["granted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("marketing".to_owned(), false),
            ("newsletter".to_owned(), true)
        ],
        "{v}"
    );
}
