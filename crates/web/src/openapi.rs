//! The OpenAPI document, generated from the handlers. Its full text is snapshot-tested
//! (`tests/openapi.rs`), so every API change shows in review.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, tracking};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hatchery API", description = "REST API of Hatchery, the B2B private-traffic pool. \
        Authenticate with `Authorization: Bearer <API key>`. Errors use one envelope: \
        `{ \"error\": { \"code\", \"message\", \"details\" } }`. Lists are newest first; pass `next_cursor` \
        back as `cursor`. Tracking (`/v1/*`) follows the Segment HTTP spec, so Segment's and RudderStack's client \
        libraries work unchanged: it authenticates with a source's write key as the HTTP Basic user name \
        (docs/ingestion.md)."),
    paths(
        api::contacts::list_contacts, api::contacts::get_contact, api::contacts::update_contact,
        api::contacts::delete_contact, api::contacts::list_contact_events, api::contacts::tag_contacts,
        api::accounts::list_accounts, api::accounts::get_account,
        api::tags::list_tags, api::tags::create_tag, api::tags::update_tag, api::tags::delete_tag,
        api::tags::get_tag_rules, api::tags::put_tag_rules,
        api::tags::list_fields, api::tags::create_field, api::tags::delete_field,
        api::admin::list_api_keys, api::admin::create_api_key, api::admin::revoke_api_key,
        api::admin::list_sources, api::admin::create_source, api::admin::disable_source,
        api::admin::get_identity_rules, api::admin::put_identity_rules,
        api::admin::list_business_units,
        api::intake::get_intake, api::intake::retry_set_aside, api::intake::discard_set_aside,
        api::imports::create_import, api::imports::preview_import, api::imports::list_imports,
        api::imports::get_import, api::imports::list_import_rejections,
        api::segments::preview_segment, api::segments::list_segments, api::segments::create_segment,
        api::segments::get_segment, api::segments::update_segment, api::segments::delete_segment,
        api::segments::list_segment_contacts, api::segments::list_segment_members, api::segments::list_segment_sizes,
        api::scoring::get_scoring_model, api::scoring::put_scoring_model, api::scoring::test_scoring_model,
        api::lifecycle::get_lifecycle, api::lifecycle::put_lifecycle, api::lifecycle::delete_lifecycle,
        api::lifecycle::get_contact_stage, api::lifecycle::move_contact_stage,
        api::tiers::get_tiers, api::tiers::put_tiers, api::tiers::delete_tiers,
        api::consents::list_consents, api::consents::put_consent,
        tracking::identify, tracking::track, tracking::page, tracking::screen, tracking::group,
        tracking::alias, tracking::batch,
    ),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Tracking: the source's write key as the user name, an empty password.
        components.add_security_scheme(
            "write_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
