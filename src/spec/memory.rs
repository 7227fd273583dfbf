//! A run's peak memory, estimated before it starts, from what it holds: the run's examples in the
//! prepared dataset file (mapped, shared by every worker), the parameters with their gradients and optimizer state (and
//! the copies a checkpoint makes), and the activations of a training batch and of an evaluation
//! batch of 1,000 images. `sweep plan` shows it; `sweep run` and `sweep submit` refuse a run
//! that cannot fit, and the scheduler starts no more runs at once than the memory holds.
//!
//! Checked against the peak resident memory the workers record (`peak_rss_bytes` in
//! summary.json): `bench/memory.sh`, figures in docs/benchmarks.md, "Memory estimates".

use crate::spec::arch::{self, LayerInfo};
use crate::spec::optim::OptimizerSpec;
use crate::spec::plan::{DataSpec, Run};

/// The process before any data or model: the binary, the allocator, the thread pools
/// (measured: a worker's resident memory minus what the rest of this estimate counts).
pub(crate) const RUNTIME: u64 = 48 << 20;

/// Images per evaluation batch ([`crate::train::evaluate_full`]).
pub(crate) const EVAL_BATCH: u64 = 1000;

/// The parts of a run's memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    /// The run's examples (after subsets) in the prepared dataset file every worker maps: in
    /// each worker's resident memory, but one copy on the machine however many runs read it.
    pub shared: u64,
    /// Weights, gradients and optimizer state, or at an epoch's end the checkpoint's copies.
    pub parameters: u64,
    /// The larger of a training batch's activations (kept for the backward pass, and their
    /// gradients) and an evaluation batch's.
    pub activations: u64,
}

impl Estimate {
    /// The peak resident memory of the run's worker (what `peak_rss_bytes` records).
    pub(crate) fn peak(&self) -> u64 {
        self.private().saturating_add(self.shared)
    }

    /// What the run holds on a GPU: parameters, optimizer state and activations (the dataset
    /// stays in the host's memory; batches are copied over one at a time).
    pub(crate) fn gpu(&self) -> u64 {
        self.parameters.saturating_add(self.activations)
    }

    /// What the run costs beyond the shared dataset: the runtime, parameters and activations.
    pub(crate) fn private(&self) -> u64 {
        RUNTIME
            .saturating_add(self.parameters)
            .saturating_add(self.activations)
    }
}

/// Bytes of one example in the prepared file: its values and its label.
pub(crate) fn example_bytes(data: &DataSpec) -> u64 {
    (data.shape().numel() * data.dtype().bytes()) as u64 + 4
}

/// The estimate for `run`.
pub(crate) fn estimate(run: &Run) -> Estimate {
    // A program's run holds what it declares (`memory = "2GiB"`), else it is not counted.
    if let Some(p) = &run.program {
        return Estimate {
            shared: 0,
            parameters: 0,
            activations: p.memory.unwrap_or(0),
        };
    }
    let infos =
        arch::infer(&run.layers, run.data.shape()).expect("a planned run's layers were validated");
    estimate_with(run, &infos)
}

/// [`estimate`] with the layer shapes already inferred.
pub(crate) fn estimate_with(run: &Run, infos: &[LayerInfo]) -> Estimate {
    let f32s = 4u64;
    let d = &run.data;
    let image = d.shape().numel() as u64;
    let examples = d.train_examples() as u64
        + d.val_examples() as u64
        + match d.validation {
            crate::spec::manifest::Validation::Test => 0,
            crate::spec::manifest::Validation::Holdout(_) => d.test_examples() as u64,
        };
    let shared = examples * example_bytes(d);
    // Saturating: a model too large to count in bytes is too large for any machine.
    let weights = (run.params as u64).saturating_mul(f32s);
    let state = weights.saturating_mul(optimizer_copies(&run.optimizer));
    // Training holds weights, gradients and state; a checkpoint adds the records' serialized
    // bytes and the copies on their way to the file (calibrated on a 20M-parameter MLP).
    let parameters = weights
        .saturating_mul(4)
        .saturating_add(state.saturating_mul(3));
    let batch = run.batch_size as u64;
    let outputs: u64 = infos.iter().map(|i| i.output.numel() as u64).sum();
    let train = (image + 2 * outputs) * batch * f32s;
    // An evaluation batch holds the largest layer output and what is computed from it (the
    // next layer's output, the allocator's slack): 2.5 x the largest output, calibrated on the
    // two CNNs' measured peaks (docs/benchmarks.md, "Memory estimates").
    let largest = infos
        .iter()
        .map(|i| i.output.numel() as u64)
        .max()
        .unwrap_or(0);
    let eval_images = EVAL_BATCH.min(d.val_examples().max(d.test_examples()) as u64);
    let eval = largest * eval_images * f32s * 5 / 2;
    Estimate {
        shared,
        parameters,
        activations: train.max(eval),
    }
}

/// The peak memory of evaluating a network of `params` parameters with layer shapes `infos` on
/// `images` examples of `example_bytes` each (`sweep eval`): the runtime, the examples read from
/// the prepared file, the weights, and an evaluation batch's activations as in [`estimate_with`].
pub(crate) fn eval_peak(
    params: usize,
    infos: &[LayerInfo],
    images: u64,
    example_bytes: u64,
) -> u64 {
    let f32s = 4u64;
    let largest = infos
        .iter()
        .map(|i| i.output.numel() as u64)
        .max()
        .unwrap_or(0);
    let eval = largest * EVAL_BATCH.min(images) * f32s * 5 / 2;
    RUNTIME
        .saturating_add(images.saturating_mul(example_bytes))
        .saturating_add((params as u64).saturating_mul(f32s).saturating_add(eval))
}

/// Copies of the weights an optimizer keeps: momentum or a squared-gradient average, or both.
fn optimizer_copies(o: &OptimizerSpec) -> u64 {
    match *o {
        OptimizerSpec::Sgd { momentum, .. } => u64::from(momentum > 0.0),
        OptimizerSpec::Rmsprop { momentum, .. } => 1 + u64::from(momentum > 0.0),
        OptimizerSpec::Adam { .. } => 2,
    }
}

/// This machine's memory as the kernel reports it (MemTotal in /proc/meminfo), in bytes.
pub(crate) fn machine_total() -> Option<u64> {
    meminfo("MemTotal:")
}

/// Memory available to new processes now (MemAvailable), in bytes.
pub(crate) fn machine_available() -> Option<u64> {
    meminfo("MemAvailable:")
}

/// This process's peak resident memory so far (VmHWM in /proc/self/status), in bytes.
pub(crate) fn peak_rss() -> Option<u64> {
    proc_kb("/proc/self/status", "VmHWM:")
}

fn meminfo(key: &str) -> Option<u64> {
    proc_kb("/proc/meminfo", key)
}

/// A `key: <n> kB` line of a /proc file, in bytes.
fn proc_kb(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}
