//! Segment's official Python library (`segment-analytics-python`), unchanged, against the real
//! application: identify, track, page, group and alias sent one by one, then a gzip-compressed batch
//! sent by the library's queue on flush. Everything is checked through the REST API afterwards.
//!
//! Needs Python 3 and the library pinned in `tests/clients/requirements.txt`; without them the
//! test fails and says how to install them (`.ci/run` does). `HATCHERY_TEST_PYTHON` names another
//! interpreter.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_app, TestApp, START};
use serde_json::Value;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn python() -> String {
    std::env::var("HATCHERY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn install_hint() -> String {
    format!(
        "install Python 3 and Segment's library with \
         `{} -m pip install -r crates/web/tests/clients/requirements.txt` \
         (or point HATCHERY_TEST_PYTHON at an interpreter that has it)",
        python()
    )
}

/// Fails the test, with the way to fix it, when the interpreter or the library is missing.
fn require_library() {
    let out = Command::new(python())
        .args(["-c", "import segment.analytics as a; print(a.VERSION)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}` ({e}); {}", python(), install_hint()));
    assert!(
        out.status.success(),
        "Segment's Python library is not importable by `{}`: {}; {}",
        python(),
        String::from_utf8_lossy(&out.stderr).trim(),
        install_hint()
    );
}

struct ClientRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs a client script to completion on a blocking thread, so the application (served on this
/// test's runtime) keeps answering it. Killed after [`CLIENT_TIMEOUT`].
async fn run_client(script: &str, args: Vec<String>) -> ClientRun {
    let script = clients_dir().join(script);
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let stdout = std::fs::File::create(&out_path).unwrap();
    let stderr = std::fs::File::create(&err_path).unwrap();
    let mut child = Command::new(python())
        .arg(&script)
        .args(&args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        // The application is on loopback; a proxy from the environment must not be asked for it.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}` ({e}); {}", python(), install_hint()));
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the client script ran for more than {CLIENT_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    ClientRun {
        status,
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

async fn contact_detail(app: &TestApp, id: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let (s, v) = app
        .get(&format!("/api/v1/contacts/{id}/events?limit=100"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["next_cursor"].is_null(), "one page holds the timeline");
    v["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn segment_python_library_calls_land_on_one_contact() {
    require_library();
    let app = spawn_app().await;
    let run = run_client(
        "segment_python.py",
        vec![app.addr.clone(), app.write_key.clone()],
    )
    .await;
    assert_ne!(run.status.code(), Some(3), "{}", install_hint());
    assert!(
        run.status.success(),
        "the Segment client failed ({}):\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );

    // One person, found by every identifier the library sent.
    let c = app
        .contact_by("email:zhang.wei@example.cn")
        .await
        .expect("the identify call's email names a contact");
    let id = c["id"].as_str().unwrap().to_owned();
    for identity in [
        "mobile:+8613800138000",
        "mobile:13800138000",
        "user_id:py-user-1",
        "anonymous_id:py-anon-1",
        "anonymous_id:py-anon-2",
    ] {
        let other = app.contact_by(identity).await;
        assert_eq!(
            other.as_ref().map(|o| &o["id"]),
            Some(&c["id"]),
            "{identity} belongs to the same contact"
        );
    }
    let (_, all) = app.get("/api/v1/contacts").await;
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        1,
        "the alias merged the second device's contact away"
    );

    // Traits: standard fields normalised, the rest kept as custom fields, Unicode intact.
    assert_eq!(c["email"], "zhang.wei@example.cn");
    assert_eq!(c["mobile"], "+8613800138000");
    assert_eq!(c["name"], "张伟");
    assert_eq!(c["company"], "深圳云启科技有限公司");
    assert_eq!(c["province"], "广东");
    assert_eq!(c["city"], "深圳");
    assert_eq!(c["title"], "采购经理");
    assert_eq!(c["traits"]["favourite_glyph"], "𠀀🚀");

    let detail = contact_detail(&app, &id).await;
    let mut identities: Vec<String> = detail["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["kind"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect();
    identities.sort();
    assert_eq!(
        identities,
        [
            "anonymous_id:py-anon-1",
            "anonymous_id:py-anon-2",
            "email:zhang.wei@example.cn",
            "mobile:+8613800138000",
            "user_id:py-user-1",
        ]
    );
    assert_eq!(detail["merges"].as_array().unwrap().len(), 1, "{detail}");

    // group: the account, linked to the contact.
    let account_id = c["account_id"]
        .as_str()
        .expect("the group call links the contact to an account");
    let (s, account) = app.get(&format!("/api/v1/accounts/{account_id}")).await;
    assert_eq!(s, 200, "{account}");
    assert_eq!(account["external_id"], "grp-py-42");
    assert_eq!(account["name"], "深圳云启科技有限公司");
    assert_eq!(account["industry"], "SaaS");

    // Every call is on the timeline, under the library's own messageId.
    let events = timeline(&app, &id).await;
    let count = |kind: &str, name: Option<&str>| {
        events
            .iter()
            .filter(|e| e["kind"] == kind && name.is_none_or(|n| e["name"] == n))
            .count()
    };
    assert_eq!(count("page", Some("Pricing")), 1);
    assert_eq!(count("page", Some("Case Studies")), 1);
    assert_eq!(count("identify", None), 1);
    assert_eq!(count("track", Some("Requested Trial")), 1);
    assert_eq!(count("group", None), 1);
    assert_eq!(count("alias", None), 1);
    assert_eq!(
        count("track", Some("Viewed Case Study")),
        25,
        "the queued, gzip-compressed batch was flushed whole"
    );
    assert_eq!(count("screen", Some("App Home")), 1);
    assert_eq!(events.len(), 32);
    for e in &events {
        let message_id = e["message_id"].as_str().unwrap();
        assert!(
            message_id.len() == 36 && message_id.matches('-').count() == 4,
            "the library's UUID messageId is kept: {message_id}"
        );
        assert_eq!(e["context"]["library"]["name"], "analytics-python");
        assert!(e["sent_at"].is_i64(), "sentAt of the batch is read");
        assert_eq!(e["received_at"], START);
    }
    let mut cases: Vec<i64> = events
        .iter()
        .filter(|e| e["name"] == "Viewed Case Study")
        .map(|e| e["properties"]["case"].as_i64().unwrap())
        .collect();
    cases.sort_unstable();
    assert_eq!(cases, (0..25).collect::<Vec<_>>());

    let pricing = events.iter().find(|e| e["name"] == "Pricing").unwrap();
    assert_eq!(pricing["utm_source"], "baidu");
    assert_eq!(pricing["utm_campaign"], "expo-2026");
    assert_eq!(pricing["properties"]["path"], "/pricing");
    assert_eq!(pricing["properties"]["category"], "Docs");

    // The event time is the library's `timestamp` corrected by its `sentAt`: an hour before the
    // server received it (the test clock stands at START), whatever the machine's clock says.
    let trial = events
        .iter()
        .find(|e| e["name"] == "Requested Trial")
        .unwrap();
    assert_eq!(trial["properties"]["plan"], "pro");
    assert_eq!(trial["properties"]["seats"], 20);
    assert_eq!(trial["properties"]["price"], 1999.5);
    let hour_before = START - 3_600_000;
    let occurred = trial["occurred_at"].as_i64().unwrap();
    assert!(
        (hour_before - 60_000..=hour_before).contains(&occurred),
        "occurred_at {occurred} is about an hour before {START}"
    );
}
