//! `/console/dead`: dead conversions (or, with `state=undeliverable`, those refused at ingest),
//! filtered by pixel, reason and time, newest first, with replay of the selected ones or of
//! everything the filter matches. A replay keeps the original event_id and payload (TikTok dedups on
//! them) and the attempt log; replayed undeliverable ones without `page.url` get their pixel's
//! current `site_url`, whichever way they are chosen. "All matching" without a reason filter is
//! exactly `POST /v1/replay`'s chunked replay, with one it re-queues the listed ids page by page.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use signalpost_gateway::replay::DEFAULT_REPLAY_CHUNK;
use signalpost_gateway::store::insights::MAX_REPLAY_IDS;
use signalpost_gateway::store::{DeadLetterFilter, ReplayFilter, ReplayFrom};
use signalpost_gateway::time::now_ms;

use super::seg;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, Nav, Notice};
use crate::console::session::Session;
use crate::console::{ConsoleState, csrf, see_other};
use crate::ops::replay::parse_since;
use crate::wire::problem::{ApiError, FieldError};

/// Dead letters per page.
pub const PAGE: usize = 100;

/// The filter, as in the query string (and repeated as hidden fields in the replay form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeadQuery {
    /// The state listed: `dead` (empty: the default) or `undeliverable`.
    #[serde(default)]
    state: String,
    #[serde(default)]
    pixel: String,
    #[serde(default)]
    reason: String,
    /// Queued since: `6h`, `2d`, or an RFC 3339 time.
    #[serde(default)]
    since: String,
    /// Queued before: same forms.
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: Option<i64>,
    #[serde(default)]
    replayed: Option<u64>,
}

impl DeadQuery {
    /// The state chosen: `dead` unless `state` says `undeliverable`.
    fn from(&self) -> Result<ReplayFrom, FieldError> {
        match self.state.trim() {
            "" | "dead" => Ok(ReplayFrom::Dead),
            "undeliverable" => Ok(ReplayFrom::Undeliverable),
            other => Err(FieldError::new(
                "state",
                format!("{other:?}: expected dead or undeliverable"),
            )),
        }
    }

    fn filter(&self, now: i64) -> Result<DeadLetterFilter, ApiError> {
        let mut errors = Vec::new();
        let from = self.from().map_err(|e| errors.push(e)).ok();
        let mut time = |raw: &str, field: &str| -> Option<i64> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            parse_since(raw, now)
                .map_err(|e| errors.push(FieldError::new(field, e)))
                .ok()
        };
        let since_ms = time(&self.since, "since");
        let until_ms = time(&self.until, "until");
        let (Some(from), true) = (from, errors.is_empty()) else {
            return Err(ApiError::Invalid(errors));
        };
        Ok(DeadLetterFilter {
            from,
            pixel: Some(self.pixel.trim().to_owned()).filter(|p| !p.is_empty()),
            reason: Some(self.reason.trim().to_owned()).filter(|r| !r.is_empty()),
            since_ms,
            until_ms,
            before_id: self.before,
            limit: PAGE,
        })
    }

    fn query_string(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", &self.state)
            .append_pair("pixel", &self.pixel)
            .append_pair("reason", &self.reason)
            .append_pair("since", &self.since)
            .append_pair("until", &self.until)
            .finish()
    }
}

/// `GET /console/dead`.
pub async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(query): Query<DeadQuery>,
) -> Result<Response, ConsoleError> {
    let store = state.app.gateway.store();
    let from = query.from().unwrap_or_default();
    let reasons = store.dead_reasons(from, 20).await?;
    let (dead, problem) = match query.filter(now_ms()) {
        Ok(filter) => (store.dead_letters(&filter).await?, None),
        Err(e) => (Vec::new(), Some(e.problem())),
    };
    let pixels = state.app.pixels.codes();
    let content = html! {
        @if let Some(n) = query.replayed { (layout::notice(Notice::Ok, &format!("{n} conversion(s) re-queued with their original event_id."))) }
        @if let Some(p) = &problem {
            (layout::notice(Notice::Error, &p.errors.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect::<Vec<_>>().join("; ")))
        }
        form class="inline" method="get" action="/console/dead" aria-label="Filter dead letters" {
            div class="field" {
                label for="f-state" { "State" }
                select id="f-state" name="state" {
                    @for s in [ReplayFrom::Dead, ReplayFrom::Undeliverable] {
                        option value=(s.as_str()) selected[s == from] { (s.as_str()) }
                    }
                }
            }
            div class="field" {
                label for="f-pixel" { "Pixel" }
                select id="f-pixel" name="pixel" {
                    option value="" { "(all)" }
                    @for p in &pixels { option value=(p) selected[*p == query.pixel] { (p) } }
                }
            }
            div class="field" {
                label for="f-reason" { "Reason contains" }
                input id="f-reason" type="text" name="reason" value=(query.reason) list="reasons";
                datalist id="reasons" { @for r in &reasons { option value=(r.reason) { (r.count) " " (from.as_str()) } } }
            }
            div class="field" {
                label for="f-since" { "Queued since" }
                input id="f-since" type="text" name="since" value=(query.since) placeholder="24h, 7d or 2025-06-01T00:00:00Z" aria-describedby="time-hint";
            }
            div class="field" {
                label for="f-until" { "Queued before" }
                input id="f-until" type="text" name="until" value=(query.until) placeholder="1h" aria-describedby="time-hint";
            }
            button type="submit" { "Filter" }
        }
        p id="time-hint" class="hint" { "Times: a duration back from now (90m, 6h, 2d, 1w) or an RFC 3339 time." }
        @if !reasons.is_empty() {
            details {
                summary { "Most frequent reasons" }
                ul { @for r in &reasons { li { strong { (r.count) } " × " (r.reason) } } }
            }
        }
        (list(&session, &query, from, &dead))
    };
    Ok(layout::page("Dead letters", Nav::Dead, &session, content).into_response())
}

fn list(
    session: &Session,
    query: &DeadQuery,
    from: ReplayFrom,
    dead: &[signalpost_gateway::Conversion],
) -> Markup {
    html! {
        form method="post" action="/console/dead/replay" aria-label="Replay dead letters" {
            (csrf::field(&session.csrf))
            input type="hidden" name="state" value=(from.as_str());
            input type="hidden" name="pixel" value=(query.pixel);
            input type="hidden" name="reason" value=(query.reason);
            input type="hidden" name="since" value=(query.since);
            input type="hidden" name="until" value=(query.until);
            h2 { (dead.len()) @if dead.len() == PAGE { "+" } " " (from.as_str()) " conversion(s)" }
            @if !dead.is_empty() {
                div class="actions" {
                    button type="submit" name="action" value="selected" { "Replay selected" }
                    button type="submit" name="action" value="all" class="secondary" { "Replay all matching the filter" }
                }
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { input type="checkbox" id="select-all" data-select-all aria-label="Select all listed"; }
                            th scope="col" { "Queued" } th scope="col" { "Pixel" } th scope="col" { "Event" }
                            th scope="col" { "Lead" } th scope="col" { "Reason" } th scope="col" class="num" { "Attempts" }
                        } }
                        tbody {
                            @for c in dead {
                                tr {
                                    td { input type="checkbox" name="id" value=(c.id) id=(format!("dead-{}", c.id)) aria-label=(format!("Select {} of {}", c.event_name, c.transaction_id)); }
                                    td { (layout::time_ms(c.created_at_ms)) }
                                    td class="mono" { (c.pixel) }
                                    td { (c.event_name) br; span class="mono hint" { (c.event_id) } }
                                    td { a class="mono" href=(format!("/console/leads/{}", seg(&c.transaction_id))) { (c.transaction_id) } }
                                    td { @match &c.last_error { Some(e) => (e), None => (layout::empty()) } }
                                    td class="num" { (c.attempts) }
                                }
                            }
                        }
                    }
                }
                @if dead.len() == PAGE {
                    @if let Some(last) = dead.last() {
                        p { a href=(format!("/console/dead?{}&before={}", query.query_string(), last.id)) { "Older dead letters →" } }
                    }
                }
            } @else {
                p { "Nothing " (from.as_str()) " matches. " }
            }
        }
    }
}

/// `POST /console/dead/replay`: `action=selected` with `id=…` fields, or `action=all` with the
/// filter fields.
pub async fn replay(
    State(state): State<ConsoleState>,
    Extension(_session): Extension<Session>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let mut query = DeadQuery::default();
    let mut action = String::new();
    let mut ids = Vec::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "action" => action = value.into_owned(),
            "id" => ids.push(value.parse::<i64>().map_err(|_| {
                ApiError::invalid("id", format!("{value:?} is not a conversion id"))
            })?),
            "state" => query.state = value.into_owned(),
            "pixel" => query.pixel = value.into_owned(),
            "reason" => query.reason = value.into_owned(),
            "since" => query.since = value.into_owned(),
            "until" => query.until = value.into_owned(),
            _ => {}
        }
    }
    let gateway = &state.app.gateway;
    let from = query.from().map_err(|e| ApiError::Invalid(vec![e]))?;
    let requeued = match action.as_str() {
        "selected" => {
            if ids.is_empty() {
                return Err(
                    ApiError::invalid("id", "select at least one conversion to replay").into(),
                );
            }
            let mut total = 0;
            for chunk in ids.chunks(MAX_REPLAY_IDS) {
                total += gateway.replay_ids(from, chunk).await?.requeued;
            }
            total
        }
        "all" => {
            let filter = query.filter(now_ms())?;
            if filter.reason.is_none() && filter.until_ms.is_none() {
                // Exactly what POST /v1/replay does for {state, pixel, since}.
                let replay = ReplayFilter {
                    pixel: filter.pixel.clone(),
                    queued_since_ms: filter.since_ms,
                    ..ReplayFilter::all(from)
                };
                gateway
                    .replay(&replay, false, DEFAULT_REPLAY_CHUNK, |_| {})
                    .await?
                    .requeued
            } else {
                replay_listed(&state, filter).await?
            }
        }
        other => {
            return Err(ApiError::invalid(
                "action",
                format!("{other:?}: expected selected or all"),
            )
            .into());
        }
    };
    if requeued > 0 {
        for code in state.app.pixels.codes() {
            gateway.wake_pixel(&code);
        }
    }
    tracing::info!(requeued, action = %action, state = from.as_str(), "console: parked conversions replayed");
    Ok(see_other(&format!(
        "/console/dead?{}&replayed={requeued}",
        query.query_string()
    )))
}

/// Re-queues, page by page, every conversion the filter lists (reason and end-time filters are not
/// part of the store's replay filter).
async fn replay_listed(
    state: &ConsoleState,
    mut filter: DeadLetterFilter,
) -> Result<u64, ConsoleError> {
    let gateway = &state.app.gateway;
    let store = gateway.store();
    filter.limit = MAX_REPLAY_IDS;
    filter.before_id = None;
    let mut total = 0;
    loop {
        let page = store.dead_letters(&filter).await?;
        let Some(last) = page.last().map(|c| c.id) else {
            break;
        };
        let ids: Vec<i64> = page.iter().map(|c| c.id).collect();
        total += gateway.replay_ids(filter.from, &ids).await?.requeued;
        filter.before_id = Some(last);
    }
    Ok(total)
}
