//! `/console/quality`: match quality per pixel — the share of the last 7 days' conversions carrying
//! each signal its destination matches people with — and the advice that applies when a share is
//! low. The click id (TikTok's ttclid, Meta's fbc) is the strongest signal; when it is missing, ip +
//! user agent are what is left to match on, then email and phone. The browser id is TikTok's `_ttp`
//! or Meta's `_fbp`.

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

/// A pixel's click id and browser id, by its destination: TikTok's `ttclid` and `_ttp`, Meta's
/// `fbc` (or the `fbclid` it is built from) and `_fbp`, Google's `gclid` (or `gbraid`/`wbraid`;
/// Google Ads has no browser id, and takes no ip or user agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    TikTok,
    Meta,
    Google,
}

impl Signals {
    /// The signals of `destination` (`tiktok`, `meta`, `google_ads`).
    pub fn of(destination: &str) -> Signals {
        match destination {
            "meta" => Signals::Meta,
            "google_ads" => Signals::Google,
            _ => Signals::TikTok,
        }
    }

    /// (click id count, browser id count when the destination has one) of `q`.
    fn counts(self, q: &MatchQuality) -> (u64, Option<u64>) {
        match self {
            Signals::TikTok => (q.ttclid, Some(q.ttp)),
            Signals::Meta => (q.fbc, Some(q.fbp)),
            Signals::Google => (q.gclid, None),
        }
    }

    /// The click id's and browser id's names.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Signals::TikTok => ("ttclid", "ttp"),
            Signals::Meta => ("fbc", "fbp"),
            Signals::Google => ("gclid", "none"),
        }
    }
}

/// The advice that applies to one pixel's figures, most important first.
pub fn advice(q: &MatchQuality, signals: Signals) -> Vec<&'static str> {
    let mut out = Vec::new();
    if q.conversions == 0 {
        return out;
    }
    let (click, browser) = signals.counts(q);
    let click_low = share(click, q.conversions) < LOW;
    if click_low {
        out.push(match signals {
            Signals::TikTok => {
                "Few conversions carry a ttclid, TikTok's strongest match signal. Keep the ttclid \
                 query parameter on your landing pages and send landing_url (or ttclid) with every \
                 lead."
            }
            Signals::Meta => {
                "Few conversions carry fbc, Meta's click id. Keep the fbclid query parameter on your \
                 landing pages and send landing_url (or fbclid, or the _fbc cookie as fbc) with \
                 every lead; /capture.js does it for forms on later pages."
            }
            Signals::Google => {
                "Few conversions carry a Google click id (gclid, gbraid or wbraid). Keep auto-tagging \
                 on and the gclid query parameter on your landing pages, and send landing_url (or \
                 gclid) with every lead; /capture.js keeps it for forms on later pages. Without one, \
                 Google matches only on the hashed email and phone."
            }
        });
    }
    // Google Ads takes no ip or user agent.
    if signals != Signals::Google && share(q.ip_and_user_agent, q.conversions) < IP_UA_LOW {
        out.push(if click_low {
            "Send the visitor's ip and user_agent with each lead: when the click id is missing \
             they are what the destination matches on."
        } else {
            "Send the visitor's ip and user_agent with each lead: they help match events that lack \
             a click id."
        });
    }
    if let Some(browser) = browser
        && share(browser, q.conversions) < LOW
    {
        out.push(match signals {
            Signals::TikTok => {
                "Forward the _ttp cookie of the TikTok pixel as ttp: it ties the lead to the browser that saw the ad."
            }
            Signals::Meta | Signals::Google => {
                "Forward the _fbp cookie of the Meta pixel as fbp: it ties the lead to the browser that saw the ad."
            }
        });
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
    html! { td class="num" { (cell_inner(n, total, low)) } }
}

/// A share as a meter, its percentage and a "low" badge.
fn cell_inner(n: u64, total: u64, low: f64) -> Markup {
    let s = share(n, total);
    let text = layout::percent(n, total);
    html! {
        meter min="0" max="1" low=(low) optimum="1" value=(format!("{s:.3}")) aria-hidden="true" {}
        " " (text) @if total > 0 && s < low { " " span class="badge error" { "low" } }
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
    let signals_of = |pixel: &str| {
        Signals::of(
            state
                .app
                .pixels
                .get(pixel)
                .map(|p| p.config.destination.name())
                .unwrap_or("tiktok"),
        )
    };
    let content = html! {
        p { "Share of each pixel's conversions queued in the last 7 days (suppressed ones excluded) whose lead carried each signal." }
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { "Pixel" } th scope="col" class="num" { "Conversions" }
                    th scope="col" class="num" { "Click id (ttclid / fbc / gclid)" } th scope="col" class="num" { "Browser id (ttp / fbp)" }
                    th scope="col" class="num" { "Email" } th scope="col" class="num" { "Phone" }
                    th scope="col" class="num" { "IP + user agent" }
                } }
                tbody {
                    @for q in &rows {
                        @let signals = signals_of(&q.pixel);
                        @let (click, browser) = signals.counts(q);
                        tr {
                            th scope="row" class="mono" { (q.pixel) }
                            td class="num" { (q.conversions) }
                            td class="num" data-signal=(signals.names().0) { (cell_inner(click, q.conversions, LOW)) }
                            @match browser {
                                Some(browser) => td class="num" data-signal=(signals.names().1) { (cell_inner(browser, q.conversions, LOW)) },
                                None => td class="num" data-signal="none" { "—" },
                            }
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
            @let tips = advice(q, signals_of(&q.pixel));
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
            fbc: 0,
            fbp: 10,
            gclid: 0,
        }
    }

    #[test]
    fn advice_follows_the_low_shares() {
        let tiktok = Signals::TikTok;
        assert!(advice(&q(10, 10), tiktok).is_empty());
        let missing_click = advice(&q(2, 3), tiktok);
        assert_eq!(missing_click.len(), 2);
        assert!(missing_click[0].contains("ttclid"));
        assert!(missing_click[1].contains("when the click id is missing"));
        let only_ip = advice(&q(9, 5), tiktok);
        assert_eq!(only_ip.len(), 1);
        assert!(only_ip[0].contains("lack a click id"));
        assert!(advice(&MatchQuality::default(), tiktok).is_empty());
    }

    #[test]
    fn a_meta_pixel_is_judged_on_fbc_and_fbp() {
        // The same figures: ttclid is full, but this pixel is Meta's and no lead carried fbc.
        let tips = advice(&q(10, 10), Signals::Meta);
        assert_eq!(tips.len(), 1, "{tips:?}");
        assert!(tips[0].contains("fbc") && tips[0].contains("fbclid"));
    }

    #[test]
    fn a_google_ads_pixel_is_judged_on_its_click_id_alone() {
        // No gclid, and ip/ua low: Google takes no ip or user agent, and has no browser id.
        let tips = advice(&q(10, 2), Signals::Google);
        assert_eq!(tips.len(), 1, "{tips:?}");
        assert!(tips[0].contains("gclid"));
        let well = MatchQuality {
            gclid: 10,
            ..q(0, 0)
        };
        assert!(advice(&well, Signals::Google).is_empty());
    }
}
