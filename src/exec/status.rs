//! Where every run of a sweep stands: from the result files (the truth) and, for sweeps sent to
//! Slurm, from its queue (queued or running tasks and their job ids).

use crate::error::{Error, Result};
use crate::exec::slurm::QueueState;
use crate::results::store::{self, Loaded, RunState};
use crate::spec::manifest::{self, Manifest};
use crate::spec::plan::Run;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One run's line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub id: String,
    pub label: String,
    pub seed: u64,
    pub state: RunState,
    pub epochs_done: usize,
    pub epochs: usize,
    pub val_accuracy: Option<f64>,
    /// `job_task` while Slurm has it.
    pub job: Option<String>,
    /// What is wrong with its files, when it is corrupt.
    pub problem: Option<String>,
    /// Its last epoch's time, in seconds.
    pub last_epoch_seconds: Option<f64>,
    /// Where successive halving stopped it, when pruned.
    pub pruned: Option<store::PrunedAt>,
    /// Why it failed or diverged, and the last lines of a program's stderr.
    pub why: Option<(String, Vec<String>)>,
}

/// The manifest and results directory a `status`/`wait` PATH names: a manifest (its sweep under
/// `results`) or a `results/<sweep>` directory holding the manifest copy `sweep run`/`submit` keep.
pub(crate) fn resolve(path: &Path, results: &Path) -> Result<(Manifest, PathBuf)> {
    if path.is_file() {
        let m = manifest::load(path, &crate::data::describe)?;
        let dir = store::sweep_dir(results, &m.sweep.name);
        return Ok((m, dir));
    }
    let copy = path.join("manifest.toml");
    if copy.is_file() {
        // Without the data files, what its runs recorded of the data will do.
        let or_recorded = |d: &crate::spec::dataset::Declared| {
            crate::data::describe(d).or_else(|e| store::recorded_data(path, d).ok_or(e))
        };
        return Ok((manifest::load(&copy, &or_recorded)?, path.to_path_buf()));
    }
    Err(Error::Usage(format!(
        "{}: neither a manifest nor a results/<sweep> directory holding manifest.toml; pass the sweep's manifest",
        path.display()
    )))
}

/// Every run's state, in plan order, from the results under `sweep_dir` (`results/<sweep>`).
pub(crate) fn collect(
    runs: &[Run],
    sweep_dir: &Path,
    queue: Option<&HashMap<String, QueueState>>,
) -> Result<Vec<Row>> {
    let results = sweep_dir.parent().unwrap_or(Path::new(""));
    runs.iter()
        .map(|run| {
            let loaded = store::load_planned(results, run)?;
            let queued = queue.and_then(|q| q.get(&run.id));
            let file_state = loaded.as_ref().map_or(RunState::NotStarted, |l| l.state);
            // The files decide, but for what only the queue knows: a task queued or started.
            let state = match (file_state, queued) {
                (s, _) if s.is_finished() || s == RunState::Running => s,
                (_, Some(QueueState::Running { .. })) => RunState::Running,
                (_, Some(QueueState::Queued { .. })) => RunState::Queued,
                (s, None) => s,
            };
            let records = loaded.as_ref().map(|l| l.records.as_slice()).unwrap_or(&[]);
            Ok(Row {
                id: run.id.clone(),
                label: run.label.clone(),
                seed: run.seed,
                state,
                epochs_done: records.len(),
                epochs: run.epochs,
                val_accuracy: records.last().map(|r| r.val_accuracy),
                job: queued.map(|q| q.job().to_string()),
                problem: loaded.as_ref().and_then(|l| l.problem.clone()),
                last_epoch_seconds: records.last().map(|r| r.seconds),
                pruned: loaded
                    .as_ref()
                    .filter(|l| l.state == RunState::Pruned)
                    .and_then(|l| l.summary.as_ref())
                    .and_then(|s| s.pruned),
                why: loaded
                    .as_ref()
                    .filter(|l| matches!(l.state, RunState::Failed | RunState::Diverged))
                    .and_then(|l| l.summary.as_ref())
                    .and_then(|s| {
                        let tail = s.stderr_tail.iter().rev().take(3).rev().cloned().collect();
                        s.reason.clone().map(|r| (r, tail))
                    }),
            })
        })
        .collect()
}

/// Run directories of `sweep_dir` that are not runs of the plan but are corrupt (a copied or
/// renamed run directory, an edited run.json): (directory, what is wrong). Directories of runs
/// the manifest no longer plans, intact, are not listed: they are old results, not damage.
pub(crate) fn strays(runs: &[Run], sweep_dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let planned: std::collections::HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(sweep_dir.join("runs")) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if planned.contains(name.as_str()) {
            continue;
        }
        match store::load_run(&dir) {
            Ok(Some(Loaded {
                problem: Some(p), ..
            })) => out.push((dir, p)),
            Ok(_) => {}
            // Not even a run description: as corrupt as a stray can be, and no reason to stop.
            Err(e) => out.push((dir, e.to_string())),
        }
    }
    out.sort();
    Ok(out)
}

/// What is left of a sweep, as numbers: formatted by [`Remaining::line`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Remaining {
    /// Nothing to train; `failed` runs would train again with `--retry-failed`.
    Nothing { failed: usize },
    /// `runs` runs and `epochs` epochs left, whose time is unknown: no speed is known here for
    /// these models.
    Unknown {
        runs: usize,
        epochs: usize,
        models: Vec<String>,
    },
    /// `runs` runs and `epochs` epochs left, about `seconds` on `slots` slots.
    Known {
        runs: usize,
        epochs: usize,
        seconds: f64,
        slots: usize,
    },
}

impl Remaining {
    /// The line `status` prints; `halving` says that successive halving will prune some runs.
    pub(crate) fn line(&self, halving: bool) -> String {
        let at_most = if halving {
            " (at most: successive halving prunes some of them)"
        } else {
            ""
        };
        match self {
            Remaining::Nothing { failed: 0 } => "nothing left to train\n".into(),
            Remaining::Nothing { failed } => format!(
                "nothing left to train; {failed} failed or diverged run(s) train again with `sweep run --retry-failed`\n"
            ),
            Remaining::Unknown {
                runs,
                epochs,
                models,
            } => format!(
                "{runs} run(s), {epochs} epoch(s) left; time unknown: no speed measured here yet for {} (`sweep plan` calibrates){at_most}\n",
                models.join(", ")
            ),
            Remaining::Known {
                runs,
                epochs,
                seconds,
                slots,
            } => format!(
                "{runs} run(s), {epochs} epoch(s) left: about {} on {slots} slot(s) at the speeds measured here{at_most}\n",
                crate::fmt::duration(*seconds)
            ),
        }
    }
}

/// What is left to train, and how long it takes on `slots` slots of `threads` threads: each
/// unfinished run's remaining epochs at its own last epoch's time, else at the speed the timing
/// cache knows for its model ([`crate::exec::timing`]).
pub(crate) fn remaining(runs: &[Run], rows: &[Row], slots: usize, threads: usize) -> Remaining {
    use crate::exec::timing;
    let speeds = timing::load();
    let (mut left, mut epochs, mut durations) = (0, 0, Vec::new());
    let mut unknown = std::collections::BTreeSet::new();
    for (run, row) in runs.iter().zip(rows) {
        if !row.state.needs_training(false) {
            continue;
        }
        left += 1;
        let to_go = row.epochs.saturating_sub(row.epochs_done);
        epochs += to_go;
        match (
            row.last_epoch_seconds,
            speeds.per_image.get(&timing::key(run, threads)),
        ) {
            (Some(s), _) => durations.push(s * to_go as f64),
            (None, Some(v)) => durations.push(timing::run_seconds(run, *v, row.epochs_done)),
            (None, None) => {
                unknown.insert(run.model.clone());
            }
        }
    }
    if left == 0 {
        let failed = rows.iter().filter(|r| r.state.needs_training(true)).count();
        return Remaining::Nothing { failed };
    }
    if !unknown.is_empty() {
        return Remaining::Unknown {
            runs: left,
            epochs,
            models: unknown.into_iter().collect(),
        };
    }
    Remaining::Known {
        runs: left,
        epochs,
        seconds: timing::makespan(&durations, slots),
        slots,
    }
}

/// Where successive halving stands: its settings, each rung decided (how many configurations
/// went on) and the rung being trained (how many of its runs are there).
pub(crate) fn halving(
    h: &crate::spec::grid::Halving,
    decisions: Option<&crate::exec::halving::Decisions>,
    rows: &[Row],
) -> String {
    let rungs: Vec<String> = h.rungs.iter().map(|r| r.to_string()).collect();
    let mut s = format!(
        "successive halving on {}: rungs at epochs {}, keeping {:.0}% at each\n",
        h.metric.name(),
        rungs.join(", "),
        h.keep_fraction * 100.0
    );
    let decided = decisions.map_or(&[][..], |d| d.decided.as_slice());
    for d in decided {
        s += &format!(
            "  rung {} (epoch {}) decided: {} of {} configurations went on\n",
            d.rung, d.epoch, d.kept, d.configurations
        );
    }
    if let Some(&epoch) = h.rungs.get(decided.len()) {
        let alive: Vec<&Row> = rows.iter().filter(|r| r.pruned.is_none()).collect();
        let there = alive
            .iter()
            .filter(|r| r.epochs_done >= epoch || r.state.is_finished())
            .count();
        s += &format!(
            "  rung {} (epoch {epoch}): {there} of {} run(s) there\n",
            decided.len() + 1,
            alive.len()
        );
    }
    s
}

/// A TPE search's progress: its batches, what each learnt from and the best score then.
pub(crate) fn search(
    s: &crate::spec::grid::Search,
    p: Option<&crate::exec::search::Proposals>,
) -> String {
    let proposed = p.map_or(0, |p| p.proposed());
    let mut out = format!(
        "TPE search on {}: {proposed} of {} configurations proposed ({} to start, then {} at a time)\n",
        s.metric.name(),
        s.samples,
        s.startup.min(s.samples),
        s.batch
    );
    for b in p.map_or(&[][..], |p| p.batches.as_slice()) {
        out += &match (b.learnt_from, b.best_so_far) {
            (0, _) => format!("  batch {}: {} Sobol points\n", b.batch, b.points.len()),
            (n, best) => format!(
                "  batch {}: {} proposed from {n} configurations{}\n",
                b.batch,
                b.points.len(),
                best.map_or_else(String::new, |v| format!(
                    ", best {} then",
                    s.metric.format(v)
                ))
            ),
        };
    }
    out
}

/// Counts per state, in a fixed order, leaving out zeros: "3 done, 1 running, 2 queued".
pub(crate) fn summary(rows: &[Row]) -> String {
    let mut counts: Vec<(RunState, usize)> = Vec::new();
    for r in rows {
        match counts.iter_mut().find(|(s, _)| *s == r.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.state, 1)),
        }
    }
    counts.sort();
    let parts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.name()))
        .collect();
    format!("{} runs: {}", rows.len(), parts.join(", "))
}

/// The status table and its summary line.
pub(crate) fn render(sweep: &str, rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.label.clone(),
                r.seed.to_string(),
                r.pruned
                    .map_or_else(|| r.state.name().to_string(), |p| p.describe()),
                format!("{}/{}", r.epochs_done, r.epochs),
                r.val_accuracy
                    .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                r.job.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let table = crate::fmt::terminal_table(
        &[
            "run id",
            "label",
            "seed",
            "state",
            "epochs",
            "val acc",
            "slurm job",
        ],
        &cells,
        None,
    );
    let problems: String = rows
        .iter()
        .filter_map(|r| {
            r.problem
                .as_ref()
                .map(|p| format!("corrupt {}: {p}\n", r.id))
        })
        .collect();
    // Why runs failed: the reason, and the end of a program's stderr (all of it is in the
    // run's program.err, the last 20 lines in its summary.json).
    let why: String = rows
        .iter()
        .filter_map(|r| {
            let (reason, tail) = r.why.as_ref()?;
            let mut s = format!(
                "{} {} ({} seed={}): {reason}\n",
                r.state.name(),
                r.id,
                r.label,
                r.seed
            );
            for l in tail {
                s.push_str(&format!("  | {l}\n"));
            }
            Some(s)
        })
        .collect();
    format!(
        "sweep `{sweep}`\n{table}\n{problems}{why}{}\n",
        summary(rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: RunState) -> Row {
        Row {
            id: "x".into(),
            label: "l".into(),
            seed: 0,
            state,
            epochs_done: 0,
            epochs: 1,
            val_accuracy: None,
            job: None,
            problem: None,
            last_epoch_seconds: None,
            pruned: None,
            why: None,
        }
    }

    #[test]
    fn summary_counts_states_in_a_fixed_order() {
        let rows = [
            row(RunState::Queued),
            row(RunState::Done),
            row(RunState::Queued),
            row(RunState::Failed),
        ];
        assert_eq!(summary(&rows), "4 runs: 1 done, 2 queued, 1 failed");
    }

    #[test]
    fn queue_says_queued_or_running_files_say_finished() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/ci.toml"),
            &crate::data::describe,
        )
        .unwrap();
        let runs = crate::spec::plan::expand(&m).unwrap();
        let mut q = HashMap::new();
        q.insert(
            runs[0].id.clone(),
            QueueState::Running { job: "9_0".into() },
        );
        q.insert(runs[1].id.clone(), QueueState::Queued { job: "9_1".into() });
        let rows = collect(&runs[..3], &d.path().join("ci"), Some(&q)).unwrap();
        assert_eq!(rows[0].state, RunState::Running);
        assert_eq!(rows[0].job.as_deref(), Some("9_0"));
        assert_eq!(rows[1].state, RunState::Queued);
        assert_eq!(rows[2].state, RunState::NotStarted);
    }
}
