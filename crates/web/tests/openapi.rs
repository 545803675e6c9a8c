//! The OpenAPI document is generated from the handlers; this snapshot makes every API change
//! visible in review. After an intended change: `UPDATE_SNAPSHOTS=1 cargo test -p hatchery-web --test openapi`.

use utoipa::OpenApi;

#[test]
fn openapi_document_matches_the_snapshot() {
    let doc = serde_json::to_string_pretty(&hatchery_web::openapi::ApiDoc::openapi()).unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &doc).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).expect("snapshot missing: run with UPDATE_SNAPSHOTS=1");
    assert_eq!(
        doc, expected,
        "the OpenAPI document changed; review and update the snapshot"
    );
}

#[test]
fn every_rest_route_is_documented() {
    let doc = hatchery_web::openapi::ApiDoc::openapi();
    for p in [
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/contacts/{id}/events",
        "/api/v1/accounts",
        "/api/v1/tags",
        "/api/v1/fields",
        "/api/v1/identity-rules",
        "/api/v1/api-keys",
        "/api/v1/sources",
        "/api/v1/segments",
        "/api/v1/segments/preview",
        "/api/v1/segments/{id}",
        "/api/v1/segments/{id}/contacts",
        "/api/v1/scoring-model",
        "/api/v1/lifecycle",
        "/api/v1/contacts/{id}/stage",
        "/api/v1/tiers",
        "/api/v1/tag-rules",
        "/api/v1/contacts/{id}/consents",
        "/v1/identify",
        "/v1/track",
        "/v1/page",
        "/v1/screen",
        "/v1/group",
        "/v1/alias",
        "/v1/batch",
    ] {
        assert!(
            doc.paths.paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
}
