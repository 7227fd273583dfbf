//! Datasets as plain data (no I/O): the built-in ones, and the ones a manifest declares under
//! `[datasets.<name>]` (where their files are, their format, how to preprocess them). What the
//! files hold (shape, classes, counts, digest) is [`DataInfo`], read by [`crate::data`].

use crate::spec::arch::Shape;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A file format `sweep` reads datasets from (`format = "..."` in a declaration forces one;
/// otherwise it is detected from the content and the extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// IDX files (MNIST's format), raw or gzipped: an images file and a labels file.
    Idx,
    /// A pair of NumPy `.npy` files: images (or features) and labels.
    Npy,
    /// One NumPy `.npz` archive: keys `x`/`y`, or Keras's `x_train`/`y_train`/`x_test`/`y_test`.
    Npz,
    /// A folder with one subfolder of images (PNG, JPEG, BMP) per class.
    Folder,
    /// A CSV file with a header: numeric feature columns and a label column.
    Csv,
    /// CIFAR-10's binary batches (`data_batch_*.bin`, `test_batch.bin`).
    Cifar,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Idx,
        Format::Npy,
        Format::Npz,
        Format::Folder,
        Format::Csv,
        Format::Cifar,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Folder => "folder",
            Format::Csv => "csv",
            Format::Cifar => "cifar",
        }
    }
}

/// Where one split (train or test) of a declared dataset is: one file or folder, or a pair
/// `[images, labels]`. Paths are resolved against the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    One(PathBuf),
    Pair(PathBuf, PathBuf),
}

impl Source {
    /// Every path named, in order.
    pub fn paths(&self) -> Vec<&PathBuf> {
        match self {
            Source::One(p) => vec![p],
            Source::Pair(a, b) => vec![a, b],
        }
    }
}

/// Which split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    Train,
    Test,
}

impl Part {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }
}

/// A dataset a sweep trains on: a built-in one (downloaded and verified against its published
/// digests) or one its manifest declares. Written as its name (`"mnist"`, `"wine"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Dataset {
    Mnist,
    FashionMnist,
    /// Declared under `[datasets.<name>]`.
    Declared(String),
}

impl From<String> for Dataset {
    fn from(s: String) -> Dataset {
        match s.as_str() {
            "mnist" => Dataset::Mnist,
            "fashion-mnist" => Dataset::FashionMnist,
            _ => Dataset::Declared(s),
        }
    }
}

impl From<Dataset> for String {
    fn from(d: Dataset) -> String {
        d.name().to_string()
    }
}

impl Dataset {
    pub const BUILTIN: [Dataset; 2] = [Dataset::Mnist, Dataset::FashionMnist];

    pub fn name(&self) -> &str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Declared(n) => n,
        }
    }

    /// A built-in dataset by name.
    pub fn builtin(s: &str) -> Option<Self> {
        Dataset::BUILTIN.into_iter().find(|d| d.name() == s)
    }

    pub fn is_builtin(&self) -> bool {
        !matches!(self, Dataset::Declared(_))
    }

    /// SHA-256 of the uncompressed canonical files of a built-in dataset (in the order of
    /// `crate::data::FILES`); none for a declared one.
    pub(crate) fn file_digests(&self) -> Option<[&'static str; 4]> {
        match self {
            Dataset::Mnist => Some([
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ]),
            Dataset::FashionMnist => Some([
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ]),
            Dataset::Declared(_) => None,
        }
    }

    /// What a built-in dataset holds: 28x28 grey images of 10 classes, 60,000 to train on and
    /// 10,000 to test on, and the digest naming its release; `None` for a declared one (read
    /// from its files by `crate::data::describe`).
    pub fn builtin_info(&self) -> Option<DataInfo> {
        use sha2::{Digest, Sha256};
        let digests = self.file_digests()?;
        let class_names: Vec<String> = match self {
            Dataset::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .map(String::from)
            .to_vec(),
            _ => (0..10).map(|i| i.to_string()).collect(),
        };
        Some(DataInfo {
            shape: Shape::Image { c: 1, h: 28, w: 28 },
            classes: 10,
            class_names,
            features: Vec::new(),
            train: 60_000,
            test: 10_000,
            dtype: Dtype::U8,
            digest: hex::encode(Sha256::digest(digests.join("\n").as_bytes()))[..16].to_string(),
        })
    }
}

/// How the values of a dataset are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U8,
    F32,
}

impl Dtype {
    pub fn bytes(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8",
            Dtype::F32 => "float32",
        }
    }
}

/// Preprocessing, stated in the manifest and part of every run's identity.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Every value is multiplied by this. Unset: uint8 values are divided by 255 (into [0, 1]),
    /// float values are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Then standardized: minus the mean, over the standard deviation, per channel (images) or
    /// per feature (tabular data), both measured on the run's training split only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standardize: bool,
}

/// What a dataset's files hold, read from them (or a built-in's constants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The shape of one example: (H, W, C) images or (F,) features.
    pub shape: Shape,
    pub classes: usize,
    /// The classes' names, in label order (folder names, CSV labels, or the labels' numbers).
    pub class_names: Vec<String>,
    /// Tabular data: the features' names (the CSV header); empty for images.
    #[serde(default)]
    pub features: Vec<String>,
    /// Examples in the training and test splits.
    pub train: usize,
    pub test: usize,
    pub dtype: Dtype,
    /// 16 hex digits of SHA-256 over the decoded content (shape, type, classes, counts, values and
    /// labels); for a built-in dataset, over its published files' digests.
    pub digest: String,
}

/// A `[datasets.<name>]` declaration, its paths resolved against the manifest's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub name: String,
    pub train: Source,
    pub test: Source,
    /// Forced format; detected from the files when unset.
    pub format: Option<Format>,
    /// CSV: the label column (default: the last one).
    pub label: Option<String>,
    pub preprocess: Preprocess,
}
