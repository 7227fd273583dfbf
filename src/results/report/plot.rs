//! Plots as SVG (plotters): learning curves (accuracy and loss against epoch, train and
//! validation, like the paper's Charts 1-8: the mean over seeds with a band from the lowest to
//! the highest seed), one overlay per comparison, and a strip plot of the ranking (every seed a
//! dot, the 95% interval a bar).

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
pub(crate) fn curves(title: &str, runs: &[&Loaded]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 380)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let title = if runs.len() > 1 {
            format!(
                "{title}: mean of {} seeds, band from the lowest to the highest",
                runs.len()
            )
        } else {
            title.to_string()
        };
        let root = root.titled(&title, ("sans-serif", 18)).unwrap_or(root);
        let panels = root.split_evenly((1, 2));
        let epochs = runs
            .iter()
            .map(|r| r.records.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let specs: [(&str, Get, Get, bool); 2] = [
            (
                "accuracy (%)",
                |e| e.train_accuracy * 100.0,
                |e| e.val_accuracy * 100.0,
                true,
            ),
            ("loss", |e| e.train_loss, |e| e.val_loss, false),
        ];
        for (panel, (name, train, val, accuracy)) in panels.iter().zip(specs) {
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
            let _ = chart
                .configure_mesh()
                .x_labels(epoch_ticks(epochs))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .x_desc("epoch")
                .y_desc(name)
                .draw();
            mean_with_band(&mut chart, runs, train, TRAIN, "train".into());
            mean_with_band(&mut chart, runs, val, VAL, "validation".into());
            // Out of the curves' way: accuracies rise, losses fall.
            let _ = chart
                .configure_series_labels()
                .position(if accuracy {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                })
                .label_font(("sans-serif", 12))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

/// Validation accuracy per epoch of several configurations on one chart.
pub(crate) fn overlay(title: &str, series: &[(String, Vec<&Loaded>)]) -> String {
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
                .x_labels(epoch_ticks(epochs))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .x_desc("epoch")
                .y_desc("validation accuracy (%)")
                .draw();
            for (i, (label, runs)) in series.iter().enumerate() {
                mean_with_band(
                    &mut chart,
                    runs,
                    |e| e.val_accuracy * 100.0,
                    PALETTE[i % PALETTE.len()],
                    label.clone(),
                );
            }
            let _ = chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(("sans-serif", 12))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        let _ = root.present();
    }
    svg
}

type Get = fn(&crate::results::record::EpochRecord) -> f64;

/// Per epoch, over the runs that reached it: (epoch, mean, lowest, highest) of `f`.
fn per_epoch(runs: &[&Loaded], f: Get) -> Vec<(f64, f64, f64, f64)> {
    let epochs = runs.iter().map(|r| r.records.len()).max().unwrap_or(0);
    (1..=epochs)
        .filter_map(|e| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.records.get(e - 1))
                .map(f)
                .filter(|v| v.is_finite())
                .collect();
            if v.is_empty() {
                return None;
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Some((e as f64, mean, lo, hi))
        })
        .collect()
}

/// The mean line of `f` over `runs`, and with several runs the band between the lowest and the
/// highest seed, in `color`; the mean line carries `label` in the legend.
fn mean_with_band<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    runs: &[&Loaded],
    f: Get,
    color: RGBColor,
    label: String,
) {
    let pts = per_epoch(runs, f);
    if runs.len() > 1 && pts.len() > 1 {
        let band: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| (p.0, p.3))
            .chain(pts.iter().rev().map(|p| (p.0, p.2)))
            .collect();
        let _ = chart.draw_series(std::iter::once(Polygon::new(
            band,
            color.mix(0.18).filled(),
        )));
    }
    if let Ok(s) = chart.draw_series(LineSeries::new(
        pts.iter().map(|p| (p.0, p.1)),
        color.stroke_width(2),
    )) {
        s.label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
}

/// Whole-number epoch ticks: at most 10, never a fraction.
fn epoch_ticks(epochs: usize) -> usize {
    epochs.clamp(2, 10)
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

/// One row of a strip plot: a configuration's label, its seeds' values, its 95% interval.
pub(crate) type StripRow = (String, Vec<f64>, Option<[f64; 2]>);

/// The final value of the ranking's metric per configuration, best first: every seed a dot, the
/// mean a tick, the 95% t interval (clipped to [0, 100] for accuracies) a bar.
pub(crate) fn strip(title: &str, rows: &[StripRow], percent: bool) -> String {
    let mut svg = String::new();
    let scale = if percent { 100.0 } else { 1.0 };
    {
        let h = (80 + 28 * rows.len()).max(160) as u32;
        let root = SVGBackend::with_string(&mut svg, (860, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let values: Vec<f64> = rows
            .iter()
            .flat_map(|(_, v, ci)| v.iter().copied().chain(ci.iter().flatten().copied()))
            .map(|v| v * scale)
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = bounds(&values);
        let n = rows.len().max(1) as f64;
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(260)
            .build_cartesian_2d(lo..hi, -0.5f64..n - 0.5)
        {
            let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            let _ = chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows.len().max(1))
                .y_label_formatter(&|y| {
                    let i = y.round();
                    if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                        // Best at the top.
                        labels[labels.len() - 1 - i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .x_desc(if percent { "%" } else { "" })
                .draw();
            for (i, (_, v, ci)) in rows.iter().enumerate() {
                let y = (rows.len() - 1 - i) as f64;
                if let Some([a, b]) = ci {
                    let (a, b) = if percent {
                        (a.max(0.0), b.min(1.0))
                    } else {
                        (*a, *b)
                    };
                    let _ = chart.draw_series(std::iter::once(PathElement::new(
                        [(a * scale, y), (b * scale, y)],
                        BLACK.stroke_width(2),
                    )));
                }
                if !v.is_empty() {
                    let mean = v.iter().sum::<f64>() / v.len() as f64 * scale;
                    let _ = chart.draw_series(std::iter::once(PathElement::new(
                        [(mean, y - 0.3), (mean, y + 0.3)],
                        VAL.stroke_width(3),
                    )));
                }
                let _ = chart.draw_series(
                    v.iter()
                        .map(|x| Circle::new((x * scale, y), 4, TRAIN.mix(0.8).filled())),
                );
            }
        }
        let _ = root.present();
    }
    svg
}

/// One configuration on a parameter-response plot: the parameter's value, the metric's mean
/// over seeds and its 95% interval.
pub(crate) type Point = (f64, f64, Option<[f64; 2]>);

/// The metric against one parameter: every configuration's seed mean with its 95% interval as
/// a bar, the best ringed. The x axis is logarithmic when every value is positive and they span
/// a factor of 20 or more (a learning rate sampled log-uniformly).
pub(crate) fn response(
    title: &str,
    key: &str,
    points: &[Point],
    higher: bool,
    percent: bool,
) -> String {
    let mut svg = String::new();
    let scale = if percent { 100.0 } else { 1.0 };
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        });
    let log = xmin > 0.0 && xmax / xmin >= 20.0;
    let at = |x: f64| if log { x.log10() } else { x };
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let ys: Vec<f64> = points
            .iter()
            .flat_map(|(_, y, ci)| std::iter::once(*y).chain(ci.iter().flatten().copied()))
            .map(|v| v * scale)
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = bounds(&ys);
        // The x range padded by its own width (a learning rate's values are far below 1e-3).
        let (a, b) = {
            let (l, h) = (at(xmin), at(xmax));
            let pad = if h > l {
                (h - l) * 0.08
            } else {
                l.abs().max(1e-12) * 0.1
            };
            (l - pad, h + pad)
        };
        let best = points
            .iter()
            .max_by(|p, q| {
                let (x, y) = if higher { (p.1, q.1) } else { (q.1, p.1) };
                x.total_cmp(&y)
            })
            .copied();
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(a..b, lo..hi)
        {
            let _ = chart
                .configure_mesh()
                .x_labels(6)
                .x_label_formatter(&|x| {
                    let v = if log { 10f64.powf(*x) } else { *x };
                    format!("{}", (v * 1e4).round() / 1e4)
                })
                .x_desc(if log {
                    format!("{key} (log scale)")
                } else {
                    key.to_string()
                })
                .y_desc(if percent { "%" } else { "" })
                .draw();
            for (x, _, ci) in points {
                if let Some([l, h]) = ci {
                    let (l, h) = if percent {
                        (l.max(0.0), h.min(1.0))
                    } else {
                        (*l, *h)
                    };
                    let _ = chart.draw_series(std::iter::once(PathElement::new(
                        [(at(*x), l * scale), (at(*x), h * scale)],
                        TRAIN.mix(0.6).stroke_width(2),
                    )));
                }
            }
            let _ = chart.draw_series(
                points
                    .iter()
                    .map(|(x, y, _)| Circle::new((at(*x), y * scale), 4, TRAIN.filled())),
            );
            if let Some((x, y, _)) = best {
                let _ = chart.draw_series(std::iter::once(Circle::new(
                    (at(x), y * scale),
                    9,
                    VAL.stroke_width(2),
                )));
            }
        }
        let _ = root.present();
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_plot_marks_every_configuration_and_rings_the_best() {
        let points = [
            (0.0001, 0.90, Some([0.88, 0.92])),
            (0.001, 0.95, Some([0.94, 0.96])),
            (0.01, 0.93, None),
        ];
        let svg = response("val acc against lr", "lr", &points, true, true);
        assert!(svg.contains("val acc against lr"));
        assert!(svg.contains("lr (log scale)"), "a factor of 100: log axis");
        // Three dots and one ring.
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        let linear = response(
            "t",
            "width",
            &[(8.0, 0.5, None), (16.0, 0.6, None), (32.0, 0.4, None)],
            false,
            false,
        );
        assert!(!linear.contains("log scale"));
    }
}
