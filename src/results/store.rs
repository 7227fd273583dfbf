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
/// of the finished states (done, pruned, failed, diverged); the others come from the files, the run's
/// lock and, for Slurm sweeps, the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Done,
    /// Stopped by successive halving at a rung ([`Summary::pruned`]): its results up to there
    /// are kept, shown, never ranked.
    Pruned,
    Running,
    Queued,
    /// Started, not running now (interrupted): running or submitting again resumes it.
    Incomplete,
    NotStarted,
    Failed,
    Diverged,
    /// Its files disagree (a digest, the epoch count, or its identity): never averaged, ranked
    /// or gated on; `sweep run` sets the files aside and trains it again.
    Corrupt,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Pruned => "pruned",
            RunState::Running => "running",
            RunState::Queued => "queued",
            RunState::Incomplete => "incomplete",
            RunState::NotStarted => "not started",
            RunState::Failed => "failed",
            RunState::Diverged => "diverged",
            RunState::Corrupt => "corrupt",
        }
    }

    /// Training ended, in success or not: a summary says so.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunState::Done | RunState::Pruned | RunState::Failed | RunState::Diverged
        )
    }

    /// No more work will happen on it without a new `sweep run` or submission.
    pub fn is_final(self) -> bool {
        !matches!(self, RunState::Running | RunState::Queued)
    }

    /// The one rule for "does this run need training": everything unfinished, and runs that
    /// failed or diverged when asked to retry them (`--retry-failed`).
    pub fn needs_training(self, retry_failed: bool) -> bool {
        match self {
            RunState::Done | RunState::Pruned => false,
            RunState::Failed | RunState::Diverged => retry_failed,
            // Corrupt included: its files cannot be trusted, so it is trained again.
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
    /// Test-set metrics after the last epoch (`test_*`) and at the best validation epoch
    /// (`best_epoch_test_*`), and the number of test images. When the run is validated on the
    /// test set (`test_is_validation`), these are its validation metrics: the same images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch_test_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch_test_loss: Option<f64>,
    #[serde(default)]
    pub test_images: usize,
    #[serde(default)]
    pub test_is_validation: bool,
    /// SHA-256 of `epochs.csv` as written with this summary: readers verify it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_sha256: Option<String>,
    /// The dataset it trained on and the digest of its content (as in run.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    pub wall_seconds: f64,
    pub sweep_version: String,
    /// The build that trained it: version, commit, and whether the tree had uncommitted changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The training process's peak resident memory (Linux's VmHWM), in bytes: what the memory
    /// estimate ([`crate::spec::memory`]) is checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// What [`crate::spec::memory::estimate`] predicted for it, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_peak_bytes: Option<u64>,
    /// The weight files the run kept ([`crate::results::weights`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<KeptWeights>,
    /// Where successive halving stopped it, when it is [`RunState::Pruned`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedAt>,
    /// The device it trained on, as the trainer named it (`Flex`, `Wgpu(DefaultDevice)`), and
    /// for a GPU the adapter (`llvmpipe (LLVM 15.0.6, 256 bits), Cpu, Vulkan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// A program's run that failed: the last lines of its stderr (all of it is in the run
    /// directory's `program.err`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
}

/// The rung (1-based) and epoch at which successive halving stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedAt {
    pub rung: usize,
    pub epoch: usize,
}

impl PrunedAt {
    /// "pruned at rung 1 (epoch 1)".
    pub fn describe(&self) -> String {
        format!("pruned at rung {} (epoch {})", self.rung, self.epoch)
    }
}

/// A weights file a finished run kept: its name in the run directory, the epoch after which
/// they are the weights, and the file's SHA-256 (readers verify it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptWeights {
    pub file: String,
    pub epoch: usize,
    pub sha256: String,
}

/// The build of this binary, as recorded in summaries: `0.1.0 (commit 1a2b3c4d5e6f)`, with
/// `+ uncommitted changes` when built from a modified tree.
pub(crate) fn build_description() -> String {
    let commit = option_env!("SWEEP_GIT_COMMIT").unwrap_or("");
    let dirty = option_env!("SWEEP_GIT_DIRTY") == Some("1");
    match (commit.is_empty(), dirty) {
        (true, _) => format!("{} (commit unknown)", env!("CARGO_PKG_VERSION")),
        (false, false) => format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")),
        (false, true) => format!(
            "{} (commit {commit} + uncommitted changes)",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// The test metrics of a record: its own test columns, or its validation ones when the run is
/// validated on the test set.
pub(crate) fn test_of(run: &Run, r: &EpochRecord) -> (Option<f64>, Option<f64>) {
    match run.data.validation {
        crate::spec::manifest::Validation::Test => (Some(r.val_loss), Some(r.val_accuracy)),
        crate::spec::manifest::Validation::Holdout(_) => (r.test_loss, r.test_accuracy),
    }
}

/// SHA-256 (hex) of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// `std::fs::create_dir_all`, with an error that names the file standing where a directory
/// must be ("File exists" alone says little).
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write {
        path: dir.to_path_buf(),
        source: match dir.ancestors().find(|a| a.is_file()) {
            Some(file) => std::io::Error::new(
                e.kind(),
                format!("{} is a file, not a directory", file.display()),
            ),
            None => e,
        },
    })
}

/// Write `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    create_dir_all(dir)?;
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

/// Remove the temporary files that atomic writes killed mid-way left in `dir` (tempfile names
/// them `.tmpXXXXXX`). Call it holding the directory's lock, so that no live write owns one.
/// Best effort: a file that cannot be removed only stays.
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let is_temp = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(".tmp"));
        if is_temp && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Write the manifest's copy beside a sweep's results (`<sweep>/manifest.toml`, which reports
/// read their `[report]` sections from). A copy of a different manifest of the same sweep name
/// is never lost: it is kept as `manifest-<sha256 prefix>.toml`, and the warning says so.
pub(crate) fn write_manifest_copy(sweep_dir: &Path, source: &str) -> Result<()> {
    let path = sweep_dir.join("manifest.toml");
    if let Ok(old) = std::fs::read(&path)
        && old != source.as_bytes()
    {
        let kept = sweep_dir.join(format!("manifest-{}.toml", &sha256_hex(&old)[..12]));
        write_atomic(&kept, &old)?;
        eprintln!(
            "warning: {} was the copy of a different manifest; it is kept as {} (its [report] sections no longer apply)",
            path.display(),
            kept.display()
        );
    }
    write_atomic(&path, source.as_bytes())
}

/// What a declared dataset held when the sweep at `sweep_dir` trained on it, as its runs recorded
/// it (`run.json`): enough to read its manifest copy when the data files are not here.
pub(crate) fn recorded_data(
    sweep_dir: &Path,
    d: &crate::spec::dataset::Declared,
) -> Option<crate::spec::dataset::DataInfo> {
    let runs = std::fs::read_dir(sweep_dir.join("runs")).ok()?;
    runs.flatten().find_map(|e| {
        let text = std::fs::read(e.path().join("run.json")).ok()?;
        let run: Run = serde_json::from_slice(&text).ok()?;
        let c = run.data.declared.as_ref()?;
        (run.data.dataset.name() == d.name).then(|| crate::spec::dataset::DataInfo {
            shape: c.shape,
            classes: c.classes,
            class_names: (0..c.classes).map(|i| i.to_string()).collect(),
            features: Vec::new(),
            train: c.train,
            test: c.test,
            dtype: c.dtype,
            digest: run.data.digest.clone(),
        })
    })
}

/// The directory of one sweep's results.
pub(crate) fn sweep_dir(results: &Path, sweep: &str) -> PathBuf {
    results.join(sweep)
}

/// The directory of one run.
pub(crate) fn run_dir(results: &Path, run: &Run) -> PathBuf {
    sweep_dir(results, &run.sweep).join("runs").join(&run.id)
}

/// Serialize epoch records as CSV: serde's columns, then one per custom metric any epoch has
/// (by name; empty where an epoch has none). (Numbers into memory: this cannot fail.)
pub(crate) fn epochs_csv(records: &[EpochRecord]) -> Vec<u8> {
    let extra: std::collections::BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.extra.keys().map(String::as_str))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        if extra.is_empty() {
            w.serialize(r).expect("an epoch record serializes as CSV");
        } else {
            w.serialize(EpochRecord {
                extra: Default::default(),
                ..r.clone()
            })
            .expect("an epoch record serializes as CSV");
        }
    }
    let plain = w.into_inner().expect("writing to memory cannot fail");
    if extra.is_empty() {
        return plain;
    }
    // Append the custom columns to serde's rows.
    let mut reader = csv::Reader::from_reader(plain.as_slice());
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = reader.headers().expect("written just above").clone();
    extra.iter().for_each(|name| header.push_field(name));
    w.write_record(&header)
        .expect("writing to memory cannot fail");
    for (row, r) in reader.records().zip(records) {
        let mut row = row.expect("written just above");
        for name in &extra {
            row.push_field(
                &r.extra
                    .get(*name)
                    .map_or_else(String::new, |v| v.to_string()),
            );
        }
        w.write_record(&row).expect("writing to memory cannot fail");
    }
    w.into_inner().expect("writing to memory cannot fail")
}

/// Read `epochs.csv` back.
pub(crate) fn read_epochs(path: &Path) -> Result<Vec<EpochRecord>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_epochs(path, &bytes)
}

/// Parse the bytes of `epochs.csv` (read from `path`, named in errors).
fn parse_epochs(path: &Path, bytes: &[u8]) -> Result<Vec<EpochRecord>> {
    let bad = |message: String| Error::Results {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    // Columns serde does not know are a program's own metrics.
    let extra: Vec<(usize, &str)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !EPOCH_COLUMNS.contains(h))
        .collect();
    reader
        .records()
        .map(|row| {
            let row = row.map_err(|e| bad(e.to_string()))?;
            let mut r: EpochRecord = row
                .deserialize(Some(&header))
                .map_err(|e| bad(e.to_string()))?;
            for &(i, name) in &extra {
                let cell = row.get(i).unwrap_or_default();
                if !cell.is_empty() {
                    let v = cell.parse::<f64>().map_err(|_| {
                        bad(format!(
                            "epoch {}: `{name}` = `{cell}` is not a number",
                            r.epoch
                        ))
                    })?;
                    r.extra.insert(name.to_string(), v);
                }
            }
            Ok(r)
        })
        .collect()
}

/// The columns serde writes for an [`EpochRecord`].
const EPOCH_COLUMNS: [&str; 10] = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "images_per_sec",
    "lr",
];

/// Write the resolved run config (before training starts).
pub(crate) fn write_run(dir: &Path, run: &Run) -> Result<()> {
    let json = serde_json::to_vec_pretty(run).expect("run serializes");
    write_atomic(&dir.join("run.json"), &json)
}

pub(crate) fn write_epochs(dir: &Path, records: &[EpochRecord]) -> Result<()> {
    write_atomic(&dir.join("epochs.csv"), &epochs_csv(records))
}

pub(crate) fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    let json = serde_json::to_vec_pretty(summary).expect("summary serializes");
    write_atomic(&dir.join("summary.json"), &json)
}

/// The summary of a run, if it has finished (in any status).
pub(crate) fn read_summary(dir: &Path) -> Result<Option<Summary>> {
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
pub(crate) fn best_epoch(records: &[EpochRecord]) -> Option<&EpochRecord> {
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
    /// Why the run is [`RunState::Corrupt`]: which file, what is wrong.
    pub problem: Option<String>,
}

/// The state of `run` (a run of the plan, under `results`) from its files (verified as
/// [`load_run`] does): the summary's when finished, corrupt when the files disagree, else
/// running (its lock is held), incomplete (started: run.json exists) or not started.
pub(crate) fn state(results: &Path, run: &Run) -> Result<RunState> {
    Ok(load_planned(results, run)?.map_or(RunState::NotStarted, |l| l.state))
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

/// What is wrong with a run's files, if anything: the directory must be named by the id in
/// run.json, run.json must hash to that id, and a summary must be of that run and agree with
/// `epochs.csv` (its SHA-256 and its number of epochs).
fn verify(
    dir: &Path,
    run: &Run,
    csv: Option<&[u8]>,
    records: &[EpochRecord],
    summary: Option<&Summary>,
) -> Option<String> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.as_deref() != Some(run.id.as_str()) {
        return Some(format!(
            "{}: the directory is named {} but holds run {} (a copied or renamed run directory)",
            dir.display(),
            name.unwrap_or_default(),
            run.id
        ));
    }
    let id = run.compute_id();
    if id != run.id {
        return Some(format!(
            "{}: describes run {id}, not run {} (the file was edited)",
            dir.join("run.json").display(),
            run.id
        ));
    }
    let s = summary?;
    let csv_path = dir.join("epochs.csv");
    if s.id != run.id {
        return Some(format!(
            "{}: is the summary of run {}, not of run {}",
            dir.join("summary.json").display(),
            s.id,
            run.id
        ));
    }
    if let Some(want) = &s.epochs_sha256 {
        match csv {
            None => {
                return Some(format!(
                    "{}: missing (summary.json records it)",
                    csv_path.display()
                ));
            }
            Some(bytes) if &sha256_hex(bytes) != want => {
                return Some(format!(
                    "{}: its SHA-256 is not the one summary.json records (the file was changed after the run finished)",
                    csv_path.display()
                ));
            }
            _ => {}
        }
    }
    if records.len() != s.epochs_completed {
        return Some(format!(
            "{}: {} epochs, summary.json records {}",
            csv_path.display(),
            records.len(),
            s.epochs_completed
        ));
    }
    None
}

/// The one reader of a run directory (report, check, status, scheduler, Slurm and the worker
/// all go through it, [`load_planned`] or [`state`]); `None` when `dir` is not a directory or
/// has no run.json (not a run). The files are verified against each other: a run whose files
/// disagree, or whose epochs.csv or summary.json does not parse, is [`RunState::Corrupt`]. A
/// run.json that does not parse is an error here (there is no run to show); [`load_planned`]
/// knows the run from the plan and calls it corrupt instead.
pub(crate) fn load_run(dir: &Path) -> Result<Option<Loaded>> {
    load_with(dir, None)
}

/// [`load_run`] of the directory of `planned`, a run of the plan: a run.json that does not
/// parse makes the run [`RunState::Corrupt`] instead of stopping every command; `sweep run`
/// writes it again from the plan, and keeps the run's results only if they agree with it.
pub(crate) fn load_planned(results: &Path, planned: &Run) -> Result<Option<Loaded>> {
    load_with(&run_dir(results, planned), Some(planned))
}

fn load_with(dir: &Path, planned: Option<&Run>) -> Result<Option<Loaded>> {
    if !dir.is_dir() {
        // A stray file beside the run directories (`.DS_Store`, notes): not a run.
        return Ok(None);
    }
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
    let run: Run = match (serde_json::from_slice(&bytes), planned) {
        (Ok(run), _) => run,
        (Err(e), Some(planned)) => {
            return Ok(Some(Loaded {
                run: planned.clone(),
                records: Vec::new(),
                summary: None,
                state: RunState::Corrupt,
                problem: Some(format!(
                    "{}: not a run description ({e})",
                    run_json.display()
                )),
            }));
        }
        (Err(e), None) => {
            return Err(Error::Results {
                path: run_json.clone(),
                message: format!(
                    "not a run description: {e} (`sweep run <manifest>` writes it again from the manifest)"
                ),
            });
        }
    };
    if let Some(p) = &run.program {
        p.declare_metrics();
    }
    let csv_path = dir.join("epochs.csv");
    let csv = match std::fs::read(&csv_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                path: csv_path,
                source,
            });
        }
    };
    let mut unreadable = None;
    let records = match csv.as_deref().map(|b| parse_epochs(&csv_path, b)) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            unreadable = Some(e.to_string());
            Vec::new()
        }
        None => Vec::new(),
    };
    let summary = match read_summary(dir) {
        Ok(s) => s,
        Err(e @ Error::Results { .. }) => {
            unreadable.get_or_insert(e.to_string());
            None
        }
        Err(e) => return Err(e),
    };
    let problem =
        unreadable.or_else(|| verify(dir, &run, csv.as_deref(), &records, summary.as_ref()));
    let state = match (&problem, &summary) {
        (Some(_), _) => RunState::Corrupt,
        (None, Some(s)) => s.status,
        (None, None) => unfinished_state(dir),
    };
    Ok(Some(Loaded {
        run,
        records,
        summary,
        state,
        problem,
    }))
}

/// Build a summary from a run's records.
pub(crate) fn summarize(
    run: &Run,
    records: &[EpochRecord],
    status: RunState,
    reason: Option<String>,
    wall_seconds: f64,
) -> Summary {
    debug_assert!(status.is_finished(), "a summary records a finished state");
    let best = best_epoch(records);
    let (test_loss, test_accuracy) = records.last().map_or((None, None), |r| test_of(run, r));
    let (best_epoch_test_loss, best_epoch_test_accuracy) =
        best.map_or((None, None), |r| test_of(run, r));
    Summary {
        id: run.id.clone(),
        label: run.display_label(),
        status,
        reason,
        epochs_completed: records.len(),
        last: records.last().cloned(),
        best_val_accuracy: best.map(|b| b.val_accuracy),
        best_epoch: best.map(|b| b.epoch),
        test_accuracy,
        test_loss,
        best_epoch_test_accuracy,
        best_epoch_test_loss,
        test_images: run.data.test_examples(),
        test_is_validation: run.data.validation == crate::spec::manifest::Validation::Test,
        epochs_sha256: Some(sha256_hex(&epochs_csv(records))),
        dataset: Some(run.data.dataset.name().to_string()),
        dataset_digest: Some(run.data.digest.clone()),
        wall_seconds,
        sweep_version: env!("CARGO_PKG_VERSION").to_string(),
        build: Some(build_description()),
        weights: Vec::new(),
        peak_rss_bytes: None,
        estimated_peak_bytes: None,
        pruned: None,
        stderr_tail: Vec::new(),
        device: None,
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
    fn a_different_manifest_copy_is_kept_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        write_manifest_copy(d.path(), "one").unwrap();
        write_manifest_copy(d.path(), "one").unwrap();
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "same copy: nothing kept"
        );
        write_manifest_copy(d.path(), "two").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("manifest.toml")).unwrap(),
            "two"
        );
        let kept = d
            .path()
            .join(format!("manifest-{}.toml", &sha256_hex(b"one")[..12]));
        assert_eq!(std::fs::read_to_string(kept).unwrap(), "one");
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("afile"), "").unwrap();
        let e = write_atomic(&d.path().join("afile/sub/b.json"), b"x").unwrap_err();
        assert!(
            e.to_string().contains("afile is a file, not a directory"),
            "{e}"
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
            test_loss: None,
            test_accuracy: Some(0.9),
            seconds: 1.0,
            images_per_sec: 10.0,
            lr: None,
            extra: Default::default(),
        }];
        write_epochs(d.path(), &recs).unwrap();
        assert_eq!(read_epochs(&d.path().join("epochs.csv")).unwrap(), recs);
    }

    #[test]
    fn a_programs_own_metrics_are_columns_after_the_others() {
        let d = tempfile::tempdir().unwrap();
        let rec = |epoch: usize, extra: &[(&str, f64)]| EpochRecord {
            epoch,
            train_loss: 0.5,
            train_accuracy: 0.9,
            val_loss: 0.4,
            val_accuracy: 0.91,
            test_loss: None,
            test_accuracy: None,
            seconds: 1.0,
            images_per_sec: 10.0,
            lr: None,
            extra: extra.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        // Epoch 2 lacks `f1`: an empty cell, read back as absent.
        let recs = vec![
            rec(1, &[("val_f1", 0.5), ("perplexity", 12.25)]),
            rec(2, &[("perplexity", 9.5)]),
        ];
        write_epochs(d.path(), &recs).unwrap();
        let text = std::fs::read_to_string(d.path().join("epochs.csv")).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,seconds,images_per_sec,perplexity,val_f1"
        );
        assert!(text.ends_with("10.0,9.5,\n"), "{text}");
        assert_eq!(read_epochs(&d.path().join("epochs.csv")).unwrap(), recs);
        // Without custom metrics the file is what serde writes, byte for byte.
        let plain = vec![rec(1, &[])];
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&plain[0]).unwrap();
        assert_eq!(epochs_csv(&plain), w.into_inner().unwrap());
        // A custom cell that is not a number names the file, the epoch and the column.
        std::fs::write(d.path().join("epochs.csv"), text.replace("9.5", "much")).unwrap();
        let e = read_epochs(&d.path().join("epochs.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("epochs.csv") && e.contains("epoch 2: `perplexity` = `much`"),
            "{e}"
        );
    }
}
