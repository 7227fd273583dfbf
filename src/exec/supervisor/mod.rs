//! The supervisor: trains the runs of a sweep that are left, each started by a [`Launch`]er on a
//! slot (a device and its threads), as many at once as there are slots.
//!
//! It owns the slots, the queue (longest expected run first, [`crate::exec::pending`]), memory
//! admission (a run waits while others hold the memory it needs, rather than start and be
//! killed), pausing at a halving rung (`until`), Ctrl-C (once: the runs finish their epoch and
//! stop at a checkpoint; twice: they are killed, their last checkpoint resumes), reaping (a run's
//! exit read against its files) and crash summaries. How a run starts is the launcher's
//! business, what is shown the [`Display`]'s. Results never depend on packing: each run draws
//! every random number from its own seeded streams.

mod launch;
mod meter;
mod progress;
#[cfg(test)]
mod tests;

pub(crate) use launch::{Exit, Handle, Job, Launch, Msg, Slot, Tell, Worker};
pub(crate) use progress::{Display, choose as choose_display};

use crate::error::{Error, Result};
use crate::exec::pending::{self, Left};
use crate::exec::protocol::{EXIT_BUSY, EXIT_INTERRUPTED, Event, crash_reason};
use crate::results::lock;
use crate::results::store::{self, RunState};
use crate::spec::device::DeviceName;
use crate::spec::plan::Run;
use meter::Meter;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Options of a training pass (`sweep run`, a halving rung).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) results: PathBuf,
    /// Checked devices ([`crate::train::backend::resolve`]): `jobs` slots per CPU device,
    /// `per_gpu` per GPU.
    pub(crate) devices: Vec<DeviceName>,
    /// Concurrent CPU runs.
    pub(crate) jobs: usize,
    /// Threads per CPU run; `None`: the cores shared among the runs that actually run at once
    /// (one run left on two cores gets both).
    pub(crate) threads: Option<usize>,
    pub(crate) retry_failed: bool,
    /// The manifest's text, kept beside the results (reports read its `[report]` tables).
    pub(crate) manifest_source: Option<String>,
    /// Runs at once on each GPU device.
    pub(crate) per_gpu: usize,
    /// Memory the runs may take together ([`crate::spec::memory`] estimates). `None`: no limit.
    pub(crate) memory_budget: Option<u64>,
    /// Train each run to this epoch only, keeping its checkpoint (a rung of successive
    /// halving, [`crate::exec::halving`]); runs already there are skipped.
    pub(crate) until: Option<usize>,
    /// The caller holds the sweep's lock ([`lock_sweep`]).
    pub(crate) locked: bool,
}

/// What happened to each run of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Skipped(RunState),
    Finished(RunState),
    /// Stopped by Ctrl-C after a checkpoint (or before starting).
    Interrupted,
    /// Another process was training it.
    Busy(String),
    /// Trained to [`Options::until`] (a halving rung), checkpointed.
    Paused(usize),
}

/// Take the sweep's lock (`results/<sweep>/.lock`), or say who holds it.
pub(crate) fn lock_sweep(sweep_dir: &Path, what: &str) -> Result<lock::Lock> {
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
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Ctrl-C presses seen so far (shared with the signal handler).
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// Install the Ctrl-C / SIGTERM handler once per process.
pub(crate) fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        });
    });
}

/// Ctrl-C presses seen by [`install_interrupt_handler`]'s handler.
pub(crate) fn interrupts() -> usize {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// Slots from the devices: each CPU device gives `jobs` slots (no more than there are runs);
/// each GPU `per_gpu`.
pub(crate) fn slots(opts: &Options, runs: usize) -> Vec<Slot> {
    let mut out = Vec::new();
    for d in &opts.devices {
        if d.is_cpu() {
            let jobs = opts.jobs.clamp(1, runs.max(1));
            let threads = opts.threads.unwrap_or(cores() / jobs).max(1);
            out.extend((0..jobs).map(|_| Slot {
                device: d.clone(),
                threads,
            }));
        } else {
            // Small models leave most of a GPU idle: --per-gpu runs share one.
            out.extend((0..opts.per_gpu.max(1)).map(|_| Slot {
                device: d.clone(),
                threads: 1,
            }));
        }
    }
    out
}

/// A supervisor: options, the launcher, the display and where Ctrl-C presses are counted.
pub(crate) struct Supervisor<'a> {
    pub(crate) opts: &'a Options,
    pub(crate) launch: &'a dyn Launch,
    pub(crate) display: &'a mut dyn Display,
    pub(crate) interrupts: &'a dyn Fn() -> usize,
}

/// A run training on a slot.
struct Active {
    run: usize,
    handle: Box<dyn Handle>,
    started: Instant,
}

impl Supervisor<'_> {
    /// Train every run of `runs` (all of one sweep) that is left. Returns one outcome per run,
    /// in order.
    pub(crate) fn run(&mut self, sweep: &str, runs: &[Run]) -> Result<Vec<Outcome>> {
        let opts = self.opts;
        let p = pending::pending(&opts.results, runs, opts.retry_failed, opts.until, |_| {
            false
        })?;
        let mut outcomes: Vec<Option<Outcome>> = p
            .left
            .iter()
            .map(|l| match *l {
                Left::Finished(s) => Some(Outcome::Skipped(s)),
                Left::Paused(e) => Some(Outcome::Paused(e)),
                Left::Train => None,
            })
            .collect();
        if p.todo.is_empty() {
            return Ok(outcomes.into_iter().map(|o| o.expect("set")).collect());
        }
        let todo: Vec<&Run> = p.todo.iter().map(|&i| &runs[i]).collect();
        self.launch.prepare(&todo)?;
        let sweep_dir = store::sweep_dir(&opts.results, sweep);
        let _lock = if opts.locked {
            None
        } else {
            Some(lock_sweep(&sweep_dir, "sweep run")?)
        };
        if let Some(src) = &opts.manifest_source {
            store::write_manifest_copy(&sweep_dir, src)?;
        }
        let slots = slots(opts, p.todo.len());
        let mut pass = Pass::new(self, sweep, runs, slots, p.todo);
        let result = pass.drive(&mut outcomes);
        pass.sup.display.end();
        pass.meter.save();
        result?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Interrupted))
            .collect())
    }
}

/// One training pass: the queue, what runs on each slot, and the progress.
struct Pass<'s, 'a> {
    sup: &'s mut Supervisor<'a>,
    runs: &'s [Run],
    slots: Vec<Slot>,
    queue: VecDeque<usize>,
    active: Vec<Option<Active>>,
    rx: Receiver<Msg>,
    tell: mpsc::Sender<Msg>,
    meter: Meter,
    /// Each run's estimated memory beyond the shared dataset.
    peak: Vec<u64>,
    /// The mapped dataset's bytes, shared by every worker.
    shared: u64,
    stopping: bool,
    memory_waiting: bool,
}

impl<'s, 'a> Pass<'s, 'a> {
    fn new(
        sup: &'s mut Supervisor<'a>,
        sweep: &str,
        runs: &'s [Run],
        slots: Vec<Slot>,
        todo: Vec<usize>,
    ) -> Self {
        let (tell, rx) = mpsc::channel();
        let cpu_threads = slots
            .iter()
            .find(|s| s.device.is_cpu())
            .map_or(1, |s| s.threads);
        let meter = Meter::new(runs, &todo, cpu_threads, sup.opts.until, slots.len());
        sup.display.begin(sweep, meter.total());
        sup.display.overall(0, meter.total(), &meter.message());
        sup.display.line(&format!(
            "{} runs to train ({} already finished) on {} slot(s): {}",
            todo.len(),
            runs.len() - todo.len(),
            slots.len(),
            slots
                .iter()
                .map(|s| format!("{} x{} thread(s)", s.device, s.threads))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let active = slots.iter().map(|_| None).collect();
        Pass {
            peak: runs
                .iter()
                .map(|r| crate::spec::memory::estimate(r).private())
                .collect(),
            // The sweep's runs share one mapped copy of the dataset: counted once.
            shared: runs
                .iter()
                .map(|r| crate::spec::memory::estimate(r).shared)
                .max()
                .unwrap_or(0),
            sup,
            runs,
            slots,
            queue: todo.into(),
            active,
            rx,
            tell,
            meter,
            stopping: false,
            memory_waiting: false,
        }
    }

    /// Until every started run has ended: start runs on free slots, show what they report,
    /// handle Ctrl-C, reap the ended ones.
    fn drive(&mut self, outcomes: &mut [Option<Outcome>]) -> Result<()> {
        loop {
            // Before any start: a Ctrl-C pressed while the sweep was being prepared starts
            // nothing.
            if self.on_interrupts(outcomes)? {
                return Err(Error::Interrupted);
            }
            if !self.stopping {
                self.start_free_slots()?;
            }
            if self.active.iter().all(Option::is_none) {
                return Ok(());
            }
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Msg::Warning(w)) => self.sup.display.warning(&w),
                Ok(Msg::Event { slot, run, event }) => self.on_event(slot, run, event),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            if self.on_interrupts(outcomes)? {
                return Err(Error::Interrupted);
            }
            // Runs left in the queue after Ctrl-C never start: their outcome stays unset,
            // which `run` reports as interrupted.
            self.reap(outcomes)?;
        }
    }

    /// The memory the running runs are estimated to take.
    fn memory_in_use(&self) -> u64 {
        self.active.iter().flatten().map(|a| self.peak[a.run]).sum()
    }

    /// Start queued runs on free slots, in queue order, while the memory holds them.
    fn start_free_slots(&mut self) -> Result<()> {
        for s in 0..self.slots.len() {
            if self.active[s].is_some() {
                continue;
            }
            let Some(&next) = self.queue.front() else {
                return Ok(());
            };
            if !self.admits(next) {
                return Ok(());
            }
            self.queue.pop_front();
            self.start(s, next)?;
        }
        Ok(())
    }

    /// Whether the memory budget holds run `next` beside the running ones. A run alone always
    /// starts (one that cannot fit at all is refused before the sweep starts).
    fn admits(&mut self, next: usize) -> bool {
        let Some(budget) = self.sup.opts.memory_budget else {
            return true;
        };
        let running = self.memory_in_use();
        if running == 0 || self.shared + running + self.peak[next] <= budget {
            return true;
        }
        if !self.memory_waiting {
            self.memory_waiting = true;
            self.sup.display.line(&format!(
                "memory: {} waits for running runs to finish (estimated {} each, {} for this sweep)",
                self.runs[next].display_label(),
                crate::fmt::bytes(self.peak[next]),
                crate::fmt::bytes(budget)
            ));
        }
        false
    }

    fn start(&mut self, s: usize, i: usize) -> Result<()> {
        let run = &self.runs[i];
        let opts = self.sup.opts;
        // run.json, which the worker reads, under the run's lock (held elsewhere, its holder
        // has written it).
        let dir = store::run_dir(&opts.results, run);
        if let Ok(_held) = lock::try_lock(&dir.join(".lock"), "writing run.json")? {
            store::write_run(&dir, run)?;
        }
        let job = Job {
            run,
            slot: &self.slots[s],
            until: opts.until,
            retry: opts.retry_failed,
        };
        let tell = Tell {
            slot: s,
            run: i,
            tx: self.tell.clone(),
        };
        let handle = self.sup.launch.start(job, tell)?;
        self.sup.display.run_started(s, &run.display_label());
        self.sup.display.line(&format!(
            "started {} ({}) on {}",
            run.display_label(),
            run.id,
            self.slots[s].device
        ));
        self.active[s] = Some(Active {
            run: i,
            handle,
            started: Instant::now(),
        });
        Ok(())
    }

    fn on_event(&mut self, s: usize, i: usize, e: Event) {
        // An event of a run that has ended (the slot is free, or holds the next run) is late.
        let Some(a) = self.active[s].as_ref().filter(|a| a.run == i) else {
            return;
        };
        let run = &self.runs[a.run];
        let target = self.meter.target(run);
        match e {
            Event::Started {
                resumed_from,
                batches,
            } => {
                self.meter.started(s, a.run, resumed_from);
                let (len, pos) = (batches * target, batches * resumed_from);
                self.sup
                    .display
                    .run_progress(s, pos as u64, len as u64, "starting");
                if resumed_from > 0 {
                    self.sup.display.line(&format!(
                        "  {} resumes after epoch {resumed_from}",
                        run.display_label()
                    ));
                }
            }
            Event::Batch(p) => {
                let step = (p.epoch - 1) * p.batches + p.batch;
                let frac = step as f64 / (p.batches * target).max(1) as f64;
                if let Some(eta) = self.meter.progress(s, a.run, frac) {
                    self.sup.display.line(&eta);
                }
                self.sup.display.run_progress(
                    s,
                    step as u64,
                    (p.batches * target) as u64,
                    &format!(
                        "epoch {}/{target} batch {}/{} loss {:.4} acc {:.2}%",
                        p.epoch,
                        p.batch,
                        p.batches,
                        p.loss,
                        p.accuracy * 100.0
                    ),
                );
            }
            Event::Epoch(r) => {
                self.meter.learn(run, &self.slots[s], r.seconds);
                self.sup.display.epoch(&format!(
                    "  {} epoch {}/{}: loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | {}, {:.0} img/s",
                    run.display_label(),
                    r.epoch,
                    run.epochs,
                    r.train_loss,
                    r.train_accuracy * 100.0,
                    r.val_loss,
                    r.val_accuracy * 100.0,
                    crate::fmt::duration(r.seconds),
                    r.images_per_sec
                ));
            }
        }
        let (pos, len) = self.meter.overall();
        self.sup.display.overall(pos, len, &self.meter.message());
    }

    /// Ctrl-C: the first press stops starting runs and asks the running ones to stop at their
    /// next checkpoint; the second kills them now (their last checkpoint still resumes).
    /// True when the pass is aborted.
    fn on_interrupts(&mut self, outcomes: &mut [Option<Outcome>]) -> Result<bool> {
        let presses = (self.sup.interrupts)();
        if presses >= 1 && !self.stopping {
            self.stopping = true;
            self.sup.display.line(
                "interrupted: finishing the current epochs, then stopping (Ctrl-C again to abort now)",
            );
            for a in self.active.iter_mut().flatten() {
                a.handle.stop();
            }
        }
        if presses < 2 {
            return Ok(false);
        }
        for (s, slot) in self.active.iter_mut().enumerate() {
            if let Some(a) = slot.as_mut() {
                a.handle.kill();
                outcomes[a.run] = Some(Outcome::Interrupted);
                self.sup.display.run_ended(s);
            }
        }
        for i in self.queue.drain(..) {
            outcomes[i] = Some(Outcome::Interrupted);
        }
        self.sup
            .display
            .line("aborted; the last checkpoints resume on the next `sweep run`");
        Ok(true)
    }

    /// Collect the runs that ended: their outcome from their exit and their files.
    fn reap(&mut self, outcomes: &mut [Option<Outcome>]) -> Result<()> {
        for s in 0..self.active.len() {
            let Some(a) = self.active[s].as_mut() else {
                continue;
            };
            let Some(exit) = a.handle.try_wait()? else {
                continue;
            };
            let a = self.active[s].take().expect("active");
            self.sup.display.run_ended(s);
            let run = &self.runs[a.run];
            let dir = store::run_dir(&self.sup.opts.results, run);
            let ended = Ended {
                exit: &exit,
                tail: &a.handle.stderr_tail(),
                seconds: a.started.elapsed().as_secs_f64(),
                stopping: self.stopping,
            };
            let outcome = settle(run, &dir, self.sup.opts.until, &ended)?;
            self.sup
                .display
                .line(&outcome_line(run, &dir, &outcome, ended.seconds)?);
            self.meter.finished(s, a.run);
            let (pos, len) = self.meter.overall();
            self.sup.display.overall(pos, len, &self.meter.message());
            outcomes[a.run] = Some(outcome);
        }
        Ok(())
    }
}

/// How a started run ended, as the supervisor saw it.
struct Ended<'a> {
    exit: &'a Exit,
    tail: &'a [String],
    seconds: f64,
    /// Ctrl-C was pressed: a kill is the user's, not a crash.
    stopping: bool,
}

/// A run's outcome from its exit and its files. A crash (panic, OOM kill, ...) is recorded as a
/// failed run whose reason comes from its stderr; its checkpoint is kept, so --retry-failed
/// resumes it.
fn settle(run: &Run, dir: &Path, until: Option<usize>, e: &Ended) -> Result<Outcome> {
    Ok(match e.exit.code {
        Some(0 | 1) => match store::read_summary(dir)? {
            Some(sum) => Outcome::Finished(sum.status),
            None => {
                let done = store::read_epochs(&dir.join("epochs.csv")).map_or(0, |r| r.len());
                match until {
                    Some(u) if done >= u => Outcome::Paused(done),
                    _ => Outcome::Finished(RunState::Failed),
                }
            }
        },
        Some(EXIT_INTERRUPTED) => Outcome::Interrupted,
        Some(EXIT_BUSY) => Outcome::Busy("another process is training it".into()),
        _ if e.stopping => Outcome::Interrupted,
        _ => {
            // Recorded under the run's lock; taken by another process meanwhile, it is theirs.
            let Ok(_held) = lock::try_lock(&dir.join(".lock"), "recording a crash")? else {
                return Ok(Outcome::Busy(
                    "another process took it after its worker crashed".into(),
                ));
            };
            let records = store::read_epochs(&dir.join("epochs.csv")).unwrap_or_default();
            // Rewritten from what was read, so the summary's digest is of this file.
            store::write_epochs(dir, &records)?;
            let reason = crash_reason(&e.exit.status, e.tail);
            let sum = store::summarize(run, &records, RunState::Failed, Some(reason), e.seconds);
            store::write_summary(dir, &sum)?;
            Outcome::Finished(RunState::Failed)
        }
    })
}

/// The log line of a run that ended.
fn outcome_line(run: &Run, dir: &Path, outcome: &Outcome, seconds: f64) -> Result<String> {
    let (label, id) = (run.display_label(), &run.id);
    Ok(match outcome {
        Outcome::Finished(RunState::Done) => {
            let acc = store::read_summary(dir)?
                .and_then(|s| s.last)
                .map_or(f64::NAN, |l| l.val_accuracy * 100.0);
            format!(
                "done {label} ({id}): val accuracy {acc:.2}% in {}",
                crate::fmt::duration(seconds)
            )
        }
        Outcome::Finished(st) => {
            let why = store::read_summary(dir)?
                .and_then(|s| s.reason)
                .unwrap_or_default();
            format!("{st:?} {label} ({id}): {why}").to_lowercase()
        }
        Outcome::Interrupted => format!("stopped {label} ({id}) after a checkpoint"),
        Outcome::Busy(h) => format!("skipped {label} ({id}): {h}"),
        Outcome::Paused(e) => format!(
            "{label} ({id}) reached epoch {e}: val accuracy {:.2}%",
            store::read_epochs(&dir.join("epochs.csv"))
                .ok()
                .and_then(|r| r.last().map(|l| l.val_accuracy * 100.0))
                .unwrap_or(f64::NAN)
        ),
        Outcome::Skipped(s) => format!("skipped {label} ({id}): {}", s.name()),
    })
}
