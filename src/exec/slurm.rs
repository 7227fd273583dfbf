//! Sweeps on a Slurm cluster: `sweep submit` writes one sbatch script per job array over the
//! runs that are not finished yet and submits it; every array task runs exactly one run through
//! `sweep worker`, the same code path as a local sweep, into the shared results directory.
//!
//! No server of our own: the result files are the truth, Slurm's queue (`squeue`) only says
//! what is queued or running. Layout under `results/<sweep>/slurm/`:
//! - `runs/<run-id>.json`: the resolved run a task trains (immutable: the id hashes it);
//! - `jobs/<job-id>/submit.sbatch` and `jobs/<job-id>/tasks.json`: what was submitted;
//! - `logs/<job-id>_<task>.out`: each task's output.

use crate::error::{Error, Result};
use crate::results::store;
use crate::spec::plan::Run;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Slurm's default MaxArraySize is 1001 (task ids 0..=1000); larger sweeps are split.
pub(crate) const DEFAULT_MAX_ARRAY_SIZE: usize = 1000;

/// Options of `sweep submit --backend slurm`.
#[derive(Debug, Clone)]
pub(crate) struct SubmitOptions {
    /// Absolute: tasks run elsewhere.
    pub results: PathBuf,
    /// Absolute directory holding the dataset folder.
    pub data_dir: PathBuf,
    /// Absolute path of the `sweep` binary the tasks run.
    pub binary: PathBuf,
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: usize,
    pub gpus_per_task: Option<usize>,
    /// At most this many tasks of an array at once (`--array=0-N%K`).
    pub array_parallelism: Option<usize>,
    /// Extra `#SBATCH` lines, verbatim (`--account=x`, `--qos=y`, ...).
    pub sbatch_args: Vec<String>,
    pub max_array_size: usize,
    pub retry_failed: bool,
    /// Tasks stop after this epoch (a rung of successive halving).
    pub until: Option<usize>,
}

/// One array task: the run it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Task {
    pub index: usize,
    pub run_id: String,
    pub label: String,
    pub seed: u64,
    /// The epoch the task stops after (a rung of successive halving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<usize>,
}

/// A submitted job array, recorded in `slurm/jobs/<job-id>/tasks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Job {
    pub job_id: String,
    pub sweep: String,
    pub submitted_unix: u64,
    pub tasks: Vec<Task>,
}

/// One job array to submit: its tasks and its script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Array {
    pub tasks: Vec<Task>,
    pub script: String,
}

pub(crate) fn slurm_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("slurm")
}

/// Where task `run`'s description lives for the tasks to read.
pub(crate) fn run_file(sweep_dir: &Path, run_id: &str) -> PathBuf {
    slurm_dir(sweep_dir)
        .join("runs")
        .join(format!("{run_id}.json"))
}

/// Split the runs into arrays of at most `max_array_size` tasks and write their scripts.
pub(crate) fn arrays(sweep: &str, runs: &[&Run], opts: &SubmitOptions) -> Vec<Array> {
    runs.chunks(opts.max_array_size.max(1))
        .map(|chunk| {
            let tasks: Vec<Task> = chunk
                .iter()
                .enumerate()
                .map(|(index, r)| Task {
                    index,
                    run_id: r.id.clone(),
                    label: r.label.clone(),
                    seed: r.seed,
                    until: opts.until,
                })
                .collect();
            let script = script(sweep, &tasks, opts);
            Array { tasks, script }
        })
        .collect()
}

/// The sbatch script of one job array.
pub(crate) fn script(sweep: &str, tasks: &[Task], opts: &SubmitOptions) -> String {
    let sweep_dir = store::sweep_dir(&opts.results, sweep);
    let slurm = slurm_dir(&sweep_dir);
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/bin/env bash");
    let _ = writeln!(
        s,
        "# Slurm job array for sweep `{sweep}`: {} run(s), one per task. Written by `sweep submit`;",
        tasks.len()
    );
    let _ = writeln!(
        s,
        "# submitting again skips finished runs and resumes interrupted ones from their checkpoints."
    );
    let mut array = format!("0-{}", tasks.len().saturating_sub(1));
    if let Some(k) = opts.array_parallelism {
        let _ = write!(array, "%{k}");
    }
    let _ = writeln!(s, "#SBATCH --job-name=sweep-{sweep}");
    let _ = writeln!(s, "#SBATCH --array={array}");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", opts.cpus_per_task);
    if let Some(g) = opts.gpus_per_task {
        let _ = writeln!(s, "#SBATCH --gpus-per-task={g}");
    }
    if let Some(p) = &opts.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &opts.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    let _ = writeln!(
        s,
        "#SBATCH --output={}",
        slurm.join("logs").join("%A_%a.out").display()
    );
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    for a in &opts.sbatch_args {
        let _ = writeln!(s, "#SBATCH {a}");
    }
    let _ = writeln!(s, "set -euo pipefail");
    let _ = writeln!(s);
    let _ = writeln!(s, "sweep={}", q(&opts.binary));
    let _ = writeln!(s, "results={}", q(&opts.results));
    let _ = writeln!(s, "data={}", q(&opts.data_dir));
    let _ = writeln!(s, "runs=(");
    for t in tasks {
        let _ = writeln!(
            s,
            "  {}  # {}: {} seed {}",
            t.run_id, t.index, t.label, t.seed
        );
    }
    let _ = writeln!(s, ")");
    let _ = writeln!(
        s,
        "run={}/\"${{runs[$SLURM_ARRAY_TASK_ID]}}.json\"",
        q(&slurm.join("runs"))
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# The binary, the data and the results must be on a filesystem every node shares."
    );
    let _ = writeln!(s, "for need in \"$sweep\" \"$data\" \"$run\"; do");
    let _ = writeln!(s, "  if [ ! -e \"$need\" ]; then");
    let _ = writeln!(
        s,
        "    echo \"sweep: $need is missing on $(hostname): put the binary, the data and the results directory on a filesystem every node mounts at the same path\" >&2"
    );
    let _ = writeln!(s, "    exit 2");
    let _ = writeln!(s, "  fi");
    let _ = writeln!(s, "done");
    let device = if opts.gpus_per_task.is_some() {
        // Slurm sets CUDA_VISIBLE_DEVICES: the task's GPU is device 0.
        "cuda:0"
    } else {
        "cpu"
    };
    let _ = writeln!(
        s,
        "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"",
        opts.cpus_per_task
    );
    let retry = if opts.retry_failed {
        " --retry-failed"
    } else {
        ""
    };
    let until = opts
        .until
        .map_or(String::new(), |u| format!(" --until {u}"));
    let _ = writeln!(
        s,
        "exec \"$sweep\" worker \"$run\" --results \"$results\" --data-dir \"$data\" --device {device}{retry}{until}"
    );
    s
}

/// `'...'`-quote for bash when needed.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The dry-run listing: every array's script (its `runs=(...)` lists the run each task trains).
/// A single array prints as a script sbatch accepts as is.
pub(crate) fn dry_run_text(arrays: &[Array]) -> String {
    if let [a] = arrays {
        return a.script.clone();
    }
    let mut s = String::new();
    for (i, a) in arrays.iter().enumerate() {
        let _ = writeln!(
            s,
            "# ---- job array {} of {}: {} task(s) ----",
            i + 1,
            arrays.len(),
            a.tasks.len()
        );
        s.push_str(&a.script);
        s.push('\n');
    }
    s
}

/// Write the run descriptions and the log directory, submit every array with sbatch and record
/// each job. When sbatch refuses an array, what was written for it is removed again (arrays
/// submitted before it stay recorded, and the error names them).
pub(crate) fn submit(
    sweep: &str,
    runs: &[&Run],
    arrays: &[Array],
    opts: &SubmitOptions,
) -> Result<Vec<Job>> {
    let sweep_dir = store::sweep_dir(&opts.results, sweep);
    let slurm = slurm_dir(&sweep_dir);
    let sbatch = which("sbatch").ok_or_else(|| Error::Cluster {
        command: "sbatch".into(),
        message: "not found on PATH".into(),
        help: "submit from a machine where Slurm's client commands work (a login node), or see the script with --dry-run".into(),
    })?;
    let mut jobs = Vec::new();
    for (i, a) in arrays.iter().enumerate() {
        let mut created = Vec::new();
        let submitted = submit_one(&sbatch, &sweep_dir, runs, a, &mut created);
        let job_id = match submitted {
            Ok(id) => id,
            Err(e) => {
                for p in created.iter().rev() {
                    let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir(p));
                }
                let Error::Cluster {
                    command,
                    message,
                    help,
                } = e
                else {
                    return Err(e);
                };
                let already = if jobs.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; job array(s) {} were submitted before it and are recorded",
                        jobs.iter()
                            .map(|j: &Job| j.job_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(Error::Cluster {
                    command,
                    message: format!(
                        "job array {} of {}: {message}{already}",
                        i + 1,
                        arrays.len()
                    ),
                    help,
                });
            }
        };
        let job = Job {
            job_id: job_id.clone(),
            sweep: sweep.to_string(),
            submitted_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            tasks: a.tasks.clone(),
        };
        let dir = slurm.join("jobs").join(&job_id);
        store::write_atomic(&dir.join("submit.sbatch"), a.script.as_bytes())?;
        let json = serde_json::to_string_pretty(&job).expect("job serializes") + "\n";
        store::write_atomic(&dir.join("tasks.json"), json.as_bytes())?;
        jobs.push(job);
    }
    Ok(jobs)
}

/// Write what one array's tasks read, then sbatch it; returns the job id. `created` collects
/// the files and directories written, for removal if sbatch refuses.
fn submit_one(
    sbatch: &Path,
    sweep_dir: &Path,
    runs: &[&Run],
    a: &Array,
    created: &mut Vec<PathBuf>,
) -> Result<String> {
    let slurm = slurm_dir(sweep_dir);
    for dir in [slurm.clone(), slurm.join("runs"), slurm.join("logs")] {
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
            created.push(dir);
        }
    }
    for t in &a.tasks {
        let path = run_file(sweep_dir, &t.run_id);
        if path.exists() {
            continue;
        }
        let run = runs
            .iter()
            .find(|r| r.id == t.run_id)
            .expect("task of a pending run");
        let json = serde_json::to_string_pretty(run).expect("run serializes") + "\n";
        store::write_atomic(&path, json.as_bytes())?;
        created.push(path);
    }
    // sbatch keeps its own copy of the script: a temporary file is enough.
    let tmp = tempfile::Builder::new()
        .prefix(".submit-")
        .suffix(".sbatch")
        .tempfile_in(&slurm)
        .map_err(|source| Error::Write {
            path: slurm.clone(),
            source,
        })?;
    std::fs::write(tmp.path(), &a.script).map_err(|source| Error::Write {
        path: tmp.path().to_path_buf(),
        source,
    })?;
    let out = Command::new(sbatch)
        .arg("--parsable")
        .arg(tmp.path())
        .output()
        .map_err(|e| Error::Cluster {
            command: sbatch.display().to_string(),
            message: format!("cannot start: {e}"),
            help: "check that Slurm's client commands work here (`sinfo`)".into(),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // --parsable prints `jobid` or `jobid;cluster`.
    let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if out.status.success() && !job_id.is_empty() && job_id.chars().all(|c| c.is_ascii_digit()) {
        return Ok(job_id);
    }
    Err(Error::Cluster {
        command: "sbatch".into(),
        message: format!(
            "refused the submission: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        help: "fix what Slurm names (--partition, --time, --sbatch-arg=--account=...) and submit again; nothing was submitted or kept for this array".into(),
    })
}

/// The job arrays submitted for a sweep, oldest first.
pub(crate) fn jobs(sweep_dir: &Path) -> Result<Vec<Job>> {
    let dir = slurm_dir(sweep_dir).join("jobs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path().join("tasks.json");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let job: Job = serde_json::from_slice(&bytes).map_err(|e| Error::Results {
            path: path.clone(),
            message: format!("not a job record: {e}"),
        })?;
        out.push(job);
    }
    out.sort_by_key(|j| (j.submitted_unix, j.job_id.parse::<u64>().unwrap_or(0)));
    Ok(out)
}

/// A task's state in Slurm's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueState {
    Queued { job: String },
    Running { job: String },
}

impl QueueState {
    pub(crate) fn job(&self) -> &str {
        match self {
            QueueState::Queued { job } | QueueState::Running { job } => job,
        }
    }
}

/// What Slurm's queue holds of these jobs, by run id. `None` when `squeue` is not available
/// (the result files alone then say where runs stand).
pub(crate) fn queue(jobs: &[Job]) -> Result<Option<HashMap<String, QueueState>>> {
    if jobs.is_empty() {
        return Ok(Some(HashMap::new()));
    }
    let Some(squeue) = which("squeue") else {
        return Ok(None);
    };
    // `--me` and filtering here: `squeue -j` fails outright when one id is already purged.
    let out = Command::new(&squeue)
        .args(["--noheader", "--array", "--me", "--format=%F|%K|%T"])
        .output()
        .map_err(|e| Error::Cluster {
            command: "squeue".into(),
            message: format!("cannot start: {e}"),
            help: "check that Slurm's client commands work here (`sinfo`)".into(),
        })?;
    if !out.status.success() {
        return Err(Error::Cluster {
            command: "squeue".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            help: "is slurmctld reachable? (`sinfo`)".into(),
        });
    }
    Ok(Some(parse_queue(
        &String::from_utf8_lossy(&out.stdout),
        jobs,
    )))
}

/// Parse `squeue --array --format=%F|%K|%T` lines into states of our jobs' runs.
pub(crate) fn parse_queue(text: &str, jobs: &[Job]) -> HashMap<String, QueueState> {
    let by_job: HashMap<&str, &Job> = jobs.iter().map(|j| (j.job_id.as_str(), j)).collect();
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut f = line.trim().split('|');
        let (Some(job), Some(task), Some(state)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(j) = by_job.get(job) else { continue };
        let Ok(index) = task.parse::<usize>() else {
            continue;
        };
        let Some(t) = j.tasks.iter().find(|t| t.index == index) else {
            continue;
        };
        let id = format!("{job}_{index}");
        let s = match state {
            "RUNNING" | "COMPLETING" | "CONFIGURING" | "STAGE_OUT" | "SIGNALING" => {
                QueueState::Running { job: id }
            }
            _ => QueueState::Queued { job: id },
        };
        out.insert(t.run_id.clone(), s);
    }
    out
}

/// `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SubmitOptions {
        SubmitOptions {
            results: "/shared/project/results".into(),
            data_dir: "/shared/data".into(),
            binary: "/shared/bin/sweep".into(),
            partition: Some("cpu".into()),
            time: Some("02:00:00".into()),
            cpus_per_task: 2,
            gpus_per_task: None,
            array_parallelism: Some(8),
            sbatch_args: vec!["--account=ml".into()],
            max_array_size: DEFAULT_MAX_ARRAY_SIZE,
            retry_failed: false,
            until: None,
        }
    }

    fn ci_runs() -> Vec<Run> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/ci.toml");
        let m = crate::spec::manifest::load(&path, &crate::data::describe).unwrap();
        crate::spec::plan::expand(&m).unwrap()
    }

    #[test]
    fn dry_run_script_snapshot() {
        let runs = ci_runs();
        let refs: Vec<&Run> = {
            let mut v: Vec<&Run> = runs.iter().collect();
            v.sort_by_key(|r| std::cmp::Reverse(r.train_flops));
            v
        };
        let arrays = arrays("ci", &refs, &opts());
        assert_eq!(arrays.len(), 1);
        insta::assert_snapshot!(dry_run_text(&arrays));
    }

    #[test]
    fn large_sweeps_are_split_into_arrays_under_the_cap() {
        let runs = ci_runs();
        let refs: Vec<&Run> = runs.iter().collect();
        let o = SubmitOptions {
            max_array_size: 5,
            ..opts()
        };
        let a = arrays("ci", &refs, &o);
        assert_eq!(
            a.iter().map(|a| a.tasks.len()).collect::<Vec<_>>(),
            vec![5, 5, 5, 1]
        );
        assert!(
            a[3].script.contains("#SBATCH --array=0-0%8"),
            "{}",
            a[3].script
        );
        let ids: Vec<_> = a.iter().flat_map(|a| &a.tasks).map(|t| &t.run_id).collect();
        assert_eq!(ids.len(), 16);
    }

    #[test]
    fn gpu_tasks_train_on_the_gpu_slurm_gives_them() {
        let runs = ci_runs();
        let o = SubmitOptions {
            gpus_per_task: Some(1),
            ..opts()
        };
        let s = script(
            "ci",
            &[Task {
                index: 0,
                run_id: runs[0].id.clone(),
                label: "x".into(),
                seed: 0,
                until: None,
            }],
            &o,
        );
        assert!(s.contains("#SBATCH --gpus-per-task=1"));
        assert!(s.contains("--device cuda:0"));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_quote("/plain/path-1.2"), "/plain/path-1.2");
    }

    #[test]
    fn queue_lines_map_to_runs_of_our_jobs_only() {
        let job = Job {
            job_id: "42".into(),
            sweep: "ci".into(),
            submitted_unix: 0,
            tasks: vec![
                Task {
                    index: 0,
                    run_id: "aaa".into(),
                    label: "a".into(),
                    seed: 0,
                    until: None,
                },
                Task {
                    index: 1,
                    run_id: "bbb".into(),
                    label: "b".into(),
                    seed: 0,
                    until: None,
                },
                Task {
                    index: 2,
                    run_id: "ccc".into(),
                    label: "c".into(),
                    seed: 0,
                    until: None,
                },
            ],
        };
        let text = "42|0|RUNNING\n42|2|PENDING\n7|0|RUNNING\n42|N/A|PENDING\n";
        let q = parse_queue(text, &[job]);
        assert_eq!(q.len(), 2);
        assert_eq!(q["aaa"], QueueState::Running { job: "42_0".into() });
        assert_eq!(q["ccc"], QueueState::Queued { job: "42_2".into() });
    }
}
