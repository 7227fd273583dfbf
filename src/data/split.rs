//! A run's splits: views of rows of the mapped prepared dataset (no copy), with the run's
//! preprocessing applied as examples are read into a batch.

use super::prepared::{Prepared, Scale};
use crate::spec::arch::Shape;
use crate::spec::dataset::{Dtype, Part};
use crate::spec::manifest::{Validation, holdout_len};
use crate::spec::plan::DataSpec;
use std::ops::Range;
use std::sync::Arc;

/// Rows `rows` of one split of a prepared dataset, and how to turn them into inputs.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    data: Arc<Prepared>,
    part: Part,
    rows: Range<usize>,
    pre: Arc<Pre>,
}

/// The run's preprocessing, resolved: a scale, then maybe (x - mean) / std per group (channel
/// or feature) of `per` consecutive values.
#[derive(Debug, Clone, PartialEq)]
struct Pre {
    scale: Scale,
    standard: Option<Vec<(f32, f32)>>,
    per: usize,
}

impl Split {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The shape of one example.
    pub(crate) fn shape(&self) -> Shape {
        self.data.info().shape
    }

    /// The class of example `i`.
    pub(crate) fn label(&self, i: usize) -> usize {
        self.data.label(self.part, self.rows.start + i) as usize
    }

    /// Example `i`, preprocessed, appended to `out`.
    pub(crate) fn push(&self, i: usize, out: &mut Vec<f32>) {
        let from = out.len();
        self.data
            .push_example(self.part, self.rows.start + i, self.pre.scale, out);
        if let Some(st) = &self.pre.standard {
            for (k, v) in out[from..].iter_mut().enumerate() {
                let (mean, std) = st[k / self.pre.per];
                *v = (*v - mean) / std;
            }
        }
    }

    /// A split of `n` examples of `shape` that are not from any file (calibration): values
    /// from a fixed pattern, labels cycling through `classes`.
    pub(crate) fn synthetic(shape: Shape, classes: usize, n: usize) -> Split {
        use super::prepared::{Decoded, Values};
        let per = shape.numel();
        let decoded = Decoded {
            values: Values::U8((0..n * per).map(|i| (i * 37 % 251) as u8).collect()),
            labels: (0..n).map(|i| (i % classes.max(1)) as u32).collect(),
        };
        let info = crate::spec::dataset::DataInfo {
            shape,
            classes,
            class_names: (0..classes).map(|c| c.to_string()).collect(),
            features: Vec::new(),
            train: n,
            test: 0,
            dtype: Dtype::U8,
            digest: "synthetic".into(),
        };
        let empty = Decoded {
            values: Values::U8(Vec::new()),
            labels: Vec::new(),
        };
        let data = Arc::new(Prepared::in_memory(&info, &decoded, &empty));
        Split {
            pre: Arc::new(Pre {
                scale: Scale::Div255,
                standard: None,
                per: 1,
            }),
            data,
            part: Part::Train,
            rows: 0..n,
        }
    }
}

/// The training, validation and test splits of a run: with `Validation::Test` the validation
/// split is the test set and there is no separate test split; with a hold-out, validation is
/// the last part of the training set and the test split is the test set (both after subsets).
/// Standardization statistics come from the training split alone.
pub(crate) fn into_splits(data: Arc<Prepared>, spec: &DataSpec) -> (Split, Split, Option<Split>) {
    let n_train = spec
        .train_subset
        .unwrap_or(usize::MAX)
        .min(data.len(Part::Train));
    let n_test = spec
        .test_subset
        .unwrap_or(usize::MAX)
        .min(data.len(Part::Test));
    let (train_rows, val_rows) = match spec.validation {
        Validation::Test => (0..n_train, None),
        Validation::Holdout(f) => {
            let keep = n_train - holdout_len(n_train, f);
            (0..keep, Some(keep..n_train))
        }
    };
    let pre = Arc::new(resolve(&data, spec, train_rows.clone()));
    let view = |part, rows| Split {
        data: data.clone(),
        part,
        rows,
        pre: pre.clone(),
    };
    let test = view(Part::Test, 0..n_test);
    let train = view(Part::Train, train_rows);
    match val_rows {
        None => (train, test, None),
        Some(rows) => (train, view(Part::Train, rows), Some(test)),
    }
}

/// The scale a run's preprocessing states (default: uint8 / 255, float as is), and the
/// standardization statistics of its training rows when it asks for them.
fn resolve(data: &Prepared, spec: &DataSpec, train_rows: Range<usize>) -> Pre {
    let p = spec.preprocess();
    let scale = match (p.scale, data.info().dtype) {
        (Some(s), _) => Scale::Mul(s as f32),
        (None, Dtype::U8) => Scale::Div255,
        (None, Dtype::F32) => Scale::Keep,
    };
    let per = match data.info().shape {
        Shape::Image { h, w, .. } => h * w,
        Shape::Flat(_) => 1,
    };
    let standard = p.standardize.then(|| {
        data.moments(Part::Train, train_rows, scale)
            .into_iter()
            // A constant channel or feature is centred and left unscaled (as scikit-learn's
            // StandardScaler does).
            .map(|(m, s)| {
                let constant = s <= 1e-7 * m.abs().max(1.0);
                (m as f32, if constant { 1.0 } else { s as f32 })
            })
            .collect()
    });
    Pre {
        scale,
        standard,
        per,
    }
}
