//! The authorisation matrix of the console: every page × every role × granted org-wide or in one
//! business unit, under the BU-isolated pool policy, with a contact (and its account) in the
//! user's unit and one in another unit. The expected answers are written out here from the table
//! in docs/roles-and-permissions.md, not computed by the code under test.

mod common;

use common::browser::{add_user, Browser, PASSWORD};
use common::spawn_app;
use hatchery_domain::access::Placement;
use hatchery_domain::segment::Filter;
use hatchery_domain::{ContactId, Grant, PoolPolicy, Role};
use serde_json::json;

/// Who is asking.
#[derive(Clone, Copy, Debug)]
struct Who {
    role: Role,
    org_wide: bool,
}

/// Which answer a page gives: open to everyone who reads contacts, or only to some.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Everyone,
    /// Contacts (and accounts) of the other unit: org-wide grants only.
    OtherUnit,
    /// Import: admin or marketer, org-wide (BU-isolated pool).
    Import,
    /// Writing segments: admin or marketer, org-wide (BU-isolated pool).
    SegmentWrite,
    /// Settings: admin, org-wide.
    Settings,
    /// Changing a contact: every role that may change contacts somewhere (not analysts).
    ContactWrite,
}

fn expected(rule: Rule, w: Who) -> u16 {
    let writer = matches!(w.role, Role::Admin | Role::Marketer);
    let allowed = match rule {
        Rule::Everyone => true,
        Rule::OtherUnit => w.org_wide,
        Rule::Import | Rule::SegmentWrite => writer && w.org_wide,
        Rule::Settings => w.role == Role::Admin && w.org_wide,
        Rule::ContactWrite => w.role != Role::Analyst,
    };
    if allowed {
        200
    } else {
        403
    }
}

#[tokio::test]
async fn every_page_answers_every_role_in_its_own_and_another_unit_as_the_table_says() {
    let app = spawn_app().await;
    let unit = |name: &'static str| {
        let store = app.store.clone();
        let org = app.org;
        async move {
            store
                .create_business_unit(org, name, common::START)
                .await
                .unwrap()
                .id
        }
    };
    let (a, b) = (unit("华东事业部").await, unit("华南事业部").await);
    app.batch(vec![
        json!({"type":"identify","userId":"a1","traits":{"name":"Alice A"}}),
        json!({"type":"identify","userId":"b1","traits":{"name":"Bob B"}}),
        json!({"type":"group","userId":"a1","groupId":"corp-a","traits":{"name":"A 公司"}}),
        json!({"type":"group","userId":"b1","groupId":"corp-b","traits":{"name":"B 公司"}}),
    ])
    .await;
    let id_of = |user: &'static str| {
        let app = &app;
        async move {
            let c = app.contact_by(&format!("user_id:{user}")).await.unwrap();
            (
                c["id"].as_str().unwrap().parse::<ContactId>().unwrap(),
                c["account_id"].as_str().unwrap().to_owned(),
            )
        }
    };
    let ((ca, acc_a), (cb, acc_b)) = (id_of("a1").await, id_of("b1").await);
    for (c, bu) in [(ca, a), (cb, b)] {
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
    let seg = app
        .store
        .create_segment(
            app.org,
            "All",
            None,
            &Filter::parse(&json!({"field": "name", "op": "exists"})).unwrap(),
            common::START,
        )
        .await
        .unwrap()
        .id;

    let pages: Vec<(String, Rule)> = vec![
        ("/".into(), Rule::Everyone),
        ("/account/password".into(), Rule::Everyone),
        ("/contacts".into(), Rule::Everyone),
        (format!("/contacts/{ca}"), Rule::Everyone),
        (format!("/contacts/{cb}"), Rule::OtherUnit),
        ("/accounts".into(), Rule::Everyone),
        (format!("/accounts/{acc_a}"), Rule::Everyone),
        (format!("/accounts/{acc_b}"), Rule::OtherUnit),
        ("/segments".into(), Rule::Everyone),
        ("/scoring".into(), Rule::Everyone),
        ("/lifecycle".into(), Rule::Everyone),
        ("/tiers".into(), Rule::Everyone),
        ("/tags".into(), Rule::Everyone),
        (format!("/segments/{seg}"), Rule::Everyone),
        ("/segments/new".into(), Rule::SegmentWrite),
        (format!("/segments/{seg}/edit"), Rule::SegmentWrite),
        ("/imports".into(), Rule::Import),
        ("/settings/organisation".into(), Rule::Settings),
        ("/settings/business-units".into(), Rule::Settings),
        ("/settings/users".into(), Rule::Settings),
        ("/settings/api-keys".into(), Rule::Settings),
        ("/settings/sources".into(), Rule::Settings),
        ("/settings/fields".into(), Rule::Settings),
        ("/settings/intake".into(), Rule::Settings),
    ];

    let mut wrong = Vec::new();
    let mut n = 0;
    for role in Role::ALL {
        for org_wide in [true, false] {
            n += 1;
            let who = Who { role, org_wide };
            let grant = if org_wide {
                Grant::org_wide(role)
            } else {
                Grant::in_bu(role, a)
            };
            let email = format!("user{n}@example.com");
            add_user(&app, &email, &format!("User {n}"), &[grant]).await;
            let mut browser = Browser::new(&app);
            browser.sign_in(&email, PASSWORD).await;
            for (path, rule) in &pages {
                let got = browser.get(path).await;
                let want = expected(*rule, who);
                if got.status != want {
                    wrong.push(format!(
                        "{who:?} GET {path}: {} (expected {want})",
                        got.status
                    ));
                }
                // A refusal never shows the other unit's contact.
                if got.status == 403 && got.body.contains("Bob B") {
                    wrong.push(format!(
                        "{who:?} GET {path}: the 403 page names the contact"
                    ));
                }
            }
            // Lists and search never show the other unit's contact to a unit-scoped user.
            let list = browser.get("/contacts?q=Bob").await.body;
            if !org_wide && list.contains("Bob B") {
                wrong.push(format!(
                    "{who:?}: the contact search shows the other unit's contact"
                ));
            }
            let members = browser.get(&format!("/segments/{seg}")).await.body;
            if !org_wide && members.contains("Bob B") {
                wrong.push(format!(
                    "{who:?}: the segment page lists the other unit's contact"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Signed out, every page sends to the sign-in page.
    let mut anon = Browser::new(&app);
    for (path, _) in &pages {
        let got = anon.get(path).await;
        assert!(
            got.status == 303 || got.status == 302,
            "signed out GET {path}: {}",
            got.status
        );
    }
}

/// The REST API's side of the matrix: every route without a request body × keys of each scope.
/// A key lacking the route's scope gets `403` (and nothing happens); one holding it gets past the
/// check (ids below name nothing, so a delete that passes is a `404`).
#[tokio::test]
async fn every_api_route_answers_each_scope_as_documented() {
    use hatchery_store::keys::Scope;
    let app = spawn_app().await;
    app.batch(vec![
        json!({"type":"identify","userId":"a1","traits":{"name":"Alice"}}),
    ])
    .await;
    let contact = app.contact_by("user_id:a1").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, seg) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/segments",
            json!({"name": "All", "filter": {"field": "name", "op": "exists"}}),
        )
        .await;
    let seg = seg["id"].as_str().unwrap().to_owned();
    use Scope::{Admin, ContactsRead as Read, ContactsWrite as Write, ImportsWrite as Imports};
    let get = reqwest::Method::GET;
    let delete = reqwest::Method::DELETE;
    let routes: Vec<(reqwest::Method, String, &[Scope])> = vec![
        (get.clone(), "/api/v1/contacts".into(), &[Read][..]),
        (
            get.clone(),
            format!("/api/v1/contacts/{contact}"),
            &[Read][..],
        ),
        (
            get.clone(),
            format!("/api/v1/contacts/{contact}/events"),
            &[Read][..],
        ),
        (get.clone(), "/api/v1/accounts".into(), &[Read][..]),
        (
            get.clone(),
            "/api/v1/accounts/acc_999999".into(),
            &[Read][..],
        ),
        (get.clone(), "/api/v1/tags".into(), &[Read][..]),
        (get.clone(), "/api/v1/fields".into(), &[Read][..]),
        (get.clone(), "/api/v1/business-units".into(), &[Read][..]),
        (get.clone(), "/api/v1/segments".into(), &[Read][..]),
        (get.clone(), format!("/api/v1/segments/{seg}"), &[Read][..]),
        (
            get.clone(),
            format!("/api/v1/segments/{seg}/contacts"),
            &[Read][..],
        ),
        (
            get.clone(),
            format!("/api/v1/segments/{seg}/members"),
            &[Read],
        ),
        (
            get.clone(),
            format!("/api/v1/segments/{seg}/sizes"),
            &[Read],
        ),
        (get.clone(), "/api/v1/scoring-model".into(), &[Read][..]),
        (get.clone(), "/api/v1/lifecycle".into(), &[Read][..]),
        (get.clone(), "/api/v1/tiers".into(), &[Read][..]),
        (get.clone(), "/api/v1/tag-rules".into(), &[Read][..]),
        (
            get.clone(),
            "/api/v1/contacts/ct_999999/stage".into(),
            &[Read][..],
        ),
        (get.clone(), "/api/v1/imports".into(), &[Read, Imports][..]),
        (
            get.clone(),
            "/api/v1/imports/imp_999999".into(),
            &[Read, Imports],
        ),
        (
            get.clone(),
            "/api/v1/imports/imp_999999/rejections".into(),
            &[Read, Imports][..],
        ),
        (get.clone(), "/api/v1/identity-rules".into(), &[Read][..]),
        (get.clone(), "/api/v1/api-keys".into(), &[Admin][..]),
        (get.clone(), "/api/v1/sources".into(), &[Admin][..]),
        (
            delete.clone(),
            "/api/v1/contacts/ct_999999".into(),
            &[Write],
        ),
        (delete.clone(), "/api/v1/tags/999999".into(), &[Write][..]),
        (
            delete.clone(),
            "/api/v1/segments/seg_999999".into(),
            &[Write],
        ),
        (
            delete.clone(),
            "/api/v1/fields/fld_999999".into(),
            &[Admin][..],
        ),
        (
            delete.clone(),
            "/api/v1/api-keys/key_999999".into(),
            &[Admin],
        ),
        (
            delete.clone(),
            "/api/v1/sources/src_999999".into(),
            &[Admin],
        ),
    ];
    let mut wrong = Vec::new();
    for scope in [Read, Write, Imports, Admin] {
        let (_, key) = app
            .store
            .create_api_key(app.org, scope.as_str(), &[scope], common::START)
            .await
            .unwrap();
        for (method, path, needed) in &routes {
            let r = app
                .client
                .request(method.clone(), format!("{}{path}", app.addr))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let allowed = scope == Admin || needed.contains(&scope);
            if allowed == (status == 403) || status == 401 {
                wrong.push(format!(
                    "{} key: {method} {path} → {status} (needs one of {needed:?})",
                    scope.as_str()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Without a key, everything is 401.
    for (method, path, _) in &routes {
        let r = app
            .client
            .request(method.clone(), format!("{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{method} {path}");
    }
}

/// The console's POST routes as `crates/web/src/console.rs` declares them (path templates), so a
/// new form cannot be left out of the matrix below unnoticed.
fn declared_post_routes() -> Vec<String> {
    let source = include_str!("../src/console.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|decl| {
            let decl = &decl[..decl.find("))").map_or(decl.len(), |i| i + 2)];
            let path = decl.split('"').nth(1)?;
            (decl.contains("post(") && path.starts_with('/')).then(|| path.to_owned())
        })
        .collect()
}

/// The form side of the matrix: every console POST route × every role, granted org-wide or in one
/// unit, under the BU-isolated policy, with a valid CSRF token. A role without the permission gets
/// 403; one with it gets past the check (the forms are empty or name nothing, so the answer is a
/// form error, a 404 or a redirect — never a 403, and nothing changes). Signed out, every form
/// sends to the sign-in page.
#[tokio::test]
async fn every_console_form_answers_every_role_as_the_table_says() {
    let app = spawn_app().await;
    let a = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    // The keeper of the settings, so the forms tried below never touch the last administrator.
    add_user(
        &app,
        "keeper@example.com",
        "Keeper",
        &[Grant::org_wide(Role::Admin)],
    )
    .await;

    // (route as declared, path tried, rule). `/setup` and `/sign-in` are the forms of visitors
    // who are not signed in; `/sign-out` is tried last, as it ends the session.
    let forms: Vec<(&str, &str, Rule)> = vec![
        ("/account/password", "/account/password", Rule::Everyone),
        ("/account/time-zone", "/account/time-zone", Rule::Everyone),
        ("/imports", "/imports", Rule::Import),
        (
            "/imports/uploads/{token}",
            "/imports/uploads/no-such-upload",
            Rule::Import,
        ),
        ("/segments/new", "/segments/new", Rule::SegmentWrite),
        (
            "/segments/{id}/edit",
            "/segments/seg_999999/edit",
            Rule::SegmentWrite,
        ),
        (
            "/segments/{id}/delete",
            "/segments/seg_999999/delete",
            Rule::SegmentWrite,
        ),
        ("/segments/count", "/segments/count", Rule::SegmentWrite),
        ("/scoring", "/scoring", Rule::SegmentWrite),
        ("/lifecycle", "/lifecycle", Rule::SegmentWrite),
        ("/tiers", "/tiers", Rule::SegmentWrite),
        ("/tags", "/tags", Rule::SegmentWrite),
        ("/tags/rules", "/tags/rules", Rule::SegmentWrite),
        ("/contacts/tags", "/contacts/tags", Rule::ContactWrite),
        (
            "/tags/{id}/category",
            "/tags/999999/category",
            Rule::SegmentWrite,
        ),
        (
            "/contacts/{id}/stage",
            "/contacts/ct_999999/stage",
            Rule::ContactWrite,
        ),
        ("/settings/api-keys", "/settings/api-keys", Rule::Settings),
        (
            "/settings/api-keys/{id}/revoke",
            "/settings/api-keys/key_999999/revoke",
            Rule::Settings,
        ),
        ("/settings/sources", "/settings/sources", Rule::Settings),
        (
            "/settings/sources/{id}/disable",
            "/settings/sources/src_999999/disable",
            Rule::Settings,
        ),
        (
            "/settings/business-units",
            "/settings/business-units",
            Rule::Settings,
        ),
        (
            "/settings/pool-policy",
            "/settings/pool-policy",
            Rule::Settings,
        ),
        ("/settings/users", "/settings/users", Rule::Settings),
        (
            "/settings/users/grant",
            "/settings/users/grant",
            Rule::Settings,
        ),
        (
            "/settings/users/revoke",
            "/settings/users/revoke",
            Rule::Settings,
        ),
        (
            "/settings/users/{id}/disable",
            "/settings/users/usr_999999/disable",
            Rule::Settings,
        ),
        (
            "/settings/users/{id}/enable",
            "/settings/users/usr_999999/enable",
            Rule::Settings,
        ),
        (
            "/settings/users/{id}/password",
            "/settings/users/usr_999999/password",
            Rule::Settings,
        ),
        (
            "/settings/organisation",
            "/settings/organisation",
            Rule::Settings,
        ),
        (
            "/settings/identity-rules",
            "/settings/identity-rules",
            Rule::Settings,
        ),
        ("/settings/fields", "/settings/fields", Rule::Settings),
        (
            "/settings/fields/{id}/delete",
            "/settings/fields/fld_999999/delete",
            Rule::Settings,
        ),
        (
            "/settings/intake/{seq}/retry",
            "/settings/intake/999999/retry",
            Rule::Settings,
        ),
        (
            "/settings/intake/{seq}/discard",
            "/settings/intake/999999/discard",
            Rule::Settings,
        ),
        ("/sign-out", "/sign-out", Rule::Everyone),
    ];
    let mut declared = declared_post_routes();
    declared.retain(|r| r != "/setup" && r != "/sign-in");
    declared.sort();
    let mut covered: Vec<String> = forms.iter().map(|f| f.0.to_owned()).collect();
    covered.sort();
    assert_eq!(
        covered, declared,
        "every console POST route is in the matrix"
    );

    // The import upload is a multipart form; the others are URL-encoded.
    async fn post(b: &mut Browser, path: &str, csrf: &str) -> u16 {
        let url = format!("{}{path}", b.base);
        let req = if path == "/imports" {
            b.client
                .post(url)
                .multipart(reqwest::multipart::Form::new().text("csrf", csrf.to_owned()))
        } else {
            b.client.post(url).form(&[("csrf", csrf)])
        };
        b.send(req).await.status
    }

    let mut wrong = Vec::new();
    let mut n = 0;
    for role in Role::ALL {
        for org_wide in [true, false] {
            n += 1;
            let who = Who { role, org_wide };
            let grant = if org_wide {
                Grant::org_wide(role)
            } else {
                Grant::in_bu(role, a)
            };
            let email = format!("form{n}@example.com");
            add_user(&app, &email, &format!("Form {n}"), &[grant]).await;
            let mut browser = Browser::new(&app);
            browser.sign_in(&email, PASSWORD).await;
            let csrf = common::browser::csrf_of(&browser.get("/").await.body);
            for (_, path, rule) in &forms {
                let got = post(&mut browser, path, &csrf).await;
                let allowed = expected(*rule, who) == 200;
                let ok = if allowed {
                    got != 403 && got < 500 && got != 401
                } else {
                    got == 403
                };
                if !ok {
                    let want = if allowed { "not 403" } else { "403" };
                    wrong.push(format!("{who:?} POST {path}: {got} (expected {want})"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The refused and empty forms changed nothing.
    assert_eq!(app.count("custom_fields").await, 0);
    assert_eq!(app.count("segments").await, 0);
    assert_eq!(app.count("business_units").await, 1);
    assert_eq!(
        app.store.pool_policy(app.org).await.unwrap(),
        PoolPolicy::BuIsolated
    );

    let mut anon = Browser::new(&app);
    for (_, path, _) in &forms {
        let got = post(&mut anon, path, "").await;
        assert_eq!(got, 303, "signed out POST {path}");
    }
}
