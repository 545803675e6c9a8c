//! The console's Import page as a browser without JavaScript uses it: upload, the guessed mapping,
//! a dry run with its rejected rows, the real run, and who may do any of it.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{spawn_app, spawn_app_with, TestApp};
use hatchery_domain::{Grant, PoolPolicy, Role};
use hatchery_store::users::NewUser;

const PASSWORD: &str = "correct horse battery";

/// Row 3 has no mobile or email, so it is rejected; the others create two contacts.
const CUSTOMERS: &str = "姓名,手机,邮箱,公司\n\
    王伟,13800138000,wang@example.cn,示例科技\n\
    李娜,,,示例科技\n\
    张敏,139 0013 9000,zhang@example.cn,样本集团\n";

/// Keeps cookies, does not follow redirects.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Reply {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = req.header("cookie", cookie).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        for c in r.headers().get_all("set-cookie") {
            let first = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        Reply {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn sign_in(&mut self, email: &str) {
        let csrf = csrf_of(&self.get("/sign-in").await.body);
        let r = self
            .post(
                "/sign-in",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }

    /// Posts the upload form of the Import page with this file (and the CSRF token, unless `None`).
    async fn upload(&mut self, csrf: Option<&str>, name: &str, content: Vec<u8>) -> Reply {
        let mut form = reqwest::multipart::Form::new();
        if let Some(t) = csrf {
            form = form.text("csrf", t.to_owned());
        }
        let part = reqwest::multipart::Part::bytes(content)
            .file_name(name.to_owned())
            .mime_str("text/csv")
            .unwrap();
        let req = self
            .client
            .post(format!("{}/imports", self.base))
            .multipart(form.part("file", part));
        self.send(req).await
    }

    /// Follows an import's status page until the import has ended.
    async fn until_ended(&mut self, path: &str) -> String {
        for _ in 0..200 {
            let r = self.get(path).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if !r.body.contains("http-equiv=\"refresh\"") {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the import at {path} did not end");
    }
}

fn csrf_of(html: &str) -> String {
    value_after(html, "name=\"csrf\" value=\"")
}

fn value_after(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The value of the selected option of a select box.
fn selected(html: &str, select: &str) -> String {
    let at = html.find(&format!("name=\"{select}\"")).unwrap();
    let rest = &html[at..];
    let end = rest.find("</select>").unwrap();
    let before = rest[..end].split(" selected>").next().unwrap();
    let value = before.rsplit("value=\"").next().unwrap();
    value[..value.find('"').unwrap()].to_owned()
}

fn count_of(html: &str, key: &str) -> String {
    let marker = format!("data-count=\"{key}\">");
    let at = html.find(&marker).unwrap();
    let rest = &html[at + marker.len()..];
    rest[..rest.find('<').unwrap()].to_owned()
}

async fn add_user(app: &TestApp, email: &str, grants: &[Grant]) {
    let hash = hatchery_web::console::password::hash_blocking(PASSWORD);
    app.store
        .create_user(
            app.org,
            &NewUser {
                email,
                name: "User",
                password_hash: &hash,
                locale: None,
            },
            grants,
            false,
            common::START,
        )
        .await
        .unwrap();
}

fn console_uploads(app: &TestApp) -> usize {
    std::fs::read_dir(app.state.upload_dir.join("console")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn an_upload_is_mapped_dry_run_and_imported_with_its_rejected_rows_numbered() {
    let app = spawn_app().await;
    add_user(&app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let mut b = Browser::new(&app);
    b.sign_in("admin@example.com").await;

    let page = b.get("/imports").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    let csrf = csrf_of(&page.body);
    let r = b
        .upload(Some(&csrf), "客户名单.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mapping_path = r.location.clone();
    assert!(
        mapping_path.starts_with("/imports/uploads/"),
        "{mapping_path}"
    );

    let mapping = b.get(&mapping_path).await;
    assert_eq!(mapping.status, 200, "{}", mapping.body);
    assert!(mapping.body.contains("客户名单.csv"));
    let guessed: Vec<String> = (0..4)
        .map(|i| selected(&mapping.body, &format!("col_{i}")))
        .collect();
    assert_eq!(guessed, ["name", "mobile", "email", "company"]);

    // The user changes the company column to be ignored, names the batch and dry-runs it.
    let form = [
        ("csrf", csrf.as_str()),
        ("col_0", "name"),
        ("col_1", "mobile"),
        ("col_2", "email"),
        ("col_3", "ignore"),
        ("tag", "老客户激活"),
        ("action", "dry_run"),
    ];
    let r = b.post(&mapping_path, &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location.contains("?upload="), "{}", r.location);
    let report = b.until_ended(&r.location).await;
    assert!(
        report.contains("data-status=\"import.status.completed\""),
        "{report}"
    );
    assert!(report.contains("试运行"), "{report}");
    assert_eq!(count_of(&report, "import.created"), "2");
    assert_eq!(count_of(&report, "import.rejected"), "1");
    assert!(
        report.contains("<td>3</td><td><code>no_identifier</code>"),
        "{report}"
    );
    assert!(report.contains("rejected.csv"));
    assert_eq!(app.count("contacts").await, 0, "a dry run writes nothing");

    // Run it for real from the dry run's page, with the same mapping and tag.
    let action = value_after(&report, "<form method=\"post\" action=\"");
    assert_eq!(action, mapping_path);
    assert!(report.contains("name=\"col_3\" value=\"ignore\""));
    let mut run_form: Vec<(&str, &str)> = form[..6].to_vec();
    run_form.push(("action", "run"));
    let r = b.post(&action, &run_form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let done = b.until_ended(&r.location).await;
    assert!(
        done.contains("data-status=\"import.status.completed\""),
        "{done}"
    );
    assert_eq!(count_of(&done, "import.created"), "2");
    assert_eq!(count_of(&done, "import.rejected"), "1");
    assert_eq!(app.count("contacts").await, 2);
    let wang = app.contact_by("mobile:+8613800138000").await.unwrap();
    assert_eq!(wang["name"], "王伟");

    let id = r.location.trim_start_matches("/imports/");
    let csv = b.get(&format!("/imports/{id}/rejected.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with('\u{feff}'));
    assert!(csv.body.contains("3,no_identifier,"), "{}", csv.body);

    // The real run consumed the upload.
    assert_eq!(b.get(&mapping_path).await.status, 404);
    assert_eq!(console_uploads(&app), 0);
    let list = b.get("/imports").await.body;
    assert_eq!(list.matches("客户名单.csv").count(), 2, "{list}");
}

#[tokio::test]
async fn a_mapping_without_an_identifying_column_is_shown_again_with_the_problem() {
    let app = spawn_app().await;
    add_user(&app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let mut b = Browser::new(&app);
    b.sign_in("admin@example.com").await;
    let csrf = csrf_of(&b.get("/imports").await.body);
    let r = b
        .upload(Some(&csrf), "a.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    let form = [
        ("csrf", csrf.as_str()),
        ("col_0", "name"),
        ("col_1", "ignore"),
        ("col_2", "ignore"),
        ("col_3", "company"),
        ("action", "dry_run"),
    ];
    let again = b.post(&r.location, &form).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("id=\"mapping-problem\""));
    assert_eq!(selected(&again.body, "col_1"), "ignore");
    assert_eq!(app.count("imports").await, 0);
}

#[tokio::test]
async fn only_roles_that_may_import_see_the_import_page() {
    let app = spawn_app().await;
    let a = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    add_user(
        &app,
        "marketer@example.com",
        &[Grant::org_wide(Role::Marketer)],
    )
    .await;
    add_user(&app, "rep@example.com", &[Grant::org_wide(Role::SalesRep)]).await;
    add_user(
        &app,
        "bu-marketer@example.com",
        &[Grant::in_bu(Role::Marketer, a)],
    )
    .await;

    let mut marketer = Browser::new(&app);
    marketer.sign_in("marketer@example.com").await;
    let home = marketer.get("/").await.body;
    assert!(home.contains("href=\"/imports\""), "{home}");
    assert_eq!(marketer.get("/imports").await.status, 200);

    let mut rep = Browser::new(&app);
    rep.sign_in("rep@example.com").await;
    let home = rep.get("/").await.body;
    assert!(!home.contains("href=\"/imports\""));
    let refused = rep.get("/imports").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("无权访问"));
    let csrf = csrf_of(&home);
    let r = rep
        .upload(Some(&csrf), "a.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(console_uploads(&app), 0);

    // A marketer of one business unit imports into a shared pool, but not into isolated ones: an
    // import's report may name contacts of every unit.
    let mut bu_marketer = Browser::new(&app);
    bu_marketer.sign_in("bu-marketer@example.com").await;
    assert_eq!(bu_marketer.get("/imports").await.status, 200);
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    assert_eq!(bu_marketer.get("/imports").await.status, 403);
    assert_eq!(marketer.get("/imports").await.status, 200);
}

#[tokio::test]
async fn uploads_and_runs_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    add_user(&app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let mut b = Browser::new(&app);
    b.sign_in("admin@example.com").await;
    let csrf = csrf_of(&b.get("/imports").await.body);

    let r = b.upload(None, "a.csv", CUSTOMERS.as_bytes().to_vec()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("表单已过期"), "{}", r.body);
    let r = b
        .upload(Some("forged"), "a.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(console_uploads(&app), 0, "a refused upload is not kept");

    let staged = b
        .upload(Some(&csrf), "a.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    assert_eq!(staged.status, 303);
    let r = b
        .post(
            &staged.location,
            &[("col_0", "name"), ("col_1", "mobile"), ("action", "run")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.count("imports").await, 0);
}

#[tokio::test]
async fn an_oversize_upload_is_refused_with_the_limit_named() {
    let app = spawn_app_with(|s| s.upload_limit_bytes = 1024).await;
    add_user(&app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let mut b = Browser::new(&app);
    b.sign_in("admin@example.com").await;
    let csrf = csrf_of(&b.get("/imports").await.body);
    let big = CUSTOMERS.repeat(20).into_bytes();
    assert!(big.len() > 1024);
    let r = b.upload(Some(&csrf), "big.csv", big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body.contains("文件过大") && r.body.contains("1024 bytes"),
        "{}",
        r.body
    );
    assert_eq!(console_uploads(&app), 0);
    let ok = b
        .upload(Some(&csrf), "small.csv", CUSTOMERS.as_bytes().to_vec())
        .await;
    assert_eq!(ok.status, 303, "a file under the limit is taken");
}

#[tokio::test]
async fn a_running_import_shows_its_progress_and_refreshes_itself() {
    let app = spawn_app().await;
    add_user(&app, "admin@example.com", &[Grant::org_wide(Role::Admin)]).await;
    let imp = app
        .store
        .create_import(
            app.org,
            "名单.csv",
            false,
            &["name".to_owned(), "mobile".to_owned()],
            None,
            Some(1_000),
            common::START,
        )
        .await
        .unwrap();
    app.store
        .update_import(
            app.org,
            imp.id,
            hatchery_store::imports::ImportStatus::Running,
            250,
            &serde_json::json!({}),
            None,
            None,
        )
        .await
        .unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("admin@example.com").await;
    let page = b.get(&format!("/imports/{}", imp.id)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("<meta http-equiv=\"refresh\" content=\"2\">"));
    assert!(
        page.body.contains("<progress value=\"250\" max=\"1000\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("250 / 1,000 (25%)"), "{}", page.body);
    assert!(page.body.contains("进行中"));

    app.store
        .update_import(
            app.org,
            imp.id,
            hatchery_store::imports::ImportStatus::Failed,
            250,
            &serde_json::json!({}),
            Some("interrupted: the server stopped"),
            Some(common::START + 1_000),
        )
        .await
        .unwrap();
    let page = b.get(&format!("/imports/{}", imp.id)).await;
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    assert!(page.body.contains("interrupted: the server stopped"));
    assert_eq!(b.get("/imports/imp_999").await.status, 404);
    assert_eq!(b.get("/imports/nonsense").await.status, 404);
}
