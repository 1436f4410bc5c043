//! Charts drawn as SVG on the server: readable without JavaScript,
//! printable, with a colour-blind-safe palette (Okabe and Ito) and a
//! dash pattern per series so that colour is never the only cue. Every
//! chart comes with its numbers as a table one click away.

use maud::{Markup, html};

use crate::labels::Unit;

/// Colours of the series, in order (Okabe–Ito blue, orange, green, purple).
const COLOURS: [&str; 4] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"];
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// One line: a label and (window start µs, value) points; a missing value
/// breaks the line.
#[derive(Clone, Debug)]
pub struct Series {
    /// What the line is.
    pub label: String,
    /// Points, oldest first.
    pub points: Vec<(i64, Option<f64>)>,
}

/// The date of `micros` (UTC) as `YYYY-MM-DD`.
pub fn date(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn tick(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{:.0} %", v * 100.0),
        Unit::Count | Unit::Minutes => format!("{v:.0}"),
        Unit::Number => format!("{v:.2}"),
    }
}

/// A line chart of `series` titled `title`, with an `id` unique on the
/// page (for the accessible name).
pub fn line_chart(id: &str, title: &str, unit: Unit, series: &[Series]) -> Markup {
    let xs: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .collect();
    let (x0, x1) = (
        xs.iter().copied().min().unwrap_or(0),
        xs.iter().copied().max().unwrap_or(1),
    );
    let top = match unit {
        Unit::Percent => 1.0,
        _ => values.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.1,
    };
    let x = |t: i64| {
        if x1 == x0 {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (t - x0) as f64 / (x1 - x0) as f64 * (WIDTH - LEFT - RIGHT)
        }
    };
    let y = |v: f64| TOP + (1.0 - v / top) * (HEIGHT - TOP - BOTTOM);
    let desc = format!(
        "{} from {} to {}; the numbers are in the table below the chart.",
        series
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        date(x0),
        date(x1)
    );
    let grid: Vec<f64> = (0..=4).map(|i| top * f64::from(i) / 4.0).collect();
    let x_ticks: Vec<i64> = if x1 == x0 {
        vec![x0]
    } else {
        (0..=3).map(|i| x0 + (x1 - x0) * i / 3).collect()
    };
    html! {
        figure.chart {
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img"
                aria-labelledby={(id) "-t " (id) "-d"} {
                title id={(id) "-t"} { (title) }
                desc id={(id) "-d"} { (desc) }
                @for g in &grid {
                    line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(*g)) y2=(y(*g)) stroke="#d0d0d0" {}
                    text x=(LEFT - 6.0) y=(y(*g) + 4.0) text-anchor="end" font-size="11" fill="#333" { (tick(unit, *g)) }
                }
                @for (i, t) in x_ticks.iter().enumerate() {
                    // The outer dates align with the plot's edges, not across them.
                    @let anchor = match i { 0 if x_ticks.len() > 1 => "start", i if i + 1 == x_ticks.len() && i > 0 => "end", _ => "middle" };
                    text x=(x(*t)) y=(HEIGHT - BOTTOM + 16.0) text-anchor=(anchor) font-size="11" fill="#333" { (date(*t)) }
                }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = COLOURS[i % COLOURS.len()];
                    @for run in runs(&s.points) {
                        polyline fill="none" stroke=(colour) stroke-width="2"
                            stroke-dasharray=(DASHES[i % DASHES.len()])
                            points=(run.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect::<Vec<_>>().join(" ")) {}
                    }
                    @for (t, v) in s.points.iter().filter_map(|(t, v)| v.map(|v| (*t, v))) {
                        circle cx=(format!("{:.1}", x(t))) cy=(format!("{:.1}", y(v))) r="3" fill=(colour) {
                            title { (s.label) ", " (date(t)) ": " (tick(unit, v)) }
                        }
                    }
                }
            }
            figcaption {
                (title) ": "
                @for (i, s) in series.iter().enumerate() {
                    span class={"key key-" (i % COLOURS.len())} { (s.label) }
                    " "
                }
            }
        }
    }
}

/// How many of `values` fall in each of five bins: fifths of 0–100 % for
/// percentages, else equal widths from 0 to the largest value (whole
/// numbers for counts and minutes). Each bin with its label.
pub fn bins(unit: Unit, values: &[f64]) -> Vec<(String, usize)> {
    const N: usize = 5;
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let (width, label): (f64, Box<dyn Fn(f64, f64) -> String>) = match unit {
        Unit::Percent => (
            0.2,
            Box::new(|lo, hi| format!("{:.0}–{:.0} %", lo * 100.0, hi * 100.0)),
        ),
        Unit::Count | Unit::Minutes => (
            ((max + 1.0) / N as f64).ceil().max(1.0),
            Box::new(|lo, hi| format!("{lo:.0}–{:.0}", hi - 1.0)),
        ),
        Unit::Number => (
            (max / N as f64).max(f64::MIN_POSITIVE),
            Box::new(|lo, hi| format!("{lo:.2}–{hi:.2}")),
        ),
    };
    let mut counts = vec![0usize; N];
    for v in values {
        counts[((v / width) as usize).min(N - 1)] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (label(i as f64 * width, (i + 1) as f64 * width), n))
        .collect()
}

/// A bar chart of how `values` (one per learner) spread over [`bins`],
/// with an `id` unique on the page; the counts are in the bars' titles and
/// in the table the page puts beside it.
pub fn histogram(id: &str, title: &str, unit: Unit, values: &[f64]) -> Markup {
    let bins = bins(unit, values);
    let most = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let slot = (WIDTH - LEFT - RIGHT) / bins.len() as f64;
    let y = |n: f64| TOP + (1.0 - n / most) * (HEIGHT - TOP - BOTTOM);
    let desc = format!(
        "How {} learners spread: {}; the numbers are in the table below the chart.",
        values.len(),
        bins.iter()
            .map(|(l, n)| format!("{n} in {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    html! {
        figure.chart {
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-labelledby={(id) "-t " (id) "-d"} {
                title id={(id) "-t"} { (title) }
                desc id={(id) "-d"} { (desc) }
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(0.0)) y2=(y(0.0)) stroke="#333" {}
                @for (i, (label, n)) in bins.iter().enumerate() {
                    @let x = LEFT + slot * i as f64;
                    rect x=(format!("{:.1}", x + slot * 0.1)) y=(format!("{:.1}", y(*n as f64)))
                        width=(format!("{:.1}", slot * 0.8)) height=(format!("{:.1}", y(0.0) - y(*n as f64)))
                        fill=(COLOURS[0]) {
                        title { (label) ": " (n) " learners" }
                    }
                    text x=(format!("{:.1}", x + slot / 2.0)) y=(format!("{:.1}", y(*n as f64) - 4.0)) text-anchor="middle" font-size="12" fill="#1a1a1a" { (n) }
                    text x=(format!("{:.1}", x + slot / 2.0)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" font-size="11" fill="#333" { (label) }
                }
            }
            figcaption { (title) }
        }
    }
}

/// The unbroken stretches of `points` with values.
fn runs(points: &[(i64, Option<f64>)]) -> Vec<Vec<(i64, f64)>> {
    let mut out: Vec<Vec<(i64, f64)>> = vec![Vec::new()];
    for (t, v) in points {
        match v {
            Some(v) => out.last_mut().expect("never empty").push((*t, *v)),
            None => out.push(Vec::new()),
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_breaks_the_line() {
        let pts = [(1, Some(0.5)), (2, None), (3, Some(0.7)), (4, Some(0.8))];
        assert_eq!(runs(&pts), vec![vec![(1, 0.5)], vec![(3, 0.7), (4, 0.8)]]);
    }

    #[test]
    fn values_fall_in_five_bins_the_top_one_closed() {
        let pct = bins(Unit::Percent, &[0.0, 0.19, 0.2, 0.95, 1.0]);
        assert_eq!(
            pct,
            [
                ("0–20 %".to_string(), 2),
                ("20–40 %".to_string(), 1),
                ("40–60 %".to_string(), 0),
                ("60–80 %".to_string(), 0),
                ("80–100 %".to_string(), 2),
            ]
        );
        // Counts up to 9: bins of two whole numbers each.
        let counts = bins(Unit::Count, &[0.0, 1.0, 2.0, 9.0]);
        assert_eq!(counts[0], ("0–1".to_string(), 2));
        assert_eq!(counts[1], ("2–3".to_string(), 1));
        assert_eq!(counts[4], ("8–9".to_string(), 1));
        let svg = histogram("h", "Activity", Unit::Count, &[0.0, 1.0, 2.0, 9.0]).into_string();
        assert_eq!(svg.matches("<rect").count(), 5);
        assert!(svg.contains("0–1: 2 learners"), "{svg}");
    }

    #[test]
    fn the_chart_names_itself_and_has_a_point_per_value() {
        let s = Series {
            label: "Mean score".into(),
            points: vec![(0, Some(0.5)), (604_800_000_000, Some(0.75))],
        };
        let svg = line_chart("c1", "Scores", Unit::Percent, &[s]).into_string();
        assert!(svg.contains(r#"aria-labelledby="c1-t c1-d""#), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("Mean score, 1970-01-08: 75 %"), "{svg}");
    }
}
