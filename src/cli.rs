//! Command-line interface: argument parsing and the commands' top level.

use crate::error::{Error, Result};
use crate::exec::runner::{self, Report, WorkerExit};
use crate::exec::scheduler::{self, Outcome};
use crate::results::store::RunState;
use crate::spec::manifest::{self, Dataset, Manifest};
use crate::spec::plan::{self, Run};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tabled::Tabled;

/// Declarative, resumable sweeps of neural-network trainings, reported as tables you can trust.
///
/// A TOML manifest declares the models, optimizers and grid; `sweep` expands it into runs,
/// trains each with burn, stores every finished run under results/, and skips finished runs
/// when run again.
#[derive(Debug, Parser)]
#[command(
    name = "sweep",
    version,
    propagate_version = true,
    after_help = "\
Examples:
  sweep plan experiments/paper.toml          list the runs a manifest expands to
  sweep models                               summaries of the built-in models
  sweep run experiments/ci.toml              train every unfinished run
  sweep data fetch mnist                     download and verify MNIST
  sweep submit experiments/paper.toml        send the sweep to Slurm as a job array

Exit codes: 0 ok, 1 some run failed or diverged, 2 usage or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the runs a manifest expands to, with totals (runs, epochs, estimated FLOPs).
    Plan {
        /// The sweep manifest (TOML).
        manifest: PathBuf,
        #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
        format: PlanFormat,
    },
    /// Keras-style summaries of the built-in models and those a manifest declares.
    Models {
        /// A manifest whose own models are listed after the built-ins.
        manifest: Option<PathBuf>,
    },
    /// Train every run of a manifest that is not finished yet; results go to RESULTS/<sweep>/.
    ///
    /// Runs execute in parallel, each in its own process, longest first. Finished runs are
    /// skipped; a run interrupted mid-way resumes from its last completed epoch. Ctrl-C once:
    /// stop after the current epochs; twice: stop now.
    Run {
        /// The sweep manifest (TOML).
        manifest: PathBuf,
        /// Where results are written.
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results: PathBuf,
        /// Directory holding one folder per dataset (mnist/, fashion-mnist/). Looked up before
        /// SWEEP_DATA_DIR and the per-user cache.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Compute devices, comma-separated: cpu, or cuda:0,cuda:1,... (one run per GPU at a
        /// time; needs a build with --features cuda). Default: [sweep] devices, else cpu.
        #[arg(long, value_delimiter = ',')]
        devices: Option<Vec<String>>,
        /// Concurrent runs on the CPU. Default: cores / threads.
        #[arg(value_parser = positive_count, long, short)]
        jobs: Option<usize>,
        /// Threads per CPU run. Default: the cores divided among the runs running at once
        /// (two single-threaded runs outpace one run on two threads; see README "Parallelism").
        #[arg(value_parser = positive_count, long)]
        threads: Option<usize>,
        /// Train again the runs that failed or diverged last time.
        #[arg(long)]
        retry_failed: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Send the unfinished runs of a manifest to a cluster scheduler (Slurm) as a job array.
    ///
    /// Writes an sbatch script whose every task trains one run into the shared results
    /// directory, through the same worker a local sweep uses, and submits it. Finished runs and
    /// runs already queued or running are left out; interrupted runs resume from their
    /// checkpoints. The binary, the data directory and the results directory must be on a
    /// filesystem every node mounts at the same path.
    #[command(after_help = "\
Examples:
  sweep submit experiments/paper.toml --dry-run                 print the script, submit nothing
  sweep submit experiments/paper.toml --partition cpu --time 04:00:00 --cpus-per-task 2
  sweep submit experiments/paper.toml --gpus-per-task 1 --sbatch-arg=--account=ml
  sweep status experiments/paper.toml                           done / running / queued / failed
  sweep wait experiments/paper.toml                             block until the arrays are done")]
    Submit {
        /// The sweep manifest (TOML).
        manifest: PathBuf,
        /// The cluster scheduler.
        #[arg(long, value_enum, default_value = "slurm")]
        backend: Backend,
        /// Shared results directory (made absolute for the tasks).
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results: PathBuf,
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
    },
    /// Where every run of a sweep stands: done, running, queued (Slurm), incomplete, failed.
    Status {
        /// The sweep manifest, or its results/<sweep> directory.
        path: PathBuf,
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results: PathBuf,
    },
    /// Block until the sweep's Slurm job arrays have left the queue, with a progress bar.
    ///
    /// Exit 0 when every submitted run is done, 1 when some failed, diverged or stopped
    /// unfinished (submit again to resume them).
    Wait {
        /// The sweep manifest, or its results/<sweep> directory.
        path: PathBuf,
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results: PathBuf,
        /// Seconds between polls of the queue.
        #[arg(value_parser = positive_seconds, long, default_value_t = 10.0)]
        interval: f64,
        /// Give up after this many seconds (exit 1; the jobs keep running).
        #[arg(value_parser = positive_seconds, long)]
        timeout: Option<f64>,
    },
    /// Train one run in this process (what `sweep run` starts per run, and Slurm tasks run).
    #[command(hide = true)]
    Worker {
        /// The run's run.json.
        run: PathBuf,
        #[arg(long, default_value = "results")]
        results: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Report JSON events on stdout and stop when stdin says so or closes.
        #[arg(long)]
        supervised: bool,
        #[arg(long)]
        retry_failed: bool,
    },
    /// Tables from results: runs, mean ± std over seeds, ranking, the manifest's comparisons.
    ///
    /// Each PATH is a results/<sweep> directory, a directory of sweeps, or a manifest (default:
    /// every sweep under --results). Works while a sweep is still running.
    #[command(
        after_help = "Examples:\n  sweep report                                   every sweep under results/\n  sweep report results/paper --format markdown --out results/paper/report.md\n  sweep report results/paper results/paper-seeds --across --rank-by test_accuracy"
    )]
    Report {
        /// Sweeps to report (default: every sweep under --results).
        paths: Vec<PathBuf>,
        /// Instead of each sweep's tables: the configurations of all the sweeps given side by
        /// side (values with their published references, and ranks), by --rank-by.
        #[arg(long)]
        across: bool,
        /// Output format (default: table on a terminal, markdown otherwise).
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Write to FILE instead of stdout. With markdown, plots go to plots/ beside it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Metric the ranking table orders by.
        #[arg(long, value_enum, default_value = "val_accuracy")]
        rank_by: crate::results::report::Metric,
        /// Instead of tables: the tidy per-epoch CSV (one row per run x epoch).
        #[arg(long)]
        epochs: bool,
        /// Write learning-curve SVGs to DIR (default with --out and markdown: plots/ beside it).
        #[arg(long)]
        plots: Option<PathBuf>,
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results: PathBuf,
    },
    /// Gate on regressions: compare a sweep's final metrics with a committed baseline.
    ///
    /// Exit 0 when nothing regressed, 1 when a configuration regressed beyond the tolerance
    /// (or max(tolerance, k x seed std)) or is missing, 2 on usage or input errors.
    #[command(
        after_help = "Examples:\n  sweep check results/ci --save-baseline results/ci/baseline.json\n  sweep check target/ci-results/ci --baseline results/ci/baseline.json --format markdown"
    )]
    Check {
        /// A results/<sweep> directory, or the sweep's manifest.
        results: PathBuf,
        /// The baseline file (or a directory holding baseline.json).
        #[arg(long, required_unless_present = "save_baseline")]
        baseline: Option<PathBuf>,
        /// Write a baseline from these results to FILE instead of checking.
        #[arg(long, conflicts_with = "baseline")]
        save_baseline: Option<PathBuf>,
        /// Allowed accuracy drop, in percentage points.
        #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_TOLERANCE_PP)]
        tolerance: f64,
        /// Allowed loss increase, in loss units.
        #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_LOSS_TOLERANCE)]
        loss_tolerance: f64,
        /// With seed repeats, a change within k x the baseline's std is noise too.
        #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_K)]
        k: f64,
        /// Metrics to gate on (repeatable). Default: val_accuracy.
        #[arg(long = "metric", value_enum)]
        metrics: Vec<crate::results::report::Metric>,
        /// Output format (default: table on a terminal, markdown otherwise).
        #[arg(long, value_enum)]
        format: Option<CheckFormat>,
        /// Where a manifest's results live.
        #[arg(long, default_value = "results", env = "SWEEP_RESULTS")]
        results_dir: PathBuf,
    },
    /// Benchmarks that write their figures to CSV under results/bench/.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Datasets: download and verify.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Render a report over synthetic runs (default 10,000 runs x 50 epochs) and time it.
    Report {
        #[arg(value_parser = positive_count, long, default_value_t = 5_000)]
        configs: usize,
        #[arg(value_parser = positive_count, long, default_value_t = 2)]
        seeds: usize,
        #[arg(value_parser = positive_count, long, default_value_t = 50)]
        epochs: usize,
        #[arg(value_parser = positive_count, long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value = "results/bench/report.csv")]
        out: PathBuf,
    },
    /// Forward and backward time of each convolution layer of the built-in models at batch
    /// 32, on 1 and on 2 threads: each of our methods that applies (Winograd, implicit GEMM,
    /// im2col + GEMM; training uses the first) against burn's flex conv. The backward pass
    /// skips the input gradient of a model's first layer, as training does.
    Conv {
        #[arg(value_parser = positive_count, long, default_value_t = 32)]
        batch: usize,
        #[arg(value_parser = positive_count, long, default_value_t = 9)]
        repeats: usize,
        /// Thread counts to measure, comma-separated.
        #[arg(value_parser = positive_count, long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        #[arg(long, default_value = "results/bench/conv.csv")]
        out: PathBuf,
    },
    /// The kernel paths this CPU can run, best first, one per line (the first is the default;
    /// `SWEEP_ISA=<path>` forces another), and the CPU model on standard error.
    Isa,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a dataset from its public mirrors and verify its SHA-256 digests.
    Fetch {
        /// mnist or fashion-mnist.
        dataset: String,
        /// Directory to download into (default: the per-user cache).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Base URL serving the four `<file>.gz` files, instead of the public mirrors.
        #[arg(long, env = "SWEEP_DATA_MIRROR")]
        mirror: Option<String>,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the directory a dataset is read from, after verifying it.
    Path {
        dataset: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Slurm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Markdown,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
}

/// Run the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    if matches!(
        cli.command,
        Command::Run { .. } | Command::Worker { .. } | Command::Bench { .. }
    ) {
        // A bad SWEEP_ISA is a usage error here, before any run starts.
        crate::train::conv::isa::init().map_err(|e| Error::Usage(e.to_string()))?;
    }
    match cli.command {
        Command::Plan { manifest, format } => {
            let m = manifest::load(&manifest)?;
            let runs = plan::expand(&m)?;
            match format {
                PlanFormat::Table => emit(&plan_table(&m, &runs)),
                PlanFormat::Json => {
                    // Streamed: a million runs are ~900 MB of JSON, never held in memory twice.
                    #[derive(serde::Serialize)]
                    struct PlanJson<'a> {
                        sweep: &'a str,
                        runs: &'a [plan::Run],
                        totals: plan::Totals,
                    }
                    use std::io::Write;
                    let mut w =
                        std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                    let written = serde_json::to_writer_pretty(
                        &mut w,
                        &PlanJson {
                            sweep: &m.sweep.name,
                            runs: &runs,
                            totals: plan::totals(&runs),
                        },
                    )
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(w))
                    .and_then(|()| w.flush());
                    match written {
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                        Err(e) => {
                            return Err(Error::Usage(format!("cannot write to stdout: {e}")));
                        }
                        Ok(()) => {}
                    }
                }
            }
            Ok(0)
        }
        Command::Models { manifest } => {
            let models = match manifest {
                Some(p) => manifest::load(&p)?.models,
                None => manifest::builtin_models(),
            };
            for (i, m) in models.iter().enumerate() {
                if i > 0 {
                    emit("\n");
                }
                if let Some(d) = &m.description {
                    emit(&format!("{d}\n"));
                }
                emit(&crate::spec::arch::summary(&m.name, &m.layers, &m.infos));
            }
            Ok(0)
        }
        Command::Run {
            manifest,
            results,
            data_dir,
            devices,
            jobs,
            threads,
            retry_failed,
            quiet,
        } => {
            let m = manifest::load(&manifest)?;
            let runs = plan::expand(&m)?;
            let devices = devices
                .or_else(|| m.sweep.devices.clone())
                .unwrap_or_else(|| vec!["cpu".into()]);
            for d in &devices {
                crate::train::backend::device(d)?;
            }
            let jobs = jobs.unwrap_or_else(|| (scheduler::cores() / threads.unwrap_or(1)).max(1));
            let opts = scheduler::Options {
                results,
                data_dir,
                devices,
                jobs,
                threads,
                retry_failed,
                quiet,
                manifest_source: Some(m.source.clone()),
            };
            let outcomes = scheduler::run(&m.sweep.name, &runs, &opts)?;
            report_outcomes(&runs, &outcomes, quiet)
        }
        Command::Submit {
            manifest,
            backend: Backend::Slurm,
            results,
            data_dir,
            binary,
            partition,
            time,
            cpus_per_task,
            gpus_per_task,
            array_parallelism,
            sbatch_args,
            max_array_size,
            retry_failed,
            dry_run,
        } => {
            let m = manifest::load(&manifest)?;
            let runs = plan::expand(&m)?;
            let results = absolute(&results)?;
            let sweep_dir = crate::results::store::sweep_dir(&results, &m.sweep.name);
            let jobs = crate::exec::slurm::jobs(&sweep_dir)?;
            let queue = match crate::exec::slurm::queue(&jobs) {
                Ok(q) => q.unwrap_or_default(),
                // A dry run shows the script even where Slurm is not reachable.
                Err(_) if dry_run => Default::default(),
                Err(e) => return Err(e),
            };
            let pending = crate::exec::slurm::pending(&runs, &results, retry_failed, &queue)?;
            let queued = runs.iter().filter(|r| queue.contains_key(&r.id)).count();
            let finished = runs.len() - pending.len() - queued;
            if pending.is_empty() {
                eprintln!(
                    "nothing to submit: of {} runs of `{}`, {finished} are finished and {queued} queued or running",
                    runs.len(),
                    m.sweep.name,
                );
                return Ok(0);
            }
            let data = crate::data::locate(m.sweep.dataset, data_dir.as_deref())?;
            crate::data::load(m.sweep.dataset, &data)?;
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
            let opts = crate::exec::slurm::SubmitOptions {
                results: results.clone(),
                data_dir: absolute(&data)?,
                binary,
                partition,
                time,
                cpus_per_task: cpus_per_task.max(1),
                gpus_per_task,
                array_parallelism,
                sbatch_args,
                max_array_size,
                retry_failed,
            };
            let arrays = crate::exec::slurm::arrays(&m.sweep.name, &pending, &opts);
            let what = format!(
                "{} run(s) in {} job array(s); {finished} finished, {queued} queued or running",
                pending.len(),
                arrays.len(),
            );
            if dry_run {
                emit(&crate::exec::slurm::dry_run_text(&arrays));
                eprintln!("dry run: would submit {what}");
                return Ok(0);
            }
            // A refused first submission leaves no trace: remove the directories made here.
            let made = sweep_dir
                .ancestors()
                .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
                .last()
                .map(PathBuf::from);
            let submitted = (|| {
                let _lock =
                    match crate::results::lock::try_lock(&sweep_dir.join(".lock"), "sweep submit")?
                    {
                        Ok(l) => l,
                        Err(holder) => {
                            return Err(Error::Results {
                                path: sweep_dir.clone(),
                                message: format!(
                                    "is in use ({holder}); wait for it to finish, then submit again"
                                ),
                            });
                        }
                    };
                let jobs = crate::exec::slurm::submit(&m.sweep.name, &pending, &arrays, &opts)?;
                crate::results::store::write_atomic(
                    &sweep_dir.join("manifest.toml"),
                    m.source.as_bytes(),
                )?;
                Ok(jobs)
            })();
            let jobs = match submitted {
                Ok(j) => j,
                Err(e) => {
                    if let Some(d) = made.filter(|_| !sweep_dir.join("slurm/jobs").exists()) {
                        let _ = std::fs::remove_dir_all(d);
                    }
                    return Err(e);
                }
            };
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
        Command::Status { path, results } => {
            let (m, dir) = crate::exec::status::resolve(&path, &results)?;
            let runs = plan::expand(&m)?;
            let queue = crate::exec::slurm::queue(&crate::exec::slurm::jobs(&dir)?)?;
            let rows = crate::exec::status::collect(&runs, &dir, queue.as_ref())?;
            emit(&crate::exec::status::render(&m.sweep.name, &rows));
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
        Command::Wait {
            path,
            results,
            interval,
            timeout,
        } => wait(&path, &results, interval, timeout),
        Command::Worker {
            run,
            results,
            data_dir,
            device,
            supervised,
            retry_failed,
        } => {
            // Started through /proc/self/exe (see the scheduler), the kernel names this process
            // `exe`; name it as what it is, for ps and top. Best effort.
            #[cfg(target_os = "linux")]
            let _ = std::fs::write("/proc/self/comm", "sweep");
            crate::exec::runner::report_panics();
            let text = std::fs::read(&run).map_err(|source| Error::Read {
                path: run.clone(),
                source,
            })?;
            let run: Run = serde_json::from_slice(&text).map_err(|e| Error::Results {
                path: run.clone(),
                message: format!("not a run description: {e}"),
            })?;
            let stop = worker_stop_flag(supervised);
            let dir = crate::data::locate(run.data.dataset, data_dir.as_deref())?;
            let data = crate::data::load(run.data.dataset, &dir)?;
            let device = crate::train::backend::device(&device)?;
            let report = if supervised {
                Report::Events
            } else {
                Report::Log
            };
            let exit = runner::work(&run, &results, &data, &device, report, retry_failed, stop)?;
            if let WorkerExit::Busy(holder) = &exit {
                eprintln!(
                    "run {} is being trained by another process ({holder})",
                    run.id
                );
            }
            Ok(exit.code())
        }
        Command::Report {
            paths,
            across,
            format,
            out,
            rank_by,
            epochs,
            plots,
            results,
        } => {
            let targets = if paths.is_empty() {
                crate::results::report::resolve_targets(None, &results)?
            } else {
                let mut t = Vec::new();
                for p in &paths {
                    t.extend(crate::results::report::resolve_targets(Some(p), &results)?);
                }
                t
            };
            if across && (epochs || matches!(format, Some(ReportFormat::Csv | ReportFormat::Json)))
            {
                return Err(Error::Usage(
                    "--across renders tables: use --format table or markdown, without --epochs"
                        .into(),
                ));
            }
            let mut across_reports = Vec::new();
            let format = format.unwrap_or(if out.is_none() && std::io::stdout().is_terminal() {
                ReportFormat::Table
            } else {
                ReportFormat::Markdown
            });
            let mut text = String::new();
            let mut json = Vec::new();
            for (i, (name, dir, cfg)) in targets.iter().enumerate() {
                let loaded = crate::results::report::load_sweep(dir)?;
                if epochs {
                    let rows = crate::results::report::epoch_rows(name, &loaded);
                    let csv = crate::results::report::csv::render_epochs(&rows);
                    text.push_str(if i == 0 {
                        &csv
                    } else {
                        csv.split_once('\n').map_or("", |x| x.1)
                    });
                    continue;
                }
                let mut report = crate::results::report::build(name, &loaded, cfg, rank_by)?;
                let plots_dir = plots.clone().or_else(|| {
                    (format == ReportFormat::Markdown)
                        .then_some(out.as_ref()?.parent()?.join("plots"))
                });
                if let Some(pd) = plots_dir {
                    let base = out
                        .as_ref()
                        .and_then(|o| o.parent())
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from("."));
                    let pd = if targets.len() > 1 { pd.join(name) } else { pd };
                    crate::results::report::write_plots(&mut report, &loaded, &pd, &base)?;
                }
                if across {
                    across_reports.push(report);
                    continue;
                }
                match format {
                    ReportFormat::Table => {
                        text.push_str(&crate::results::report::table::render(&report))
                    }
                    ReportFormat::Markdown => {
                        if i > 0 {
                            text.push('\n');
                        }
                        text.push_str(&crate::results::report::markdown::render(&report));
                    }
                    ReportFormat::Csv => {
                        let csv = crate::results::report::csv::render(&report);
                        text.push_str(if i == 0 {
                            &csv
                        } else {
                            csv.split_once('\n').map_or("", |x| x.1)
                        });
                    }
                    ReportFormat::Json => json.push(report),
                }
            }
            if across {
                let sections = crate::results::report::sections::across(&across_reports);
                text = match format {
                    ReportFormat::Table => {
                        crate::results::report::table::render_sections(&sections)
                    }
                    _ => crate::results::report::markdown::render_sections(&sections),
                };
            }
            if format == ReportFormat::Json && !epochs {
                text = serde_json::to_string_pretty(&json).expect("json") + "\n";
            }
            match out {
                Some(o) => crate::results::store::write_atomic(&o, text.as_bytes())?,
                None => emit(&text),
            }
            Ok(0)
        }
        Command::Check {
            results,
            baseline,
            save_baseline,
            tolerance,
            loss_tolerance,
            k,
            metrics,
            format,
            results_dir,
        } => {
            let targets = crate::results::report::resolve_targets(Some(&results), &results_dir)?;
            let [(name, dir, _)] = &targets[..] else {
                return Err(Error::Usage(format!(
                    "{} holds {} sweeps; pass one results/<sweep> directory",
                    results.display(),
                    targets.len()
                )));
            };
            let loaded = crate::results::report::load_sweep(dir)?;
            if loaded.is_empty() {
                return Err(Error::Results {
                    path: dir.clone(),
                    message: "no runs here".into(),
                });
            }
            let corrupt: Vec<String> = loaded.iter().filter_map(|l| l.problem.clone()).collect();
            if !corrupt.is_empty() {
                return Err(Error::Results {
                    path: dir.clone(),
                    message: format!(
                        "{} corrupt run(s), so no verdict can be trusted:\n  {}\n(`sweep run <manifest>` trains them again)",
                        corrupt.len(),
                        corrupt.join("\n  ")
                    ),
                });
            }
            let report = crate::results::report::build(
                name,
                &loaded,
                &Default::default(),
                crate::results::report::Metric::ValAccuracy,
            )?;
            if let Some(path) = save_baseline {
                let b = crate::results::check::baseline(name, &report.configs);
                let json = serde_json::to_string_pretty(&b).expect("baseline serializes") + "\n";
                crate::results::store::write_atomic(&path, json.as_bytes())?;
                eprintln!(
                    "baseline of {} configurations written to {}",
                    b.configs.len(),
                    path.display()
                );
                return Ok(0);
            }
            let base = crate::results::check::load(&baseline.expect("clap requires it"))?;
            let metrics = if metrics.is_empty() {
                vec![crate::results::report::Metric::ValAccuracy]
            } else {
                metrics
            };
            let tol = crate::results::check::Tolerance {
                accuracy_pp: tolerance,
                loss: loss_tolerance,
                k,
            };
            let lines = crate::results::check::compare(&base, &report.configs, &metrics, tol);
            let format = format.unwrap_or(if std::io::stdout().is_terminal() {
                CheckFormat::Table
            } else {
                CheckFormat::Markdown
            });
            emit(&match format {
                CheckFormat::Table => crate::results::check::table(name, &lines),
                CheckFormat::Markdown => crate::results::check::markdown(name, &lines),
            });
            Ok(if crate::results::check::failed(&lines) {
                1
            } else {
                0
            })
        }
        Command::Bench {
            command:
                BenchCommand::Report {
                    configs,
                    seeds,
                    epochs,
                    repeats,
                    out,
                },
        } => {
            crate::bench::report(configs, seeds, epochs, repeats, &out)?;
            Ok(0)
        }
        Command::Bench {
            command:
                BenchCommand::Conv {
                    batch,
                    repeats,
                    threads,
                    out,
                },
        } => {
            crate::bench::conv(batch, repeats, &threads, &out)?;
            Ok(0)
        }
        Command::Bench {
            command: BenchCommand::Isa,
        } => {
            use crate::train::conv::isa::{self, Isa};
            eprintln!(
                "CPU: {}; kernels run on: {}",
                isa::cpu_model(),
                isa::current()
            );
            for i in Isa::supported() {
                println!("{i}");
            }
            Ok(0)
        }
        Command::Data { command } => match command {
            DataCommand::Fetch {
                dataset,
                data_dir,
                mirror,
                quiet,
            } => {
                let ds = parse_dataset(&dataset)?;
                let dir = data_dir.unwrap_or_else(crate::data::cache_dir);
                let target = crate::data::fetch::fetch(ds, &dir, mirror.as_deref(), quiet)?;
                crate::data::load(ds, &dir)?;
                if !quiet {
                    eprintln!("{} is ready in {}", ds.name(), target.display());
                }
                Ok(0)
            }
            DataCommand::Path { dataset, data_dir } => {
                let ds = parse_dataset(&dataset)?;
                let dir = crate::data::locate(ds, data_dir.as_deref())?;
                crate::data::load(ds, &dir)?;
                emit(&format!("{}\n", dir.join(ds.name()).display()));
                Ok(0)
            }
        },
    }
}

/// Print what happened; exit 1 if any run failed or diverged.
fn report_outcomes(runs: &[Run], outcomes: &[Outcome], quiet: bool) -> Result<i32> {
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let failed: Vec<_> = runs
        .iter()
        .zip(outcomes)
        .filter(
            |(_, o)| matches!(o, Outcome::Finished(s) | Outcome::Skipped(s) if *s != RunState::Done),
        )
        .collect();
    let interrupted = count(&|o| matches!(o, Outcome::Interrupted | Outcome::Busy(_)));
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
        for (r, o) in &failed {
            let s = match o {
                Outcome::Finished(s) | Outcome::Skipped(s) => format!("{s:?}").to_lowercase(),
                _ => String::new(),
            };
            eprintln!("  {} ({}): {s}", r.display_label(), r.id);
        }
        eprintln!("`sweep run --retry-failed` trains them again");
        return Ok(1);
    }
    if interrupted > 0 {
        return Err(Error::Interrupted);
    }
    Ok(0)
}

/// `sweep wait`: poll the queue until none of the sweep's jobs is in it.
fn wait(
    path: &std::path::Path,
    results: &std::path::Path,
    interval: f64,
    timeout: Option<f64>,
) -> Result<i32> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let (m, dir) = crate::exec::status::resolve(path, results)?;
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
        bar.set_position(count(crate::results::store::RunState::Done) as u64);
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
    let submitted: std::collections::HashSet<&str> = jobs
        .iter()
        .flat_map(|j| j.tasks.iter().map(|t| t.run_id.as_str()))
        .collect();
    let unfinished: Vec<_> = rows
        .iter()
        .filter(|r| {
            submitted.contains(r.id.as_str()) && r.state != crate::results::store::RunState::Done
        })
        .collect();
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
                    Ok(0) | Err(_) => std::process::exit(runner::EXIT_INTERRUPTED),
                    Ok(_) if line.trim() == "stop" => STOP.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                }
            }
        });
    }
    &STOP
}

/// Write to stdout; a closed pipe (`sweep plan ... | head`) ends the program quietly.
pub fn emit(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(2);
    }
}

fn parse_dataset(s: &str) -> Result<Dataset> {
    Dataset::parse(s)
        .ok_or_else(|| Error::Usage(format!("unknown dataset `{s}`: use mnist or fashion-mnist")))
}

#[derive(Tabled)]
struct PlanRow {
    #[tabled(rename = "run id")]
    id: String,
    label: String,
    model: String,
    params: String,
    optimizer: String,
    lr: String,
    momentum: String,
    epochs: usize,
    batch: usize,
    seed: u64,
}

/// The plan as a terminal table followed by totals.
/// The most runs the plan table lists; `--format json` lists every run.
pub const PLAN_TABLE_ROWS: usize = 1000;

pub fn plan_table(m: &Manifest, runs: &[Run]) -> String {
    let rows = runs.iter().take(PLAN_TABLE_ROWS).map(|r| PlanRow {
        id: r.id.clone(),
        label: r.label.clone(),
        model: r.model.clone(),
        params: crate::spec::arch::group_thousands(r.params as u64),
        optimizer: r.optimizer.kind().name().to_string(),
        lr: format!("{}", r.optimizer.lr()),
        momentum: r.optimizer.momentum().map_or("-".into(), |m| m.to_string()),
        epochs: r.epochs,
        batch: r.batch_size,
        seed: r.seed,
    });
    let mut table = tabled::Table::new(rows);
    table.with(tabled::settings::Style::sharp());
    let t = plan::totals(runs);
    let more = if runs.len() > PLAN_TABLE_ROWS {
        format!(
            "... and {} more runs (`--format json` lists every run)\n",
            runs.len() - PLAN_TABLE_ROWS
        )
    } else {
        String::new()
    };
    format!(
        "sweep `{}` on {} ({} training examples per epoch)\n{table}\n{more}{} runs, {} epochs, ~{} training FLOPs\n",
        m.sweep.name,
        m.sweep.dataset.name(),
        runs.first().map_or(0, |r| r.data.train_examples()),
        t.runs,
        t.epochs,
        human_flops(t.train_flops)
    )
}

/// 1.2e15 -> "1.20 P".
pub fn human_flops(f: u64) -> String {
    let units = [
        ("E", 1e18),
        ("P", 1e15),
        ("T", 1e12),
        ("G", 1e9),
        ("M", 1e6),
    ];
    let f = f as f64;
    for (u, s) in units {
        if f >= s {
            return format!("{:.2} {u}", f / s);
        }
    }
    format!("{f:.0}")
}

/// A count flag (`--jobs`, `--threads`, ...): a whole number of at least 1.
fn positive_count(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number (expected 1, 2, ...)")),
    }
}

/// A duration flag, in seconds: a finite number above 0.
fn positive_seconds(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be a number of seconds above 0".into()),
        Err(_) => Err(format!("`{s}` is not a number of seconds")),
    }
}

/// A tolerance flag: a finite number, 0 or more.
fn non_negative(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be a finite number, 0 or more".into()),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
