//! `sweep verify`: whether runs trained again gave the same numbers. Every metric of every epoch
//! is compared bit for bit (the timing columns are not results); a difference is reported as
//! the largest one, with its metric and epoch.

use crate::results::record::EpochRecord;

/// How a run trained again compares with the recorded one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Every metric of every epoch bit-identical.
    Identical { epochs: usize },
    /// The largest absolute difference, where it is.
    Differs {
        metric: &'static str,
        epoch: usize,
        recorded: f64,
        again: f64,
    },
    /// Not the same number of epochs.
    Epochs { recorded: usize, again: usize },
}

impl Verdict {
    pub(crate) fn identical(&self) -> bool {
        matches!(self, Verdict::Identical { .. })
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Verdict::Identical { epochs } => {
                format!("identical: every metric of {epochs} epoch(s), bit for bit")
            }
            Verdict::Differs {
                metric,
                epoch,
                recorded,
                again,
            } => format!(
                "differs: largest difference {:.3e} in {metric} at epoch {epoch} ({recorded} recorded, {again} again)",
                (again - recorded).abs()
            ),
            Verdict::Epochs { recorded, again } => {
                format!("differs: {recorded} epoch(s) recorded, {again} trained again")
            }
        }
    }
}

/// The metrics a record carries (the timing columns are not compared).
fn metrics(r: &EpochRecord) -> [(&'static str, Option<f64>); 7] {
    [
        ("train_loss", Some(r.train_loss)),
        ("train_accuracy", Some(r.train_accuracy)),
        ("val_loss", Some(r.val_loss)),
        ("val_accuracy", Some(r.val_accuracy)),
        ("test_loss", r.test_loss),
        ("test_accuracy", r.test_accuracy),
        ("lr", r.lr),
    ]
}

/// Compare a run's recorded epochs with the same run trained again.
pub(crate) fn compare(recorded: &[EpochRecord], again: &[EpochRecord]) -> Verdict {
    if recorded.len() != again.len() {
        return Verdict::Epochs {
            recorded: recorded.len(),
            again: again.len(),
        };
    }
    let mut worst: Option<(f64, Verdict)> = None;
    for (a, b) in recorded.iter().zip(again) {
        for ((metric, x), (_, y)) in metrics(a).into_iter().zip(metrics(b)) {
            let (x, y) = match (x, y) {
                (Some(x), Some(y)) if x.to_bits() == y.to_bits() => continue,
                (None, None) => continue,
                (x, y) => (x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)),
            };
            let d = (x - y).abs();
            let d = if d.is_nan() { f64::INFINITY } else { d };
            if worst.as_ref().is_none_or(|(w, _)| d > *w) {
                let v = Verdict::Differs {
                    metric,
                    epoch: a.epoch,
                    recorded: x,
                    again: y,
                };
                worst = Some((d, v));
            }
        }
    }
    worst.map_or(
        Verdict::Identical {
            epochs: recorded.len(),
        },
        |(_, v)| v,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, val: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 0.5,
            train_accuracy: 0.8,
            val_loss: 0.6,
            val_accuracy: val,
            test_loss: None,
            test_accuracy: None,
            seconds: epoch as f64,
            images_per_sec: 1000.0 * epoch as f64,
            lr: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn bit_identical_metrics_are_identical_whatever_the_timing() {
        let a = [record(1, 0.9), record(2, 0.91)];
        let mut b = a.clone();
        b[1].seconds = 99.0;
        assert!(compare(&a, &b).identical());
        b[1].val_accuracy = 0.91 + 1e-12;
        b[0].val_accuracy = 0.9 + 1e-3;
        let v = compare(&a, &b);
        assert_eq!(
            v,
            Verdict::Differs {
                metric: "val_accuracy",
                epoch: 1,
                recorded: 0.9,
                again: 0.9 + 1e-3
            }
        );
        assert!(
            v.text().contains("1.000e-3 in val_accuracy at epoch 1"),
            "{}",
            v.text()
        );
        assert_eq!(
            compare(&a, &a[..1]),
            Verdict::Epochs {
                recorded: 2,
                again: 1
            }
        );
    }
}
