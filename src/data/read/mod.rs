//! Readers for the dataset formats a manifest can declare (`[datasets.<name>]`, "your own
//! data"): IDX, NumPy `.npy` pairs and `.npz` archives, image folders, CSV tables and CIFAR-10
//! binary batches. Each decodes one split into a [`Raw`]; classes are assigned by the caller.
//!
//! Every error names the exact file at fault and says what would be right; no input panics.

mod cifar;
mod folder;
mod idx;
mod npy;
mod table;

use crate::error::{Error, Result};
use crate::spec::arch::Shape;
use crate::spec::dataset::{Format, Part, Source};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Values of one split, example after example; images channel-major (C, H, W) per example.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// Labels as found in the files: integers, or names (CSV string labels, folder names).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Labels {
    Ints(Vec<i64>),
    Names(Vec<String>),
}

/// One split as decoded, before classes are assigned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Raw {
    /// The shape of one example.
    pub shape: Shape,
    pub values: Values,
    pub labels: Labels,
    /// For tabular data: the feature column names (CSV header); empty otherwise.
    pub features: Vec<String>,
}

/// Decode `part` of a dataset from `source`, in `format` when forced, else detected.
/// `label`: the CSV label column (default: the last one); ignored by other formats.
pub(crate) fn read(
    source: &Source,
    format: Option<Format>,
    label: Option<&str>,
    part: Part,
) -> Result<Raw> {
    let format = match format {
        Some(f) => f,
        None => detect(source)?,
    };
    match (format, source) {
        (Format::Idx, Source::Pair(x, y)) => idx::read(x, y),
        (Format::Npy, Source::Pair(x, y)) => npy::read_pair(x, y),
        (Format::Npz, Source::One(p)) => npy::read_npz(p, part),
        (Format::Folder, Source::One(p)) => folder::read(p),
        (Format::Csv, Source::One(p)) => table::read(p, label),
        (Format::Cifar, Source::One(p)) => cifar::read(p, part),
        (Format::Idx | Format::Npy, Source::One(p)) => Err(error(
            p,
            format!(
                "{} data needs a pair of files [images, labels], not one",
                format.name()
            ),
            format!(
                "name both: train = [\"images.{ext}\", \"labels.{ext}\"] (and the same for test)",
                ext = if format == Format::Idx { "idx" } else { "npy" }
            ),
        )),
        (_, Source::Pair(x, _)) => Err(error(
            x,
            format!("{} data is one file or folder, not a pair", format.name()),
            "name one path: train = \"...\" (a pair [images, labels] is for idx and npy files)",
        )),
    }
}

/// The format of `source`, from the content (magic bytes) first, then the extension / kind:
/// a directory holding subdirectories -> Folder; a directory holding data_batch_*.bin or
/// test_batch.bin -> Cifar; gzip magic 1f 8b -> look inside: IDX magic 00 00 TT NN -> Idx;
/// "\x93NUMPY" -> Npy; "PK\x03\x04" -> Npz; *.bin of size multiple of 3073 -> Cifar;
/// *.csv or text -> Csv. A pair is detected from its first (images) file.
pub(crate) fn detect(source: &Source) -> Result<Format> {
    let path = match source {
        Source::One(p) | Source::Pair(p, _) => p,
    };
    let meta = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
    let found = if meta.is_dir() {
        detect_dir(path)?
    } else {
        detect_file(path, meta.len())?
    };
    found.ok_or_else(|| undetected(path, meta.is_dir()))
}

/// A directory: CIFAR-10 batches, or one subfolder per class.
fn detect_dir(dir: &Path) -> Result<Option<Format>> {
    let mut has_subdir = false;
    for entry in list_dir(dir)? {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if cifar::is_batch_name(&name) {
            return Ok(Some(Format::Cifar));
        }
        has_subdir |= entry.is_dir() && !name.starts_with('.');
    }
    Ok(has_subdir.then_some(Format::Folder))
}

/// A file: magic bytes (looking inside gzip), then the extension, then whether it is text.
fn detect_file(path: &Path, size: u64) -> Result<Option<Format>> {
    let head = head(path, 1024)?;
    if idx::is_magic(&head) {
        return Ok(Some(Format::Idx));
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(Some(Format::Npy));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Some(Format::Npz));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
    let name = name.unwrap_or_default();
    if name.ends_with(".bin") && size > 0 && size.is_multiple_of(cifar::RECORD as u64) {
        return Ok(Some(Format::Cifar));
    }
    if name.ends_with(".csv") || name.ends_with(".csv.gz") || looks_like_csv(&head) {
        return Ok(Some(Format::Csv));
    }
    Ok(None)
}

/// Whether `head` (a file's first bytes) reads as comma-separated text.
fn looks_like_csv(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A character cut at the end of `head` is still text.
        Err(e) if e.error_len().is_none() => head
            .get(..e.valid_up_to())
            .and_then(|h| std::str::from_utf8(h).ok())
            .unwrap_or_default(),
        Err(_) => return false,
    };
    let control = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    !text.is_empty()
        && !text.chars().any(control)
        && text.lines().next().is_some_and(|l| l.contains(','))
}

/// The error for a file or folder whose format could not be told.
fn undetected(path: &Path, is_dir: bool) -> Error {
    let names: Vec<String> = Format::ALL
        .iter()
        .map(|f| format!("format = \"{}\"", f.name()))
        .collect();
    let what = if is_dir {
        "a folder with neither class subfolders nor CIFAR-10 batches (data_batch_*.bin, test_batch.bin)"
    } else {
        "a file in no format sweep reads (IDX, .npy, .npz, CIFAR-10 .bin, CSV)"
    };
    error(
        path,
        format!("cannot tell the dataset format: {what}"),
        format!("set it in the dataset's declaration: {}", names.join(", ")),
    )
}

/// Up to `limit` first bytes of a file, gunzipped when it is gzip.
fn head(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|source| read_error(path, source))?;
    let mut raw = Vec::new();
    file.take(limit)
        .read_to_end(&mut raw)
        .map_err(|source| read_error(path, source))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let file = std::fs::File::open(path).map_err(|source| read_error(path, source))?;
    let mut inner = Vec::new();
    // A gzip stream damaged further on still shows its first bytes; a damaged start shows none.
    let _ = GzDecoder::new(file).take(limit).read_to_end(&mut inner);
    Ok(inner)
}

/// A whole file, gunzipped when it starts with the gzip magic bytes.
pub(crate) fn load(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| read_error(path, source))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| {
            error(
                path,
                format!("truncated or corrupt gzip stream ({e})"),
                "the file is damaged: copy or download it again, or gunzip it to check",
            )
        })?;
    Ok(out)
}

/// The entries of a directory (their paths), in no particular order.
pub(super) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| read_error(dir, source))?;
    entries
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|source| read_error(dir, source))
        })
        .collect()
}

/// The shape and channel-major values of an array with dimensions `dims` (N first), as read
/// from `path`: (N, F) is flat, (N, H, W) grey images, (N, H, W, C) channels-last images,
/// transposed here to channels first.
pub(super) fn array(path: &Path, dims: &[usize], values: Values) -> Result<(Shape, Values)> {
    let shapes = "accepted shapes: (N, features), (N, height, width), (N, height, width, channels)";
    let Some((&n, inner)) = dims.split_first() else {
        return Err(error(path, "the array has no dimensions", shapes));
    };
    if n == 0 {
        return Err(no_examples(path));
    }
    if inner.contains(&0) {
        return Err(error(
            path,
            format!("the array has a zero dimension: {dims:?}"),
            shapes,
        ));
    }
    let total = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if total != Some(values.len()) {
        return Err(error(
            path,
            format!(
                "the array's shape {dims:?} does not match its {} values",
                values.len()
            ),
            "the file is damaged: write it again",
        ));
    }
    match *inner {
        [f] => Ok((Shape::Flat(f), values)),
        [h, w] => Ok((Shape::Image { c: 1, h, w }, values)),
        [h, w, c] => {
            let size = values.len() / n;
            Ok((Shape::Image { c, h, w }, to_channels_first(values, size, c)))
        }
        _ => Err(error(
            path,
            format!("an array of shape {dims:?} is not a dataset"),
            shapes,
        )),
    }
}

/// Every example of `values` (`size` values each) turned from (H, W, C) to (C, H, W).
fn to_channels_first(values: Values, size: usize, c: usize) -> Values {
    match values {
        Values::U8(v) => Values::U8(hwc_to_chw(&v, size, c)),
        Values::F32(v) => Values::F32(hwc_to_chw(&v, size, c)),
    }
}

/// `v`, examples of `size` values each, every one of them (H, W, C) with `c` channels, turned
/// to (C, H, W): each channel's values gathered into one plane.
pub(super) fn hwc_to_chw<T: Copy>(v: &[T], size: usize, c: usize) -> Vec<T> {
    if c <= 1 || size == 0 {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    for example in v.chunks(size) {
        for ch in 0..c {
            out.extend(example.iter().skip(ch).step_by(c).copied());
        }
    }
    out
}

/// A data error about `path`.
pub(super) fn error(path: &Path, message: impl Into<String>, help: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
        help: help.into(),
    }
}

/// A read error about `path`.
pub(super) fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// The error for a split without a single example.
pub(super) fn no_examples(path: &Path) -> Error {
    error(
        path,
        "no examples",
        "a split needs at least one example; check that this is the right file",
    )
}

/// The error for a labels file whose count differs from its images'.
pub(super) fn count_mismatch(labels: &Path, images: &Path, n_labels: usize, n: usize) -> Error {
    error(
        labels,
        format!("{n_labels} labels for {n} examples in {}", images.display()),
        "the labels file needs exactly one label per example, in the same order",
    )
}
