//! What a training run records, as plain data: a row of `epochs.csv` and the batch loop's
//! progress. No burn here, so the store, the reporter and the CI gate read results without
//! depending on the trainer.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One epoch's metrics: a row of `epochs.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Test-set loss and accuracy, for runs validated on a held-out part of the training set:
    /// measured after the last epoch and after every epoch that improved the best validation
    /// accuracy (so the best epoch's weights are the ones evaluated), empty otherwise. Runs
    /// validated on the test set leave them empty: their validation columns are the test.
    #[serde(default)]
    pub test_loss: Option<f64>,
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    /// Wall time of the epoch, training and validation (a timing column).
    pub seconds: f64,
    /// Training images per second (a timing column).
    pub images_per_sec: f64,
    /// The learning rate of the epoch's last step, for runs with a schedule (no column
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// A program's own metrics ([`crate::spec::metric::Metric::Custom`]), by name: columns
    /// after the others in `epochs.csv` (written by [`crate::results::store`], not serde's CSV).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl EpochRecord {
    /// The first of its metrics that is NaN or infinite (a diverged run's epoch), by name.
    pub fn not_finite(&self) -> Option<(&str, f64)> {
        [
            ("train_loss", Some(self.train_loss)),
            ("train_accuracy", Some(self.train_accuracy)),
            ("val_loss", Some(self.val_loss)),
            ("val_accuracy", Some(self.val_accuracy)),
            ("test_loss", self.test_loss),
            ("test_accuracy", self.test_accuracy),
        ]
        .into_iter()
        .chain(self.extra.iter().map(|(k, v)| (k.as_str(), Some(*v))))
        .find_map(|(name, v)| v.filter(|v| !v.is_finite()).map(|v| (name, v)))
    }

    /// This epoch's value of `m`, for the metrics one epoch has (the `best_*` ones need the
    /// epochs before it; test metrics only some epochs have).
    pub fn metric(&self, m: crate::spec::metric::Metric) -> Option<f64> {
        use crate::spec::metric::Metric;
        match m {
            Metric::TrainAccuracy => Some(self.train_accuracy),
            Metric::TrainLoss => Some(self.train_loss),
            Metric::ValAccuracy => Some(self.val_accuracy),
            Metric::ValLoss => Some(self.val_loss),
            Metric::TestAccuracy => self.test_accuracy,
            Metric::TestLoss => self.test_loss,
            Metric::BestValAccuracy | Metric::BestEpochTestAccuracy => None,
            Metric::Custom(name) => self.extra.get(name).copied(),
        }
    }
}

/// Progress of the batch loop, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchProgress {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub loss: f64,
    pub accuracy: f64,
}
