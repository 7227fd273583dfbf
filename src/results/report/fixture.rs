//! Synthetic results for tests and benchmarks: real `Run` descriptions with made-up but
//! plausible, deterministic learning curves. Never used by the product itself.

use super::Loaded;
use crate::results::record::EpochRecord;
use crate::results::store::{self, RunState};
use crate::spec::optim::OptimizerSpec;
use std::path::Path;

/// `configs` configurations x `seeds` seeds, each with `epochs` epochs of records.
pub fn synthetic(configs: usize, seeds: usize, epochs: usize) -> Vec<Loaded> {
    let manifest = crate::spec::manifest::parse(
        Path::new("synthetic.toml"),
        "[sweep]\nname = \"synthetic\"\ndataset = \"mnist\"\n[[runs]]\nmodel = \"simple_cnn\"\noptimizer = \"sgd\"\nepochs = 1\n",
    )
    .expect("synthetic manifest");
    let base = crate::spec::plan::expand(&manifest)
        .expect("synthetic plan")
        .remove(0);
    let mut out = Vec::with_capacity(configs * seeds);
    for c in 0..configs {
        for s in 0..seeds {
            let mut run = base.clone();
            run.label = format!("config {c:05}");
            run.optimizer = OptimizerSpec::Sgd {
                lr: 0.001 * (c + 1) as f64,
                momentum: if c % 2 == 0 { 0.0 } else { 0.5 },
                nesterov: false,
                weight_decay: 0.0,
            };
            run.optimizer_name = if c % 2 == 0 {
                "sgd".into()
            } else {
                "sgd_momentum".into()
            };
            run.epochs = epochs;
            run.seed = s as u64 + 1;
            run.id = run.compute_id();
            let records: Vec<EpochRecord> = (1..=epochs)
                .map(|e| {
                    let progress = 1.0 - (-(e as f64) / 8.0).exp();
                    let wobble = ((c * 7 + s * 13 + e * 3) % 11) as f64 / 1000.0;
                    let skill = 0.90 + 0.08 * progress - (c % 5) as f64 * 0.004 + wobble;
                    EpochRecord {
                        epoch: e,
                        train_loss: 0.6 * (1.0 - progress) + 0.02 + wobble,
                        train_accuracy: (skill + 0.01).min(1.0),
                        val_loss: 0.65 * (1.0 - progress) + 0.04 + wobble,
                        val_accuracy: skill.min(1.0),
                        test_loss: None,
                        test_accuracy: None,
                        seconds: 10.0 + (c % 3) as f64,
                        images_per_sec: 6000.0 + (c % 3) as f64 * 100.0,
                        lr: None,
                        extra: Default::default(),
                    }
                })
                .collect();
            let summary = store::summarize(
                &run,
                &records,
                RunState::Done,
                None,
                records.iter().map(|r| r.seconds).sum(),
            );
            out.push(Loaded {
                run,
                records,
                summary: Some(summary),
                state: RunState::Done,
                problem: None,
            });
        }
    }
    out
}

/// Write synthetic runs to `results/<sweep>/runs/...` as `sweep run` would.
pub fn write(results: &Path, loaded: &[Loaded]) -> crate::error::Result<()> {
    for l in loaded {
        let dir = store::run_dir(results, &l.run);
        store::write_run(&dir, &l.run)?;
        store::write_epochs(&dir, &l.records)?;
        if let Some(s) = &l.summary {
            store::write_summary(&dir, s)?;
        }
    }
    Ok(())
}
