//! `sweep plan` and `sweep models`: what a manifest describes.

use super::*;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep manifest (TOML).
    manifest: PathBuf,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    format: PlanFormat,
    /// Concurrent runs the wall-time estimate assumes (as `sweep run --jobs`; default: cores /
    /// threads).
    #[arg(value_parser = positive_count, long, short)]
    jobs: Option<usize>,
    /// Threads per run the estimate assumes (as `sweep run --threads`).
    #[arg(value_parser = positive_count, long)]
    threads: Option<usize>,
    /// Estimate the wall time only from speeds already known (cached by earlier calibrations
    /// and sweeps), without training a few batches of each model now.
    #[arg(long)]
    no_calibrate: bool,
    /// The devices `sweep run` would use (as its --devices; default: [sweep] devices, else
    /// cpu): with a GPU among them, the plan compares each run's estimated GPU memory, times
    /// --per-gpu, with the GPU's memory where it can be asked (nvidia-smi).
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<DeviceName>>,
    /// Runs at once on each GPU (as `sweep run --per-gpu`).
    #[arg(value_parser = positive_count, long, default_value_t = 1)]
    per_gpu: usize,
}

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// A manifest whose own models are listed after the built-ins.
    manifest: Option<PathBuf>,
}

pub(super) fn plan(a: PlanArgs) -> Result<i32> {
    let PlanArgs {
        manifest,
        format,
        jobs,
        threads,
        no_calibrate,
        devices,
        per_gpu,
    } = a;
    let m = manifest::load(&manifest, &crate::data::describe)?;
    let runs = plan::expand(&m)?;
    let devices = devices.or_else(|| m.sweep.devices.clone());
    match format {
        PlanFormat::Table => {
            emit(&plan_table(&m, &runs));
            if let Some(gpus) = devices.as_ref().filter(|d| d.iter().any(|d| !d.is_cpu())) {
                emit(&gpu_memory_line(&runs, gpus, per_gpu));
            }
            if m.search.method == crate::spec::grid::Method::Tpe {
                let first = m.search.startup.min(m.search.samples);
                emit(&format!(
                    "TPE search: these are its first {first} configurations (Sobol points); the other {} are proposed {} at a time from the results of those before (`sweep status` shows them)\n",
                    m.search.samples - first,
                    m.search.batch
                ));
            }
            for (axis, optimizers) in plan::skipped_axes(&m) {
                emit(&format!(
                    "{axis} is skipped for {} (it does not take it): those configurations are planned once\n",
                    optimizers.join(", ")
                ));
            }
            let on_gpu = devices
                .as_ref()
                .is_some_and(|d| d.iter().any(|d| !d.is_cpu()));
            if !on_gpu && !runs.is_empty() {
                let estimate = wall_time(&runs, jobs, threads, !no_calibrate)?;
                emit(&estimate.line(halving_share(&m, &runs)));
            }
        }
        PlanFormat::Json => {
            // Streamed: a million runs are ~900 MB of JSON, never held in memory twice.
            #[derive(serde::Serialize)]
            struct PlanJson<'a> {
                sweep: &'a str,
                runs: &'a [plan::Run],
                totals: plan::Totals,
            }
            use std::io::Write;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
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

/// The epochs successive halving trains, over those of every run trained to the end: `None`
/// without `[search.halving]`.
fn halving_share(m: &Manifest, runs: &[Run]) -> Option<f64> {
    let h = m.search.halving.as_ref()?;
    let (_, spent, full) = halving_epochs(h, runs);
    Some(spent as f64 / full.max(1) as f64)
}

/// (configurations, epochs successive halving trains, epochs of every run to the last rung),
/// with each configuration's seeds counted as the runs' average.
fn halving_epochs(h: &crate::spec::grid::Halving, runs: &[Run]) -> (usize, usize, usize) {
    let configs: std::collections::BTreeSet<String> = runs.iter().map(|r| r.config_id()).collect();
    let n = configs.len().max(1);
    let spent = h.epochs(n, 1) * runs.len() / n;
    (configs.len(), spent, runs.len() * h.last())
}

/// The wall time of a plan here, as numbers: formatted by [`WallEstimate::line`].
#[derive(Debug, Clone, PartialEq)]
enum WallEstimate {
    Known {
        seconds: f64,
        jobs: usize,
        threads: usize,
    },
    /// These models cannot fit in this machine's memory.
    TooBig(Vec<String>),
    /// These models have no known speed here.
    Uncalibrated(Vec<String>),
}

impl WallEstimate {
    /// The plan's line, with the share of epochs successive halving trains when it does.
    fn line(&self, halving_share: Option<f64>) -> String {
        use crate::exec::timing;
        match self {
            WallEstimate::TooBig(models) => format!(
                "wall time: unknown ({} cannot fit in this machine's memory)\n",
                models.join(", ")
            ),
            WallEstimate::Uncalibrated(models) => format!(
                "wall time: unknown ({} not calibrated on this machine; run without --no-calibrate)\n",
                models.join(", ")
            ),
            WallEstimate::Known {
                seconds,
                jobs,
                threads,
            } => format!(
                "estimated wall time here: {} with {jobs} run(s) at a time x {threads} thread(s) ({}, kernels: {}; speeds cached in {}){}\n",
                crate::fmt::duration(*seconds),
                crate::train::conv::isa::cpu_model(),
                crate::train::conv::isa::current(),
                timing::cache_path().display(),
                halving_share.map_or(String::new(), |share| format!(
                    " (every run to the last rung; successive halving trains {:.0}% of those epochs)",
                    share * 100.0
                ))
            ),
        }
    }
}

/// The estimated wall time of `runs` here: each model's speed from the timing cache, else a
/// calibration of a few batches (when `calibrate`), on `jobs` slots of `threads` threads.
fn wall_time(
    runs: &[Run],
    jobs: Option<usize>,
    threads: Option<usize>,
    calibrate: bool,
) -> Result<WallEstimate> {
    use crate::exec::timing;
    crate::train::conv::isa::init().map_err(|e| Error::Usage(e.to_string()))?;
    let cores = supervisor::cores();
    let jobs = jobs
        .unwrap_or_else(|| (cores / threads.unwrap_or(1)).max(1))
        .min(runs.len());
    let threads = threads.unwrap_or((cores / jobs).max(1));
    let mut cache = timing::load();
    let mut durations = Vec::with_capacity(runs.len());
    let mut unknown = std::collections::BTreeSet::new();
    let mut calibrated = 0;
    let device = crate::train::backend::open(&DeviceName::Cpu)?;
    let memory = crate::spec::memory::machine_total().unwrap_or(u64::MAX);
    let mut too_big = std::collections::BTreeSet::new();
    // A speed per model, batch size and optimizer: a million runs have few.
    let mut speeds: std::collections::HashMap<(&str, usize, &str), Option<f64>> =
        std::collections::HashMap::new();
    for r in runs {
        let shape = (r.model.as_str(), r.batch_size, r.optimizer.kind().name());
        let per_image = match speeds.get(&shape) {
            Some(v) => *v,
            None => {
                let key = timing::key(r, threads);
                let v = match cache.per_image.get(&key) {
                    Some(v) => Some(*v),
                    // Never calibrate what cannot fit: the plan would be killed for memory.
                    None if crate::spec::memory::estimate(r).peak() > memory => {
                        too_big.insert(r.model.clone());
                        None
                    }
                    None if calibrate => {
                        eprintln!(
                            "calibrating {} (batch {}, {}, {threads} thread(s)): a few batches...",
                            r.model,
                            r.batch_size,
                            r.optimizer.kind().name()
                        );
                        let v = crate::train::calibrate::seconds_per_image(r, threads, &device);
                        cache.per_image.insert(key, v);
                        calibrated += 1;
                        Some(v)
                    }
                    None => None,
                };
                speeds.insert(shape, v);
                v
            }
        };
        match per_image {
            Some(v) => durations.push(timing::run_seconds(r, v, 0)),
            None => {
                unknown.insert(r.model.clone());
            }
        }
    }
    if calibrated > 0 {
        timing::save(&cache);
    }
    Ok(if !too_big.is_empty() {
        WallEstimate::TooBig(too_big.into_iter().collect())
    } else if !unknown.is_empty() {
        WallEstimate::Uncalibrated(unknown.into_iter().collect())
    } else {
        WallEstimate::Known {
            seconds: timing::makespan(&durations, jobs),
            jobs,
            threads,
        }
    })
}

pub(super) fn models(a: ModelsArgs) -> Result<i32> {
    let ModelsArgs { manifest } = a;
    let models = match manifest {
        Some(p) => {
            let m = manifest::load(&p, &crate::data::describe)?;
            emit(&format!(
                "Shapes for dataset {}: input {}, {} classes\n\n",
                m.sweep.dataset.name(),
                m.data.shape,
                m.data.classes
            ));
            m.models
        }
        None => manifest::builtin_models(),
    };
    for (i, m) in models.iter().enumerate() {
        if i > 0 {
            emit("\n");
        }
        if let Some(d) = &m.description {
            emit(&format!("{d}\n"));
        }
        if let Some(t) = &m.template {
            let names: Vec<String> = t.params.iter().map(|p| format!("${p}")).collect();
            emit(&format!(
                "Model: \"{}\" names parameters {}: its shapes depend on their values (`sweep plan` makes and checks each configuration)\n",
                m.name,
                names.join(", ")
            ));
            continue;
        }
        emit(&crate::spec::arch::summary(&m.name, &m.layers, &m.infos));
    }
    Ok(0)
}

/// The most runs the plan table lists; `--format json` lists every run.
pub const PLAN_TABLE_ROWS: usize = 1000;

/// The GPU memory `per_gpu` of the largest run take, against each named GPU's memory where
/// [`crate::train::backend::gpu_memory`] can ask it.
fn gpu_memory_line(runs: &[Run], devices: &[DeviceName], per_gpu: usize) -> String {
    use crate::fmt::bytes as human_bytes;
    let largest = runs
        .iter()
        .filter(|r| r.program.is_none())
        .map(|r| crate::spec::memory::estimate(r).gpu())
        .max()
        .unwrap_or(0);
    let need = largest.saturating_mul(per_gpu as u64);
    let mut s = format!(
        "GPU memory per run: up to {} (estimated: parameters, optimizer state, activations; the backend's memory pools add to it), {} with --per-gpu {per_gpu}\n",
        human_bytes(largest),
        human_bytes(need)
    );
    for d in devices.iter().filter(|d| !d.is_cpu()) {
        match crate::train::backend::gpu_memory(d) {
            Some(total) if need > total => s.push_str(&format!(
                "warning: {d} has {}: {per_gpu} runs at once may not fit; lower --per-gpu\n",
                human_bytes(total)
            )),
            Some(total) => s.push_str(&format!("{d} has {}\n", human_bytes(total))),
            None => s.push_str(&format!(
                "{d}: its memory is not known here (it is asked through nvidia-smi)\n"
            )),
        }
    }
    s
}

pub fn plan_table(m: &Manifest, runs: &[Run]) -> String {
    use crate::fmt::bytes as human_bytes;
    use crate::spec::memory;
    // One estimate per layer stack, batch size and optimizer state: a million runs have few.
    let mut cache = std::collections::HashMap::new();
    let mut peak = |r: &Run| -> u64 {
        *cache
            .entry((
                format!("{:?}", r.layers),
                r.batch_size,
                r.optimizer.kind().name(),
                r.optimizer.momentum().is_some_and(|m| m > 0.0),
            ))
            .or_insert_with(|| memory::estimate(r).peak())
    };
    let peaks: Vec<u64> = runs.iter().map(&mut peak).collect();
    let shown = &runs[..runs.len().min(PLAN_TABLE_ROWS)];
    let settings: Vec<_> = shown.iter().map(Run::settings).collect();
    // One column per axis the listed runs differ on (model and optimizer always).
    let axes = crate::spec::settings::varying(&settings, &["epochs", "seed"]);
    let mut headers = vec!["run id".to_string(), "label".into()];
    headers.extend(axes.iter().cloned());
    // "memory": the run's estimated peak.
    headers.extend(["params", "epochs", "seed", "memory"].map(String::from));
    let rows = shown
        .iter()
        .zip(&settings)
        .zip(&peaks)
        .map(|((r, s), p)| {
            let mut row = vec![r.id.clone(), r.label.clone()];
            row.extend(axes.iter().map(|k| s.cell(k)));
            row.extend([
                crate::fmt::params(r.params),
                r.epochs.to_string(),
                r.seed.to_string(),
                human_bytes(*p),
            ]);
            row
        })
        .collect::<Vec<_>>();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let table = crate::fmt::terminal_table(&headers, &rows, None);
    let t = plan::totals(runs);
    let more = if runs.len() > PLAN_TABLE_ROWS {
        format!(
            "... and {} more runs (`--format json` lists every run)\n",
            runs.len() - PLAN_TABLE_ROWS
        )
    } else {
        String::new()
    };
    // Memory: the largest run, what this machine has, and the runs that cannot fit in it.
    let largest = peaks.iter().copied().max().unwrap_or(0);
    let machine = memory::machine_total();
    let too_big = machine.map_or(0, |total| peaks.iter().filter(|&&p| p > total).count());
    let memory_line = format!(
        "peak memory per run: up to {} (estimated){}\n",
        human_bytes(largest),
        machine.map_or(String::new(), |m| format!(
            "; this machine has {}",
            human_bytes(m)
        ))
    );
    let warning = if too_big > 0 {
        format!(
            "warning: {too_big} run(s) need more memory than this machine has: `sweep run` will refuse them\n"
        )
    } else {
        String::new()
    };
    // Weights: what the finished runs will keep on disk.
    let weight_bytes: u64 = runs
        .iter()
        .map(|r| r.params as u64 * 4 * r.keep.files() as u64)
        .sum();
    let keep = serde_json::to_value(m.sweep.keep)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let disk = if m.sweep.keep.files() == 0 {
        format!("weights kept (keep = \"{keep}\"): none\n")
    } else {
        format!(
            "weights kept (keep = \"{keep}\"): up to {} on disk\n",
            human_bytes(weight_bytes)
        )
    };
    let halving = m.search.halving.as_ref().map_or(String::new(), |h| {
        let (n, spent, full) = halving_epochs(h, runs);
        let alive: Vec<String> = h.alive(n).iter().map(|a| a.to_string()).collect();
        let rungs: Vec<String> = h.rungs.iter().map(|r| r.to_string()).collect();
        format!(
            "successive halving on {}: rungs at epochs {}, keeping {:.0}% at each: configurations per rung {}; {spent} of those {full} epochs ({:.0}%)\n",
            h.metric.name(),
            rungs.join(", "),
            h.keep_fraction * 100.0,
            alive.join(" -> "),
            spent as f64 * 100.0 / full.max(1) as f64
        )
    });
    format!(
        "sweep `{}` on {} ({} training examples per epoch)\n{table}\n{more}{} runs, {} epochs, ~{} training FLOPs\n{halving}{memory_line}{disk}{warning}",
        m.sweep.name,
        m.sweep.dataset.name(),
        runs.first().map_or(0, |r| r.data.train_examples()),
        t.runs,
        t.epochs,
        crate::fmt::flops(t.train_flops)
    )
}
