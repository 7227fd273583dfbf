//! Several objectives at once (`rank_by = ["val_accuracy", "-wall_seconds"]`): the Pareto
//! front of the configurations, those that no other is at least as good as on every objective
//! and better than on one (on their means over seeds).

use super::{ConfigRow, Report, RunState, Stats};
use crate::spec::metric::Objective;

/// A configuration's value of objective `o`: a metric's statistics over its seeds, or the
/// mean wall time of its finished runs, or its model's parameters.
pub(crate) fn value(r: &Report, c: &ConfigRow, o: Objective) -> Option<Stats> {
    match o {
        Objective::Metric(m) => c.stat(m),
        Objective::WallSeconds(_) => {
            let times: Vec<f64> = r
                .runs
                .iter()
                .filter(|x| x.config_id == c.config_id && x.status == RunState::Done)
                .map(|x| x.wall_seconds)
                .collect();
            Stats::of(&times)
        }
        Objective::Params(_) => r
            .runs
            .iter()
            .find(|x| x.config_id == c.config_id && x.params > 0)
            .map(|x| Stats {
                mean: x.params as f64,
                std: None,
                n: 1,
                min: None,
                max: None,
                ci95: None,
            }),
    }
}

/// Whether `a` dominates `b`: at least as good on every objective, better on one.
fn dominates(a: &[f64], b: &[f64], higher: &[bool]) -> bool {
    let mut better = false;
    for ((x, y), h) in a.iter().zip(b).zip(higher) {
        let (x, y) = if *h { (*x, *y) } else { (-x, -y) };
        if x < y {
            return false;
        }
        better |= x > y;
    }
    better
}

/// The indices (into `points`) of the non-dominated points, in their order.
pub(crate) fn front(points: &[Vec<f64>], higher: &[bool]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            !points
                .iter()
                .enumerate()
                .any(|(j, q)| j != i && dominates(q, &points[i], higher))
        })
        .collect()
}

/// Every configuration with a value of each objective (index into `r.configs`, its means),
/// and which of them are on the front.
pub(crate) fn configurations(
    r: &Report,
    objectives: &[Objective],
) -> (Vec<(usize, Vec<f64>)>, Vec<usize>) {
    let rows: Vec<(usize, Vec<f64>)> = r
        .configs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let v: Option<Vec<f64>> = objectives
                .iter()
                .map(|o| value(r, c, *o).map(|s| s.mean))
                .collect();
            Some((i, v?))
        })
        .collect();
    let higher: Vec<bool> = objectives.iter().map(|o| o.higher_is_better()).collect();
    let points: Vec<Vec<f64>> = rows.iter().map(|(_, v)| v.clone()).collect();
    let on = front(&points, &higher);
    (rows, on)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made case: accuracy up, time down. (0.9, 10) and (0.95, 30) and (0.97, 80) trade
    /// off; (0.9, 20) is beaten by (0.9, 10) (same accuracy, faster), (0.94, 40) by
    /// (0.95, 30); two equal points are both on the front (neither is better on one).
    #[test]
    fn the_front_keeps_exactly_the_configurations_nothing_beats() {
        let points = vec![
            vec![0.90, 10.0],
            vec![0.95, 30.0],
            vec![0.90, 20.0],
            vec![0.97, 80.0],
            vec![0.94, 40.0],
            vec![0.97, 80.0],
        ];
        assert_eq!(front(&points, &[true, false]), [0, 1, 3, 5]);
        // Both higher: only the most accurate and slowest survive.
        assert_eq!(front(&points, &[true, true]), [3, 5]);
        assert!(dominates(&[0.9, 10.0], &[0.9, 20.0], &[true, false]));
        assert!(!dominates(&[0.9, 10.0], &[0.9, 10.0], &[true, false]));
    }
}
