//! Executing one run in this process (a *worker*): lock it, resume it from its checkpoint if
//! there is one, train, checkpoint and store after every epoch, write its summary last.
//!
//! The scheduler ([`crate::exec::scheduler`]) runs each run in a worker child process; Slurm array
//! tasks run the same worker directly.

use crate::data::Loaded;
use crate::error::{Error, Result};
use crate::results::checkpoint;
use crate::results::lock;
use crate::results::record::{BatchProgress, EpochRecord};
use crate::results::store::{self, RunState};
use crate::results::weights::{self, Which};
use crate::spec::plan::Run;
use crate::train::{self, Observer, Outcome, State};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What a worker tells its supervisor, one JSON object per line on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started { resumed_from: usize, batches: usize },
    Batch(BatchProgress),
    Epoch(EpochRecord),
}

/// How a worker reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// JSON events on stdout, for a supervising `sweep run`.
    Events,
    /// Human-readable lines on stderr (Slurm logs, standalone use).
    Log,
    Quiet,
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerExit {
    /// Finished now, with this status.
    Finished(RunState),
    /// Already finished before; nothing done.
    AlreadyFinished(RunState),
    /// Stopped on request after a checkpoint; running it again resumes.
    Interrupted,
    /// Another process holds the run's lock.
    Busy(String),
    /// Trained to the epoch it was asked to stop at (a rung of successive halving), after a
    /// checkpoint: running it again with a later epoch goes on from there.
    Paused(usize),
}

impl WorkerExit {
    /// Exit codes of `sweep worker`, read back by the scheduler.
    pub fn code(&self) -> i32 {
        match self {
            WorkerExit::Finished(RunState::Done | RunState::Pruned)
            | WorkerExit::AlreadyFinished(RunState::Done | RunState::Pruned)
            | WorkerExit::Paused(_) => 0,
            WorkerExit::Finished(_) | WorkerExit::AlreadyFinished(_) => 1,
            WorkerExit::Interrupted => EXIT_INTERRUPTED,
            WorkerExit::Busy(_) => EXIT_BUSY,
        }
    }
}

pub const EXIT_INTERRUPTED: i32 = 3;
pub const EXIT_BUSY: i32 = 4;

/// Train `run` into `results`, resuming from its checkpoint. `retry` retrains a run that
/// failed or diverged before; `stop` is polled after every epoch; with `until`, training stops
/// after that epoch (checkpointed, no summary) unless it is the run's last.
#[allow(clippy::too_many_arguments)]
pub fn work(
    run: &Run,
    results: &Path,
    data: Loaded,
    device: &Device,
    report: Report,
    retry: bool,
    stop: &AtomicBool,
    until: Option<usize>,
) -> Result<WorkerExit> {
    let dir = store::run_dir(results, run);
    let what = format!("training run {}", run.id);
    let _lock = match lock::try_lock_patiently(&dir.join(".lock"), &what)? {
        Ok(l) => l,
        Err(holder) => return Ok(WorkerExit::Busy(holder)),
    };
    if let Some(l) = store::load_planned(results, run)? {
        if l.state.is_finished() && !l.state.needs_training(retry) {
            return Ok(WorkerExit::AlreadyFinished(l.state));
        }
        if let Some(u) = until
            && l.summary.is_none()
            && l.problem.is_none()
            && l.records.len() >= u
            && checkpoint::path(&dir).exists()
        {
            return Ok(WorkerExit::Paused(l.records.len()));
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
    }
    store::write_run(&dir, run)?;
    let (train_split, val_split, test_split) = data.into_splits(
        run.data.validation,
        run.data.train_subset,
        run.data.test_subset,
    );
    let ad = device.clone().autodiff();
    // A damaged checkpoint (checksum, sizes, or a record burn cannot load) is never resumed
    // from: it is kept aside as checkpoint.bin.corrupt and the run starts from scratch.
    let restored = match checkpoint::load(&dir) {
        Ok(Some(c)) => State::restore(run, &ad, &c).map(Some),
        Ok(None) => Ok(None),
        Err(Error::Results { message, .. }) => Err(message),
        Err(e) => return Err(e),
    };
    let state = match restored {
        Ok(Some(s)) => s,
        Ok(None) => State::new(run, &ad),
        Err(why) => {
            let aside = dir.join(format!("{}.corrupt", checkpoint::FILE));
            let _ = std::fs::rename(checkpoint::path(&dir), &aside);
            eprintln!(
                "warning: {}: {why}; training run {} from scratch (the file is kept as {})",
                checkpoint::path(&dir).display(),
                run.id,
                aside.display()
            );
            State::new(run, &ad)
        }
    };
    // The checkpoint is written before epochs.csv: killed between the two, the checkpoint is an
    // epoch ahead. Already at the epoch to stop at, it is not trained past it.
    if let Some(u) = until
        && state.records.len() >= u
        && state.records.len() < run.epochs
    {
        store::write_epochs(&dir, &state.records)?;
        return Ok(WorkerExit::Paused(state.records.len()));
    }
    let batches = train_split.len().div_ceil(run.batch_size);
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
        batches,
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
    // Train on a thread of a rayon pool (RAYON_NUM_THREADS threads, as the scheduler sets), so
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
        Outcome::Interrupted => {
            return Ok(match until {
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
            });
        }
        Outcome::Completed => (RunState::Done, None),
        Outcome::Diverged { epoch, batch, why } => (
            RunState::Diverged,
            Some(format!("{why} in epoch {epoch}, batch {batch}")),
        ),
    };
    store::write_epochs(&dir, &state.records)?;
    let kept = keep_weights(&dir, run, &state, status)?;
    let mut summary = store::summarize(
        run,
        &state.records,
        status,
        reason,
        started.elapsed().as_secs_f64(),
    );
    summary.weights = kept;
    summary.peak_rss_bytes = crate::spec::memory::peak_rss();
    summary.estimated_peak_bytes = Some(crate::spec::memory::estimate(run).peak());
    store::write_summary(&dir, &summary)?;
    checkpoint::remove(&dir);
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
    Ok(WorkerExit::Finished(status))
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

/// The prefix of the one stderr line a worker's panic hook writes: the panic's message and
/// where it happened, which the supervisor records as the run's failure reason.
pub const PANIC_MARKER: &str = "sweep worker panicked:";

/// Makes a panic in this (worker) process print one line, [`PANIC_MARKER`] + message +
/// location, instead of the default text and backtrace.
pub fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let one_line = message.replace('\n', " ");
        eprintln!("{PANIC_MARKER} {one_line}{at}");
    }));
}

/// The failure reason of a worker that exited with `status`, from the last lines of its stderr:
/// its panic message and location when it panicked, else the last lines themselves.
pub fn crash_reason(status: &str, stderr_tail: &[String]) -> String {
    match stderr_tail
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix(PANIC_MARKER))
    {
        Some(panic) => format!("worker panicked: {}", panic.trim()),
        None => match stderr_tail.join("\n").trim() {
            "" => format!("worker exited with {status} (it printed nothing)"),
            tail => format!("worker exited with {status}: {tail}"),
        },
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[test]
    fn a_panic_line_becomes_the_reason_and_other_crashes_keep_their_tail() {
        let tail = vec![
            "loading".to_string(),
            format!("{PANIC_MARKER} index out of bounds at src/model.rs:10:5"),
        ];
        assert_eq!(
            crash_reason("exit status: 101", &tail),
            "worker panicked: index out of bounds at src/model.rs:10:5"
        );
        assert_eq!(
            crash_reason("signal: 9", &["last words".to_string()]),
            "worker exited with signal: 9: last words"
        );
        assert_eq!(
            crash_reason("signal: 9 (SIGKILL)", &[]),
            "worker exited with signal: 9 (SIGKILL) (it printed nothing)"
        );
    }
}
