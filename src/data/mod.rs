//! Datasets on disk: the built-in ones (located, downloaded by [`fetch`], checked against their
//! published SHA-256s) and the ones a manifest declares (decoded by [`read`], their classes
//! assigned and checked here), both prepared once per machine into the file every worker maps
//! ([`prepared`]) and viewed as a run's splits ([`split`]).

mod classes;
mod digest;
pub(crate) mod fetch;
pub(crate) mod inspect;
pub(crate) mod prepared;
pub(crate) mod read;
mod split;

use crate::error::{Error, Result};
use crate::spec::dataset::{DataInfo, Declared, Part};
use crate::spec::manifest::Dataset;
use prepared::{Decoded, Prepared};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use split::{Split, into_splits};

/// The four files of a dataset, in the order train images, train labels, test images, test labels.
pub(crate) const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

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
pub(crate) fn file_in(dir: &Path, dataset: &Dataset, file: &str) -> Option<PathBuf> {
    let base = dir.join(dataset.name()).join(file);
    let gz = base.with_file_name(format!("{file}.gz"));
    [base, gz].into_iter().find(|p| p.is_file())
}

/// The first search directory that holds all four files of `dataset`.
pub(crate) fn locate(dataset: &Dataset, cli: Option<&Path>) -> Result<PathBuf> {
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
    dataset: &Dataset,
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
    read::load(path)
}

/// The built-in `dataset`'s two splits from `dir` (which holds `<dataset>/<files>`): read as any
/// IDX pair is ([`read`]: a truncated or malformed file is named as such), then every file
/// checked against its published SHA-256.
fn load_builtin(dataset: &Dataset, dir: &Path) -> Result<(Decoded, Decoded)> {
    let digests = dataset.file_digests().expect("a built-in dataset");
    let paths = FILES
        .iter()
        .map(|file| {
            file_in(dir, dataset, file).ok_or_else(|| Error::DataMissing {
                dataset: dataset.name().into(),
                searched: vec![dir.join(dataset.name()).join(file)],
                help: format!("run `sweep data fetch {}`", dataset.name()),
            })
        })
        .collect::<Result<Vec<PathBuf>>>()?;
    let split = |x: &PathBuf, y: &PathBuf, part| -> Result<Decoded> {
        let source = crate::spec::dataset::Source::Pair(x.clone(), y.clone());
        let raw = read::read(&source, Some(crate::spec::dataset::Format::Idx), None, part)?;
        let read::Labels::Ints(labels) = raw.labels else {
            unreachable!("IDX labels are integers")
        };
        Ok(Decoded {
            values: raw.values,
            labels: labels.into_iter().map(|l| l as u32).collect(),
        })
    };
    let train = split(&paths[0], &paths[1], Part::Train)?;
    let test = split(&paths[2], &paths[3], Part::Test)?;
    for (path, want) in paths.iter().zip(digests) {
        let got = hex::encode(Sha256::digest(read_maybe_gz(path)?));
        if got != want {
            return Err(Error::Data {
                path: path.clone(),
                message: format!("SHA-256 mismatch: expected {want}, got {got}"),
                help: format!(
                    "the file was altered or is not the canonical {} release; delete it and run `sweep data fetch {}`",
                    dataset.name(),
                    dataset.name()
                ),
            });
        }
    }
    Ok((train, test))
}

/// Check a built-in dataset's files in `dir`: structure and published digests.
pub(crate) fn check_builtin(dataset: &Dataset, dir: &Path) -> Result<()> {
    load_builtin(dataset, dir).map(|_| ())
}

/// Where prepared datasets are kept: `$SWEEP_CACHE_DIR/prepared`, else the per-user cache's
/// `sweep/prepared`.
pub(crate) fn prepared_dir() -> PathBuf {
    let root = std::env::var_os("SWEEP_CACHE_DIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("sweep")
        });
    root.join("prepared")
}

/// The prepared file of the dataset whose digest is `digest`.
fn prepared_path(digest: &str) -> PathBuf {
    prepared_dir().join(format!("{digest}.data"))
}

/// The prepared file at `path` when it is there, sound, and holds `digest`.
fn existing(path: &Path, digest: &str) -> Option<Prepared> {
    let p = Prepared::open(path).ok()?;
    (p.info().digest == digest).then_some(p)
}

/// What a declared dataset holds ([`crate::spec::manifest::Resolve`]): its digest from the
/// files (cached), the rest from its prepared file, which is made here the first time (the
/// files decoded and checked; bad data is an error naming the file, and nothing is written).
pub(crate) fn describe(d: &Declared) -> Result<DataInfo> {
    Ok(prepare_declared(d)?.info().clone())
}

/// The prepared file of a declared dataset, made when missing. Prepared files are named by their
/// content's digest ([`prepared::content_digest`]); a small `<files digest>.source` file says
/// which content the dataset's files decode to, so unchanged files are never decoded again.
pub(crate) fn prepare_declared(d: &Declared) -> Result<Prepared> {
    let files = digest::of_declared(d)?;
    let pointer = prepared_dir().join(format!("{files}.source"));
    if let Ok(content) = std::fs::read_to_string(&pointer)
        && let Some(p) = existing(&prepared_path(content.trim()), content.trim())
    {
        return Ok(p);
    }
    let (mut info, train, test) = decode_declared(d)?;
    info.digest = prepared::content_digest(&info, &train, &test);
    let path = prepared_path(&info.digest);
    // The same values under other class or feature names are rewritten with these names.
    if existing(&path, &info.digest).is_none_or(|p| p.info() != &info) {
        prepared::write(&path, &info, &train, &test)?;
    }
    crate::results::store::write_atomic(&pointer, info.digest.as_bytes())?;
    Prepared::open(&path)
}

/// Decode both splits of a declared dataset and give them classes (the digest is left empty).
fn decode_declared(d: &Declared) -> Result<(DataInfo, Decoded, Decoded)> {
    let train = read::read(&d.train, d.format, d.label.as_deref(), Part::Train)?;
    let test = read::read(&d.test, d.format, d.label.as_deref(), Part::Test)?;
    classes::assign(d, train, test, String::new())
}

/// A run's dataset, prepared and mapped, for a worker or `sweep eval`: the built-in datasets
/// are prepared from their files in `data_dir` when missing; a declared one must have been
/// prepared by the `sweep run` or `sweep submit` that planned the run.
pub(crate) fn open(
    dataset: &Dataset,
    digest: &str,
    data_dir: Option<&Path>,
) -> Result<Arc<Prepared>> {
    // A declared dataset's prepared file where `sweep submit` said it is (`--data-dir`), for
    // cluster nodes whose own cache does not hold it.
    if !dataset.is_builtin()
        && let Some(dir) = data_dir
        && let Some(p) = existing(&dir.join(format!("{digest}.data")), digest)
    {
        return Ok(Arc::new(p));
    }
    let path = prepared_path(digest);
    if let Some(p) = existing(&path, digest) {
        return Ok(Arc::new(p));
    }
    if dataset.is_builtin() {
        let dir = locate(dataset, data_dir)?;
        let (train, test) = load_builtin(dataset, &dir)?;
        let info = dataset.builtin_info().expect("built-in");
        prepared::write(&path, &info, &train, &test)?;
        return Ok(Arc::new(Prepared::open(&path)?));
    }
    Err(Error::Data {
        path,
        message: format!(
            "dataset `{}` (digest {digest}) is not prepared on this machine",
            dataset.name()
        ),
        help: "run `sweep data inspect <manifest>` or `sweep run` here first: it prepares the dataset from the files the manifest names".into(),
    })
}

/// [`open`] for the sweep's dataset before anything is written, with the payload checked
/// against its digest once (the workers trust it then): a supervisor's preparation.
pub(crate) fn open_verified(
    dataset: &Dataset,
    digest: &str,
    data_dir: Option<&Path>,
) -> Result<Arc<Prepared>> {
    let p = open(dataset, digest, data_dir)?;
    p.verify()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use crate::spec::manifest::holdout_len;

    #[test]
    fn holdout_matches_keras_validation_split() {
        assert_eq!(holdout_len(60_000, 0.1), 6_000);
        assert_eq!(holdout_len(10, 0.25), 3);
    }
}
