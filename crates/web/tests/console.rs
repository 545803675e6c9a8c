//! The console as a browser sees it: first-run setup, sign-in, throttling, CSRF, sign-out,
//! password change, languages, escaping, and business-unit isolation of contacts.

mod common;

use common::browser::{add_user, csrf_of, Browser, PASSWORD};
use common::{spawn_app, TestApp};
use hatchery_domain::access::Placement;
use hatchery_domain::ids::{BusinessUnitId, UserId};
use hatchery_domain::{ContactId, Grant, PoolPolicy, Role};
use serde_json::json;

async fn contact_id(app: &TestApp, identity: &str) -> ContactId {
    app.contact_by(identity).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn setup_creates_the_first_admin_and_then_is_gone() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    let r = b.get("/").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/setup"));
    let r = b.get("/sign-in").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/setup"));

    let bad = b
        .submit(
            "/setup",
            "/setup",
            &[
                ("name", "李雷"),
                ("email", "not-an-email"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("邮箱格式不正确"), "{}", bad.body);
    assert!(bad.body.contains("10 到 128"), "{}", bad.body);
    assert_eq!(app.count("users").await, 0);

    let r = b
        .submit(
            "/setup",
            "/setup",
            &[
                ("name", "李雷"),
                ("email", "Li.Lei@Example.cn"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/"), "{}", r.body);
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("李雷"));
    assert!(home.body.contains("管理员 · 全组织"), "{}", home.body);

    let user = app
        .store
        .user_by_email(app.org, "li.lei@example.cn")
        .await
        .unwrap()
        .expect("the admin exists, email normalised");
    let grants = app.store.user_grants(app.org, user.id).await.unwrap();
    assert_eq!(grants, vec![Grant::org_wide(Role::Admin)]);
    let hash = app.store.password_hash(app.org, user.id).await.unwrap();
    assert!(hash.starts_with("$argon2id$"));

    assert_eq!(b.get("/setup").await.status, 404);
    let mut other = Browser::new(&app);
    assert_eq!(other.get("/setup").await.status, 404);
    let csrf = "x".repeat(32);
    other.cookies.insert("hatchery_form".into(), csrf.clone());
    let again = other
        .post(
            "/setup",
            &[
                ("csrf", &csrf),
                ("name", "Mallory"),
                ("email", "m@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn sign_in_succeeds_with_the_right_password_and_fails_otherwise() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);

    let r = b.get("/contacts?q=a").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/sign-in?next=%2Fcontacts%3Fq%3Da");

    let shown = b.get("/sign-in?next=%2Fcontacts").await;
    let csrf = csrf_of(&shown.body);
    let wrong = b
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", "not the password"),
                ("next", "/contacts"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("邮箱或密码不正确"));
    assert!(!b.cookies.contains_key("hatchery_session"));
    let unknown = b.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, 401);

    let ok = b
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ANN@example.com"),
                ("password", PASSWORD),
                ("next", "/contacts"),
            ],
        )
        .await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/contacts"));
    let cookie = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hatchery_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "plain http on 127.0.0.1 is allowed"
    );
    let token = &b.cookies["hatchery_session"];
    assert_eq!(app.count("sessions").await, 1);
    let stored: String = match app.store.backend() {
        hatchery_store::Backend::Sqlite(p) => sqlx::query_scalar("SELECT token_hash FROM sessions")
            .fetch_one(p)
            .await
            .unwrap(),
        hatchery_store::Backend::Postgres(p) => {
            sqlx::query_scalar("SELECT token_hash FROM sessions")
                .fetch_one(p)
                .await
                .unwrap()
        }
    };
    assert!(
        !stored.contains(token.as_str()),
        "the token is stored hashed"
    );
    assert_eq!(b.get("/contacts").await.status, 200);

    // An open redirect through `next` is not possible.
    let mut c = Browser::new(&app);
    let shown = c.get("/sign-in").await;
    let csrf = csrf_of(&shown.body);
    let r = c
        .post(
            "/sign-in",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location, "/");

    // Signing out ends the session on the server too.
    let home = b.get("/").await;
    let out = b.post("/sign-out", &[("csrf", &csrf_of(&home.body))]).await;
    assert_eq!(
        (out.status, out.location.as_str()),
        (303, "/sign-in?signed_out=1")
    );
    assert_eq!(b.get("/").await.status, 303);
    assert_eq!(app.count("sessions").await, 1, "only the other browser's");
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/setup", app.addr))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let c = r.headers()["set-cookie"].to_str().unwrap();
    assert!(c.contains("; Secure") && c.contains("HttpOnly"), "{c}");
}

#[tokio::test]
async fn sign_in_is_throttled_after_five_failures() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(
            b.sign_in("ann@example.com", "wrong password!").await.status,
            401
        );
    }
    let r = b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "even the right password waits");
    assert!(r.body.contains("15 分钟"), "{}", r.body);
    assert!(app.count("login_failures").await >= 5);
    // Another account from the same address is not affected.
    add_user(
        &app,
        "bob@example.com",
        "Bob",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    assert_eq!(b.sign_in("bob@example.com", PASSWORD).await.status, 303);
    // After the window the account can sign in again.
    app.clock.advance_ms(15 * 60 * 1000 + 1);
    let mut c = Browser::new(&app);
    assert_eq!(c.sign_in("ann@example.com", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);
    // Sign-in form without its token (or without the cookie it must match).
    let r = b
        .post(
            "/sign-in",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!b.cookies.contains_key("hatchery_session"));
    assert_eq!(b.sign_in("ann@example.com", PASSWORD).await.status, 303);

    for fields in [vec![], vec![("csrf", "forged")]] {
        let mut form = fields.clone();
        form.extend([
            ("current", PASSWORD),
            ("new", "a brand new password"),
            ("confirm", "a brand new password"),
        ]);
        let r = b.post("/account/password", &form).await;
        assert_eq!(r.status, 403, "{form:?}");
        assert!(r.body.contains("表单已过期"), "{}", r.body);
        assert_eq!(b.post("/sign-out", &fields).await.status, 403);
    }
    assert_eq!(b.get("/").await.status, 200, "still signed in");
    let mut c = Browser::new(&app);
    assert_eq!(
        c.sign_in("ann@example.com", PASSWORD).await.status,
        303,
        "the password did not change"
    );
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_other_sessions() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    let mut b = Browser::new(&app);
    let mut elsewhere = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    elsewhere.sign_in("ann@example.com", PASSWORD).await;

    let new = "新的密码 new password";
    let r = b
        .submit(
            "/account/password",
            "/account/password",
            &[("current", "wrong one!!"), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("当前密码不正确"));
    let r = b
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", new),
                ("confirm", "different"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("两次输入的密码不一致"));
    let r = b
        .submit(
            "/account/password",
            "/account/password",
            &[("current", PASSWORD), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("密码已修改"));

    assert_eq!(b.get("/").await.status, 200, "this session continues");
    assert_eq!(
        elsewhere.get("/").await.status,
        303,
        "others are signed out"
    );
    let mut c = Browser::new(&app);
    assert_eq!(c.sign_in("ann@example.com", PASSWORD).await.status, 401);
    assert_eq!(c.sign_in("ann@example.com", new).await.status, 303);
}

#[tokio::test]
async fn the_language_follows_accept_language_the_switch_and_the_user() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);
    let zh = b.get("/sign-in").await;
    assert!(zh.body.contains("<html lang=\"zh-CN\">"));
    assert!(zh.body.contains("<h1>登录</h1>"));

    b.accept_language = Some("en-GB,en;q=0.9,zh;q=0.5");
    let en = b.get("/sign-in").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("<h1>Sign in</h1>"));
    assert!(en.body.contains("href=\"/language/zh-CN?next=%2Fsign-in\""));

    // One click back to Chinese, remembered in a cookie.
    let r = b.get("/language/zh-CN?next=%2Fsign-in").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/sign-in"));
    assert!(b.get("/sign-in").await.body.contains("<h1>登录</h1>"));
    assert_eq!(b.get("/language/fr").await.status, 404);

    // Signed in, the switch becomes the user's preference, which wins everywhere.
    b.sign_in("ann@example.com", PASSWORD).await;
    b.get("/language/en?next=%2F").await;
    let mut phone = Browser::new(&app);
    phone.accept_language = Some("zh-CN");
    phone.sign_in("ann@example.com", PASSWORD).await;
    let home = phone.get("/").await;
    assert!(home.body.contains("Contacts in the pool"), "{}", home.body);

    // Numbers are localised.
    let msgs: Vec<_> = (0..3)
        .map(|i| json!({"type":"track","userId":format!("u{i}"),"event":"Visited"}))
        .collect();
    app.batch(msgs).await;
    assert!(home.body.contains("data-stat=\"pool\">0<"));
    let home = phone.get("/").await;
    assert!(home.body.contains("data-stat=\"pool\">3<"), "{}", home.body);
}

#[tokio::test]
async fn values_are_escaped_everywhere() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"x1","traits":{
        "email":"x@example.com","name":"<b>Bold</b>","plan":"<script>alert(1)</script>"}}),
        json!({"type":"track","userId":"x1","event":"<img src=x onerror=alert(2)>"}),
    ])
    .await;
    let id = contact_id(&app, "email:x@example.com").await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let page = b.get(&format!("/contacts/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(!page.body.contains("<img src=x"));
    assert!(!page.body.contains("<b>Bold</b>"));
    let list = b.get("/contacts?q=%3Cb%3E").await;
    assert!(!list.body.contains("<b>Bold</b>"));
    assert!(!list.body.contains("value=\"<b>"));
}

#[tokio::test]
async fn the_contact_page_shows_identities_tags_merges_and_a_timeline_by_day() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let day1 = "2026-11-20T02:00:00Z";
    let day2 = "2026-11-21T03:00:00Z";
    app.batch(vec![
        json!({"type":"page","anonymousId":"b-1","name":"Pricing","timestamp":day1,"properties":{"url":"https://acme.cn/pricing"}}),
        json!({"type":"identify","anonymousId":"b-1","userId":"u-1","timestamp":day2,"traits":{"email":"wei@yunqi.cn","name":"王伟","company":"云启科技","industry":"软件"}}),
        json!({"type":"track","userId":"u-1","event":"Trial Requested","timestamp":day2}),
    ])
    .await;
    let id = contact_id(&app, "email:wei@yunqi.cn").await;
    // A segment of tagged contacts, ready before the tag is set, so that entering it is an event.
    let filter = hatchery_domain::segment::Filter::parse(&json!({"tag": "重点客户"})).unwrap();
    let seg = app
        .store
        .create_segment(app.org, "重点客户分群", None, &filter, common::START)
        .await
        .unwrap();
    for _ in 0..300 {
        if app.store.get_segment(app.org, seg.id).await.unwrap().status == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let tag = app
        .store
        .ensure_tag(app.org, "重点客户", None, common::START)
        .await
        .unwrap();
    app.store
        .set_tag(app.org, tag.id, &[id], true, common::START)
        .await
        .unwrap();
    for _ in 0..300 {
        if !app
            .store
            .contact_segments(app.org, id)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Scored by a model: the page shows fit, engagement, grade and why.
    let model = json!({"fit": [{"name": "软件行业", "when": {"field": "industry", "op": "eq", "value": "软件"}, "points": 60}],
        "engagement": [{"name": "Asked for a trial", "event": {"name": "Trial Requested"}, "points": 40}],
        "thresholds": [{"score": "engagement", "value": 30}]});
    app.store
        .set_scoring_model(app.org, &model, common::START)
        .await
        .unwrap();
    for _ in 0..300 {
        if app
            .store
            .contact_score(app.org, id, common::START)
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;

    let list = b.get("/contacts").await;
    assert!(list.body.contains(&format!("href=\"/contacts/{id}\"")));
    let by_tag = b
        .get("/contacts?tag=%E9%87%8D%E7%82%B9%E5%AE%A2%E6%88%B7")
        .await;
    assert!(by_tag.body.contains("王伟"));
    let other_tag = b.get("/contacts?tag=nope").await;
    assert!(!other_tag.body.contains("王伟"));
    assert!(b.get("/contacts?q=%E7%8E%8B").await.body.contains("王伟"));
    assert_eq!(b.get("/contacts?cursor=oops").await.status, 400);

    let page = b.get(&format!("/contacts/{id}")).await;
    assert_eq!(page.status, 200);
    for expected in [
        "王伟",
        "云启科技",
        "重点客户",
        "匿名浏览器 ID",
        "b-1",
        "wei@yunqi.cn",
        "2026年11月21日 星期六",
        "2026年11月20日 星期五",
        "页面浏览",
        "Pricing",
        "行为",
        "Trial Requested",
        "https://acme.cn/pricing",
        "所在分群",
        "重点客户分群",
        "评分变化（越过阈值）",
        "资料更新于",
        "活跃度 ↑ 30",
        "进入分群",
        "线索评分",
        "软件行业",
        "Asked for a trial",
        "<dt>等级</dt><dd>B</dd>",
        "<dt>活跃度</dt><dd>40</dd>",
    ] {
        assert!(
            page.body.contains(expected),
            "missing {expected}: {}",
            page.body
        );
    }
    let timeline = &page.body[page.body.find("id=\"h-timeline\"").unwrap()..];
    let day2_at = timeline.find("2026年11月21日 星期六").unwrap();
    let day1_at = timeline.find("2026年11月20日 星期五").unwrap();
    assert!(day2_at < day1_at, "newest day first");

    let only_pages = b.get(&format!("/contacts/{id}?kind=page")).await;
    assert!(only_pages.body.contains("Pricing"));
    assert!(!only_pages.body.contains("Trial Requested"));
    assert_eq!(
        b.get(&format!("/contacts/{id}?kind=nonsense")).await.status,
        400
    );
    assert_eq!(b.get("/contacts/ct_999999").await.status, 404);
    assert_eq!(b.get("/contacts/acc_1").await.status, 400);
}

#[tokio::test]
async fn under_bu_isolation_a_sales_rep_sees_only_their_units_contacts() {
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
        "admin@example.com",
        "Admin",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let rep = add_user(
        &app,
        "rep@example.com",
        "Rep",
        &[Grant::in_bu(Role::SalesRep, a)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"a1","traits":{"email":"in-a@example.com","name":"Alice A"}}),
        json!({"type":"identify","userId":"b1","traits":{"email":"in-b@example.com","name":"Bob B"}}),
        json!({"type":"identify","userId":"g1","traits":{"email":"group@example.com","name":"Gina Group"}}),
        json!({"type":"identify","userId":"o1","traits":{"email":"owned@example.com","name":"Olga Owned"}}),
    ])
    .await;
    let in_a = contact_id(&app, "email:in-a@example.com").await;
    let in_b = contact_id(&app, "email:in-b@example.com").await;
    let group = contact_id(&app, "email:group@example.com").await;
    let owned = contact_id(&app, "email:owned@example.com").await;
    let place = |bu: Option<BusinessUnitId>, owner: Option<UserId>| Placement { bu, owner };
    app.store
        .place_contact(app.org, in_a, place(Some(a), None), common::START)
        .await
        .unwrap();
    app.store
        .place_contact(app.org, in_b, place(Some(b_unit), None), common::START)
        .await
        .unwrap();
    app.store
        .place_contact(
            app.org,
            owned,
            place(Some(b_unit), Some(rep)),
            common::START,
        )
        .await
        .unwrap();

    let mut rep_browser = Browser::new(&app);
    rep_browser.sign_in("rep@example.com", PASSWORD).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin@example.com", PASSWORD).await;

    // Shared pool (the default): everyone who reads contacts reads them all.
    assert_eq!(
        rep_browser.get(&format!("/contacts/{in_b}")).await.status,
        200
    );

    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    let refused = rep_browser.get(&format!("/contacts/{in_b}")).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("无权访问"), "{}", refused.body);
    assert!(!refused.body.contains("Bob B"));
    assert_eq!(
        rep_browser.get(&format!("/contacts/{group}")).await.status,
        403
    );
    assert_eq!(
        rep_browser.get(&format!("/contacts/{in_a}")).await.status,
        200
    );
    assert_eq!(
        rep_browser.get(&format!("/contacts/{owned}")).await.status,
        200
    );
    let list = rep_browser.get("/contacts").await.body;
    assert!(
        list.contains("Alice A") && list.contains("Olga Owned"),
        "{list}"
    );
    assert!(
        !list.contains("Bob B") && !list.contains("Gina Group"),
        "{list}"
    );
    let searched = rep_browser.get("/contacts?q=b").await.body;
    assert!(
        !searched.contains("Bob B"),
        "search respects the policy too"
    );
    let home = rep_browser.get("/").await.body;
    assert!(
        home.contains("data-stat=\"pool\">4<") && home.contains("data-stat=\"visible\">2<"),
        "{home}"
    );
    assert!(home.contains("销售代表 · 华东事业部"), "{home}");

    for id in [in_a, in_b, group, owned] {
        assert_eq!(admin.get(&format!("/contacts/{id}")).await.status, 200);
    }
    let list = admin.get("/contacts").await.body;
    assert!(list.contains("Bob B") && list.contains("Gina Group"));

    // API keys stay org-wide.
    let (s, v) = app.get(&format!("/api/v1/contacts/{in_b}")).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Bob B")));
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/static/console.css", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(r.text().await.unwrap().contains("@media"));
}

#[tokio::test]
async fn pages_forbid_scripts_framing_and_caching() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let r = b
        .client
        .get(format!("{}/contacts", app.addr))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "only the console's own script files may run: {csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn expired_sessions_sign_the_user_out() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(b.get("/").await.status, 200);
    app.clock.advance_ms(12 * 3600 * 1000 + 1);
    let r = b.get("/").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/sign-in?next=%2F"));
    let mut c = Browser::new(&app);
    c.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(
        app.count("sessions").await,
        1,
        "the expired session was removed"
    );
}

#[tokio::test]
async fn the_home_page_charts_new_contacts_and_events_per_day_and_top_sources() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳"}}),
        json!({"type":"track","userId":"2","event":"Demo Requested"}),
    ])
    .await;
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    let body = &home.body;
    for expected in [
        "近 30 天每日新增联系人 · 合计 2",
        "近 30 天每日接收事件 · 合计 3",
        "<svg",
        "近 30 天新增联系人来源 Top 5",
        "<li>Website <strong>2</strong></li>",
    ] {
        assert!(body.contains(expected), "missing {expected}: {body}");
    }
    // Today's bar is the last and the tallest; the 29 days before it are empty.
    let contacts = &body[body.find("id=\"chart-contacts\"").unwrap()..];
    let contacts = &contacts[..contacts.find("</figure>").unwrap()];
    assert_eq!(contacts.matches("<rect").count(), 30);
    assert_eq!(contacts.matches("height=\"0\"").count(), 29);
    assert!(contacts.contains("height=\"100\""));
    let en = b.get("/language/en").await;
    assert!(en.status == 303 || en.status == 200, "{}", en.status);
    let home = b.get("/").await;
    assert!(home
        .body
        .contains("New contacts per day, last 30 days · Total 2"));
}

#[tokio::test]
async fn the_contact_list_filters_by_business_unit_and_owner() {
    let app = spawn_app().await;
    let rep = add_user(
        &app,
        "rep@example.com",
        "Rep",
        &[Grant::org_wide(Role::SalesRep)],
    )
    .await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    let east = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"李娜"}}),
    ])
    .await;
    let id: ContactId = app.contact_by("user_id:1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.store
        .place_contact(
            app.org,
            id,
            Placement {
                bu: Some(east),
                owner: Some(rep),
            },
            common::START,
        )
        .await
        .unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    for q in [format!("bu={east}"), format!("owner={rep}")] {
        let page = b.get(&format!("/contacts?{q}")).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("王伟") && !page.body.contains("李娜"),
            "{q}: {}",
            page.body
        );
    }
    assert!(b.get("/contacts").await.body.contains("李娜"));
    assert_eq!(b.get("/contacts?bu=nope").await.status, 400);
    let (_, v) = app
        .get(&format!(
            "/api/v1/contacts?business_unit={east}&owner={rep}"
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    let (s, v) = app.get("/api/v1/contacts?owner=nobody").await;
    assert_eq!(
        (s, v["error"]["details"]["field"].clone()),
        (422, json!("owner")),
        "{v}"
    );
}

#[tokio::test]
async fn the_contact_list_sorts_by_name_and_age_with_keyset_pages() {
    let app = spawn_app().await;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"Zoe"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"adam"}}),
        json!({"type":"page","anonymousId":"b-1","name":"Home"}),
        json!({"type":"identify","userId":"3","traits":{"name":"Mia"}}),
    ])
    .await;
    // By API, one per page: named contacts A→Z (case aside), then the unnamed one.
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..6 {
        let url = match &cursor {
            None => "/api/v1/contacts?sort=name&limit=1".to_owned(),
            Some(c) => format!(
                "/api/v1/contacts?sort=name&limit=1&cursor={}",
                common::urlencode(c)
            ),
        };
        let (s, v) = app.get(&url).await;
        assert_eq!(s, 200, "{v}");
        names.push(v["data"][0]["name"].as_str().unwrap_or("—").to_owned());
        cursor = v["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(names, ["adam", "Mia", "Zoe", "—"]);
    let (_, v) = app.get("/api/v1/contacts?sort=oldest&limit=2").await;
    let oldest: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("—"))
        .collect();
    assert_eq!(oldest, ["Zoe", "adam"], "{v}");
    for (q, field) in [
        ("sort=size", "sort"),
        ("sort=name&q=a", "sort"),
        ("sort=name&cursor=o:1", "cursor"),
    ] {
        let (s, v) = app.get(&format!("/api/v1/contacts?{q}")).await;
        assert_eq!(
            (s, v["error"]["details"]["field"].clone()),
            (422, json!(field)),
            "{q}: {v}"
        );
    }
    // In the console, the column headers sort.
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let page = b.get("/contacts?sort=name").await.body;
    let (a, m, z) = (
        page.find(">adam<").unwrap(),
        page.find(">Mia<").unwrap(),
        page.find(">Zoe<").unwrap(),
    );
    assert!(a < m && m < z, "{page}");
    assert!(page.contains("aria-sort=\"ascending\""), "{page}");
    let newest = b.get("/contacts").await.body;
    assert!(newest.find(">Mia<").unwrap() < newest.find(">Zoe<").unwrap());
    assert!(
        newest.contains("href=\"/contacts?sort=oldest\""),
        "{newest}"
    );
    assert_eq!(b.get("/contacts?sort=size").await.status, 400);
}

#[tokio::test]
async fn ticked_contacts_are_tagged_in_bulk_within_the_users_reach() {
    let app = spawn_app().await;
    let east = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let west = app
        .store
        .create_business_unit(app.org, "西部事业部", common::START)
        .await
        .unwrap()
        .id;
    add_user(
        &app,
        "ann@example.com",
        "Ann",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    add_user(
        &app,
        "rep@example.com",
        "Rep",
        &[Grant::in_bu(Role::SalesRep, east)],
    )
    .await;
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"李娜"}}),
        json!({"type":"identify","userId":"3","traits":{"name":"张敏"}}),
    ])
    .await;
    let mut ids = Vec::new();
    for (u, bu) in [("1", east), ("2", east), ("3", west)] {
        let id: ContactId = app.contact_by(&format!("user_id:{u}")).await.unwrap()["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        app.store
            .place_contact(
                app.org,
                id,
                Placement {
                    bu: Some(bu),
                    owner: None,
                },
                common::START,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let tags_of = |id: ContactId| {
        let app = &app;
        async move { app.store.contact_tags(app.org, id).await.unwrap() }
    };
    let mut b = Browser::new(&app);
    b.sign_in("ann@example.com", PASSWORD).await;
    let list = b.get("/contacts").await.body;
    assert!(list.contains(&format!("name=\"c_{}\"", ids[0].0)), "{list}");
    let (c0, c1) = (format!("c_{}", ids[0].0), format!("c_{}", ids[1].0));
    let done = b
        .submit(
            "/contacts",
            "/contacts/tags",
            &[
                ("tag", "重点跟进"),
                ("action", "add"),
                (&c0, "on"),
                (&c1, "on"),
                ("back", "/contacts?sort=name"),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/contacts?sort=name"),
        "{}",
        done.body
    );
    assert_eq!(tags_of(ids[0]).await, ["重点跟进"]);
    assert_eq!(tags_of(ids[1]).await, ["重点跟进"]);
    assert!(tags_of(ids[2]).await.is_empty());
    let removed = b
        .submit(
            "/contacts",
            "/contacts/tags",
            &[("tag", "重点跟进"), ("action", "remove"), (&c1, "on")],
        )
        .await;
    assert_eq!(removed.status, 303);
    assert!(tags_of(ids[1]).await.is_empty());
    let none = b
        .submit(
            "/contacts",
            "/contacts/tags",
            &[("tag", "x"), ("action", "add")],
        )
        .await;
    assert_eq!(none.status, 400);

    // A rep of 华东 cannot tag a contact of 西部, even by naming it: nothing is written.
    let mut rep = Browser::new(&app);
    rep.sign_in("rep@example.com", PASSWORD).await;
    let c2 = format!("c_{}", ids[2].0);
    let refused = rep
        .submit(
            "/contacts",
            "/contacts/tags",
            &[("tag", "越权"), ("action", "add"), (&c0, "on"), (&c2, "on")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(tags_of(ids[2]).await.is_empty() && tags_of(ids[0]).await == ["重点跟进"]);
}
