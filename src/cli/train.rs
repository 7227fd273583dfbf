//! `sweep run` (the supervisor) and `sweep worker` (one run in this process).

use super::*;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The sweep manifest (TOML).
    manifest: PathBuf,
    #[command(flatten)]
    results: ResultsDir,
    /// Directory holding one folder per dataset (mnist/, fashion-mnist/). Looked up before
    /// SWEEP_DATA_DIR and the per-user cache.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Compute devices, comma-separated: cpu; ndarray (--features ndarray); wgpu or wgpu:N, the
    /// default adapter or the N-th discrete GPU (--features wgpu); vulkan or vulkan:N (--features
    /// vulkan); cuda:N (--features cuda); auto: every GPU this build and machine have, else cpu.
    /// Checked before anything is written. Default: [sweep] devices, else cpu.
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<DeviceName>>,
    /// Runs at once on each GPU device (small models leave most of a GPU idle).
    #[arg(value_parser = positive_count, long, default_value_t = 1)]
    per_gpu: usize,
    /// Concurrent runs on the CPU. Default: cores / threads.
    #[arg(value_parser = positive_count, long, short)]
    jobs: Option<usize>,
    /// Threads per CPU run. Default: the cores divided among the runs running at once
    /// (two single-threaded runs outpace one run on two threads; see docs/guide.md, "Parallelism").
    #[arg(value_parser = positive_count, long)]
    threads: Option<usize>,
    /// Train again the runs that failed or diverged last time.
    #[arg(long)]
    retry_failed: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Never download: a missing dataset is an error (by default it is fetched into the
    /// per-user cache, from SWEEP_DATA_MIRROR or the public mirrors, and verified).
    #[arg(long, env = "SWEEP_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The run's run.json.
    run: PathBuf,
    #[arg(long, default_value = "results")]
    results: PathBuf,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: DeviceName,
    /// Report JSON events on stdout and stop when stdin says so or closes.
    #[arg(long)]
    supervised: bool,
    #[arg(long)]
    retry_failed: bool,
    /// Stop after this epoch, keeping the checkpoint (a rung of successive halving); the run
    /// goes on from there when started again with a later epoch or none.
    #[arg(long, value_parser = positive_count)]
    until: Option<usize>,
}

pub(super) fn run(a: RunArgs) -> Result<i32> {
    a.results.writable()?;
    let RunArgs {
        manifest,
        results: ResultsDir { results },
        data_dir,
        devices,
        per_gpu,
        jobs,
        threads,
        retry_failed,
        quiet,
        offline,
    } = a;
    let mut m = manifest::load(&manifest, &crate::data::describe)?;
    // A TPE search: the batches proposed so far (the first before any).
    let sweep_dir = crate::results::store::sweep_dir(&results, &m.sweep.name);
    crate::exec::search::attach(&mut m, &sweep_dir)?;
    let runs = plan::expand(&m)?;
    // What the supervisor will train, from the same planner.
    let unfinished: Vec<&Run> =
        crate::exec::pending::pending(&results, &runs, retry_failed, None, |_| false)?
            .todo
            .iter()
            .map(|&i| &runs[i])
            .collect();
    // A run that cannot fit is refused before anything is fetched or written; one that fits
    // alone waits while others hold the memory (the supervisor's budget).
    let devices = crate::train::backend::resolve(
        &devices
            .or_else(|| m.sweep.devices.clone())
            .unwrap_or_else(|| vec![DeviceName::Cpu]),
    )?;
    let cpu_only = devices.iter().all(DeviceName::is_cpu);
    if cpu_only && let Some(total) = crate::spec::memory::machine_total() {
        refuse_runs_that_cannot_fit(
            &m,
            unfinished.iter().copied(),
            total,
            "this machine's memory",
        )?;
    }
    // The data, downloaded if missing, but only when something is left to train.
    // A TPE search has runs to come when its next batch can be proposed.
    let to_train = !unfinished.is_empty()
        || (m.search.method == crate::spec::grid::Method::Tpe
            && crate::exec::search::advance(&mut m.clone(), &results, false, retry_failed)?
                != crate::exec::search::Stage::Done);
    let data_dir = if to_train && m.sweep.dataset.is_builtin() {
        Some(crate::data::locate_or_fetch(
            &m.sweep.dataset,
            data_dir.as_deref(),
            offline,
            quiet,
        )?)
    } else {
        data_dir
    };
    let jobs = jobs.unwrap_or_else(|| (supervisor::cores() / threads.unwrap_or(1)).max(1));
    let copy = manifest::copy_text(
        &m,
        &crate::results::store::sweep_dir(&results, &m.sweep.name),
    );
    let opts = supervisor::Options {
        results,
        devices,
        jobs,
        threads,
        retry_failed,
        manifest_source: Some(copy),
        per_gpu,
        memory_budget: crate::spec::memory::machine_available(),
        until: None,
        locked: false,
    };
    supervisor::install_interrupt_handler();
    let launch = supervisor::Worker::new(&opts.results, data_dir.as_deref())?;
    let mut display = supervisor::choose_display(quiet);
    let mut sup = supervisor::Supervisor {
        opts: &opts,
        launch: &launch,
        display: display.as_mut(),
        interrupts: &supervisor::interrupts,
    };
    let (runs, outcomes) = match &m.search.halving {
        _ if m.search.method == crate::spec::grid::Method::Tpe => {
            crate::exec::search::run(&mut sup, &m)?
        }
        None => {
            let outcomes = sup.run(&m.sweep.name, &runs)?;
            (runs, outcomes)
        }
        Some(h) => {
            let outcomes = crate::exec::halving::run(&mut sup, &m.sweep.name, &runs, h)?;
            (runs, outcomes)
        }
    };
    report_outcomes(&runs, &outcomes, &opts.results, quiet)
}

pub(super) fn worker(a: WorkerArgs) -> Result<i32> {
    let WorkerArgs {
        run,
        results,
        data_dir,
        device,
        supervised,
        retry_failed,
        until,
    } = a;
    // Started through /proc/self/exe (see the scheduler), the kernel names this process
    // `exe`; name it as what it is, for ps and top. Best effort.
    #[cfg(target_os = "linux")]
    let _ = std::fs::write("/proc/self/comm", "sweep");
    crate::exec::protocol::report_panics();
    let text = std::fs::read(&run).map_err(|source| Error::Read {
        path: run.clone(),
        source,
    })?;
    let run: Run = serde_json::from_slice(&text).map_err(|e| Error::Results {
        path: run.clone(),
        message: format!("not a run description: {e}"),
    })?;
    let stop = worker_stop_flag(supervised);
    let report = if supervised {
        Report::Events
    } else {
        Report::Log
    };
    // A program's run: the program trains (and reads its own data).
    if let Some(program) = &run.program {
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1);
        // {data_dir}: the built-in dataset's folder, as sweep located it.
        let data = match run.data.dataset.is_builtin() {
            true => crate::data::locate(&run.data.dataset, data_dir.as_deref())
                .ok()
                .map(|d| d.join(run.data.dataset.name())),
            false => None,
        };
        let exit = crate::exec::program::work(
            &run,
            program,
            &results,
            &device.to_string(),
            data.as_deref(),
            threads,
            report,
            retry_failed,
            stop,
            until,
        )?;
        return Ok(exit.code());
    }
    let data = crate::data::open(&run.data.dataset, &run.data.digest, data_dir.as_deref())?;
    let device = crate::train::backend::open(&device)?;
    let exit = runner::work(
        &run,
        &results,
        data,
        &device,
        report,
        retry_failed,
        stop,
        until,
    )?;
    if let WorkerExit::Busy(holder) = &exit {
        eprintln!(
            "run {} is being trained by another process ({holder})",
            run.id
        );
    }
    Ok(exit.code())
}

/// Print what happened; exit 1 if any run failed or diverged.
fn report_outcomes(
    runs: &[Run],
    outcomes: &[Outcome],
    results: &std::path::Path,
    quiet: bool,
) -> Result<i32> {
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let failed: Vec<(&Run, RunState)> = runs
        .iter()
        .zip(outcomes)
        .filter_map(|(r, o)| match o {
            Outcome::Finished(s) | Outcome::Skipped(s)
                if !matches!(s, RunState::Done | RunState::Pruned) =>
            {
                Some((r, *s))
            }
            _ => None,
        })
        .collect();
    let interrupted = count(&|o| {
        matches!(
            o,
            Outcome::Interrupted | Outcome::Busy(_) | Outcome::Paused(_)
        )
    });
    if !quiet {
        eprintln!(
            "{} runs: {} trained now, {} finished before, {} failed or diverged, {} not finished",
            runs.len(),
            count(&|o| matches!(o, Outcome::Finished(_))),
            count(&|o| matches!(o, Outcome::Skipped(_))),
            failed.len(),
            interrupted
        );
    }
    if !failed.is_empty() {
        eprintln!("failed or diverged:");
        for (r, s) in &failed {
            // The summary says why (the non-finite loss and where, or the error).
            let why =
                crate::results::store::read_summary(&crate::results::store::run_dir(results, r))
                    .ok()
                    .flatten()
                    .and_then(|s| s.reason)
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default();
            eprintln!("  {} ({}): {}{why}", r.display_label(), r.id, s.name());
        }
        let diverged = failed.iter().any(|(_, s)| *s == RunState::Diverged);
        if failed.iter().any(|(_, s)| *s != RunState::Diverged) {
            eprintln!(
                "`sweep run --retry-failed` trains them again (from the last checkpoint when there is one){}",
                if diverged {
                    ", the diverged ones too"
                } else {
                    ""
                }
            );
        }
        if diverged {
            eprintln!(
                "with the same build and device, training is deterministic: a diverged run \
                 trained again diverges the same way; a smaller learning rate (or a higher \
                 `max_loss`, the divergence bound) changes it"
            );
        }
        return Ok(1);
    }
    if interrupted > 0 {
        return Err(Error::Interrupted);
    }
    Ok(0)
}

/// The worker's stop flag: set by a first Ctrl-C/SIGTERM or a "stop" line on stdin (when
/// supervised); a second signal, or the supervisor going away (stdin closed), exits at once:
/// the last checkpoint resumes.
fn worker_stop_flag(supervised: bool) -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if supervised {
        std::thread::spawn(|| {
            let mut line = String::new();
            loop {
                line.clear();
                match std::io::stdin().read_line(&mut line) {
                    Ok(0) | Err(_) => std::process::exit(crate::exec::protocol::EXIT_INTERRUPTED),
                    Ok(_) if line.trim() == "stop" => STOP.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                }
            }
        });
    }
    &STOP
}
