//! The report's tables as rows of display strings: what the markdown and terminal renderers
//! share. Numbers are formatted here once: accuracies as percentages with 2 decimals, std with
//! the same precision, losses with 4 decimals.

use super::{Metric, Report};

/// One titled table.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Plot to show under the table (a path relative to the report).
    pub plot: Option<String>,
}

fn opt(m: Metric, v: Option<f64>) -> String {
    v.map_or("-".into(), |v| m.format(v))
}

fn num(v: f64) -> String {
    // Shortest exact form: 0.001, 0.005, 0.5.
    format!("{v}")
}

pub fn sections(r: &Report) -> Vec<Section> {
    let mut out = Vec::new();
    out.push(Section {
        title: "Runs".into(),
        headers: [
            "run",
            "model",
            "params",
            "optimizer",
            "lr",
            "momentum",
            "epochs",
            "batch",
            "seed",
            "train acc",
            "train loss",
            "val acc",
            "val loss",
            "best val acc (epoch)",
            "test acc",
            "time",
            "images/s",
            "status",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .runs
            .iter()
            .map(|x| {
                vec![
                    x.label.clone(),
                    x.model.clone(),
                    crate::spec::arch::group_thousands(x.params as u64),
                    x.optimizer.clone(),
                    num(x.lr),
                    x.momentum.map_or("-".into(), num),
                    if x.epochs_done < x.epochs {
                        format!("{}/{}", x.epochs_done, x.epochs)
                    } else {
                        x.epochs.to_string()
                    },
                    x.batch_size.to_string(),
                    x.seed.to_string(),
                    opt(Metric::TrainAccuracy, x.train_accuracy),
                    opt(Metric::TrainLoss, x.train_loss),
                    opt(Metric::ValAccuracy, x.val_accuracy),
                    opt(Metric::ValLoss, x.val_loss),
                    match (x.best_val_accuracy, x.best_epoch) {
                        (Some(a), Some(e)) => format!("{} ({e})", Metric::ValAccuracy.format(a)),
                        _ => "-".into(),
                    },
                    opt(Metric::TestAccuracy, x.test_accuracy),
                    duration(x.wall_seconds),
                    x.images_per_sec.map_or("-".into(), |v| format!("{v:.0}")),
                    x.status.name().into(),
                ]
            })
            .collect(),
        plot: None,
    });
    if r.configs.iter().any(|c| c.n > 1) {
        let metrics = [
            Metric::TrainAccuracy,
            Metric::ValAccuracy,
            Metric::ValLoss,
            Metric::BestValAccuracy,
            Metric::TestAccuracy,
        ];
        let mut headers = vec!["configuration".to_string(), "n".into()];
        headers.extend(metrics.iter().map(|m| m.heading().to_string()));
        out.push(Section {
            title: "Across seeds (mean ± std)".into(),
            headers,
            rows: r
                .configs
                .iter()
                .map(|c| {
                    let mut row = vec![c.label.clone(), c.n.to_string()];
                    row.extend(
                        metrics
                            .iter()
                            .map(|m| c.stat(*m).map_or("-".into(), |s| m.format_stats(&s))),
                    );
                    row
                })
                .collect(),
            plot: None,
        });
    }
    out.push(Section {
        title: format!("Ranking by {}", r.rank_by.heading()),
        headers: ["rank", "configuration", r.rank_by.heading(), "n"]
            .map(String::from)
            .to_vec(),
        rows: r
            .ranking
            .iter()
            .map(|&(rank, i)| {
                let c = &r.configs[i];
                vec![
                    rank.to_string(),
                    c.label.clone(),
                    c.stat(r.rank_by)
                        .map_or("-".into(), |s| r.rank_by.format_stats(&s)),
                    c.n.to_string(),
                ]
            })
            .collect(),
        plot: None,
    });
    for (i, cmp) in r.comparisons.iter().enumerate() {
        let mut headers = vec!["configuration".to_string()];
        headers.extend(cmp.columns.iter().map(|m| m.heading().to_string()));
        out.push(Section {
            title: cmp.title.clone(),
            headers,
            rows: cmp
                .rows
                .iter()
                .map(|(label, row)| {
                    let mut cells = vec![label.clone()];
                    cells.extend(cmp.columns.iter().map(|m| {
                        row.as_ref()
                            .and_then(|c| c.stat(*m))
                            .map_or("no results".into(), |s| m.format_stats(&s))
                    }));
                    cells
                })
                .collect(),
            plot: r
                .plots
                .iter()
                .find(|(t, _)| *t == cmp.title)
                .map(|(_, p)| p.clone())
                .or_else(|| {
                    let _ = i;
                    None
                }),
        });
    }
    out
}

/// 3725.2 s -> "1h 02m"; 75 s -> "1m 15s"; 4.2 s -> "4.2s".
pub fn duration(s: f64) -> String {
    if s >= 3600.0 {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}
