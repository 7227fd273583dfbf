//! `sweep diff A B`: two sweeps' results (before and after a change), configuration by
//! configuration: both means with their intervals, the difference B - A with its 95% interval
//! and p-value, and whether it is real. Configurations are matched by id, else by label.
//!
//! The test: when both sides have the same architecture and the same two or more finished seeds,
//! the paired t-test over seeds (seed s gave both the same initial weights and data order);
//! otherwise the gate's ([`crate::results::check`]): Welch's t-test when both sides have two or
//! more seeds, else for accuracies the two-proportion z-test on the images they were measured on.
//! Unlike the gate there is no tolerance: a significant difference is reported either way.

use crate::results::report::{ConfigRow, Metric, Stats};
use crate::results::stats;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Better,
    Worse,
    WithinNoise,
    /// No test applies (a loss with one seed): only the numbers are shown.
    Untested,
    OnlyInA,
    OnlyInB,
}

impl Verdict {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::WithinNoise => "within noise",
            Verdict::Untested => "no test (one seed)",
            Verdict::OnlyInA => "only in A",
            Verdict::OnlyInB => "only in B",
        }
    }
}

/// One configuration of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Line {
    pub label: String,
    pub a: Option<Stats>,
    pub b: Option<Stats>,
    /// B - A of the means.
    pub difference: Option<f64>,
    /// 95% interval of B - A.
    pub interval: Option<[f64; 2]>,
    pub p: Option<(f64, &'static str)>,
    pub verdict: Verdict,
}

/// The difference of `m` between the configurations of `a` and of `b`, in `a`'s order, then
/// those only in `b`.
pub(crate) fn diff(a: &[ConfigRow], b: &[ConfigRow], m: Metric, alpha: f64) -> Vec<Line> {
    let with = |c: &&ConfigRow| c.stat(m).is_some();
    let a: Vec<&ConfigRow> = a.iter().filter(with).collect();
    let b: Vec<&ConfigRow> = b.iter().filter(with).collect();
    let find = |x: &ConfigRow, among: &[&ConfigRow]| -> Option<usize> {
        among
            .iter()
            .position(|y| y.config_id == x.config_id)
            .or_else(|| among.iter().position(|y| y.label == x.label))
    };
    let mut used = vec![false; b.len()];
    let mut out = Vec::new();
    for x in &a {
        let Some(j) = find(x, &b) else {
            out.push(only(x, m, Verdict::OnlyInA));
            continue;
        };
        used[j] = true;
        out.push(line(x, b[j], m, alpha));
    }
    for (j, y) in b.iter().enumerate() {
        if !used[j] {
            out.push(only(y, m, Verdict::OnlyInB));
        }
    }
    out
}

fn only(c: &ConfigRow, m: Metric, verdict: Verdict) -> Line {
    let s = c.stat(m);
    let (a, b) = if verdict == Verdict::OnlyInA {
        (s, None)
    } else {
        (None, s)
    };
    Line {
        label: c.label.clone(),
        a,
        b,
        difference: None,
        interval: None,
        p: None,
        verdict,
    }
}

fn images(c: &ConfigRow, m: Metric) -> Option<usize> {
    c.images.iter().find(|(k, _)| *k == m).map(|(_, n)| *n)
}

fn line(x: &ConfigRow, y: &ConfigRow, m: Metric, alpha: f64) -> Line {
    let (sa, sb) = (x.stat(m).expect("filtered"), y.stat(m).expect("filtered"));
    let d = sb.mean - sa.mean;
    // The same configuration at the same seeds: paired by seed (same initial weights, same
    // data order in both).
    let paired = x.paired_with(y, m).and_then(|(va, vb)| {
        let t = stats::paired(&vb, &va)?;
        Some((t.p, stats::paired_interval(&vb, &va)))
    });
    let (interval, p) = match (paired, sa.std, sb.std) {
        (Some((p, interval)), _, _) => (interval, Some((p, "paired"))),
        (None, Some(da), Some(db)) if sa.n > 1 && sb.n > 1 => (
            stats::welch_interval((sb.mean, db, sb.n), (sa.mean, da, sa.n)),
            stats::welch((sb.mean, db, sb.n), (sa.mean, da, sa.n)).map(|w| (w.p, "Welch")),
        ),
        _ => match (m.is_accuracy(), images(x, m), images(y, m)) {
            (true, Some(na), Some(nb)) => (
                stats::two_proportions_interval(sb.mean, nb * sb.n, sa.mean, na * sa.n),
                stats::two_proportions(sb.mean, nb * sb.n, sa.mean, na * sa.n)
                    .map(|p| (p, "binomial")),
            ),
            _ => (None, None),
        },
    };
    Line {
        label: x.label.clone(),
        a: Some(sa),
        b: Some(sb),
        difference: Some(d),
        interval,
        p,
        verdict: verdict(p.map(|p| p.0), d, m, alpha),
    }
}

/// A difference `d` (B - A) of `m` with p-value `p`: real (better, worse) or within noise.
fn verdict(p: Option<f64>, d: f64, m: Metric, alpha: f64) -> Verdict {
    match p {
        None => Verdict::Untested,
        Some(p) if p >= alpha => Verdict::WithinNoise,
        Some(_) if (d > 0.0) == m.higher_is_better() => Verdict::Better,
        Some(_) => Verdict::Worse,
    }
}

const HEADERS: [&str; 7] = [
    "configuration",
    "A",
    "B",
    "B - A",
    "95% CI of B - A",
    "p",
    "verdict",
];

fn cells(l: &Line, m: Metric) -> Vec<String> {
    let stat = |s: Option<Stats>| {
        s.map_or("-".into(), |s| {
            let ci = s
                .ci95
                .map(|[lo, hi]| format!(" [{} - {}]", m.format(lo), m.format(hi)))
                .unwrap_or_default();
            format!("{} (n = {}){ci}", s.format(m), s.n)
        })
    };
    let diff = |d: f64| {
        if m.is_accuracy() {
            format!("{:+.2} pp", d * 100.0)
        } else {
            format!("{d:+.4}")
        }
    };
    vec![
        l.label.clone(),
        stat(l.a),
        stat(l.b),
        l.difference.map_or("-".into(), diff),
        l.interval.map_or("-".into(), |[lo, hi]| {
            format!("{} to {}", diff(lo), diff(hi))
        }),
        l.p.map_or("-".into(), |(p, t)| format!("{p:.3} ({t})")),
        l.verdict.name().into(),
    ]
}

fn summary(lines: &[Line]) -> String {
    let n = |v: Verdict| lines.iter().filter(|l| l.verdict == v).count();
    format!(
        "{} better, {} worse, {} within noise, {} untested, {} only in A, {} only in B",
        n(Verdict::Better),
        n(Verdict::Worse),
        n(Verdict::WithinNoise),
        n(Verdict::Untested),
        n(Verdict::OnlyInA),
        n(Verdict::OnlyInB)
    )
}

/// Markdown: a title naming both sides and the metric, the table, a summary line.
pub(crate) fn markdown(a: &str, b: &str, m: Metric, lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines.iter().map(|l| cells(l, m)).collect();
    format!(
        "## sweep diff: {} (A: `{a}`, B: `{b}`)\n\n{}\n{}\n",
        m.heading(),
        crate::fmt::markdown_table(&HEADERS, &rows, crate::fmt::Align::Left),
        summary(lines)
    )
}

/// A terminal table.
pub(crate) fn table(a: &str, b: &str, m: Metric, lines: &[Line]) -> String {
    let rows: Vec<Vec<String>> = lines.iter().map(|l| cells(l, m)).collect();
    let t = crate::fmt::terminal_table(&HEADERS, &rows, None);
    format!(
        "sweep diff: {} (A: {a}, B: {b})\n{t}\n{}\n",
        m.heading(),
        summary(lines)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label holding `|` keeps its row of the Markdown table.
    #[test]
    fn markdown_escapes_pipes_in_labels() {
        let line = Line {
            label: "adam | lr=0.1".into(),
            a: None,
            b: None,
            difference: None,
            interval: None,
            p: None,
            verdict: Verdict::OnlyInA,
        };
        let md = markdown("a", "b", Metric::ValAccuracy, &[line]);
        let unescaped = |l: &str| l.replace("\\|", "").matches('|').count();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert!(rows[2].contains("adam \\| lr=0.1"), "{md}");
        assert!(
            rows.iter().all(|r| unescaped(r) == unescaped(rows[0])),
            "{md}"
        );
    }
}
