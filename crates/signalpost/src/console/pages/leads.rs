//! `/console/leads?q=…`: finds leads by transaction_id, ttclid or email — a 64-hex hash as is, a
//! plain address normalized and hashed exactly as ingest does (the store only ever sees the hash).
//! `/console/leads/{transaction_id}`: the lead's timeline — lifecycle events, conversions, and every
//! delivery attempt with TikTok's code, message and request_id.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use signalpost_gateway::store::{ConversionView, LeadQuery};
use signalpost_gateway::{Lead, LeadView};
use signalpost_tiktok::identity::{hash_email, is_sha256_hex};

use super::seg;
use crate::console::ConsoleState;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, Nav, Notice};
use crate::console::session::Session;
use crate::wire::problem::ApiError;

/// Most leads listed for one search.
const MAX_RESULTS: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// How a search text is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpretation {
    /// An email, hashed here: `(what was typed, its hash)`.
    Email(String),
    /// A 64-hex string: an email hash (also tried as a transaction id).
    Hash(String),
    /// Anything else: a transaction id or a ttclid.
    Text(String),
}

/// Reads the search box.
pub fn interpret(q: &str) -> Result<Interpretation, String> {
    let q = q.trim();
    if is_sha256_hex(q) {
        return Ok(Interpretation::Hash(q.to_ascii_lowercase()));
    }
    if q.contains('@') {
        return hash_email(q)
            .map(|h| Interpretation::Email(h.into_string()))
            .map_err(|e| format!("not a usable email address: {e}"));
    }
    Ok(Interpretation::Text(q.to_owned()))
}

/// `GET /console/leads`.
pub async fn search(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let q = query.q.trim().to_owned();
    let mut notice = None;
    let mut found: Vec<(Lead, &'static str)> = Vec::new();
    if !q.is_empty() {
        let store = state.app.gateway.store();
        match interpret(&q) {
            Err(problem) => notice = Some(problem),
            Ok(how) => {
                let (by_id, by_hash, by_ttclid) = match &how {
                    Interpretation::Email(hash) => (None, Some(hash.clone()), None),
                    Interpretation::Hash(hash) => (Some(q.clone()), Some(hash.clone()), None),
                    Interpretation::Text(text) => (Some(text.clone()), None, Some(text.clone())),
                };
                if let Some(id) = by_id
                    && let Some(lead) = store.find_lead(&id).await?
                {
                    found.push((lead, "transaction_id"));
                }
                if let Some(hash) = by_hash {
                    for lead in store
                        .search_leads(&LeadQuery::EmailHash(hash), MAX_RESULTS)
                        .await?
                    {
                        found.push((lead, "email"));
                    }
                }
                if let Some(ttclid) = by_ttclid {
                    for lead in store
                        .search_leads(&LeadQuery::Ttclid(ttclid), MAX_RESULTS)
                        .await?
                    {
                        found.push((lead, "ttclid"));
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|(lead, _)| seen.insert(lead.transaction_id.clone()));
    let content = html! {
        form class="inline" method="get" action="/console/leads" role="search" {
            div class="field" {
                label for="q" { "Transaction id, ttclid or email" }
                input id="q" type="search" name="q" value=(q) aria-describedby="q-hint";
                small id="q-hint" class="hint" { "An email is normalized and hashed here; a 64-character hex hash is used as is." }
            }
            button type="submit" { "Search" }
        }
        @if let Some(problem) = &notice { (layout::notice(Notice::Error, problem)) }
        @if !q.is_empty() && notice.is_none() {
            h2 { (found.len()) " lead(s) found" }
            @if !found.is_empty() {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Transaction id" } th scope="col" { "Matched on" }
                            th scope="col" { "Submitted" } th scope="col" { "Source" } th scope="col" { "ttclid" }
                        } }
                        tbody {
                            @for (lead, matched) in &found {
                                tr {
                                    th scope="row" { a href=(format!("/console/leads/{}", seg(&lead.transaction_id))) class="mono" { (lead.transaction_id) } }
                                    td { (matched) }
                                    td { (layout::time_secs(lead.created_at)) }
                                    td { (opt_text(&lead.source)) }
                                    td class="mono" { (opt_text(&lead.ttclid)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page("Leads", Nav::Leads, &session, content).into_response())
}

fn opt_text(value: &Option<String>) -> Markup {
    match value {
        Some(v) if !v.is_empty() => html! { (v) },
        _ => layout::empty(),
    }
}

/// `GET /console/leads/{transaction_id}`.
pub async fn detail(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(transaction_id): Path<String>,
) -> Result<Response, ConsoleError> {
    let Some(view) = state.app.gateway.get_lead(&transaction_id).await? else {
        return Err(ApiError::NotFound {
            detail: format!("no lead with transaction_id {transaction_id:?}"),
        }
        .into());
    };
    let title = format!("Lead {transaction_id}");
    Ok(layout::page(&title, Nav::Leads, &session, timeline(&view)).into_response())
}

/// The lead's click ids and CRM lead ids besides `ttclid`/`ttp`, by field name, those it has.
fn other_ids(lead: &signalpost_gateway::Lead) -> impl Iterator<Item = (&'static str, &str)> {
    [
        ("fbclid", &lead.fbclid),
        ("fbc", &lead.fbc),
        ("fbp", &lead.fbp),
        ("gclid", &lead.gclid),
        ("gbraid", &lead.gbraid),
        ("wbraid", &lead.wbraid),
        ("meta_lead_id", &lead.meta_lead_id),
        ("tiktok_lead_id", &lead.tiktok_lead_id),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
}

fn timeline(view: &LeadView) -> Markup {
    let lead = &view.lead;
    html! {
        p { a href="/console/leads" { "← Search leads" } }
        section aria-labelledby="lead-h" {
            h2 id="lead-h" { "Lead" }
            div class="result" {
                dl {
                    dt { "Submitted" } dd { (layout::time_secs(lead.created_at)) }
                    dt { "Email (SHA-256)" } dd class="mono" { (opt_text(&lead.email)) }
                    dt { "Country" } dd class="mono" data-field="country" { (opt_text(&lead.country)) }
                    dt { "Phone (SHA-256)" } dd class="mono" { (opt_text(&lead.phone)) }
                    @for (region, hash) in &lead.phone_by_region {
                        dt { "Phone as read in " (region) " (SHA-256)" } dd class="mono" { (hash) }
                    }
                    dt { "External id (SHA-256)" } dd class="mono" { (opt_text(&lead.external_id)) }
                    dt { "ttclid" } dd class="mono" { (opt_text(&lead.ttclid)) }
                    dt { "ttp" } dd class="mono" { (opt_text(&lead.ttp)) }
                    // Meta's and Google's ids and the CRM lead ids: listed only when the lead has them.
                    @for (name, value) in other_ids(lead) {
                        dt { (name) } dd class="mono" data-field=(name) { (value) }
                    }
                    dt { "IP" } dd class="mono" { (opt_text(&lead.ip)) }
                    dt { "User agent" } dd { (opt_text(&lead.user_agent)) }
                    dt { "Landing URL" } dd class="mono" { (opt_text(&lead.landing_url)) }
                    dt { "Source" } dd { (opt_text(&lead.source)) }
                }
                @for w in &lead.warnings { p class="hint" { "Dropped at the edge: " (w.field) " — " (w.problem) } }
            }
        }
        section aria-labelledby="events-h" {
            h2 id="events-h" { "Lifecycle events" }
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Step" } th scope="col" { "Buyer" }
                        th scope="col" { "Offer" } th scope="col" class="num" { "Revenue" } th scope="col" { "Idempotency key" }
                    } }
                    tbody {
                        @for e in &view.events {
                            tr {
                                td { (layout::time_secs(e.occurred_at)) }
                                td { (e.trigger.as_str()) @if let Some(n) = &e.name { " (" (n) ")" } }
                                td { (opt_text(&e.buyer)) }
                                td { (opt_text(&e.offer)) }
                                td class="num" { @match e.revenue { Some(r) => { (r) @if let Some(c) = &e.currency { " " (c) } }, None => (layout::empty()) } }
                                td class="mono" { (opt_text(&e.idempotency_key)) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="conv-h" {
            h2 id="conv-h" { "Conversions and delivery attempts" }
            @if view.conversions.is_empty() { p { "No rule fired for this lead." } }
            @for c in &view.conversions { (conversion(c)) }
        }
    }
}

fn conversion(view: &ConversionView) -> Markup {
    let c = &view.conversion;
    let id = format!("conv-{}", c.id);
    html! {
        article class="result" aria-labelledby=(id) {
            h3 id=(id) {
                (c.event_name) " → pixel " span class="mono" { (c.pixel) } " "
                span class=(format!("badge {}", c.state.as_str())) { (c.state.as_str()) }
            }
            dl {
                dt { "Rule" } dd { (c.rule) }
                dt { "event_id" } dd class="mono" { (c.event_id) }
                dt { "Queued" } dd { (layout::time_ms(c.created_at_ms)) }
                @if let Some(next) = c.next_attempt_at_ms { dt { "Next attempt" } dd { (layout::time_ms(next)) } }
                @if let Some(e) = &c.last_error { dt { "Last error" } dd class="error-text" { (e) } }
            }
            @if view.attempt_log.is_empty() {
                p class="hint" { "No attempt yet." }
            } @else {
                div class="table-wrap" {
                    table {
                        caption { "Attempts, oldest first" }
                        thead { tr {
                            th scope="col" { "Sent" } th scope="col" { "Outcome" } th scope="col" class="num" { "HTTP" }
                            th scope="col" class="num" { "TikTok code" } th scope="col" { "Message" }
                            th scope="col" { "request_id" } th scope="col" class="num" { "Latency" }
                        } }
                        tbody {
                            @for a in &view.attempt_log {
                                tr {
                                    td { (layout::time_ms(a.at_ms)) }
                                    td { span class=(format!("badge {}", a.outcome.as_str())) { (a.outcome.as_str()) } }
                                    td class="num" { @match a.http_status { Some(s) => (s), None => (layout::empty()) } }
                                    td class="num" { @match a.code { Some(code) => (code), None => (layout::empty()) } }
                                    td { (a.message) }
                                    td class="mono" { @match &a.request_id { Some(r) => (r), None => (layout::empty()) } }
                                    td class="num" { (a.latency_ms) " ms" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_read_as_email_hash_or_text() {
        let hash = "a".repeat(64);
        assert_eq!(
            interpret(&hash.to_uppercase()),
            Ok(Interpretation::Hash(hash))
        );
        let Ok(Interpretation::Email(h)) = interpret("  Alice@Example.com ") else {
            panic!("an email is hashed");
        };
        assert_eq!(Ok(Interpretation::Email(h)), interpret("alice@example.com"));
        assert_eq!(
            interpret("lead-1"),
            Ok(Interpretation::Text("lead-1".into()))
        );
        assert!(interpret("not@an@email").is_err());
    }
}
