//! Executing one run in this process (a *worker*): lock it, resume it from its checkpoint if
//! there is one, train, checkpoint and store after every epoch, write its summary last.
//!
//! The supervisor ([`crate::exec::supervisor`]) runs each run in a worker child process; Slurm
//! array tasks run the same worker directly. What a worker says and how it exits:
//! [`crate::exec::protocol`].

use crate::data::prepared::Prepared;
use crate::error::{Error, Result};
use crate::exec::protocol::{Event, WorkerExit};
use crate::results::checkpoint;
use crate::results::lock;
use crate::results::record::BatchProgress;
use crate::results::store::{self, RunState};
use crate::results::weights::{self, Which};
use crate::spec::plan::Run;
use crate::train::{self, Observer, Outcome, State};
use burn::tensor::Device;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How a worker reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// JSON events on stdout ([`Event`]), for a supervising `sweep run`.
    Events,
    /// Human-readable lines on stderr (Slurm logs, standalone use).
    Log,
}

/// Train `run` into `results`, resuming from its checkpoint. `retry` retrains a run that
/// failed or diverged before; `stop` is polled after every epoch; with `until`, training stops
/// after that epoch (checkpointed, no summary) unless it is the run's last.
#[allow(clippy::too_many_arguments)]
pub(crate) fn work(
    run: &Run,
    results: &Path,
    data: std::sync::Arc<Prepared>,
    device: &Device,
    report: Report,
    retry: bool,
    stop: &AtomicBool,
    until: Option<usize>,
) -> Result<WorkerExit> {
    let (_lock, dir) = match take(results, run, retry, until)? {
        Ok(taken) => taken,
        Err(exit) => return Ok(exit),
    };
    let (train_split, val_split, test_split) = crate::data::into_splits(data, &run.data);
    let ad = device.clone().autodiff();
    let state = restore(run, &dir, &ad)?;
    // The checkpoint is written before epochs.csv: killed between the two, the checkpoint is an
    // epoch ahead. Already at the epoch to stop at, it is not trained past it.
    if let Some(u) = until
        && state.records.len() >= u
        && state.records.len() < run.epochs
    {
        store::write_epochs(&dir, &state.records)?;
        return Ok(WorkerExit::Paused(state.records.len()));
    }
    let mut obs = WorkerObserver {
        dir: &dir,
        run,
        report,
        stop,
        until,
        error: None,
        started: Instant::now(),
    };
    obs.emit(&Event::Started {
        resumed_from: state.records.len(),
        batches: train_split.len().div_ceil(run.batch_size),
    });
    if report == Report::Log {
        eprintln!(
            "{} ({}): training epochs {}..={} on {} images",
            run.display_label(),
            run.id,
            state.records.len() + 1,
            run.epochs,
            train_split.len()
        );
    }
    let started = Instant::now();
    // Train on a thread of a rayon pool (RAYON_NUM_THREADS threads, as the supervisor sets), so
    // the kernels' parallel loops start on it instead of waking a pool thread and parking this
    // one several times per batch; on one thread they run inline.
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the training threads: {e}")))?;
    let (state, outcome) = pool.install(|| {
        train::train(
            run,
            &train_split,
            &val_split,
            test_split.as_ref(),
            &ad,
            state,
            &mut obs,
        )
    });
    if let Some(e) = obs.error.take() {
        return Err(e);
    }
    let (status, reason) = match outcome {
        Outcome::Interrupted => return Ok(interrupted(run, &state, until, report)),
        Outcome::Completed => (RunState::Done, None),
        Outcome::Diverged { epoch, batch, why } => (
            RunState::Diverged,
            Some(format!("{why} in epoch {epoch}, batch {batch}")),
        ),
    };
    let ended = Ended {
        status,
        reason,
        started,
        device: crate::train::backend::describe(device),
    };
    finish(run, &dir, &state, ended, report)?;
    Ok(WorkerExit::Finished(status))
}

/// Take `run` to train it (built-in or a program's): its lock, stale temporary files removed,
/// the files it left before settled, its run.json written; the lock and the run's directory.
/// `Err`: nothing to train now (another process holds it, it is finished, or at its rung).
pub(crate) fn take(
    results: &Path,
    run: &Run,
    retry: bool,
    until: Option<usize>,
) -> Result<std::result::Result<(lock::Lock, std::path::PathBuf), WorkerExit>> {
    let dir = store::run_dir(results, run);
    let what = format!("training run {}", run.id);
    let held = match lock::try_lock_patiently(&dir.join(".lock"), &what)? {
        Ok(l) => l,
        Err(holder) => return Ok(Err(WorkerExit::Busy(holder))),
    };
    // Held by us now: a temporary file here is a write killed mid-way, never a live one.
    store::remove_stale_temps(&dir);
    if let Some(exit) = settle_earlier_files(results, run, &dir, retry, until)? {
        return Ok(Err(exit));
    }
    store::write_run(&dir, run)?;
    Ok(Ok((held, dir)))
}

/// What the files a run left before say about training it now: finished (and not to retry),
/// already at the rung to stop at, or to train (files that disagree set aside as `.corrupt`; a
/// failed or diverged run's summary and weights removed).
fn settle_earlier_files(
    results: &Path,
    run: &Run,
    dir: &Path,
    retry: bool,
    until: Option<usize>,
) -> Result<Option<WorkerExit>> {
    let Some(l) = store::load_planned(results, run)? else {
        return Ok(None);
    };
    if l.state.is_finished() && !l.state.needs_training(retry) {
        return Ok(Some(WorkerExit::AlreadyFinished(l.state)));
    }
    if let Some(u) = until
        && l.summary.is_none()
        && l.problem.is_none()
        && l.records.len() >= u
        && checkpoint::path(dir).exists()
    {
        return Ok(Some(WorkerExit::Paused(l.records.len())));
    }
    if let Some(problem) = &l.problem {
        // Files that disagree cannot be resumed from or trusted: keep them aside, start over.
        eprintln!(
            "warning: {problem}; training run {} again from scratch (the old files are kept with a .corrupt suffix)",
            run.id
        );
        for f in [
            "summary.json",
            "epochs.csv",
            checkpoint::FILE,
            weights::BEST,
            weights::FINAL,
        ] {
            let p = dir.join(f);
            if p.exists() {
                std::fs::rename(&p, dir.join(format!("{f}.corrupt"))).map_err(|source| {
                    Error::Write {
                        path: p.clone(),
                        source,
                    }
                })?;
            }
        }
    } else if l.summary.is_some() {
        std::fs::remove_file(dir.join("summary.json")).map_err(|source| Error::Write {
            path: dir.join("summary.json"),
            source,
        })?;
        // A failed or diverged run trained again: its old weights are not this training's.
        for f in [weights::BEST, weights::FINAL] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    Ok(None)
}

/// The training state to go on from: the checkpoint's, else a new one. A damaged checkpoint
/// (checksum, sizes, or a record burn cannot load) is never resumed from: it is kept aside as
/// checkpoint.bin.corrupt and the run starts from scratch.
fn restore(run: &Run, dir: &Path, ad: &Device) -> Result<State> {
    let restored = match checkpoint::load(dir) {
        Ok(Some(c)) => State::restore(run, ad, &c).map(Some),
        Ok(None) => Ok(None),
        Err(Error::Results { message, .. }) => Err(message),
        Err(e) => return Err(e),
    };
    Ok(match restored {
        Ok(Some(s)) => s,
        Ok(None) => State::new(run, ad),
        Err(why) => {
            let aside = dir.join(format!("{}.corrupt", checkpoint::FILE));
            let _ = std::fs::rename(checkpoint::path(dir), &aside);
            eprintln!(
                "warning: {}: {why}; training run {} from scratch (the file is kept as {})",
                checkpoint::path(dir).display(),
                run.id,
                aside.display()
            );
            State::new(run, ad)
        }
    })
}

/// A training stopped on request: paused at the rung it was asked to stop at, else interrupted.
fn interrupted(run: &Run, state: &State, until: Option<usize>, report: Report) -> WorkerExit {
    match until {
        Some(u) if state.records.len() >= u => {
            if report == Report::Log {
                eprintln!(
                    "{} ({}): stopped after epoch {} (a rung of successive halving); the checkpoint goes on from there",
                    run.display_label(),
                    run.id,
                    state.records.len()
                );
            }
            WorkerExit::Paused(state.records.len())
        }
        _ => WorkerExit::Interrupted,
    }
}

/// How a run ended, and on what.
struct Ended {
    status: RunState,
    reason: Option<String>,
    started: Instant,
    device: String,
}

/// A run that ended (done or diverged): its epochs, the weights it keeps and its summary, last;
/// then its checkpoint goes.
fn finish(run: &Run, dir: &Path, state: &State, ended: Ended, report: Report) -> Result<()> {
    let Ended {
        status,
        reason,
        started,
        device,
    } = ended;
    store::write_epochs(dir, &state.records)?;
    let kept = keep_weights(dir, run, state, status)?;
    let mut summary = store::summarize(
        run,
        &state.records,
        status,
        reason,
        started.elapsed().as_secs_f64(),
    );
    summary.device = Some(device);
    summary.weights = kept;
    summary.peak_rss_bytes = crate::spec::memory::peak_rss();
    summary.estimated_peak_bytes = Some(crate::spec::memory::estimate(run).peak());
    store::write_summary(dir, &summary)?;
    checkpoint::remove(dir);
    if report == Report::Log {
        match (&summary.reason, &summary.last) {
            (Some(r), _) => eprintln!("{} ({}): diverged: {r}", run.display_label(), run.id),
            (None, Some(l)) => eprintln!(
                "{} ({}): done, val accuracy {:.2}%",
                run.display_label(),
                run.id,
                l.val_accuracy * 100.0
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Save `state`'s weights as `which` ([`weights`]) in `dir`.
fn save_weights(dir: &Path, run: &Run, state: &State, which: Which) -> Result<()> {
    let r = state.records.last().expect("an epoch was recorded");
    let header = weights::Header::new(run, r.epoch, which, r.val_accuracy, r.val_loss);
    let file = match which {
        Which::Final => weights::FINAL,
        Which::Best => weights::BEST,
    };
    weights::save(
        &dir.join(file),
        &header,
        &state.network.parameters(&run.layers),
    )
}

/// At the end of a run: keep the final weights (a run that finished; a diverged one's are not
/// numbers), drop the best epoch's file when it is the final one, and list what is kept.
fn keep_weights(
    dir: &Path,
    run: &Run,
    state: &State,
    status: RunState,
) -> Result<Vec<store::KeptWeights>> {
    let best_epoch = store::best_epoch(&state.records).map(|r| r.epoch);
    let last_epoch = state.records.last().map(|r| r.epoch);
    if status == RunState::Done && run.keep.keeps_final() {
        save_weights(dir, run, state, Which::Final)?;
        if best_epoch == last_epoch {
            let _ = std::fs::remove_file(dir.join(weights::BEST));
        }
    }
    let mut kept = Vec::new();
    for file in [weights::FINAL, weights::BEST] {
        let path = dir.join(file);
        if let Ok(bytes) = std::fs::read(&path) {
            let (header, _) = weights::load(&path)?;
            kept.push(store::KeptWeights {
                file: file.to_string(),
                epoch: header.epoch,
                sha256: store::sha256_hex(&bytes),
            });
        }
    }
    Ok(kept)
}

struct WorkerObserver<'a> {
    dir: &'a Path,
    run: &'a Run,
    report: Report,
    stop: &'a AtomicBool,
    /// Stop after this epoch (a halving rung).
    until: Option<usize>,
    error: Option<Error>,
    started: Instant,
}

impl WorkerObserver<'_> {
    fn emit(&self, e: &Event) {
        if self.report == Report::Events {
            let mut out = std::io::stdout().lock();
            // A supervisor that went away is noticed through stdin; ignore write errors here.
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string(e).expect("event serializes")
            );
            let _ = out.flush();
        }
    }
}

impl Observer for WorkerObserver<'_> {
    fn batch(&mut self, p: BatchProgress) {
        // Throttle: a line every 20 batches and at the end of the epoch is plenty for a bar.
        if p.batch.is_multiple_of(20) || p.batch == p.batches {
            self.emit(&Event::Batch(p));
        }
    }

    fn epoch(&mut self, state: &State) -> bool {
        // The best epoch's weights while they are the current ones, then the checkpoint, then
        // the CSV: the checkpoint's records are the truth on resume (an epoch redone after a
        // kill writes the same weights again).
        let record = state.records.last().expect("an epoch was recorded");
        let new_best = store::best_epoch(&state.records).map(|r| r.epoch) == Some(record.epoch);
        let best = if new_best && self.run.keep.keeps_best() {
            save_weights(self.dir, self.run, state, Which::Best)
        } else {
            Ok(())
        };
        let saved = best
            .and_then(|()| {
                state
                    .checkpoint()
                    .map_err(|e| Error::Training(format!("cannot serialize checkpoint: {e}")))
            })
            .and_then(|c| checkpoint::save(self.dir, &c))
            .and_then(|()| store::write_epochs(self.dir, &state.records));
        if let Err(e) = saved {
            self.error = Some(e);
            return false;
        }
        self.emit(&Event::Epoch(record.clone()));
        if self.report == Report::Log {
            eprintln!(
                "{} epoch {}/{}: loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | {:.1}s, {:.0} img/s, {:.0}s elapsed",
                self.run.display_label(),
                record.epoch,
                self.run.epochs,
                record.train_loss,
                record.train_accuracy * 100.0,
                record.val_loss,
                record.val_accuracy * 100.0,
                record.seconds,
                record.images_per_sec,
                self.started.elapsed().as_secs_f64()
            );
        }
        !self.stop.load(Ordering::SeqCst) && self.until.is_none_or(|u| record.epoch < u)
    }
}
