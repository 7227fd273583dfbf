//! What is left to train: the one planner that local runs ([`crate::exec::supervisor`]),
//! successive halving's rungs ([`crate::exec::halving`]) and Slurm submissions
//! ([`crate::exec::slurm`]) share. It reads the result files only (the truth), and orders the runs
//! to train longest expected first, as every executor starts them.

use crate::error::Result;
use crate::results::checkpoint;
use crate::results::store::{self, RunState};
use crate::spec::plan::Run;
use std::path::Path;

/// Where one run stands before a training pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    /// Finished (and not to be retried): nothing to do.
    Finished(RunState),
    /// Already trained to the epoch this pass stops at, its checkpoint kept (a halving rung).
    Paused(usize),
    /// To train.
    Train,
}

/// Where `run` stands, for a pass that retrains failed runs when `retry` and stops at `until`.
pub(crate) fn left(results: &Path, run: &Run, retry: bool, until: Option<usize>) -> Result<Left> {
    let loaded = store::load_planned(results, run)?;
    let state = loaded.as_ref().map_or(RunState::NotStarted, |l| l.state);
    let done = loaded.as_ref().map_or(0, |l| l.records.len());
    if state.is_finished() && !state.needs_training(retry) {
        return Ok(Left::Finished(state));
    }
    if let Some(u) = until
        && !state.is_finished()
        && state != RunState::Corrupt
        && done >= u
        && checkpoint::path(&store::run_dir(results, run)).exists()
    {
        return Ok(Left::Paused(done));
    }
    Ok(Left::Train)
}

/// A pass over a sweep's runs: each run's place, and the indices of those to train in the order
/// they start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub(crate) left: Vec<Left>,
    pub(crate) todo: Vec<usize>,
}

/// The pass over `runs`; runs for which `elsewhere` holds (queued on Slurm) are not to train
/// here, whatever their files say.
pub(crate) fn pending(
    results: &Path,
    runs: &[Run],
    retry: bool,
    until: Option<usize>,
    elsewhere: impl Fn(&Run) -> bool,
) -> Result<Pending> {
    let mut places = Vec::with_capacity(runs.len());
    let mut todo = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let l = left(results, run, retry, until)?;
        if l == Left::Train && !elsewhere(run) {
            todo.push(i);
        }
        places.push(l);
    }
    order(runs, &mut todo);
    Ok(Pending { left: places, todo })
}

/// Longest expected first (by training FLOPs), plan order among equals: the big runs start
/// early and the small ones fill the gaps.
pub(crate) fn order(runs: &[Run], todo: &mut [usize]) {
    todo.sort_by_key(|&i| std::cmp::Reverse(runs[i].train_flops));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sweep `name`: Simple NN and Simple CNN with SGD, seeds 1 and 2, 3 epochs on 100 images.
    pub(crate) fn two_models_two_seeds(name: &str) -> Vec<Run> {
        let m = crate::spec::manifest::parse(
            Path::new("m.toml"),
            &format!(
                "[sweep]\nname = \"{name}\"\ndataset = \"mnist\"\ntrain_subset = 100\ntest_subset = 50\nseeds = [1, 2]\n[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"sgd\"]\nepochs = [3]\n"
            ),
        )
        .unwrap();
        crate::spec::plan::expand(&m).unwrap()
    }

    fn runs() -> Vec<Run> {
        two_models_two_seeds("p")
    }

    #[test]
    fn longest_first_then_plan_order_and_finished_runs_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let runs = runs();
        // The CNN costs more FLOPs than the MLP: its two seeds first, each pair in plan order.
        let p = pending(dir.path(), &runs, false, None, |_| false).unwrap();
        let labels: Vec<(&str, u64)> = p
            .todo
            .iter()
            .map(|&i| (runs[i].model.as_str(), runs[i].seed))
            .collect();
        assert_eq!(
            labels,
            [
                ("simple_cnn", 1),
                ("simple_cnn", 2),
                ("simple_nn", 1),
                ("simple_nn", 2)
            ]
        );
        // A finished run is left out; one queued elsewhere too.
        let done = &runs[p.todo[0]];
        let rd = store::run_dir(dir.path(), done);
        store::write_run(&rd, done).unwrap();
        store::write_epochs(&rd, &[]).unwrap();
        let sum = store::summarize(done, &[], RunState::Done, None, 1.0);
        store::write_summary(&rd, &sum).unwrap();
        let queued = runs[p.todo[1]].id.clone();
        let p2 = pending(dir.path(), &runs, false, None, |r| r.id == queued).unwrap();
        assert_eq!(p2.todo, p.todo[2..]);
        assert_eq!(p2.left[p.todo[0]], Left::Finished(RunState::Done));
    }
}
