//! The metrics a report shows, ranks by, compares, or a baseline gates on: their names (as in
//! manifests, flags and CSV columns), headings, formatting and direction. Plain data, so the
//! manifest can check the names it is given and the reporter and the gate share them.
//!
//! Besides the built-in eight, a training program may report metrics of its own (`f1`,
//! `val_error`): [`Metric::Custom`], whose direction is declared (`"-perplexity"` in a
//! program's `metrics`, or on the command line) or inferred from its name ([`Goal`]).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A metric a report can show, rank by, or a baseline can gate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Metric {
    TrainAccuracy,
    TrainLoss,
    #[default]
    ValAccuracy,
    ValLoss,
    BestValAccuracy,
    /// After the last epoch, on the test set (the validation set itself when a run is
    /// validated on the test set).
    TestAccuracy,
    TestLoss,
    /// On the test set, with the weights of the best validation epoch.
    BestEpochTestAccuracy,
    /// A program's own metric, by name (interned: [`Metric::custom`]), its final epoch's value.
    Custom(&'static str),
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Maximize,
    Minimize,
}

/// Name parts that mark a metric to minimize when its direction is not declared.
const LOWER_IS_BETTER: [&str; 14] = [
    "loss",
    "error",
    "err",
    "mse",
    "mae",
    "rmse",
    "nll",
    "perplexity",
    "ppl",
    "wer",
    "cer",
    "seconds",
    "time",
    "latency",
];

impl Goal {
    /// A custom metric's direction when none is declared: minimize when a `_`-separated part
    /// of its name is `loss`, `error`, `mse`, `perplexity`, `seconds`, ... (`val_error`,
    /// `test_mse`), maximize otherwise (`f1`, `val_auc`).
    pub fn inferred(name: &str) -> Goal {
        let lower = name.to_ascii_lowercase();
        if lower.split('_').any(|part| LOWER_IS_BETTER.contains(&part)) {
            Goal::Minimize
        } else {
            Goal::Maximize
        }
    }
}

/// Custom metric names, interned so that a [`Metric`] stays `Copy`, and their declared goals.
static CUSTOM: Mutex<BTreeMap<&'static str, Option<Goal>>> = Mutex::new(BTreeMap::new());

/// What may follow `epoch` in a program's report without being a metric of its own.
const RESERVED: [&str; 5] = ["epoch", "seconds", "images_per_sec", "lr", "epochs"];

/// A metric as written in a program's `metrics` or on the command line: a name, with `-`
/// (lower is better) or `+` (higher is better) before it to declare its direction.
pub(crate) fn split_goal(written: &str) -> (&str, Option<Goal>) {
    match written.as_bytes().first() {
        Some(b'-') => (&written[1..], Some(Goal::Minimize)),
        Some(b'+') => (&written[1..], Some(Goal::Maximize)),
        _ => (written, None),
    }
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

    /// The custom metric `name`, with its direction when declared. What a manifest or a
    /// recorded run declares fills in only what nothing said before: a direction given on the
    /// command line ([`Metric::from_arg`]) stays. `Err` says why `name` cannot be a metric's
    /// name.
    pub fn custom(name: &str, goal: Option<Goal>) -> Result<Metric, String> {
        Metric::intern(name, goal, false)
    }

    fn intern(name: &str, goal: Option<Goal>, overwrite: bool) -> Result<Metric, String> {
        if Metric::parse(name).is_some() {
            return match goal {
                None => Ok(Metric::parse(name).expect("just found")),
                Some(_) => Err(format!(
                    "`{name}` is a built-in metric: its direction is fixed (no `+` or `-` before it)"
                )),
            };
        }
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not a metric name (letters, digits and _, not starting with a digit)"
            ));
        }
        if RESERVED.contains(&name) {
            return Err(format!(
                "`{name}` is not a metric: {} are read from a program's report as timing and schedule",
                RESERVED[1..4].join(", ")
            ));
        }
        let mut known = CUSTOM.lock().unwrap_or_else(|e| e.into_inner());
        let interned = match known.get_key_value(name) {
            Some((k, _)) => *k,
            None => Box::leak(name.to_string().into_boxed_str()),
        };
        let entry = known.entry(interned).or_insert(None);
        if goal.is_some() && (overwrite || entry.is_none()) {
            *entry = goal;
        }
        Ok(Metric::Custom(interned))
    }

    /// A metric as written on the command line: a built-in name, or a custom one with an
    /// optional `+`/`-` ([`split_goal`]), which overrides what the manifest and the runs declare.
    pub fn from_arg(written: &str) -> Result<Metric, String> {
        let (name, goal) = split_goal(written);
        Metric::intern(name, goal, true).map_err(|e| {
            format!(
                "{e}; built-in metrics: {}",
                Metric::ALL.map(|m| m.name()).join(", ")
            )
        })
    }

    /// Which way it improves: accuracies up, losses down, a custom metric as declared or
    /// inferred from its name ([`Goal::inferred`]).
    pub fn goal(self) -> Goal {
        match self {
            Metric::TrainLoss | Metric::ValLoss | Metric::TestLoss => Goal::Minimize,
            Metric::Custom(name) => CUSTOM
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
                .copied()
                .flatten()
                .unwrap_or_else(|| Goal::inferred(name)),
            _ => Goal::Maximize,
        }
    }

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
            Metric::Custom(name) => name,
        }
    }

    /// A built-in metric by name.
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
            Metric::Custom(name) => name,
        }
    }

    /// Accuracies go up when things get better; losses go down; custom metrics as [`Self::goal`].
    pub fn higher_is_better(self) -> bool {
        self.goal() == Goal::Maximize
    }

    /// A fraction of images right: shown in percent, clipped to [0, 1], with a binomial floor.
    pub fn is_accuracy(self) -> bool {
        matches!(
            self,
            Metric::TrainAccuracy
                | Metric::ValAccuracy
                | Metric::BestValAccuracy
                | Metric::TestAccuracy
                | Metric::BestEpochTestAccuracy
        )
    }

    /// Format a value as a reader expects: accuracies in percent with 2 decimals, losses and
    /// custom metrics with 4.
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
            Metric::TrainLoss | Metric::ValLoss | Metric::TestLoss | Metric::Custom(_) => None,
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

/// One objective of a Pareto table: a metric, or a run's cost (its wall time, its model's
/// parameters), each with the way it improves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    Metric(Metric),
    /// Seconds of training per run (lower is better unless `+wall_seconds`).
    WallSeconds(Goal),
    /// The model's trainable parameters (fewer is better unless `+params`).
    Params(Goal),
}

impl Serialize for Objective {
    /// As `rank_by` writes it, with its direction: `"-wall_seconds"`, `"+val_accuracy"`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sign = if self.higher_is_better() { '+' } else { '-' };
        s.serialize_str(&format!("{sign}{}", self.name()))
    }
}

impl Objective {
    /// As written in `rank_by` or `--rank-by`: a metric ([`Metric::from_arg`]), or
    /// `wall_seconds` / `params` with an optional `+`/`-`.
    pub fn from_arg(written: &str) -> Result<Objective, String> {
        match split_goal(written) {
            ("wall_seconds", goal) => Ok(Objective::WallSeconds(goal.unwrap_or(Goal::Minimize))),
            ("params", goal) => Ok(Objective::Params(goal.unwrap_or(Goal::Minimize))),
            _ => Metric::from_arg(written)
                .map(Objective::Metric)
                .map_err(|e| format!("{e}; or wall_seconds, params (costs)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Metric(m) => m.name(),
            Objective::WallSeconds(_) => "wall_seconds",
            Objective::Params(_) => "params",
        }
    }

    pub fn heading(self) -> &'static str {
        match self {
            Objective::Metric(m) => m.heading(),
            Objective::WallSeconds(_) => "time (s)",
            Objective::Params(_) => "params",
        }
    }

    pub fn higher_is_better(self) -> bool {
        match self {
            Objective::Metric(m) => m.higher_is_better(),
            Objective::WallSeconds(g) | Objective::Params(g) => g == Goal::Maximize,
        }
    }

    /// A value as tables show it.
    pub fn format(self, v: f64) -> String {
        match self {
            Objective::Metric(m) => m.format(v),
            Objective::WallSeconds(_) => format!("{v:.1}"),
            Objective::Params(_) => format!("{v:.0}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_metric_goes_the_way_its_name_or_its_sign_says() {
        let f1 = Metric::from_arg("test_metric_f1").unwrap();
        assert_eq!(f1.name(), "test_metric_f1");
        assert!(f1.higher_is_better() && !f1.is_accuracy());
        assert_eq!(f1.measured_on(), None);
        assert_eq!(f1.format(0.912345), "0.9123");
        assert!(
            !Metric::from_arg("test_metric_val_error")
                .unwrap()
                .higher_is_better()
        );
        assert!(
            !Metric::from_arg("test_metric_mse")
                .unwrap()
                .higher_is_better()
        );
        // Declared: `-` overrides the name, and the same name is the same metric.
        let declared = Metric::from_arg("-test_metric_score").unwrap();
        assert!(!declared.higher_is_better());
        assert_eq!(Metric::from_arg("test_metric_score").unwrap(), declared);
        assert!(
            !Metric::from_arg("test_metric_score")
                .unwrap()
                .higher_is_better()
        );
        assert_eq!(
            serde_json::to_string(&declared).unwrap(),
            "\"test_metric_score\""
        );
    }

    #[test]
    fn built_in_names_stay_built_in_and_bad_names_say_why() {
        assert_eq!(Metric::from_arg("val_loss"), Ok(Metric::ValLoss));
        assert!(!Metric::ValLoss.higher_is_better() && Metric::ValAccuracy.is_accuracy());
        let e = Metric::from_arg("-val_accuracy").unwrap_err();
        assert!(e.contains("built-in metric"), "{e}");
        let e = Metric::from_arg("2fast").unwrap_err();
        assert!(
            e.contains("not a metric name") && e.contains("val_accuracy"),
            "{e}"
        );
        assert!(Metric::from_arg("seconds").unwrap_err().contains("timing"));
        assert!(Metric::from_arg("").is_err());
    }
}
