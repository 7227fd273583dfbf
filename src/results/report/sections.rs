//! The report's tables as rows of display strings: what the markdown and terminal renderers
//! share. Numbers are formatted here once: accuracies as percentages with 2 decimals, std with
//! the same precision, losses with 4 decimals.

use super::{ConfigRow, Metric, Report, Versus, VersusBest, versus};

/// One titled table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Plots to show under the table (paths relative to the report).
    pub plots: Vec<String>,
    /// A line to read under the table.
    pub note: Option<String>,
}

/// The learning-curve plots of a report: those that belong to no table (comparisons and the
/// ranking show their own plot under the table).
pub(crate) fn curve_plots(r: &Report) -> Vec<&(String, String)> {
    r.plots
        .iter()
        .filter(|(t, _)| {
            !r.comparisons.iter().any(|c| &c.title == t)
                && *t != ranking_title(r)
                && *t != pareto_title(r)
                && !t.starts_with(&response_prefix(r))
        })
        .collect()
}

/// The ranking table's title (also the key of its strip plot in [`Report::plots`]).
pub(crate) fn ranking_title(r: &Report) -> String {
    format!(
        "Ranking by {} ({})",
        r.rank_by.heading(),
        r.rank_by.epoch_rule()
    )
}

/// The ranking's warning when the gap between the two best configurations is below the
/// binomial floor of the set the metric is measured on (half the best's Wilson interval).
fn floor_note(r: &Report) -> Option<String> {
    let m = r.rank_by;
    let (a, b) = match r.ranking.as_slice() {
        [a, b, ..] => (&r.configs[a.config], &r.configs[b.config]),
        _ => return None,
    };
    let best = a.stat(m)?.mean;
    let gap = (best - b.stat(m)?.mean).abs();
    let [lo, hi] = a.wilson(m)?;
    let n = a.images.iter().find(|(k, _)| *k == m)?.1;
    let floor = (hi - lo) / 2.0;
    // When the seeds did tell them apart (a paired test can, below the floor), say so.
    let separated = r.ranking[1].tied_with_best == Some(false);
    (gap < floor).then(|| {
        format!(
            "The gap between the two best configurations ({:.2} pp) is below the binomial floor of {} images (±{:.2} pp at {}): {}",
            gap * 100.0,
            crate::fmt::thousands(n as u64),
            floor * 100.0,
            m.format(best),
            if separated {
                "their seeds tell them apart on these images, but another set of images of this size might not."
            } else {
                "on these images the two are not told apart."
            }
        )
    })
}

fn opt(m: Metric, v: Option<f64>) -> String {
    v.map_or("-".into(), |v| m.format(v))
}

/// Ours minus a reference: "+0.12 pp" for accuracies, "+0.0012" for losses.
fn difference(m: Metric, d: f64) -> String {
    if m.is_accuracy() {
        format!("{:+.2} pp", d * 100.0)
    } else {
        format!("{d:+.4}")
    }
}

/// The three cells of a published value beside ours: the value (and its source), the
/// difference, and whether it lies within our seeds.
fn versus_cells(m: Metric, v: Option<&Versus>) -> [String; 3] {
    match v {
        None => ["-".into(), "-".into(), "-".into()],
        Some(v) => [
            match &v.source {
                Some(s) => format!("{} ({s})", m.format(v.reference)),
                None => m.format(v.reference),
            },
            difference(m, v.difference),
            v.agreement.text().into(),
        ],
    }
}

fn versus_headers(m: Metric) -> [String; 3] {
    [
        format!("{}: reference", m.heading()),
        "ours - reference".into(),
        "reference within our seeds".into(),
    ]
}

pub(crate) fn sections(r: &Report) -> Vec<Section> {
    let mut out = Vec::new();
    // One column per axis the runs differ on (model and optimizer always); epochs and seed
    // are columns of their own.
    let axes =
        crate::spec::settings::varying(r.runs.iter().map(|x| &x.settings), &["epochs", "seed"]);
    let mut headers = vec!["run".to_string()];
    headers.extend(axes.iter().cloned());
    headers.extend(
        [
            "params",
            "epochs",
            "seed",
            "train acc",
            "train loss",
            "val acc",
            "val loss",
            "best val acc (epoch)",
            "test acc",
        ]
        .map(String::from),
    );
    let custom = r.custom_metrics();
    headers.extend(custom.iter().map(|m| m.heading().to_string()));
    headers.extend(["time", "images/s", "status"].map(String::from));
    out.push(Section {
        title: "Runs".into(),
        headers,
        rows: r
            .runs
            .iter()
            .map(|x| {
                let mut row = vec![x.label.clone()];
                row.extend(axes.iter().map(|k| x.settings.cell(k)));
                row.extend([
                    crate::fmt::params(x.params),
                    if x.epochs_done < x.epochs {
                        format!("{}/{}", x.epochs_done, x.epochs)
                    } else {
                        x.epochs.to_string()
                    },
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
                ]);
                row.extend(custom.iter().map(|m| opt(*m, x.get(*m))));
                row.extend([
                    crate::fmt::duration(x.wall_seconds),
                    x.images_per_sec.map_or("-".into(), |v| format!("{v:.0}")),
                    x.status_text(),
                ]);
                row
            })
            .collect(),
        plots: Vec::new(),
        note: None,
    });
    if r.configs.iter().any(|c| c.n > 1) {
        let mut metrics = vec![
            Metric::TrainAccuracy,
            Metric::ValAccuracy,
            Metric::ValLoss,
            Metric::BestValAccuracy,
            Metric::TestAccuracy,
        ];
        metrics.extend(custom.iter().copied());
        let mut headers = vec!["configuration".to_string(), "n".into()];
        headers.extend(metrics.iter().map(|m| m.heading().to_string()));
        out.push(Section {
            title: "Across seeds (mean ± std)".into(),
            headers,
            rows: r
                .configs
                .iter()
                .map(|c| {
                    // A configuration successive halving cut: every run pruned, nothing averaged.
                    let mut members = r.runs.iter().filter(|x| x.config_id == c.config_id);
                    let pruned = members
                        .next()
                        .and_then(|x| x.pruned)
                        .filter(|p| members.all(|x| x.pruned == Some(*p)));
                    let label = pruned.map_or_else(
                        || c.label.clone(),
                        |p| format!("{} ({})", c.label, p.describe()),
                    );
                    // n: the finished seeds the means are over (runs still going are not).
                    let finished = c.stat(Metric::ValAccuracy).map_or(0, |s| s.n);
                    let mut row = vec![label, finished.to_string()];
                    row.extend(
                        metrics
                            .iter()
                            .map(|m| c.stat(*m).map_or("-".into(), |s| s.format(*m))),
                    );
                    row
                })
                .collect(),
            plots: Vec::new(),
            note: None,
        });
    }
    let with_reference = |rows: Vec<&ConfigRow>, m: Metric| {
        rows.into_iter().any(|c| versus(&r.spec, c, m).is_some())
    };
    let m = r.rank_by;
    let ranked_refs = with_reference(r.ranking.iter().map(|x| &r.configs[x.config]).collect(), m);
    let mut headers: Vec<String> = vec![
        "rank".into(),
        "configuration".into(),
        m.heading().into(),
        "95% CI (seeds)".into(),
        "n".into(),
        "tied with best".into(),
        "vs best".into(),
        "P(rank 1)".into(),
    ];
    if m.is_accuracy() {
        headers.insert(4, "95% CI (binomial)".into());
    }
    if ranked_refs {
        headers.extend(versus_headers(m));
    }
    let interval = |i: Option<[f64; 2]>| {
        i.map_or("-".into(), |[lo, hi]| {
            format!("{} - {}", m.format(lo), m.format(hi))
        })
    };
    out.push(Section {
        title: ranking_title(r),
        headers,
        rows: r
            .ranking
            .iter()
            .map(|x| {
                let c = &r.configs[x.config];
                let stat = c.stat(m);
                let mut row = vec![
                    x.rank.to_string(),
                    c.label.clone(),
                    stat.map_or("-".into(), |s| s.format(m)),
                    interval(stat.and_then(|s| s.ci95)),
                    stat.map_or(0, |s| s.n).to_string(),
                    match x.tied_with_best {
                        Some(true) if x.rank == 1 && x.versus_best.is_none() => "best".into(),
                        Some(true) => "yes".into(),
                        Some(false) => "no".into(),
                        None => "-".into(),
                    },
                    match x.versus_best {
                        Some(VersusBest::Welch { p_holm }) => {
                            format!("Welch {} (Holm)", p_text(p_holm))
                        }
                        Some(VersusBest::Paired { p_holm }) => {
                            format!("paired {} (Holm)", p_text(p_holm))
                        }
                        Some(VersusBest::Wilson { overlap: true }) => {
                            "binomial intervals overlap".into()
                        }
                        Some(VersusBest::Wilson { overlap: false }) => {
                            "binomial intervals apart".into()
                        }
                        None => "-".into(),
                    },
                    x.p_first.map_or("-".into(), |p| format!("{p:.2}")),
                ];
                if m.is_accuracy() {
                    row.insert(4, interval(c.wilson(m)));
                }
                if ranked_refs {
                    row.extend(versus_cells(m, versus(&r.spec, c, m).as_ref()));
                }
                row
            })
            .collect(),
        plots: r
            .plots
            .iter()
            .filter(|(t, _)| *t == ranking_title(r))
            .map(|(_, p)| p.clone())
            .collect(),
        note: floor_note(r),
    });
    if let Some(s) = importance_section(r) {
        out.push(s);
    }
    if let Some(s) = pareto_section(r) {
        out.push(s);
    }
    for cmp in &r.comparisons {
        // Each column, followed by the published values of it when the manifest gives any.
        let referenced: Vec<bool> = cmp
            .columns
            .iter()
            .map(|m| {
                with_reference(
                    cmp.rows.iter().filter_map(|(_, c)| c.as_ref()).collect(),
                    *m,
                )
            })
            .collect();
        let mut headers = vec!["configuration".to_string()];
        for (m, refs) in cmp.columns.iter().zip(&referenced) {
            headers.push(m.heading().to_string());
            if *refs {
                headers.extend(versus_headers(*m));
            }
        }
        out.push(Section {
            title: cmp.title.clone(),
            headers,
            rows: cmp
                .rows
                .iter()
                .map(|(label, row)| {
                    let mut cells = vec![label.clone()];
                    for (m, refs) in cmp.columns.iter().zip(&referenced) {
                        cells.push(
                            row.as_ref()
                                .and_then(|c| c.stat(*m))
                                .map_or("no results".into(), |s| s.format(*m)),
                        );
                        if *refs {
                            let v = row.as_ref().and_then(|c| versus(&r.spec, c, *m));
                            cells.extend(versus_cells(*m, v.as_ref()));
                        }
                    }
                    cells
                })
                .collect(),
            plots: r
                .plots
                .iter()
                .filter(|(t, _)| *t == cmp.title)
                .map(|(_, p)| p.clone())
                .collect(),
            note: None,
        });
    }
    out
}

/// The Pareto table's title (also its plot's, in [`Report::plots`]).
pub(crate) fn pareto_title(r: &Report) -> String {
    format!(
        "Pareto front ({})",
        r.objectives
            .iter()
            .map(|o| format!(
                "{} {}",
                o.heading(),
                if o.higher_is_better() { "up" } else { "down" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// With two objectives or more: the configurations no other beats on all of them
/// ([`super::pareto`]), best first by the first objective.
fn pareto_section(r: &Report) -> Option<Section> {
    if r.objectives.len() < 2 {
        return None;
    }
    let (rows, on) = super::pareto::configurations(r, &r.objectives);
    let first = r.objectives[0];
    let mut front: Vec<&(usize, Vec<f64>)> = on.iter().map(|&i| &rows[i]).collect();
    front.sort_by(|a, b| {
        let o = a.1[0].total_cmp(&b.1[0]);
        if first.higher_is_better() {
            o.reverse()
        } else {
            o
        }
    });
    let mut headers = vec!["configuration".to_string(), "n".into()];
    headers.extend(
        r.objectives
            .iter()
            .map(|o| format!("{} (95% CI)", o.heading())),
    );
    Some(Section {
        title: pareto_title(r),
        headers,
        rows: front
            .iter()
            .map(|(i, _)| {
                let c = &r.configs[*i];
                let mut row = vec![c.label.clone(), c.n.to_string()];
                row.extend(r.objectives.iter().map(|o| {
                    super::pareto::value(r, c, *o).map_or("-".into(), |s| match s.ci95 {
                        Some([lo, hi]) => {
                            format!("{} ({} - {})", o.format(s.mean), o.format(lo), o.format(hi))
                        }
                        None => o.format(s.mean),
                    })
                }));
                row
            })
            .collect(),
        plots: r
            .plots
            .iter()
            .filter(|(t, _)| *t == pareto_title(r))
            .map(|(_, p)| p.clone())
            .collect(),
        note: Some(format!(
            "{} of the {} configurations with a value of every objective are on the front: no other is at least as good on every objective and better on one (comparing means over seeds; the intervals say how sure each mean is).",
            front.len(),
            rows.len()
        )),
    })
}

/// The start of the titles of the plots of the rank metric against each parameter (in
/// [`Report::plots`], shown under the importance table).
pub(crate) fn response_prefix(r: &Report) -> String {
    format!("{} against ", r.rank_by.heading())
}

/// What each parameter the configurations differ on explains of the rank metric
/// ([`super::importance`]), when there are three configurations or more.
fn importance_section(r: &Report) -> Option<Section> {
    let m = r.rank_by;
    let rows = super::importance::importance(&r.configs, m);
    if rows.is_empty() {
        return None;
    }
    Some(Section {
        title: format!("What each parameter explains ({})", m.heading()),
        headers: [
            "parameter",
            "groups",
            "share of variance",
            "best value (mean)",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|x| {
                vec![
                    x.key.clone(),
                    x.groups.to_string(),
                    format!("{:.0}%", x.share * 100.0),
                    format!("{} ({})", x.best.0, m.format(x.best.1)),
                ]
            })
            .collect(),
        plots: r
            .plots
            .iter()
            .filter(|(t, _)| t.starts_with(&response_prefix(r)))
            .map(|(_, p)| p.clone())
            .collect(),
        note: Some(format!(
            "The share of the variance of the {} configurations' means that each parameter's own means account for (one-way analysis of variance; more than six distinct values are grouped into quartiles). Parameters swept together are not independent, so the shares need not add up to 100%, and with few configurations they are rough.",
            r.configs.iter().filter(|c| c.stat(m).is_some()).count()
        )),
    })
}

/// Configurations side by side across sweeps (`sweep report A B C --across`), by each report's
/// rank metric: a table of the values (mean ± std, n) with the published value and whether it
/// lies within each sweep's seeds, and a table of the ranks, with whether the published ranking
/// holds in each sweep.
pub(crate) fn across(reports: &[Report]) -> Vec<Section> {
    let Some(m) = reports.first().map(|r| r.rank_by) else {
        return Vec::new();
    };
    // The configurations with published values first, in the manifest's order, then the rest.
    let mut labels: Vec<&str> = Vec::new();
    for r in reports {
        let named = r.spec.reference.iter().map(|x| x.label.label.as_str());
        for l in named.chain(r.configs.iter().map(|c| c.label.as_str())) {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    let config =
        |r: &'_ Report, l: &str| -> Option<usize> { r.configs.iter().position(|c| c.label == l) };
    let reference = |l: &str| {
        reports.iter().find_map(|r| {
            r.spec
                .reference(l, m)
                .map(|(v, s)| (v, s.map(String::from)))
        })
    };
    let with_refs: Vec<bool> = reports
        .iter()
        .map(|r| labels.iter().any(|l| r.spec.reference(l, m).is_some()))
        .collect();
    let any_ref = with_refs.iter().any(|x| *x);

    let mut headers = vec!["configuration".to_string()];
    if any_ref {
        headers.push("reference".into());
    }
    for (r, refs) in reports.iter().zip(&with_refs) {
        headers.push(format!("{}: {} (n)", r.sweep, m.heading()));
        if *refs {
            headers.push(format!("{}: reference within our seeds", r.sweep));
        }
    }
    let rows = labels
        .iter()
        .map(|l| {
            let mut row = vec![l.to_string()];
            if any_ref {
                row.push(reference(l).map_or("-".into(), |(v, s)| match s {
                    Some(s) => format!("{} ({s})", m.format(v)),
                    None => m.format(v),
                }));
            }
            for (r, refs) in reports.iter().zip(&with_refs) {
                let c = config(r, l).map(|i| &r.configs[i]);
                row.push(
                    c.and_then(|c| c.stat(m).map(|s| format!("{} ({})", s.format(m), s.n)))
                        .unwrap_or_else(|| "-".into()),
                );
                if *refs {
                    row.push(
                        c.and_then(|c| versus(&r.spec, c, m))
                            .map_or("-".into(), |v| v.agreement.text().into()),
                    );
                }
            }
            row
        })
        .collect();
    let values = Section {
        title: format!("Across sweeps: {} ({})", m.heading(), m.epoch_rule()),
        headers,
        rows,
        plots: Vec::new(),
        note: None,
    };

    // Ranks: the reference's order (by its values) and each sweep's.
    let ref_rank = |l: &str| -> Option<usize> {
        let v = reference(l)?.0;
        let better = |x: f64| if m.higher_is_better() { x > v } else { x < v };
        Some(
            1 + labels
                .iter()
                .filter(|o| reference(o).is_some_and(|(x, _)| better(x)))
                .count(),
        )
    };
    fn rank_in<'r>(r: &'r Report, l: &str) -> Option<&'r super::Ranked> {
        let i = r.configs.iter().position(|c| c.label == l)?;
        r.ranking.iter().find(|x| x.config == i)
    }
    let mut headers = vec!["configuration".to_string()];
    if any_ref {
        headers.push("reference rank".into());
    }
    headers.extend(reports.iter().map(|r| format!("{}: rank", r.sweep)));
    let rows = labels
        .iter()
        .map(|l| {
            let mut row = vec![l.to_string()];
            if any_ref {
                row.push(ref_rank(l).map_or("-".into(), |x| x.to_string()));
            }
            for r in reports {
                row.push(
                    rank_in(r, l).map_or("-".into(), |x| match x.tied_with_best {
                        Some(true) if x.rank > 1 => format!("{} (tied with best)", x.rank),
                        _ => x.rank.to_string(),
                    }),
                );
            }
            row
        })
        .collect();
    // Does each sweep order the configurations as the reference does?
    let holds: Vec<String> = if any_ref {
        reports
            .iter()
            .map(|r| {
                let both: Vec<(&str, usize, usize)> = labels
                    .iter()
                    .filter_map(|l| Some((*l, ref_rank(l)?, rank_in(r, l)?.rank)))
                    .collect();
                let row = |l: &str| r.configs.iter().find(|c| c.label == l);
                let test = |a: &str, b: &str| super::test_pair(row(a)?, row(b)?, m);
                format!("{}: {}", r.sweep, ranking_agreement(&both, test))
            })
            .collect()
    } else {
        Vec::new()
    };
    let ranks = Section {
        title: format!("Ranks by {} across sweeps", m.heading()),
        headers,
        rows,
        plots: Vec::new(),
        note: (!holds.is_empty()).then(|| holds.join(". ") + "."),
    };
    vec![values, ranks]
}

/// Whether a sweep orders configurations as the reference does, over every pair:
/// `(label, reference rank, our rank)` each. A pair tied in either ranking counts for neither
/// side; Kendall's tau-a is (concordant - discordant) / pairs. Each swapped pair says whether
/// `test(ours above, ours below)` shows the difference to be real (t-tests Holm-corrected over
/// the swapped pairs, at [`super::ALPHA`]), so a swap within the seeds' noise reads as such.
fn ranking_agreement(
    both: &[(&str, usize, usize)],
    test: impl Fn(&str, &str) -> Option<super::VersusBest>,
) -> String {
    use super::VersusBest;
    use std::cmp::Ordering::{Greater, Less};
    let n = both.len();
    if n < 2 {
        return "too few configurations to compare".into();
    }
    let mut by_ref: Vec<&(&str, usize, usize)> = both.iter().collect();
    by_ref.sort_by_key(|x| x.1);
    let (mut concordant, mut swapped) = (0usize, Vec::new());
    for (i, a) in by_ref.iter().enumerate() {
        for b in &by_ref[i + 1..] {
            match (a.1.cmp(&b.1), a.2.cmp(&b.2)) {
                (Less, Less) => concordant += 1,
                (Less, Greater) => swapped.push((b.0, a.0, test(b.0, a.0))),
                _ => {}
            }
        }
    }
    let pairs = n * (n - 1) / 2;
    if swapped.is_empty() && concordant == pairs {
        return format!("the reference ranking holds ({n} configurations, all {pairs} pairs)");
    }
    // Holm over the swapped pairs' t-tests.
    let raw: Vec<(usize, f64)> = swapped
        .iter()
        .enumerate()
        .filter_map(|(k, s)| s.2.and_then(VersusBest::p).map(|p| (k, p)))
        .collect();
    let adjusted = crate::results::stats::holm(&raw.iter().map(|r| r.1).collect::<Vec<_>>());
    for ((k, _), p) in raw.iter().zip(adjusted) {
        swapped[*k].2 = swapped[*k].2.map(|t| t.with_p(p));
    }
    let real = |t: Option<VersusBest>| match t {
        Some(VersusBest::Wilson { overlap }) => Some(!overlap),
        Some(t) => t.p().map(|p| p < super::ALPHA),
        None => None,
    };
    let text: Vec<String> = swapped
        .iter()
        .map(|(hi, lo, t)| {
            let why = match t {
                Some(VersusBest::Paired { p_holm }) => format!("paired {}", p_text(*p_holm)),
                Some(VersusBest::Welch { p_holm }) => format!("Welch {}", p_text(*p_holm)),
                Some(VersusBest::Wilson { overlap: true }) => "binomial intervals overlap".into(),
                Some(VersusBest::Wilson { overlap: false }) => "binomial intervals apart".into(),
                None => "untested".into(),
            };
            let verdict = match real(*t) {
                Some(true) => "real",
                Some(false) => "within noise",
                None => "not tested",
            };
            format!("{hi} above {lo} ({verdict}: {why})")
        })
        .collect();
    let tau = (concordant as f64 - swapped.len() as f64) / pairs as f64;
    let mut s = format!(
        "the reference ranking {} ({n} configurations: {concordant} of {pairs} pairs in the reference's order, Kendall's tau {tau:.2}",
        if swapped.is_empty() {
            "holds up to ties"
        } else {
            "does not hold"
        }
    );
    if !swapped.is_empty() {
        let shown = swapped.iter().filter(|s| real(s.2) == Some(true)).count();
        s.push_str(&format!(
            "; ours puts {}; {shown} of the {} swaps shown to be real",
            text.join(", "),
            swapped.len()
        ));
    }
    s.push(')');
    s
}

/// A p-value as the ranking prints it: three decimals, or `p < 0.001`.
fn p_text(p: f64) -> String {
    if p < 0.0005 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::ranking_agreement;
    use crate::results::report::VersusBest;

    #[test]
    fn every_pair_counts_not_only_neighbours() {
        let none = |_: &str, _: &str| None;
        let same = [("a", 1, 1), ("b", 2, 2), ("c", 3, 3)];
        assert_eq!(
            ranking_agreement(&same, none),
            "the reference ranking holds (3 configurations, all 3 pairs)"
        );
        // c last in the reference, first in ours: two swaps, neither between neighbours alone.
        // Holm over the two: 0.01 x 2 = 0.02 (real), 0.30 stays 0.30 (noise).
        let test = |hi: &str, lo: &str| match (hi, lo) {
            ("c", "a") => Some(VersusBest::Paired { p_holm: 0.01 }),
            ("c", "b") => Some(VersusBest::Welch { p_holm: 0.30 }),
            _ => None,
        };
        let s = ranking_agreement(&[("a", 1, 2), ("b", 2, 3), ("c", 3, 1)], test);
        assert_eq!(
            s,
            "the reference ranking does not hold (3 configurations: 1 of 3 pairs in the reference's order, \
             Kendall's tau -0.33; ours puts c above a (real: paired p = 0.020), c above b (within noise: \
             Welch p = 0.300); 1 of the 2 swaps shown to be real)"
        );
        let wilson = |_: &str, _: &str| Some(VersusBest::Wilson { overlap: true });
        let s = ranking_agreement(&[("a", 1, 2), ("b", 2, 1)], wilson);
        assert!(
            s.contains("b above a (within noise: binomial intervals overlap); 0 of the 1"),
            "{s}"
        );
        // A tie of ours is no swap, and no agreement either.
        let s = ranking_agreement(&[("a", 1, 1), ("b", 2, 1)], none);
        assert!(
            s.starts_with("the reference ranking holds up to ties"),
            "{s}"
        );
        assert_eq!(
            ranking_agreement(&[("a", 1, 1)], none),
            "too few configurations to compare"
        );
    }
}
