//! The console's Lifecycle page and a contact's stage on its 360° page: the default model is
//! offered until saved, a bad model is refused naming the part, saving places contacts in the
//! background and draws the funnel, a writer moves a contact by hand along the allowed
//! transitions with a reason (escaped), and readers get no forms and cannot post them.

mod common;

use common::browser::{add_user, csrf_of, Browser, PASSWORD};
use common::{eventually, spawn_app};
use hatchery_domain::lifecycle::Lifecycle;
use hatchery_domain::{Grant, Role};
use serde_json::json;

#[tokio::test]
async fn stages_are_configured_drawn_and_moved_by_hand_in_the_console() {
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
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","email":"wei@example.cn"}}),
    ])
    .await;
    let wei = app.contact_by("user_id:1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;

    // Off: the default stages are offered, and the contact page has no stage section yet.
    let page = b.get("/lifecycle").await;
    assert_eq!(page.status, 200);
    for expected in [
        "生命周期阶段",
        "市场认可线索",
        "尚未启用",
        "<svg",
        "name=\"model\"",
    ] {
        assert!(
            page.body.contains(expected),
            "missing {expected}: {}",
            page.body
        );
    }
    assert!(!b
        .get(&format!("/contacts/{wei}"))
        .await
        .body
        .contains("data-stage"));

    // A model whose automatic moves loop is refused; nothing is saved.
    let looping = json!({"stages": [
        {"key": "a", "name": "A", "entry": {"tag": "x"}, "next": ["b"]},
        {"key": "b", "name": "B", "entry": {"tag": "y"}, "next": ["a"]}
    ]})
    .to_string();
    let refused = b
        .submit(
            "/lifecycle",
            "/lifecycle",
            &[("model", &looping), ("action", "save")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("a → b → a"), "{}", refused.body);
    assert!(app.store.lifecycle(app.org).await.unwrap().is_none());

    // Saved: 王伟 (name and email) becomes a lead in the background; the funnel counts him.
    let model = Lifecycle::default_json().to_string();
    let saved = b
        .submit(
            "/lifecycle",
            "/lifecycle",
            &[("model", &model), ("action", "save")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    eventually("王伟 is a lead", || async {
        app.get(&format!("/api/v1/contacts/{wei}/stage")).await.1["stage"] == "lead"
    })
    .await;
    assert!(b
        .get(&format!("/contacts/{wei}"))
        .await
        .body
        .contains("<strong>线索</strong>"));
    let page = b.get("/lifecycle").await;
    assert!(
        page.body.contains("data-stat=\"enabled\">已启用<"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<tspan font-weight=\"bold\">1</tspan>"),
        "{}",
        page.body
    );

    // By hand, with a reason that is shown escaped.
    let moved = b
        .submit(
            &format!("/contacts/{wei}"),
            &format!("/contacts/{wei}/stage"),
            &[("stage", "sql"), ("reason", "<script>电话确认</script>")],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.body);
    let shown = b.get(&format!("/contacts/{wei}")).await.body;
    assert!(shown.contains("<strong>销售接受线索</strong>"), "{shown}");
    assert!(shown.contains("&#60;script&#62;电话确认"), "{shown}");
    assert!(!shown.contains("<script>电话确认"), "{shown}");
    assert!(
        shown.contains("人工") && shown.contains("规则自动"),
        "{shown}"
    );
    let list = b.get("/contacts?stage=sql").await.body;
    assert!(
        list.contains("王伟") && list.contains("<option value=\"sql\" selected>"),
        "{list}"
    );
    assert!(!b.get("/contacts?stage=lead").await.body.contains("王伟"));
    // A move the model does not allow is refused with the allowed stages.
    let back = b
        .submit(
            &format!("/contacts/{wei}"),
            &format!("/contacts/{wei}/stage"),
            &[("stage", "lead")],
        )
        .await;
    assert_eq!(back.status, 400, "{}", back.body);
    assert!(back.body.contains("allowed: opportunity"), "{}", back.body);

    // An analyst reads but has no forms and cannot post them.
    let mut analyst = Browser::new(&app);
    analyst.sign_in("ai@example.com", PASSWORD).await;
    let read = analyst.get("/lifecycle").await;
    assert_eq!(read.status, 200);
    assert!(!read.body.contains("name=\"model\""));
    let contact = analyst.get(&format!("/contacts/{wei}")).await.body;
    assert!(
        contact.contains("data-stage") && !contact.contains("name=\"stage\""),
        "{contact}"
    );
    let csrf = csrf_of(&analyst.get("/account/password").await.body);
    for (path, form) in [
        (
            "/lifecycle".to_owned(),
            vec![("csrf", csrf.as_str()), ("action", "disable")],
        ),
        (
            format!("/contacts/{wei}/stage"),
            vec![("csrf", csrf.as_str()), ("stage", "opportunity")],
        ),
    ] {
        assert_eq!(analyst.post(&path, &form).await.status, 403, "{path}");
    }
    assert!(app.store.lifecycle(app.org).await.unwrap().is_some());

    // Without the CSRF token: refused.
    assert_eq!(
        b.post("/lifecycle", &[("action", "disable")]).await.status,
        403
    );

    // English, then switched off.
    b.get("/language/en").await;
    let en = b.get("/lifecycle").await;
    assert!(
        en.body.contains("Lifecycle stages") && en.body.contains("Subscriber"),
        "{}",
        en.body
    );
    let off = b
        .submit("/lifecycle", "/lifecycle", &[("action", "disable")])
        .await;
    assert_eq!(off.status, 303);
    assert!(app.store.lifecycle(app.org).await.unwrap().is_none());
}

#[tokio::test]
async fn tiers_are_configured_and_shown_in_the_console() {
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
        json!({"type":"identify","userId":"a","traits":{"name":"陈静","company_size":"5000+"}}),
        json!({"type":"identify","userId":"b","traits":{"name":"B","referred_by":"a"}}),
    ])
    .await;
    let a = app.contact_by("user_id:a").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let page = b.get("/tiers").await;
    assert_eq!(page.status, 200);
    for expected in [
        "客户分层",
        "标杆客户",
        "增值客户",
        "大客户（KA）",
        "尚未启用",
        "name=\"model\"",
    ] {
        assert!(
            page.body.contains(expected),
            "missing {expected}: {}",
            page.body
        );
    }
    let refused = b
        .submit(
            "/tiers",
            "/tiers",
            &[("model", "{\"dimensions\": []}"), ("action", "save")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("dimensions"), "{}", refused.body);
    let saved = b
        .submit(
            "/tiers",
            "/tiers",
            &[
                (
                    "model",
                    &hatchery_domain::tiers::TierModel::default_json().to_string(),
                ),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    eventually("陈静 is classified", || async {
        app.get(&format!("/api/v1/contacts/{a}")).await.1["tiers"]
            .as_array()
            .is_some_and(|t| t.len() == 2)
    })
    .await;
    let page = b.get("/tiers").await;
    assert!(
        page.body.contains("data-tier=\"size:ka\">1<"),
        "{}",
        page.body
    );
    let shown = b.get(&format!("/contacts/{a}")).await.body;
    assert!(
        shown.contains("大客户（KA）") && shown.contains("<strong data-referrals>1</strong>"),
        "{shown}"
    );

    // Readers get no form and cannot post one.
    let mut analyst = Browser::new(&app);
    analyst.sign_in("ai@example.com", PASSWORD).await;
    assert!(!analyst.get("/tiers").await.body.contains("name=\"model\""));
    let csrf = csrf_of(&analyst.get("/account/password").await.body);
    assert_eq!(
        analyst
            .post("/tiers", &[("csrf", &csrf), ("action", "disable")])
            .await
            .status,
        403
    );
    let off = b.submit("/tiers", "/tiers", &[("action", "disable")]).await;
    assert_eq!(off.status, 303);
    assert!(app.store.tier_model(app.org).await.unwrap().is_none());
}
