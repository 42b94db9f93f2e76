//! `/console`: the sign-in form when signed out; otherwise the dashboard — conversions by state,
//! the success rate over 24 h, a chart of conversions per minute by outcome, queue depth per pixel
//! and paused pixels. The live part is a fragment (`/console/live`) the page reloads every 15 s.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use signalpost_gateway::ConversionState;
use signalpost_gateway::delivery::PixelState;
use signalpost_gateway::time::now_ms;

use super::{seg, sign_in};
use crate::console::error::ConsoleError;
use crate::console::layout::{self, Nav};
use crate::console::session::Session;
use crate::console::{ConsoleState, chart, current_session};

/// Seconds between refreshes of the live fragment.
pub const REFRESH_SECS: u32 = 15;

#[derive(Debug, Default, Deserialize)]
pub struct IndexQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /console`.
pub async fn index(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(query): Query<IndexQuery>,
) -> Result<Response, ConsoleError> {
    let Some(session) = current_session(&state, &headers) else {
        let next = query.next.unwrap_or_else(|| "/console".to_owned());
        return Ok(sign_in::form(&headers, StatusCode::OK, &next, None));
    };
    let live = live_fragment(&state).await?;
    let content = html! {
        div id="live" data-refresh="/console/live" data-interval=(REFRESH_SECS) {
            (live)
        }
        p class="hint" { "Figures refresh every " (REFRESH_SECS) " seconds. " a href="/console/quality" { "Match quality per pixel" } " · " a href="/console/dead" { "Dead letters" } }
    };
    Ok(layout::page("Dashboard", Nav::Dashboard, &session, content).into_response())
}

/// `GET /console/live`: the refreshing part of the dashboard.
pub async fn live(
    State(state): State<ConsoleState>,
    Extension(_session): Extension<Session>,
) -> Result<Markup, ConsoleError> {
    live_fragment(&state).await
}

/// Counts of one pixel's conversions by state.
#[derive(Debug, Default, Clone, Copy)]
struct Depth {
    waiting: u64,
    retrying: u64,
    paused: u64,
    dead: u64,
    delivered: u64,
    /// Refused at ingest (TikTok would reject them); replayable once the cause is fixed.
    undeliverable: u64,
}

impl Depth {
    fn add(&mut self, state: ConversionState, n: u64) {
        match state {
            ConversionState::Pending | ConversionState::InFlight => self.waiting += n,
            ConversionState::Retrying => self.retrying += n,
            ConversionState::Paused => self.paused += n,
            ConversionState::Dead => self.dead += n,
            ConversionState::Delivered => self.delivered += n,
            ConversionState::Undeliverable => self.undeliverable += n,
            ConversionState::Suppressed => {}
        }
    }
}

async fn live_fragment(state: &ConsoleState) -> Result<Markup, ConsoleError> {
    let store = state.app.gateway.store();
    let now = now_ms();
    let depth_rows = store.queue_depth().await?;
    let minutes = store
        .conversions_per_minute(now - (chart::MINUTES as i64 - 1) * 60_000)
        .await?;
    let pixels = state.app.pixels.snapshot();

    let mut total = Depth::default();
    let mut per_pixel: BTreeMap<String, Depth> = pixels
        .iter()
        .map(|p| (p.config.code.clone(), Depth::default()))
        .collect();
    for row in &depth_rows {
        total.add(row.state, row.count);
        per_pixel
            .entry(row.pixel.clone())
            .or_default()
            .add(row.state, row.count);
    }
    let mut day = Depth::default();
    for row in &minutes {
        day.add(row.state, row.count);
    }
    let success = layout::percent(day.delivered, day.delivered + day.dead);
    let paused: Vec<_> = pixels
        .iter()
        .filter_map(|p| match &p.state {
            PixelState::Paused { reason } => Some((p.config.code.clone(), reason.clone())),
            PixelState::Active => None,
        })
        .collect();

    Ok(html! {
        @for (code, reason) in &paused {
            p class="notice error" role="alert" {
                "Pixel " strong { (code) } " is paused: " (reason) ". "
                a href="/console/pixels" { "Rotate its token" }
            }
        }
        section aria-labelledby="counts-h" {
            h2 id="counts-h" { "Conversions" }
            dl class="cards" {
                div class="card delivered" { dt { "Delivered" } dd { (total.delivered) } }
                div class="card" { dt { "Waiting" } dd { (total.waiting) } }
                div class="card retrying" { dt { "Retrying" } dd { (total.retrying) } }
                div class="card dead" { dt { "Dead" } dd { (total.dead) } }
                div class="card paused" { dt { "Paused" } dd { (total.paused) } }
                div class="card dead" { dt { "Undeliverable" } dd { (total.undeliverable) } }
                div class="card" { dt { "Success rate, 24 h" } dd { (success) } }
            }
            p class="hint" { "Success rate: delivered ÷ (delivered + dead) among conversions queued in the last 24 hours." }
            @if total.undeliverable > 0 {
                p class="notice error" role="alert" {
                    (total.undeliverable) " conversion(s) were refused at ingest because TikTok would reject them (most often: no page URL). "
                    "Give their pixel a " a href="/console/pixels" { "site URL" } ", then replay them (POST /v1/replay with state \"undeliverable\")."
                }
            }
        }
        section aria-labelledby="chart-h" {
            h2 id="chart-h" { "Last 24 hours" }
            (chart::render(&minutes, now))
        }
        section aria-labelledby="depth-h" {
            h2 id="depth-h" { "Queue depth per pixel" }
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { "Pixel" } th scope="col" { "Health" }
                        th scope="col" class="num" { "Waiting" } th scope="col" class="num" { "Retrying" }
                        th scope="col" class="num" { "Paused" } th scope="col" class="num" { "Dead" }
                        th scope="col" class="num" { "Undeliverable" } th scope="col" class="num" { "Delivered" }
                    } }
                    tbody {
                        @for (code, d) in &per_pixel {
                            tr {
                                th scope="row" class="mono" { (code) }
                                td { (health(state, code)) }
                                td class="num" { (d.waiting) } td class="num" { (d.retrying) }
                                td class="num" { (d.paused) }
                                td class="num" { @if d.dead > 0 { a href=(format!("/console/dead?pixel={}", seg(code))) { (d.dead) } } @else { "0" } }
                                td class="num" { (d.undeliverable) }
                                td class="num" { (d.delivered) }
                            }
                        }
                        @if per_pixel.is_empty() {
                            tr { td colspan="8" { "No pixel yet. " a href="/console/pixels" { "Add one" } } }
                        }
                    }
                }
            }
        }
    })
}

/// A pixel's health badge: ok, paused, or not configured (conversions of a removed pixel).
pub fn health(state: &ConsoleState, code: &str) -> Markup {
    match state.app.pixels.get(code).map(|p| p.state) {
        Some(PixelState::Active) => html! { span class="badge ok" { "ok" } },
        Some(PixelState::Paused { .. }) => html! { span class="badge paused" { "paused" } },
        None => html! { span class="badge disabled" { "not configured" } },
    }
}
