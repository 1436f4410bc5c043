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
                @for t in &x_ticks {
                    text x=(x(*t)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" font-size="11" fill="#333" { (date(*t)) }
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
