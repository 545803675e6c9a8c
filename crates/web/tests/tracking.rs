//! The tracking API end to end: HTTP → identity resolution → storage, on SQLite or PostgreSQL.

mod common;

use std::io::Write;

use base64::Engine;

use common::spawn_app;
use serde_json::json;

#[tokio::test]
async fn identify_then_track_lands_on_one_contact_with_its_timeline() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"page","anonymousId":"a-1","name":"Pricing","messageId":"m1","context":{"campaign":{"source":"baidu","medium":"cpc","name":"expo"}}}),
        json!({"type":"identify","anonymousId":"a-1","userId":"u-1","messageId":"m2",
               "traits":{"email":"Wang.An@Example.cn","phone":"+86 138-0013-8000","name":"王安","company":"深圳云启科技有限公司","province":"广东省"}}),
        json!({"type":"track","userId":"u-1","event":"Requested Trial","messageId":"m3","properties":{"plan":"pro"}}),
    ])
    .await;
    let c = app
        .contact_by("email:wang.an@example.cn")
        .await
        .expect("contact by email");
    assert_eq!(c["name"], "王安");
    assert_eq!(c["mobile"], "+8613800138000");
    assert_eq!(c["province"], "广东");
    assert_eq!(c["source"], "baidu", "first touch is the campaign source");
    let same = app.contact_by("mobile:13800138000").await.unwrap();
    assert_eq!(same["id"], c["id"]);
    assert_eq!(
        app.contact_by("anonymous_id:a-1").await.unwrap()["id"],
        c["id"]
    );

    let (s, tl) = app
        .get(&format!(
            "/api/v1/contacts/{}/events",
            c["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    let kinds: Vec<_> = tl["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 3);
    assert!(kinds.contains(&"track".to_owned()) && kinds.contains(&"page".to_owned()));
    let page = tl["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "page")
        .unwrap();
    assert_eq!(page["utm_campaign"], "expo");
    assert_eq!(app.count("contacts").await, 1);
}

#[tokio::test]
async fn merges_browser_and_wechat_profiles_when_form_links_them() {
    let app = spawn_app().await;
    // A WeChat follower whose email is known, and an anonymous browser, arrive separately.
    app.batch(vec![json!({"type":"identify","anonymousId":"wx-visitor","messageId":"w1",
        "traits":{"email":"li@acme.cn"},
        "context":{"externalIds":[{"id":"oA1","type":"wechat_openid","collection":"wxA"},{"id":"U1","type":"wechat_unionid"}]}})])
    .await;
    app.batch(vec![
        json!({"type":"page","anonymousId":"browser-9","name":"Case studies","messageId":"b1"}),
        json!({"type":"page","anonymousId":"browser-9","name":"Pricing","messageId":"b2"}),
    ])
    .await;
    let browser = app.contact_by("anonymous_id:browser-9").await.unwrap();
    let wechat = app.contact_by("wechat_unionid:U1").await.unwrap();
    assert_ne!(browser["id"], wechat["id"]);

    // The browser fills a form with the same email: one person.
    app.batch(vec![json!({"type":"identify","anonymousId":"browser-9","messageId":"f1","traits":{"email":"LI@acme.cn","name":"李雷"}})]).await;
    let merged = app.contact_by("anonymous_id:browser-9").await.unwrap();
    assert_eq!(
        merged["id"], wechat["id"],
        "the known WeChat contact survives"
    );

    let (_, detail) = app
        .get(&format!(
            "/api/v1/contacts/{}",
            wechat["id"].as_str().unwrap()
        ))
        .await;
    let merges = detail["merges"].as_array().unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0]["merged_id"], browser["id"]);
    assert_eq!(merges[0]["cause"], "message:f1");
    assert!(detail["identities"].as_array().unwrap().len() >= 4);

    // The merged-away id still resolves, and its page views followed the survivor.
    let (s, old) = app
        .get(&format!(
            "/api/v1/contacts/{}",
            browser["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(old["id"], wechat["id"]);
    let (_, tl) = app
        .get(&format!(
            "/api/v1/contacts/{}/events?kind=page",
            wechat["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(tl["data"].as_array().unwrap().len(), 2);
    assert_eq!(app.count("events").await, 4);
}

#[tokio::test]
async fn openids_of_two_official_accounts_become_one_contact_through_the_union_id() {
    let app = spawn_app().await;
    let follow = |app_id: &str, open: &str, m: &str| {
        json!({"type":"track","anonymousId":format!("{app_id}-{open}"),"event":"WeChat Followed","messageId":m,
               "context":{"externalIds":[{"id":open,"type":"wechat_openid","collection":app_id},{"id":"UNION-7","type":"wechat_unionid"}]}})
    };
    app.batch(vec![follow("wxA", "oA", "1")]).await;
    app.batch(vec![follow("wxB", "oB", "2")]).await;
    let a = app.contact_by("wechat_openid:wxA:oA").await.unwrap();
    let b = app.contact_by("wechat_openid:wxB:oB").await.unwrap();
    assert_eq!(a["id"], b["id"]);
}

#[tokio::test]
async fn a_repeated_message_id_is_stored_once() {
    let app = spawn_app().await;
    let m = json!({"type":"track","anonymousId":"a","event":"Downloaded Whitepaper","messageId":"dup-1"});
    app.batch(vec![m.clone(), m.clone()]).await;
    assert_eq!(app.track("/v1/track", m).await.status(), 200);
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn a_bad_message_rejects_the_whole_batch_and_names_the_field() {
    let app = spawn_app().await;
    let r = app
        .track("/v1/batch", json!({"batch":[{"type":"track","anonymousId":"a","event":"ok","messageId":"x1"},{"type":"track","anonymousId":"a"}]}))
        .await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "batch[1].event");
    assert_eq!(
        body["code"], "invalid_field",
        "Segment clients read a top-level code"
    );
    assert_eq!(app.count("events").await, 0, "nothing partial is written");
    assert_eq!(app.count("contacts").await, 0);
}

#[tokio::test]
async fn placeholder_ids_only_are_refused() {
    let app = spawn_app().await;
    let r = app
        .track(
            "/v1/track",
            json!({"anonymousId":"null","userId":"undefined","event":"E"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.count("contacts").await, 0);
}

#[tokio::test]
async fn malformed_json_unknown_keys_and_oversize_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let url = format!("{}/v1/batch", app.addr);
    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "invalid_json"
    );

    let r = app
        .client
        .post(&url)
        .basic_auth("hwk_1_wrong", Some(""))
        .json(&json!({"batch":[]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(&url)
        .json(&json!({"batch":[]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let big = "x".repeat(600 * 1024);
    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .json(&json!({"batch":[{"type":"track","anonymousId":"a","event":big}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = app
        .track(
            "/v1/track",
            json!({"anonymousId":"a","event":"E","properties":{"blob":"y".repeat(40 * 1024)}}),
        )
        .await;
    assert_eq!(r.status(), 413, "one message is at most 32 KiB");
    let r = app
        .track("/v1/track", json!({"type":"page","anonymousId":"a"}))
        .await;
    assert_eq!(r.status(), 422, "a page sent to /v1/track is refused");

    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(r#"{"batch":[{"type":"track","anonymousId":"a","event":"E"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a body that says gzip and is not");
    let body = r.json::<serde_json::Value>().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_body", "{body}");
    assert_eq!(
        body["code"], "bad_body",
        "Segment's libraries read the top level"
    );

    let many: Vec<_> = (0..2_501)
        .map(|i| json!({"type":"track","anonymousId":"a","event":"E","messageId":format!("m{i}")}))
        .collect();
    let r = app
        .client
        .post(&url)
        .basic_auth(&app.write_key, Some(""))
        .json(&json!({ "batch": many }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "at most 2,500 messages");
    let body = r.json::<serde_json::Value>().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "batch", "{body}");
    assert_eq!(app.count("events").await, 0);
}

#[tokio::test]
async fn gzip_bodies_and_write_key_in_the_body_are_accepted() {
    let app = spawn_app().await;
    let body = json!({"writeKey": app.write_key, "batch":[{"type":"track","anonymousId":"gz","event":"Zipped","messageId":"z1"}]});
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.to_string().as_bytes()).unwrap();
    let r = app
        .client
        .post(format!("{}/v1/batch", app.addr))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.state.ingestor.flush().await;
    assert_eq!(app.count("events").await, 1);
}

#[tokio::test]
async fn a_sender_that_trickles_its_body_holds_no_one_else_up() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A budget of 2 KiB, which the slow request's body would fill on its own.
    let app =
        common::spawn_app_with(|s| s.admission = hatchery_web::tracking::Admission::new(2048))
            .await;
    let body =
        json!({"batch":[{"type":"track","anonymousId":"slow","event":"Slow","messageId":"s1",
        "properties":{"pad":"x".repeat(1900)}}]})
        .to_string();
    assert!(body.len() > 1024 && body.len() <= 2048);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:", app.write_key));
    let mut slow = tokio::net::TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: test\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Headers and half the body, then nothing for a while.
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let quick = app
        .client
        .post(format!("{}/v1/batch", app.addr))
        .basic_auth(&app.write_key, Some(""))
        .json(&json!({"batch":[{"type":"track","anonymousId":"quick","event":"Quick","messageId":"q1"}]}))
        .send();
    let quick = tokio::time::timeout(std::time::Duration::from_secs(30), quick)
        .await
        .expect("a request is served while another sender's body is still arriving")
        .unwrap();
    assert_eq!(quick.status(), 200);
    app.state.ingestor.flush().await;
    assert_eq!(app.count("events").await, 1);

    slow.write_all(rest).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.state.ingestor.flush().await;
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn senders_beyond_the_admission_budget_wait_their_turn_and_are_all_served() {
    // A budget of 1 KiB: one small request at a time from receipt to answer.
    let app =
        common::spawn_app_with(|s| s.admission = hatchery_web::tracking::Admission::new(1024))
            .await;
    let senders = 24;
    let requests = (0..senders).map(|s| {
        app.client
            .post(format!("{}/v1/batch", app.addr))
            .basic_auth(&app.write_key, Some(""))
            .json(&json!({"batch":[{"type":"track","anonymousId":format!("sender-{s}"),"event":"Burst","messageId":format!("burst-{s}")}]}))
            .send()
    });
    let answers = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures_util::future::join_all(requests),
    )
    .await
    .expect("every sender is answered");
    for r in answers {
        let r = r.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    app.state.ingestor.flush().await;
    assert_eq!(app.count("events").await, senders);
    let m = app.metrics().await;
    let waits: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("hatchery_tracking_admission_waits_total "))
        .and_then(|v| v.parse().ok())
        .expect("the waits are in /metrics");
    assert!(
        waits >= 1,
        "24 requests sent at once through a budget of one: some waited"
    );
}

#[tokio::test]
async fn a_batch_whose_transaction_postgres_aborts_in_a_deadlock_is_run_again_and_stored() {
    let app = spawn_app().await;
    let hatchery_store::Backend::Postgres(pool) = app.store.backend().clone() else {
        // SQLite writes one transaction at a time: no deadlock to break.
        return;
    };
    app.batch(vec![
        json!({"type":"identify","userId":"u-dl","traits":{"name":"Before"}}),
    ])
    .await;
    let contact: i64 = sqlx::query_scalar("SELECT id FROM contacts WHERE org_id = $1")
        .bind(app.org.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    // Another transaction holds the contact's row ... (It checks for deadlocks only after 10 s,
    // so that the group commit, checking after the default second, is the one PostgreSQL aborts.)
    let mut other = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL deadlock_timeout = '10s'")
        .execute(&mut *other)
        .await
        .unwrap();
    sqlx::query("SELECT id FROM contacts WHERE id = $1 AND org_id = $2 FOR UPDATE")
        .bind(contact)
        .bind(app.org.0)
        .execute(&mut *other)
        .await
        .unwrap();
    // ... which the group commit, holding the organisation's holdings lock, waits for ...
    let batch = {
        let (client, url, key) = (
            app.client.clone(),
            format!("{}/v1/batch", app.addr),
            app.write_key.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .basic_auth(key, Some(""))
                .json(&json!({"batch":[{"type":"identify","userId":"u-dl","traits":{"name":"After"}}]}))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ... and then wants that lock: a cycle, which PostgreSQL breaks by aborting the group commit.
    sqlx::query("SELECT holdings_epoch FROM organisations WHERE id = $1 FOR UPDATE")
        .bind(app.org.0)
        .execute(&mut *other)
        .await
        .unwrap();
    other.commit().await.unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_secs(30), batch)
        .await
        .unwrap()
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
    assert_eq!(
        app.contact_by("user_id:u-dl").await.unwrap()["name"],
        "After"
    );
}

#[tokio::test]
async fn organisations_never_see_each_others_contacts() {
    let app = spawn_app().await;
    let other = app
        .store
        .create_org("Other", common::START)
        .await
        .unwrap()
        .id;
    let (_, other_wk) = app
        .store
        .create_source(other, "Web", "website", common::START)
        .await
        .unwrap();
    let (_, other_key) = app
        .store
        .create_api_key(
            other,
            "k",
            &[hatchery_store::keys::Scope::Admin],
            common::START,
        )
        .await
        .unwrap();
    // The same person (same email) in both organisations stays two separate contacts.
    app.batch(vec![
        json!({"type":"identify","userId":"u","traits":{"email":"same@x.cn"}}),
    ])
    .await;
    let r = app
        .client
        .post(format!("{}/v1/identify", app.addr))
        .basic_auth(&other_wk, Some(""))
        .json(&json!({"userId":"u","traits":{"email":"same@x.cn"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mine = app.contact_by("email:same@x.cn").await.unwrap();
    let theirs = app
        .client
        .get(format!(
            "{}/api/v1/contacts?identity=email:same@x.cn",
            app.addr
        ))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let theirs = &theirs["data"][0];
    assert_ne!(mine["id"], theirs["id"]);
    // Org 2's key cannot open org 1's contact by id.
    let r = app
        .client
        .get(format!(
            "{}/api/v1/contacts/{}",
            app.addr,
            mine["id"].as_str().unwrap()
        ))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn group_links_the_contact_to_its_account() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"u9","traits":{"email":"ceo@robot.cn","name":"Chen"}}),
        json!({"type":"group","userId":"u9","groupId":"g-robot","traits":{"name":"Acme Robotics","industry":"制造业","employees":500}}),
    ])
    .await;
    let c = app.contact_by("user_id:u9").await.unwrap();
    let acc = c["account_id"].as_str().expect("account linked").to_owned();
    let (s, a) = app.get(&format!("/api/v1/accounts/{acc}")).await;
    assert_eq!(s, 200);
    assert_eq!(a["name"], "Acme Robotics");
    assert_eq!(a["company_size"], "500");
    assert_eq!(a["contacts"], 1);
    assert_eq!(a["contacts_page"]["data"][0]["id"], c["id"]);
}

#[tokio::test]
async fn metrics_count_ingested_events_and_merges() {
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"track","anonymousId":"a","event":"E"}),
        json!({"type":"track","anonymousId":"b","event":"E"}),
    ])
    .await;
    app.batch(vec![
        json!({"type":"alias","previousId":"a","userId":"u"}),
        json!({"type":"identify","anonymousId":"b","userId":"u"}),
    ])
    .await;
    let text = app.metrics().await;
    assert!(text.contains("hatchery_events_ingested_total 4"), "{text}");
    assert!(text.contains("hatchery_merges_total 1"), "{text}");
    assert!(
        text.contains("hatchery_import_chunks_resolved_again_total 0"),
        "{text}"
    );
    // The two transactions' time, by phase: each of them wrote and committed.
    for phase in ["write", "commit"] {
        let name = format!("hatchery_write_phase_seconds_total{{phase=\"{phase}\"}} ");
        let seconds: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(name.as_str()))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap();
        assert!(seconds > 0.0, "{name}{seconds}");
    }
    assert_eq!(
        app.client
            .get(format!("{}/readyz", app.addr))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_retry_is_a_duplicate_but_a_reused_message_id_with_another_timestamp_is_not() {
    let app = spawn_app().await;
    let at = |ts: &str| json!({"type":"track","anonymousId":"a","event":"Viewed Pricing","messageId":"m-7","timestamp":ts});
    // A client retries with the same timestamp (only sentAt changes): stored once.
    let mut retry = at("2026-11-20T08:00:00.000Z");
    app.batch(vec![retry.clone()]).await;
    retry["sentAt"] = json!("2026-11-20T08:00:05.000Z");
    app.batch(vec![retry]).await;
    assert_eq!(app.count("events").await, 1);
    // The same messageId on an event of another time is another event: nothing is dropped.
    app.batch(vec![at("2026-11-21T09:30:00.000Z")]).await;
    assert_eq!(app.count("events").await, 2);
}

#[tokio::test]
async fn a_visitor_erased_between_batches_comes_back_as_a_new_contact() {
    // The ingest writer remembers who holds which identifier between batches; an erasure must make
    // it forget, or the next event would land on the erased contact.
    let app = spawn_app().await;
    app.batch(vec![json!({"type":"identify","anonymousId":"b-1","messageId":"e1","traits":{"email":"gone@example.cn"}})]).await;
    let first = app.contact_by("anonymous_id:b-1").await.unwrap();
    let (s, _) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/contacts/{}", first["id"].as_str().unwrap()),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    app.batch(vec![
        json!({"type":"page","anonymousId":"b-1","name":"Home","messageId":"e2"}),
    ])
    .await;
    let again = app
        .contact_by("anonymous_id:b-1")
        .await
        .expect("a new contact");
    assert_ne!(again["id"], first["id"]);
    let (s, tl) = app
        .get(&format!(
            "/api/v1/contacts/{}/events",
            again["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(tl["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("contacts").await, 1);
}

#[tokio::test]
async fn an_identify_that_repeats_the_profile_writes_nothing_but_a_change_is_stored() {
    let app = spawn_app().await;
    let identify = |title: &str, id: &str| {
        json!({"type":"identify","userId":"u-7","messageId":id,
               "traits":{"name":"李雷","email":"li.lei@example.cn","title":title,"plan":"pro"}})
    };
    app.batch(vec![identify("工程师", "m1")]).await;
    let id = app
        .store
        .contact_by_identity(
            app.org,
            &hatchery_domain::Identifier::new(
                hatchery_domain::IdentityKind::Email,
                "li.lei@example.cn",
            ),
        )
        .await
        .unwrap()
        .expect("contact by email");
    let first = app.store.get_contact(app.org, id).await.unwrap();

    // The same traits again, later: the event is stored, the profile is left as it was.
    app.clock.advance_ms(60_000);
    app.batch(vec![identify("工程师", "m2")]).await;
    let same = app.store.get_contact(app.org, id).await.unwrap();
    assert_eq!(same.updated_at, first.updated_at, "nothing changed");
    assert_eq!(app.count("events").await, 2);

    // A new title (and a new custom trait) is a change.
    app.clock.advance_ms(60_000);
    app.batch(vec![
        json!({"type":"identify","userId":"u-7","messageId":"m3",
        "traits":{"title":"技术总监","seats":20}}),
    ])
    .await;
    let changed = app.store.get_contact(app.org, id).await.unwrap();
    assert_eq!(changed.title.as_deref(), Some("技术总监"));
    assert_eq!(
        changed.name.as_deref(),
        Some("李雷"),
        "traits not sent are kept"
    );
    assert_eq!(changed.updated_at, first.updated_at + 120_000);
    assert_eq!(changed.traits["seats"], 20);
    assert_eq!(changed.traits["plan"], "pro");

    // Only a custom trait changing is a change too.
    app.clock.advance_ms(60_000);
    app.batch(vec![
        json!({"type":"identify","userId":"u-7","messageId":"m4",
        "traits":{"seats":25}}),
    ])
    .await;
    let custom = app.store.get_contact(app.org, id).await.unwrap();
    assert_eq!(custom.traits["seats"], 25);
    assert_eq!(custom.updated_at, first.updated_at + 180_000);
}

#[tokio::test]
async fn one_oversize_message_in_a_batch_is_refused_by_its_index() {
    let app = spawn_app().await;
    let r = app
        .track(
            "/v1/batch",
            json!({"batch":[
                {"type":"track","anonymousId":"a","event":"Small"},
                {"type":"track","anonymousId":"a","event":"Big","properties":{"blob":"y".repeat(40 * 1024)}},
            ]}),
        )
        .await;
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "batch[1]", "{body}");
    assert_eq!(
        app.count("events").await,
        0,
        "nothing of the batch is stored"
    );
}
