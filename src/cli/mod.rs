//! Command-line interface: argument parsing and the commands' top level.

use crate::error::{Error, Result};
use crate::exec::protocol::WorkerExit;
use crate::exec::runner::{self, Report};
use crate::exec::supervisor::{self, Outcome};
use crate::results::store::RunState;
use crate::spec::device::DeviceName;
use crate::spec::manifest::{self, Dataset, Manifest};
use crate::spec::plan::{self, Run};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

mod cluster;
mod describe;
mod models;
mod results;
mod train;
mod verify;

pub use describe::{PLAN_TABLE_ROWS, plan_table};

/// `--results`, shared by every command that writes or reads a sweep's results.
#[derive(Debug, Clone, clap::Args)]
pub struct ResultsDir {
    /// The results directory: a sweep's runs are under RESULTS/<sweep>/ (absolute paths are
    /// given to Slurm tasks).
    #[arg(long = "results", default_value = "results", env = "SWEEP_RESULTS")]
    pub results: PathBuf,
}

impl ResultsDir {
    /// Refuse a results path that exists but is not a directory (before anything is written
    /// under it, where the error would name a run file instead).
    pub fn writable(&self) -> Result<()> {
        if self.results.exists() && !self.results.is_dir() {
            return Err(Error::Usage(format!(
                "--results {} is a file, not a directory: pass a directory (created if missing)",
                self.results.display()
            )));
        }
        Ok(())
    }
}

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

/// The command line as shell completions offer it: [`Cli`] without its hidden subcommands
/// (`worker`, which `sweep run` and Slurm tasks start, never a user). clap_complete's generators
/// list hidden subcommands too (clap-rs/clap#1335) and a `clap::Command` cannot drop one, so the
/// root is rebuilt from `Cli`'s own name, version, abouts, arguments and visible subcommands:
/// nothing of the command line is restated here.
fn completion_command() -> clap::Command {
    let full = <Cli as clap::CommandFactory>::command();
    let mut cmd = clap::Command::new(full.get_name().to_string())
        .propagate_version(full.is_propagate_version_set());
    if let Some(v) = full.get_version() {
        cmd = cmd.version(v.to_string());
    }
    if let Some(a) = full.get_about() {
        cmd = cmd.about(a.clone());
    }
    if let Some(a) = full.get_long_about() {
        cmd = cmd.long_about(a.clone());
    }
    cmd.args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the runs a manifest expands to, with totals (runs, epochs, estimated FLOPs).
    Plan(describe::PlanArgs),
    /// Keras-style summaries of the built-in models and those a manifest declares.
    Models(describe::ModelsArgs),
    /// Train every run of a manifest that is not finished yet; results go to RESULTS/<sweep>/.
    ///
    /// Runs execute in parallel, each in its own process, longest first. Finished runs are
    /// skipped; a run interrupted mid-way resumes from its last completed epoch. Ctrl-C once:
    /// stop after the current epochs; twice: stop now. With [search.halving], rung by rung:
    /// every configuration to the first rung, then only the best to the next (docs/manifest.md,
    /// "Successive halving").
    Run(train::RunArgs),
    /// Send the unfinished runs of a manifest to a cluster scheduler (Slurm) as a job array.
    ///
    /// Writes an sbatch script whose every task trains one run into the shared results
    /// directory, through the same worker a local sweep uses, and submits it. Finished runs and
    /// runs already queued or running are left out; interrupted runs resume from their
    /// checkpoints. The binary, the data directory and the results directory must be on a
    /// filesystem every node mounts at the same path. With [search.halving], each submission
    /// submits one rung: submit again once its runs finish to decide it and submit the next.
    #[command(after_help = "\
Examples:
  sweep submit experiments/paper.toml --dry-run                 print the script, submit nothing
  sweep submit experiments/paper.toml --partition cpu --time 04:00:00 --cpus-per-task 2
  sweep submit experiments/paper.toml --gpus-per-task 1 --sbatch-arg=--account=ml
  sweep status experiments/paper.toml                           done / running / queued / failed
  sweep wait experiments/paper.toml                             block until the arrays are done")]
    Submit(cluster::SubmitArgs),
    /// Where every run of a sweep stands: done, running, queued (Slurm), incomplete, failed.
    Status(cluster::StatusArgs),
    /// Block until the sweep's Slurm job arrays have left the queue, with a progress bar.
    ///
    /// Exit 0 when every submitted run is done, 1 when some failed, diverged or stopped
    /// unfinished (submit again to resume them).
    Wait(cluster::WaitArgs),
    /// Train one run in this process (what `sweep run` starts per run, and Slurm tasks run).
    #[command(hide = true)]
    Worker(train::WorkerArgs),
    /// Tables from results: runs, mean ± std over seeds, ranking, the manifest's comparisons.
    ///
    /// Each PATH is a results/<sweep> directory, a directory of sweeps, or a manifest (default:
    /// every sweep under --results). Works while a sweep is still running.
    #[command(
        after_help = "Examples:\n  sweep report                                   every sweep under results/\n  sweep report results/paper --format markdown --out results/paper/report.md\n  sweep report results/paper results/paper-seeds --across --rank-by test_accuracy"
    )]
    Report(results::ReportArgs),
    /// Gate on regressions: compare a sweep's final metrics with a committed baseline.
    ///
    /// Exit 0 when nothing regressed, 1 when a configuration regressed beyond the tolerance
    /// (or max(tolerance, k x seed std)) or is missing, 2 on usage or input errors.
    #[command(
        after_help = "Examples:\n  sweep check results/ci --save-baseline results/ci/baseline.json\n  sweep check target/ci-results/ci --baseline results/ci/baseline.json --format markdown"
    )]
    Check(results::CheckArgs),
    /// Compare two sweeps configuration by configuration: B - A, its interval, p, verdict.
    ///
    /// Both means with their intervals, the difference B - A with its 95% interval and p-value
    /// (the paired t-test when both sides have the same seeds and architecture, else Welch's
    /// t-test with seeds, the two-proportion test with one), and the verdict: better, worse or
    /// within noise.
    #[command(
        after_help = "Examples:\n  sweep diff results-before/ci results/ci\n  sweep diff results/paper-seeds results/fashion --metric test_accuracy"
    )]
    Diff(results::DiffArgs),
    /// Train finished runs again in a scratch directory: are their numbers the same?
    ///
    /// Picks --runs finished runs spread over the sweep (built-in or program runs), trains each
    /// again from scratch, and compares every metric of every epoch bit for bit with what was
    /// recorded. Exit 0 when all are identical, 1 when any differs (with the largest
    /// difference, its metric and epoch).
    Verify(verify::VerifyArgs),
    /// Evaluate kept weights on a dataset: accuracy, loss and the confusion matrix.
    ///
    /// PATH is a run directory (results/<sweep>/runs/<id>; its best validation epoch's weights
    /// unless --weights final) or a .safetensors file `sweep export` wrote. On the images the
    /// run measured during training, it says whether the accuracy equals the recorded one.
    #[command(
        after_help = "Examples:\n  sweep eval results/ci/runs/054fa850c48e                   its test split, best weights\n  sweep eval results/ci/runs/054fa850c48e --split val --weights final\n  sweep eval model.safetensors --dataset fashion-mnist --format json"
    )]
    Eval(models::EvalArgs),
    /// Copy a run's kept weights out of the results: the best-ranked run, or one by id.
    ///
    /// The file is safetensors with the tensors named after the manifest's layers
    /// (`layers.<i>.weight`, `layers.<i>.bias`); docs/guide.md, "Trained models", loads it in PyTorch.
    #[command(
        after_help = "Examples:\n  sweep export results/paper-seeds --best --metric best_epoch_test_accuracy --out best.safetensors\n  sweep export results/ci --run 054fa8 --weights final --out mlp.safetensors"
    )]
    Export(models::ExportArgs),
    /// Print shell completions for bash, zsh or fish.
    ///
    /// bash: `sweep completions bash > ~/.local/share/bash-completion/completions/sweep`; zsh:
    /// into a directory of your $fpath as `_sweep`; fish: `~/.config/fish/completions/sweep.fish`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
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
    /// What a dataset holds: examples per class, shape, value type and range, digest, and each
    /// feature's range for tabular data. Prepares it first (decoded once, then mapped by training).
    ///
    /// Examples:
    ///   sweep data inspect mnist
    ///   sweep data inspect experiments/wine.toml
    ///   sweep data inspect experiments/digits.toml --picture digits.png
    Inspect {
        /// A built-in dataset (mnist, fashion-mnist), or a manifest: the dataset its sweep trains on.
        target: String,
        /// Also draw the first 10 training images of each class, one row per class, into this PNG.
        #[arg(long)]
        picture: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Never download a missing built-in dataset.
        #[arg(long, env = "SWEEP_OFFLINE")]
        offline: bool,
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
    Html,
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
        Command::Run(_)
            | Command::Worker(_)
            | Command::Bench { .. }
            | Command::Eval(_)
            | Command::Verify(_)
    ) {
        // A bad SWEEP_ISA is a usage error here, before any run starts.
        crate::train::conv::isa::init().map_err(|e| Error::Usage(e.to_string()))?;
    }
    match cli.command {
        Command::Plan(a) => describe::plan(a),
        Command::Models(a) => describe::models(a),
        Command::Run(a) => train::run(a),
        Command::Submit(a) => cluster::submit(a),
        Command::Status(a) => cluster::status(a),
        Command::Wait(a) => cluster::wait(a),
        Command::Worker(a) => train::worker(a),
        Command::Report(a) => results::report(a),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut completion_command(), "sweep", &mut out);
            emit(&String::from_utf8_lossy(&out));
            Ok(0)
        }
        Command::Check(a) => results::check(a),
        Command::Eval(a) => models::eval(a),
        Command::Export(a) => models::export(a),
        Command::Diff(a) => results::diff(a),
        Command::Verify(a) => verify::verify(a),
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
                let target = crate::data::fetch::fetch(&ds, &dir, mirror.as_deref(), quiet)?;
                crate::data::check_builtin(&ds, &dir)?;
                if !quiet {
                    eprintln!("{} is ready in {}", ds.name(), target.display());
                }
                Ok(0)
            }
            DataCommand::Path { dataset, data_dir } => {
                let ds = parse_dataset(&dataset)?;
                let dir = crate::data::locate(&ds, data_dir.as_deref())?;
                crate::data::check_builtin(&ds, &dir)?;
                emit(&format!("{}\n", dir.join(ds.name()).display()));
                Ok(0)
            }
            DataCommand::Inspect {
                target,
                picture,
                data_dir,
                offline,
            } => inspect(&target, picture.as_deref(), data_dir.as_deref(), offline),
        },
    }
}

/// `sweep data inspect`: the built-in dataset named, or a manifest's.
fn inspect(
    target: &str,
    picture: Option<&Path>,
    data_dir: Option<&Path>,
    offline: bool,
) -> Result<i32> {
    let (name, prepared) = match Dataset::builtin(target) {
        Some(ds) => {
            let dir = crate::data::locate_or_fetch(&ds, data_dir, offline, false)?;
            let digest = ds.builtin_info().expect("built-in").digest;
            (
                ds.name().to_string(),
                crate::data::open(&ds, &digest, Some(&dir))?,
            )
        }
        None if Path::new(target).is_file() => {
            let m = manifest::load(Path::new(target), &crate::data::describe)?;
            let ds = m.sweep.dataset.clone();
            let dir = match ds.is_builtin() {
                true => Some(crate::data::locate_or_fetch(&ds, data_dir, offline, false)?),
                false => None,
            };
            (
                ds.name().to_string(),
                crate::data::open(&ds, &m.data.digest, dir.as_deref())?,
            )
        }
        None => {
            return Err(Error::Usage(format!(
                "`{target}` is neither a built-in dataset (mnist, fashion-mnist) nor a manifest file"
            )));
        }
    };
    prepared.verify()?;
    emit(&crate::data::inspect::summary(&name, &prepared));
    if let Some(out) = picture {
        crate::data::inspect::picture(&prepared, out)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(0)
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

/// Exit 2, before anything is written, when a run's estimated peak memory
/// ([`crate::spec::memory`]) is more than `limit` (`what`: this machine, a Slurm task).
fn refuse_runs_that_cannot_fit<'a>(
    m: &Manifest,
    runs: impl IntoIterator<Item = &'a Run>,
    limit: u64,
    what: &str,
) -> Result<()> {
    use crate::fmt::bytes as human_bytes;
    use crate::spec::memory::estimate;
    let mut seen = std::collections::BTreeMap::new();
    for r in runs {
        let peak = estimate(r).peak();
        if peak > limit {
            seen.entry(r.model.clone())
                .or_insert((r.params, peak, 0usize))
                .2 += 1;
        }
    }
    if seen.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = seen
        .iter()
        .map(|(model, (params, peak, n))| {
            format!(
                "  {}: model `{model}` ({} parameters): an estimated {} per run ({n} run{})",
                m.model_location(model),
                crate::fmt::thousands(*params as u64),
                human_bytes(*peak),
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect();
    Err(Error::Usage(format!(
        "{}: runs that cannot fit in {what} ({}):\n{}\n  = help: make the model smaller, or train it where the memory is (docs/guide.md, \"Memory\": how the estimate is made)",
        m.path.display(),
        human_bytes(limit),
        lines.join("\n")
    )))
}

fn parse_dataset(s: &str) -> Result<Dataset> {
    Dataset::builtin(s)
        .ok_or_else(|| Error::Usage(format!("unknown dataset `{s}`: use mnist or fashion-mnist")))
}

/// The plan as a terminal table followed by totals.
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
