//! The console's settings as an administrator uses them — API keys, tracking sources — and as
//! everyone else is refused them.

mod common;

use common::browser::{add_user, csrf_of, Browser, PASSWORD};
use common::{spawn_app, spawn_app_with_intake_log, TestApp, START};
use hatchery_domain::{Grant, Role};
use serde_json::json;

async fn admin_browser(app: &TestApp) -> Browser {
    add_user(
        app,
        "admin@example.com",
        "Admin",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;
    let mut b = Browser::new(app);
    let r = b.sign_in("admin@example.com", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// The text of the element carrying `data-secret`, i.e. a secret shown once.
fn shown_secret(html: &str) -> Option<String> {
    let at = html.find("data-secret=\"")?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest.find("</code>")?;
    Some(rest[start..end].to_owned())
}

/// The id in a `data-<attr>="…"` of the row whose text contains `name`.
fn row_id(html: &str, attr: &str, name: &str) -> String {
    let needle = format!("data-{attr}=\"");
    html.split(&needle)
        .skip(1)
        .find(|row| row[..row.find("</tr>").unwrap()].contains(name))
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .unwrap_or_else(|| panic!("no row for {name}: {html}"))
}

const SETTINGS_PAGES: [&str; 7] = [
    "/settings/organisation",
    "/settings/fields",
    "/settings/business-units",
    "/settings/users",
    "/settings/api-keys",
    "/settings/sources",
    "/settings/intake",
];

#[tokio::test]
async fn settings_pages_render_in_both_languages() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let r = b.get("/settings").await;
    assert_eq!(r.status, 303);
    assert!(r.location.starts_with("/settings/"), "{}", r.location);
    for (lang, nav, keys) in [("zh", "设置", "API 密钥"), ("en", "Settings", "API keys")] {
        let r = b.get(&format!("/language/{lang}?next=/")).await;
        assert_eq!(r.status, 303);
        for page in SETTINGS_PAGES {
            let r = b.get(page).await;
            assert_eq!(r.status, 200, "{page}: {}", r.body);
            assert!(
                r.body.contains(nav) && r.body.contains(keys),
                "{page}: {}",
                r.body
            );
            assert!(r.body.contains("aria-current=\"page\""), "{page}");
        }
    }
    let home = b.get("/").await;
    assert!(
        home.body.contains("href=\"/settings\""),
        "admins see the link"
    );
}

#[tokio::test]
async fn an_admin_creates_an_api_key_sees_it_once_and_revoking_it_shuts_the_api() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let r = b
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "CRM 同步"), ("scope_contacts_read", "on")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location, "/settings/api-keys?done=created");
    let page = b.get(&r.location).await;
    assert_eq!(page.status, 200);
    let secret = shown_secret(&page.body).expect("the new key is shown");
    assert!(secret.starts_with("hk_"), "{secret}");
    assert!(page.body.contains("CRM 同步") && page.body.contains("contacts:read"));
    let again = b.get("/settings/api-keys").await;
    assert!(shown_secret(&again.body).is_none(), "shown exactly once");
    assert!(!again.body.contains(&secret));

    let api = |secret: String| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/contacts", app.addr);
        async move {
            client
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(secret.clone()).await, 200);
    let used = b.get("/settings/api-keys").await.body;
    let id = row_id(&used, "key", "CRM 同步");
    let confirm = b.get(&format!("/settings/api-keys/{id}/revoke")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("CRM 同步"));
    assert_eq!(
        api(secret.clone()).await,
        200,
        "the confirmation page changes nothing"
    );
    let r = b
        .submit(
            &format!("/settings/api-keys/{id}/revoke"),
            &format!("/settings/api-keys/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/api-keys?done=revoked")
    );
    assert_eq!(api(secret).await, 401);
    let after = b.get("/settings/api-keys?done=revoked").await.body;
    assert!(after.contains("已吊销"), "{after}");
    assert!(!after.contains(&format!("/settings/api-keys/{id}/revoke")));
}

#[tokio::test]
async fn bad_key_forms_are_shown_again_and_write_nothing() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let before = app.count("api_keys").await;
    let long = "x".repeat(101);
    let r = b
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", &long)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("最多 100 个字符") && r.body.contains("至少选择一个权限范围"),
        "{}",
        r.body
    );
    assert!(r.body.contains(&long), "the form keeps what was typed");
    let r = b
        .submit(
            "/settings/sources",
            "/settings/sources",
            &[("name", "官网"), ("kind", "fax")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(app.count("api_keys").await, before);
    assert_eq!(app.count("sources").await, 1);
}

#[tokio::test]
async fn a_created_write_key_tracks_and_stops_when_the_source_is_disabled() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let r = b
        .submit(
            "/settings/sources",
            "/settings/sources",
            &[("name", "官网 <main>"), ("kind", "website")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/sources?done=created")
    );
    let page = b
        .client
        .get(format!("{}/settings/sources?done=created", app.addr))
        .header("cookie", b.cookie_header())
        .header("host", "crm.example.cn")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = shown_secret(&page).expect("the write key is shown");
    assert!(key.starts_with("hwk_"));
    assert!(page.contains("https://crm.example.cn/v1/track"), "{page}");
    assert!(
        page.contains(&format!("curl -u &#39;{key}:&#39;"))
            || page.contains(&format!("curl -u &#x27;{key}:&#x27;")),
        "{page}"
    );
    assert!(page.contains("官网 &lt;main&gt;") || page.contains("官网 &#60;main&#62;"));
    // The browser's cookie deletion was not applied above; the next visit deletes it.
    b.get("/settings/sources").await;
    assert!(shown_secret(&b.get("/settings/sources").await.body).is_none());

    let track = |key: String| {
        let client = app.client.clone();
        let url = format!("{}/v1/track", app.addr);
        async move {
            client
                .post(url)
                .basic_auth(key, Some(""))
                .json(&json!({"userId":"u-42","event":"Requested Trial"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(track(key.clone()).await, 200);
    app.state.ingestor.flush().await;
    assert_eq!(app.count("events").await, 1);
    let used = app
        .store
        .list_sources(app.org)
        .await
        .unwrap()
        .into_iter()
        .find(|x| key.starts_with(&x.prefix))
        .unwrap();
    assert_eq!(
        used.last_used_at,
        Some(common::START),
        "its use is recorded"
    );
    let list = b.get("/settings/sources").await.body;
    let id = row_id(&list, "source", "官网");
    let r = b
        .submit(
            &format!("/settings/sources/{id}/disable"),
            &format!("/settings/sources/{id}/disable"),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/sources?done=disabled")
    );
    assert_eq!(track(key).await, 401);
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn settings_refuse_everyone_but_administrators() {
    let app = spawn_app().await;
    let marketer = add_user(
        &app,
        "m@example.com",
        "Marketer",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    let unit = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let bu_admin = add_user(
        &app,
        "bu-admin@example.com",
        "BU admin",
        &[Grant::in_bu(Role::Admin, unit)],
    )
    .await;
    let key_id = app.store.list_api_keys(app.org).await.unwrap()[0].id;
    let source_id = app.store.list_sources(app.org).await.unwrap()[0].id;
    for (email, me) in [
        ("m@example.com", marketer),
        ("bu-admin@example.com", bu_admin),
    ] {
        let me = me.to_string();
        let mut b = Browser::new(&app);
        b.sign_in(email, PASSWORD).await;
        let home = b.get("/").await;
        assert!(
            !home.body.contains("href=\"/settings\""),
            "{email} sees no settings link"
        );
        let csrf = csrf_of(&home.body);
        let mut gets: Vec<String> = SETTINGS_PAGES.iter().map(|p| (*p).to_owned()).collect();
        gets.push("/settings".into());
        gets.push(format!("/settings/api-keys/{key_id}/revoke"));
        gets.push(format!("/settings/sources/{source_id}/disable"));
        for page in &gets {
            let r = b.get(page).await;
            assert_eq!(r.status, 403, "{email} GET {page}");
            assert!(r.body.contains("无权访问"));
        }
        let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                "/settings/api-keys".into(),
                vec![("name", "x"), ("scope_admin", "on")],
            ),
            (
                "/settings/sources".into(),
                vec![("name", "x"), ("kind", "website")],
            ),
            (format!("/settings/api-keys/{key_id}/revoke"), vec![]),
            (format!("/settings/sources/{source_id}/disable"), vec![]),
            ("/settings/business-units".into(), vec![("name", "x")]),
            (
                "/settings/pool-policy".into(),
                vec![("policy", "bu_isolated")],
            ),
            (
                "/settings/users".into(),
                vec![
                    ("name", "X"),
                    ("email", "x@example.com"),
                    ("password", PASSWORD),
                    ("role", "admin"),
                    ("bu", "org"),
                ],
            ),
            (
                "/settings/organisation".into(),
                vec![("name", "Taken over")],
            ),
            ("/settings/identity-rules".into(), vec![("rules", "{}")]),
            (
                "/settings/fields".into(),
                vec![("key", "k"), ("label", "K"), ("field_type", "text")],
            ),
            (
                "/settings/users/grant".into(),
                vec![("user", &me), ("role", "admin"), ("bu", "org")],
            ),
            (
                "/settings/users/revoke".into(),
                vec![("user", &me), ("role", "marketer"), ("bu", "org")],
            ),
        ];
        for (path, fields) in &posts {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend_from_slice(fields);
            let r = b.post(path, &all).await;
            assert_eq!(r.status, 403, "{email} POST {path}");
        }
    }
    assert_eq!(app.count("api_keys").await, 1);
    assert_eq!(app.count("sources").await, 1);
    assert_eq!(app.count("business_units").await, 1);
    assert_eq!(app.count("users").await, 2);
    assert_eq!(app.count("custom_fields").await, 0);
    assert_eq!(app.store.get_org(app.org).await.unwrap().name, "Test org");
    assert_eq!(app.count("role_grants").await, 2);
    assert_eq!(
        app.store.pool_policy(app.org).await.unwrap(),
        hatchery_domain::PoolPolicy::Shared
    );
    let (s, _) = app.get("/api/v1/contacts").await;
    assert_eq!(s, 200, "the key was not revoked");
}

#[tokio::test]
async fn settings_forms_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let key_id = app.store.list_api_keys(app.org).await.unwrap()[0].id;
    let r = b
        .post(
            "/settings/api-keys",
            &[("name", "x"), ("scope_admin", "on")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("表单已过期"), "{}", r.body);
    let r = b
        .post(
            &format!("/settings/api-keys/{key_id}/revoke"),
            &[("csrf", "wrong")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("api_keys").await, 1);
    let (s, _) = app.get("/api/v1/contacts").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn an_admin_sets_up_units_users_and_roles() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let r = b
        .submit(
            "/settings/business-units",
            "/settings/business-units",
            &[("name", " 华东事业部 ")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/business-units?done=created")
    );
    let again = b
        .submit(
            "/settings/business-units",
            "/settings/business-units",
            &[("name", "华东事业部")],
        )
        .await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("已有同名业务单元"), "{}", again.body);
    let long = "字".repeat(101);
    let too_long = b
        .submit(
            "/settings/business-units",
            "/settings/business-units",
            &[("name", &long)],
        )
        .await;
    assert_eq!(too_long.status, 422);
    assert_eq!(app.count("business_units").await, 1);
    let unit = app.store.list_business_units(app.org).await.unwrap()[0].id;
    let unit_s = unit.to_string();

    let r = b
        .submit(
            "/settings/business-units",
            "/settings/pool-policy",
            &[("policy", "bu_isolated")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        app.store.pool_policy(app.org).await.unwrap(),
        hatchery_domain::PoolPolicy::BuIsolated
    );
    let bad = b
        .submit(
            "/settings/business-units",
            "/settings/pool-policy",
            &[("policy", "open")],
        )
        .await;
    assert_eq!(bad.status, 422);

    let users_before = app.count("users").await;
    let bad = b
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("name", "王芳"),
                ("email", "not-an-email"),
                ("password", "short"),
                ("role", "sales_rep"),
                ("bu", "bu_999"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    for msg in ["邮箱格式不正确", "10 到 128", "请选择本组织的用户"] {
        assert!(bad.body.contains(msg), "missing {msg}: {}", bad.body);
    }
    assert!(bad.body.contains("王芳"), "the form keeps the name");
    assert_eq!(app.count("users").await, users_before);

    let r = b
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("name", "王芳"),
                ("email", "Fang@Example.cn"),
                ("password", PASSWORD),
                ("role", "sales_rep"),
                ("bu", &unit_s),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=created"),
        "{}",
        r.body
    );
    let fang = app
        .store
        .user_by_email(app.org, "fang@example.cn")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.store.user_grants(app.org, fang.id).await.unwrap(),
        vec![Grant::in_bu(Role::SalesRep, unit)]
    );
    let list = b.get("/settings/users?done=created").await.body;
    assert!(list.contains("销售代表 · 华东事业部"), "{list}");
    let mut fang_browser = Browser::new(&app);
    assert_eq!(
        fang_browser
            .sign_in("fang@example.cn", PASSWORD)
            .await
            .status,
        303
    );
    let dup = b
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("name", "Another"),
                ("email", "fang@example.cn"),
                ("password", PASSWORD),
                ("role", "analyst"),
                ("bu", "org"),
            ],
        )
        .await;
    assert_eq!(dup.status, 422);
    assert!(dup.body.contains("已有使用此邮箱的用户"));

    let fang_s = fang.id.to_string();
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/grant",
            &[("user", &fang_s), ("role", "analyst"), ("bu", "org")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=granted")
    );
    assert!(app
        .store
        .user_grants(app.org, fang.id)
        .await
        .unwrap()
        .contains(&Grant::org_wide(Role::Analyst)));
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/revoke",
            &[("user", &fang_s), ("role", "sales_rep"), ("bu", &unit_s)],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/users?done=revoked")
    );
    assert_eq!(
        app.store.user_grants(app.org, fang.id).await.unwrap(),
        vec![Grant::org_wide(Role::Analyst)]
    );

    // The last org-wide administrator cannot be demoted, by themselves or anyone.
    let admin = app
        .store
        .user_by_email(app.org, "admin@example.com")
        .await
        .unwrap()
        .unwrap();
    let admin_s = admin.id.to_string();
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/revoke",
            &[("user", &admin_s), ("role", "admin"), ("bu", "org")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("最后一位全组织管理员"), "{}", r.body);
    assert_eq!(
        app.store.user_grants(app.org, admin.id).await.unwrap(),
        vec![Grant::org_wide(Role::Admin)]
    );
    let other_org = app
        .store
        .create_org("Other", common::START)
        .await
        .unwrap()
        .id;
    let foreign = app
        .store
        .create_business_unit(other_org, "外部", common::START)
        .await
        .unwrap()
        .id
        .to_string();
    let r = b
        .submit(
            "/settings/users",
            "/settings/users/grant",
            &[("user", &fang_s), ("role", "admin"), ("bu", &foreign)],
        )
        .await;
    assert_eq!(r.status, 422, "a unit of another organisation is refused");
    assert_eq!(
        app.store.user_grants(app.org, fang.id).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_admin_renames_the_organisation_edits_identity_rules_and_adds_custom_fields() {
    let app = spawn_app().await;
    let mut b = admin_browser(&app).await;
    let page = b.get("/settings/organisation").await;
    assert!(page.body.contains(&app.org.to_string()), "the id is shown");
    assert!(
        page.body.contains("微信 unionID") && page.body.contains("不限"),
        "{}",
        page.body
    );

    let r = b
        .submit(
            "/settings/organisation",
            "/settings/organisation",
            &[("name", "云启集团 <HQ>")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/organisation?done=renamed")
    );
    assert_eq!(
        app.store.get_org(app.org).await.unwrap().name,
        "云启集团 <HQ>"
    );
    let long = "x".repeat(201);
    let r = b
        .submit(
            "/settings/organisation",
            "/settings/organisation",
            &[("name", &long)],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("最多 200 个字符"));
    assert_eq!(
        app.store.get_org(app.org).await.unwrap().name,
        "云启集团 <HQ>"
    );

    let before = app.store.identity_rules(app.org).await.unwrap();
    for (bad, says) in [
        ("{ not json", "JSON:"),
        (r#"{"rules": []}"#, "every identifier kind needs one"),
    ] {
        let r = b
            .submit(
                "/settings/organisation",
                "/settings/identity-rules",
                &[("rules", bad)],
            )
            .await;
        assert_eq!(r.status, 422, "{bad}");
        assert!(
            r.body.contains("规则未保存") && r.body.contains(says),
            "{}",
            r.body
        );
        if bad == "{ not json" {
            assert!(r.body.contains(bad), "the text typed is kept");
        }
        assert_eq!(app.store.identity_rules(app.org).await.unwrap(), before);
    }
    let mut rules = before.clone();
    rules.blocked_values.push("+8613800000000".into());
    let text = serde_json::to_string_pretty(&rules).unwrap();
    let r = b
        .submit(
            "/settings/organisation",
            "/settings/identity-rules",
            &[("rules", &text)],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/organisation?done=rules")
    );
    assert_eq!(app.store.identity_rules(app.org).await.unwrap(), rules);
    assert!(b
        .get("/settings/organisation")
        .await
        .body
        .contains("+8613800000000"));

    let r = b
        .submit(
            "/settings/fields",
            "/settings/fields",
            &[
                ("key", "budget_2026"),
                ("label", "预算"),
                ("field_type", "number"),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/fields?done=created")
    );
    let list = b.get("/settings/fields").await.body;
    assert!(list.contains("budget_2026") && list.contains("预算") && list.contains("number"));
    for (key, label, ty, says) in [
        ("budget_2026", "again", "text", "已有使用此键"),
        ("Budget", "x", "text", "字段键须为"),
        ("email", "x", "text", "字段键须为"),
        ("ok_key", "", "text", "请填写显示名称"),
        ("ok_key", "x", "money", "请选择一种类型"),
    ] {
        let r = b
            .submit(
                "/settings/fields",
                "/settings/fields",
                &[("key", key), ("label", label), ("field_type", ty)],
            )
            .await;
        assert_eq!(r.status, 422, "{key} {ty}");
        assert!(r.body.contains(says), "{key}: {}", r.body);
    }
    assert_eq!(app.count("custom_fields").await, 1);
}

#[tokio::test]
async fn an_admin_applies_a_set_aside_tracking_request_again_and_discards_another() {
    use hatchery_engine::intake::log::{keep_rejected, LogRecord};

    let app = spawn_app_with_intake_log().await;
    let mut b = admin_browser(&app).await;
    let page = b.get("/settings/intake").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("没有被搁置的请求"), "{}", page.body);

    let source = app.store.list_sources(app.org).await.unwrap().remove(0);
    let rejected = app.db.dir().join("intake").join("rejected");
    let record = |seq, body: &str| LogRecord {
        seq,
        org: app.org,
        source: source.id,
        source_name: source.name.clone(),
        kind: None,
        received_at: START,
        body: body.as_bytes().to_vec(),
    };
    let good = r#"{"batch":[{"type":"identify","anonymousId":"a-1","traits":{"name":"<王安>"}}]}"#;
    keep_rejected(&rejected, &record(7, good), "database is locked <x>").unwrap();
    keep_rejected(&rejected, &record(9, "{\"batch\":1}"), "unreadable").unwrap();

    let page = b.get("/settings/intake").await;
    assert!(page.body.contains("data-seq=\"7\"") && page.body.contains("data-seq=\"9\""));
    assert!(
        page.body.contains("database is locked &#60;x&#62;") && !page.body.contains("<x>"),
        "the reason is shown, escaped: {}",
        page.body
    );
    let r = b
        .submit("/settings/intake", "/settings/intake/7/retry", &[])
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/intake?done=retried")
    );
    app.state.ingestor.flush().await;
    let c = app.contact_by("anonymous_id:a-1").await.expect("applied");
    assert_eq!(c["name"], "<王安>");

    // The unreadable one cannot be applied; it is discarded after a confirmation page.
    let r = b
        .submit("/settings/intake", "/settings/intake/9/retry", &[])
        .await;
    assert_eq!(r.location, "/settings/intake?done=unreadable");
    let page = b.get("/settings/intake?done=unreadable").await;
    assert!(page.body.contains("不能重新写入"), "{}", page.body);
    let confirm = b.get("/settings/intake/9/discard").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("永久丢失"), "{}", confirm.body);
    let r = b
        .submit(
            "/settings/intake/9/discard",
            "/settings/intake/9/discard",
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/settings/intake?done=discarded")
    );
    assert_eq!(b.get("/settings/intake/9/discard").await.status, 404);
    let page = b.get("/settings/intake?done=discarded").await;
    assert!(!page.body.contains("data-seq="), "{}", page.body);
    assert!(page.body.contains("请求已丢弃"));
    assert_eq!(app.count("events").await, 1);
}
