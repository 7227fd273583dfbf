//! A short calibration: how many seconds a run's model needs per training image on this machine,
//! measured by training a few batches of random images with the real training loop.

use crate::data::Split;
use crate::spec::plan::Run;
use crate::train::{Observer, State};
use burn::tensor::Device;
use std::time::Instant;

/// Batches timed (after one to warm up).
const BATCHES: usize = 6;

struct Clock {
    /// When each batch ended.
    ends: Vec<Instant>,
}

impl Observer for Clock {
    fn batch(&mut self, _p: crate::results::record::BatchProgress) {
        self.ends.push(Instant::now());
    }
}

/// Seconds per training image of `run`'s model, batch size and optimizer on `threads` threads.
pub(crate) fn seconds_per_image(run: &Run, threads: usize, device: &Device) -> f64 {
    let mut r = run.clone();
    r.epochs = 1;
    let n = run.batch_size * (BATCHES + 1);
    let (shape, classes) = (run.data.shape(), run.data.classes());
    let (train, val) = (
        Split::synthetic(shape, classes, n),
        Split::synthetic(shape, classes, 1),
    );
    let ad = device.clone().autodiff();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .expect("a thread pool");
    let mut clock = Clock { ends: Vec::new() };
    pool.install(|| {
        let state = State::new(&r, &ad);
        crate::train::train(&r, &train, &val, None, &ad, state, &mut clock)
    });
    let e = &clock.ends;
    let timed = (e[e.len() - 1] - e[0]).as_secs_f64();
    timed / (run.batch_size * (e.len() - 1)) as f64
}
