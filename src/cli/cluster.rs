//! `sweep submit`, `sweep status` and `sweep wait`: sweeps handed to Slurm, and where runs stand.

use super::*;

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The sweep manifest (TOML).
    manifest: PathBuf,
    /// The cluster scheduler.
    #[arg(long, value_enum, default_value = "slurm")]
    backend: Backend,
    #[command(flatten)]
    results: ResultsDir,
    /// Shared directory holding the dataset folder (default: as `sweep run` looks it up).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The `sweep` binary the tasks run (default: this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, in Slurm's format (e.g. 04:00:00). A task that hits it resumes
    /// from its last finished epoch when submitted again.
    #[arg(long)]
    time: Option<String>,
    /// CPU cores per task; also its training threads.
    #[arg(value_parser = positive_count, long, default_value_t = 1)]
    cpus_per_task: usize,
    /// Memory per task, in Slurm's format (4G, 4096M; a bare number is MB): passed as sbatch
    /// --mem, and runs whose estimated peak memory is more are refused before submitting.
    #[arg(long, value_parser = slurm_memory)]
    mem: Option<(String, u64)>,
    /// GPUs per task; tasks then train on the GPU Slurm gives them (needs --features cuda).
    #[arg(value_parser = positive_count, long)]
    gpus_per_task: Option<usize>,
    /// At most K tasks of an array running at once.
    #[arg(value_parser = positive_count, long, value_name = "K")]
    array_parallelism: Option<usize>,
    /// An extra sbatch option, verbatim (repeatable), e.g. --sbatch-arg=--account=ml.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Largest array to submit; bigger sweeps are split (Slurm's MaxArraySize).
    #[arg(value_parser = positive_count, long, default_value_t = crate::exec::slurm::DEFAULT_MAX_ARRAY_SIZE)]
    max_array_size: usize,
    /// Train again the runs that failed or diverged.
    #[arg(long)]
    retry_failed: bool,
    /// Print the script(s) and the runs, submit nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Never download a missing dataset (by default it is fetched before submitting).
    #[arg(long, env = "SWEEP_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The sweep manifest, or its results/<sweep> directory.
    path: PathBuf,
    #[command(flatten)]
    results: ResultsDir,
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// The sweep manifest, or its results/<sweep> directory.
    path: PathBuf,
    #[command(flatten)]
    results: ResultsDir,
    /// Seconds between polls of the queue.
    #[arg(value_parser = positive_seconds, long, default_value_t = 10.0)]
    interval: f64,
    /// Give up after this many seconds (exit 1; the jobs keep running).
    #[arg(value_parser = positive_seconds, long)]
    timeout: Option<f64>,
}

/// `--mem` as Slurm reads it: a number with K, M (the default), G or T.
fn slurm_memory(s: &str) -> std::result::Result<(String, u64), String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "M"),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "`{s}`: use a number with K, M, G or T, e.g. 4G or 4096M"
            ));
        }
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 => Ok((t.to_string(), n << shift)),
        _ => Err(format!(
            "`{s}`: use a number with K, M, G or T, e.g. 4G or 4096M"
        )),
    }
}

pub(super) fn submit(a: SubmitArgs) -> Result<i32> {
    a.results.writable()?;
    let SubmitArgs {
        manifest,
        backend: Backend::Slurm,
        results: ResultsDir { results },
        data_dir,
        binary,
        partition,
        time,
        cpus_per_task,
        mem,
        gpus_per_task,
        array_parallelism,
        mut sbatch_args,
        max_array_size,
        retry_failed,
        dry_run,
        offline,
    } = a;
    let mut m = manifest::load(&manifest, &crate::data::describe)?;
    let results = absolute(&results)?;
    let sweep_dir = crate::results::store::sweep_dir(&results, &m.sweep.name);
    if !tpe_batch(&mut m, &results, &sweep_dir, retry_failed, dry_run)? {
        return Ok(0);
    }
    let runs = plan::expand(&m)?;
    let jobs = crate::exec::slurm::jobs(&sweep_dir)?;
    let queue = match crate::exec::slurm::queue(&jobs) {
        Ok(q) => q.unwrap_or_default(),
        // A dry run shows the script even where Slurm is not reachable.
        Err(_) if dry_run => Default::default(),
        Err(e) => return Err(e),
    };
    let made_before = sweep_dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .last()
        .map(PathBuf::from);
    let Some(pass) = submission(&m, &runs, &results, &queue, retry_failed, dry_run)? else {
        return Ok(0);
    };
    let pending: Vec<&Run> = pass.pending.iter().map(|&i| &pass.candidates[i]).collect();
    let queued = runs.iter().filter(|r| queue.contains_key(&r.id)).count();
    let finished = runs
        .iter()
        .filter(|r| {
            crate::results::store::state(&results, r)
                .is_ok_and(|s| s.is_finished() && !s.needs_training(retry_failed))
        })
        .count();
    if pending.is_empty() {
        eprintln!(
            "nothing to submit: of {} runs of `{}`, {finished} are finished and {queued} queued or running",
            runs.len(),
            m.sweep.name,
        );
        return Ok(0);
    }
    if let Some((text, bytes)) = &mem {
        refuse_runs_that_cannot_fit(&m, pending.iter().copied(), *bytes, "a task's --mem")?;
        sbatch_args.push(format!("--mem={text}"));
    }
    // Fetched here if missing (tasks never download), unless --offline.
    // Tasks map the prepared file under the cache directory (shared by the cluster's nodes, or
    // prepared by each from the built-in dataset's files in --data-dir).
    let data = match m.sweep.dataset.is_builtin() {
        true => {
            crate::data::locate_or_fetch(&m.sweep.dataset, data_dir.as_deref(), offline, false)?
        }
        false => crate::data::prepared_dir(),
    };
    let dir = m.sweep.dataset.is_builtin().then_some(data.as_path());
    crate::data::open_verified(&m.sweep.dataset, &m.data.digest, dir)?;
    let opts = crate::exec::slurm::SubmitOptions {
        results: results.clone(),
        data_dir: absolute(&data)?,
        binary: submitted_binary(binary)?,
        partition,
        time,
        cpus_per_task: cpus_per_task.max(1),
        gpus_per_task,
        array_parallelism,
        sbatch_args,
        max_array_size,
        retry_failed,
        until: pass.until,
    };
    let arrays = crate::exec::slurm::arrays(&m.sweep.name, &pending, &opts);
    let what = format!(
        "{} run(s) in {} job array(s); {finished} finished, {queued} queued or running{}",
        pending.len(),
        arrays.len(),
        pass.note
    );
    if dry_run {
        emit(&crate::exec::slurm::dry_run_text(&arrays));
        eprintln!("dry run: would submit {what}");
        return Ok(0);
    }
    let jobs = send(&m, &sweep_dir, made_before, &pending, &arrays, &opts)?;
    for j in &jobs {
        emit(&format!("{}\n", j.job_id));
    }
    eprintln!(
        "submitted {what}: job(s) {}\nfollow with `sweep status {p}` or `sweep wait {p}`; logs in {}",
        jobs.iter()
            .map(|j| j.job_id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        crate::exec::slurm::slurm_dir(&sweep_dir)
            .join("logs")
            .display(),
        p = manifest.display(),
    );
    Ok(0)
}

/// What one `sweep submit` sends: the candidate runs (the current rung's under successive
/// halving, else all), the indices of those left to train and not queued (longest first), the
/// epoch tasks stop at, and a note on the rung.
struct Submission {
    candidates: Vec<Run>,
    pending: Vec<usize>,
    until: Option<usize>,
    note: String,
}

/// The runs to submit, from the planner every executor shares ([`crate::exec::pending`]);
/// `None` when there is nothing to submit (said why).
fn submission(
    m: &Manifest,
    runs: &[Run],
    results: &std::path::Path,
    queue: &std::collections::HashMap<String, crate::exec::slurm::QueueState>,
    retry_failed: bool,
    dry_run: bool,
) -> Result<Option<Submission>> {
    let mut pass = Submission {
        candidates: runs.to_vec(),
        pending: Vec::new(),
        until: None,
        note: String::new(),
    };
    if let Some(h) = &m.search.halving {
        let Some((rung, epoch, todo)) =
            halving_rung(m, runs, results, queue, h, retry_failed, dry_run)?
        else {
            return Ok(None);
        };
        pass.until = (epoch < h.last()).then_some(epoch);
        pass.note = format!(
            "; successive halving rung {rung} of {}: to epoch {epoch}, then `sweep submit` again decides it and submits the next",
            h.rungs.len()
        );
        pass.candidates = todo.iter().map(|&i| runs[i].clone()).collect();
    }
    pass.pending =
        crate::exec::pending::pending(results, &pass.candidates, retry_failed, pass.until, |r| {
            queue.contains_key(&r.id)
        })?
        .todo;
    Ok(Some(pass))
}

/// Successive halving: the current rung's runs, once the rungs before it are decided (decided
/// here, under the sweep's lock, when their runs have all finished). `None` when there is
/// nothing to submit (said why).
#[allow(clippy::type_complexity)]
fn halving_rung(
    m: &Manifest,
    runs: &[Run],
    results: &std::path::Path,
    queue: &std::collections::HashMap<String, crate::exec::slurm::QueueState>,
    h: &crate::spec::grid::Halving,
    retry_failed: bool,
    dry_run: bool,
) -> Result<Option<(usize, usize, Vec<usize>)>> {
    use crate::exec::halving::{self, Stage};
    let sweep_dir = crate::results::store::sweep_dir(results, &m.sweep.name);
    let dry = dry_run || !sweep_dir.exists();
    let (stage, _) = if dry {
        halving::advance(results, &m.sweep.name, runs, h, true, retry_failed)?
    } else {
        let _lock = crate::exec::supervisor::lock_sweep(&sweep_dir, "sweep submit")?;
        halving::advance(results, &m.sweep.name, runs, h, false, retry_failed)?
    };
    match stage {
        Stage::Done => {
            eprintln!(
                "nothing to submit: successive halving of `{}` is done (its decisions are in {})",
                m.sweep.name,
                halving::path(&sweep_dir).display()
            );
            Ok(None)
        }
        Stage::Blocked(why) => Err(Error::Usage(format!(
            "successive halving cannot go on: {why}"
        ))),
        Stage::Train {
            rung,
            epoch,
            runs: todo,
        } => {
            let queued_here = todo
                .iter()
                .filter(|&&i| queue.contains_key(&runs[i].id))
                .count();
            if queued_here == todo.len() {
                eprintln!(
                    "nothing to submit: the {} run(s) of rung {rung} (epoch {epoch}) are queued or running; submit again once they finish to decide rung {rung} and submit the next",
                    todo.len()
                );
                return Ok(None);
            }
            Ok(Some((rung, epoch, todo)))
        }
    }
}

/// A TPE search: propose its next batch when every run of the batches before has finished
/// (under the sweep's lock, written to search.json), and give `m` every batch proposed so far.
/// `false` when there is nothing to submit (said why). Other searches: `true`.
fn tpe_batch(
    m: &mut Manifest,
    results: &std::path::Path,
    sweep_dir: &std::path::Path,
    retry_failed: bool,
    dry_run: bool,
) -> Result<bool> {
    use crate::exec::search::{self, Stage};
    if m.search.method != crate::spec::grid::Method::Tpe {
        return Ok(true);
    }
    // Before the first submission nothing is written: the first batch is the plan's.
    let stage = if dry_run || !sweep_dir.exists() {
        search::advance(m, results, false, retry_failed)?
    } else {
        let _lock = crate::exec::supervisor::lock_sweep(sweep_dir, "sweep submit")?;
        search::advance(m, results, true, retry_failed)?
    };
    match stage {
        Stage::Train => Ok(true),
        Stage::Done => {
            eprintln!(
                "nothing to submit: the TPE search of `{}` is done (its batches are in {})",
                m.sweep.name,
                search::path(sweep_dir).display()
            );
            Ok(false)
        }
        Stage::Waiting(why) => Err(Error::Usage(format!("the TPE search cannot go on: {why}"))),
    }
}

/// The binary tasks run: `--binary`, else this one.
fn submitted_binary(binary: Option<PathBuf>) -> Result<PathBuf> {
    let binary = match binary {
        Some(b) => absolute(&b)?,
        None => std::env::current_exe().map_err(|e| {
            Error::Usage(format!("cannot find this executable ({e}); pass --binary"))
        })?,
    };
    if !binary.is_file() {
        return Err(Error::Usage(format!(
            "--binary {}: no such file; build it (cargo build --release) and pass its path on the shared filesystem",
            binary.display()
        )));
    }
    Ok(binary)
}

/// Submit the arrays under the sweep's lock and keep the manifest's copy. A refused first
/// submission leaves no trace: the directories made for it (from `made`) are removed.
fn send(
    m: &Manifest,
    sweep_dir: &std::path::Path,
    made: Option<PathBuf>,
    pending: &[&Run],
    arrays: &[crate::exec::slurm::Array],
    opts: &crate::exec::slurm::SubmitOptions,
) -> Result<Vec<crate::exec::slurm::Job>> {
    let submitted = (|| {
        let _lock = match crate::results::lock::try_lock(&sweep_dir.join(".lock"), "sweep submit")?
        {
            Ok(l) => l,
            Err(holder) => {
                return Err(Error::Results {
                    path: sweep_dir.to_path_buf(),
                    message: format!(
                        "is in use ({holder}); wait for it to finish, then submit again"
                    ),
                });
            }
        };
        let jobs = crate::exec::slurm::submit(&m.sweep.name, pending, arrays, opts)?;
        crate::results::store::write_manifest_copy(
            sweep_dir,
            &crate::spec::manifest::copy_text(m, sweep_dir),
        )?;
        Ok(jobs)
    })();
    if submitted.is_err()
        && let Some(d) = made.filter(|_| !sweep_dir.join("slurm/jobs").exists())
    {
        let _ = std::fs::remove_dir_all(d);
    }
    submitted
}

pub(super) fn status(a: StatusArgs) -> Result<i32> {
    let StatusArgs {
        path,
        results: ResultsDir { results },
    } = a;
    let (mut m, dir) = crate::exec::status::resolve(&path, &results)?;
    let search = crate::exec::search::attach(&mut m, &dir)?;
    let runs = plan::expand(&m)?;
    let queue = crate::exec::slurm::queue(&crate::exec::slurm::jobs(&dir)?)?;
    let rows = crate::exec::status::collect(&runs, &dir, queue.as_ref())?;
    emit(&crate::exec::status::render(&m.sweep.name, &rows));
    if let Some(h) = &m.search.halving {
        let d = crate::exec::halving::read_for(&dir, h)?;
        emit(&crate::exec::status::halving(h, d.as_ref(), &rows));
    }
    if m.search.method == crate::spec::grid::Method::Tpe {
        emit(&crate::exec::status::search(&m.search, search.as_ref()));
    }
    crate::train::conv::isa::init().map_err(|e| Error::Usage(e.to_string()))?;
    let cores = supervisor::cores();
    let left = crate::exec::status::remaining(&runs, &rows, cores, 1);
    emit(&left.line(m.search.halving.is_some()));
    for (d, problem) in crate::exec::status::strays(&runs, &dir)? {
        emit(&format!(
            "corrupt {} (not a run of this manifest): {problem}\n",
            d.display()
        ));
    }
    if queue.is_none() && dir.join("slurm").is_dir() {
        eprintln!(
            "note: squeue not found; queued and running Slurm tasks show as not started or incomplete"
        );
    }
    Ok(0)
}

pub(super) fn wait(a: WaitArgs) -> Result<i32> {
    let WaitArgs {
        path,
        results: ResultsDir { results },
        interval,
        timeout,
    } = a;
    wait_for_jobs(&path, &results, interval, timeout)
}

/// `sweep wait`: poll the queue until none of the sweep's jobs is in it.
fn wait_for_jobs(
    path: &std::path::Path,
    results: &std::path::Path,
    interval: f64,
    timeout: Option<f64>,
) -> Result<i32> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let (mut m, dir) = crate::exec::status::resolve(path, results)?;
    crate::exec::search::attach(&mut m, &dir)?;
    let runs = plan::expand(&m)?;
    let jobs = crate::exec::slurm::jobs(&dir)?;
    if jobs.is_empty() {
        eprintln!(
            "no Slurm jobs recorded for sweep `{}` under {}: nothing to wait for (`sweep submit` first)",
            m.sweep.name,
            dir.display()
        );
    }
    let started = std::time::Instant::now();
    let bar = ProgressBar::with_draw_target(
        Some(runs.len() as u64),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {pos}/{len} done, {msg} ({elapsed})",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("sweep {}", m.sweep.name));
    let rows = loop {
        let queue = crate::exec::slurm::queue(&jobs)?.ok_or_else(|| Error::Cluster {
            command: "squeue".into(),
            message: "not found on PATH".into(),
            help: "wait from a machine where Slurm's client commands work, or use `sweep status`"
                .into(),
        })?;
        let rows = crate::exec::status::collect(&runs, &dir, Some(&queue))?;
        let count =
            |s: crate::results::store::RunState| rows.iter().filter(|r| r.state == s).count();
        bar.set_position(
            (count(crate::results::store::RunState::Done)
                + count(crate::results::store::RunState::Pruned)) as u64,
        );
        bar.set_message(format!(
            "{} running, {} queued",
            count(crate::results::store::RunState::Running),
            count(crate::results::store::RunState::Queued)
        ));
        if queue.is_empty() {
            break rows;
        }
        if timeout.is_some_and(|t| started.elapsed().as_secs_f64() >= t) {
            bar.abandon();
            eprintln!(
                "timed out after {:.0}s; the jobs keep running: {}",
                started.elapsed().as_secs_f64(),
                crate::exec::status::summary(&rows)
            );
            return Ok(1);
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(interval.max(0.1)));
    };
    bar.finish_and_clear();
    emit(&crate::exec::status::render(&m.sweep.name, &rows));
    crate::train::conv::isa::init().map_err(|e| Error::Usage(e.to_string()))?;
    let cores = supervisor::cores();
    emit(&crate::exec::status::remaining(&runs, &rows, cores, 1).line(false));
    // Each submitted run, with the epoch its latest task stopped after (a halving rung).
    let mut ordered: Vec<&crate::exec::slurm::Job> = jobs.iter().collect();
    ordered.sort_by_key(|j| (j.submitted_unix, j.job_id.parse::<u64>().unwrap_or(0)));
    let submitted: std::collections::HashMap<&str, Option<usize>> = ordered
        .iter()
        .flat_map(|j| j.tasks.iter().map(|t| (t.run_id.as_str(), t.until)))
        .collect();
    let unfinished: Vec<_> = rows
        .iter()
        .filter(|r| {
            use crate::results::store::RunState;
            match submitted.get(r.id.as_str()) {
                None => false,
                Some(_) if matches!(r.state, RunState::Done | RunState::Pruned) => false,
                Some(Some(u)) => r.epochs_done < *u,
                Some(None) => true,
            }
        })
        .collect();
    if let Some(h) = &m.search.halving {
        let d = crate::exec::halving::read_for(&dir, h)?;
        emit(&crate::exec::status::halving(h, d.as_ref(), &rows));
        let decided = d.as_ref().map_or(0, |d| d.decided.len());
        if unfinished.is_empty() && decided + 1 < h.rungs.len() {
            eprintln!(
                "rung {} has trained: `sweep submit` again decides it and submits rung {}",
                decided + 1,
                decided + 2
            );
        }
    }
    if unfinished.is_empty() {
        return Ok(0);
    }
    eprintln!("not done after their jobs left the queue:");
    for r in &unfinished {
        eprintln!(
            "  {} seed {} ({}): {}",
            r.label,
            r.seed,
            r.id,
            r.state.name()
        );
    }
    eprintln!(
        "their logs are in {}; `sweep submit` again resumes unfinished runs (--retry-failed retrains failed ones)",
        crate::exec::slurm::slurm_dir(&dir).join("logs").display()
    );
    Ok(1)
}

/// `path` made absolute against the current directory (it need not exist).
fn absolute(path: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}
