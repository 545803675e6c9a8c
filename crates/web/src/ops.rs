//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.store.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// The start page a new instance shows: what is running and where to go next. (The full console
/// is built on top of the REST API.)
async fn home(State(s): State<AppState>) -> Html<String> {
    let backend = s.store.backend_name();
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>Hatchery</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <style>body{{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#1f2933}}\
         code{{background:#f0f2f5;padding:.1rem .3rem;border-radius:3px}}</style></head><body>\
         <h1>Hatchery 孵化器</h1>\
         <p>私域流量池正在运行（数据库：{backend}）。 / The private traffic pool is running (database: {backend}).</p>\
         <ul><li><a href=\"/api/openapi.json\">REST API (OpenAPI)</a></li>\
         <li><a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/metrics\">/metrics</a></li></ul>\
         <p>创建 API 密钥 / create an API key: <code>hatchery admin api-key create --name ops --scope admin</code></p>\
         </body></html>"
    ))
}
