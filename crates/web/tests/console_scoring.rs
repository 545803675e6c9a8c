//! The console's Scoring page: the model is checked before it is saved (errors name the part), a
//! draft can be tried on one contact without storing anything, saving starts a re-score, readers
//! see the model without a form, and every change needs a writer and the CSRF token.

mod common;

use common::browser::{add_user, Browser, PASSWORD};
use common::spawn_app;
use hatchery_domain::{Grant, Role};
use serde_json::json;

const MODEL: &str = r#"{"fit": [{"name": "软件行业", "when": {"field": "industry", "op": "eq", "value": "软件"}, "points": 60}],
 "engagement": [{"name": "Trial", "event": {"name": "Trial Requested"}, "points": 40}]}"#;

#[tokio::test]
async fn a_model_is_tried_on_a_contact_checked_and_saved_by_writers_only() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    add_user(
        &app,
        "ai@example.com",
        "Ai",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","industry":"软件"}}),
        json!({"type":"track","userId":"1","event":"Trial Requested"}),
    ])
    .await;
    let wei = app.contact_by("user_id:1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;

    let page = b.get("/scoring").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("线索评分模型") && page.body.contains("目标行业"),
        "{}",
        page.body
    );

    // A try scores the contact with the draft and stores nothing.
    let tried = b
        .submit(
            "/scoring",
            "/scoring",
            &[("model", MODEL), ("contact", &wei), ("action", "test")],
        )
        .await;
    assert_eq!(tried.status, 200, "{}", tried.body);
    for expected in [
        "<dt>匹配度</dt><dd>60</dd>",
        "<dt>活跃度</dt><dd>40</dd>",
        "<dt>等级</dt><dd>B</dd>",
        "软件行业",
        "试算结果未保存",
    ] {
        assert!(
            tried.body.contains(expected),
            "missing {expected}: {}",
            tried.body
        );
    }
    assert!(app.store.scoring_model(app.org).await.unwrap().is_none());

    // A bad model names the part; nothing is saved.
    let bad = MODEL.replace("\"points\": 40", "\"points\": 4000");
    let refused = b
        .submit(
            "/scoring",
            "/scoring",
            &[("model", &bad), ("action", "save")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("engagement[0].points"),
        "{}",
        refused.body
    );
    let not_json = b
        .submit(
            "/scoring",
            "/scoring",
            &[("model", "{oops"), ("action", "save")],
        )
        .await;
    assert_eq!(not_json.status, 422);
    assert!(app.store.scoring_model(app.org).await.unwrap().is_none());
    let no_contact = b
        .submit(
            "/scoring",
            "/scoring",
            &[("model", MODEL), ("contact", "王伟"), ("action", "test")],
        )
        .await;
    assert_eq!(no_contact.status, 422);

    // Saved: version 1, and the contact is scored in the background.
    let saved = b
        .submit(
            "/scoring",
            "/scoring",
            &[("model", MODEL), ("action", "save")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        app.store
            .scoring_model(app.org)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    let page = b.get("/scoring").await;
    assert!(
        page.body.contains("data-stat=\"version\">1<"),
        "{}",
        page.body
    );

    // Without the CSRF token: refused.
    let forged = b
        .post("/scoring", &[("model", MODEL), ("action", "save")])
        .await;
    assert_eq!(forged.status, 403);

    // An analyst reads the model but gets no form, and cannot post one.
    let mut analyst = Browser::new(&app);
    analyst.sign_in("ai@example.com", PASSWORD).await;
    let read = analyst.get("/scoring").await;
    assert_eq!(read.status, 200);
    assert!(read.body.contains("软件行业") && !read.body.contains("name=\"model\""));
    let csrf = common::browser::csrf_of(&analyst.get("/account/password").await.body);
    let refused = analyst
        .post(
            "/scoring",
            &[("csrf", &csrf), ("model", MODEL), ("action", "save")],
        )
        .await;
    assert_eq!(refused.status, 403);

    // English.
    b.get("/language/en").await;
    assert!(b.get("/scoring").await.body.contains("Lead scoring model"));
}
