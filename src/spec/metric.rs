//! The metrics a report shows, ranks by, compares, or a baseline gates on: their names (as in
//! manifests, flags and CSV columns), headings and formatting. Plain data, so the manifest can
//! check the names it is given and the reporter and the gate share them.

use serde::Serialize;

/// A metric a report can show, rank by, or a baseline can gate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Metric {
    TrainAccuracy,
    TrainLoss,
    ValAccuracy,
    ValLoss,
    BestValAccuracy,
    /// After the last epoch, on the test set (the validation set itself when a run is
    /// validated on the test set).
    TestAccuracy,
    TestLoss,
    /// On the test set, with the weights of the best validation epoch.
    BestEpochTestAccuracy,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::TrainAccuracy,
        Metric::TrainLoss,
        Metric::ValAccuracy,
        Metric::ValLoss,
        Metric::BestValAccuracy,
        Metric::TestAccuracy,
        Metric::TestLoss,
        Metric::BestEpochTestAccuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TrainAccuracy => "train_accuracy",
            Metric::TrainLoss => "train_loss",
            Metric::ValAccuracy => "val_accuracy",
            Metric::ValLoss => "val_loss",
            Metric::BestValAccuracy => "best_val_accuracy",
            Metric::TestAccuracy => "test_accuracy",
            Metric::TestLoss => "test_loss",
            Metric::BestEpochTestAccuracy => "best_epoch_test_accuracy",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Column heading for tables.
    pub fn heading(self) -> &'static str {
        match self {
            Metric::TrainAccuracy => "train acc",
            Metric::TrainLoss => "train loss",
            Metric::ValAccuracy => "val acc",
            Metric::ValLoss => "val loss",
            Metric::BestValAccuracy => "best val acc",
            Metric::TestAccuracy => "test acc",
            Metric::TestLoss => "test loss",
            Metric::BestEpochTestAccuracy => "test acc at best val",
        }
    }

    /// Accuracies go up when things get better; losses go down.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::TrainLoss | Metric::ValLoss | Metric::TestLoss)
    }

    pub fn is_accuracy(self) -> bool {
        self.higher_is_better()
    }

    /// Format a value as a reader expects: accuracies in percent with 2 decimals, losses with 4.
    pub fn format(self, v: f64) -> String {
        if self.is_accuracy() {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.4}")
        }
    }

    /// The set an accuracy is measured on (`None` for losses): its size sets the accuracy's
    /// binomial floor.
    pub fn measured_on(self) -> Option<MeasuredOn> {
        match self {
            Metric::TrainAccuracy => Some(MeasuredOn::Train),
            Metric::ValAccuracy | Metric::BestValAccuracy => Some(MeasuredOn::Validation),
            Metric::TestAccuracy | Metric::BestEpochTestAccuracy => Some(MeasuredOn::Test),
            Metric::TrainLoss | Metric::ValLoss | Metric::TestLoss => None,
        }
    }

    /// An interval as reported: accuracies clipped to [0, 1] (a t interval of few seeds can
    /// reach past them). Applied once, where seeds are aggregated.
    pub fn clip(self, [lo, hi]: [f64; 2]) -> [f64; 2] {
        if self.is_accuracy() {
            [lo.max(0.0), hi.min(1.0)]
        } else {
            [lo, hi]
        }
    }

    /// Which epoch's value this is: the last, or the best validation epoch's.
    pub fn epoch_rule(self) -> &'static str {
        match self {
            Metric::BestValAccuracy | Metric::BestEpochTestAccuracy => "best validation epoch",
            _ => "final epoch",
        }
    }
}

/// The images an accuracy is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasuredOn {
    Train,
    Validation,
    Test,
}
