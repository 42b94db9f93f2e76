//! The dashboard chart: conversions per minute over the last 24 hours, one line per outcome, as an
//! inline SVG rendered on the server (no chart library, nothing to download). Lines differ by dash
//! pattern as well as colour, and the same figures are in the legend as text, so the chart is
//! readable without colour vision and by screen readers.

use maud::{Markup, html};
use signalpost_gateway::ConversionState;
use signalpost_gateway::store::MinuteCount;

/// Minutes shown.
pub const MINUTES: usize = 24 * 60;
const HEIGHT: f64 = 200.0;

/// The outcomes drawn, each a set of states.
pub const SERIES: &[(&str, &str, &[ConversionState])] = &[
    ("delivered", "Delivered", &[ConversionState::Delivered]),
    (
        "waiting",
        "Waiting",
        &[ConversionState::Pending, ConversionState::InFlight],
    ),
    ("retrying", "Retrying", &[ConversionState::Retrying]),
    ("dead", "Dead", &[ConversionState::Dead]),
    ("paused", "Paused", &[ConversionState::Paused]),
];

/// Per series, the count of each minute of the window ending with the minute of `now_ms`.
pub fn buckets(rows: &[MinuteCount], now_ms: i64) -> Vec<Vec<u64>> {
    let last_minute = now_ms.div_euclid(60_000);
    let first_minute = last_minute - (MINUTES as i64 - 1);
    let mut out = vec![vec![0u64; MINUTES]; SERIES.len()];
    for row in rows {
        let minute = row.minute_ms.div_euclid(60_000);
        if minute < first_minute || minute > last_minute {
            continue;
        }
        let index = (minute - first_minute) as usize;
        if let Some(series) = SERIES.iter().position(|(_, _, s)| s.contains(&row.state)) {
            out[series][index] += row.count;
        }
    }
    out
}

/// The polyline points of one series scaled to `peak`, leaving out points in the middle of flat runs.
fn points(values: &[u64], peak: u64) -> String {
    let scale = if peak == 0 {
        0.0
    } else {
        (HEIGHT - 4.0) / peak as f64
    };
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        let flat = i > 0 && i + 1 < values.len() && values[i - 1] == *v && values[i + 1] == *v;
        if flat {
            continue;
        }
        let y = HEIGHT - 2.0 - (*v as f64) * scale;
        out.push_str(&format!("{i},{y:.1} "));
    }
    out.trim_end().to_owned()
}

/// The chart with its legend and axis labels.
pub fn render(rows: &[MinuteCount], now_ms: i64) -> Markup {
    let series = buckets(rows, now_ms);
    let peak = series
        .iter()
        .flat_map(|s| s.iter().copied())
        .max()
        .unwrap_or(0);
    let totals: Vec<u64> = series.iter().map(|s| s.iter().sum()).collect();
    let summary = SERIES
        .iter()
        .zip(&totals)
        .map(|((_, label, _), total)| format!("{label}: {total}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        figure class="chart" {
            svg viewBox=(format!("0 0 {MINUTES} {HEIGHT}")) preserveAspectRatio="none"
                role="img" aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { "Conversions queued per minute over the last 24 hours, by outcome" }
                desc id="chart-desc" { "Totals over 24 hours: " (summary) ". Peak: " (peak) " per minute." }
                @for quarter in 1..4 {
                    line class="grid" x1=(quarter * MINUTES / 4) x2=(quarter * MINUTES / 4) y1="0" y2=(HEIGHT) {}
                }
                line class="grid" x1="0" x2=(MINUTES) y1=(HEIGHT - 1.0) y2=(HEIGHT - 1.0) {}
                @for (i, (key, _, _)) in SERIES.iter().enumerate() {
                    @if totals[i] > 0 {
                        polyline class=(format!("s-{key}")) points=(points(&series[i], peak)) {}
                    }
                }
            }
            div class="axis" aria-hidden="true" {
                span { "24 h ago" } span { "18 h" } span { "12 h" } span { "6 h" } span { "now · peak " (peak) "/min" }
            }
            figcaption {
                ul class="legend" {
                    @for (i, (key, label, _)) in SERIES.iter().enumerate() {
                        li { span class=(format!("swatch s-{key}")) {} (label) ": " strong { (totals[i]) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn row(minutes_ago: i64, state: ConversionState, count: u64) -> MinuteCount {
        MinuteCount {
            minute_ms: (NOW.div_euclid(60_000) - minutes_ago) * 60_000,
            state,
            count,
        }
    }

    #[test]
    fn rows_land_in_their_minute_and_series() {
        let rows = [
            row(0, ConversionState::Delivered, 5),
            row(0, ConversionState::Pending, 2),
            row(0, ConversionState::InFlight, 1),
            row(10, ConversionState::Dead, 3),
            row(MINUTES as i64, ConversionState::Dead, 99),
            row(3, ConversionState::Suppressed, 7),
        ];
        let b = buckets(&rows, NOW);
        assert_eq!(b[0][MINUTES - 1], 5);
        assert_eq!(
            b[1][MINUTES - 1],
            3,
            "pending and in flight are both waiting"
        );
        assert_eq!(b[3][MINUTES - 11], 3);
        assert_eq!(b[3].iter().sum::<u64>(), 3, "older than 24 h is left out");
        assert_eq!(
            b.iter().flatten().sum::<u64>(),
            11,
            "suppressed is not drawn"
        );
    }

    #[test]
    fn the_svg_has_a_title_totals_and_one_line_per_non_empty_outcome() {
        let rows = [
            row(0, ConversionState::Delivered, 4),
            row(5, ConversionState::Dead, 1),
        ];
        let svg = render(&rows, NOW).into_string();
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains("Delivered: 4, Waiting: 0, Retrying: 0, Dead: 1, Paused: 0"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        // Inside SVG an HTML parser does not close void-looking elements: every one needs its end tag.
        assert_eq!(svg.matches("</polyline>").count(), 2);
        assert_eq!(svg.matches("<line").count(), svg.matches("</line>").count());
        assert!(svg.contains("class=\"s-delivered\""));
    }

    #[test]
    fn flat_runs_are_drawn_with_their_ends_only() {
        assert_eq!(points(&[0, 0, 0, 0], 0), "0,198.0 3,198.0");
        let p = points(&[0, 2, 2, 2, 0], 2);
        assert_eq!(p, "0,198.0 1,2.0 3,2.0 4,198.0");
    }
}
