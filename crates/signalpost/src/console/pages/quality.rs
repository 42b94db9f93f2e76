//! `/console/quality`: match quality per pixel — the share of the last 7 days' conversions carrying
//! each signal TikTok matches people with — and the advice that applies when a share is low. ttclid
//! (the click id) is the strongest signal; when it is missing, ip + user agent are what TikTok has
//! left to match on, then email and phone.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use signalpost_gateway::store::MatchQuality;
use signalpost_gateway::time::now_ms;

use crate::console::ConsoleState;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, Nav};
use crate::console::session::Session;

/// The window measured.
pub const WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// Below this share a signal is called low.
pub const LOW: f64 = 0.5;
/// ip + user agent should be on nearly every web event.
pub const IP_UA_LOW: f64 = 0.8;

fn share(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 / total as f64
    }
}

/// The advice that applies to one pixel's figures, most important first.
pub fn advice(q: &MatchQuality) -> Vec<&'static str> {
    let mut out = Vec::new();
    if q.conversions == 0 {
        return out;
    }
    let ttclid_low = share(q.ttclid, q.conversions) < LOW;
    if ttclid_low {
        out.push(
            "Few conversions carry a ttclid, TikTok's strongest match signal. Keep the ttclid query \
             parameter on your landing pages and send landing_url (or ttclid) with every lead.",
        );
    }
    if share(q.ip_and_user_agent, q.conversions) < IP_UA_LOW {
        out.push(if ttclid_low {
            "Send the visitor's ip and user_agent with each lead: when ttclid is missing they are \
             what TikTok matches on."
        } else {
            "Send the visitor's ip and user_agent with each lead: they help TikTok match events \
             that lack a ttclid."
        });
    }
    if share(q.ttp, q.conversions) < LOW {
        out.push("Forward the _ttp cookie of the TikTok pixel as ttp: it ties the lead to the browser that saw the ad.");
    }
    if share(q.email, q.conversions) < LOW {
        out.push("Send the lead's email (it is hashed before it is stored or sent).");
    }
    if share(q.phone, q.conversions) < LOW {
        out.push("Send the lead's phone number, with its country code or a default region.");
    }
    out
}

fn cell(n: u64, total: u64, low: f64) -> Markup {
    let s = share(n, total);
    let text = layout::percent(n, total);
    html! {
        td class="num" {
            meter min="0" max="1" low=(low) optimum="1" value=(format!("{s:.3}")) aria-hidden="true" {}
            " " (text) @if total > 0 && s < low { " " span class="badge error" { "low" } }
        }
    }
}

/// `GET /console/quality`.
pub async fn page(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
) -> Result<Response, ConsoleError> {
    let rows = state
        .app
        .gateway
        .store()
        .match_quality(now_ms() - WINDOW_MS)
        .await?;
    let content = html! {
        p { "Share of each pixel's conversions queued in the last 7 days (suppressed ones excluded) whose lead carried each signal." }
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { "Pixel" } th scope="col" class="num" { "Conversions" }
                    th scope="col" class="num" { "ttclid" } th scope="col" class="num" { "ttp" }
                    th scope="col" class="num" { "Email" } th scope="col" class="num" { "Phone" }
                    th scope="col" class="num" { "IP + user agent" }
                } }
                tbody {
                    @for q in &rows {
                        tr {
                            th scope="row" class="mono" { (q.pixel) }
                            td class="num" { (q.conversions) }
                            (cell(q.ttclid, q.conversions, LOW))
                            (cell(q.ttp, q.conversions, LOW))
                            (cell(q.email, q.conversions, LOW))
                            (cell(q.phone, q.conversions, LOW))
                            (cell(q.ip_and_user_agent, q.conversions, IP_UA_LOW))
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="7" { "No conversion in the last 7 days." } } }
                }
            }
        }
        @for q in &rows {
            @let tips = advice(q);
            section aria-labelledby=(format!("adv-{}", q.pixel)) {
                h2 id=(format!("adv-{}", q.pixel)) { "Advice for " span class="mono" { (q.pixel) } }
                @if tips.is_empty() {
                    p { "Every signal is well covered." }
                } @else {
                    ul class="advice" { @for tip in tips { li { (tip) } } }
                }
            }
        }
    };
    Ok(layout::page("Match quality", Nav::Quality, &session, content).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ttclid: u64, ip_ua: u64) -> MatchQuality {
        MatchQuality {
            pixel: "P".into(),
            conversions: 10,
            ttclid,
            ttp: 10,
            email: 10,
            phone: 10,
            ip_and_user_agent: ip_ua,
        }
    }

    #[test]
    fn advice_follows_the_low_shares() {
        assert!(advice(&q(10, 10)).is_empty());
        let missing_click = advice(&q(2, 3));
        assert_eq!(missing_click.len(), 2);
        assert!(missing_click[0].contains("ttclid"));
        assert!(missing_click[1].contains("when ttclid is missing"));
        let only_ip = advice(&q(9, 5));
        assert_eq!(only_ip.len(), 1);
        assert!(only_ip[0].contains("lack a ttclid"));
        assert!(advice(&MatchQuality::default()).is_empty());
    }
}
