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

/// A search's progress: the best value of the metric found so far (a step line) against the
/// epochs trained so far, every configuration a dot at the epochs its runs took, and the start
/// of each batch a dashed line.
pub(crate) fn best_so_far(
    title: &str,
    points: &[(f64, f64)],
    batch_starts: &[f64],
    higher: bool,
    percent: bool,
) -> String {
    let scale = if percent { 100.0 } else { 1.0 };
    let mut best: Vec<(f64, f64)> = Vec::new();
    for &(x, y) in points {
        let b = match best.last() {
            Some(&(_, b)) if (higher && b >= y) || (!higher && b <= y) || !y.is_finite() => b,
            _ => y,
        };
        best.push((x, b));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let ys: Vec<f64> = points
            .iter()
            .map(|p| p.1 * scale)
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = bounds(&ys);
        let xmax = points.last().map_or(1.0, |p| p.0).max(1.0);
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax * 1.03, lo..hi)
        {
            let _ = chart
                .configure_mesh()
                .x_desc("epochs trained (all runs)")
                .y_desc(if percent { "%" } else { "" })
                .draw();
            for &x in batch_starts {
                let _ = chart.draw_series(DashedLineSeries::new(
                    [(x, lo), (x, hi)],
                    4,
                    4,
                    BLACK.mix(0.3).stroke_width(1),
                ));
            }
            let _ = chart.draw_series(
                points
                    .iter()
                    .filter(|p| p.1.is_finite())
                    .map(|&(x, y)| Circle::new((x, y * scale), 3, TRAIN.mix(0.5).filled())),
            );
            let mut steps: Vec<(f64, f64)> = Vec::new();
            for (i, &(x, y)) in best.iter().enumerate() {
                if i > 0 {
                    steps.push((x, best[i - 1].1 * scale));
                }
                steps.push((x, y * scale));
            }
            let _ = chart.draw_series(LineSeries::new(steps, VAL.stroke_width(2)));
        }
        let _ = root.present();
    }
    svg
}

/// Two objectives against each other: every configuration a dot, those on the Pareto front
/// (`front`, indices into `points`) red and joined in order of the first objective.
pub(crate) fn pareto(
    title: &str,
    names: (&str, &str),
    points: &[(f64, f64)],
    front: &[usize],
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
        let ((xl, xh), (yl, yh)) = (bounds(&xs), bounds(&ys));
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xl..xh, yl..yh)
        {
            let _ = chart
                .configure_mesh()
                .x_desc(names.0)
                .y_desc(names.1)
                .draw();
            let _ = chart.draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, TRAIN.mix(0.5).filled())),
            );
            let mut line: Vec<(f64, f64)> = front.iter().map(|&i| points[i]).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let _ = chart.draw_series(LineSeries::new(line.clone(), VAL.stroke_width(2)));
            let _ = chart.draw_series(
                line.iter()
                    .map(|&(x, y)| Circle::new((x, y), 5, VAL.filled())),
            );
        }
        let _ = root.present();
    }
    svg
}

/// One axis of a parallel-coordinates plot: its name and each configuration's value (text for
/// categories, a number otherwise; `None` where a configuration has none).
pub(crate) type ParallelAxis = (String, Vec<Option<crate::spec::grid::Value>>);

/// Every configuration as a line across one vertical axis per parameter and a last one for the
/// metric, coloured from pale (worst) to dark red (best), the best drawn last and thickest.
/// Numeric axes run from their lowest to their highest value (log-scaled when positive and
/// spanning 20x or more), categories are spread evenly in sorted order; each axis is labelled
/// with its name and its extreme values.
pub(crate) fn parallel(
    title: &str,
    axes: &[ParallelAxis],
    metric: (&str, &[f64]),
    higher: bool,
    percent: bool,
) -> String {
    use crate::spec::grid::Value;
    let n = metric.1.len();
    // Each axis: positions in [0, 1] per configuration, and the labels at its bottom and top.
    let mut columns: Vec<(String, Vec<Option<f64>>, String, String)> = Vec::new();
    for (name, values) in axes {
        let numbers: Vec<Option<f64>> = values
            .iter()
            .map(|v| match v {
                Some(Value::Float(f)) => Some(*f),
                Some(Value::Int(i)) => Some(*i as f64),
                _ => None,
            })
            .collect();
        let numeric = values.iter().flatten().count() > 0
            && numbers
                .iter()
                .zip(values)
                .all(|(x, v)| x.is_some() || v.is_none());
        if numeric {
            let xs: Vec<f64> = numbers.iter().flatten().copied().collect();
            let (lo, hi) = xs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            let log = lo > 0.0 && hi / lo >= 20.0;
            let f = |x: f64| if log { x.ln() } else { x };
            let span = f(hi) - f(lo);
            let pos = numbers
                .iter()
                .map(|x| {
                    x.map(|x| {
                        if span > 0.0 {
                            (f(x) - f(lo)) / span
                        } else {
                            0.5
                        }
                    })
                })
                .collect();
            let label = |x: f64| format!("{}", (x * 1e4).round() / 1e4);
            let name = if log {
                format!("{name} (log)")
            } else {
                name.clone()
            };
            columns.push((name, pos, label(lo), label(hi)));
        } else {
            let mut cats: Vec<String> = values.iter().flatten().map(|v| v.to_string()).collect();
            cats.sort();
            cats.dedup();
            let k = cats.len().max(1);
            let pos = values
                .iter()
                .map(|v| {
                    let v = v.as_ref()?.to_string();
                    let i = cats.iter().position(|c| *c == v)?;
                    Some(if k == 1 {
                        0.5
                    } else {
                        i as f64 / (k - 1) as f64
                    })
                })
                .collect();
            let first = cats.first().cloned().unwrap_or_default();
            let last = cats.last().cloned().unwrap_or_default();
            columns.push((name.clone(), pos, first, last));
        }
    }
    let metric_label = |v: f64| {
        if percent {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.4}")
        }
    };
    let finite: Vec<f64> = metric.1.iter().copied().filter(|v| v.is_finite()).collect();
    let (mlo, mhi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        });
    let mspan = mhi - mlo;
    // 0 = worst, 1 = best.
    let goodness: Vec<f64> = metric
        .1
        .iter()
        .map(|v| {
            let t = if mspan > 0.0 { (v - mlo) / mspan } else { 1.0 };
            let t = if higher { t } else { 1.0 - t };
            if t.is_finite() { t } else { 0.0 }
        })
        .collect();
    columns.push((
        metric.0.to_string(),
        metric
            .1
            .iter()
            .map(|v| {
                v.is_finite()
                    .then(|| if mspan > 0.0 { (v - mlo) / mspan } else { 0.5 })
            })
            .collect(),
        metric_label(mlo),
        metric_label(mhi),
    ));
    let colour = |t: f64| {
        let (a, b) = ((200.0, 208.0, 224.0), (178.0, 24.0, 43.0));
        let mix = |x: f64, y: f64| (x + (y - x) * t) as u8;
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    };
    let mut svg = String::new();
    {
        let width = (160 * columns.len()).clamp(480, 1200) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let last = (columns.len() - 1).max(1) as f64;
        if let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(36)
            .build_cartesian_2d(-0.05..last + 0.05, -0.08..1.16)
        {
            for (i, (name, _, lo, hi)) in columns.iter().enumerate() {
                let x = i as f64;
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    [(x, 0.0), (x, 1.0)],
                    BLACK.mix(0.5).stroke_width(1),
                )));
                let style = ("sans-serif", 15).into_font().color(&BLACK);
                let centre = |t: String, y: f64| {
                    Text::new(
                        t,
                        (x, y),
                        style.clone().pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        )),
                    )
                };
                let _ = chart.draw_series([
                    centre(name.clone(), 1.11),
                    centre(hi.clone(), 1.045),
                    centre(lo.clone(), -0.04),
                ]);
            }
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| goodness[a].total_cmp(&goodness[b]));
            for (rank, &c) in order.iter().enumerate() {
                let points: Vec<(f64, f64)> = columns
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (_, pos, _, _))| Some((i as f64, pos[c]?)))
                    .collect();
                let best = rank + 1 == n;
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    points,
                    colour(goodness[c]).stroke_width(if best { 3 } else { 1 }),
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
    fn parallel_coordinates_draw_a_line_per_configuration_and_label_each_axis() {
        use crate::spec::grid::Value;
        let axes = vec![
            (
                "optimizer".to_string(),
                vec![
                    Some(Value::Name("adam".into())),
                    Some(Value::Name("sgd".into())),
                    Some(Value::Name("adam".into())),
                ],
            ),
            (
                "lr".to_string(),
                vec![Some(Value::Float(0.0001)), Some(Value::Float(0.01)), None],
            ),
        ];
        let svg = parallel("lines", &axes, ("val acc", &[0.9, 0.8, 0.95]), true, true);
        // Three axes (two parameters and the metric), three lines.
        assert_eq!(svg.matches("<polyline").count(), 6, "{svg}");
        for label in [
            "optimizer",
            "lr (log)",
            "val acc",
            "adam",
            "sgd",
            "0.0001",
            "0.01",
            "95.00%",
            "80.00%",
        ] {
            assert!(
                svg.contains(&format!("\n{label}\n</text>")),
                "{label}: {svg}"
            );
        }
        // The best (0.95) is drawn last, thickest, in the darkest red.
        let last = svg.rfind("<polyline").unwrap();
        assert!(
            svg[last..].contains("stroke=\"#B2182B\"")
                && svg[last..].contains("stroke-width=\"3\""),
            "{}",
            &svg[last..]
        );
    }

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
