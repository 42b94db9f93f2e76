//! `GET /openapi.json` (no key): the OpenAPI 3.1 document of every route, derived with utoipa from
//! the handlers' `#[utoipa::path]` attributes and the DTOs' `ToSchema` derives, so the document is
//! written next to the code it describes. Two tests keep it honest: every `.route(...)` in the HTTP
//! sources (the list the router is built from) must be in the document with each of its methods,
//! and every documented operation must be served by the real router.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signalpost",
        description = "Server-side conversion gateway from lead funnels to the TikTok Events API. Every /v1 route takes `Authorization: Bearer <key>` (the postback also `?key=`). Errors are RFC 9457 `application/problem+json` documents naming the field at fault.",
    ),
    paths(
        super::leads::post_lead,
        super::leads::get_lead,
        super::events::post_event,
        super::batch::post_batch,
        super::postback::postback,
        super::test_postback::test_postback,
        super::preview::post_preview,
        super::replay::post_replay,
        super::admin::pixels::list_pixels,
        super::admin::pixels::create_pixel,
        super::admin::pixels::get_pixel,
        super::admin::pixels::update_pixel,
        super::admin::pixels::set_token,
        super::admin::pixels::delete_pixel,
        super::admin::rules::list_rules,
        super::admin::rules::create_rule,
        super::admin::rules::get_rule,
        super::admin::rules::replace_rule,
        super::admin::rules::update_rule,
        super::admin::rules::delete_rule,
        super::admin::keys::list_keys,
        super::admin::keys::create_key,
        super::admin::keys::revoke_key,
        super::admin::erase::erase_lead,
        super::health::healthz,
        super::health::readyz,
        super::capture::capture_js,
        super::metrics::scrape,
        openapi_json,
    ),
    components(schemas(crate::wire::problem::Problem, crate::wire::problem::FieldError)),
    modifiers(&Security),
    tags(
        (name = "ingest", description = "Leads and their lifecycle events"),
        (name = "operator", description = "Test postback, preview and replay (admin keys)"),
        (name = "admin", description = "Pixels, rules and API keys (admin keys)"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// Adds the security schemes the operations refer to.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `[server] api_keys` (admin), or one created with POST /v1/keys or `signalpost keys create` (postback, ingest or admin; only a postback key is accepted as `key=` in a URL)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("key"))),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The route (no authentication: the API's shape is not a secret).
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot render the document: {e}\"}}"))
    });
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

#[cfg(test)]
mod tests;
