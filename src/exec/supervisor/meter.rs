//! The overall progress of a pass, in work rather than runs: each run's estimated seconds
//! (milliseconds) on its slot ([`timing::run_estimates`]), advanced batch by batch, so the ETA
//! moves while the first (longest) runs train, not only when they end. Numbers only; the
//! display shows them.

use crate::exec::timing;
use crate::spec::plan::Run;
use std::time::Instant;

use super::Slot;

pub(super) struct Meter {
    /// Estimated work of each run of the sweep, to the epoch this pass trains it to.
    work: Vec<u64>,
    /// The epoch each run trains to in this pass.
    targets: Vec<usize>,
    /// The work of the runs this pass trains, less what they had done before it.
    total: u64,
    finished_work: u64,
    finished_runs: usize,
    runs: usize,
    /// Per slot: (the work its run has done in this pass, the work it had done before).
    done: Vec<(u64, u64)>,
    until: Option<usize>,
    eta_logged: bool,
    started: Instant,
    speeds: timing::Cache,
}

impl Meter {
    pub(super) fn new(
        runs: &[Run],
        todo: &[usize],
        cpu_threads: usize,
        until: Option<usize>,
        slots: usize,
    ) -> Meter {
        let speeds = timing::load();
        let seconds = timing::run_estimates(runs, &speeds, cpu_threads);
        let work: Vec<u64> = runs
            .iter()
            .zip(seconds)
            .map(|(r, s)| {
                let ms = (s * 1000.0).max(1.0) as u64;
                (ms * target(r, until) as u64 / r.epochs.max(1) as u64).max(1)
            })
            .collect();
        Meter {
            total: todo.iter().map(|&i| work[i]).sum(),
            targets: runs.iter().map(|r| target(r, until)).collect(),
            work,
            finished_work: 0,
            finished_runs: 0,
            runs: todo.len(),
            done: vec![(0, 0); slots],
            until,
            eta_logged: false,
            started: Instant::now(),
            speeds,
        }
    }

    /// The epochs `run` trains to in this pass.
    pub(super) fn target(&self, run: &Run) -> usize {
        target(run, self.until)
    }

    pub(super) fn total(&self) -> u64 {
        self.total
    }

    /// (position, length) of the overall progress.
    pub(super) fn overall(&self) -> (u64, u64) {
        let pos = self.finished_work + self.done.iter().map(|d| d.0).sum::<u64>();
        (pos.min(self.total), self.total)
    }

    pub(super) fn message(&self) -> String {
        format!("{}/{} runs", self.finished_runs, self.runs)
    }

    /// Run `i` started on slot `s`, resumed after `resumed_from` epochs: work done before this
    /// pass is not this pass's to time.
    pub(super) fn started(&mut self, s: usize, i: usize, resumed_from: usize) {
        let before =
            (self.work[i] as f64 * resumed_from as f64 / self.targets[i].max(1) as f64) as u64;
        self.done[s] = (0, before);
        self.total = self.total.saturating_sub(before);
    }

    /// Run `i` on slot `s` is `frac` of the way to its target. Once per pass, after a tenth of
    /// the work, the ETA as a log line.
    pub(super) fn progress(&mut self, s: usize, i: usize, frac: f64) -> Option<String> {
        let before = self.done[s].1;
        self.done[s].0 = ((self.work[i] as f64 * frac) as u64).saturating_sub(before);
        let (pos, len) = self.overall();
        if self.eta_logged || pos * 10 < len.max(1) {
            return None;
        }
        self.eta_logged = true;
        let elapsed = self.started.elapsed().as_secs_f64();
        let f = pos as f64 / len.max(1) as f64;
        Some(format!(
            "{:.0}% of the estimated work done in {}: ETA {}",
            f * 100.0,
            crate::fmt::duration(elapsed),
            crate::fmt::duration(elapsed / f - elapsed)
        ))
    }

    /// Run `i` on slot `s` ended.
    pub(super) fn finished(&mut self, s: usize, i: usize) {
        self.finished_runs += 1;
        self.finished_work += self.work[i].saturating_sub(self.done[s].1);
        self.done[s] = (0, 0);
    }

    /// A measured epoch of `run` on `slot` teaches the timing cache (CPU slots: the cache's
    /// speeds are per CPU and threads).
    pub(super) fn learn(&mut self, run: &Run, slot: &Slot, seconds: f64) {
        if slot.device.is_cpu() {
            let key = timing::key(run, slot.threads);
            timing::learn(&mut self.speeds, key, run, seconds);
        }
    }

    /// Keep what was learnt (best effort).
    pub(super) fn save(&self) {
        timing::save(&self.speeds);
    }
}

fn target(run: &Run, until: Option<usize>) -> usize {
    until.map_or(run.epochs, |u| u.min(run.epochs))
}
