//! Results on disk. Layout: `<results>/<sweep>/runs/<run-id>/` holding `run.json` (the resolved
//! run), `epochs.csv` (one row per finished epoch, rewritten after each) and `summary.json`
//! (written last: its presence means the run is finished). Every file is written atomically
//! (temporary file in the same directory, fsync, rename), so a crash never leaves half a file.

use crate::error::{Error, Result};
use crate::plan::Run;
use crate::train::EpochRecord;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Final state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Done,
    Failed,
    Diverged,
}

/// `summary.json`: the run's outcome and final metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub label: String,
    pub status: Status,
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

/// Build a summary from a run's records.
pub fn summarize(
    run: &Run,
    records: &[EpochRecord],
    status: Status,
    reason: Option<String>,
    wall_seconds: f64,
) -> Summary {
    let best = records.iter().max_by(|a, b| {
        a.val_accuracy
            .total_cmp(&b.val_accuracy)
            .then(b.epoch.cmp(&a.epoch))
    });
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
