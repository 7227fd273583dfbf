//! Running a sweep: every unfinished run in its own worker process (`sweep worker`), as many at
//! once as there are slots, longest expected run first.
//!
//! Why processes: burn's CPU backends keep one process-global RNG and thread pool. A child per
//! run isolates both, gives each run its own thread budget (`RAYON_NUM_THREADS`), and is the
//! same unit Slurm array tasks execute. Results never depend on packing: each run draws every
//! random number from its own seeded streams.

use crate::data;
use crate::error::{Error, Result};
use crate::exec::runner::{EXIT_BUSY, EXIT_INTERRUPTED, Event};
use crate::exec::timing;
use crate::results::lock;
use crate::results::store::{self, RunState};
use crate::spec::plan::Run;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `sweep run`.
#[derive(Debug, Clone)]
pub struct Options {
    pub results: PathBuf,
    pub data_dir: Option<PathBuf>,
    /// `cpu`, or `cuda:N` (one slot per GPU).
    pub devices: Vec<String>,
    /// Concurrent CPU runs.
    pub jobs: usize,
    /// Threads per CPU run; `None`: the cores shared among the runs that actually run at once
    /// (one run left on two cores gets both).
    pub threads: Option<usize>,
    pub retry_failed: bool,
    pub quiet: bool,
    /// The manifest's text, kept beside the results (reports read its `[report]` tables).
    pub manifest_source: Option<String>,
    /// Runs at once on each GPU device.
    pub per_gpu: usize,
    /// Memory the runs may take together ([`crate::spec::memory`] estimates): a run waits
    /// for memory while others run, rather than start and be killed. `None`: no limit.
    pub memory_budget: Option<u64>,
    /// Train each run to this epoch only, keeping its checkpoint (a rung of successive
    /// halving, [`crate::exec::halving`]); runs already there are skipped.
    pub until: Option<usize>,
    /// The caller holds the sweep's lock ([`lock_sweep`]).
    pub locked: bool,
}

/// Take the sweep's lock (`results/<sweep>/.lock`), or say who holds it.
pub fn lock_sweep(sweep_dir: &std::path::Path, what: &str) -> Result<lock::Lock> {
    match lock::try_lock(&sweep_dir.join(".lock"), what)? {
        Ok(l) => Ok(l),
        Err(holder) => Err(Error::Results {
            path: sweep_dir.to_path_buf(),
            message: format!(
                "is in use ({holder}); wait for that sweep to finish, or write to another --results directory"
            ),
        }),
    }
}

/// The machine's cores, for defaults.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What happened to each run of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Skipped(RunState),
    Finished(RunState),
    /// Stopped by Ctrl-C after a checkpoint (or before starting).
    Interrupted,
    /// Another process was training it.
    Busy(String),
    /// Trained to [`Options::until`] (a halving rung), checkpointed.
    Paused(usize),
}

/// Ctrl-C presses seen so far (shared with the signal handler).
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// Install the Ctrl-C / SIGTERM handler once per process.
pub fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        });
    });
}

pub fn interrupts() -> usize {
    INTERRUPTS.load(Ordering::SeqCst)
}

struct Slot {
    device: String,
    threads: usize,
}

struct Active {
    run: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    bar: ProgressBar,
    started: Instant,
}

enum Msg {
    Event(usize, Event),
    /// A `warning:` line a worker wrote to stderr: shown even with --quiet.
    Warning(String),
}

/// The executable workers start from: on Linux the very binary this process runs
/// (`/proc/self/exe`, which stays that build even when `cargo build` or `cargo install` replaces
/// the file under a running sweep), elsewhere the path it was started from.
fn worker_executable() -> Result<std::path::PathBuf> {
    let this = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && this.exists() {
        return Ok(this.to_path_buf());
    }
    std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find the sweep executable: {e}")))
}

/// Run every unfinished run of `runs` (all of one sweep). Returns one outcome per run, in order.
pub fn run(sweep: &str, runs: &[Run], opts: &Options) -> Result<Vec<Outcome>> {
    let sweep_dir = store::sweep_dir(&opts.results, sweep);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; runs.len()];
    let mut todo: Vec<usize> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let loaded = store::load_planned(&opts.results, run)?;
        let state = loaded.as_ref().map_or(RunState::NotStarted, |l| l.state);
        let done = loaded.as_ref().map_or(0, |l| l.records.len());
        if state.is_finished() && !state.needs_training(opts.retry_failed) {
            outcomes[i] = Some(Outcome::Skipped(state));
        } else if let Some(u) = opts.until
            && !state.is_finished()
            && state != RunState::Corrupt
            && done >= u
            && crate::results::checkpoint::path(&store::run_dir(&opts.results, run)).exists()
        {
            outcomes[i] = Some(Outcome::Paused(done));
        } else {
            todo.push(i);
        }
    }
    if todo.is_empty() {
        return Ok(outcomes.into_iter().map(|o| o.expect("set")).collect());
    }
    // Verify the data before anything is written, so bad data leaves results/ untouched.
    let dataset = runs[todo[0]].data.dataset;
    let data_dir = data::locate(dataset, opts.data_dir.as_deref())?;
    data::load(dataset, &data_dir)?;

    let _lock = if opts.locked {
        None
    } else {
        Some(lock_sweep(&sweep_dir, "sweep run")?)
    };
    if let Some(src) = &opts.manifest_source {
        store::write_manifest_copy(&sweep_dir, src)?;
    }
    // Longest expected first: the big runs start early and the small ones fill the gaps.
    todo.sort_by_key(|&i| std::cmp::Reverse(runs[i].train_flops));
    let mut queue: VecDeque<usize> = todo.into_iter().collect();

    let slots = slots(opts, queue.len());
    install_interrupt_handler();
    let tty = std::io::stderr().is_terminal() && !opts.quiet;
    let multi = MultiProgress::with_draw_target(if tty {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let total = queue.len();
    // The overall bar counts work, not runs: each run's estimated seconds (milliseconds) on its
    // slot, from the speeds the timing cache knows (calibrations and earlier sweeps), or its
    // training FLOPs at the known runs' seconds per FLOP; advanced batch by batch, so its ETA
    // moves while the first (longest) runs train, not only when they end.
    let mut speeds = timing::load();
    let cpu_threads = slots
        .iter()
        .find(|s| crate::train::backend::is_cpu(&s.device))
        .map_or(1, |s| s.threads);
    let known: Vec<Option<f64>> = runs
        .iter()
        .map(|r| {
            let v = speeds.per_image.get(&timing::key(r, cpu_threads))?;
            Some(timing::run_seconds(r, *v, 0))
        })
        .collect();
    let (known_s, known_f) = known
        .iter()
        .zip(runs)
        .filter_map(|(k, r)| k.map(|s| (s, r.train_flops as f64)))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let per_flop = if known_f > 0.0 {
        known_s / known_f
    } else {
        1e-9
    };
    let estimated: Vec<u64> = runs
        .iter()
        .zip(&known)
        .map(|(r, k)| (k.unwrap_or(r.train_flops as f64 * per_flop) * 1000.0).max(1.0) as u64)
        .collect();
    // The epochs each run trains to in this call.
    let target = |r: &Run| opts.until.map_or(r.epochs, |u| u.min(r.epochs));
    let estimated: Vec<u64> = estimated
        .iter()
        .zip(runs)
        .map(|(&e, r)| (e * target(r) as u64 / r.epochs.max(1) as u64).max(1))
        .collect();
    let work = |i: usize| estimated[i];
    let mut eta_logged = false;
    let overall = multi.add(ProgressBar::new(queue.iter().map(|&i| work(i)).sum()));
    let mut finished_work = 0u64;
    let mut finished_runs = 0usize;
    // Per slot: (the work its run has done in this sweep, the work it had done before).
    let mut done_work: Vec<(u64, u64)> = vec![(0, 0); slots.len()];
    overall.set_message(format!("0/{total} runs"));
    overall.set_style(
        ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {msg} ({elapsed}, ETA {eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    overall.set_prefix(format!("sweep {sweep}"));
    let log = |s: String| {
        if !opts.quiet {
            multi.suspend(|| eprintln!("{s}"));
        }
    };
    log(format!(
        "{} runs to train ({} already finished) on {} slot(s): {}",
        total,
        runs.len() - total,
        slots.len(),
        slots
            .iter()
            .map(|s| format!("{} x{} thread(s)", s.device, s.threads))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let exe = worker_executable()?;
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut active: Vec<Option<Active>> = (0..slots.len()).map(|_| None).collect();
    let mut stopping = false;
    let peak: Vec<u64> = runs
        .iter()
        .map(|r| crate::spec::memory::estimate(r).peak())
        .collect();
    let mut memory_waiting = false;
    loop {
        // Start runs on free slots, while the memory holds them.
        if !stopping {
            for (s, slot) in slots.iter().enumerate() {
                if active[s].is_some() {
                    continue;
                }
                let Some(&next) = queue.front() else { break };
                if let Some(budget) = opts.memory_budget {
                    let running: u64 = active.iter().flatten().map(|a| peak[a.run]).sum();
                    if running > 0 && running + peak[next] > budget {
                        if !memory_waiting {
                            log(format!(
                                "memory: {} waits for running runs to finish (estimated {} each, {} for this sweep)",
                                runs[next].display_label(),
                                crate::spec::memory::human_bytes(peak[next]),
                                crate::spec::memory::human_bytes(budget)
                            ));
                            memory_waiting = true;
                        }
                        break;
                    }
                }
                let Some(i) = queue.pop_front() else { break };
                let run = &runs[i];
                let dir = store::run_dir(&opts.results, run);
                store::write_run(&dir, run)?;
                let mut cmd = Command::new(&exe);
                // Started through /proc/self/exe, a worker would be listed as `exe`.
                #[cfg(unix)]
                std::os::unix::process::CommandExt::arg0(&mut cmd, "sweep");
                cmd.arg("worker")
                    .arg(dir.join("run.json"))
                    .arg("--results")
                    .arg(&opts.results)
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .arg("--device")
                    .arg(&slot.device)
                    .arg("--supervised")
                    .env("RAYON_NUM_THREADS", slot.threads.to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                if opts.retry_failed {
                    cmd.arg("--retry-failed");
                }
                if let Some(u) = opts.until {
                    cmd.arg("--until").arg(u.to_string());
                }
                let mut child = cmd
                    .spawn()
                    .map_err(|e| Error::Worker(format!("cannot start one: {e}")))?;
                let stdout = child.stdout.take().expect("piped");
                let events = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                        if let Ok(e) = serde_json::from_str::<Event>(&line) {
                            let _ = events.send(Msg::Event(s, e));
                        }
                    }
                });
                let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
                let mut stderr = child.stderr.take().expect("piped");
                let tail = stderr_tail.clone();
                let warnings = tx.clone();
                std::thread::spawn(move || {
                    for l in std::io::BufReader::new(&mut stderr).lines() {
                        let Ok(l) = l else { break };
                        if l.starts_with("warning:") {
                            let _ = warnings.send(Msg::Warning(l.clone()));
                        }
                        let mut t = tail.lock().expect("tail lock");
                        t.push_back(l);
                        if t.len() > 20 {
                            t.pop_front();
                        }
                    }
                });
                let bar = multi.insert_before(&overall, ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("  {prefix} [{bar:25}] {msg}")
                        .expect("template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(run.display_label());
                bar.set_message("starting");
                log(format!(
                    "started {} ({}) on {}",
                    run.display_label(),
                    run.id,
                    slot.device
                ));
                active[s] = Some(Active {
                    run: i,
                    stdin: child.stdin.take(),
                    child,
                    stderr: stderr_tail,
                    bar,
                    started: Instant::now(),
                });
            }
        }
        if active.iter().all(|a| a.is_none()) {
            break;
        }

        // Progress events.
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Msg::Warning(w)) => multi.suspend(|| eprintln!("{w}")),
            Ok(Msg::Event(s, e)) => {
                if let Some(a) = &active[s] {
                    let run = &runs[a.run];
                    match e {
                        Event::Started {
                            resumed_from,
                            batches,
                        } => {
                            a.bar.set_length((batches * target(run)) as u64);
                            a.bar.set_position((batches * resumed_from) as u64);
                            // Work done before this sweep is not this sweep's to time.
                            let before = (work(a.run) as f64 * resumed_from as f64
                                / target(run) as f64)
                                as u64;
                            done_work[s] = (0, before);
                            overall
                                .set_length(overall.length().unwrap_or(0).saturating_sub(before));
                            if resumed_from > 0 {
                                log(format!(
                                    "  {} resumes after epoch {resumed_from}",
                                    run.display_label()
                                ));
                            }
                        }
                        Event::Batch(p) => {
                            let step = (p.epoch - 1) * p.batches + p.batch;
                            a.bar.set_position(step as u64);
                            let frac = step as f64 / (p.batches * target(run)).max(1) as f64;
                            let (_, before) = done_work[s];
                            done_work[s].0 =
                                ((work(a.run) as f64 * frac) as u64).saturating_sub(before);
                            overall.set_position(
                                finished_work + done_work.iter().map(|d| d.0).sum::<u64>(),
                            );
                            // Once, in every log: the ETA after a tenth of the work (README
                            // "Progress" says how close it came on a real sweep).
                            let length = overall.length().unwrap_or(0).max(1);
                            if !eta_logged && overall.position() * 10 >= length {
                                eta_logged = true;
                                let elapsed = overall.elapsed().as_secs_f64();
                                let f = overall.position() as f64 / length as f64;
                                log(format!(
                                    "{:.0}% of the estimated work done in {}: ETA {}",
                                    f * 100.0,
                                    timing::human_duration(elapsed),
                                    timing::human_duration(elapsed / f - elapsed)
                                ));
                            }
                            a.bar.set_message(format!(
                                "epoch {}/{} batch {}/{} loss {:.4} acc {:.2}%",
                                p.epoch,
                                target(run),
                                p.batch,
                                p.batches,
                                p.loss,
                                p.accuracy * 100.0
                            ));
                        }
                        Event::Epoch(r) => {
                            if crate::train::backend::is_cpu(&slots[s].device) {
                                timing::learn(
                                    &mut speeds,
                                    timing::key(run, slots[s].threads),
                                    run,
                                    r.seconds,
                                );
                            }
                            if !tty {
                                log(format!(
                                    "  {} epoch {}/{}: loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | {:.1}s, {:.0} img/s",
                                    run.display_label(),
                                    r.epoch,
                                    run.epochs,
                                    r.train_loss,
                                    r.train_accuracy * 100.0,
                                    r.val_loss,
                                    r.val_accuracy * 100.0,
                                    r.seconds,
                                    r.images_per_sec
                                ));
                            }
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }

        // Ctrl-C: first stops starting runs and asks workers to stop at their next checkpoint;
        // second kills them now (their last checkpoint still resumes).
        let presses = interrupts();
        if presses >= 1 && !stopping {
            stopping = true;
            log("interrupted: finishing the current epochs, then stopping (Ctrl-C again to abort now)".into());
            for a in active.iter_mut().flatten() {
                if let Some(stdin) = a.stdin.as_mut() {
                    let _ = writeln!(stdin, "stop");
                    let _ = stdin.flush();
                }
            }
        }
        if presses >= 2 {
            for a in active.iter_mut().flatten() {
                let _ = a.child.kill();
                let _ = a.child.wait();
                a.bar.finish_and_clear();
            }
            for i in queue.drain(..) {
                outcomes[i] = Some(Outcome::Interrupted);
            }
            for a in active.iter().flatten() {
                outcomes[a.run] = Some(Outcome::Interrupted);
            }
            log("aborted; the last checkpoints resume on the next `sweep run`".into());
            return Err(Error::Interrupted);
        }

        // Finished workers.
        for (s, slot_state) in active.iter_mut().enumerate() {
            let Some(a) = slot_state else { continue };
            let Some(status) = a
                .child
                .try_wait()
                .map_err(|e| Error::Worker(e.to_string()))?
            else {
                continue;
            };
            let a = slot_state.take().expect("active");
            a.bar.finish_and_clear();
            let run = &runs[a.run];
            let dir = store::run_dir(&opts.results, run);
            let outcome = match status.code() {
                Some(0) | Some(1) => match store::read_summary(&dir)? {
                    Some(sum) => Outcome::Finished(sum.status),
                    None => match opts.until {
                        Some(u) => {
                            let done =
                                store::read_epochs(&dir.join("epochs.csv")).map_or(0, |r| r.len());
                            if done >= u {
                                Outcome::Paused(done)
                            } else {
                                Outcome::Finished(RunState::Failed)
                            }
                        }
                        None => Outcome::Finished(RunState::Failed),
                    },
                },
                Some(EXIT_INTERRUPTED) => Outcome::Interrupted,
                Some(EXIT_BUSY) => Outcome::Busy("another process is training it".into()),
                _ if stopping => Outcome::Interrupted,
                _ => {
                    // A crash (panic, OOM kill, ...): record it, keep the sweep going. Its
                    // checkpoint is kept, so --retry-failed resumes it.
                    // Give the stderr reader a moment to collect the last lines.
                    std::thread::sleep(Duration::from_millis(50));
                    let tail: Vec<String> =
                        a.stderr.lock().expect("tail").iter().cloned().collect();
                    let records = store::read_epochs(&dir.join("epochs.csv")).unwrap_or_default();
                    // Rewritten from what was read, so the summary's digest is of this file.
                    store::write_epochs(&dir, &records)?;
                    let reason = crate::exec::runner::crash_reason(&status.to_string(), &tail);
                    let sum = store::summarize(
                        run,
                        &records,
                        RunState::Failed,
                        Some(reason),
                        a.started.elapsed().as_secs_f64(),
                    );
                    store::write_summary(&dir, &sum)?;
                    Outcome::Finished(RunState::Failed)
                }
            };
            let line = match &outcome {
                Outcome::Finished(RunState::Done) => {
                    let acc = store::read_summary(&dir)?
                        .and_then(|s| s.last)
                        .map(|l| l.val_accuracy * 100.0)
                        .unwrap_or(f64::NAN);
                    format!(
                        "done {} ({}): val accuracy {acc:.2}% in {:.0}s",
                        run.display_label(),
                        run.id,
                        a.started.elapsed().as_secs_f64()
                    )
                }
                Outcome::Finished(st) => {
                    let why = store::read_summary(&dir)?
                        .and_then(|s| s.reason)
                        .unwrap_or_default();
                    format!("{st:?} {} ({}): {why}", run.display_label(), run.id).to_lowercase()
                }
                Outcome::Interrupted => format!(
                    "stopped {} ({}) after a checkpoint",
                    run.display_label(),
                    run.id
                ),
                Outcome::Busy(h) => format!("skipped {} ({}): {h}", run.display_label(), run.id),
                Outcome::Paused(e) => format!(
                    "{} ({}) reached epoch {e}: val accuracy {:.2}%",
                    run.display_label(),
                    run.id,
                    store::read_epochs(&dir.join("epochs.csv"))
                        .ok()
                        .and_then(|r| r.last().map(|l| l.val_accuracy * 100.0))
                        .unwrap_or(f64::NAN)
                ),
                Outcome::Skipped(_) => unreachable!(),
            };
            log(line);
            finished_runs += 1;
            let (_, before) = done_work[s];
            finished_work += work(a.run).saturating_sub(before);
            done_work[s] = (0, 0);
            overall.set_position(finished_work + done_work.iter().map(|d| d.0).sum::<u64>());
            overall.set_message(format!("{finished_runs}/{total} runs"));
            outcomes[a.run] = Some(outcome);
        }
        if stopping {
            for i in queue.drain(..) {
                outcomes[i] = Some(Outcome::Interrupted);
            }
        }
    }
    overall.finish_and_clear();
    timing::save(&speeds);
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Interrupted))
        .collect())
}

/// Slots from the devices: each CPU device gives `jobs` slots (no more than there are runs);
/// each GPU one.
fn slots(opts: &Options, runs: usize) -> Vec<Slot> {
    let mut out = Vec::new();
    for d in &opts.devices {
        if crate::train::backend::is_cpu(d) {
            let jobs = opts.jobs.clamp(1, runs.max(1));
            let threads = opts.threads.unwrap_or(cores() / jobs).max(1);
            for _ in 0..jobs {
                out.push(Slot {
                    device: d.clone(),
                    threads,
                });
            }
        } else {
            // Small models leave most of a GPU idle: --per-gpu runs share one.
            for _ in 0..opts.per_gpu.max(1) {
                out.push(Slot {
                    device: d.clone(),
                    threads: 1,
                });
            }
        }
    }
    out
}
