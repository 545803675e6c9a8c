//! Administering users in the console — disabling and enabling them, resetting a password — each
//! user's time zone, and deleting custom field definitions.

mod common;

use common::browser::{add_user, Browser, PASSWORD};
use common::{spawn_app, TestApp, START};
use hatchery_domain::ids::UserId;
use hatchery_domain::{Grant, Role};
use hatchery_store::StoreError;
use serde_json::json;

async fn signed_in(app: &TestApp, email: &str) -> Browser {
    let mut b = Browser::new(app);
    let r = b.sign_in(email, PASSWORD).await;
    assert_eq!(r.status, 303, "{email}: {}", r.body);
    b
}

/// An administrator (signed in) and a sales rep (signed in in another browser).
async fn admin_and_rep(app: &TestApp) -> (Browser, UserId, Browser, UserId) {
    let admin = add_user(
        app,
        "admin@example.com",
        "Admin",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let rep = add_user(
        app,
        "rep@example.com",
        "王芳",
        &[Grant::org_wide(Role::SalesRep)],
    )
    .await;
    (
        signed_in(app, "admin@example.com").await,
        admin,
        signed_in(app, "rep@example.com").await,
        rep,
    )
}

async fn sessions_of(app: &TestApp, user: UserId) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM sessions WHERE user_id = {}", user.0);
    match app.store.backend() {
        hatchery_store::Backend::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await.unwrap(),
        hatchery_store::Backend::Postgres(p) => {
            sqlx::query_scalar(&sql).fetch_one(p).await.unwrap()
        }
    }
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_once_and_cannot_sign_in_until_enabled() {
    let app = spawn_app().await;
    let (mut admin, _, mut rep, rep_id) = admin_and_rep(&app).await;
    assert_eq!(rep.get("/").await.status, 200);

    let users = admin.get("/settings/users").await.body;
    let disable = format!("/settings/users/{rep_id}/disable");
    assert!(users.contains(&format!("href=\"{disable}\"")), "{users}");
    let confirm = admin.get(&disable).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("停用用户") && confirm.body.contains("rep@example.com"));
    assert!(confirm.body.contains(&format!("action=\"{disable}\"")));
    let r = admin.submit(&disable, &disable, &[]).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=disabled")
    );
    assert_eq!(sessions_of(&app, rep_id).await, 0);
    let page = admin.get("/settings/users?done=disabled").await.body;
    assert!(page.contains("用户已停用，其所有登录已结束。"));
    assert!(page.contains(&format!("action=\"/settings/users/{rep_id}/enable\"")));

    // The rep's open browser is signed out.
    let r = rep.get("/contacts").await;
    assert_eq!(r.status, 303);
    assert!(r.location.starts_with("/sign-in"), "{}", r.location);
    // The right password is told why; a wrong one learns nothing new.
    let r = Browser::new(&app)
        .sign_in("rep@example.com", PASSWORD)
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("此账号已被停用"), "{}", r.body);
    assert!(!r
        .set_cookies
        .iter()
        .any(|c| c.starts_with("hatchery_session=")));
    let mut en = Browser::new(&app);
    en.accept_language = Some("en");
    let r = en.sign_in("rep@example.com", PASSWORD).await;
    assert!(
        r.body.contains("This account has been disabled"),
        "{}",
        r.body
    );
    let r = Browser::new(&app)
        .sign_in("rep@example.com", "not the password")
        .await;
    assert_eq!(r.status, 401);
    assert!(!r.body.contains("停用"));

    let enable = format!("/settings/users/{rep_id}/enable");
    let r = admin.submit("/settings/users", &enable, &[]).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=enabled")
    );
    let mut rep = signed_in(&app, "rep@example.com").await;
    assert_eq!(rep.get("/contacts").await.status, 200);

    // Unknown users are 404s, and nothing is written.
    let r = admin
        .submit("/settings/users", "/settings/users/usr_999999/disable", &[])
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn the_last_enabled_administrator_stays_and_no_one_disables_themselves() {
    let app = spawn_app().await;
    let (mut admin, admin_id, _, _) = admin_and_rep(&app).await;
    let other = add_user(
        &app,
        "second@example.com",
        "Second",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;

    // Oneself: refused with a reason, from the page and from the form.
    let own = format!("/settings/users/{admin_id}/disable");
    let r = admin.get(&own).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("不能停用您自己的账号"), "{}", r.body);
    let r = admin.submit("/settings/users", &own, &[]).await;
    assert_eq!(r.status, 422);
    assert_eq!(admin.get("/").await.status, 200, "still signed in");

    // With the second administrator disabled, the first is the last enabled one: they may not
    // give up the role, and the store refuses to disable them.
    let path = format!("/settings/users/{other}/disable");
    assert_eq!(admin.submit(&path, &path, &[]).await.status, 303);
    let admin_str = admin_id.to_string();
    let r = admin
        .submit(
            "/settings/users",
            "/settings/users/revoke",
            &[("user", &admin_str), ("role", "admin"), ("bu", "org")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("最后一位"), "{}", r.body);
    match app.store.disable_user(app.org, admin_id, START).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("last enabled"), "{m}"),
        other => panic!("disabling the last enabled administrator: {other:?}"),
    }
    assert!(app
        .store
        .get_user(app.org, admin_id)
        .await
        .unwrap()
        .disabled_at
        .is_none());
    assert_eq!(sessions_of(&app, admin_id).await, 1, "no session was ended");
    // Enabled again, the second administrator may be the one left.
    let enable = format!("/settings/users/{other}/enable");
    assert_eq!(
        admin.submit("/settings/users", &enable, &[]).await.status,
        303
    );
    assert_eq!(
        app.store
            .disable_user(app.org, admin_id, START)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_admin_resets_another_users_password_which_ends_their_sessions() {
    let app = spawn_app().await;
    let (mut admin, admin_id, mut rep, rep_id) = admin_and_rep(&app).await;
    let path = format!("/settings/users/{rep_id}/password");
    let page = admin.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("重置密码") && page.body.contains("rep@example.com"));

    for (new, confirm, says) in [
        ("short", "short", "10 到 128"),
        (
            "a new long secret",
            "another long secret",
            "两次输入的密码不一致",
        ),
    ] {
        let r = admin
            .submit(&path, &path, &[("new", new), ("confirm", confirm)])
            .await;
        assert_eq!(r.status, 422, "{new}");
        assert!(r.body.contains(says), "{new}: {}", r.body);
    }
    // Nothing was written: the rep is still signed in with the old password.
    assert_eq!(rep.get("/").await.status, 200);

    let r = admin
        .submit(
            &path,
            &path,
            &[
                ("new", "a new long secret"),
                ("confirm", "a new long secret"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=password")
    );
    assert_eq!(rep.get("/").await.status, 303, "the rep's session ended");
    assert_eq!(
        Browser::new(&app)
            .sign_in("rep@example.com", PASSWORD)
            .await
            .status,
        401
    );
    let mut fresh = Browser::new(&app);
    assert_eq!(
        fresh
            .sign_in("rep@example.com", "a new long secret")
            .await
            .status,
        303
    );

    // Not on oneself: that is My account's job, which asks for the current password.
    let own = format!("/settings/users/{admin_id}/password");
    let r = admin.get(&own).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("我的账号"), "{}", r.body);
    let r = admin
        .submit(
            "/settings/users",
            &own,
            &[
                ("new", "a new long secret"),
                ("confirm", "a new long secret"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        Browser::new(&app)
            .sign_in("admin@example.com", PASSWORD)
            .await
            .status,
        303,
        "the administrator's password is unchanged"
    );
}

#[tokio::test]
async fn times_are_shown_in_the_time_zone_each_user_chose() {
    let app = spawn_app().await;
    add_user(
        &app,
        "analyst@example.com",
        "Ana",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    // 2026-11-18 17:06:40 UTC: already the 19th in Shanghai, still the 18th in New York.
    app.clock.advance_ms(6 * 3600 * 1000);
    app.batch(vec![
        json!({"type":"identify","userId":"u1","traits":{"name":"Zoe"}}),
    ])
    .await;
    let id = app.contact_by("user_id:u1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = signed_in(&app, "analyst@example.com").await;
    let page = b.get(&format!("/contacts/{id}")).await.body;
    assert!(page.contains("2026年11月19日 01:06"), "{page}");
    assert!(
        page.contains("2026年11月19日 星期四"),
        "timeline day: {page}"
    );
    let account = b.get("/account/password").await.body;
    assert!(
        account.contains("<option value=\"Asia/Shanghai\" selected>Asia/Shanghai (UTC+08:00)"),
        "{account}"
    );
    for zone in [
        "Asia/Hong_Kong",
        "Asia/Singapore",
        "Asia/Tokyo",
        "Europe/London",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
        "UTC",
    ] {
        assert!(
            account.contains(&format!("<option value=\"{zone}\"")),
            "{zone}"
        );
    }
    assert!(b.get("/").await.body.contains("data-note=\"utc-days\""));

    // Not one of the offered zones: shown again with the reason, nothing saved.
    for bad in ["Mars/Olympus", "", "asia/tokyo"] {
        let r = b
            .submit(
                "/account/password",
                "/account/time-zone",
                &[("time_zone", bad)],
            )
            .await;
        assert_eq!(r.status, 422, "{bad}");
        assert!(r.body.contains("请从列表中选择一个时区"), "{}", r.body);
    }
    assert!(b
        .get(&format!("/contacts/{id}"))
        .await
        .body
        .contains("2026年11月19日 01:06"));

    let r = b
        .submit(
            "/account/password",
            "/account/time-zone",
            &[("time_zone", "America/New_York")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/account/password?done=time_zone")
    );
    let account = b.get("/account/password?done=time_zone").await.body;
    assert!(account.contains("时区已保存"));
    assert!(account.contains("<option value=\"America/New_York\" selected>"));
    let page = b.get(&format!("/contacts/{id}")).await.body;
    assert!(page.contains("2026年11月18日 12:06"), "{page}");
    assert!(
        page.contains("2026年11月18日 星期三"),
        "timeline day: {page}"
    );
    assert!(!page.contains("2026年11月19日"), "{page}");

    // Another user keeps the default zone.
    add_user(
        &app,
        "other@example.com",
        "Other",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    let mut other = signed_in(&app, "other@example.com").await;
    assert!(other
        .get(&format!("/contacts/{id}"))
        .await
        .body
        .contains("2026年11月19日 01:06"));

    // In UTC the per-day charts need no note.
    b.submit(
        "/account/password",
        "/account/time-zone",
        &[("time_zone", "UTC")],
    )
    .await;
    let home = b.get("/").await.body;
    assert!(!home.contains("data-note=\"utc-days\""), "{home}");
    assert!(b
        .get(&format!("/contacts/{id}"))
        .await
        .body
        .contains("2026年11月18日 17:06"));
}

#[tokio::test]
async fn an_admin_deletes_a_custom_field_after_confirming() {
    let app = spawn_app().await;
    let (mut admin, _, _, _) = admin_and_rep(&app).await;
    let r = admin
        .submit(
            "/settings/fields",
            "/settings/fields",
            &[
                ("key", "budget"),
                ("label", "预算"),
                ("field_type", "number"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let list = admin.get("/settings/fields").await.body;
    let at = list.find("data-field=\"").unwrap() + "data-field=\"".len();
    let id = &list[at..at + list[at..].find('"').unwrap()];
    let path = format!("/settings/fields/{id}/delete");
    assert!(list.contains(&format!("href=\"{path}\"")));

    let confirm = admin.get(&path).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("删除自定义字段") && confirm.body.contains("budget"));
    // Viewing the confirmation deletes nothing.
    assert_eq!(app.count("custom_fields").await, 1);
    let r = admin.submit(&path, &path, &[]).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/fields?done=deleted")
    );
    assert_eq!(app.count("custom_fields").await, 0);
    let list = admin.get("/settings/fields?done=deleted").await.body;
    assert!(list.contains("自定义字段已删除"));
    assert!(!list.contains("<code>budget</code>"));
    // Gone: both the page and the form answer 404.
    assert_eq!(admin.get(&path).await.status, 404);
    assert_eq!(
        admin.submit("/settings/fields", &path, &[]).await.status,
        404
    );
    // The key is free again.
    let r = admin
        .submit(
            "/settings/fields",
            "/settings/fields",
            &[
                ("key", "budget"),
                ("label", "Budget"),
                ("field_type", "text"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
}
