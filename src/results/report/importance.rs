//! What each swept parameter explains: the share of the variance of the configurations' means
//! (of the rank metric) that the parameter's marginal means account for, as a one-way analysis
//! of variance per parameter (an fANOVA-lite), corrected for the share its groups would explain
//! by chance (epsilon squared: `(SS_between - (k - 1) MS_within) / SS_total`, 0 at least). A
//! numeric parameter with more distinct values than half the configurations (a sampled learning
//! rate) is grouped into 2 to 4 quantile ranges first. Parameters swept together are not
//! independent, so the shares need not add up to one; with few configurations they are rough.

use super::{ConfigRow, Metric};
use crate::spec::grid::Value;

/// One parameter's row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Importance {
    pub key: String,
    /// How many groups its values formed (distinct values, or quartiles).
    pub groups: usize,
    /// Epsilon squared: 0 (explains nothing beyond chance) to 1 (everything).
    pub share: f64,
    /// The group with the best mean: its value (or range), and that mean.
    pub best: (String, f64),
}

/// Every parameter the configurations differ on, most explaining first.
pub(crate) fn importance(configs: &[ConfigRow], m: Metric) -> Vec<Importance> {
    let scored: Vec<(&ConfigRow, f64)> = configs
        .iter()
        .filter_map(|c| Some((c, c.stat(m)?.mean)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    if scored.len() < 3 {
        return Vec::new();
    }
    let mean = scored.iter().map(|(_, y)| y).sum::<f64>() / scored.len() as f64;
    let total: f64 = scored.iter().map(|(_, y)| (y - mean).powi(2)).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let keys = crate::spec::settings::varying(scored.iter().map(|(c, _)| &c.settings), &["seed"]);
    let mut out: Vec<Importance> = keys
        .into_iter()
        .filter_map(|key| {
            let values: Vec<(Option<&Value>, f64)> = scored
                .iter()
                .map(|(c, y)| (c.settings.get(&key), *y))
                .collect();
            let groups = group(&values);
            let (n, k) = (scored.len(), groups.len());
            // Two groups at least, and some configurations sharing one: else not estimable.
            if k < 2 || n <= k {
                return None;
            }
            let mut between = 0.0;
            let mut within = 0.0;
            for (_, ys) in &groups {
                let g = ys.iter().sum::<f64>() / ys.len() as f64;
                between += ys.len() as f64 * (g - mean).powi(2);
                within += ys.iter().map(|y| (y - g).powi(2)).sum::<f64>();
            }
            let ms_within = within / (n - k) as f64;
            let share = ((between - (k - 1) as f64 * ms_within) / total).max(0.0);
            let best = groups
                .iter()
                .map(|(label, ys)| (label.clone(), ys.iter().sum::<f64>() / ys.len() as f64))
                .max_by(|a, b| {
                    let (x, y) = if m.higher_is_better() {
                        (a.1, b.1)
                    } else {
                        (b.1, a.1)
                    };
                    x.total_cmp(&y)
                })
                .expect("two groups or more");
            Some(Importance {
                key,
                groups: k,
                share,
                best,
            })
        })
        .collect();
    out.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.key.cmp(&b.key)));
    out
}

/// The configurations' values grouped: by distinct value, or, for numbers with more distinct
/// values than half the configurations, into 2 to 4 quantile ranges (labelled by their range).
fn group(values: &[(Option<&Value>, f64)]) -> Vec<(String, Vec<f64>)> {
    let number = |v: Option<&Value>| match v {
        Some(Value::Float(f)) => Some(*f),
        Some(Value::Int(i)) => Some(*i as f64),
        _ => None,
    };
    let mut distinct: Vec<String> = values
        .iter()
        .map(|(v, _)| v.map_or("-".into(), ToString::to_string))
        .collect();
    distinct.sort();
    distinct.dedup();
    let numeric = values.iter().all(|(v, _)| number(*v).is_some());
    let n = values.len();
    if numeric && distinct.len() > n / 2 {
        let bins = (n / 3).clamp(2, 4);
        let mut sorted: Vec<(f64, f64)> = values
            .iter()
            .map(|(v, y)| (number(*v).expect("numeric"), *y))
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        return (0..bins)
            .map(|q| {
                let part = &sorted[q * n / bins..(q + 1) * n / bins];
                let label = format!(
                    "{} - {}",
                    part.first().map_or(0.0, |p| p.0),
                    part.last().map_or(0.0, |p| p.0)
                );
                (label, part.iter().map(|p| p.1).collect::<Vec<f64>>())
            })
            .filter(|(_, ys)| !ys.is_empty())
            .collect();
    }
    distinct
        .into_iter()
        .map(|label| {
            let ys = values
                .iter()
                .filter(|(v, _)| v.map_or("-".into(), ToString::to_string) == label)
                .map(|(_, y)| *y)
                .collect();
            (label, ys)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::report::{Settings, Stats};

    fn config(width: u64, lr: f64, y: f64) -> ConfigRow {
        ConfigRow {
            config_id: format!("{width}-{lr}"),
            label: String::new(),
            model: "m".into(),
            settings: Settings::new(vec![
                ("model".into(), Value::Name("m".into())),
                ("lr".into(), Value::Float(lr)),
                ("width".into(), Value::Int(width)),
            ]),
            epochs: 1,
            n: 1,
            metrics: vec![(
                Metric::ValAccuracy,
                Some(Stats {
                    mean: y,
                    std: None,
                    n: 1,
                    min: None,
                    max: None,
                    ci95: None,
                }),
            )],
            values: Vec::new(),
            seeds: Vec::new(),
            images: Vec::new(),
        }
    }

    #[test]
    fn the_parameter_that_moves_the_metric_explains_its_variance() {
        // The metric follows width exactly; lr is balanced against it and explains nothing.
        let configs: Vec<ConfigRow> = [
            (8, 0.1),
            (8, 0.01),
            (16, 0.1),
            (16, 0.01),
            (32, 0.1),
            (32, 0.01),
        ]
        .iter()
        .map(|&(w, lr)| config(w, lr, 0.5 + w as f64 / 100.0))
        .collect();
        let rows = importance(&configs, Metric::ValAccuracy);
        assert_eq!(rows[0].key, "width");
        assert!((rows[0].share - 1.0).abs() < 1e-12);
        assert_eq!(rows[0].best.0, "32");
        assert_eq!(rows[1].key, "lr");
        // What two groups of three explain by chance is taken off: nothing left.
        assert_eq!(rows[1].share, 0.0);
        // Only model takes one value: no row.
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn many_distinct_values_are_grouped_into_quantile_ranges() {
        let configs: Vec<ConfigRow> = (0..12)
            .map(|i| config(8, 10f64.powi(-i - 1), i as f64 / 10.0))
            .collect();
        let rows = importance(&configs, Metric::ValAccuracy);
        assert_eq!((rows[0].key.as_str(), rows[0].groups), ("lr", 4));
        // The smallest rates did best: the lowest range.
        assert_eq!(rows[0].best.0, "0.000000000001 - 0.0000000001");
        assert!(rows[0].share > 0.8, "{}", rows[0].share);
        // Fewer than three configurations: nothing to say.
        assert!(importance(&configs[..2], Metric::ValAccuracy).is_empty());
    }
}
