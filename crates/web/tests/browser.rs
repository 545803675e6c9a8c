//! The console in headless Chromium, driven over WebDriver (chromedriver) against the real server:
//! first-run setup, search, the 360° page, an import watched to its end, the language switch, and
//! business-unit isolation. One browser session walks the whole story, to keep the suite fast.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`);
//! without them the test fails and says so. Screenshots of key pages go to `target/screenshots/`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_app_with, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use hatchery_domain::access::Placement;
use hatchery_domain::{Grant, PoolPolicy, Role};
use hatchery_store::users::NewUser;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL: &str = "install them with: apt-get install -y chromium chromium-driver";
const PASSWORD: &str = "correct horse battery";
/// How long a page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A chromedriver of our own on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "the browser tests need {program} (Debian's chromium and chromium-driver); {INSTALL}"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} did not start ({e}); {INSTALL}"));
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session, once chromedriver answers.
    async fn session(&self) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--no-first-run",
                    "--window-size=1280,900", "--lang=zh-CN",
                ],
                "prefs": { "intl.accept_languages": "zh-CN" },
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let started = Instant::now();
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(c) => return c,
                Err(e) if started.elapsed() > PATIENCE => {
                    panic!("no headless Chromium session through {CHROMEDRIVER}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

/// The page as it is now, saved as `target/screenshots/<name>.png`.
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's source contains `text` (pages reload themselves while an import runs).
async fn until_page_has(c: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let source = c.source().await.unwrap();
        if source.contains(text) {
            return source;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the page never showed {text:?}: {source}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the browser is at a path (with query) that passes `arrived`.
async fn until_path(c: &Client, arrived: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let path = path_of(c).await;
        if arrived(&path) {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "the browser stayed at {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Two business units with a contact placed in each, before anyone has signed up.
async fn seed(app: &TestApp) -> Seeded {
    let unit_a = app
        .store
        .create_business_unit(app.org, "华东事业部", common::START)
        .await
        .unwrap()
        .id;
    let unit_b = app
        .store
        .create_business_unit(app.org, "华南事业部", common::START)
        .await
        .unwrap()
        .id;
    app.batch(vec![
        json!({"type":"identify","userId":"crm-1","traits":{"email":"wang.lei@example.cn","name":"王磊","company":"示例科技"}}),
        json!({"type":"track","userId":"crm-1","event":"白皮书下载","properties":{"title":"私域运营指南"}}),
        json!({"type":"identify","userId":"crm-2","traits":{"email":"liu.yang@example.cn","name":"刘洋","company":"南方制造"}}),
    ])
    .await;
    let id = |c: Option<serde_json::Value>| -> hatchery_domain::ContactId {
        c.unwrap()["id"].as_str().unwrap().parse().unwrap()
    };
    let in_a = id(app.contact_by("email:wang.lei@example.cn").await);
    let in_b = id(app.contact_by("email:liu.yang@example.cn").await);
    for (contact, unit) in [(in_a, unit_a), (in_b, unit_b)] {
        app.store
            .place_contact(
                app.org,
                contact,
                Placement {
                    bu: Some(unit),
                    owner: None,
                },
                common::START,
            )
            .await
            .unwrap();
    }
    Seeded { unit_a, in_a, in_b }
}

struct Seeded {
    unit_a: hatchery_domain::ids::BusinessUnitId,
    in_a: hatchery_domain::ContactId,
    in_b: hatchery_domain::ContactId,
}

/// A sales rep of unit A (added once setup has made the instance's first user).
async fn add_sales_rep(app: &TestApp, unit_a: hatchery_domain::ids::BusinessUnitId) {
    let hash = hatchery_web::console::password::hash_blocking(PASSWORD);
    app.store
        .create_user(
            app.org,
            &NewUser {
                email: "rep@example.cn",
                name: "销售小陈",
                password_hash: &hash,
                locale: None,
            },
            &[Grant::in_bu(Role::SalesRep, unit_a)],
            false,
            common::START,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_console_works_in_headless_chromium() {
    let driver = Driver::start();
    let app = spawn_app_with(|s| s.upload_limit_bytes = 64 * 1024).await;
    let Seeded { unit_a, in_a, in_b } = seed(&app).await;
    let c = driver.session().await;
    let base = app.addr.clone();

    // An instance without users leads to first-run setup, which signs the administrator in.
    c.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path_of(&c).await, "/setup");
    fill(&c, "#name", "李雷").await;
    fill(&c, "#email", "admin@example.cn").await;
    fill(&c, "#password", PASSWORD).await;
    fill(&c, "#password_confirm", PASSWORD).await;
    click(&c, "form[action='/setup'] button").await;
    until_page_has(&c, "data-stat=\"pool\"").await;
    assert_eq!(path_of(&c).await, "/");
    screenshot(&c, "home").await;

    // Search a contact and open the 360° page.
    click(&c, "nav a[href='/contacts']").await;
    fill(&c, "#q", "王").await;
    click(&c, "form.filters button").await;
    until_path(&c, |p| p.contains("q=")).await;
    let list = until_page_has(&c, "王磊").await;
    assert!(!list.contains("刘洋"), "the search narrows the list");
    screenshot(&c, "contacts").await;
    click(&c, &format!("a[href='/contacts/{in_a}']")).await;
    let profile = until_page_has(&c, "<h1>王磊</h1>").await;
    assert!(
        profile.contains("白皮书下载"),
        "the timeline shows the download"
    );
    screenshot(&c, "contact").await;

    // Import a small CSV and watch it finish: dry run first, then the real run.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("老客户.csv");
    std::fs::write(
        &csv,
        "姓名,手机,邮箱,公司\n赵敏,13800138001,zhao.min@example.cn,示例科技\n无名,,,示例科技\n钱进,13900139002,,北方集团\n",
    )
    .unwrap();
    click(&c, "nav a[href='/imports']").await;
    // A file over the limit is refused with a page that says so.
    let big = dir.path().join("big.csv");
    std::fs::write(&big, "姓名,手机\n".repeat(1 << 16)).unwrap();
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(big.to_str().unwrap())
        .await
        .unwrap();
    click(&c, "form.upload button").await;
    let refused = until_page_has(&c, "文件过大").await;
    assert!(
        refused.contains("64 KiB") || refused.contains("65536 bytes"),
        "{refused}"
    );
    c.goto(&format!("{base}/imports")).await.unwrap();
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    click(&c, "form.upload button").await;
    let mapping = until_page_has(&c, "name=\"col_3\"").await;
    assert!(mapping.contains("老客户.csv"));
    let guessed = c
        .find(Locator::Css("#col_1"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(guessed.as_deref(), Some("mobile"));
    fill(&c, "#tag", "老客户激活").await;
    click(&c, "button[value='dry_run']").await;
    let dry = until_page_has(&c, "data-status=\"import.status.completed\"").await;
    assert!(dry.contains("data-count=\"import.rejected\">1<"), "{dry}");
    assert!(
        dry.contains("<td>3</td>"),
        "the rejected row is numbered: {dry}"
    );
    click(&c, "button[value='run']").await;
    // The dry run's page is left for the real import's.
    until_path(&c, |p| !p.contains("upload=")).await;
    let done = until_page_has(&c, "data-status=\"import.status.completed\"").await;
    assert!(done.contains("data-count=\"import.created\">2<"), "{done}");
    assert!(done.contains("rejected.csv"));
    screenshot(&c, "import").await;
    assert!(app.contact_by("mobile:+8613800138001").await.is_some());

    // Settings: create an API key and see it once, create a tracking source with its snippets.
    click(&c, "nav a[href='/settings']").await;
    until_page_has(&c, "action=\"/settings/identity-rules\"").await;
    screenshot(&c, "settings_organisation").await;
    click(&c, "nav.subnav a[href='/settings/api-keys']").await;
    fill(&c, "#name", "CRM 同步").await;
    click(&c, "form[action='/settings/api-keys'] button").await;
    let created = until_page_has(&c, "data-secret=").await;
    assert!(created.contains("contacts:read"), "{created}");
    screenshot(&c, "settings_api_keys").await;
    click(&c, "nav.subnav a[href='/settings/sources']").await;
    fill(&c, "#name", "官网").await;
    click(&c, "form[action='/settings/sources'] button").await;
    let source = until_page_has(&c, "data-secret=").await;
    assert!(source.contains("/v1/track"), "{source}");
    screenshot(&c, "settings_sources").await;
    click(&c, "nav.subnav a[href='/settings/users']").await;
    until_page_has(&c, "action=\"/settings/users/grant\"").await;
    screenshot(&c, "settings_users").await;
    click(&c, "nav a[href='/accounts']").await;
    until_page_has(&c, "action=\"/accounts\"").await;
    screenshot(&c, "accounts").await;

    // Build a segment of the imported batch: the count shows while the filter is typed, and
    // after saving, the segment's page reloads itself until its members are computed.
    click(&c, "nav a[href='/segments']").await;
    click(&c, "a[href='/segments/new']").await;
    fill(&c, "#name", "老客户激活批次").await;
    click(&c, "button[value='add_group:0']").await;
    until_page_has(&c, "data-row=\"5\"").await;
    screenshot(&c, "segment_builder").await;
    click(&c, "button[value='to_json']").await;
    until_page_has(&c, "id=\"filter\"").await;
    fill(&c, "#filter", r#"{"tag": "老客户激活"}"#).await;
    until_page_has(&c, "当前符合条件的联系人 2</output>").await;
    click(&c, "button[value='save']").await;
    let segment = until_page_has(&c, "data-stat=\"status\">已就绪<").await;
    assert!(
        segment.contains("标签 老客户激活") && segment.contains("赵敏"),
        "{segment}"
    );
    assert!(segment.contains("<svg class=\"chart\""));
    screenshot(&c, "segment").await;

    // The language switch flips the whole page, and back.
    click(&c, "a.lang").await;
    let english = until_page_has(&c, "<html lang=\"en\">").await;
    assert!(english.contains(">Contacts</a>"), "{english}");
    click(&c, "a.lang").await;
    let chinese = until_page_has(&c, "<html lang=\"zh-CN\">").await;
    assert!(chinese.contains(">联系人</a>"));

    // Under BU isolation, a sales rep of unit A cannot open a contact of unit B only.
    add_sales_rep(&app, unit_a).await;
    app.store
        .set_pool_policy(app.org, PoolPolicy::BuIsolated)
        .await
        .unwrap();
    click(&c, "form.sign-out button").await;
    until_page_has(&c, "action=\"/sign-in\"").await;
    fill(&c, "#email", "rep@example.cn").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form[action='/sign-in'] button").await;
    until_page_has(&c, "销售小陈").await;
    c.goto(&format!("{base}/contacts/{in_b}")).await.unwrap();
    let refused = until_page_has(&c, "无权访问").await;
    assert!(!refused.contains("刘洋"));
    c.goto(&format!("{base}/contacts/{in_a}")).await.unwrap();
    until_page_has(&c, "<h1>王磊</h1>").await;

    c.close().await.unwrap();
}
