//! The console's accounts: the list with search and paging, the account page with its contacts
//! and their timeline, escaping, and what the pool policy hides.

mod common;

use common::browser::{add_user, Browser, PASSWORD};
use common::{spawn_app, TestApp};
use hatchery_domain::access::Placement;
use hatchery_domain::{ContactId, Grant, PoolPolicy, Role};
use serde_json::json;

async fn contact_id(app: &TestApp, identity: &str) -> ContactId {
    app.contact_by(identity).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn account_of(app: &TestApp, identity: &str) -> String {
    app.contact_by(identity).await.unwrap()["account_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{identity} has an account"))
        .to_owned()
}

#[tokio::test]
async fn accounts_list_search_and_show_their_contacts_and_timeline_in_both_languages() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"w1","traits":{"email":"wei@yunqi.cn","name":"王伟","title":"CTO"}}),
        json!({"type":"group","userId":"w1","groupId":"g-yunqi","traits":{"name":"云启科技","domain":"yunqi.cn","industry":"软件"}}),
        json!({"type":"track","userId":"w1","event":"Trial Requested","timestamp":"2026-11-21T03:00:00Z"}),
        json!({"type":"identify","userId":"a1","traits":{"email":"ann@acme.com","name":"Ann Acme"}}),
        json!({"type":"group","userId":"a1","groupId":"g-acme","traits":{"name":"Acme Robotics","domain":"acme.com"}}),
    ])
    .await;
    let yunqi = account_of(&app, "email:wei@yunqi.cn").await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;

    let list = b.get("/accounts").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("云启科技") && list.body.contains("Acme Robotics"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("aria-current=\"page\">公司<"),
        "{}",
        list.body
    );
    let by_name = b.get("/accounts?q=%E4%BA%91%E5%90%AF").await.body;
    assert!(by_name.contains("云启科技") && !by_name.contains("Acme Robotics"));
    let by_domain = b.get("/accounts?q=ACME.c").await.body;
    assert!(by_domain.contains("Acme Robotics") && !by_domain.contains("云启科技"));
    assert_eq!(b.get("/accounts?cursor=ct_1").await.status, 400);

    let page = b.get(&format!("/accounts/{yunqi}")).await;
    assert_eq!(page.status, 200);
    for expected in [
        "云启科技",
        "yunqi.cn",
        "软件",
        "王伟",
        "CTO",
        "Trial Requested",
        "行为",
        "公司关联",
    ] {
        assert!(
            page.body.contains(expected),
            "missing {expected}: {}",
            page.body
        );
    }
    assert!(!page.body.contains("Ann Acme"));
    let timeline = &page.body[page.body.find("id=\"h-timeline\"").unwrap()..];
    assert!(
        timeline.find("Trial Requested").unwrap() < timeline.find("公司关联").unwrap(),
        "newest first: the action of 21 November before the group call of the 18th"
    );

    b.get("/language/en?next=/").await;
    let en = b.get(&format!("/accounts/{yunqi}")).await.body;
    assert!(
        en.contains("Recent activity") && en.contains("Action"),
        "{en}"
    );
    let en_list = b.get("/accounts").await.body;
    assert!(
        en_list.contains("Accounts") && en_list.contains("Domain"),
        "{en_list}"
    );
    assert_eq!(b.get("/accounts/acc_999999").await.status, 404);
    assert_eq!(b.get("/accounts/ct_1").await.status, 400);
}

#[tokio::test]
async fn account_and_contact_names_are_escaped() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"x1","traits":{"email":"x@example.com","name":"<script>alert(1)</script>"}}),
        json!({"type":"group","userId":"x1","groupId":"g-x","traits":{"name":"<script>alert(2)</script>","domain":"x.example"}}),
    ])
    .await;
    let acc = account_of(&app, "email:x@example.com").await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    for path in ["/accounts".to_owned(), format!("/accounts/{acc}")] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 200);
        assert!(!r.body.contains("<script>"), "{path}: {}", r.body);
        assert!(
            r.body.contains("&lt;script&gt;alert(2)")
                || r.body.contains("&#60;script&#62;alert(2)"),
            "{path}"
        );
    }
    let page = b.get(&format!("/accounts/{acc}")).await.body;
    assert!(page.contains("&lt;script&gt;alert(1)") || page.contains("&#60;script&#62;alert(1)"));
}

#[tokio::test]
async fn under_bu_isolation_an_account_shows_a_rep_only_their_units_contacts() {
    let app = spawn_app().await;
    let a = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let b_unit = app
        .store
        .create_business_unit(app.org, "华南事业部", common::START)
        .await
        .unwrap()
        .id;
    add_user(
        &app,
        "rep@example.com",
        "Rep",
        &[Grant::in_bu(Role::SalesRep, a)],
    )
    .await;
    add_user(
        &app,
        "boss@example.com",
        "Boss",
        &[Grant::org_wide(Role::SalesManager)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"a1","traits":{"email":"alice@acme.com","name":"Alice East"}}),
        json!({"type":"group","userId":"a1","groupId":"g-acme","traits":{"name":"Acme"}}),
        json!({"type":"track","userId":"a1","event":"Alice Visited"}),
        json!({"type":"identify","userId":"b1","traits":{"email":"bob@acme.com","name":"Bob South"}}),
        json!({"type":"group","userId":"b1","groupId":"g-acme"}),
        json!({"type":"track","userId":"b1","event":"Bob Visited"}),
        json!({"type":"identify","userId":"s1","traits":{"email":"sam@solo.cn","name":"Sam Solo"}}),
        json!({"type":"group","userId":"s1","groupId":"g-solo","traits":{"name":"Solo Ltd"}}),
    ])
    .await;
    let alice = contact_id(&app, "email:alice@acme.com").await;
    let bob = contact_id(&app, "email:bob@acme.com").await;
    let sam = contact_id(&app, "email:sam@solo.cn").await;
    for (c, bu) in [(alice, a), (bob, b_unit), (sam, b_unit)] {
        app.store
            .place_contact(
                app.org,
                c,
                Placement {
                    bu: Some(bu),
                    owner: None,
                },
                common::START,
            )
            .await
            .unwrap();
    }
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    let acme = account_of(&app, "email:alice@acme.com").await;
    let solo = account_of(&app, "email:sam@solo.cn").await;

    let mut rep = Browser::new(&app);
    rep.sign_in("rep@example.com", PASSWORD).await;
    let page = rep.get(&format!("/accounts/{acme}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Alice East") && page.body.contains("Alice Visited"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Bob South"), "{}", page.body);
    assert!(!page.body.contains("Bob Visited"), "{}", page.body);
    let list = rep.get("/accounts").await.body;
    assert!(
        list.contains("Acme") && !list.contains("Solo Ltd"),
        "{list}"
    );
    let refused = rep.get(&format!("/accounts/{solo}")).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("Solo Ltd"));

    let mut boss = Browser::new(&app);
    boss.sign_in("boss@example.com", PASSWORD).await;
    let all = boss.get(&format!("/accounts/{acme}")).await.body;
    assert!(all.contains("Alice East") && all.contains("Bob South") && all.contains("Bob Visited"));
    assert!(boss.get("/accounts").await.body.contains("Solo Ltd"));
}

#[tokio::test]
async fn the_account_list_pages_newest_first() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    let calls: Vec<_> = (0..51)
        .map(|i| json!({"type":"group","userId":format!("u{i}"),"groupId":format!("g{i}"),"traits":{"name":format!("Firma {i:02}")}}))
        .collect();
    app.batch(calls).await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let first = b.get("/accounts").await.body;
    assert!(
        first.contains("Firma 50") && !first.contains("Firma 00"),
        "{first}"
    );
    let at = first.find("rel=\"next\"").expect("a next page");
    let href_start = first[..at].rfind("href=\"").unwrap() + "href=\"".len();
    let href = &first[href_start..at - 2];
    let second = b.get(&href.replace("&amp;", "&")).await.body;
    assert!(
        second.contains("Firma 00") && !second.contains("Firma 50"),
        "{second}"
    );
    assert!(!second.contains("rel=\"next\""));
    assert!(
        second.contains("<a href=\"/accounts\">第一页</a>"),
        "a link back to the first page"
    );
}
