//! `sweep check`: compare a sweep's final metrics with a committed baseline and say exactly
//! what regressed. Verdicts per configuration and metric: improved, regressed, within
//! tolerance; per configuration: missing (in the baseline, not in the results) or new.
//!
//! A regression is a change in the bad direction (accuracy down, loss up) that is both beyond
//! `max(tolerance, k x std)` (std: the baseline's standard deviation over seeds) and
//! statistically significant at [`ALPHA`]: Welch's t-test against the baseline's seeds when both
//! sides have two or more, else for accuracies the two-proportion z-test on the images they were
//! measured on. A change beyond the tolerance that is not significant is "within noise".

use crate::error::{Error, Result};
use crate::results::report::{ConfigRow, Metric, Stats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Default tolerance for accuracies, in percentage points.
pub(crate) const DEFAULT_TOLERANCE_PP: f64 = 1.0;
/// Default tolerance for losses, in loss units.
pub(crate) const DEFAULT_LOSS_TOLERANCE: f64 = 0.05;
/// Default multiple of the baseline's seed std that also counts as noise.
pub(crate) const DEFAULT_K: f64 = 2.0;
/// Significance level of the gate's tests.
pub(crate) const ALPHA: f64 = 0.05;

/// A baseline file: each configuration's final metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Baseline {
    pub format: u32,
    pub sweep: String,
    pub configs: Vec<BaselineConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BaselineConfig {
    pub config_id: String,
    pub label: String,
    pub metrics: BTreeMap<String, Stats>,
    /// Images each accuracy was measured on, for the binomial test with one seed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, usize>,
}

/// A baseline from a sweep's configurations (those with results).
pub(crate) fn baseline(sweep: &str, configs: &[ConfigRow]) -> Baseline {
    Baseline {
        format: 1,
        sweep: sweep.to_string(),
        configs: configs
            .iter()
            .filter(|c| c.n > 0)
            .map(|c| BaselineConfig {
                config_id: c.config_id.clone(),
                label: c.label.clone(),
                metrics: c
                    .metrics
                    .iter()
                    .filter_map(|(m, s)| s.map(|s| (m.name().to_string(), s)))
                    .collect(),
                images: c
                    .images
                    .iter()
                    .map(|(m, n)| (m.name().to_string(), *n))
                    .collect(),
            })
            .collect(),
    }
}

/// Read a baseline: a file, or a directory holding `baseline.json`.
pub(crate) fn load(path: &Path) -> Result<Baseline> {
    let file = if path.is_dir() {
        path.join("baseline.json")
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Results {
                path: file.clone(),
                message: "baseline not found; create one from results you trust with `sweep check <RESULTS> --save-baseline <FILE>`".into(),
            }
        } else {
            Error::Read { path: file.clone(), source: e }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Results {
        path: file,
        message: format!("not a sweep baseline: {e}"),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Improved,
    Regressed,
    WithinTolerance,
    /// Beyond the tolerance, but not statistically significant.
    WithinNoise,
    /// In the baseline, not in the results.
    Missing,
    /// In the results, not in the baseline.
    New,
}

impl Verdict {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::WithinTolerance => "within tolerance",
            Verdict::WithinNoise => "within noise",
            Verdict::Missing => "MISSING",
            Verdict::New => "new",
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Line {
    pub label: String,
    pub metric: Option<Metric>,
    pub baseline: Option<Stats>,
    pub current: Option<Stats>,
    /// Current minus baseline, in display units (pp for accuracies).
    pub delta: Option<f64>,
    /// The allowed change in the bad direction, in display units.
    pub threshold: Option<f64>,
    /// The p-value of the change, and the test that gave it.
    pub p: Option<(f64, &'static str)>,
    pub verdict: Verdict,
    /// Matched by label because the run ids changed.
    pub by_label: bool,
}

/// How strict the comparison is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tolerance {
    pub accuracy_pp: f64,
    pub loss: f64,
    pub k: f64,
}

/// Compare `current` configurations against `base` on `metrics`.
pub(crate) fn compare(
    base: &Baseline,
    current: &[ConfigRow],
    metrics: &[Metric],
    tol: Tolerance,
) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut matched = vec![false; current.len()];
    for b in &base.configs {
        let found = current
            .iter()
            .position(|c| c.config_id == b.config_id && c.n > 0)
            .map(|i| (i, false))
            .or_else(|| {
                current
                    .iter()
                    .position(|c| c.label == b.label && c.n > 0)
                    .map(|i| (i, true))
            });
        let Some((i, by_label)) = found else {
            lines.push(Line {
                label: b.label.clone(),
                metric: None,
                baseline: None,
                current: None,
                delta: None,
                threshold: None,
                p: None,
                verdict: Verdict::Missing,
                by_label: false,
            });
            continue;
        };
        matched[i] = true;
        let c = &current[i];
        for &m in metrics {
            let (Some(bs), Some(cs)) = (b.metrics.get(m.name()).copied(), c.stat(m)) else {
                lines.push(Line {
                    label: b.label.clone(),
                    metric: Some(m),
                    baseline: b.metrics.get(m.name()).copied(),
                    current: c.stat(m),
                    delta: None,
                    threshold: None,
                    p: None,
                    verdict: Verdict::Missing,
                    by_label,
                });
                continue;
            };
            let scale = if m.is_accuracy() { 100.0 } else { 1.0 };
            let delta = (cs.mean - bs.mean) * scale;
            let tolerance = if m.is_accuracy() {
                tol.accuracy_pp
            } else {
                tol.loss
            };
            let threshold = tolerance.max(tol.k * bs.std.unwrap_or(0.0) * scale);
            let worse = if m.higher_is_better() { -delta } else { delta };
            let p = significance(m, &bs, b.images.get(m.name()).copied(), c, &cs);
            let significant = p.is_none_or(|(p, _)| p < ALPHA);
            // A hair of slack so that a change of exactly the tolerance is within it.
            let verdict = if worse.abs() <= threshold + 1e-9 {
                Verdict::WithinTolerance
            } else if !significant {
                Verdict::WithinNoise
            } else if worse > 0.0 {
                Verdict::Regressed
            } else {
                Verdict::Improved
            };
            lines.push(Line {
                label: b.label.clone(),
                metric: Some(m),
                baseline: Some(bs),
                current: Some(cs),
                delta: Some(delta),
                threshold: Some(threshold),
                p,
                verdict,
                by_label,
            });
        }
    }
    for (i, c) in current.iter().enumerate() {
        if !matched[i] && c.n > 0 {
            lines.push(Line {
                label: c.label.clone(),
                metric: None,
                baseline: None,
                current: None,
                delta: None,
                threshold: None,
                p: None,
                verdict: Verdict::New,
                by_label: false,
            });
        }
    }
    lines
}

/// The p-value of the difference between baseline and current values of `m`: Welch's t-test
/// when both have two or more seeds, else for an accuracy the two-proportion z-test on the
/// images it was measured on; `None` when no test applies (then only the tolerance decides).
fn significance(
    m: Metric,
    base: &Stats,
    base_images: Option<usize>,
    current: &ConfigRow,
    cur: &Stats,
) -> Option<(f64, &'static str)> {
    use crate::results::stats;
    if let (Some(sb), Some(sc)) = (base.std, cur.std)
        && base.n > 1
        && cur.n > 1
    {
        return stats::welch((base.mean, sb, base.n), (cur.mean, sc, cur.n))
            .map(|w| (w.p, "Welch"));
    }
    if !m.is_accuracy() {
        return None;
    }
    let n_cur = current.images.iter().find(|(k, _)| *k == m)?.1;
    let n_base = base_images?;
    // One seed: n x seeds images on each side.
    stats::two_proportions(base.mean, n_base * base.n, cur.mean, n_cur * cur.n)
        .map(|p| (p, "binomial"))
}

/// Whether the lines fail the gate (exit 1): a regression or a missing configuration.
pub(crate) fn failed(lines: &[Line]) -> bool {
    lines
        .iter()
        .any(|l| matches!(l.verdict, Verdict::Regressed | Verdict::Missing))
}

fn cells(l: &Line) -> Vec<String> {
    let fmt = |s: Option<Stats>| match (l.metric, s) {
        (Some(m), Some(s)) => s.format(m),
        _ => "-".into(),
    };
    let unit = |v: f64| match l.metric {
        Some(m) if m.is_accuracy() => format!("{v:+.2} pp"),
        _ => format!("{v:+.4}"),
    };
    vec![
        if l.by_label {
            format!("{} (matched by label)", l.label)
        } else {
            l.label.clone()
        },
        l.metric.map_or("-".into(), |m| m.name().to_string()),
        fmt(l.baseline),
        fmt(l.current),
        l.delta.map_or("-".into(), unit),
        l.threshold
            .map_or("-".into(), |t| unit(t).replacen('+', "±", 1)),
        l.p.map_or("-".into(), |(p, test)| format!("{p:.3} ({test})")),
        l.verdict.name().to_string(),
    ]
}

const HEADERS: [&str; 8] = [
    "configuration",
    "metric",
    "baseline",
    "current",
    "change",
    "allowed",
    "p",
    "verdict",
];

fn summary_line(lines: &[Line]) -> String {
    let n = |v: Verdict| lines.iter().filter(|l| l.verdict == v).count();
    format!(
        "{} regressed, {} missing, {} improved, {} within tolerance, {} within noise, {} new: {}",
        n(Verdict::Regressed),
        n(Verdict::Missing),
        n(Verdict::Improved),
        n(Verdict::WithinTolerance),
        n(Verdict::WithinNoise),
        n(Verdict::New),
        if failed(lines) { "FAIL" } else { "ok" }
    )
}

/// Markdown for CI logs and pull-request comments.
pub(crate) fn markdown(sweep: &str, lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let mut c = cells(l);
            let verdict = c.len() - 1;
            if matches!(c[verdict].as_str(), "REGRESSED" | "MISSING") {
                c[verdict] = format!("**{}**", c[verdict]);
            }
            c
        })
        .collect();
    format!(
        "## sweep check: `{sweep}`\n\n{}\n{}\n",
        crate::fmt::markdown_table(&HEADERS, &rows, crate::fmt::Align::Left),
        summary_line(lines)
    )
}

/// A terminal table.
pub(crate) fn table(sweep: &str, lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines.iter().map(cells).collect();
    let t = crate::fmt::terminal_table(&HEADERS, &rows, None);
    format!("sweep check: {sweep}\n{t}\n{}\n", summary_line(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(label: &str, id: &str, val: f64, std: Option<f64>, n: usize) -> ConfigRow {
        ConfigRow {
            config_id: id.into(),
            label: label.into(),
            model: "m".into(),
            settings: Default::default(),
            epochs: 1,
            n,
            values: Vec::new(),
            seeds: Vec::new(),
            images: Vec::new(),
            metrics: Metric::ALL
                .iter()
                .map(|m| {
                    (
                        *m,
                        Some(Stats {
                            mean: if m.is_accuracy() { val } else { 1.0 - val },
                            std,
                            n,
                            min: None,
                            max: None,
                            ci95: None,
                        }),
                    )
                })
                .collect(),
        }
    }

    const TOL: Tolerance = Tolerance {
        accuracy_pp: 1.0,
        loss: 0.05,
        k: 2.0,
    };

    fn fixture() -> Vec<Line> {
        let base = baseline(
            "ci",
            &[
                config("A", "a1", 0.95, None, 1),
                config("B", "b1", 0.90, None, 1),
                config("C", "c1", 0.80, Some(0.01), 3),
                config("D", "d1", 0.5, None, 1),
            ],
        );
        let current = [
            config("A", "a1", 0.952, None, 1),
            config("B", "b2", 0.84, None, 1),
            config("C", "c1", 0.83, Some(0.01), 3),
            config("E", "e1", 0.7, None, 1),
        ];
        compare(
            &base,
            &current,
            &[Metric::ValAccuracy, Metric::ValLoss],
            TOL,
        )
    }

    /// A label holding `|` keeps its row: every row has as many unescaped separators as the
    /// header.
    #[test]
    fn markdown_escapes_pipes_in_labels() {
        let mut lines = fixture();
        lines[0].label = "sgd | lr=0.1".into();
        let md = markdown("ci", &lines);
        let unescaped = |l: &str| l.replace("\\|", "").matches('|').count();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert!(rows.iter().any(|r| r.contains("sgd \\| lr=0.1")), "{md}");
        assert!(
            rows.iter().all(|r| unescaped(r) == unescaped(rows[0])),
            "{md}"
        );
    }

    #[test]
    fn verdicts() {
        let lines = fixture();
        let v: Vec<_> = lines
            .iter()
            .map(|l| (l.label.as_str(), l.metric.map(|m| m.name()), l.verdict))
            .collect();
        assert_eq!(
            v,
            [
                ("A", Some("val_accuracy"), Verdict::WithinTolerance),
                ("A", Some("val_loss"), Verdict::WithinTolerance),
                ("B", Some("val_accuracy"), Verdict::Regressed),
                ("B", Some("val_loss"), Verdict::Regressed),
                ("C", Some("val_accuracy"), Verdict::Improved),
                ("C", Some("val_loss"), Verdict::WithinTolerance),
                ("D", None, Verdict::Missing),
                ("E", None, Verdict::New),
            ]
        );
        assert!(lines[2].by_label, "B's id changed, matched by label");
        assert_eq!(
            lines[4].threshold,
            Some(2.0),
            "k x std = 2 pp beats the 1 pp tolerance"
        );
        assert!(failed(&lines));
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown("ci", &fixture()));
    }

    #[test]
    fn baseline_round_trips() {
        let b = baseline("ci", &[config("A", "a1", 0.95, Some(0.01), 2)]);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Baseline>(&json).unwrap(), b);
    }
}
