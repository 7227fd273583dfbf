//! IDX files (MNIST's format), raw or gzipped: an images file and a labels file. A file is
//! 00 00, an element type, the number of dimensions, each dimension as a big-endian u32, then
//! exactly that many big-endian elements.

use super::{Labels, Raw, Values, array, count_mismatch, error, load};
use crate::error::{Error, Result};
use std::path::Path;

/// IDX element types, by their code.
const UBYTE: u8 = 0x08;
const INT32: u8 = 0x0C;
const FLOAT32: u8 = 0x0D;

/// One IDX file, parsed and checked, borrowing its payload.
struct Idx<'a> {
    kind: u8,
    dims: Vec<usize>,
    payload: &'a [u8],
}

/// Whether `head` (a file's first bytes) starts with an IDX magic number.
pub(super) fn is_magic(head: &[u8]) -> bool {
    matches!(head, [0, 0, kind, n, ..] if element_size(*kind).is_some() && *n > 0)
}

/// The size in bytes of an element of type `kind`, for the types IDX defines.
fn element_size(kind: u8) -> Option<usize> {
    match kind {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// The name of element type `kind`, for messages.
fn kind_name(kind: u8) -> String {
    let name = match kind {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown",
    };
    format!("{name} (0x{kind:02X})")
}

/// Read the images file `x` and the labels file `y`.
pub(super) fn read(x: &Path, y: &Path) -> Result<Raw> {
    let x_bytes = load(x)?;
    let images = parse(x, &x_bytes)?;
    let n = images.dims.first().copied().unwrap_or(0);
    let (shape, values) = array(x, &images.dims, values(x, &images)?)?;
    let y_bytes = load(y)?;
    let labels = labels(y, &parse(y, &y_bytes)?)?;
    if labels.len() != n {
        return Err(count_mismatch(y, x, labels.len(), n));
    }
    Ok(Raw {
        shape,
        values,
        labels: Labels::Ints(labels),
        features: Vec::new(),
    })
}

/// Parse the header of `bytes` (the content of `path`) and check the payload's size exactly.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Idx<'a>> {
    let [z0, z1, kind, ndims] = bytes.first_chunk::<4>().copied().unwrap_or([0xFF; 4]);
    if z0 != 0 || z1 != 0 || ndims == 0 {
        return Err(bad_magic(path, bytes));
    }
    let Some(size) = element_size(kind) else {
        return Err(error(
            path,
            format!("unknown IDX element type 0x{kind:02X} in the magic number"),
            "IDX element types are 08 (unsigned byte), 09, 0B, 0C (int32), 0D (float32) and 0E",
        ));
    };
    let header = 4 + 4 * usize::from(ndims);
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(error(
            path,
            format!("truncated: the header names {ndims} dimensions, the file ends before them"),
            "the file is incomplete: copy or download it again",
        ));
    };
    let dims: Vec<usize> = dim_bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| u32::from_be_bytes(*b) as usize)
        .collect();
    let payload = bytes.get(header..).unwrap_or_default();
    check_size(path, kind, size, &dims, payload.len())?;
    Ok(Idx {
        kind,
        dims,
        payload,
    })
}

/// The error for a file that does not start with an IDX magic number.
fn bad_magic(path: &Path, bytes: &[u8]) -> Error {
    let shown: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02X}")).collect();
    error(
        path,
        format!("not an IDX file: bad magic number [{}]", shown.join(" ")),
        "an IDX file starts with 00 00, its element type (08: unsigned bytes) and its number of dimensions; \
         if this file is in another format, set format = \"...\" in the dataset's declaration",
    )
}

/// Check that `len` payload bytes are exactly what `dims` of `kind` elements (`size` bytes) need.
fn check_size(path: &Path, kind: u8, size: usize, dims: &[usize], len: usize) -> Result<()> {
    let Some(need) = dims.iter().try_fold(size, |a, &d| a.checked_mul(d)) else {
        return Err(error(
            path,
            format!("the header's dimensions {dims:?} are too large"),
            "the file is damaged or not IDX",
        ));
    };
    let what = format!("{dims:?} of {}", kind_name(kind));
    if len < need {
        return Err(error(
            path,
            format!("truncated: dimensions {what} need {need} bytes of data, the file has {len}"),
            "the file is incomplete: copy or download it again",
        ));
    }
    if len > need {
        return Err(error(
            path,
            format!(
                "trailing data: {} bytes after the {need} that dimensions {what} need",
                len - need
            ),
            "the header does not match the data: the file is damaged or not IDX",
        ));
    }
    Ok(())
}

/// The values of an images file: unsigned bytes or float32.
fn values(path: &Path, idx: &Idx<'_>) -> Result<Values> {
    match idx.kind {
        UBYTE => Ok(Values::U8(idx.payload.to_vec())),
        FLOAT32 => Ok(Values::F32(
            idx.payload
                .as_chunks::<4>()
                .0
                .iter()
                .map(|b| f32::from_be_bytes(*b))
                .collect(),
        )),
        other => Err(error(
            path,
            format!("images of IDX type {} are not supported", kind_name(other)),
            "store images as unsigned bytes (08) or float32 (0D)",
        )),
    }
}

/// The labels of a labels file: one dimension of unsigned bytes or int32.
fn labels(path: &Path, idx: &Idx<'_>) -> Result<Vec<i64>> {
    if !matches!(idx.dims.as_slice(), [_] | [_, 1]) {
        return Err(error(
            path,
            format!(
                "a labels file has one dimension, this one has {:?}",
                idx.dims
            ),
            "store one label per example: a 1-dimensional IDX file",
        ));
    }
    match idx.kind {
        UBYTE => Ok(idx.payload.iter().map(|&b| i64::from(b)).collect()),
        INT32 => Ok(idx
            .payload
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| i64::from(i32::from_be_bytes(*b)))
            .collect()),
        other => Err(error(
            path,
            format!("labels of IDX type {} are not supported", kind_name(other)),
            "store labels as unsigned bytes (08) or int32 (0C)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Labels, Values, detect, read as read_source};
    use crate::spec::arch::Shape;
    use crate::spec::dataset::{Format, Part, Source};
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// The bytes of an IDX file of element type `kind`.
    fn idx(kind: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, kind, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(payload);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_pair(x: &Path, y: &Path) -> crate::error::Result<super::super::Raw> {
        read_source(
            &Source::Pair(x.to_path_buf(), y.to_path_buf()),
            None,
            None,
            Part::Train,
        )
    }

    #[test]
    fn reads_unsigned_byte_images_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..12).collect();
        let x = write(dir.path(), "x-idx3-ubyte", &idx(0x08, &[2, 2, 3], &pixels));
        let y = write(dir.path(), "y-idx1-ubyte", &idx(0x08, &[2], &[7, 1]));
        let raw = read_pair(&x, &y).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 1, h: 2, w: 3 });
        assert_eq!(raw.values, Values::U8(pixels));
        assert_eq!(raw.labels, Labels::Ints(vec![7, 1]));
        assert!(raw.features.is_empty());
    }

    #[test]
    fn reads_float_features_and_int32_labels() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = [1.5f32, -2.0, 0.25, 4.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let labels: Vec<u8> = [300i32, -1].iter().flat_map(|v| v.to_be_bytes()).collect();
        let x = write(dir.path(), "x.idx", &idx(0x0D, &[2, 2], &payload));
        let y = write(dir.path(), "y.idx", &idx(0x0C, &[2], &labels));
        let raw = read_pair(&x, &y).unwrap();
        assert_eq!(raw.shape, Shape::Flat(2));
        assert_eq!(raw.values, Values::F32(vec![1.5, -2.0, 0.25, 4.0]));
        assert_eq!(raw.labels, Labels::Ints(vec![300, -1]));
    }

    #[test]
    fn reads_and_detects_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&idx(0x08, &[1, 2, 2], &[1, 2, 3, 4])).unwrap();
        let x = write(dir.path(), "x.gz", &gz.finish().unwrap());
        let y = write(dir.path(), "y", &idx(0x08, &[1], &[3]));
        let source = Source::Pair(x.clone(), y.clone());
        assert_eq!(detect(&source).unwrap(), Format::Idx);
        assert_eq!(
            read_pair(&x, &y).unwrap().values,
            Values::U8(vec![1, 2, 3, 4])
        );
    }

    #[test]
    fn counts_that_differ_name_the_labels_file() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x.idx", &idx(0x08, &[2, 1, 1], &[0, 0]));
        let y = write(dir.path(), "labels.idx", &idx(0x08, &[3], &[0, 1, 2]));
        let err = read_pair(&x, &y).unwrap_err().to_string();
        assert!(err.contains("labels.idx"), "{err}");
        assert!(err.contains("3 labels for 2 examples"), "{err}");
    }

    #[test]
    fn a_wrong_magic_number_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x.idx", &[1, 2, 8, 3, 0, 0]);
        let y = write(dir.path(), "y.idx", &idx(0x08, &[1], &[0]));
        let err = read_source(&Source::Pair(x, y), Some(Format::Idx), None, Part::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.idx") && err.contains("magic"), "{err}");
    }

    #[test]
    fn truncated_and_overlong_payloads_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let y = write(dir.path(), "y.idx", &idx(0x08, &[1], &[0]));
        let short = write(dir.path(), "short.idx", &idx(0x08, &[1, 2, 2], &[1, 2, 3]));
        let err = read_pair(&short, &y).unwrap_err().to_string();
        assert!(
            err.contains("short.idx") && err.contains("truncated"),
            "{err}"
        );
        let long = write(
            dir.path(),
            "long.idx",
            &idx(0x08, &[1, 2, 2], &[1, 2, 3, 4, 5]),
        );
        let err = read_pair(&long, &y).unwrap_err().to_string();
        assert!(
            err.contains("long.idx") && err.contains("trailing data"),
            "{err}"
        );
        let huge = write(dir.path(), "huge.idx", &idx(0x08, &[u32::MAX; 4], &[]));
        let err = read_pair(&huge, &y).unwrap_err().to_string();
        assert!(
            err.contains("huge.idx") && err.contains("too large"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_types_and_one_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x.idx", &idx(0x0E, &[1, 1], &[0; 8]));
        let y = write(dir.path(), "y.idx", &idx(0x08, &[1], &[0]));
        let err = read_pair(&x, &y).unwrap_err().to_string();
        assert!(err.contains("float64"), "{err}");
        let err = read_source(&Source::One(y), Some(Format::Idx), None, Part::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pair"), "{err}");
    }

    #[test]
    fn an_empty_split_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x.idx", &idx(0x08, &[0, 2, 2], &[]));
        let y = write(dir.path(), "y.idx", &idx(0x08, &[0], &[]));
        let err = read_pair(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("x.idx") && err.contains("no examples"),
            "{err}"
        );
    }
}
