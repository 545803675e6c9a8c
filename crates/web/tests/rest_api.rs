//! The REST API: contacts, search and filters, edits, tags, custom fields, keys, identity rules.

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

async fn seed_people(app: &common::TestApp) {
    app.batch(vec![
        json!({"type":"identify","userId":"1","traits":{"name":"王伟","email":"wei@yunqi.cn","phone":"13800000001","company":"云启科技","industry":"软件","city":"深圳市"},"context":{"campaign":{"source":"wechat"}}}),
        json!({"type":"identify","userId":"2","traits":{"name":"王芳","email":"fang@acme.com","phone":"13900000002","company":"Acme Robotics","industry":"制造业"}}),
        json!({"type":"identify","userId":"3","traits":{"name":"Anna Li","email":"anna@acme.com","company":"Acme Robotics","industry":"制造业"}}),
    ])
    .await;
}

fn names(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn search_matches_the_start_of_name_company_email_or_mobile() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let q = |s: &str| format!("/api/v1/contacts?q={}", common::urlencode(s));
    let (_, v) = app.get(&q("王")).await;
    assert_eq!(names(&v).len(), 2);
    let (_, v) = app.get(&q("acme")).await;
    assert_eq!(names(&v), vec!["Anna Li", "王芳"]);
    let (_, v) = app.get(&q("anna@")).await;
    assert_eq!(names(&v), vec!["Anna Li"]);
    let (_, v) = app.get(&q("139 0000")).await;
    assert_eq!(names(&v), vec!["王芳"]);
    let (_, v) = app.get(&q("nobody")).await;
    assert!(names(&v).is_empty());
    let (_, v) = app
        .get("/api/v1/contacts?industry=%E5%88%B6%E9%80%A0%E4%B8%9A")
        .await;
    assert_eq!(names(&v).len(), 2);
    let (_, v) = app.get("/api/v1/contacts?source=wechat").await;
    assert_eq!(names(&v), vec!["王伟"]);
    let (_, v) = app
        .get(&format!(
            "/api/v1/contacts?city={}",
            common::urlencode("深圳")
        ))
        .await;
    assert_eq!(
        names(&v),
        vec!["王伟"],
        "cities are stored without the 市 suffix"
    );
}

#[tokio::test]
async fn the_list_pages_with_a_keyset_cursor_and_checks_its_limit() {
    let app = spawn_app().await;
    let msgs: Vec<Value> = (0..7).map(|i| json!({"type":"identify","userId":format!("p{i}"),"traits":{"name":format!("P{i}")}})).collect();
    app.batch(msgs).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/contacts?limit=3".to_owned();
    loop {
        let (s, v) = app.get(&path).await;
        assert_eq!(s, 200);
        seen.extend(names(&v));
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/contacts?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "no contact twice across pages");
    let (s, v) = app.get("/api/v1/contacts?limit=1000").await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "limit");
    let (s, _) = app.get("/api/v1/contacts?cursor=zzz").await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn editing_a_contact_validates_fields_and_links_a_new_email() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let c = app.contact_by("user_id:1").await.unwrap();
    let path = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    let (s, v) = app
        .send(Method::PATCH, &path, json!({"email":"not an email"}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "email");
    let (s, v) = app
        .send(Method::PATCH, &path, json!({"mobile":"010-62345678"}))
        .await;
    assert_eq!(s, 422, "a landline is not a mobile: {v}");
    let (s, _) = app
        .send(Method::PATCH, &path, json!({"nickname":"x"}))
        .await;
    assert_eq!(s, 422, "unknown fields are refused");

    app.send(
        Method::POST,
        "/api/v1/fields",
        json!({"key":"budget","label":"预算","field_type":"number"}),
    )
    .await;
    let (s, v) = app
        .send(Method::PATCH, &path, json!({"traits":{"budget":"lots"}}))
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "traits.budget");

    let (s, v) = app.send(Method::PATCH, &path, json!({"title":"CTO","email":"Wei.Wang@Yunqi.cn","landline":"(010)62345678","traits":{"budget":50000}})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["title"], "CTO");
    assert_eq!(v["landline"], "+86-10-62345678");
    assert_eq!(v["traits"]["budget"], 50000);
    assert_eq!(
        app.contact_by("email:wei.wang@yunqi.cn").await.unwrap()["id"],
        c["id"]
    );
}

#[tokio::test]
async fn tags_are_added_in_bulk_and_filter_the_list() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let a = app.contact_by("user_id:2").await.unwrap();
    let b = app.contact_by("user_id:3").await.unwrap();
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids":[a["id"], b["id"]], "add":["KA","制造业"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["added"], 4);
    let (_, v) = app.get("/api/v1/contacts?tag=KA").await;
    assert_eq!(names(&v).len(), 2);
    let (_, tags) = app.get("/api/v1/tags").await;
    assert!(tags
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "KA" && t["contacts"] == 2));
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids":["ct_999999"], "add":["x"]}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/contacts/tags",
            json!({"contact_ids":[a["id"]], "add":[""]}),
        )
        .await;
    assert_eq!(s, 422);
    let (_, detail) = app
        .get(&format!("/api/v1/contacts/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(detail["tags"], json!(["KA", "制造业"]));
}

#[tokio::test]
async fn deleting_a_contact_erases_its_events_and_identities() {
    let app = spawn_app().await;
    seed_people(&app).await;
    let c = app.contact_by("user_id:1").await.unwrap();
    let path = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    let (s, _) = app.send(Method::DELETE, &path, json!(null)).await;
    assert_eq!(s, 204);
    assert_eq!(app.get(&path).await.0, 404);
    assert!(app.contact_by("email:wei@yunqi.cn").await.is_none());
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn keys_need_the_right_scope() {
    let app = spawn_app().await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/api-keys",
            json!({"name":"reader","scopes":["contacts:read"]}),
        )
        .await;
    assert_eq!(s, 201);
    let reader = v["secret"].as_str().unwrap().to_owned();
    let r = app
        .client
        .get(format!("{}/api/v1/contacts", app.addr))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(format!("{}/api/v1/tags", app.addr))
        .bearer_auth(&reader)
        .json(&json!({"name":"x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .get(format!("{}/api/v1/contacts", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Revoked keys stop working.
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            json!(null)
        )
        .await
        .0,
        204
    );
    let r = app
        .client
        .get(format!("{}/api/v1/contacts", app.addr))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_disabled_source_can_no_longer_send() {
    let app = spawn_app().await;
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/sources",
            json!({"name":"App","kind":"app"}),
        )
        .await;
    assert_eq!(s, 201);
    let wk = v["secret"].as_str().unwrap().to_owned();
    let send = || {
        app.client
            .post(format!("{}/v1/track", app.addr))
            .basic_auth(&wk, Some(""))
            .json(&json!({"anonymousId":"a","event":"E"}))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/v1/sources/{}", v["id"].as_str().unwrap()),
            json!(null)
        )
        .await
        .0,
        204
    );
    assert_eq!(send().await.unwrap().status(), 401);
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/sources",
            json!({"name":"X","kind":"fax"}),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn identity_rules_are_validated_and_take_effect() {
    let app = spawn_app().await;
    let (_, mut rules) = app.get("/api/v1/identity-rules").await;
    rules["rules"].as_array_mut().unwrap().pop();
    let (s, v) = app
        .send(Method::PUT, "/api/v1/identity-rules", rules.clone())
        .await;
    assert_eq!(s, 422);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anonymous_id"),
        "{v}"
    );

    // Allow only one email per contact and block a test mobile.
    let (_, mut rules) = app.get("/api/v1/identity-rules").await;
    for r in rules["rules"].as_array_mut().unwrap() {
        if r["kind"] == "email" {
            r["max_per_contact"] = json!(1);
        }
    }
    rules["blocked_values"] = json!(["+8613800000000"]);
    let (s, v) = app.send(Method::PUT, "/api/v1/identity-rules", rules).await;
    assert_eq!(s, 200, "{v}");
    app.batch(vec![
        json!({"type":"identify","userId":"u","traits":{"email":"a@x.cn","phone":"13800000000"}}),
        json!({"type":"identify","userId":"u","traits":{"email":"b@x.cn"}}),
    ])
    .await;
    assert!(app.contact_by("email:a@x.cn").await.is_some());
    assert!(
        app.contact_by("email:b@x.cn").await.is_none(),
        "a second email exceeds the limit"
    );
    assert!(
        app.contact_by("mobile:13800000000").await.is_none(),
        "blocked values are never identities"
    );
}

#[tokio::test]
async fn custom_fields_are_defined_once_with_a_valid_key() {
    let app = spawn_app().await;
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/fields",
            json!({"key":"budget","label":"预算","field_type":"number"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/fields",
            json!({"key":"budget","label":"again","field_type":"text"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/fields",
            json!({"key":"Bad Key","label":"x","field_type":"text"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["details"]["field"], "key");
    let (s, _) = app
        .send(
            Method::POST,
            "/api/v1/fields",
            json!({"key":"email","label":"x","field_type":"text"}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, v) = app
        .send(
            Method::POST,
            "/api/v1/fields",
            json!({"key":"k","label":"x","field_type":"color"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (_, list) = app.get("/api/v1/fields").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Deleting a definition: once (204), then it is gone (404); a malformed id is a 422.
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/fields/{id}");
    assert_eq!(app.send(Method::DELETE, &path, json!(null)).await.0, 204);
    assert_eq!(app.send(Method::DELETE, &path, json!(null)).await.0, 404);
    let (s, v) = app
        .send(Method::DELETE, "/api/v1/fields/budget", json!(null))
        .await;
    assert_eq!(s, 422, "{v}");
    let (_, list) = app.get("/api/v1/fields").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn search_pages_newest_first_and_combines_with_filters() {
    let app = spawn_app().await;
    seed_people(&app).await;
    app.batch(vec![json!({"type":"identify","userId":"4","traits":{"name":"王磊","email":"lei@acme.com","company":"Acme Robotics","industry":"制造业"}})]).await;
    // Three 王: a page of two from the newest contacts, then the rest through the cursor.
    let (s, v) = app
        .get(&format!(
            "/api/v1/contacts?limit=2&q={}",
            common::urlencode("王")
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(names(&v), vec!["王磊", "王芳"]);
    let cursor = v["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, v) = app
        .get(&format!(
            "/api/v1/contacts?limit=2&q={}&cursor={cursor}",
            common::urlencode("王")
        ))
        .await;
    assert_eq!(names(&v), vec!["王伟"]);
    assert!(v["next_cursor"].is_null());
    // A search together with a filter: both must hold.
    let (s, v) = app
        .get(&format!(
            "/api/v1/contacts?q={}&industry={}",
            common::urlencode("acme"),
            common::urlencode("制造业")
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(names(&v), vec!["王磊", "Anna Li", "王芳"]);
    let (_, v) = app
        .get(&format!(
            "/api/v1/contacts?q={}&source=wechat",
            common::urlencode("139")
        ))
        .await;
    assert!(
        names(&v).is_empty(),
        "王芳's mobile matches but her source is not wechat"
    );
}

#[tokio::test]
async fn a_contact_is_placed_in_a_business_unit_and_given_an_owner_through_the_api() {
    use hatchery_domain::{Grant, Role};
    use hatchery_store::users::NewUser;
    let app = spawn_app().await;
    let unit = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let rep = app
        .store
        .create_user(
            app.org,
            &NewUser {
                email: "rep@example.com",
                name: "Rep",
                password_hash: "not-a-real-hash",
                locale: None,
            },
            &[Grant::in_bu(Role::SalesRep, unit)],
            false,
            common::START,
        )
        .await
        .unwrap()
        .id;
    let other_org = app
        .store
        .create_org("Other", common::START)
        .await
        .unwrap()
        .id;
    let foreign_unit = app
        .store
        .create_business_unit(other_org, "Elsewhere", common::START)
        .await
        .unwrap()
        .id;
    app.batch(vec![
        json!({"type":"identify","userId":"u1","traits":{"email":"li@example.cn","name":"李雷"}}),
    ])
    .await;
    let (_, found) = app
        .get("/api/v1/contacts?identity=email:li@example.cn")
        .await;
    let id = found["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/contacts/{id}");

    let (s, v) = app.get(&path).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["business_unit"].is_null() && v["owner"].is_null(), "{v}");
    // The organisation's own units are listed, another organisation's are not.
    let (s, units) = app.get("/api/v1/business-units").await;
    assert_eq!(s, 200, "{units}");
    assert_eq!(units.as_array().unwrap().len(), 1, "{units}");
    assert_eq!(units[0]["id"], unit.to_string());
    assert_eq!(units[0]["name"], "华东事业部");

    let (s, v) = app
        .send(
            Method::PATCH,
            &path,
            json!({"business_unit": unit.to_string(), "owner": rep.to_string()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["business_unit"], unit.to_string());
    assert_eq!(v["owner"], rep.to_string());

    // Leaving a field out keeps it; null clears it.
    let (s, v) = app
        .send(
            Method::PATCH,
            &path,
            json!({"owner": null, "title": "采购经理"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["business_unit"], unit.to_string());
    assert!(v["owner"].is_null(), "{v}");

    // Units and users of another organisation, unknown ids and malformed ids are refused, and
    // nothing of the request is written.
    for (body, field) in [
        (
            json!({"business_unit": foreign_unit.to_string(), "name": "Changed"}),
            "business_unit",
        ),
        (
            json!({"business_unit": "bu_999999", "name": "Changed"}),
            "business_unit",
        ),
        (json!({"owner": "usr_999999", "name": "Changed"}), "owner"),
        (json!({"owner": "ct_1", "name": "Changed"}), "owner"),
        (
            json!({"business_unit": 7, "name": "Changed"}),
            "business_unit",
        ),
    ] {
        let (s, v) = app.send(Method::PATCH, &path, body.clone()).await;
        assert!(s == 422 || s == 400, "{body} → {s} {v}");
        assert!(v.to_string().contains(field), "{body} → {v}");
    }
    let (_, v) = app.get(&path).await;
    assert_eq!(v["name"], "李雷");
    assert_eq!(v["business_unit"], unit.to_string());
    assert!(v["owner"].is_null(), "{v}");
}

#[tokio::test]
async fn a_server_fails_only_the_imports_whose_process_is_gone() {
    use hatchery_store::imports::ImportStatus;
    use hatchery_store::{Store, StoreOptions};
    let app = spawn_app().await;
    // Two more processes on the same database: one keeps running an import (a `hatchery import`
    // next to the server), the other stops in the middle of one.
    let other = Store::connect(&app.db.url, &StoreOptions::default())
        .await
        .unwrap();
    let gone = Store::connect(&app.db.url, &StoreOptions::default())
        .await
        .unwrap();
    let t = common::START;
    let new = |s: Store, name: &'static str| async move {
        s.create_import(app.org, name, false, &[], None, None, t)
            .await
            .unwrap()
            .id
    };
    let mine = new(app.store.clone(), "mine.csv").await;
    let theirs = new(other.clone(), "theirs.csv").await;
    let dead = new(gone.clone(), "dead.csv").await;
    gone.close().await;

    // Within the lease nobody's import is touched.
    assert_eq!(
        app.store
            .fail_interrupted_imports(t + 60_000)
            .await
            .unwrap(),
        0
    );
    // The live process renews its lease; the stopped one cannot.
    other.renew_import_leases(t + 10 * 60_000).await.unwrap();
    assert_eq!(
        app.store
            .fail_interrupted_imports(t + 11 * 60_000)
            .await
            .unwrap(),
        1
    );
    let status = |id| {
        let s = app.store.clone();
        async move { s.get_import(app.org, id).await.unwrap() }
    };
    let d = status(dead).await;
    assert_eq!(d.status, ImportStatus::Failed);
    assert!(d.error.unwrap().contains("interrupted"));
    assert_eq!(status(theirs).await.status, ImportStatus::Queued);
    // The server's own import is never failed by its own sweep, however old.
    assert_eq!(status(mine).await.status, ImportStatus::Queued);

    // A process that stops cleanly fails its own unfinished imports at once, and only those.
    let done = app
        .store
        .create_import(app.org, "done.csv", false, &[], None, None, t)
        .await
        .unwrap()
        .id;
    app.store
        .update_import(
            app.org,
            done,
            ImportStatus::Completed,
            0,
            &json!({}),
            None,
            Some(t),
        )
        .await
        .unwrap();
    assert_eq!(app.store.fail_own_imports(t).await.unwrap(), 1);
    assert_eq!(status(mine).await.status, ImportStatus::Failed);
    assert_eq!(status(done).await.status, ImportStatus::Completed);
    assert_eq!(status(theirs).await.status, ImportStatus::Queued);

    // Once the live process stops renewing, its import goes the same way.
    other.close().await;
    assert_eq!(
        app.store
            .fail_interrupted_imports(t + 20 * 60_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(status(theirs).await.status, ImportStatus::Failed);
}
