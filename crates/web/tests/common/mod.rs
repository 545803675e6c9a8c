//! `spawn_app()`: the real application on 127.0.0.1:0 against a fresh database — a SQLite file in a
//! temporary directory, or a new PostgreSQL database when `HATCHERY_TEST_DATABASE=postgres`
//! (dropped again when the test ends).

#![allow(dead_code)]

pub mod browser;

use std::sync::Arc;

use hatchery_engine::ManualClock;
use hatchery_store::keys::Scope;
use hatchery_store::{Store, StoreOptions};
use hatchery_web::{router, AppState};
use serde_json::Value;

pub const START: i64 = 1_795_000_000_000;

pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        if std::env::var("HATCHERY_TEST_DATABASE").as_deref() == Ok("postgres") {
            let name = format!("hatchery_test_{}", rand_hex());
            let admin = std::env::var("HATCHERY_TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN.into());
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("PostgreSQL for tests");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            TestDb {
                url,
                pg_name: Some(name),
                _dir: dir,
            }
        } else {
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            TestDb {
                url,
                pg_name: None,
                _dir: dir,
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let admin = std::env::var("HATCHERY_TEST_PG_URL").unwrap_or_else(|_| PG_ADMIN.into());
            // Drop runs outside any runtime we may block, so use a thread with its own.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

fn rand_hex() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}

pub struct TestApp {
    pub addr: String,
    pub store: Store,
    pub state: AppState,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub write_key: String,
    pub api_key: String,
    pub org: hatchery_domain::OrgId,
    pub db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the application state adjusted first (a small upload limit …).
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppState)) -> TestApp {
    spawn(configure, intake_log_on()).await
}

/// [`spawn_app`] with the intake log on, in the database's folder (`intake/`).
pub async fn spawn_app_with_intake_log() -> TestApp {
    spawn(|_| {}, true).await
}

async fn spawn(configure: impl FnOnce(&mut AppState), intake_log: bool) -> TestApp {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .expect("connect");
    let clock = ManualClock::new(START);
    let org = store.create_org("Test org", START).await.unwrap().id;
    let (_, write_key) = store
        .create_source(org, "Website", "website", START)
        .await
        .unwrap();
    let (_, api_key) = store
        .create_api_key(org, "test", &[Scope::Admin], START)
        .await
        .unwrap();
    // `HATCHERY_TEST_INTAKE_LOG=true` runs the tests with the intake log on (`scripts/test` does
    // for the tracking tests); the helpers below wait for logged requests to be applied.
    let mut state = if intake_log {
        AppState::with_intake_log(
            store.clone(),
            Arc::new(clock.clone()),
            db._dir.path().join("uploads"),
            hatchery_engine::evaluator::WORKERS,
            &db._dir.path().join("intake"),
        )
        .await
        .expect("intake log")
    } else {
        AppState::new(
            store.clone(),
            Arc::new(clock.clone()),
            db._dir.path().join("uploads"),
            hatchery_engine::evaluator::WORKERS,
        )
    };
    configure(&mut state);
    std::fs::create_dir_all(&state.upload_dir).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp {
        addr,
        store,
        state,
        clock,
        client: reqwest::Client::new(),
        write_key,
        api_key,
        org,
        db,
    }
}

pub fn intake_log_on() -> bool {
    std::env::var("HATCHERY_TEST_INTAKE_LOG").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDb {
    /// A folder that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl TestApp {
    /// Sends a tracking request with the source's write key. With the intake log on, returns once
    /// what it logged is applied, so the test reads it as it would without the log.
    pub async fn track(&self, path: &str, body: Value) -> reqwest::Response {
        let r = self
            .client
            .post(format!("{}{path}", self.addr))
            .basic_auth(&self.write_key, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap();
        self.state.ingestor.flush().await;
        r
    }

    pub async fn batch(&self, messages: Vec<Value>) {
        let r = self
            .track("/v1/batch", serde_json::json!({ "batch": messages }))
            .await;
        let status = r.status();
        assert_eq!(status, 200, "{}", r.text().await.unwrap());
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.addr))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.addr))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The contact holding an identity, via the API.
    pub async fn contact_by(&self, identity: &str) -> Option<Value> {
        let (s, v) = self
            .get(&format!(
                "/api/v1/contacts?identity={}",
                urlencode(identity)
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"].as_array().unwrap().first().cloned()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.store.backend() {
            hatchery_store::Backend::Sqlite(p) => {
                sqlx::query_scalar(&sql).fetch_one(p).await.unwrap()
            }
            hatchery_store::Backend::Postgres(p) => {
                sqlx::query_scalar(&sql).fetch_one(p).await.unwrap()
            }
        }
    }
}

/// Polls `check` until it holds (the evaluator works in the background), failing after 15 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
