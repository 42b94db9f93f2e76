//! `/v1/pixels`: list pixels with their token health, add one, change its destination, test code or
//! site URL, rotate its access token (write-only: no answer ever carries a token, only `tt_…last4`),
//! delete it. Answers carry `warnings` for what is valid but worth fixing (no `site_url`).

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use serde::Deserialize;
use signalpost_gateway::destinations::{DestinationSpec, google_ads};

use super::super::{AppState, Json};
use super::{AdminAccessProblems, JsonBodyProblems};
use crate::admin::views::{PixelView, TokenRotated};
use crate::admin::{NewPixel, PixelPatch};
use crate::wire::json::ApiJson;
use crate::wire::problem::{ApiError, Problem};
use signalpost_gateway::destinations::DestinationPatch;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/pixels", get(list_pixels).post(create_pixel))
        .route(
            "/v1/pixels/{code}",
            get(get_pixel).patch(update_pixel).delete(delete_pixel),
        )
        .route("/v1/pixels/{code}/token", put(set_token))
}

/// A pixel to add.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePixel {
    /// The pixel code from TikTok Events Manager (`event_source_id`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub code: String,
    /// The pixel's access token (TikTok, Meta); Google Ads pixels take `developer_token`,
    /// `client_id`, `client_secret` and `refresh_token` instead. Stored encrypted; never shown
    /// again.
    #[serde(default)]
    #[schema(pattern = "^[^\\s\\x00-\\x1f\\x7f]{1,512}$")]
    pub access_token: Option<String>,
    /// Destination; TikTok's production API when absent. An `https://` URL without query or
    /// fragment whose host is listed in `[server] allowed_destination_hosts` (or named by a pixel
    /// in the config file, which may also use plain http).
    #[serde(default)]
    #[schema(format = "uri")]
    pub base_url: Option<String>,
    /// Events Manager test code applied to conversions whose rule sets none.
    #[serde(default)]
    #[schema(pattern = "^[^\\s\\x00-\\x1f\\x7f]{1,64}$")]
    pub test_event_code: Option<String>,
    /// The advertiser's site (an absolute http(s) URL): sent as `page.url` when a lead has neither
    /// `landing_url` nor `referrer`. Without it such leads' conversions are `undeliverable`.
    #[serde(default)]
    #[schema(format = "uri", max_length = 4096)]
    pub site_url: Option<String>,
    /// The region (ISO 3166-1 alpha-2, any case) this pixel's events read a national phone number
    /// with when the lead has no `country`; absent: `[server] default_region`.
    #[serde(default)]
    #[schema(example = "FR")]
    pub default_region: Option<String>,
    /// `tiktok` (default) or `meta` (`code` is then the Meta pixel / dataset id). Set at creation.
    #[serde(default)]
    #[schema(example = "meta")]
    pub destination: Option<String>,
    /// TikTok: `web` (default) or `crm` (`code` is a CRM event set id; events carry the lead's
    /// `tiktok_lead_id`).
    #[serde(default)]
    pub event_source: Option<String>,
    /// Meta: the Graph API version (default: the current one).
    #[serde(default)]
    #[schema(example = "v25.0")]
    pub api_version: Option<String>,
    /// Meta: `website` (default), `system_generated` (Conversion Leads), `phone_call`, …
    #[serde(default)]
    pub action_source: Option<String>,
    /// CRM events (TikTok `crm`, Meta `system_generated`): the name of the system the lead stages
    /// come from (default `signalpost`).
    #[serde(default)]
    pub lead_event_source: Option<String>,
    /// Google Ads: the customer account (10 digits; dashes allowed).
    #[serde(default)]
    #[schema(example = "123-456-7890")]
    pub customer_id: Option<String>,
    /// Google Ads: the conversion action's id.
    #[serde(default)]
    pub conversion_action: Option<String>,
    /// Google Ads: the manager account acting for the customer.
    #[serde(default)]
    pub login_customer_id: Option<String>,
    /// Google Ads: the OAuth token endpoint (default Google's).
    #[serde(default)]
    #[schema(format = "uri")]
    pub token_url: Option<String>,
    /// Google Ads: `granted` or `denied` for conversions whose lead says nothing.
    #[serde(default)]
    pub consent: Option<String>,
    /// Google Ads: the developer token. Stored encrypted; never shown again.
    #[serde(default)]
    pub developer_token: Option<String>,
    /// Google Ads: the OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Google Ads: the OAuth client secret. Stored encrypted; never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Google Ads: the OAuth refresh token. Stored encrypted; never shown again.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A Google Ads pixel's credentials as a request gave them (all four, or none for other
/// destinations).
struct GoogleCredentials {
    developer_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

impl GoogleCredentials {
    fn is_empty(&self) -> bool {
        self.developer_token.is_none()
            && self.client_id.is_none()
            && self.client_secret.is_none()
            && self.refresh_token.is_none()
    }

    /// The secret a pixel of destination `google` (or not) stores: the access token, or the
    /// four credentials bundled; a 422 naming the field at fault otherwise.
    fn secret(self, google: bool, access_token: Option<String>) -> Result<String, ApiError> {
        if !google {
            if let Some(field) = [
                ("developer_token", self.developer_token.is_some()),
                ("client_id", self.client_id.is_some()),
                ("client_secret", self.client_secret.is_some()),
                ("refresh_token", self.refresh_token.is_some()),
            ]
            .iter()
            .find(|(_, set)| *set)
            {
                return Err(ApiError::invalid(
                    field.0,
                    "applies to google_ads pixels only",
                ));
            }
            return Ok(access_token.unwrap_or_default());
        }
        if access_token.is_some() {
            return Err(ApiError::invalid(
                "access_token",
                "google_ads pixels take developer_token, client_id, client_secret and refresh_token instead",
            ));
        }
        let secrets = google_ads::token::Secrets::from_parts(
            self.developer_token.as_deref(),
            self.client_id.as_deref(),
            self.client_secret.as_deref(),
            self.refresh_token.as_deref(),
        );
        secrets.check().map_err(|field| {
            ApiError::invalid(
                field,
                "required for google_ads pixels: 1 to 2048 visible ASCII characters",
            )
        })?;
        Ok(secrets.to_bundle())
    }
}

impl std::fmt::Debug for CreatePixel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatePixel")
            .field("code", &self.code)
            .field("access_token", &"<token>")
            .field("base_url", &self.base_url)
            .field("test_event_code", &self.test_event_code)
            .field("site_url", &self.site_url)
            .field("default_region", &self.default_region)
            .field("destination", &self.destination)
            .finish()
    }
}

impl std::fmt::Debug for SetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetToken(<token>)")
    }
}

/// Changes to a pixel: a field left out is unchanged, `null` clears it.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePixel {
    /// Destination: an `https://` URL whose host is listed in `[server] allowed_destination_hosts`
    /// (or named by a pixel in the config file); `null` sends to TikTok's API. A new value needs
    /// `access_token` in the same request.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri")]
    pub base_url: Option<Option<String>>,
    /// The pixel's access token: required with a new `base_url`, and stored in place of the
    /// current one (encrypted; never shown again).
    #[serde(default)]
    #[schema(pattern = "^[^\\s\\x00-\\x1f\\x7f]{1,512}$")]
    pub access_token: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub test_event_code: Option<Option<String>>,
    /// The advertiser's site (an absolute http(s) URL), `page.url` of leads without `landing_url`
    /// or `referrer`; `null` removes it. Undeliverable conversions can be replayed after setting it
    /// (`POST /v1/replay` with `"state": "undeliverable"`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 4096)]
    pub site_url: Option<Option<String>>,
    /// The region (ISO 3166-1 alpha-2) for national phone numbers of leads without `country`;
    /// `null` falls back to `[server] default_region`. Applies to leads ingested from then on.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub default_region: Option<Option<String>>,
    /// The pixel's destination as it is (`tiktok`, `meta`): accepted when unchanged, refused
    /// otherwise (queued conversions are shaped for it; add a new pixel instead).
    #[serde(default)]
    pub destination: Option<String>,
    /// TikTok: `web` or `crm`, accepted when unchanged only (a CRM event set is another id).
    #[serde(default)]
    pub event_source: Option<String>,
    /// Meta: the Graph API version for conversions sent from now on; `null` is the current default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "v26.0")]
    pub api_version: Option<Option<String>>,
    /// Meta: the `action_source` of conversions planned from now on; `null` is `website`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub action_source: Option<Option<String>>,
    /// CRM events: the system the stages come from; `null` is `signalpost`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub lead_event_source: Option<Option<String>>,
    /// Google Ads: accepted only unchanged (queued conversions name it).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Google Ads: accepted only unchanged (queued conversions name it).
    #[serde(default)]
    pub conversion_action: Option<String>,
    /// Google Ads: the manager account; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub login_customer_id: Option<Option<String>>,
    /// Google Ads: the OAuth token endpoint; `null` is Google's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub token_url: Option<Option<String>>,
    /// Google Ads: `granted` or `denied`; `null` sends none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub consent: Option<Option<String>>,
}

impl std::fmt::Debug for UpdatePixel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdatePixel")
            .field("base_url", &self.base_url)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<token>"),
            )
            .field("test_event_code", &self.test_event_code)
            .field("site_url", &self.site_url)
            .field("default_region", &self.default_region)
            .field("destination", &self.destination)
            .field("event_source", &self.event_source)
            .field("api_version", &self.api_version)
            .field("action_source", &self.action_source)
            .field("lead_event_source", &self.lead_event_source)
            .finish()
    }
}

/// A field that is present (possibly `null`) becomes `Some(value)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A replacement access token, or a Google Ads pixel's four credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetToken {
    /// The new access token (TikTok, Meta). Stored encrypted; never shown again.
    #[serde(default)]
    #[schema(pattern = "^[^\\s\\x00-\\x1f\\x7f]{1,512}$")]
    pub access_token: Option<String>,
    /// Google Ads: the developer token. Stored encrypted; never shown again.
    #[serde(default)]
    pub developer_token: Option<String>,
    /// Google Ads: the OAuth client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Google Ads: the OAuth client secret. Stored encrypted; never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Google Ads: the OAuth refresh token. Stored encrypted; never shown again.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Every pixel with its health: `ok`, `paused` (TikTok rejected the token; events held) or
/// `rotate_soon` (the token is older than `[server] token_rotation_days`).
#[utoipa::path(
    get,
    path = "/v1/pixels",
    tag = "admin",
    responses(
        (status = 200, description = "The pixels", body = [PixelView]),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn list_pixels(State(state): State<AppState>) -> Result<Json<Vec<PixelView>>, ApiError> {
    Ok(Json(state.admin.list_pixels().await?))
}

/// Add a pixel. The token is encrypted at rest and never returned.
#[utoipa::path(
    post,
    path = "/v1/pixels",
    tag = "admin",
    request_body = CreatePixel,
    responses(
        (status = 201, description = "Added", body = PixelView),
        (status = 409, description = "A pixel with this code exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn create_pixel(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreatePixel>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state
        .admin
        .create_pixel(NewPixel {
            access_token: GoogleCredentials {
                developer_token: body.developer_token,
                client_id: body.client_id,
                client_secret: body.client_secret,
                refresh_token: body.refresh_token,
            }
            .secret(
                body.destination.as_deref().map(str::trim) == Some("google_ads"),
                body.access_token,
            )?,
            code: body.code,
            base_url: body.base_url,
            test_event_code: body.test_event_code,
            site_url: body.site_url,
            default_region: body.default_region,
            destination: DestinationSpec {
                destination: body.destination,
                event_source: body.event_source,
                api_version: body.api_version,
                action_source: body.action_source,
                lead_event_source: body.lead_event_source,
                customer_id: body.customer_id,
                conversion_action: body.conversion_action,
                login_customer_id: body.login_customer_id,
                token_url: body.token_url,
                consent: body.consent,
            },
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One pixel with its health.
#[utoipa::path(
    get,
    path = "/v1/pixels/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "Pixel code")),
    responses(
        (status = 200, description = "The pixel", body = PixelView),
        (status = 404, description = "No such pixel", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn get_pixel(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<PixelView>, ApiError> {
    let Path(code) = path?;
    Ok(Json(state.admin.get_pixel(&code).await?))
}

/// Change a pixel's `base_url` (with its `access_token` again), default `test_event_code`,
/// `site_url`, `default_region`, or its destination's settings (`api_version`, `action_source`,
/// `lead_event_source`; the destination itself never changes). Settings apply to conversions
/// planned from then on; queued ones keep the payload they were built with.
#[utoipa::path(
    patch,
    path = "/v1/pixels/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "Pixel code")),
    request_body = UpdatePixel,
    responses(
        (status = 200, description = "Updated", body = PixelView),
        (status = 404, description = "No such pixel", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn update_pixel(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<UpdatePixel>,
) -> Result<Json<PixelView>, ApiError> {
    let Path(code) = path?;
    let patch = PixelPatch {
        base_url: body.base_url,
        test_event_code: body.test_event_code,
        site_url: body.site_url,
        default_region: body.default_region,
        access_token: body.access_token,
        destination: DestinationPatch {
            destination: body.destination,
            event_source: body.event_source,
            api_version: body.api_version,
            action_source: body.action_source,
            lead_event_source: body.lead_event_source,
            customer_id: body.customer_id,
            conversion_action: body.conversion_action,
            login_customer_id: body.login_customer_id,
            token_url: body.token_url,
            consent: body.consent,
        },
    };
    Ok(Json(state.admin.update_pixel(&code, patch).await?))
}

/// Replace a pixel's access token. A pixel paused because TikTok rejected its old token resumes,
/// and its held events are sent.
#[utoipa::path(
    put,
    path = "/v1/pixels/{code}/token",
    tag = "admin",
    params(("code" = String, Path, description = "Pixel code")),
    request_body = SetToken,
    responses(
        (status = 200, description = "Replaced", body = TokenRotated),
        (status = 404, description = "No such pixel", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The token is invalid", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn set_token(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<SetToken>,
) -> Result<Json<TokenRotated>, ApiError> {
    let Path(code) = path?;
    let google = state.admin.get_pixel(&code).await?.destination.name == "google_ads";
    let credentials = GoogleCredentials {
        developer_token: body.developer_token,
        client_id: body.client_id,
        client_secret: body.client_secret,
        refresh_token: body.refresh_token,
    };
    if !google && credentials.is_empty() && body.access_token.is_none() {
        return Err(ApiError::invalid("access_token", "required"));
    }
    let secret = credentials.secret(google, body.access_token)?;
    Ok(Json(state.admin.set_token(&code, &secret).await?))
}

/// Delete a pixel that no rule names (its queued conversions stay in the database).
#[utoipa::path(
    delete,
    path = "/v1/pixels/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "Pixel code")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such pixel", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Rules still use it", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn delete_pixel(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(code) = path?;
    state.admin.delete_pixel(&code).await?;
    Ok(StatusCode::NO_CONTENT)
}
