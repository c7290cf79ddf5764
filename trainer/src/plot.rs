//! Plots of a run's metrics against steps, as one self-contained SVG (`plots.svg`): one panel per
//! quantity (reward, train and held-out accuracy, length, KL, clip fraction, entropy). Plain SVG
//! polylines and `<text>`, so no font or drawing library is needed.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::Value;

/// One panel: a title and its series `(label, points)`.
type Panel = (&'static str, Vec<(&'static str, Vec<(f64, f64)>)>);

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

/// Reads `metrics.jsonl` in `run_dir` and writes `plots.svg` there.
///
/// # Errors
/// The I/O error if the metrics cannot be read or the plot cannot be written.
pub fn write_plots(run_dir: &Path) -> std::io::Result<()> {
    let text = fs::read_to_string(run_dir.join("metrics.jsonl"))?;
    let rows: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let series = |phase: &str, key: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r["phase"] == phase)
            .filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?)))
            .collect()
    };
    let panels: Vec<Panel> = vec![
        ("reward", vec![("train", series("grpo", "reward"))]),
        (
            "accuracy",
            vec![
                ("train (sampled)", series("grpo", "accuracy")),
                ("held-out (greedy)", series("eval", "eval_accuracy")),
            ],
        ),
        (
            "length (tokens)",
            vec![
                ("train (sampled)", series("grpo", "length")),
                ("held-out (greedy)", series("eval", "eval_length")),
            ],
        ),
        ("KL to reference", vec![("k3", series("grpo", "kl"))]),
        ("clip fraction", vec![("", series("grpo", "clip_fraction"))]),
        (
            "entropy (nats/token)",
            vec![("", series("grpo", "entropy"))],
        ),
    ];
    fs::write(run_dir.join("plots.svg"), svg(&panels, "GRPO step"))
}

/// Renders panels in a 3-column grid.
fn svg(panels: &[Panel], xlabel: &str) -> String {
    let (pw, ph, cols) = (340.0, 220.0, 3usize);
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (pw * cols as f64, ph * rows as f64);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>"#
    );
    for (i, (title, series)) in panels.iter().enumerate() {
        let (ox, oy) = ((i % cols) as f64 * pw, (i / cols) as f64 * ph);
        let (l, r, t, b) = (ox + 50.0, ox + pw - 15.0, oy + 25.0, oy + ph - 35.0);
        let pts: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        let (mut x0, mut x1, mut y0, mut y1) = bounds(&pts);
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= y0 {
            y0 -= 0.5;
            y1 += 0.5;
        }
        let pad = 0.05 * (y1 - y0);
        (y0, y1) = (y0 - pad, y1 + pad);
        x0 = x0.min(x1);
        let sx = |x: f64| l + (x - x0) / (x1 - x0) * (r - l);
        let sy = |y: f64| b - (y - y0) / (y1 - y0) * (b - t);
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="13">{title}</text><rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
            (l + r) / 2.0,
            oy + 16.0,
            r - l,
            b - t
        );
        for k in 0..=4 {
            let fy = y0 + (y1 - y0) * f64::from(k) / 4.0;
            let fx = x0 + (x1 - x0) * f64::from(k) / 4.0;
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
                l - 4.0,
                sy(fy) + 4.0,
                tick(fy),
                sx(fx),
                b + 14.0,
                tick(fx)
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">{xlabel}</text>"##,
            (l + r) / 2.0,
            b + 28.0
        );
        for (j, (label, p)) in series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let path: Vec<String> = p
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                path.join(" ")
            );
            if p.len() < 30 {
                for &(x, y) in p {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                        sx(x),
                        sy(y)
                    );
                }
            }
            if !label.is_empty() {
                let _ = write!(
                    s,
                    r#"<text x="{}" y="{}" fill="{color}">{label}</text>"#,
                    l + 6.0,
                    t + 14.0 + 13.0 * j as f64
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn bounds(p: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    if p.is_empty() {
        return (0.0, 1.0, 0.0, 1.0);
    }
    p.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    )
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}
