//! The console's Segments pages as a browser without JavaScript uses them: the list, the builder
//! with its preview and its errors, a segment's page with the filter in words, the size chart
//! and the members, deletion, and who may do any of it.

mod common;

use std::time::Duration;

use common::browser::{csrf_of, Browser, Reply, PASSWORD};
use common::{spawn_app, TestApp};
use hatchery_domain::access::Placement;
use hatchery_domain::{ContactId, Grant, PoolPolicy, Role};
use serde_json::json;

const SHENZHEN: &str = r#"{"field": "city", "op": "eq", "value": "深圳"}"#;

/// What these tests do with the console, on top of the shared test browser.
trait SegmentPages {
    async fn sign_in_as(&mut self, email: &str);
    async fn create_segment(&mut self, name: &str, description: &str, filter: &str) -> String;
    async fn until_ready(&mut self, path: &str) -> String;
}

impl SegmentPages for Browser {
    async fn sign_in_as(&mut self, email: &str) {
        let r = self.sign_in(email, PASSWORD).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }

    /// Saves a new segment through the builder and returns its page's path.
    async fn create_segment(&mut self, name: &str, description: &str, filter: &str) -> String {
        let r = self
            .submit(
                "/segments/new",
                "/segments/new",
                &[
                    ("name", name),
                    ("description", description),
                    ("filter", filter),
                    ("action", "save"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(r.location.starts_with("/segments/seg_"), "{}", r.location);
        r.location
    }

    /// Reloads a segment's page until it is ready (the evaluator works in the background).
    async fn until_ready(&mut self, path: &str) -> String {
        for _ in 0..200 {
            let r = self.get(path).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if r.body.contains("data-stat=\"status\">已就绪<")
                || r.body.contains("data-stat=\"status\">Ready<")
            {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the segment at {path} did not become ready");
    }
}

fn value_after(html: &str, marker: &str, end: char) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find(end).unwrap()].to_owned()
}

async fn add_user(app: &TestApp, email: &str, grants: &[Grant]) -> hatchery_domain::ids::UserId {
    common::browser::add_user(app, email, "User", grants).await
}

/// Two contacts in 深圳 and one in 广州.
async fn seed(app: &TestApp) {
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","city":"深圳","company":"示例科技"}}),
        json!({"type":"identify","userId":"2","traits":{"name":"李娜","city":"深圳"}}),
        json!({"type":"identify","userId":"3","traits":{"name":"张敏","city":"广州"}}),
    ])
    .await;
}

async fn admin(app: &TestApp) -> Browser {
    add_user(app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let mut b = Browser::new(app);
    b.sign_in_as("admin@example.com").await;
    b
}

#[tokio::test]
async fn the_builder_saves_a_segment_that_becomes_ready_with_its_members() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;

    let list = b.get("/segments").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("还没有分群"), "{}", list.body);
    assert!(
        list.body.contains("href=\"/segments/new\""),
        "{}",
        list.body
    );
    assert!(list
        .body
        .contains("href=\"/segments\" aria-current=\"page\""));

    let new = b.get("/segments/new").await;
    assert_eq!(new.status, 200);
    assert!(
        new.body.contains("Pricing Viewed"),
        "an example filter is shown"
    );

    let path = b
        .create_segment("深圳客户", "城市为深圳的联系人", SHENZHEN)
        .await;
    let page = b.until_ready(&path).await;
    assert!(page.contains("data-stat=\"members\">2<"), "{page}");
    assert!(page.contains("城市 等于 深圳"), "{page}");
    assert!(page.contains("王伟") && page.contains("李娜"), "{page}");
    assert!(!page.contains("张敏"), "{page}");
    assert!(page.contains("href=\"/contacts/ct_"), "{page}");

    let list = b.get("/segments").await.body;
    assert!(
        list.contains("深圳客户") && list.contains("城市为深圳的联系人"),
        "{list}"
    );
    assert!(list.contains("已就绪"), "{list}");

    // Editing the filter saves it and the members follow.
    let edit = b.get(&format!("{path}/edit")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("深圳客户"));
    let r = b
        .submit(
            &format!("{path}/edit"),
            &format!("{path}/edit"),
            &[
                ("name", "广州客户"),
                ("description", ""),
                (
                    "filter",
                    r#"{"field": "city", "op": "eq", "value": "广州"}"#,
                ),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, path.as_str()));
    let mut page = String::new();
    for _ in 0..200 {
        page = b.get(&path).await.body;
        if page.contains("张敏") && !page.contains("王伟") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        page.contains("广州客户") && page.contains("张敏") && !page.contains("王伟"),
        "{page}"
    );
}

#[tokio::test]
async fn preview_shows_the_count_and_a_bad_filter_is_refused_with_its_path() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;

    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[("name", ""), ("filter", SHENZHEN), ("action", "preview")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-count=\"preview\">2<"), "{}", r.body);
    assert!(r.body.contains("王伟") && r.body.contains("李娜"));
    assert!(!r.body.contains("张敏"));
    assert!(r.body.contains("城市 等于 深圳"));

    let bad = r#"{"all": [{"tag": "KA"}, {"field": "town", "op": "eq", "value": "深圳"}]}"#;
    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[("name", "坏条件"), ("filter", bad), ("action", "preview")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("筛选条件有误，位置 filter.all[1].field"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("data-count=\"preview\""));

    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[("name", "坏条件"), ("filter", bad), ("action", "save")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("filter.all[1].field"), "{}", r.body);
    assert!(r.body.contains("尚未保存任何内容"), "{}", r.body);
    assert!(
        r.body.contains("value=\"坏条件\""),
        "the form keeps what was typed"
    );

    // A reference to a segment that does not exist is shown next to the filter; nothing is saved.
    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[
                ("name", "引用"),
                ("filter", r#"{"segment": "seg_999"}"#),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("segment seg_999 does not exist"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("segment.error.name_taken"));
    assert_eq!(
        app.store
            .list_segments(app.org, None, 10)
            .await
            .unwrap()
            .0
            .len(),
        0
    );

    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[
                ("name", "坏 JSON"),
                ("filter", "{\"all\": ["),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("不是有效的 JSON"), "{}", r.body);

    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[("name", "  "), ("filter", SHENZHEN), ("action", "save")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("请填写名称"), "{}", r.body);

    b.create_segment("深圳", "", SHENZHEN).await;
    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[("name", "深圳"), ("filter", SHENZHEN), ("action", "save")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("已有同名分群"), "{}", r.body);
    assert_eq!(
        app.count("segments").await,
        1,
        "only the good one was saved"
    );
}

#[tokio::test]
async fn segment_pages_render_in_chinese_and_english() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;
    let filter = r#"{"all": [{"field": "city", "op": "eq", "value": "深圳"},
        {"not": {"tag": "竞品"}},
        {"event": {"kind": "track", "name": "Pricing Viewed"}, "at_most": 5, "within_days": 7}]}"#;
    let path = b.create_segment("双语", "", filter).await;
    let zh = b.until_ready(&path).await;
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    assert!(
        zh.contains(
            "全部满足：城市 等于 深圳；不满足 标签 竞品；行为 Pricing Viewed ≤ 5 次（近 7 天）"
        ),
        "{zh}"
    );
    assert!(zh.contains("规模变化") && zh.contains("加入时间"), "{zh}");
    let list = b.get("/segments").await.body;
    assert!(list.contains(">分群<") && list.contains("成员数"), "{list}");

    b.accept_language = Some("en");
    let en = b.get(&path).await.body;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(
        en.contains("All of: City is 深圳; Not Tag 竞品; Action Pricing Viewed ≤ 5 times (in the last 7 days)"),
        "{en}"
    );
    assert!(
        en.contains("Size over time") && en.contains("Entered"),
        "{en}"
    );
    let list = b.get("/segments").await.body;
    assert!(
        list.contains(">Segments<") && list.contains("Ready"),
        "{list}"
    );
    let new = b.get("/segments/new").await.body;
    assert!(
        new.contains("+ Condition") && new.contains("All of") && new.contains("Preview"),
        "{new}"
    );
}

#[tokio::test]
async fn the_size_chart_is_an_accessible_svg() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;
    let path = b.create_segment("深圳", "", SHENZHEN).await;
    let page = b.until_ready(&path).await;
    let svg = value_after(&page, "<svg", '>');
    assert!(svg.contains("role=\"img\""), "{svg}");
    assert!(
        page.contains("<title id=\"chart-title\">近 90 天的分群规模</title>"),
        "{page}"
    );
    assert!(page.contains("<desc id=\"chart-desc\">"), "{page}");
    assert!(
        page.contains("<path class=\"line\" d=\"M"),
        "the size was drawn: {page}"
    );
}

#[tokio::test]
async fn read_only_roles_may_look_but_not_create_change_or_delete() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut a = admin(&app).await;
    let path = a.create_segment("深圳", "", SHENZHEN).await;
    a.until_ready(&path).await;
    add_user(
        &app,
        "analyst@example.com",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    let mut b = Browser::new(&app);
    b.sign_in_as("analyst@example.com").await;

    let list = b.get("/segments").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("深圳"));
    assert!(
        !list.body.contains("href=\"/segments/new\""),
        "{}",
        list.body
    );
    let page = b.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("王伟"));
    assert!(!page.body.contains("/delete") && !page.body.contains("/edit\""));

    assert_eq!(b.get("/segments/new").await.status, 403);
    assert_eq!(b.get(&format!("{path}/edit")).await.status, 403);
    let csrf = csrf_of(&b.get("/segments").await.body);
    let r = b
        .post(
            "/segments/new",
            &[
                ("csrf", csrf.as_str()),
                ("name", "x"),
                ("filter", SHENZHEN),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = b
        .post(
            &format!("{path}/edit"),
            &[
                ("csrf", csrf.as_str()),
                ("name", "x"),
                ("filter", SHENZHEN),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post(
            &format!("{path}/delete"),
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("segments").await, 1);
    assert!(b.get(&path).await.body.contains("<h1>深圳</h1>"));
}

#[tokio::test]
async fn segment_forms_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;
    let r = b
        .post(
            "/segments/new",
            &[("name", "x"), ("filter", SHENZHEN), ("action", "save")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(app.count("segments").await, 0);
    let path = b.create_segment("深圳", "", SHENZHEN).await;
    let r = b
        .post(
            &format!("{path}/delete"),
            &[("csrf", "wrong"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("segments").await, 1);

    // With the token and the confirmation, it is deleted.
    let csrf = csrf_of(&b.get(&path).await.body);
    let r = b
        .post(&format!("{path}/delete"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status, 400, "not confirmed");
    assert_eq!(app.count("segments").await, 1);
    let r = b
        .post(
            &format!("{path}/delete"),
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/segments"));
    assert_eq!(app.count("segments").await, 0);
    assert_eq!(b.get(&path).await.status, 404);
}

#[tokio::test]
async fn names_and_descriptions_are_escaped() {
    let app = spawn_app().await;
    let mut b = admin(&app).await;
    let path = b
        .create_segment(
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(2)>",
            r#"{"tag": "<b>KA</b>"}"#,
        )
        .await;
    for body in [b.get(&path).await.body, b.get("/segments").await.body] {
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains("<img src=x"), "{body}");
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{body}"
        );
    }
    let page = b.get(&path).await.body;
    assert!(!page.contains("<b>KA</b>") && page.contains("&#60;b&#62;KA&#60;/b&#62;"));
}

#[tokio::test]
async fn under_bu_isolation_the_members_list_shows_only_visible_contacts() {
    let app = spawn_app().await;
    seed(&app).await;
    let east = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let south = app
        .store
        .create_business_unit(app.org, "华南事业部", common::START)
        .await
        .unwrap()
        .id;
    let id = |c: serde_json::Value| c["id"].as_str().unwrap().parse::<ContactId>().unwrap();
    let wei = id(app.contact_by("user_id:1").await.unwrap());
    let na = id(app.contact_by("user_id:2").await.unwrap());
    for (c, bu) in [(wei, east), (na, south)] {
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
    let mut a = admin(&app).await;
    let path = a.create_segment("深圳", "", SHENZHEN).await;
    let page = a.until_ready(&path).await;
    assert!(page.contains("王伟") && page.contains("李娜"), "{page}");

    add_user(
        &app,
        "rep@example.com",
        &[Grant::in_bu(Role::SalesRep, east)],
    )
    .await;
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    let mut rep = Browser::new(&app);
    rep.sign_in_as("rep@example.com").await;
    let page = rep.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("王伟"), "{}", page.body);
    assert!(!page.body.contains("李娜"), "{}", page.body);
    assert!(page.body.contains("只显示您所在业务单元可见的成员"));

    // A marketer of one unit may not build segments over the whole pool.
    add_user(
        &app,
        "mkt@example.com",
        &[Grant::in_bu(Role::Marketer, east)],
    )
    .await;
    let mut m = Browser::new(&app);
    m.sign_in_as("mkt@example.com").await;
    assert_eq!(m.get("/segments/new").await.status, 403);

    let page = a.get(&path).await.body;
    assert!(page.contains("王伟") && page.contains("李娜"), "{page}");
}

#[tokio::test]
async fn the_builder_script_counts_while_the_filter_is_edited() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;
    let form = b.get("/segments/new").await.body;
    assert!(
        form.contains("<script src=\"/static/segments.js\" defer></script>"),
        "{form}"
    );
    let csrf = csrf_of(&form);
    // The count is shown under the JSON editor.
    let json_form = b
        .post(
            "/segments/new",
            &[
                ("csrf", csrf.as_str()),
                ("mode", "rows"),
                ("r0_kind", "all"),
                ("r0_depth", "0"),
                ("r1_kind", "tag"),
                ("r1_depth", "1"),
                ("r1_subject", "KA"),
                ("action", "to_json"),
            ],
        )
        .await;
    assert_eq!(json_form.status, 200, "{}", json_form.body);
    assert!(
        json_form.body.contains("data-endpoint=\"/segments/count\""),
        "{}",
        json_form.body
    );
    assert!(
        json_form.body.contains("&#34;tag&#34;: &#34;KA&#34;"),
        "the rows became JSON: {}",
        json_form.body
    );

    let r = b
        .post(
            "/segments/count",
            &[("csrf", csrf.as_str()), ("filter", SHENZHEN)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
        json!({"count": "2"})
    );
    let r = b
        .post(
            "/segments/count",
            &[("csrf", csrf.as_str()), ("filter", r#"{"any": []}"#)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("filter.any"), "{v}");
    let r = b.post("/segments/count", &[("filter", SHENZHEN)]).await;
    assert_eq!(r.status, 403, "the token is needed here too");

    add_user(
        &app,
        "analyst@example.com",
        &[Grant::org_wide(Role::Analyst)],
    )
    .await;
    let mut reader = Browser::new(&app);
    reader.sign_in_as("analyst@example.com").await;
    let csrf = csrf_of(&reader.get("/segments").await.body);
    let r = reader
        .post(
            "/segments/count",
            &[("csrf", csrf.as_str()), ("filter", SHENZHEN)],
        )
        .await;
    assert_eq!(r.status, 403);

    let script = app
        .client
        .get(format!("{}/static/segments.js", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("live-count"));
}

/// The fields of a structured builder's rows: (depth, kind, subject, op, value).
fn rows_form(rows: &[(usize, &str, &str, &str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![("mode".to_owned(), "rows".to_owned())];
    for (i, (depth, kind, subject, op, value)) in rows.iter().enumerate() {
        for (k, v) in [
            ("depth", depth.to_string()),
            ("kind", (*kind).to_owned()),
            ("subject", (*subject).to_owned()),
            ("op", (*op).to_owned()),
            ("value", (*value).to_owned()),
        ] {
            out.push((format!("r{i}_{k}"), v));
        }
    }
    out
}

async fn post_rows(
    b: &mut Browser,
    path: &str,
    name: &str,
    rows: &[(usize, &str, &str, &str, &str)],
    action: &str,
) -> Reply {
    let csrf = csrf_of(&b.get(path).await.body);
    let mut fields = rows_form(rows);
    fields.push(("csrf".into(), csrf));
    fields.push(("name".into(), name.into()));
    fields.push(("action".into(), action.into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post(path, &pairs).await
}

#[tokio::test]
async fn the_structured_builder_edits_nested_groups_without_javascript() {
    let app = spawn_app().await;
    seed(&app).await;
    let mut b = admin(&app).await;
    let new = b.get("/segments/new").await.body;
    assert!(new.contains("name=\"r0_kind\"") && new.contains("value=\"add_group:0\""));
    assert!(new.contains("name=\"r1_subject\" value=\"city\""), "{new}");

    // Adding a group puts it, with a first condition, at the end of the root group.
    let city = (1, "field", "city", "eq", "深圳");
    let r = post_rows(
        &mut b,
        "/segments/new",
        "",
        &[(0, "all", "", "", ""), city],
        "add_group:0",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("class=\"row depth-1\" data-row=\"2\""),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("class=\"row depth-2\" data-row=\"3\""),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains("<option value=\"any\" selected>任一满足</option>"));

    // 深圳 and none of (name is 李娜): only 王伟.
    let outline = [
        (0, "all", "", "", ""),
        city,
        (1, "not_any", "", "", ""),
        (2, "field", "name", "eq", "李娜"),
    ];
    let r = post_rows(&mut b, "/segments/new", "", &outline, "preview").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-count=\"preview\">1<"), "{}", r.body);

    // A wrong row is marked, with the path of the problem.
    let bad = [
        (0, "all", "", "", ""),
        city,
        (1, "field", "town", "eq", "x"),
    ];
    let r = post_rows(&mut b, "/segments/new", "坏", &bad, "save").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("class=\"row depth-1 invalid\" data-row=\"2\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("filter.all[1].field"), "{}", r.body);
    assert_eq!(app.count("segments").await, 0);

    // Removing a row removes its branch.
    let r = post_rows(&mut b, "/segments/new", "", &outline, "remove:2").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("data-row=\"2\""), "{}", r.body);

    let r = post_rows(&mut b, "/segments/new", "深圳非李娜", &outline, "save").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.location;
    let page = b.until_ready(&path).await;
    assert!(
        page.contains(">王伟</a>") && !page.contains(">李娜</a>"),
        "{page}"
    );
    assert!(page.contains("不满足 姓名 等于 李娜"), "{page}");
    assert!(page.contains("data-stat=\"members\">1<"), "{page}");
    // The edit page opens the saved filter as rows again.
    let edit = b.get(&format!("{path}/edit")).await.body;
    assert!(
        edit.contains("<option value=\"not_all\" selected>"),
        "{edit}"
    );
    assert!(
        edit.contains("name=\"r3_subject\" value=\"name\""),
        "{edit}"
    );

    // A filter the rows cannot say stays JSON.
    let r = b
        .submit(
            "/segments/new",
            "/segments/new",
            &[
                ("mode", "json"),
                (
                    "filter",
                    r#"{"account": "industry", "op": "eq", "value": "制造"}"#,
                ),
                ("action", "to_rows"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("逐行编辑无法表达"), "{}", r.body);
}
