//! `GET /v1/postback`: the server-to-server postback offer-wall networks fire as a plain GET with
//! their macros in the query (`?key=..&transaction_id={aff_sub}&type=offer_conversion&revenue={payout}`).
//! Same semantics and answer as `POST /v1/leads/{transaction_id}/events`.
//!
//! Query rules, because these URLs are typed into network dashboards and never see a JSON encoder:
//! an empty parameter counts as absent (a macro the network had no value for); unknown parameters
//! are ignored (networks append their own); `revenue` and `payout` are plain decimal strings; the first of a
//! repeated parameter wins. The `key` is checked by `auth::require_query_key` before this runs.
//!
//! `country` (the lead's country, as networks' geo macros send it) is checked like the lead API's:
//! not a region is a 422 at `country`. A postback is a step of a lead already stored, and a stored
//! lead never changes, so a valid one changes nothing: the lead's country is the one it was posted
//! (or imported) with. `meta_lead_id` and `tiktok_lead_id` are treated the same way: checked (not
//! Meta's 15–17 digits, or not TikTok's digits, is a 422 at that field, an integration error worth
//! hearing about), and otherwise the lead keeps the ids it was posted with. Click ids (`fbclid`,
//! `gclid`, …) in a postback are ignored like any parameter of the network's own.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use signalpost_gateway::click_id;

use super::events::submit_event;
use super::{AppState, auth};
use crate::wire::dto::{EventRequest, RawRevenue, RawTime, validate_transaction_id};
use crate::wire::problem::{ApiError, FieldError};

/// The parameters of one postback, as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostbackQuery {
    pub transaction_id: Option<String>,
    /// Checked only (see the module notes).
    pub country: Option<String>,
    /// Checked only.
    pub meta_lead_id: Option<String>,
    /// Checked only.
    pub tiktok_lead_id: Option<String>,
    pub event: EventRequestParts,
}

/// The event parameters of a postback (the event body's fields, all text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRequestParts {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub buyer: Option<String>,
    pub offer: Option<String>,
    pub revenue: Option<String>,
    pub payout: Option<String>,
    pub currency: Option<String>,
    pub occurred_at: Option<String>,
    pub idempotency_key: Option<String>,
}

impl PostbackQuery {
    /// Reads a raw query string (percent-decoded, `+` as space).
    pub fn parse(query: &str) -> Self {
        let mut q = PostbackQuery::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let slot = match name.as_ref() {
                "transaction_id" => &mut q.transaction_id,
                "country" => &mut q.country,
                "meta_lead_id" => &mut q.meta_lead_id,
                "tiktok_lead_id" => &mut q.tiktok_lead_id,
                "type" => &mut q.event.kind,
                "name" => &mut q.event.name,
                "buyer" => &mut q.event.buyer,
                "offer" => &mut q.event.offer,
                "revenue" => &mut q.event.revenue,
                "payout" => &mut q.event.payout,
                "currency" => &mut q.event.currency,
                "occurred_at" => &mut q.event.occurred_at,
                "idempotency_key" => &mut q.event.idempotency_key,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.to_owned());
            }
        }
        q
    }

    /// The transaction id and the event body it stands for; missing required parameters are 422s.
    pub fn into_request(self) -> Result<(String, EventRequest), ApiError> {
        let mut errors = Vec::new();
        let transaction_id = match self.transaction_id {
            Some(t) => validate_transaction_id(&t, "transaction_id")
                .map_err(|e| errors.push(e))
                .ok(),
            None => {
                errors.push(FieldError::new(
                    "transaction_id",
                    "transaction_id is required (map it to the network's click or sub-id macro)",
                ));
                None
            }
        };
        if let Err(e) = crate::wire::dto::lead::parse_country(self.country) {
            errors.push(e);
        }
        for (field, value, check) in [
            (
                "meta_lead_id",
                &self.meta_lead_id,
                click_id::check_meta_lead_id as fn(&str) -> Result<(), String>,
            ),
            (
                "tiktok_lead_id",
                &self.tiktok_lead_id,
                click_id::check_tiktok_lead_id,
            ),
        ] {
            if let Some(Err(problem)) = value.as_deref().map(check) {
                errors.push(FieldError::new(field, problem));
            }
        }
        if self.event.kind.is_none() {
            errors.push(FieldError::new(
                "type",
                "type is required: lead_sold, offer_click, offer_conversion, buyer_routed or custom",
            ));
        }
        match transaction_id {
            Some(transaction_id) if errors.is_empty() => {
                let e = self.event;
                Ok((
                    transaction_id,
                    EventRequest {
                        kind: e.kind.unwrap_or_default(),
                        name: e.name,
                        buyer: e.buyer,
                        offer: e.offer,
                        revenue: e.revenue.map(RawRevenue::Text),
                        payout: e.payout.map(RawRevenue::Text),
                        currency: e.currency,
                        occurred_at: e.occurred_at.map(RawTime::Text),
                        idempotency_key: e.idempotency_key,
                    },
                ))
            }
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

/// The postback's query parameters, as documented (parsing is [`PostbackQuery::parse`], which
/// tolerates what network dashboards send).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documentation only.
pub(super) struct PostbackParams {
    /// The API key (or send `Authorization: Bearer`).
    key: Option<String>,
    /// The lead's transaction id (map it to the network's click or sub-id macro).
    transaction_id: String,
    /// The lead's country, ISO 3166-1 alpha-2 (any case). Checked: anything else is a 422 at
    /// `country`; the stored lead keeps the country it was posted with.
    country: Option<String>,
    /// Meta's lead id, 15 to 17 digits. Checked like `country` (a 422 at `meta_lead_id`); the stored
    /// lead keeps the id it was posted with.
    meta_lead_id: Option<String>,
    /// TikTok Lead Generation lead id, digits. Checked like `meta_lead_id`.
    tiktok_lead_id: Option<String>,
    /// `lead_sold`, `offer_click`, `offer_conversion`, `buyer_routed` or `custom`.
    #[param(rename = "type")]
    r#type: String,
    /// The custom event's name (type custom).
    name: Option<String>,
    buyer: Option<String>,
    offer: Option<String>,
    /// A plain decimal amount (`12.50`).
    revenue: Option<String>,
    currency: Option<String>,
    /// RFC 3339 or epoch seconds.
    occurred_at: Option<String>,
    idempotency_key: Option<String>,
}

/// The postback route; its key comes in the query.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/postback", get(postback))
        .route_layer(axum::middleware::from_fn_with_state(
            state.keys.clone(),
            auth::require_query_key,
        ))
}

/// The server-to-server postback offer-wall networks fire as a plain GET; same semantics and
/// answer as `POST /v1/leads/{transaction_id}/events`. Empty parameters count as absent, unknown
/// ones are ignored.
#[utoipa::path(
    get,
    path = "/v1/postback",
    tag = "ingest",
    params(PostbackParams),
    responses(
        (status = 202, description = "Stored (or replayed)", body = super::views::IngestAnswer),
        (status = 404, description = "No such lead", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid or missing; with `[server] strict_delivery`, also a conversion TikTok would refuse (`field` is its TikTok field, e.g. `page.url`)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full (Retry-After)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("api_key_query" = []), ("bearer" = []))
)]
pub(super) async fn postback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (transaction_id, request) =
        PostbackQuery::parse(query.as_deref().unwrap_or("")).into_request()?;
    submit_event(&state, transaction_id, &headers, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_macros_ignores_unknown_and_empty_parameters() {
        let q = PostbackQuery::parse(
            "key=k&transaction_id=t%2D1&type=offer_conversion&offer=42&revenue=12.50&currency=usd&payout=9&buyer=&sub2=x",
        );
        assert_eq!(q.transaction_id.as_deref(), Some("t-1"));
        assert_eq!(q.event.kind.as_deref(), Some("offer_conversion"));
        assert_eq!(q.event.revenue.as_deref(), Some("12.50"));
        assert_eq!(q.event.buyer, None);
        let (tx, req) = q.into_request().unwrap();
        assert_eq!(tx, "t-1");
        assert_eq!(req.revenue, Some(RawRevenue::Text("12.50".into())));
        assert_eq!(req.currency.as_deref(), Some("usd"));
        assert_eq!(req.payout, Some(RawRevenue::Text("9".into())));
    }

    #[test]
    fn a_country_parameter_is_checked_and_any_case_passes() {
        let ok = PostbackQuery::parse("transaction_id=t&type=lead_sold&country=gb");
        assert_eq!(ok.country.as_deref(), Some("gb"));
        assert!(ok.into_request().is_ok());
        let bad = PostbackQuery::parse("transaction_id=t&type=lead_sold&country=XX")
            .into_request()
            .unwrap_err();
        assert_eq!(bad.problem().field.as_deref(), Some("country"));
    }

    #[test]
    fn first_of_a_repeated_parameter_wins() {
        let q = PostbackQuery::parse("type=lead_sold&type=custom");
        assert_eq!(q.event.kind.as_deref(), Some("lead_sold"));
    }

    #[test]
    fn missing_transaction_id_and_type_are_both_named() {
        let err = PostbackQuery::parse("offer=1").into_request().unwrap_err();
        let problem = err.problem();
        assert_eq!(problem.status, 422);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["transaction_id", "type"]);
    }
}
