//! Tag categories: the API puts tags in categories, the console's Tags page groups tags by
//! category with their contact counts and lets writers create and re-categorise tags, and a
//! contact's page shows each tag's category.

mod common;

use common::browser::{add_user, csrf_of, Browser, PASSWORD};
use common::spawn_app;
use hatchery_domain::{Grant, Role};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn tags_are_grouped_by_category_and_recategorised() {
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
        json!({"type":"identify","userId":"1","traits":{"name":"王伟"}}),
    ])
    .await;
    let wei = app.contact_by("user_id:1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids": [wei], "add": ["软件", "预算充足"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, tags) = app.get("/api/v1/tags").await;
    let id_of = |name: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (software, budget) = (id_of("软件"), id_of("预算充足"));

    // The API: a category, a too-long one refused, an unknown tag 404.
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tags/{software}"),
            json!({"category": "industry"}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tags/{software}"),
            json!({"category": "x".repeat(65)}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("category")),
        "{v}"
    );
    let (s, _) = app
        .send(
            Method::PATCH,
            "/api/v1/tags/999999",
            json!({"category": "need"}),
        )
        .await;
    assert_eq!(s, 404);
    let (_, tags) = app.get("/api/v1/tags").await;
    let software_tag = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "软件")
        .unwrap();
    assert_eq!(software_tag["category"], "industry", "{tags}");
    assert_eq!(software_tag["contacts"], 1, "{tags}");

    // The console: grouped by category, re-categorised by a writer.
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let page = b.get("/tags").await;
    assert_eq!(page.status, 200);
    let industry = page.body.find("<h2>行业</h2>").expect("an industry group");
    let none = page
        .body
        .find("<h2>未分类</h2>")
        .expect("an uncategorised group");
    assert!(industry < none, "suggested categories come first");
    assert!(page.body[none..].contains("预算充足"), "{}", page.body);
    let moved = b
        .submit(
            "/tags",
            &format!("/tags/{budget}/category"),
            &[("category", "need")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let created = b
        .submit(
            "/tags",
            "/tags",
            &[("name", "采购决策人"), ("category", "role")],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let bad = b
        .submit("/tags", "/tags", &[("name", ""), ("category", "role")])
        .await;
    assert_eq!(bad.status, 422);
    let page = b.get("/tags").await.body;
    for expected in ["<h2>需求</h2>", "<h2>角色</h2>", "采购决策人"] {
        assert!(page.contains(expected), "missing {expected}: {page}");
    }
    assert!(!page.contains("<h2>未分类</h2>"), "{page}");
    let contact = b.get(&format!("/contacts/{wei}")).await.body;
    assert!(
        contact.contains("<li>软件 <small>行业</small></li>"),
        "{contact}"
    );

    // Readers see the page without forms and cannot post.
    let mut analyst = Browser::new(&app);
    analyst.sign_in("ai@example.com", PASSWORD).await;
    assert!(!analyst
        .get("/tags")
        .await
        .body
        .contains("name=\"category\""));
    let csrf = csrf_of(&analyst.get("/account/password").await.body);
    let refused = analyst
        .post(
            &format!("/tags/{software}/category"),
            &[("csrf", &csrf), ("category", "value")],
        )
        .await;
    assert_eq!(refused.status, 403);

    b.get("/language/en").await;
    assert!(b.get("/tags").await.body.contains("<h2>Industry</h2>"));
}

#[tokio::test]
async fn tag_rules_keep_their_tags_current() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","company_size":"5000+"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"李娜","company_size":"1-49"}}),
    ])
    .await;
    let contact = |u: &'static str| {
        let app = &app;
        async move {
            let id = app.contact_by(&format!("user_id:{u}")).await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.get(&format!("/api/v1/contacts/{id}")).await.1
        }
    };
    // Bad rules are refused naming the part.
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/tag-rules",
            json!({"model": {"rules": [{"tag": "KA", "when": {"tag": "KA"}}]}}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("model.rules[0].when")),
        "{v}"
    );
    let (s, v) = app
        .send(
            Method::PUT,
            "/api/v1/tag-rules",
            json!({"model": {"rules": [{"tag": "大客户", "category": "value",
                "when": {"field": "company_size", "op": "eq", "value": "5000+"}}]}}),
        )
        .await;
    assert_eq!((s, v["version"].clone()), (200, json!(1)), "{v}");
    common::eventually("王伟 carries the rule's tag", || async {
        contact("1").await["tags"] == json!(["大客户"])
    })
    .await;
    assert_eq!(contact("2").await["tags"], json!([]));
    let (_, tags) = app.get("/api/v1/tags").await;
    assert_eq!(tags[0]["category"], "value", "{tags}");
    // The profile changes: the tag follows.
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"company_size":"200-499"}}),
        json!({"type":"identify","userId":"2","traits":{"company_size":"5000+"}}),
    ])
    .await;
    common::eventually("the tag moved from 王伟 to 李娜", || async {
        contact("1").await["tags"] == json!([]) && contact("2").await["tags"] == json!(["大客户"])
    })
    .await;
    // The console shows the rule in words and its JSON to writers.
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let page = b.get("/tags").await.body;
    assert!(
        page.contains("data-rule=\"大客户\"") && page.contains("name=\"model\""),
        "{page}"
    );
    let bad = b
        .submit(
            "/tags",
            "/tags/rules",
            &[("model", "{\"rules\": [{\"tag\": \"x\"}]}")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("rules[0].when"), "{}", bad.body);
}
