//! A search that learns (`[search] method = "tpe"`), decided from the result files alone.
//!
//! The configurations come in batches: the first is `startup` Sobol points; each later one is
//! proposed by the Tree-structured Parzen Estimator ([`crate::spec::tpe`]) from the scores of
//! every configuration of the batches before, once all of their runs have finished (a
//! configuration's score is its metric's mean over its seeds). Each batch is written to
//! `results/<sweep>/search.json` (atomically) before any of its runs starts, and a batch
//! written is never proposed again. A proposal depends only on the manifest and on finished
//! runs, whose results do not depend on when or where they trained, so a search killed at any
//! moment, run with any `--jobs`, locally or on Slurm, proposes the same configurations.

use crate::error::{Error, Result};
use crate::exec::supervisor::{self, Outcome};
pub(crate) use crate::results::proposals::{Batch, Proposals, path};
use crate::results::store::{self, RunState};
use crate::spec::grid::{Dist, Grid, Method};
use crate::spec::manifest::Manifest;
use crate::spec::plan::{self, Run};
use crate::spec::tpe::{Dim, Tpe};
use std::path::Path;

/// The search's dimensions: the estimator's view of each and its description.
fn space(grid: &Grid) -> (Vec<Dim>, Vec<String>) {
    plan::search_axes(grid)
        .into_iter()
        .map(|(axis, dist)| {
            let (dim, what) = match &dist {
                Dist::Uniform(lo, hi) => (Dim::Continuous, format!("uniform [{lo}, {hi}]")),
                Dist::LogUniform(lo, hi) => (Dim::Continuous, format!("log_uniform [{lo}, {hi}]")),
                // Few whole numbers are categories; many (a width from 16 to 512) are a
                // line, where a good value says its neighbours are likely good too.
                Dist::IntUniform(lo, hi) => (
                    if hi - lo < 16 {
                        Dim::Discrete((hi - lo + 1) as usize)
                    } else {
                        Dim::Continuous
                    },
                    format!("int_uniform [{lo}, {hi}]"),
                ),
                Dist::Choice(v) => (
                    Dim::Discrete(v.len()),
                    format!(
                        "choice [{}]",
                        v.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
            (dim, format!("{}: {what}", axis.key()))
        })
        .unzip()
}

/// Empty proposals for `m`'s search.
fn fresh(m: &Manifest, grid: &Grid) -> Proposals {
    let s = &m.search;
    Proposals {
        method: "tpe".into(),
        metric: s.metric.name().into(),
        samples: s.samples,
        startup: s.startup,
        batch: s.batch,
        seed: s.seed,
        space: space(grid).1,
        batches: Vec::new(),
    }
}

/// The proposals written for this sweep, checked against `m` (`None` before the first).
pub(crate) fn read(m: &Manifest, sweep_dir: &Path) -> Result<Option<Proposals>> {
    let Some(grid) = &m.grid else {
        return Ok(None);
    };
    let file = path(sweep_dir);
    let Some(p) = crate::results::proposals::read(sweep_dir)? else {
        return Ok(None);
    };
    let bad = |message: String| Error::Results {
        path: file.clone(),
        message,
    };
    let want = fresh(m, grid);
    let same = (&p.metric, p.samples, p.startup, p.batch, p.seed, &p.space)
        == (
            &want.metric,
            want.samples,
            want.startup,
            want.batch,
            want.seed,
            &want.space,
        );
    if !same {
        return Err(bad(format!(
            "its batches were proposed for another search (metric {}, samples {}, startup {}, batch {}, seed {}, space {:?}) than this manifest's (metric {}, samples {}, startup {}, batch {}, seed {}, space {:?}); move the sweep's results aside or use another --results directory",
            p.metric,
            p.samples,
            p.startup,
            p.batch,
            p.seed,
            p.space,
            want.metric,
            want.samples,
            want.startup,
            want.batch,
            want.seed,
            want.space
        )));
    }
    if let Some(x) = p
        .batches
        .iter()
        .flat_map(|b| &b.points)
        .find(|x| x.len() != want.space.len() || x.iter().any(|u| !(0.0..1.0).contains(u)))
    {
        return Err(bad(format!(
            "a point {x:?} is not in the unit cube of {} dimensions (the file was edited)",
            want.space.len()
        )));
    }
    Ok(Some(p))
}

/// `m` with the configurations proposed so far (read from `search.json` in `sweep_dir`), so
/// that [`plan::expand`] gives their runs; unchanged for another method or before any proposal.
pub(crate) fn attach(m: &mut Manifest, sweep_dir: &Path) -> Result<Option<Proposals>> {
    if m.search.method != Method::Tpe {
        return Ok(None);
    }
    let p = read(m, sweep_dir)?;
    if let Some(p) = &p {
        m.search.proposed = p.points();
    }
    Ok(p)
}

/// Where a TPE search stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stage {
    /// Train the runs of every batch so far (those finished are skipped).
    Train,
    /// Every configuration proposed and trained.
    Done,
    /// The next batch waits for runs that failed (`--retry-failed` trains them again) or
    /// have not finished.
    Waiting(String),
}

/// Bring the search forward: write the first batch if none is, and when every run of the
/// batches so far has finished and configurations are left, propose and write the next. `m`
/// gets the proposals ([`attach`]). A failed run holds the next batch, or with `retry` is
/// trained again. The caller holds the sweep's lock when `write`.
pub(crate) fn advance(m: &mut Manifest, results: &Path, write: bool, retry: bool) -> Result<Stage> {
    let grid = m.grid.clone().expect("a TPE search has a grid");
    let sweep_dir = store::sweep_dir(results, &m.sweep.name);
    let mut p = read(m, &sweep_dir)?.unwrap_or_else(|| fresh(m, &grid));
    if p.batches.is_empty() {
        // The start: Sobol points, as the plan without proposals lists them.
        m.search.proposed = Vec::new();
        let n = m.search.startup.min(m.search.samples);
        let points: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..p.space.len())
                    .map(|d| sobol_burley::sample(i as u32, d as u32, m.search.seed as u32) as f64)
                    .collect()
            })
            .collect();
        let labels = labels(m, &grid, &points)?;
        p.batches.push(Batch {
            batch: 1,
            learnt_from: 0,
            best_so_far: None,
            points,
            labels,
        });
        if write {
            save(&sweep_dir, &p)?;
        }
    }
    m.search.proposed = p.points();
    let runs = plan::expand(m)?;
    let mut states = Vec::with_capacity(runs.len());
    for r in &runs {
        states.push(store::state(results, r)?);
    }
    if let Some((r, s)) = runs
        .iter()
        .zip(&states)
        .find(|(_, s)| !s.is_finished() || **s == RunState::Failed)
    {
        return Ok(match s {
            RunState::Failed if !retry => Stage::Waiting(format!(
                "{} ({}) failed, so batch {} cannot be proposed; --retry-failed trains it again",
                r.display_label(),
                r.id,
                p.batches.len() + 1
            )),
            _ => Stage::Train,
        });
    }
    if p.proposed() >= m.search.samples {
        return Ok(Stage::Done);
    }
    let next = propose(m, &grid, results, &p)?;
    p.batches.push(next);
    if write {
        save(&sweep_dir, &p)?;
    }
    m.search.proposed = p.points();
    Ok(Stage::Train)
}

fn save(sweep_dir: &Path, p: &Proposals) -> Result<()> {
    let json = serde_json::to_vec_pretty(p).expect("proposals serialize");
    store::write_atomic(&path(sweep_dir), &json)
}

/// The labels of the configurations at `points`.
fn labels(m: &Manifest, grid: &Grid, points: &[Vec<f64>]) -> Result<Vec<String>> {
    let axes = plan::search_axes(grid);
    points
        .iter()
        .map(|u| {
            let mut one = m.clone();
            one.search.proposed = vec![u.clone()];
            one.grid.as_mut().expect("grid").include.clear();
            let e = plan::point_entry(m, grid, &axes, u);
            Ok(plan::expand(&one)?
                .first()
                .map_or_else(|| plan::entry_key(&e), |r| r.label.clone()))
        })
        .collect()
}

/// The next batch, from the scores of every configuration proposed so far.
fn propose(m: &Manifest, grid: &Grid, results: &Path, p: &Proposals) -> Result<Batch> {
    let s = &m.search;
    let (dims, _) = space(grid);
    let axes = plan::search_axes(grid);
    let mut observed = Vec::new();
    let mut best: Option<f64> = None;
    for u in p.points() {
        let mut one = m.clone();
        one.search.proposed = vec![u.clone()];
        one.grid.as_mut().expect("grid").include.clear();
        let runs = plan::expand(&one)?;
        if runs.is_empty() {
            continue; // excluded
        }
        let score = score(results, &runs, s.metric)?;
        if let Some(v) = score {
            best = Some(match best {
                Some(b) if s.metric.higher_is_better() => b.max(v),
                Some(b) => b.min(v),
                None => v,
            });
        }
        // The estimator minimizes; a configuration that diverged is the worst (NaN).
        let loss = score.map_or(
            f64::NAN,
            |v| if s.metric.higher_is_better() { -v } else { v },
        );
        observed.push((u, loss));
    }
    let n = s.batch.min(s.samples - p.proposed());
    let number = p.batches.len() + 1;
    let taken = |u: &[f64]| plan::entry_key(&plan::point_entry(m, grid, &axes, u));
    let points = Tpe::default().propose(&dims, &observed, n, s.seed, number as u64, &taken);
    Ok(Batch {
        batch: number,
        learnt_from: observed.len(),
        best_so_far: best,
        labels: labels(m, grid, &points)?,
        points,
    })
}

/// A configuration's score: its metric's mean over its runs (seeds), each at its last epoch;
/// `None` when a run has no finite value (it diverged).
fn score(results: &Path, runs: &[Run], metric: crate::spec::metric::Metric) -> Result<Option<f64>> {
    let mut values = Vec::with_capacity(runs.len());
    for r in runs {
        let Some(l) = store::load_planned(results, r)? else {
            return Ok(None);
        };
        match crate::exec::halving::value_at(metric, &l.records, r.epochs) {
            Some(v) => values.push(v),
            None => return Ok(None),
        }
    }
    Ok((!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64))
}

/// `sweep run` of a TPE search: batch after batch, train the batch ([`supervisor::Supervisor::
/// run`]), then propose the next. Returns every run proposed and one outcome per run.
pub(crate) fn run(
    sup: &mut supervisor::Supervisor<'_>,
    m: &Manifest,
) -> Result<(Vec<Run>, Vec<Outcome>)> {
    let opts = sup.opts;
    let sweep = &m.sweep.name;
    let sweep_dir = store::sweep_dir(&opts.results, sweep);
    let mut m = m.clone();
    // Nothing is written (not even the lock file) before there is something to do.
    let mut dry = m.clone();
    if advance(&mut dry, &opts.results, false, opts.retry_failed)? == Stage::Done {
        let runs = plan::expand(&dry)?;
        let outcomes = sup.run(sweep, &runs)?;
        return Ok((runs, outcomes));
    }
    store::create_dir_all(&sweep_dir)?;
    let _lock = supervisor::lock_sweep(&sweep_dir, "sweep run")?;
    let mut opts = opts.clone();
    opts.locked = true;
    let mut trained: Vec<(Run, Outcome)> = Vec::new();
    loop {
        let stage = advance(&mut m, &opts.results, true, opts.retry_failed)?;
        let runs = plan::expand(&m)?;
        let p = read(&m, &sweep_dir)?.expect("written by advance");
        match stage {
            Stage::Done => return outcomes(&opts.results, runs, trained),
            Stage::Waiting(why) => {
                sup.display
                    .warning(&format!("warning: the TPE search stops here: {why}"));
                return outcomes(&opts.results, runs, trained);
            }
            Stage::Train => {
                let b = p.batches.last().expect("a batch");
                sup.display.line(&format!(
                    "TPE search, batch {} ({} of {} configurations){}",
                    b.batch,
                    p.proposed(),
                    m.search.samples,
                    match (b.learnt_from, b.best_so_far) {
                        (0, _) => " : Sobol start".to_string(),
                        (n, Some(best)) => format!(
                            ": proposed from {n} configuration(s), best {} so far",
                            m.search.metric.format(best)
                        ),
                        (n, None) => format!(": proposed from {n} configuration(s)"),
                    }
                ));
                let mut batch = supervisor::Supervisor {
                    opts: &opts,
                    launch: sup.launch,
                    display: &mut *sup.display,
                    interrupts: sup.interrupts,
                };
                let out = batch.run(sweep, &runs)?;
                let stopped = out.iter().any(|o| {
                    matches!(
                        o,
                        Outcome::Interrupted
                            | Outcome::Busy(_)
                            | Outcome::Finished(RunState::Failed)
                    )
                });
                for (r, o) in runs.iter().zip(out) {
                    if matches!(
                        o,
                        Outcome::Finished(_) | Outcome::Interrupted | Outcome::Busy(_)
                    ) {
                        trained.retain(|(t, _)| t.id != r.id);
                        trained.push((r.clone(), o));
                    }
                }
                if stopped || (sup.interrupts)() > 0 {
                    return outcomes(&opts.results, runs, trained);
                }
            }
        }
    }
}

/// One outcome per run: what this sweep's training gave it, else its state now.
fn outcomes(
    results: &Path,
    runs: Vec<Run>,
    trained: Vec<(Run, Outcome)>,
) -> Result<(Vec<Run>, Vec<Outcome>)> {
    let out = runs
        .iter()
        .map(|r| {
            if let Some((_, o)) = trained.iter().find(|(t, _)| t.id == r.id) {
                return Ok(o.clone());
            }
            let state = store::state(results, r)?;
            Ok(if state.is_finished() {
                Outcome::Skipped(state)
            } else {
                Outcome::Interrupted
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((runs, out))
}
