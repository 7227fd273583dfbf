//! Learning-curve plots as SVG (plotters): accuracy and loss against epoch, train and validation,
//! like the paper's Charts 1-8, and one overlay per comparison.

use super::Loaded;
use plotters::prelude::*;

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(214, 39, 40);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Accuracy (left) and loss (right) per epoch of one configuration's runs (one line per seed).
pub fn curves(title: &str, runs: &[&Loaded]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 380)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let root = root.titled(title, ("sans-serif", 18)).unwrap_or(root);
        let panels = root.split_evenly((1, 2));
        let epochs = runs
            .iter()
            .map(|r| r.records.len())
            .max()
            .unwrap_or(1)
            .max(2);
        type Get = fn(&crate::results::record::EpochRecord) -> f64;
        let specs: [(&str, Get, Get, bool); 2] = [
            (
                "accuracy (%)",
                |e| e.train_accuracy * 100.0,
                |e| e.val_accuracy * 100.0,
                true,
            ),
            ("loss", |e| e.train_loss, |e| e.val_loss, false),
        ];
        for (panel, (name, train, val, _acc)) in panels.iter().zip(specs) {
            let values: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.records.iter().flat_map(|e| [train(e), val(e)]))
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = bounds(&values);
            let Ok(mut chart) = ChartBuilder::on(panel)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(1f64..epochs as f64, lo..hi)
            else {
                continue;
            };
            let _ = chart.configure_mesh().x_desc("epoch").y_desc(name).draw();
            for (i, r) in runs.iter().enumerate() {
                let suffix = if runs.len() > 1 {
                    format!(" (seed {})", r.run.seed)
                } else {
                    String::new()
                };
                let pts = |f: Get| {
                    r.records
                        .iter()
                        .map(move |e| (e.epoch as f64, f(e)))
                        .filter(|p| p.1.is_finite())
                        .collect::<Vec<_>>()
                };
                if let Ok(s) = chart.draw_series(LineSeries::new(pts(train), TRAIN.stroke_width(2)))
                    && i == 0
                {
                    s.label(format!("train{suffix}")).legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], TRAIN.stroke_width(2))
                    });
                }
                if let Ok(s) = chart.draw_series(LineSeries::new(pts(val), VAL.stroke_width(2)))
                    && i == 0
                {
                    s.label(format!("validation{suffix}")).legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], VAL.stroke_width(2))
                    });
                }
            }
            let _ = chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// Validation accuracy per epoch of several configurations on one chart.
pub fn overlay(title: &str, series: &[(String, Vec<&Loaded>)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let epochs = series
            .iter()
            .flat_map(|(_, rs)| rs.iter().map(|r| r.records.len()))
            .max()
            .unwrap_or(1)
            .max(2);
        let values: Vec<f64> = series
            .iter()
            .flat_map(|(_, rs)| {
                rs.iter()
                    .flat_map(|r| r.records.iter().map(|e| e.val_accuracy * 100.0))
            })
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = bounds(&values);
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(1f64..epochs as f64, lo..hi)
        {
            let _ = chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("validation accuracy (%)")
                .draw();
            for (i, (label, runs)) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                for (j, r) in runs.iter().enumerate() {
                    let pts: Vec<_> = r
                        .records
                        .iter()
                        .map(|e| (e.epoch as f64, e.val_accuracy * 100.0))
                        .collect();
                    if let Ok(s) = chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))
                        && j == 0
                    {
                        s.label(label.clone()).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    }
                }
            }
            let _ = chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}
