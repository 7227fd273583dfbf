//! `sweep report`: load a results directory (finished runs and runs still going), aggregate over
//! seeds, rank configurations, build the manifest's comparison tables, and render them.
//!
//! Building a [`Report`] is separate from rendering it: each output format is a pure function
//! of the report in its own file, snapshot-tested; only `write_outputs` touches the disk.

pub(crate) mod aggregate;
pub(crate) mod csv;
#[doc(hidden)]
pub mod fixture;
pub(crate) mod html;
pub(crate) mod importance;
pub(crate) mod json;
pub(crate) mod markdown;
pub(crate) mod pareto;
pub(crate) mod plot;
pub(crate) mod sections;
pub(crate) mod table;

use crate::error::{Error, Result};
use crate::results::store;
pub use crate::results::store::{Loaded, RunState};
pub use crate::spec::manifest::ReportSpec;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use crate::spec::metric::Metric;
pub use crate::spec::settings::Settings;

/// One row of the runs table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: String,
    pub config_id: String,
    pub label: String,
    pub model: String,
    pub params: usize,
    /// Every axis's value ([`crate::spec::plan::Run::settings`]): model, optimizer, its
    /// parameters, epochs, batch size, seed, the model's own parameters.
    pub settings: Settings,
    pub epochs: usize,
    pub seed: u64,
    pub epochs_done: usize,
    pub train_accuracy: Option<f64>,
    pub train_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
    pub best_val_accuracy: Option<f64>,
    pub best_epoch: Option<usize>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub best_epoch_test_accuracy: Option<f64>,
    /// Validated on the test set: the test columns are the validation ones.
    pub test_is_validation: bool,
    /// Images per epoch of training, validation and test.
    pub train_images: usize,
    pub val_images: usize,
    pub test_images: usize,
    /// What is wrong with the run's files, when it is corrupt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub wall_seconds: f64,
    pub images_per_sec: Option<f64>,
    pub status: RunState,
    /// Where successive halving stopped it, when pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<store::PrunedAt>,
    /// A program's own metrics, at its last epoch.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: std::collections::BTreeMap<String, f64>,
}

impl RunRow {
    /// Its state as tables show it: "done", or "pruned at rung 1 (epoch 1)".
    pub fn status_text(&self) -> String {
        self.pruned
            .map_or_else(|| self.status.name().to_string(), |p| p.describe())
    }
}

impl RunRow {
    /// The number of images `m` is measured on (`None` for losses).
    pub fn images(&self, m: Metric) -> Option<usize> {
        use crate::spec::metric::MeasuredOn;
        m.measured_on().map(|on| match on {
            MeasuredOn::Train => self.train_images,
            MeasuredOn::Validation => self.val_images,
            MeasuredOn::Test => self.test_images,
        })
    }

    /// A run's final value of this metric.
    pub fn get(&self, m: Metric) -> Option<f64> {
        let r = self;
        match m {
            Metric::TrainAccuracy => r.train_accuracy,
            Metric::TrainLoss => r.train_loss,
            Metric::ValAccuracy => r.val_accuracy,
            Metric::ValLoss => r.val_loss,
            Metric::BestValAccuracy => r.best_val_accuracy,
            Metric::TestAccuracy => r.test_accuracy,
            Metric::TestLoss => r.test_loss,
            Metric::BestEpochTestAccuracy => r.best_epoch_test_accuracy,
            Metric::Custom(name) => r.custom.get(name).copied(),
        }
    }
}

/// A metric over a configuration's seeds: count, mean, sample standard deviation, extremes and
/// the 95% Student-t confidence interval of the mean ([`Stats::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Stats {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
}

impl Stats {
    /// Format mean ± std with the same precision.
    pub fn format(&self, m: Metric) -> String {
        let s = self;
        match (s.std, s.n) {
            (Some(sd), n) if n > 1 => {
                if m.is_accuracy() {
                    format!("{:.2} ± {:.2}%", s.mean * 100.0, sd * 100.0)
                } else {
                    format!("{:.4} ± {sd:.4}", s.mean)
                }
            }
            _ => m.format(s.mean),
        }
    }
}

/// A configuration: the runs that differ only by seed, aggregated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigRow {
    pub config_id: String,
    pub label: String,
    pub model: String,
    /// Its runs' settings, without the seed.
    pub settings: Settings,
    pub epochs: usize,
    /// Runs with results (any epochs done).
    pub n: usize,
    /// Per metric, in [`Metric::ALL`] order.
    pub metrics: Vec<(Metric, Option<Stats>)>,
    /// Per metric, the finished seeds' values (what [`Stats`] summarises), for tests and the
    /// bootstrap.
    #[serde(skip)]
    pub values: Vec<(Metric, Vec<f64>)>,
    /// Per metric, the seed of each of those values (same order).
    #[serde(skip)]
    pub seeds: Vec<(Metric, Vec<u64>)>,
    /// Per accuracy metric, the images it is measured on, for its binomial (Wilson) interval.
    #[serde(skip)]
    pub images: Vec<(Metric, usize)>,
}

impl ConfigRow {
    pub fn values(&self, m: Metric) -> &[f64] {
        self.values
            .iter()
            .find(|(k, _)| *k == m)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The seeds of [`ConfigRow::values`], in the same order.
    pub fn seeds(&self, m: Metric) -> &[u64] {
        self.seeds
            .iter()
            .find(|(k, _)| *k == m)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// This configuration's and `other`'s values of `m` paired by seed, when the two can be
    /// compared seed by seed: the same architecture and trainer (so seed s gave both the same
    /// initial weights and the same data order: common random numbers) and the same two or more
    /// finished seeds. `None` otherwise.
    pub fn paired_with(&self, other: &ConfigRow, m: Metric) -> Option<(Vec<f64>, Vec<f64>)> {
        let (sa, sb) = (self.seeds(m), other.seeds(m));
        // Common random numbers need the same trainer too: a program's seed s (Keras's) draws
        // nothing in common with the built-in trainer's seed s.
        let trainer = |c: &ConfigRow| c.settings.get("program").cloned();
        if self.model != other.model
            || trainer(self) != trainer(other)
            || sa.len() < 2
            || sa.len() != sb.len()
        {
            return None;
        }
        let (va, vb) = (self.values(m), other.values(m));
        let mut a = Vec::with_capacity(sa.len());
        let mut b = Vec::with_capacity(sa.len());
        for (i, s) in sa.iter().enumerate() {
            let j = sb.iter().position(|t| t == s)?;
            a.push(va[i]);
            b.push(vb[j]);
        }
        Some((a, b))
    }

    /// The 95% Wilson interval of the mean of accuracy `m` on the images it is measured on.
    pub fn wilson(&self, m: Metric) -> Option<[f64; 2]> {
        let n = self.images.iter().find(|(k, _)| *k == m)?.1;
        crate::results::stats::wilson(self.stat(m)?.mean, n)
    }

    pub fn stat(&self, m: Metric) -> Option<Stats> {
        self.metrics
            .iter()
            .find(|(k, _)| *k == m)
            .and_then(|(_, s)| *s)
    }
}

/// A `[[report.compare]]` table from the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub title: String,
    pub columns: Vec<Metric>,
    /// (configuration label, its row if it has results).
    pub rows: Vec<(String, Option<ConfigRow>)>,
}

/// Everything a report shows for one sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The JSON report's layout ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    pub sweep: String,
    pub runs: Vec<RunRow>,
    pub configs: Vec<ConfigRow>,
    pub rank_by: Metric,
    /// Best first.
    pub ranking: Vec<Ranked>,
    pub comparisons: Vec<Comparison>,
    /// Plot files (relative to the report), when plots were written.
    pub plots: Vec<(String, String)>,
    /// What a reader must know before reading the tables: corrupt runs left out, and what the
    /// validation and test columns were measured on.
    pub notes: Vec<String>,
    /// The manifest's `[report]` section (published values for [`versus`]).
    #[serde(skip)]
    pub spec: ReportSpec,
    /// Two or more objectives: the Pareto table's ([`pareto`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<crate::spec::metric::Objective>,
    /// A TPE search's batches ([`attach_search`]), for the best-so-far plot.
    #[serde(skip)]
    pub(crate) search: Option<crate::results::proposals::Proposals>,
}

impl Report {
    /// The metrics of its programs' own, by name ([`Metric::Custom`]).
    pub fn custom_metrics(&self) -> Vec<Metric> {
        custom_metrics(&self.runs)
    }
}

/// The custom metrics any of `runs` reports, by name.
pub(crate) fn custom_metrics<'a>(runs: impl IntoIterator<Item = &'a RunRow>) -> Vec<Metric> {
    let names: std::collections::BTreeSet<&str> = runs
        .into_iter()
        .flat_map(|r| r.custom.keys().map(String::as_str))
        .collect();
    names
        .into_iter()
        .filter_map(|n| Metric::custom(n, None).ok())
        .collect()
}

/// The JSON report's layout. 2: a run's and a configuration's axis values are one map,
/// `settings` (1 had `optimizer`, `lr`, `momentum` and `batch_size` fields).
pub const SCHEMA_VERSION: u32 = 2;

/// The report's notes ([`Report::notes`]) for these runs.
pub fn notes(runs: &[RunRow], loaded: &[Loaded]) -> Vec<String> {
    let mut out: Vec<String> = data_note(loaded).into_iter().collect();
    let corrupt: Vec<&RunRow> = runs.iter().filter(|r| r.problem.is_some()).collect();
    if !corrupt.is_empty() {
        out.push(format!(
            "Warning: {} corrupt run(s) are left out of every mean, ranking and comparison (`sweep run` trains them again): {}",
            corrupt.len(),
            corrupt
                .iter()
                .map(|r| format!("{} ({}): {}", r.label, r.id, r.problem.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Why runs failed or diverged, as their summaries say.
    let why: Vec<String> = loaded
        .iter()
        .filter(|l| matches!(l.state, RunState::Failed | RunState::Diverged))
        .filter_map(|l| {
            let reason = l.summary.as_ref()?.reason.as_ref()?;
            Some(format!(
                "{} ({}) {}: {reason}",
                l.run.display_label(),
                l.run.id,
                l.state.name()
            ))
        })
        .collect();
    if !why.is_empty() {
        out.push(format!(
            "{} run(s) failed or diverged (`sweep status` shows the end of a program's stderr; `sweep run --retry-failed` trains failed ones again): {}",
            why.len(),
            why.join("; ")
        ));
    }
    let pruned: Vec<&RunRow> = runs.iter().filter(|r| r.pruned.is_some()).collect();
    if !pruned.is_empty() {
        let configs: std::collections::BTreeSet<&str> =
            pruned.iter().map(|r| r.config_id.as_str()).collect();
        out.push(format!(
            "Successive halving pruned {} run(s) of {} configuration(s) at their rung (the runs table says which): their epochs are kept and shown, but only runs trained to the end are averaged and ranked.",
            pruned.len(),
            configs.len()
        ));
    }
    let on_test = runs.iter().filter(|r| r.test_is_validation).count();
    if on_test > 0 {
        out.push(format!(
            "Validation and test are the same images in {} of {} runs (validation = \"test\", as the paper did): their val and test columns are the same numbers, and their best epoch is chosen on the test set.",
            on_test,
            runs.len()
        ));
    }
    if let Some(note) = builds_note(loaded) {
        out.push(note);
    }
    if let Some(l) = loaded
        .iter()
        .find(|l| l.run.data.validation != crate::spec::manifest::Validation::Test)
    {
        let d = &l.run.data;
        out.push(format!(
            "Held-out runs: validated on the last part of the training set ({} training images per epoch); test columns on {} test images, after the last epoch and with the weights of the best validation epoch.",
            d.train_examples(),
            d.test_examples()
        ));
    }
    out
}

/// The data the runs trained on: the dataset's name and the digest of its content (part of every
/// run's id), with how many runs each when there are several.
fn data_note(loaded: &[Loaded]) -> Option<String> {
    let mut data = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for l in loaded {
        *data
            .entry((l.run.data.dataset.name(), l.run.data.digest.as_str()))
            .or_default() += 1;
    }
    let several = data.len() > 1;
    let parts: Vec<String> = data
        .iter()
        .map(|((name, digest), n)| match several {
            true => format!("`{name}` (digest {digest}; {n} runs)"),
            false => format!("`{name}` (digest {digest})"),
        })
        .collect();
    (!parts.is_empty()).then(|| format!("Data: {}.", parts.join(", ")))
}

/// When the finished runs were trained by more than one build: which, and how many runs each.
fn builds_note(loaded: &[Loaded]) -> Option<String> {
    let mut builds = std::collections::BTreeMap::<&str, usize>::new();
    for s in loaded.iter().filter_map(|l| l.summary.as_ref()) {
        *builds
            .entry(s.build.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    (builds.len() > 1).then(|| {
        let each: Vec<String> = builds
            .iter()
            .map(|(b, n)| format!("`{b}` ({n} run{})", if *n == 1 { "" } else { "s" }))
            .collect();
        format!(
            "Trained by {} builds: {}. Each run's summary.json names its build; a change of build can change a result's last bits, so compare runs of one build when that matters.",
            builds.len(),
            each.join(", ")
        )
    })
}

/// One configuration's place in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// Position by mean (equal at display precision share a rank: 1, 1, 3).
    pub rank: usize,
    /// Index into [`Report::configs`].
    pub config: usize,
    /// Whether it is statistically tied with the best (the best itself: true); `None` when no
    /// test applies (one seed of a loss).
    pub tied_with_best: Option<bool>,
    /// The test against the best: the paired t-test over seeds when both have the same
    /// architecture and seeds, else Welch's t-test (Holm-adjusted p-values), or with a single
    /// seed on either side, whether the two Wilson intervals overlap.
    pub versus_best: Option<VersusBest>,
    /// Probability of ranking first, by bootstrap over seeds (`None` when no configuration has
    /// two seeds: there is nothing to resample).
    pub p_first: Option<f64>,
}

/// How a configuration was compared with the best.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "test")]
pub enum VersusBest {
    /// Welch's t-test over seeds.
    Welch {
        p_holm: f64,
    },
    /// The paired t-test over seeds (the same architecture at the same seeds).
    Paired {
        p_holm: f64,
    },
    Wilson {
        overlap: bool,
    },
}

impl VersusBest {
    /// The (Holm-adjusted) p-value of a t-test.
    pub fn p(self) -> Option<f64> {
        match self {
            VersusBest::Welch { p_holm } | VersusBest::Paired { p_holm } => Some(p_holm),
            VersusBest::Wilson { .. } => None,
        }
    }

    /// The same test with p-value `p`.
    pub fn with_p(self, p: f64) -> VersusBest {
        match self {
            VersusBest::Welch { .. } => VersusBest::Welch { p_holm: p },
            VersusBest::Paired { .. } => VersusBest::Paired { p_holm: p },
            w @ VersusBest::Wilson { .. } => w,
        }
    }
}

/// The significance level of the ranking's ties.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples for P(rank 1); the stream is seeded, so reports are reproducible.
pub const RESAMPLES: usize = 2000;

/// `Err` when `m` is a program's own metric that no run of `loaded` (read from `dir`) reports:
/// a misspelt name, or the wrong sweep. Built-in metrics always pass.
pub fn check_reported(dir: &Path, loaded: &[Loaded], m: Metric) -> Result<()> {
    let Metric::Custom(name) = m else {
        return Ok(());
    };
    let known: std::collections::BTreeSet<&str> = loaded
        .iter()
        .flat_map(|l| l.records.iter().flat_map(|e| e.extra.keys()))
        .map(String::as_str)
        .collect();
    if known.contains(name) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "no run in {} reports `{name}`: {}",
        dir.display(),
        if known.is_empty() {
            "its runs have only the built-in metrics".to_string()
        } else {
            format!(
                "its programs report {}",
                known.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    )))
}

/// Read every run of a sweep directory (`results/<sweep>`).
pub fn load_sweep(dir: &Path) -> Result<Vec<Loaded>> {
    let runs_dir = dir.join("runs");
    let entries = match std::fs::read_dir(&runs_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Read {
                path: runs_dir,
                source,
            });
        }
    };
    let dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    // Thousands of small files: read them on every core.
    let mut out: Vec<Loaded> = dirs
        .par_iter()
        .map(|d| store::load_run(d))
        .collect::<Result<Vec<Option<Loaded>>>>()?
        .into_iter()
        .flatten()
        .collect();
    // Stable order: as a plan lists them would need the manifest; label then seed reads well.
    out.sort_by(|a, b| {
        a.run
            .label
            .cmp(&b.run.label)
            .then(a.run.seed.cmp(&b.run.seed))
            .then(a.run.id.cmp(&b.run.id))
    });
    Ok(out)
}

/// The runs table row of a loaded run.
pub fn run_row(l: &Loaded) -> RunRow {
    let last = l.records.last();
    let best = store::best_epoch(&l.records);
    let r = &l.run;
    let (test_loss, test_accuracy) = last.map_or((None, None), |e| store::test_of(r, e));
    let best_epoch_test_accuracy = best.and_then(|e| store::test_of(r, e).1);
    RunRow {
        id: r.id.clone(),
        config_id: r.config_id(),
        label: r.label.clone(),
        model: r.model.clone(),
        params: r.params,
        settings: r.settings(),
        epochs: r.epochs,
        seed: r.seed,
        epochs_done: l.records.len(),
        train_accuracy: last.map(|e| e.train_accuracy),
        train_loss: last.map(|e| e.train_loss),
        val_accuracy: last.map(|e| e.val_accuracy),
        val_loss: last.map(|e| e.val_loss),
        best_val_accuracy: best.map(|e| e.val_accuracy),
        best_epoch: best.map(|e| e.epoch),
        test_accuracy,
        test_loss,
        best_epoch_test_accuracy,
        test_is_validation: r.data.validation == crate::spec::manifest::Validation::Test,
        // A program chooses its own images: not known here (no binomial intervals).
        train_images: if r.program.is_some() {
            0
        } else {
            r.data.train_examples()
        },
        val_images: if r.program.is_some() {
            0
        } else {
            r.data.val_examples()
        },
        test_images: if r.program.is_some() {
            0
        } else {
            r.data.test_examples()
        },
        problem: l.problem.clone(),
        wall_seconds: l.summary.as_ref().map_or_else(
            || l.records.iter().map(|e| e.seconds).sum(),
            |s| s.wall_seconds,
        ),
        images_per_sec: if l.records.is_empty() {
            None
        } else {
            Some(l.records.iter().map(|e| e.images_per_sec).sum::<f64>() / l.records.len() as f64)
        },
        status: l.state,
        pruned: l
            .summary
            .as_ref()
            .filter(|_| l.state == RunState::Pruned)
            .and_then(|s| s.pruned),
        custom: last.map(|e| e.extra.clone()).unwrap_or_default(),
    }
}

/// Build the report of one sweep from its loaded runs and (optionally) its manifest's
/// `[report]` table.
pub fn build(sweep: &str, loaded: &[Loaded], spec: &ReportSpec, rank_by: Metric) -> Result<Report> {
    let runs: Vec<RunRow> = loaded.par_iter().map(run_row).collect();
    let configs = aggregate::by_config(&runs)?;
    let ranking = rank(&configs, rank_by);
    let comparisons = comparisons(spec, &configs);
    let notes = notes(&runs, loaded);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        sweep: sweep.to_string(),
        runs,
        configs,
        rank_by,
        ranking,
        comparisons,
        plots: Vec::new(),
        notes,
        spec: spec.clone(),
        search: None,
        objectives: Vec::new(),
    })
}

/// `a` against `c` on `metric`, uncorrected: the paired t-test over seeds when both have the same
/// architecture and seeds, else Welch's where both have two or more seeds, else whether their
/// Wilson intervals overlap.
pub fn test_pair(a: &ConfigRow, c: &ConfigRow, metric: Metric) -> Option<VersusBest> {
    let paired = a
        .paired_with(c, metric)
        .and_then(|(xa, xc)| crate::results::stats::paired(&xa, &xc));
    if let Some(t) = paired {
        return Some(VersusBest::Paired { p_holm: t.p });
    }
    let (sa, sc) = (a.stat(metric)?, c.stat(metric)?);
    match (sa.std, sc.std) {
        (Some(da), Some(dc)) if sa.n > 1 && sc.n > 1 => {
            let w = crate::results::stats::welch((sa.mean, da, sa.n), (sc.mean, dc, sc.n))?;
            Some(VersusBest::Welch { p_holm: w.p })
        }
        _ => {
            let ([al, ah], [cl, ch]) = (a.wilson(metric)?, c.wilson(metric)?);
            Some(VersusBest::Wilson {
                overlap: al <= ch && cl <= ah,
            })
        }
    }
}

/// Rank configurations with results by `metric` (best first) and test each against the best:
/// ties ([`Ranked::tied_with_best`]) by a t-test over seeds (paired by seed when both have the
/// same architecture and seeds, else Welch's), Holm-corrected across the
/// configurations at level [`ALPHA`] (with one seed, by the Wilson intervals), and P(rank 1) by
/// bootstrap over seeds.
pub fn rank(configs: &[ConfigRow], metric: Metric) -> Vec<Ranked> {
    let key = |c: &ConfigRow| c.stat(metric).map(|s| (s.mean * 1e4).round() as i64);
    let mut idx: Vec<usize> = (0..configs.len())
        .filter(|&i| key(&configs[i]).is_some())
        .collect();
    idx.sort_by(|&a, &b| {
        let (ka, kb) = (key(&configs[a]).unwrap_or(0), key(&configs[b]).unwrap_or(0));
        let ord = if metric.higher_is_better() {
            kb.cmp(&ka)
        } else {
            ka.cmp(&kb)
        };
        ord.then_with(|| configs[a].label.cmp(&configs[b].label))
    });
    let samples: Vec<&[f64]> = idx.iter().map(|&i| configs[i].values(metric)).collect();
    let resampled = samples.iter().any(|s| s.len() > 1);
    let p_first = crate::results::stats::p_first(&samples, metric.higher_is_better(), RESAMPLES, 1);
    // Each configuration against the best: paired or Welch where both have seeds, else Wilson.
    let best = idx.first().map(|&i| &configs[i]);
    let tests: Vec<Option<VersusBest>> = idx
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            if pos == 0 {
                return None;
            }
            test_pair(best?, &configs[i], metric)
        })
        .collect();
    // Holm across the t-tests.
    let raw: Vec<(usize, f64)> = tests
        .iter()
        .enumerate()
        .filter_map(|(k, t)| t.and_then(VersusBest::p).map(|p| (k, p)))
        .collect();
    let adjusted = crate::results::stats::holm(&raw.iter().map(|r| r.1).collect::<Vec<_>>());
    let mut tests = tests;
    for ((k, _), p) in raw.iter().zip(adjusted) {
        tests[*k] = tests[*k].map(|t| t.with_p(p));
    }
    let mut out: Vec<Ranked> = Vec::with_capacity(idx.len());
    for (pos, &i) in idx.iter().enumerate() {
        let rank = match out.last() {
            Some(prev) if key(&configs[prev.config]) == key(&configs[i]) => prev.rank,
            _ => pos + 1,
        };
        let tied_with_best = match (pos, tests[pos]) {
            (0, _) => Some(true),
            (_, Some(VersusBest::Wilson { overlap })) => Some(overlap),
            (_, Some(t)) => t.p().map(|p| p >= ALPHA),
            (_, None) => None,
        };
        out.push(Ranked {
            rank,
            config: i,
            tied_with_best,
            versus_best: tests[pos],
            p_first: resampled.then_some(p_first[pos]),
        });
    }
    out
}

/// The `[[report.compare]]` tables: `title`, `runs` (configuration labels), `columns` (metrics).
fn comparisons(spec: &ReportSpec, configs: &[ConfigRow]) -> Vec<Comparison> {
    spec.compare
        .iter()
        .map(|c| Comparison {
            title: c.title.clone(),
            columns: c.columns.clone(),
            rows: c
                .runs
                .iter()
                .map(|l| {
                    let row = configs.iter().find(|x| x.label == l.label).cloned();
                    (l.label.clone(), row)
                })
                .collect(),
        })
        .collect()
}

/// How a published value relates to ours: inside the range of our seeds, within 0.3 pp of it
/// (accuracies; 0.003 for losses), or outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    WithinSpread,
    Within0_3pp,
    Outside,
}

impl Agreement {
    pub const MARGIN: f64 = 0.003;

    pub fn of(reference: f64, ours: &Stats) -> Agreement {
        let (lo, hi) = (ours.min.unwrap_or(ours.mean), ours.max.unwrap_or(ours.mean));
        if (lo..=hi).contains(&reference) {
            Agreement::WithinSpread
        } else if (lo - Self::MARGIN..=hi + Self::MARGIN).contains(&reference) {
            Agreement::Within0_3pp
        } else {
            Agreement::Outside
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Agreement::WithinSpread => "yes",
            Agreement::Within0_3pp => "within 0.3 pp",
            Agreement::Outside => "no",
        }
    }
}

/// A published value beside ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Versus {
    pub reference: f64,
    pub source: Option<String>,
    /// Ours minus the reference (mean over seeds).
    pub difference: f64,
    pub agreement: Agreement,
}

/// The published value of `metric` for `config`, compared with ours, when the manifest gives one.
pub fn versus(spec: &ReportSpec, config: &ConfigRow, metric: Metric) -> Option<Versus> {
    let (reference, source) = spec.reference(&config.label, metric)?;
    let ours = config.stat(metric)?;
    Some(Versus {
        reference,
        source: source.map(String::from),
        difference: ours.mean - reference,
        agreement: Agreement::of(reference, &ours),
    })
}

/// The sweeps a PATH argument names: a sweep directory, a results directory holding sweeps, or
/// a manifest (whose sweep is looked up under `results`).
pub fn resolve_targets(
    path: Option<&Path>,
    results: &Path,
    resolve: &crate::spec::manifest::Resolve,
) -> Result<Vec<Target>> {
    // The copy `sweep run` keeps beside the results; one that no longer parses (written by an
    // older version) gives a report without the manifest's tables.
    let manifest_report = |dir: &Path| -> ReportSpec {
        // Without the data files, what its runs recorded of the data will do.
        let or_recorded = |d: &crate::spec::dataset::Declared| {
            resolve(d).or_else(|e| store::recorded_data(dir, d).ok_or(e))
        };
        crate::spec::manifest::load(&dir.join("manifest.toml"), &or_recorded)
            .map(|m| m.report)
            .unwrap_or_default()
    };
    let sweep_of = |dir: &Path| {
        (
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir.to_path_buf(),
        )
    };
    match path {
        Some(p) if p.is_file() => {
            let m = crate::spec::manifest::load(p, resolve)?;
            let dir = store::sweep_dir(results, &m.sweep.name);
            Ok(vec![(m.sweep.name.clone(), dir, m.report.clone())])
        }
        Some(p) if p.join("runs").is_dir() => {
            let (name, dir) = sweep_of(p);
            let cfg = manifest_report(&dir);
            Ok(vec![(name, dir, cfg)])
        }
        Some(p) if p.is_dir() => all_sweeps(p, &manifest_report),
        Some(p) => Err(Error::Usage(format!(
            "{}: no such manifest or results directory; pass a manifest, results/<sweep>, or a directory of sweeps",
            p.display()
        ))),
        None => all_sweeps(results, &manifest_report),
    }
}

/// A sweep to report: its name, its results directory and its manifest's `[report]`.
pub type Target = (String, PathBuf, ReportSpec);

fn all_sweeps(dir: &Path, manifest_report: &dyn Fn(&Path) -> ReportSpec) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let p = e.path();
        if p.join("runs").is_dir() {
            let name = e.file_name().to_string_lossy().into_owned();
            let cfg = manifest_report(&p);
            out.push((name, p, cfg));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "no sweep results under {} (run `sweep run <manifest>` first)",
            dir.display()
        )));
    }
    Ok(out)
}

/// Tidy per-epoch rows of every run: one per run x epoch.
#[derive(Debug, Clone)]
pub struct EpochRow<'a> {
    pub sweep: &'a str,
    pub run_id: &'a str,
    pub label: &'a str,
    pub settings: Settings,
    pub record: &'a crate::results::record::EpochRecord,
}

pub fn epoch_rows<'a>(sweep: &'a str, loaded: &'a [Loaded]) -> Vec<EpochRow<'a>> {
    loaded
        .iter()
        .flat_map(|l| {
            let settings = l.run.settings();
            l.records.iter().map(move |record| EpochRow {
                sweep,
                run_id: &l.run.id,
                label: &l.run.label,
                settings: settings.clone(),
                record,
            })
        })
        .collect()
}

/// Write plots for a report under `plots_dir` and record their paths relative to `base`.
pub fn write_plots(
    report: &mut Report,
    loaded: &[Loaded],
    plots_dir: &Path,
    base: &Path,
) -> Result<()> {
    store::create_dir_all(plots_dir)?;
    let rel = |p: &Path| {
        p.strip_prefix(base)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    // Runs by configuration, each id computed once: linear in the runs, not configs x runs.
    let mut by_config: std::collections::HashMap<String, Vec<&Loaded>> =
        std::collections::HashMap::new();
    for l in loaded {
        by_config.entry(l.run.config_id()).or_default().push(l);
    }
    let runs_of = |id: &str| by_config.get(id).cloned().unwrap_or_default();
    let mut plots = Vec::new();
    for c in &report.configs {
        let runs = runs_of(&c.config_id);
        let path = plots_dir.join(format!("{}.svg", slug(&c.label, &c.config_id)));
        store::write_atomic(&path, plot::curves(&c.label, &runs).as_bytes())?;
        plots.push((c.label.clone(), rel(&path)));
    }
    for (i, cmp) in report.comparisons.iter().enumerate() {
        let series: Vec<(String, Vec<&Loaded>)> = cmp
            .rows
            .iter()
            .filter_map(|(label, row)| row.as_ref().map(|r| (label.clone(), runs_of(&r.config_id))))
            .collect();
        let path = plots_dir.join(format!("compare-{}.svg", i + 1));
        store::write_atomic(&path, plot::overlay(&cmp.title, &series).as_bytes())?;
        plots.push((cmp.title.clone(), rel(&path)));
    }
    if report.ranking.len() > 1 {
        let m = report.rank_by;
        let rows: Vec<plot::StripRow> = report
            .ranking
            .iter()
            .map(|x| {
                let c = &report.configs[x.config];
                (
                    c.label.clone(),
                    c.values(m).to_vec(),
                    c.stat(m).and_then(|s| s.ci95),
                )
            })
            .collect();
        let title = sections::ranking_title(report);
        let path = plots_dir.join("ranking.svg");
        store::write_atomic(
            &path,
            plot::strip(&title, &rows, m.is_accuracy()).as_bytes(),
        )?;
        plots.push((title, rel(&path)));
    }
    // The rank metric against each numeric parameter the configurations differ on.
    let m = report.rank_by;
    for row in importance::importance(&report.configs, m) {
        let points: Vec<plot::Point> = report
            .configs
            .iter()
            .filter_map(|c| {
                let x = match c.settings.get(&row.key)? {
                    crate::spec::grid::Value::Float(f) => *f,
                    crate::spec::grid::Value::Int(i) => *i as f64,
                    _ => return None,
                };
                let s = c.stat(m)?;
                Some((x, s.mean, s.ci95))
            })
            .collect();
        let mut distinct: Vec<f64> = points.iter().map(|p| p.0).collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 3 {
            continue;
        }
        let title = format!("{}{}", sections::response_prefix(report), row.key);
        let path = plots_dir.join(format!(
            "parameter-{}.svg",
            slug(&row.key, "").trim_end_matches('-')
        ));
        let svg = plot::response(
            &title,
            &row.key,
            &points,
            m.higher_is_better(),
            m.is_accuracy(),
        );
        store::write_atomic(&path, svg.as_bytes())?;
        plots.push((title, rel(&path)));
    }
    // Every configuration across every parameter they differ on, coloured by the metric.
    let scored: Vec<&ConfigRow> = report
        .configs
        .iter()
        .filter(|c| c.stat(m).is_some())
        .collect();
    let keys: Vec<String> =
        crate::spec::settings::varying(scored.iter().map(|c| &c.settings), &["epochs"])
            .into_iter()
            .filter(|k| {
                let first = scored[0].settings.get(k);
                scored.iter().any(|c| c.settings.get(k) != first)
            })
            .collect();
    if scored.len() >= 3 && !keys.is_empty() {
        let axes: Vec<plot::ParallelAxis> = keys
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    scored.iter().map(|c| c.settings.get(k).cloned()).collect(),
                )
            })
            .collect();
        let means: Vec<f64> = scored
            .iter()
            .map(|c| c.stat(m).map_or(f64::NAN, |s| s.mean))
            .collect();
        let title = format!(
            "{}every parameter (parallel coordinates)",
            sections::response_prefix(report)
        );
        let path = plots_dir.join("parallel-coordinates.svg");
        let svg = plot::parallel(
            &title,
            &axes,
            (m.heading(), &means),
            m.higher_is_better(),
            m.is_accuracy(),
        );
        store::write_atomic(&path, svg.as_bytes())?;
        plots.push((title, rel(&path)));
    }
    if report.objectives.len() == 2 {
        let (rows, on) = pareto::configurations(report, &report.objectives);
        let [a, b] = [report.objectives[0], report.objectives[1]];
        let unit = |o: crate::spec::metric::Objective, v: f64| match o {
            crate::spec::metric::Objective::Metric(m) if m.is_accuracy() => v * 100.0,
            _ => v,
        };
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|(_, v)| (unit(a, v[0]), unit(b, v[1])))
            .collect();
        let label = |o: crate::spec::metric::Objective| {
            format!(
                "{}{} ({} is better)",
                o.heading(),
                match o {
                    crate::spec::metric::Objective::Metric(m) if m.is_accuracy() => " %",
                    _ => "",
                },
                if o.higher_is_better() {
                    "higher"
                } else {
                    "lower"
                }
            )
        };
        let title = sections::pareto_title(report);
        let path = plots_dir.join("pareto.svg");
        let svg = plot::pareto(&title, (&label(a), &label(b)), &points, &on);
        store::write_atomic(&path, svg.as_bytes())?;
        plots.push((title, rel(&path)));
    }
    if let Some(svg) = search_progress(report) {
        let title = format!("Best {} so far (TPE search)", m.heading());
        let path = plots_dir.join("best-so-far.svg");
        store::write_atomic(&path, svg.as_bytes())?;
        plots.push((title, rel(&path)));
    }
    report.plots = plots;
    Ok(())
}

/// Read a TPE search's batches from `sweep_dir` into the report (nothing for other sweeps).
pub fn attach_search(report: &mut Report, sweep_dir: &Path) -> Result<()> {
    report.search = crate::results::proposals::read(sweep_dir)?;
    Ok(())
}

/// The best-so-far plot of a TPE search: its configurations in the order proposed, each at the
/// epochs its runs took (cumulative), with the rank metric's seed mean.
fn search_progress(report: &Report) -> Option<String> {
    let p = report.search.as_ref()?;
    let m = report.rank_by;
    let mut spent = 0.0;
    let mut points = Vec::new();
    let mut starts = Vec::new();
    for b in &p.batches {
        starts.push(spent);
        for label in &b.labels {
            let Some(c) = report.configs.iter().find(|c| &c.label == label) else {
                continue;
            };
            spent += report
                .runs
                .iter()
                .filter(|r| r.config_id == c.config_id)
                .map(|r| r.epochs_done as f64)
                .sum::<f64>();
            points.push((spent, c.stat(m).map_or(f64::NAN, |s| s.mean)));
        }
    }
    (points.len() > 1).then(|| {
        plot::best_so_far(
            &format!("Best {} so far (TPE search)", m.heading()),
            &points,
            &starts[1..],
            m.higher_is_better(),
            m.is_accuracy(),
        )
    })
}

/// A filename-safe name for a configuration.
fn slug(label: &str, id: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("{s}-{}", &id[..6.min(id.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_report() -> (Report, Vec<Loaded>) {
        let mut loaded = fixture::synthetic(3, 2, 4);
        // One run still going (2 of 4 epochs), one diverged.
        loaded[5].records.truncate(2);
        loaded[5].summary = None;
        loaded[5].state = RunState::Running;
        loaded[4].state = RunState::Diverged;
        use crate::spec::manifest::{CompareSpec, LabelRef, Reference};
        let label = |l: &str| LabelRef {
            label: l.into(),
            span: 0..0,
        };
        let spec = ReportSpec {
            compare: vec![CompareSpec {
                title: "Config 0 vs 1".into(),
                runs: vec![
                    label("config 00000"),
                    label("config 00001"),
                    label("config 00009"),
                ],
                columns: vec![Metric::TrainAccuracy, Metric::ValAccuracy],
            }],
            reference: vec![Reference {
                label: label("config 00000"),
                source: Some("a paper, Table 1".into()),
                values: vec![(Metric::ValAccuracy, 0.934)],
            }],
            rank_by: Vec::new(),
        };
        (
            build("synthetic", &loaded, &spec, Metric::ValAccuracy).unwrap(),
            loaded,
        )
    }

    /// Two objectives: a Pareto section of the configurations nothing beats on both, and its
    /// plot; the JSON report names them with their directions.
    #[test]
    fn two_objectives_give_a_pareto_table_and_plot() {
        use crate::spec::metric::{Goal, Objective};
        let (mut r, loaded) = fixture_report();
        r.objectives = vec![
            Objective::Metric(Metric::ValAccuracy),
            Objective::WallSeconds(Goal::Minimize),
        ];
        let (rows, on) = pareto::configurations(&r, &r.objectives);
        assert!(!on.is_empty() && on.len() <= rows.len());
        // Each configuration off the front is beaten by one on it.
        for (i, (_, v)) in rows.iter().enumerate() {
            if !on.contains(&i) {
                assert!(
                    on.iter()
                        .any(|&j| rows[j].1[0] >= v[0] && rows[j].1[1] <= v[1])
                );
            }
        }
        let dir = tempfile::tempdir().unwrap();
        write_plots(&mut r, &loaded, dir.path(), dir.path()).unwrap();
        assert!(dir.path().join("pareto.svg").exists());
        let md = markdown::render(&r);
        assert!(
            md.contains("## Pareto front (val acc up, time (s) down)")
                && md.contains("![Pareto front (val acc up, time (s) down)](pareto.svg)")
                && md.contains(&format!(
                    "{} of the {} configurations",
                    on.len(),
                    rows.len()
                )),
            "{md}"
        );
        let json = json::render(std::slice::from_ref(&r));
        assert!(json.contains("\"-wall_seconds\"") && json.contains("\"+val_accuracy\""));
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown::render(&fixture_report().0));
    }

    #[test]
    fn table_snapshot() {
        insta::assert_snapshot!(table::render(&fixture_report().0));
    }

    #[test]
    fn seeds_are_aggregated_with_sample_std() {
        let (r, _) = fixture_report();
        assert_eq!(r.configs.len(), 3);
        let c = &r.configs[0];
        assert_eq!(c.n, 2);
        let vals: Vec<f64> = r
            .runs
            .iter()
            .filter(|x| x.config_id == c.config_id)
            .map(|x| x.val_accuracy.unwrap())
            .collect();
        let mean = (vals[0] + vals[1]) / 2.0;
        let sd = ((vals[0] - mean).powi(2) + (vals[1] - mean).powi(2)).sqrt(); // ddof 1 with n = 2
        let s = c.stat(Metric::ValAccuracy).unwrap();
        assert!(
            (s.mean - mean).abs() < 1e-12 && (s.std.unwrap() - sd).abs() < 1e-12,
            "{s:?} vs {mean} {sd}"
        );
    }

    #[test]
    fn a_note_names_the_builds_when_there_are_several() {
        let (r, mut loaded) = fixture_report();
        assert!(!r.notes.iter().any(|n| n.contains("builds")), "one build");
        for (i, l) in loaded
            .iter_mut()
            .filter(|l| l.summary.is_some())
            .enumerate()
        {
            let b = if i == 0 {
                "0.1.0 (commit a)"
            } else {
                "0.1.0 (commit b)"
            };
            l.summary.as_mut().unwrap().build = Some(b.into());
        }
        let runs: Vec<RunRow> = loaded.iter().map(run_row).collect();
        let note = notes(&runs, &loaded)
            .into_iter()
            .find(|n| n.starts_with("Trained by"))
            .expect("a builds note");
        let rest = loaded.iter().filter(|l| l.summary.is_some()).count() - 1;
        assert_eq!(
            note.split(". ").next().unwrap(),
            format!(
                "Trained by 2 builds: `0.1.0 (commit a)` (1 run), `0.1.0 (commit b)` ({rest} runs)"
            )
        );
    }

    #[test]
    fn ties_share_a_rank() {
        let mut configs = aggregate::by_config(
            &fixture::synthetic(3, 1, 2)
                .iter()
                .map(run_row)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let v = configs[0].stat(Metric::ValAccuracy).unwrap();
        configs[2].metrics = configs[0].metrics.clone();
        let ranks: Vec<usize> = rank(&configs, Metric::ValAccuracy)
            .iter()
            .map(|r| r.rank)
            .collect();
        assert!(
            ranks == [1, 1, 3] || ranks == [1, 2, 2],
            "{ranks:?} ({v:?})"
        );
    }

    #[test]
    fn same_architecture_at_the_same_seeds_is_tested_paired() {
        // Three seeds whose spread (about 1.5 pp) hides a constant 0.2 pp gap from Welch's test;
        // at the same seeds (common random numbers), the paired test sees it.
        let loaded = fixture::synthetic(2, 3, 1);
        let mut runs: Vec<RunRow> = loaded.iter().map(run_row).collect();
        let base = [0.95, 0.965, 0.98];
        for r in runs.iter_mut() {
            let c = usize::from(r.label == "config 00001");
            let s = (r.seed - 1) as usize;
            r.val_accuracy =
                Some(base[s] - 0.002 * c as f64 + [0.0, 0.0001, -0.0001][s] * c as f64);
        }
        let tested = |runs: &[RunRow]| {
            let configs = aggregate::by_config(runs).unwrap();
            let ranked = rank(&configs, Metric::ValAccuracy);
            (
                configs[ranked[1].config].label.clone(),
                ranked[1].versus_best,
                ranked[1].tied_with_best,
            )
        };
        let (label, test, tied) = tested(&runs);
        assert_eq!(label, "config 00001");
        let Some(VersusBest::Paired { p_holm }) = test else {
            panic!("{test:?}")
        };
        // scipy: stats.ttest_rel([0.95, 0.965, 0.98], [0.948, 0.9631, 0.9779]).pvalue (Welch's:
        // 0.878).
        assert!((p_holm - 0.0008322931113190442).abs() < 1e-9, "{p_holm}");
        assert_eq!(tied, Some(false));
        // Another architecture shares only the data order: Welch's test, and a tie.
        for r in runs.iter_mut().filter(|r| r.label == "config 00001") {
            r.model = "simple_nn".into();
        }
        let (_, test, tied) = tested(&runs);
        assert!(
            matches!(test, Some(VersusBest::Welch { p_holm }) if p_holm > 0.5),
            "{test:?}"
        );
        assert_eq!(tied, Some(true));
        // The same architecture at other seeds cannot be paired either.
        for r in runs.iter_mut().filter(|r| r.label == "config 00001") {
            r.model = "simple_cnn".into();
            r.seed += 10;
        }
        assert!(matches!(tested(&runs).1, Some(VersusBest::Welch { .. })));
    }

    /// Reads a CSV output back as a data tool would: its header, and every value of the named
    /// columns parsed as the named type.
    fn read_back(text: &str, typed: &[(&str, &str)]) -> (Vec<String>, usize) {
        let mut r = ::csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let mut rows = 0;
        for rec in r.records() {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), headers.len(), "a ragged row");
            for (name, kind) in typed {
                let i = headers.iter().position(|h| h == name).expect(name);
                let v = &rec[i];
                let ok = match *kind {
                    "int" => v.is_empty() || v.parse::<i64>().is_ok(),
                    "float" => v.is_empty() || v.parse::<f64>().is_ok(),
                    _ => !v.is_empty(),
                };
                assert!(ok, "column {name}: {v:?} is not {kind}");
            }
            rows += 1;
        }
        (headers, rows)
    }

    #[test]
    fn json_has_a_schema_version_and_settings_as_one_map() {
        let (r, _) = fixture_report();
        let v: serde_json::Value =
            serde_json::from_str(&json::render(std::slice::from_ref(&r))).unwrap();
        assert_eq!(v[0]["schema_version"], SCHEMA_VERSION);
        let run = &v[0]["runs"][2];
        assert_eq!(run["settings"]["optimizer"], "sgd_momentum");
        assert_eq!(run["settings"]["lr"], 0.002);
        assert_eq!(run["settings"]["momentum"], 0.5);
        assert_eq!(run["settings"]["seed"], 1);
        assert!(run.get("lr").is_none(), "no lr field outside the map");
        let config = &v[0]["configs"][1];
        assert_eq!(config["settings"]["lr"], 0.002);
        assert!(config["settings"].get("seed").is_none());
    }

    #[test]
    fn csv_outputs_read_back_with_their_types() {
        let (r, loaded) = fixture_report();
        let (_, rows) = read_back(
            &csv::render(std::slice::from_ref(&r)),
            &[
                ("run_id", "string"),
                ("label", "string"),
                ("params", "int"),
                ("lr", "float"),
                ("seed", "int"),
                ("val_accuracy", "float"),
                ("test_accuracy", "float"),
                ("best_epoch", "int"),
                ("status", "string"),
            ],
        );
        assert_eq!(rows, 6);
        let (cols, rows) = read_back(
            &csv::render_epochs(&epoch_rows("synthetic", &loaded)),
            &[("epoch", "int"), ("val_accuracy", "float")],
        );
        assert_eq!(rows, 5 * 4 + 2);
        assert_eq!(
            cols,
            [
                "sweep",
                "run_id",
                "label",
                "model",
                "optimizer",
                "schedule",
                "lr",
                "momentum",
                "weight_decay",
                "nesterov",
                "epochs",
                "batch_size",
                "seed",
                "epoch",
                "train_loss",
                "train_accuracy",
                "val_loss",
                "val_accuracy",
                "test_loss",
                "test_accuracy",
                "seconds",
                "images_per_sec",
                "epoch_lr"
            ]
        );
    }
}
