//! A declared dataset's classes: integer labels are classes `0..=max` of the training split,
//! string labels (CSV) and folder names become classes in sorted order. Both splits are checked
//! against each other here: same example shape and value type, test labels among the training
//! split's classes, finite values.

use super::prepared::Decoded;
use super::read::{Labels, Raw, Values};
use crate::error::{Error, Result};
use crate::spec::dataset::{DataInfo, Declared, Source};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// More distinct labels than this is not a classification label (a continuous column?).
const MAX_CLASSES: usize = 65_536;

/// The file a split's labels come from: the second of a pair, else the one file or folder.
fn labels_file(s: &Source) -> &PathBuf {
    match s {
        Source::One(p) => p,
        Source::Pair(_, l) => l,
    }
}

/// The file a split's values come from.
fn values_file(s: &Source) -> &PathBuf {
    match s {
        Source::One(p) | Source::Pair(p, _) => p,
    }
}

fn bad(path: &Path, message: String, help: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
        help: help.into(),
    }
}

/// Check the two splits against each other, give their labels class numbers, and say what the
/// dataset holds.
pub(super) fn assign(
    d: &Declared,
    train: Raw,
    test: Raw,
    digest: String,
) -> Result<(DataInfo, Decoded, Decoded)> {
    if test.shape != train.shape {
        return Err(bad(
            values_file(&d.test),
            format!(
                "test examples are {} but training examples are {}",
                test.shape, train.shape
            ),
            "the test split must have the training split's shape (image size and channels, or feature columns)",
        ));
    }
    if test.values.dtype() != train.values.dtype() {
        return Err(bad(
            values_file(&d.test),
            format!(
                "test values are {} but training values are {}",
                test.values.dtype().name(),
                train.values.dtype().name()
            ),
            "store both splits with the same type (uint8 or float32)",
        ));
    }
    let per = train.shape.numel().max(1);
    check_finite(values_file(&d.train), &train.values, per)?;
    check_finite(values_file(&d.test), &test.values, per)?;
    // Integer labels in one split and names in the other (a CSV test file whose few labels
    // happen to be numbers): both are names.
    let as_names = |l: Labels| match l {
        Labels::Ints(v) => v.iter().map(i64::to_string).collect(),
        Labels::Names(v) => v,
    };
    let (class_names, train_labels, test_labels) = match (train.labels, test.labels) {
        (Labels::Ints(a), Labels::Ints(b)) => ints(d, &a, &b)?,
        (a, b) => names(d, &as_names(a), &as_names(b))?,
    };
    let info = DataInfo {
        shape: train.shape,
        classes: class_names.len(),
        class_names,
        features: train.features,
        train: train_labels.len(),
        test: test_labels.len(),
        dtype: train.values.dtype(),
        digest,
    };
    let split = |values, labels| Decoded { values, labels };
    Ok((
        info,
        split(train.values, train_labels),
        split(test.values, test_labels),
    ))
}

/// NaN or infinite values are refused: a network would learn NaN from them.
fn check_finite(path: &Path, v: &Values, per: usize) -> Result<()> {
    if let Values::F32(v) = v
        && let Some(i) = v.iter().position(|x| !x.is_finite())
    {
        return Err(bad(
            path,
            format!(
                "value {} of example {} (its value {}) is NaN or infinite",
                v[i],
                i / per + 1,
                i % per + 1
            ),
            "fill or drop missing values before training",
        ));
    }
    Ok(())
}

/// Integer labels: classes `0..=max` of the training labels; negatives and test labels beyond
/// them are refused.
fn ints(d: &Declared, train: &[i64], test: &[i64]) -> Result<(Vec<String>, Vec<u32>, Vec<u32>)> {
    let max = train.iter().copied().max().unwrap_or(0);
    for (labels, source) in [(train, &d.train), (test, &d.test)] {
        if let Some(i) = labels.iter().position(|&l| l < 0 || l > max) {
            return Err(bad(
                labels_file(source),
                format!(
                    "label {} (example {}) is outside 0..={max}, the classes of the training labels",
                    labels[i],
                    i + 1
                ),
                "labels must be class numbers 0..classes-1, the same in both splits",
            ));
        }
    }
    let classes = max as usize + 1;
    if classes > MAX_CLASSES {
        return Err(bad(
            labels_file(&d.train),
            format!("labels go up to {max}: too many classes for a classifier"),
            format!("at most {MAX_CLASSES} classes; is this the label column?"),
        ));
    }
    let names = (0..classes).map(|c| c.to_string()).collect();
    let cast = |v: &[i64]| v.iter().map(|&l| l as u32).collect();
    Ok((names, cast(train), cast(test)))
}

/// Named labels: the training split's names, sorted, are the classes.
fn names(
    d: &Declared,
    train: &[String],
    test: &[String],
) -> Result<(Vec<String>, Vec<u32>, Vec<u32>)> {
    let set: BTreeSet<&String> = train.iter().collect();
    if set.len() > MAX_CLASSES {
        return Err(bad(
            labels_file(&d.train),
            format!(
                "{} distinct labels: too many classes for a classifier",
                set.len()
            ),
            format!("at most {MAX_CLASSES} classes; is this the label column?"),
        ));
    }
    let names: Vec<String> = set.into_iter().cloned().collect();
    let index = |v: &[String], source: &Source| -> Result<Vec<u32>> {
        v.iter()
            .enumerate()
            .map(|(i, l)| match names.binary_search(l) {
                Ok(c) => Ok(c as u32),
                Err(_) => Err(bad(
                    labels_file(source),
                    format!(
                        "label `{l}` (example {}) is not a class of the training split",
                        i + 1
                    ),
                    format!("the classes are: {}", names.join(", ")),
                )),
            })
            .collect()
    };
    let (a, b) = (index(train, &d.train)?, index(test, &d.test)?);
    Ok((names, a, b))
}
