//! Successive halving ([`Halving`], `[search.halving]`), decided from the result files alone.
//!
//! Synchronous: every configuration trains to the first rung; when all its runs are there, the
//! configurations are ranked by the metric's mean over their seeds at that epoch (ties: the
//! smaller configuration id first), the best `keep_fraction` go on and the others' runs are
//! marked [`RunState::Pruned`]. The decision is written to `results/<sweep>/halving.json`
//! (atomically) before any run of the next rung starts, and a decision already written is
//! applied, never taken again. A decision depends only on epochs every run of the rung has
//! finished (and a run's epochs do not depend on how far it will train: its random streams are
//! the same), so a sweep killed at any moment, run with any `--jobs`, locally or on Slurm,
//! prunes the same runs.

use crate::error::{Error, Result};
use crate::exec::supervisor::{self, Outcome};
use crate::results::record::EpochRecord;
use crate::results::store::{self, PrunedAt, RunState};
use crate::results::{checkpoint, lock, weights};
use crate::spec::grid::Halving;
use crate::spec::metric::Metric;
use crate::spec::plan::Run;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The decisions file, in the sweep's results directory.
pub(crate) const FILE: &str = "halving.json";

/// `halving.json`: the settings the decisions were taken with, and one entry per decided rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decisions {
    pub metric: String,
    pub rungs: Vec<usize>,
    pub keep_fraction: f64,
    pub decided: Vec<Rung>,
}

/// One rung's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rung {
    /// 1-based.
    pub rung: usize,
    pub epoch: usize,
    pub configurations: usize,
    pub kept: usize,
    /// Best first.
    pub ranking: Vec<Ranked>,
}

/// A configuration's place at a rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ranked {
    pub config: String,
    pub label: String,
    /// The metric's mean over the configuration's runs at the rung's epoch; `None` when a run
    /// has no finite value there (it diverged): ranked last.
    pub score: Option<f64>,
    pub runs: Vec<String>,
    pub kept: bool,
}

/// What a halving sweep needs next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stage {
    /// Train these runs (indices into the sweep's runs) to `epoch`, rung `rung` (1-based).
    Train {
        rung: usize,
        epoch: usize,
        runs: Vec<usize>,
    },
    /// Every rung is decided and its survivors have trained to the last.
    Done,
    /// A rung cannot be decided: a run failed before reaching it (`--retry-failed` trains it
    /// again) or another process holds it.
    Blocked(String),
}

pub(crate) fn path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(FILE)
}

/// The decisions taken so far, if any.
pub(crate) fn read(sweep_dir: &Path) -> Result<Option<Decisions>> {
    let p = path(sweep_dir);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Results {
                path: p,
                message: format!("unreadable halving decisions: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path: p, source }),
    }
}

/// The decisions taken so far, checked against the manifest's settings `h`: decisions taken
/// with another metric, other rungs or another keep fraction are an error (`sweep run` and
/// `sweep status` say the same), never silently mixed with the new settings.
pub(crate) fn read_for(sweep_dir: &Path, h: &Halving) -> Result<Option<Decisions>> {
    let Some(d) = read(sweep_dir)? else {
        return Ok(None);
    };
    if d.metric != h.metric.name()
        || d.rungs != h.rungs
        || (d.keep_fraction - h.keep_fraction).abs() > 1e-12
    {
        return Err(Error::Results {
            path: path(sweep_dir),
            message: format!(
                "was decided with metric = {}, rungs = {:?}, keep_fraction = {}, but the manifest now says metric = {}, rungs = {:?}, keep_fraction = {}; move the sweep's results aside or use another --results directory",
                d.metric,
                d.rungs,
                d.keep_fraction,
                h.metric.name(),
                h.rungs,
                h.keep_fraction
            ),
        });
    }
    Ok(Some(d))
}

/// The configurations of `runs` in plan order: (config id, indices of its runs).
fn configurations(runs: &[Run]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let c = r.config_id();
        match out.iter_mut().find(|(id, _)| *id == c) {
            Some((_, v)) => v.push(i),
            None => out.push((c, vec![i])),
        }
    }
    out
}

/// A run's value of `m` after `epoch` epochs: that epoch's, or for `best_val_accuracy` the best
/// up to it. `None` when it has no such epoch or the value is not finite.
pub(crate) fn value_at(m: Metric, records: &[EpochRecord], epoch: usize) -> Option<f64> {
    let upto = records.get(..epoch)?;
    let v = match m {
        Metric::BestValAccuracy => store::best_epoch(upto).map(|r| r.val_accuracy),
        _ => upto.last().and_then(|r| r.metric(m)),
    }?;
    v.is_finite().then_some(v)
}

/// Rank configurations (config id, label, runs' ids, score): by score, better first, `None`
/// last, ties to the smaller config id.
fn rank(metric: Metric, mut rows: Vec<Ranked>, keep: usize) -> Vec<Ranked> {
    rows.sort_by(|a, b| {
        let by_score = match (a.score, b.score) {
            (Some(x), Some(y)) if metric.higher_is_better() => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_score.then_with(|| a.config.cmp(&b.config))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.kept = i < keep;
    }
    rows
}

/// What pruning one run of a cut configuration did.
enum Pruning {
    /// Pruned now, or already (or ended before the rung: diverged).
    Done,
    /// Its files are corrupt: it trains to the rung again first.
    Retrain,
    /// Another process holds it.
    Held(String),
}

/// Mark a run of a configuration cut at `rung` pruned: its epochs up to the rung's, a summary
/// that says so, no checkpoint or weights. A run that diverged before keeps its own summary; one
/// that crashed after reaching the rung is pruned like the others. Idempotent: a run pruned
/// before only has leftovers of an interrupted pruning removed.
fn prune(results: &Path, run: &Run, rung: &Rung, of: usize) -> Result<Pruning> {
    let dir = store::run_dir(results, run);
    let _lock = match lock::try_lock(&dir.join(".lock"), "pruning it")? {
        Ok(l) => l,
        Err(holder) => {
            return Ok(Pruning::Held(format!(
                "run {} is held by another process ({holder})",
                run.id
            )));
        }
    };
    let Some(l) = store::load_planned(results, run)? else {
        return Ok(Pruning::Done);
    };
    let remove_training_files = || {
        checkpoint::remove(&dir);
        for f in [weights::BEST, weights::FINAL] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    };
    match l.state {
        RunState::Corrupt => return Ok(Pruning::Retrain),
        RunState::Pruned => {
            remove_training_files();
            return Ok(Pruning::Done);
        }
        RunState::Failed if l.records.len() >= rung.epoch => {}
        s if s.is_finished() => return Ok(Pruning::Done),
        _ if l.records.len() < rung.epoch => return Ok(Pruning::Retrain),
        _ => {}
    }
    let records = &l.records[..l.records.len().min(rung.epoch)];
    store::write_epochs(&dir, records)?;
    let place = rung
        .ranking
        .iter()
        .position(|r| r.runs.contains(&run.id))
        .map_or(0, |p| p + 1);
    let reason = format!(
        "pruned at rung {} (epoch {} of {of}): its configuration ranked {place} of {}, {} went on",
        rung.rung, rung.epoch, rung.configurations, rung.kept
    );
    let seconds = records.iter().map(|r| r.seconds).sum();
    let mut summary = store::summarize(run, records, RunState::Pruned, Some(reason), seconds);
    summary.pruned = Some(PrunedAt {
        rung: rung.rung,
        epoch: rung.epoch,
    });
    store::write_summary(&dir, &summary)?;
    remove_training_files();
    Ok(Pruning::Done)
}

/// Prune the runs of the configurations `decided` cut: `None` when done, else the stage that
/// must come first (runs to train to the rung again, or a run another process holds).
fn apply(results: &Path, runs: &[Run], decided: &Rung, last: usize) -> Result<Option<Stage>> {
    let mut again = Vec::new();
    for r in decided.ranking.iter().filter(|r| !r.kept) {
        for (i, run) in runs
            .iter()
            .enumerate()
            .filter(|(_, x)| r.runs.contains(&x.id))
        {
            match prune(results, run, decided, last)? {
                Pruning::Done => {}
                Pruning::Retrain => again.push(i),
                Pruning::Held(why) => return Ok(Some(Stage::Blocked(why))),
            }
        }
    }
    Ok((!again.is_empty()).then_some(Stage::Train {
        rung: decided.rung,
        epoch: decided.epoch,
        runs: again,
    }))
}

/// What an undecided rung at `epoch` needs of the `alive` configurations' runs: the runs to
/// train to it, every run's records, and a run that failed before it (which holds the decision,
/// unless `retry` trains it again).
#[allow(clippy::type_complexity)]
fn rung_needs(
    results: &Path,
    runs: &[Run],
    alive: &[&(String, Vec<usize>)],
    epoch: usize,
    last: usize,
    retry: bool,
) -> Result<(Vec<usize>, Vec<(usize, Vec<EpochRecord>)>, Option<usize>)> {
    let mut to_train = Vec::new();
    let mut loaded = Vec::new();
    let mut blocked = None;
    for (_, members) in alive {
        for &i in members {
            let l = store::load_planned(results, &runs[i])?;
            let (state, done) = l
                .as_ref()
                .map_or((RunState::NotStarted, 0), |l| (l.state, l.records.len()));
            match state {
                RunState::Failed if retry => to_train.push(i),
                RunState::Failed if done < epoch => {
                    blocked.get_or_insert(i);
                }
                s if s.is_finished() => {}
                RunState::Corrupt => to_train.push(i),
                // At the last rung every unfinished run trains: one killed after its last
                // epoch but before its summary writes it then.
                _ if done < epoch || epoch == last => to_train.push(i),
                _ => {}
            }
            loaded.push((i, l.map(|l| l.records).unwrap_or_default()));
        }
    }
    Ok((to_train, loaded, blocked))
}

/// Where the halving sweep of `runs` stands, applying the decisions already written and taking
/// (and, unless `dry`, writing) those that every run of their rung allows. A run that failed
/// before its rung holds the decision, or with `retry` is trained again. The caller holds the
/// sweep's lock.
pub(crate) fn advance(
    results: &Path,
    sweep: &str,
    runs: &[Run],
    h: &Halving,
    dry: bool,
    retry: bool,
) -> Result<(Stage, Decisions)> {
    let sweep_dir = store::sweep_dir(results, sweep);
    let file = path(&sweep_dir);
    let mut d = read_for(&sweep_dir, h)?.unwrap_or_else(|| Decisions {
        metric: h.metric.name().into(),
        rungs: h.rungs.clone(),
        keep_fraction: h.keep_fraction,
        decided: Vec::new(),
    });
    let configs = configurations(runs);
    let mut alive: Vec<&(String, Vec<usize>)> = configs.iter().collect();
    let last = h.last();
    for (k, &epoch) in h.rungs.iter().enumerate() {
        let rung = k + 1;
        if let Some(decided) = d.decided.get(k).cloned() {
            let mut was: Vec<&str> = decided.ranking.iter().map(|r| r.config.as_str()).collect();
            let mut now: Vec<&str> = alive.iter().map(|(c, _)| c.as_str()).collect();
            was.sort_unstable();
            now.sort_unstable();
            if was != now {
                return Err(Error::Results {
                    path: file,
                    message: format!(
                        "rung {rung} was decided among {} configurations that are not the {} this manifest plans there (the manifest changed); move the sweep's results aside or use another --results directory",
                        was.len(),
                        now.len()
                    ),
                });
            }
            if decided.rung != rung || decided.epoch != epoch || epoch == last {
                return Err(Error::Results {
                    path: file,
                    message: format!(
                        "its decision number {rung} is for rung {} at epoch {}, but rung {rung} is at epoch {epoch}{} (the file was edited)",
                        decided.rung,
                        decided.epoch,
                        if epoch == last {
                            ", the last, which is never decided"
                        } else {
                            ""
                        }
                    ),
                });
            }
            if !dry && let Some(first) = apply(results, runs, &decided, last)? {
                return Ok((first, d));
            }
            alive.retain(|(c, _)| decided.ranking.iter().any(|r| r.kept && r.config == *c));
            continue;
        }
        // Undecided: train what has not reached it, or decide.
        let (to_train, loaded, blocked) = rung_needs(results, runs, &alive, epoch, last, retry)?;
        if !to_train.is_empty() {
            return Ok((
                Stage::Train {
                    rung,
                    epoch,
                    runs: to_train,
                },
                d,
            ));
        }
        // Only the decision waits for a run that failed before the rung: the other runs of the
        // rung have trained to it first.
        if let Some(i) = blocked {
            return Ok((
                Stage::Blocked(format!(
                    "{} ({}) failed before epoch {epoch}, so rung {rung} cannot be decided; --retry-failed trains it again",
                    runs[i].display_label(),
                    runs[i].id
                )),
                d,
            ));
        }
        if epoch == last {
            return Ok((Stage::Done, d));
        }
        let rows: Vec<Ranked> = alive
            .iter()
            .map(|(config, members)| {
                let values: Option<Vec<f64>> = members
                    .iter()
                    .map(|i| {
                        let records = &loaded.iter().find(|(j, _)| j == i).expect("loaded").1;
                        value_at(h.metric, records, epoch)
                    })
                    .collect();
                Ranked {
                    config: config.clone(),
                    label: runs[members[0]].label.clone(),
                    score: values.map(|v| v.iter().sum::<f64>() / v.len() as f64),
                    runs: members.iter().map(|&i| runs[i].id.clone()).collect(),
                    kept: false,
                }
            })
            .collect();
        let keep = h.kept(rows.len());
        let decided = Rung {
            rung,
            epoch,
            configurations: rows.len(),
            kept: keep,
            ranking: rank(h.metric, rows, keep),
        };
        d.decided.push(decided.clone());
        if dry {
            alive.retain(|(c, _)| decided.ranking.iter().any(|r| r.kept && r.config == *c));
            continue;
        }
        let json = serde_json::to_vec_pretty(&d).expect("decisions serialize");
        store::write_atomic(&file, &json)?;
        if let Some(first) = apply(results, runs, &decided, last)? {
            return Ok((first, d));
        }
        alive.retain(|(c, _)| decided.ranking.iter().any(|r| r.kept && r.config == *c));
    }
    Ok((Stage::Done, d))
}

/// `sweep run` of a halving sweep: rung after rung, train what the rung needs
/// ([`supervisor::Supervisor::run`], stopping each run at the rung's epoch), then decide.
/// Returns one outcome per run, like it: trained now (any rung), or finished before.
pub(crate) fn run(
    sup: &mut supervisor::Supervisor<'_>,
    sweep: &str,
    runs: &[Run],
    h: &Halving,
) -> Result<Vec<Outcome>> {
    let opts = sup.opts;
    let sweep_dir = store::sweep_dir(&opts.results, sweep);
    let mut trained = vec![false; runs.len()];
    // Nothing is written (not even the lock file) before there is something to do.
    let (first, _) = advance(&opts.results, sweep, runs, h, true, opts.retry_failed)?;
    let _lock = if first == Stage::Done {
        None
    } else {
        sup.launch.prepare(&runs.iter().collect::<Vec<_>>())?;
        Some(supervisor::lock_sweep(&sweep_dir, "sweep run")?)
    };
    let mut opts = opts.clone();
    opts.locked = true;
    loop {
        let (stage, d) = advance(&opts.results, sweep, runs, h, false, opts.retry_failed)?;
        match stage {
            Stage::Done => break,
            Stage::Blocked(why) => {
                sup.display
                    .warning(&format!("warning: successive halving stops here: {why}"));
                break;
            }
            Stage::Train {
                rung,
                epoch,
                runs: todo,
            } => {
                let configs: std::collections::BTreeSet<String> =
                    todo.iter().map(|&i| runs[i].config_id()).collect();
                let before = d.decided.last().map_or(String::new(), |r| {
                    format!(
                        " (rung {} kept {} of {} configurations)",
                        r.rung, r.kept, r.configurations
                    )
                });
                sup.display.line(&format!(
                    "successive halving, rung {rung} of {}: {} run(s) of {} configuration(s) train to epoch {epoch}{before}",
                    h.rungs.len(),
                    todo.len(),
                    configs.len()
                ));
                let subset: Vec<Run> = todo.iter().map(|&i| runs[i].clone()).collect();
                opts.until = (epoch < h.last()).then_some(epoch);
                let mut rung = supervisor::Supervisor {
                    opts: &opts,
                    launch: sup.launch,
                    display: &mut *sup.display,
                    interrupts: sup.interrupts,
                };
                let outcomes = rung.run(sweep, &subset)?;
                for &i in &todo {
                    trained[i] = true;
                }
                // A crash (not a divergence) holds the rung's decision: stop here rather than
                // decide without it (or, with --retry-failed, train it again and again).
                let stopped = outcomes.iter().any(|o| {
                    matches!(
                        o,
                        Outcome::Interrupted
                            | Outcome::Busy(_)
                            | Outcome::Finished(RunState::Failed)
                    )
                });
                if stopped || (sup.interrupts)() > 0 {
                    return outcomes_of(&opts.results, runs, &trained, Some(&todo), &outcomes);
                }
            }
        }
    }
    outcomes_of(&opts.results, runs, &trained, None, &[])
}

/// One outcome per run: the last rung's outcomes for the runs it trained (`last`), else the
/// run's state now, as trained in this sweep or finished before.
fn outcomes_of(
    results: &Path,
    runs: &[Run],
    trained: &[bool],
    last: Option<&[usize]>,
    last_outcomes: &[Outcome],
) -> Result<Vec<Outcome>> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            if let Some(p) = last.and_then(|l| l.iter().position(|&j| j == i)) {
                return Ok(last_outcomes[p].clone());
            }
            let state = store::state(results, r)?;
            Ok(match (trained[i], state.is_finished()) {
                (_, false) => Outcome::Interrupted,
                (true, true) => Outcome::Finished(state),
                (false, true) => Outcome::Skipped(state),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(config: &str, score: Option<f64>) -> Ranked {
        Ranked {
            config: config.into(),
            label: config.into(),
            score,
            runs: vec![],
            kept: false,
        }
    }

    #[test]
    fn ranking_is_by_score_then_config_id_with_the_undefined_last() {
        let rows = vec![
            ranked("c", Some(0.9)),
            ranked("a", None),
            ranked("b", Some(0.9)),
            ranked("d", Some(0.95)),
        ];
        let r = rank(Metric::ValAccuracy, rows.clone(), 2);
        let order: Vec<(&str, bool)> = r.iter().map(|x| (x.config.as_str(), x.kept)).collect();
        assert_eq!(
            order,
            [("d", true), ("b", true), ("c", false), ("a", false)]
        );
        // A loss: lower first.
        let r = rank(Metric::ValLoss, rows, 1);
        assert_eq!(r[0].config, "b");
        assert_eq!(r[3].config, "a");
    }

    #[test]
    fn kept_counts_round_up_and_keep_one() {
        let h = Halving {
            metric: Metric::ValAccuracy,
            rungs: vec![1, 3, 9],
            keep_fraction: 0.25,
        };
        assert_eq!(h.kept(12), 3);
        assert_eq!(h.kept(13), 4);
        assert_eq!(h.kept(1), 1);
        assert_eq!(h.alive(48), vec![48, 12, 3]);
        // 48 x 1 + 12 x 2 + 3 x 6 epochs per seed.
        assert_eq!(h.epochs(48, 2), 2 * (48 + 24 + 18));
    }

    /// A run that failed before the first rung holds the rung's decision, not the training of
    /// the rung's other runs: they train to it first, and only then is the rung blocked.
    #[test]
    fn a_run_failed_before_its_rung_holds_only_the_decision() {
        let m = crate::spec::manifest::parse(
            Path::new("m.toml"),
            "[sweep]\nname = \"h\"\ndataset = \"mnist\"\ntrain_subset = 100\ntest_subset = 50\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nlr = [0.001, 0.01, 0.1]\n[search.halving]\nrungs = [1, 2]\n",
        )
        .unwrap();
        let runs = crate::spec::plan::expand(&m).unwrap();
        let h = m.search.halving.clone().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path();
        let failed = &runs[1];
        let d = store::run_dir(results, failed);
        store::write_run(&d, failed).unwrap();
        store::write_epochs(&d, &[]).unwrap();
        let sum = store::summarize(failed, &[], RunState::Failed, Some("crashed".into()), 1.0);
        store::write_summary(&d, &sum).unwrap();
        let (stage, _) = advance(results, "h", &runs, &h, false, false).unwrap();
        assert_eq!(
            stage,
            Stage::Train {
                rung: 1,
                epoch: 1,
                runs: vec![0, 2]
            }
        );
        // The others at the rung: now the decision waits for the failed run.
        for i in [0, 2] {
            let d = store::run_dir(results, &runs[i]);
            store::write_run(&d, &runs[i]).unwrap();
            let r = EpochRecord {
                epoch: 1,
                train_loss: 1.0,
                train_accuracy: 0.5,
                val_loss: 1.0,
                val_accuracy: 0.5,
                test_loss: None,
                test_accuracy: None,
                seconds: 1.0,
                images_per_sec: 1.0,
                lr: None,
                extra: Default::default(),
            };
            store::write_epochs(&d, &[r]).unwrap();
            std::fs::write(checkpoint::path(&d), b"ck").unwrap();
        }
        let (stage, d) = advance(results, "h", &runs, &h, false, false).unwrap();
        assert!(
            matches!(&stage, Stage::Blocked(why) if why.contains("failed before epoch 1")),
            "{stage:?}"
        );
        assert!(d.decided.is_empty(), "no decision without the failed run");
        // --retry-failed trains it again.
        let (stage, _) = advance(results, "h", &runs, &h, false, true).unwrap();
        assert_eq!(
            stage,
            Stage::Train {
                rung: 1,
                epoch: 1,
                runs: vec![1]
            }
        );
    }

    #[test]
    fn best_val_accuracy_at_a_rung_is_the_best_up_to_it() {
        let rec = |epoch, val_accuracy| EpochRecord {
            epoch,
            train_loss: 1.0,
            train_accuracy: 0.5,
            val_loss: 1.0,
            val_accuracy,
            test_loss: None,
            test_accuracy: None,
            seconds: 1.0,
            images_per_sec: 1.0,
            lr: None,
            extra: Default::default(),
        };
        let r = [rec(1, 0.8), rec(2, 0.7), rec(3, 0.9)];
        assert_eq!(value_at(Metric::BestValAccuracy, &r, 2), Some(0.8));
        assert_eq!(value_at(Metric::ValAccuracy, &r, 2), Some(0.7));
        assert_eq!(value_at(Metric::ValAccuracy, &r, 4), None);
        let nan = [rec(1, f64::NAN)];
        assert_eq!(value_at(Metric::ValAccuracy, &nan, 1), None);
    }
}
