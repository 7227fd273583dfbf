//! Results on disk. Layout: `<results>/<sweep>/runs/<run-id>/` holding `run.json` (the resolved
//! run), `epochs.csv` (one row per finished epoch, rewritten after each) and `summary.json`
//! (written last: its presence means the run is finished). Every file is written atomically
//! (temporary file in the same directory, fsync, rename), so a crash never leaves half a file.

use crate::error::{Error, Result};
use crate::results::record::EpochRecord;
use crate::spec::plan::Run;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a run stands: the one state every command shows and decides by. A summary records one
/// of the finished states (done, failed, diverged); the others come from the files, the run's
/// lock and, for Slurm sweeps, the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Done,
    Running,
    Queued,
    /// Started, not running now (interrupted): running or submitting again resumes it.
    Incomplete,
    NotStarted,
    Failed,
    Diverged,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Running => "running",
            RunState::Queued => "queued",
            RunState::Incomplete => "incomplete",
            RunState::NotStarted => "not started",
            RunState::Failed => "failed",
            RunState::Diverged => "diverged",
        }
    }

    /// Training ended, in success or not: a summary says so.
    pub fn is_finished(self) -> bool {
        matches!(self, RunState::Done | RunState::Failed | RunState::Diverged)
    }

    /// No more work will happen on it without a new `sweep run` or submission.
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Running | RunState::Queued)
    }

    /// The one rule for "does this run need training": everything unfinished, and runs that
    /// failed or diverged when asked to retry them (`--retry-failed`).
    pub fn needs_training(self, retry_failed: bool) -> bool {
        match self {
            RunState::Done => false,
            RunState::Failed | RunState::Diverged => retry_failed,
            _ => true,
        }
    }
}

/// `summary.json`: the run's outcome and final metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub label: String,
    /// Done, failed or diverged.
    pub status: RunState,
    /// Why it failed or diverged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub epochs_completed: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<EpochRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    pub wall_seconds: f64,
    pub sweep_version: String,
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    // Temporary files are created 0600; results are meant to be read by others (CI, teammates).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The directory of one sweep's results.
pub fn sweep_dir(results: &Path, sweep: &str) -> PathBuf {
    results.join(sweep)
}

/// The directory of one run.
pub fn run_dir(results: &Path, run: &Run) -> PathBuf {
    sweep_dir(results, &run.sweep).join("runs").join(&run.id)
}

/// Serialize epoch records as CSV.
pub fn epochs_csv(records: &[EpochRecord]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.serialize(r)
            .map_err(|e| Error::Training(format!("csv: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| Error::Training(format!("csv: {e}")))
}

/// Read `epochs.csv` back.
pub fn read_epochs(path: &Path) -> Result<Vec<EpochRecord>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::Results {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    r.deserialize()
        .collect::<std::result::Result<Vec<EpochRecord>, _>>()
        .map_err(|e| Error::Results {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Write the resolved run config (before training starts).
pub fn write_run(dir: &Path, run: &Run) -> Result<()> {
    let json = serde_json::to_vec_pretty(run).expect("run serializes");
    write_atomic(&dir.join("run.json"), &json)
}

pub fn write_epochs(dir: &Path, records: &[EpochRecord]) -> Result<()> {
    write_atomic(&dir.join("epochs.csv"), &epochs_csv(records)?)
}

pub fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    let json = serde_json::to_vec_pretty(summary).expect("summary serializes");
    write_atomic(&dir.join("summary.json"), &json)
}

/// The summary of a run, if it has finished (in any status).
pub fn read_summary(dir: &Path) -> Result<Option<Summary>> {
    let path = dir.join("summary.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Results {
                path,
                message: format!("unreadable summary: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// The one best-epoch rule: the highest validation accuracy, the earliest such epoch on ties.
pub fn best_epoch(records: &[EpochRecord]) -> Option<&EpochRecord> {
    records.iter().max_by(|a, b| {
        a.val_accuracy
            .total_cmp(&b.val_accuracy)
            .then(b.epoch.cmp(&a.epoch))
    })
}

/// One run as stored: its description, its epochs so far, its summary if finished, and its
/// state.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub run: Run,
    pub records: Vec<EpochRecord>,
    pub summary: Option<Summary>,
    pub state: RunState,
}

/// The state of the run in `dir` from its files: the summary's when finished, else running
/// (its lock is held), incomplete (started: run.json exists) or not started.
pub fn state(dir: &Path) -> Result<RunState> {
    Ok(match read_summary(dir)? {
        Some(s) => s.status,
        None => unfinished_state(dir),
    })
}

/// [`state`] of a run without a summary.
fn unfinished_state(dir: &Path) -> RunState {
    if crate::results::lock::is_held(&dir.join(".lock")) {
        RunState::Running
    } else if dir.join("run.json").exists() {
        RunState::Incomplete
    } else {
        RunState::NotStarted
    }
}

/// The one reader of a run directory (report, check, status, scheduler, Slurm and the worker
/// all go through it or [`state`]); `None` when `dir` has no run.json (not a run).
pub fn load_run(dir: &Path) -> Result<Option<Loaded>> {
    let run_json = dir.join("run.json");
    let bytes = match std::fs::read(&run_json) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: run_json,
                source,
            });
        }
    };
    let run: Run = serde_json::from_slice(&bytes).map_err(|e| Error::Results {
        path: run_json.clone(),
        message: format!("not a run description: {e}"),
    })?;
    let csv = dir.join("epochs.csv");
    let records = if csv.exists() {
        read_epochs(&csv)?
    } else {
        Vec::new()
    };
    let summary = read_summary(dir)?;
    let state = summary
        .as_ref()
        .map_or_else(|| unfinished_state(dir), |s| s.status);
    Ok(Some(Loaded {
        run,
        records,
        summary,
        state,
    }))
}

/// Build a summary from a run's records.
pub fn summarize(
    run: &Run,
    records: &[EpochRecord],
    status: RunState,
    reason: Option<String>,
    wall_seconds: f64,
) -> Summary {
    debug_assert!(status.is_finished(), "a summary records a finished state");
    let best = best_epoch(records);
    Summary {
        id: run.id.clone(),
        label: run.display_label(),
        status,
        reason,
        epochs_completed: records.len(),
        last: records.last().cloned(),
        best_val_accuracy: best.map(|b| b.val_accuracy),
        best_epoch: best.map(|b| b.epoch),
        wall_seconds,
        sweep_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn epochs_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let recs = vec![EpochRecord {
            epoch: 1,
            train_loss: 0.5,
            train_accuracy: 0.9,
            val_loss: 0.4,
            val_accuracy: 0.91,
            seconds: 1.0,
            images_per_sec: 10.0,
        }];
        write_epochs(d.path(), &recs).unwrap();
        assert_eq!(read_epochs(&d.path().join("epochs.csv")).unwrap(), recs);
    }
}
