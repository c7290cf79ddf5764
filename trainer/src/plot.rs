//! Plots of a run's metrics against GRPO steps, drawn with `plotters` into one SVG (`plots.svg`):
//! one panel per quantity (reward and its terms, train and held-out accuracy, length, KL, clip
//! fraction, entropy). The SVG backend writes text as `<text>` elements, so no font library is
//! needed to draw them (`plotters` is built without its default features: no bitmap backend, no
//! `ttf`).

use std::fs;
use std::io;
use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

/// One series: a label (empty: no legend entry) and its points.
type Series = (String, Vec<(f64, f64)>);

/// One panel: a title and its series.
type Panel = (&'static str, Vec<Series>);

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

/// Reads `metrics.jsonl` in `run_dir` and writes `plots.svg` there.
///
/// # Errors
/// The I/O error if the metrics cannot be read or the plot cannot be drawn or written.
pub fn write_plots(run_dir: &Path) -> io::Result<()> {
    let text = fs::read_to_string(run_dir.join("metrics.jsonl"))?;
    let rows: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    fs::write(run_dir.join("plots.svg"), render(&panels(&rows))?)
}

/// The panels of a run's metrics rows.
fn panels(rows: &[Value]) -> Vec<Panel> {
    let series = |phase: &str, key: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r["phase"] == phase)
            .filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?)))
            .collect()
    };
    // The reward and each of its terms (unweighted), as logged: `reward_<term>`.
    let mut terms: Vec<String> = rows
        .iter()
        .filter(|r| r["phase"] == "grpo")
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys().filter(|k| k.starts_with("reward_")).cloned())
        .collect();
    terms.sort();
    terms.dedup();
    let mut reward = vec![("total".to_string(), series("grpo", "reward"))];
    reward.extend(
        terms
            .iter()
            .map(|k| (k["reward_".len()..].to_string(), series("grpo", k))),
    );
    let s = |label: &str, phase: &str, key: &str| (label.to_string(), series(phase, key));
    vec![
        ("reward and its terms (train)", reward),
        (
            "accuracy",
            vec![
                s("train (sampled)", "grpo", "accuracy"),
                s("held-out (greedy)", "eval", "eval_accuracy"),
                s("held-out (sampled)", "eval", "eval_sampled_accuracy"),
            ],
        ),
        (
            "completion length (tokens)",
            vec![
                s("train (sampled)", "grpo", "length"),
                s("held-out (greedy)", "eval", "eval_length"),
                s("held-out (sampled)", "eval", "eval_sampled_length"),
            ],
        ),
        ("KL to the reference", vec![s("", "grpo", "kl")]),
        ("clip fraction", vec![s("", "grpo", "clip_fraction")]),
        ("entropy (nats/token)", vec![s("", "grpo", "entropy")]),
    ]
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = pts.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if !(x0.is_finite() && x1.is_finite()) {
        (x0, x1) = (0.0, 1.0);
    }
    if !(y0.is_finite() && y1.is_finite()) {
        (y0, y1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let pad = 0.05 * (y1 - y0);
    (x0, x1, y0 - pad, y1 + pad)
}

/// A y-axis label: two or three significant digits, no `-0`.
fn tick(y: f64) -> String {
    let y = if y.abs() < 1e-12 { 0.0 } else { y };
    if y == 0.0 || y.abs() >= 100.0 {
        format!("{y:.0}")
    } else if y.abs() >= 1.0 {
        format!("{y:.1}")
    } else if y.abs() >= 0.1 {
        format!("{y:.2}")
    } else {
        format!("{y:.3}")
    }
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> io::Error {
    io::Error::other(e.to_string())
}

/// The panels in a 3-column grid, as SVG text.
fn render(panels: &[Panel]) -> io::Result<String> {
    let cols = 3u32;
    let rows = u32::try_from(panels.len().div_ceil(3)).unwrap_or(1).max(1);
    let (pw, ph) = (380u32, 260u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (pw * cols, ph * rows)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let areas = root.split_evenly((rows as usize, cols as usize));
        for (area, (title, series)) in areas.iter().zip(panels) {
            let (x0, x1, y0, y1) = bounds(series);
            let mut chart = ChartBuilder::on(area)
                .caption(*title, ("sans-serif", 19))
                .margin(8)
                .margin_right(22)
                .x_label_area_size(34)
                .y_label_area_size(48)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("GRPO step")
                .x_labels(6)
                .y_labels(5)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| tick(*y))
                .light_line_style(WHITE)
                .bold_line_style(RGBColor(225, 225, 225))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 14))
                .draw()
                .map_err(draw_err)?;
            let mut legend = false;
            for (j, (label, pts)) in series.iter().enumerate() {
                let color = COLORS[j % COLORS.len()];
                let drawn = chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(draw_err)?;
                if !label.is_empty() {
                    legend = true;
                    drawn.label(label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                }
                // Sparse series (held-out evaluations) also get their points marked.
                if pts.len() < 30 {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(draw_err)?;
                }
            }
            if legend {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .label_font(("sans-serif", 13))
                    .draw()
                    .map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_with_text_labels_and_lines() {
        let rows: Vec<Value> = (1..=4)
            .map(|k| {
                serde_json::json!({"phase": "grpo", "step": k, "reward": 0.5 + 0.1 * f64::from(k),
                "reward_correctness": 0.4, "reward_well_formed": 1.0, "accuracy": 0.3,
                "length": 20.0 - f64::from(k), "kl": 0.001, "clip_fraction": 0.0, "entropy": 0.2})
            })
            .chain([
                serde_json::json!({"phase": "eval", "step": 0, "eval_accuracy": 0.5,
                "eval_length": 24.0}),
            ])
            .collect();
        let svg = render(&panels(&rows)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        // Titles, the axis description and the legend entries are SVG text, not glyph outlines.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, r)| r.split_once("</text>")))
            .map(|(inner, _)| inner.trim())
            .collect();
        for text in [
            "accuracy",
            "GRPO step",
            "held-out (greedy)",
            "well_formed",
            "entropy (nats/token)",
        ] {
            assert!(texts.contains(&text), "missing {text} in {texts:?}");
        }
        assert!(svg.matches("<polyline").count() >= 9);
        // A panel with no data still renders (empty axes).
        let empty = render(&panels(&[])).unwrap();
        assert!(empty.contains("clip fraction"));
    }
}
