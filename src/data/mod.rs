//! Datasets on disk: locating them, reading IDX files (raw or gzip), validating magic numbers,
//! dimensions and counts, and checking the SHA-256 of the canonical releases. Downloading lives
//! in [`crate::data::fetch`].

pub(crate) mod fetch;

use crate::error::{Error, Result};
use crate::spec::manifest::{Dataset, Validation};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The four files of a dataset, in the order train images, train labels, test images, test labels.
pub(crate) const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

pub(crate) use crate::spec::manifest::{IMAGE, holdout_len};

/// Where to look for datasets, in order: `--data-dir`, `SWEEP_DATA_DIR`, the per-user cache.
/// Each names a directory holding one folder per dataset (`mnist/`, `fashion-mnist/`).
pub(crate) fn search_dirs(cli: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = cli {
        dirs.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("SWEEP_DATA_DIR").filter(|s| !s.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(cache_dir());
    dirs
}

/// The per-user cache directory that `sweep data fetch` downloads into.
pub(crate) fn cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("sweep")
        .join("data")
}

/// The path of one dataset file in `dir`, raw or gzipped, if present.
pub(crate) fn file_in(dir: &Path, dataset: Dataset, file: &str) -> Option<PathBuf> {
    let base = dir.join(dataset.name()).join(file);
    let gz = base.with_file_name(format!("{file}.gz"));
    [base, gz].into_iter().find(|p| p.is_file())
}

/// The first search directory that holds all four files of `dataset`.
pub(crate) fn locate(dataset: Dataset, cli: Option<&Path>) -> Result<PathBuf> {
    let dirs = search_dirs(cli);
    for d in &dirs {
        if FILES.iter().all(|f| file_in(d, dataset, f).is_some()) {
            if let Some(c) = cli
                && c != d.as_path()
            {
                // Asked for by name: say that it was not used, and what was.
                eprintln!(
                    "warning: --data-dir {} holds no {}/ with the four IDX files; using {}",
                    c.display(),
                    dataset.name(),
                    d.display()
                );
            }
            return Ok(d.clone());
        }
    }
    Err(Error::DataMissing {
        dataset: dataset.name().to_string(),
        searched: dirs.iter().map(|d| d.join(dataset.name())).collect(),
        help: format!(
            "run `sweep data fetch {}`, or point --data-dir / SWEEP_DATA_DIR at a directory holding {}/ with the four IDX files",
            dataset.name(),
            dataset.name()
        ),
    })
}

/// [`locate`], and when the dataset is nowhere, download it into the per-user cache
/// ([`fetch::fetch`]: progress bar, SHA-256 verified, atomic) from `SWEEP_DATA_MIRROR` or the
/// public mirrors, unless `offline`, in which case the error says how to get it. Slurm tasks
/// (`sweep worker`) never download: they use [`locate`].
pub(crate) fn locate_or_fetch(
    dataset: Dataset,
    cli: Option<&Path>,
    offline: bool,
    quiet: bool,
) -> Result<PathBuf> {
    match locate(dataset, cli) {
        Err(Error::DataMissing {
            dataset: name,
            searched,
            help,
        }) if offline => Err(Error::DataMissing {
            dataset: name,
            searched,
            help: format!("{help}; or drop --offline (SWEEP_OFFLINE) to download it"),
        }),
        Err(Error::DataMissing { .. }) => {
            let dir = cache_dir();
            if !quiet {
                eprintln!(
                    "{} is not on this machine: downloading it into {} (--offline to refuse)",
                    dataset.name(),
                    dir.display()
                );
            }
            let mirror = std::env::var("SWEEP_DATA_MIRROR").ok();
            fetch::fetch(dataset, &dir, mirror.as_deref(), quiet)?;
            Ok(dir)
        }
        found => found,
    }
}

/// Read a file, gunzipping it when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| data_error(path, format!("truncated or corrupt gzip stream ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn data_error(path: &Path, message: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message,
        help: "the file is damaged or not a canonical release; delete it and run `sweep data fetch <dataset>`"
            .into(),
    }
}

/// A parsed IDX file: its dimensions and the payload bytes (unsigned bytes only, as MNIST uses).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parse IDX bytes, checking the magic number, the number of dimensions and the payload size.
pub(crate) fn parse_idx(path: &Path, bytes: &[u8], expect_dims: usize) -> Result<Idx> {
    if bytes.len() < 4 {
        return Err(data_error(
            path,
            format!("only {} bytes: too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(data_error(
            path,
            format!(
                "bad IDX magic number {:02x}{:02x}{:02x}{:02x}",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(data_error(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned byte (0x08)",
                bytes[2]
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims != expect_dims {
        return Err(data_error(
            path,
            format!("IDX file has {ndims} dimensions, expected {expect_dims}"),
        ));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(data_error(
            path,
            format!("truncated header: {} bytes, need {header}", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let payload: usize = dims.iter().product();
    let have = bytes.len() - header;
    if have != payload {
        return Err(data_error(
            path,
            format!(
                "{} the header promises {:?} = {payload} bytes of data but the file holds {have}",
                if have < payload {
                    "truncated:"
                } else {
                    "trailing data:"
                },
                dims
            ),
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Images scaled to [0, 1] and their labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    /// `len * 784` values, row-major, one image after another.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Split {
    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    /// Keep the first `n` examples, releasing the memory of the rest.
    pub(crate) fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.images.truncate(n * IMAGE);
        self.images.shrink_to_fit();
        self.labels.truncate(n);
        self.labels.shrink_to_fit();
    }

    /// Split off examples `at..` into a split of their own (this one keeps `..at`).
    pub(crate) fn split_off(&mut self, at: usize) -> Split {
        let tail = Split {
            images: self.images.split_off(at * IMAGE),
            labels: self.labels.split_off(at),
        };
        self.images.shrink_to_fit();
        self.labels.shrink_to_fit();
        tail
    }
}

/// A dataset loaded and verified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Loaded {
    pub train: Split,
    pub test: Split,
}

impl Loaded {
    /// The training, validation and test splits of a run: with `Validation::Test` the validation
    /// split is the test set and there is no separate test split; with a hold-out, validation is
    /// the last part of the training set and the test split is the test set (both after subsets).
    /// Consumes the dataset, so that no image is held twice while a run trains.
    pub(crate) fn into_splits(
        self,
        validation: Validation,
        train_subset: Option<usize>,
        test_subset: Option<usize>,
    ) -> (Split, Split, Option<Split>) {
        let Loaded {
            mut train,
            mut test,
        } = self;
        if let Some(n) = train_subset {
            train.truncate(n);
        }
        if let Some(n) = test_subset {
            test.truncate(n);
        }
        match validation {
            Validation::Test => (train, test, None),
            Validation::Holdout(f) => {
                let keep = train.len() - holdout_len(train.len(), f);
                let val = train.split_off(keep);
                (train, val, Some(test))
            }
        }
    }
}

/// Load `dataset` from `dir` (which holds `<dataset>/<files>`), verifying structure and digests.
pub(crate) fn load(dataset: Dataset, dir: &Path) -> Result<Loaded> {
    let mut parts = Vec::new();
    for (i, file) in FILES.iter().enumerate() {
        let path = file_in(dir, dataset, file).ok_or_else(|| Error::DataMissing {
            dataset: dataset.name().into(),
            searched: vec![dir.join(dataset.name()).join(file)],
            help: format!("run `sweep data fetch {}`", dataset.name()),
        })?;
        let bytes = read_maybe_gz(&path)?;
        let idx = parse_idx(&path, &bytes, if i % 2 == 0 { 3 } else { 1 })?;
        let got = hex::encode(Sha256::digest(&bytes));
        let want = dataset.file_digests()[i];
        if got != want {
            return Err(Error::Data {
                path,
                message: format!("SHA-256 mismatch: expected {want}, got {got}"),
                help: format!(
                    "the file was altered or is not the canonical {} release; delete it and run `sweep data fetch {}`",
                    dataset.name(),
                    dataset.name()
                ),
            });
        }
        parts.push((path, idx));
    }
    let split = |img: &(PathBuf, Idx), lab: &(PathBuf, Idx)| -> Result<Split> {
        if img.1.dims[1..] != [28, 28] {
            return Err(data_error(
                &img.0,
                format!("images are {:?}, expected 28x28", &img.1.dims[1..]),
            ));
        }
        if img.1.dims[0] != lab.1.dims[0] {
            return Err(data_error(
                &lab.0,
                format!("{} labels for {} images", lab.1.dims[0], img.1.dims[0]),
            ));
        }
        if let Some(bad) = lab.1.data.iter().find(|l| **l >= 10) {
            return Err(data_error(&lab.0, format!("label {bad} is outside 0..=9")));
        }
        Ok(Split {
            images: img.1.data.iter().map(|&p| p as f32 / 255.0).collect(),
            labels: lab.1.data.clone(),
        })
    };
    Ok(Loaded {
        train: split(&parts[0], &parts[1])?,
        test: split(&parts[2], &parts[3])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], payload: usize) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, payload));
        v
    }

    #[test]
    fn parses_a_valid_idx() {
        let p = Path::new("x");
        let i = parse_idx(p, &idx(&[2, 28, 28], 2 * 784), 3).unwrap();
        assert_eq!(i.dims, vec![2, 28, 28]);
        assert_eq!(i.data.len(), 1568);
    }

    #[test]
    fn refuses_truncated_and_bad_magic() {
        let p = Path::new("x");
        let e = parse_idx(p, &idx(&[2, 28, 28], 100), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut bad = idx(&[1], 1);
        bad[0] = 1;
        assert!(
            parse_idx(p, &bad, 1)
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
        assert!(
            parse_idx(p, &idx(&[1], 1), 3)
                .unwrap_err()
                .to_string()
                .contains("dimensions")
        );
    }

    #[test]
    fn holdout_matches_keras_validation_split() {
        assert_eq!(holdout_len(60_000, 0.1), 6_000);
        assert_eq!(holdout_len(10, 0.25), 3);
    }
}
