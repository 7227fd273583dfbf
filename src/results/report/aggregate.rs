//! Seed aggregation: runs that differ only by seed are one configuration; each metric becomes
//! count, mean, sample standard deviation (n - 1), min, max and a 95% Student-t interval of the
//! mean (statrs), clipped to [0, 1] for accuracies. Only finished runs count: a run still going,
//! failed, diverged or corrupt is shown in the runs table, never averaged.

use super::{ConfigRow, Metric, RunRow, RunState, Stats};
use crate::error::Result;
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::statistics::Statistics;
use std::collections::HashMap;

impl Stats {
    /// The statistics of some values (`None` when there are none).
    pub fn of(values: &[f64]) -> Option<Stats> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.mean();
        let std = (n > 1).then(|| values.std_dev());
        let ci95 = std.and_then(|sd| {
            let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
            let half = t.inverse_cdf(0.975) * sd / (n as f64).sqrt();
            Some([mean - half, mean + half])
        });
        Some(Stats {
            mean,
            std,
            n,
            min: Some(values.min()),
            max: Some(values.max()),
            ci95,
        })
    }

    /// [`Stats::of`] for metric `m`: an accuracy's interval clipped to [0, 1] ([`Metric::clip`]),
    /// here, once, so that every output (tables, JSON, baselines, plots) gives the same one.
    pub fn of_metric(m: Metric, values: &[f64]) -> Option<Stats> {
        Stats::of(values).map(|s| Stats {
            ci95: s.ci95.map(|i| m.clip(i)),
            ..s
        })
    }
}

/// The built-in metrics, then the custom ones any of `runs` has, by name.
fn metrics_of(runs: &[&RunRow]) -> Vec<Metric> {
    let mut out = Metric::ALL.to_vec();
    out.extend(super::custom_metrics(runs.iter().copied()));
    out
}

/// One row per configuration, in order of first appearance in `runs`.
pub(crate) fn by_config(runs: &[RunRow]) -> Result<Vec<ConfigRow>> {
    // config id -> index into `groups`, in order of first appearance: one pass.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(runs.len());
    let mut groups: Vec<Vec<&RunRow>> = Vec::new();
    for r in runs {
        let g = *index.entry(r.config_id.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(r);
    }
    Ok(groups
        .into_iter()
        .map(|members| {
            let first = members[0];
            let by_seed: Vec<(Metric, Vec<(u64, f64)>)> = metrics_of(&members)
                .into_iter()
                .map(|m| {
                    let values: Vec<(u64, f64)> = members
                        .iter()
                        .filter(|r| r.status == RunState::Done)
                        .filter_map(|r| Some((r.seed, r.get(m)?)))
                        .collect();
                    (m, values)
                })
                .collect();
            let values: Vec<(Metric, Vec<f64>)> = by_seed
                .iter()
                .map(|(m, v)| (*m, v.iter().map(|p| p.1).collect()))
                .collect();
            let seeds = by_seed
                .iter()
                .map(|(m, v)| (*m, v.iter().map(|p| p.0).collect()))
                .collect();
            let metrics = values
                .iter()
                .map(|(m, v)| (*m, Stats::of_metric(*m, v)))
                .collect();
            let images = Metric::ALL
                .iter()
                .filter_map(|&m| first.images(m).filter(|n| *n > 0).map(|n| (m, n)))
                .collect();
            ConfigRow {
                config_id: first.config_id.clone(),
                label: first.label.clone(),
                model: first.model.clone(),
                settings: first.settings.without("seed"),
                epochs: first.epochs,
                values,
                seeds,
                images,
                n: members
                    .iter()
                    .filter(|r| r.epochs_done > 0 && r.status != RunState::Corrupt)
                    .count(),
                metrics,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_hand_computed_values() {
        let s = Stats::of(&[0.97, 0.98, 0.99]).unwrap();
        assert!((s.mean - 0.98).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.01).abs() < 1e-12);
        // t(0.975, 2 df) = 4.302653; half width = 4.302653 * 0.01 / sqrt(3).
        let [lo, hi] = s.ci95.unwrap();
        assert!((hi - lo - 2.0 * 4.302_653 * 0.01 / 3f64.sqrt()).abs() < 1e-6);
        assert_eq!((s.min, s.max), (Some(0.97), Some(0.99)));
        let one = Stats::of(&[0.5]).unwrap();
        assert_eq!((one.std, one.ci95), (None, None));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn accuracy_intervals_stay_inside_zero_and_one() {
        let v = [0.99, 1.0, 1.0];
        let [lo, hi] = Stats::of(&v).unwrap().ci95.unwrap();
        assert!(hi > 1.0, "the t interval itself reaches past 1: {hi}");
        let [clo, chi] = Stats::of_metric(Metric::TestAccuracy, &v)
            .unwrap()
            .ci95
            .unwrap();
        assert_eq!((clo, chi), (lo, 1.0));
        let loss = [-0.5, 0.0, 0.01];
        let raw = Stats::of(&loss).unwrap().ci95;
        assert_eq!(Stats::of_metric(Metric::TestLoss, &loss).unwrap().ci95, raw);
    }
}
