//! How long runs take here: the seconds a model shape needs per training image on this machine
//! (its CPU, the ISA path our kernels take, the threads per run), measured by a short
//! calibration ([`crate::train::calibrate`]) or learnt from the epochs `sweep run` trains, and
//! cached per user (`~/.cache/sweep/timing.json`); and how long a set of runs takes on a number
//! of slots, longest first, as the scheduler starts them. `sweep plan` prints the estimate,
//! `sweep run`'s overall bar counts this work, `sweep status` shows what is left.

use crate::spec::plan::Run;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Seconds per training image, by [`key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cache {
    pub per_image: BTreeMap<String, f64>,
}

/// What a speed depends on: the machine (CPU model and ISA path), the layers and the input shape
/// they take (left out for the built-in datasets' 28x28, as it always was), the batch size, the
/// optimizer kind and the threads per run.
pub(crate) fn key(run: &Run, threads: usize) -> String {
    use sha2::{Digest, Sha256};
    let layers = match run.data.declared {
        None => serde_json::to_vec(&run.layers),
        Some(_) => serde_json::to_vec(&(&run.layers, run.data.shape())),
    }
    .expect("layers serialize");
    let shape = hex::encode(&Sha256::digest(&layers)[..6]);
    format!(
        "{} | {} | layers {shape} | batch {} | {} | {threads} thread(s)",
        crate::train::conv::isa::cpu_model(),
        crate::train::conv::isa::current(),
        run.batch_size,
        run.optimizer.kind().name()
    )
}

pub(crate) fn cache_path() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("sweep")
        .join("timing.json")
}

/// The cache, or an empty one when there is none or it cannot be read (it is only a cache).
pub(crate) fn load() -> Cache {
    std::fs::read(cache_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Save the cache (best effort: a read-only home only loses the speed-up).
pub(crate) fn save(cache: &Cache) {
    let bytes = serde_json::to_vec_pretty(cache).expect("cache serializes");
    let _ = crate::results::store::write_atomic(&cache_path(), &bytes);
}

/// Learn from a measured epoch of `run`: its `seconds` (evaluation included, which
/// [`epoch_images`] counts). A moving average, so one slow epoch does not set it.
pub(crate) fn learn(cache: &mut Cache, key: String, run: &Run, seconds: f64) {
    let images = epoch_images(run);
    if !(seconds.is_finite() && seconds > 0.0 && images > 0.0) {
        return;
    }
    let measured = seconds / images;
    cache
        .per_image
        .entry(key)
        .and_modify(|v| *v = 0.5 * *v + 0.5 * measured)
        .or_insert(measured);
}

/// An epoch's work in training images: the training images, plus the validation images and a
/// third of the test images (evaluated at improving epochs and the last), each evaluated image
/// counted as a third of a trained one (a forward pass alone).
pub(crate) fn epoch_images(run: &Run) -> f64 {
    let d = &run.data;
    let eval = d.val_examples() as f64
        + match d.validation {
            crate::spec::manifest::Validation::Test => 0.0,
            crate::spec::manifest::Validation::Holdout(_) => d.test_examples() as f64 / 3.0,
        };
    d.train_examples() as f64 + eval / 3.0
}

/// Seconds `run` needs from epoch `done + 1` to its last, at `per_image` seconds per training
/// image.
pub(crate) fn run_seconds(run: &Run, per_image: f64, done: usize) -> f64 {
    epoch_images(run) * per_image * run.epochs.saturating_sub(done) as f64
}

/// The wall time of `durations` on `slots` slots, longest first, each on the first slot free:
/// how the scheduler starts runs.
pub(crate) fn makespan(durations: &[f64], slots: usize) -> f64 {
    let mut d: Vec<f64> = durations.to_vec();
    d.sort_by(|a, b| b.total_cmp(a));
    let mut free = vec![0.0f64; slots.max(1)];
    for x in d {
        let slot = free
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one slot");
        *slot += x;
    }
    free.into_iter().fold(0.0, f64::max)
}

/// Each run's estimated seconds to train in full on a CPU slot of `threads` threads: from the
/// speed the cache knows for its shape, else its training FLOPs at the seconds per FLOP of the
/// runs whose speed is known (1 ns per FLOP when none is).
pub(crate) fn run_estimates(runs: &[Run], speeds: &Cache, threads: usize) -> Vec<f64> {
    let known: Vec<Option<f64>> = runs
        .iter()
        .map(|r| {
            let v = speeds.per_image.get(&key(r, threads))?;
            Some(run_seconds(r, *v, 0))
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
    known
        .iter()
        .zip(runs)
        .map(|(k, r)| k.unwrap_or(r.train_flops as f64 * per_flop))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_first_on_the_first_free_slot() {
        // Greedy, like the scheduler: 3+2+2 on one slot, 3+2 on the other (the best split is 6).
        assert_eq!(makespan(&[3.0, 3.0, 2.0, 2.0, 2.0], 2), 7.0);
        assert_eq!(makespan(&[10.0, 1.0, 1.0], 2), 10.0);
        assert_eq!(makespan(&[5.0, 4.0], 1), 9.0);
        assert_eq!(makespan(&[], 2), 0.0);
    }

    #[test]
    fn learning_averages_and_ignores_nonsense() {
        let m = crate::spec::manifest::parse(
            std::path::Path::new("m.toml"),
            "[sweep]\nname = \"t\"\ndataset = \"mnist\"\ntrain_subset = 900\ntest_subset = 300\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 4\n",
        )
        .unwrap();
        let run = &crate::spec::plan::expand(&m).unwrap()[0];
        // 900 trained + 300 validated (as 100): 1,000 images an epoch.
        assert_eq!(epoch_images(run), 1000.0);
        let mut c = Cache::default();
        learn(&mut c, "k".into(), run, 10.0);
        learn(&mut c, "k".into(), run, 20.0);
        assert_eq!(c.per_image["k"], 0.015);
        learn(&mut c, "k".into(), run, f64::NAN);
        assert_eq!(c.per_image["k"], 0.015);
        assert_eq!(run_seconds(run, 0.015, 1), 45.0);
    }
}
