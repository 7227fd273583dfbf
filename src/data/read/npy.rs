//! NumPy files: a pair of `.npy` files (images or features, and labels), or one `.npz`
//! archive with Keras's keys (`x_train`, `y_train`, `x_test`, `y_test`) or `x` and `y`.
//! Images are uint8 or float32 (float64 is narrowed); labels are integers of any width, or
//! floats that are all whole numbers.

use super::{Labels, Raw, Values, array, count_mismatch, error, load};
use crate::error::{Error, Result};
use crate::spec::dataset::Part;
use npyz::npz::NpzArchive;
use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};
use std::fmt::Display;
use std::io::{Cursor, Read};
use std::path::Path;

/// How deeply brackets may nest in a header: real ones nest 2 to 4 deep, and the header parser
/// recurses on each level.
const MAX_NESTING: usize = 16;

/// Where one array comes from, for messages: a `.npy` file, or a key of an `.npz` archive.
#[derive(Clone, Copy)]
struct Origin<'a> {
    path: &'a Path,
    key: Option<&'a str>,
}

impl Origin<'_> {
    /// A data error about this array.
    fn error(self, message: impl Display, help: impl Into<String>) -> Error {
        match self.key {
            Some(key) => error(self.path, format!("array `{key}`: {message}"), help),
            None => error(self.path, message.to_string(), help),
        }
    }
}

/// One array: its parsed header and its data, exactly as many bytes as the header needs.
struct Array<'a> {
    origin: Origin<'a>,
    header: NpyHeader,
    data: &'a [u8],
}

/// Read the images (or features) file `x` and the labels file `y`.
pub(super) fn read_pair(x: &Path, y: &Path) -> Result<Raw> {
    let (x_bytes, y_bytes) = (load(x)?, load(y)?);
    let images = parse(Origin { path: x, key: None }, &x_bytes)?;
    let labels = parse(Origin { path: y, key: None }, &y_bytes)?;
    assemble(&images, &labels, |n_labels, n| {
        count_mismatch(y, x, n_labels, n)
    })
}

/// Read `part` of the `.npz` archive `path`.
pub(super) fn read_npz(path: &Path, part: Part) -> Result<Raw> {
    let bytes = load(path)?;
    let mut archive = NpzArchive::new(Cursor::new(bytes)).map_err(|e| {
        error(
            path,
            format!("not a readable .npz archive: {e}"),
            "write it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)",
        )
    })?;
    let names: Vec<String> = archive.array_names().map(String::from).collect();
    let (x_key, y_key) = keys(path, part, &names)?;
    let x_bytes = entry(path, &mut archive, x_key)?;
    let y_bytes = entry(path, &mut archive, y_key)?;
    let images = parse(
        Origin {
            path,
            key: Some(x_key),
        },
        &x_bytes,
    )?;
    let labels = parse(
        Origin {
            path,
            key: Some(y_key),
        },
        &y_bytes,
    )?;
    assemble(&images, &labels, |n_labels, n| {
        error(
            path,
            format!("array `{y_key}` has {n_labels} labels for {n} examples in `{x_key}`"),
            "the labels array needs exactly one label per example, in the same order",
        )
    })
}

/// The keys of `part` among the archive's `names`: Keras's split keys, else `x` and `y`.
fn keys(path: &Path, part: Part, names: &[String]) -> Result<(&'static str, &'static str)> {
    let split = match part {
        Part::Train => ("x_train", "y_train"),
        Part::Test => ("x_test", "y_test"),
    };
    let has = |key: &str| names.iter().any(|n| n == key);
    if let Some(found) = [split, ("x", "y")]
        .into_iter()
        .find(|&(x, y)| has(x) && has(y))
    {
        return Ok(found);
    }
    let held = if names.is_empty() {
        "no arrays".to_string()
    } else {
        names.join(", ")
    };
    Err(error(
        path,
        format!(
            "no arrays `{}` and `{}` (nor `x` and `y`); the archive holds: {held}",
            split.0, split.1
        ),
        format!(
            "save the {} split under those keys: numpy.savez(path, {}=images, {}=labels)",
            part.name(),
            split.0,
            split.1
        ),
    ))
}

/// The bytes of array `key` of an archive read from `path`.
fn entry(path: &Path, archive: &mut NpzArchive<Cursor<Vec<u8>>>, key: &str) -> Result<Vec<u8>> {
    let bad = |e: String| {
        error(
            path,
            format!("cannot read array `{key}`: {e}"),
            "the archive is damaged: write it again",
        )
    };
    let name = npyz::npz::file_name_from_array_name(key);
    let mut file = archive
        .zip_archive()
        .by_name(&name)
        .map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

/// Images `x` and labels `y` as one split; `mismatch(labels, examples)` when counts differ.
fn assemble(
    x: &Array<'_>,
    y: &Array<'_>,
    mismatch: impl FnOnce(usize, usize) -> Error,
) -> Result<Raw> {
    let (dims, values) = images(x)?;
    let n = dims.first().copied().unwrap_or(0);
    let (shape, values) = array(x.origin.path, &dims, values)?;
    let labels = labels(y)?;
    if labels.len() != n {
        return Err(mismatch(labels.len(), n));
    }
    Ok(Raw {
        shape,
        values,
        labels: Labels::Ints(labels),
        features: Vec::new(),
    })
}

/// Parse the `.npy` content `bytes`: its header, and its data checked to be exactly as long
/// as the header says.
fn parse<'a>(origin: Origin<'a>, bytes: &'a [u8]) -> Result<Array<'a>> {
    precheck(origin, bytes)?;
    let mut rest = bytes;
    let header = NpyHeader::from_reader(&mut rest).map_err(|e| {
        origin.error(
            format!("not a readable .npy array: {e}"),
            "write it with numpy.save",
        )
    })?;
    let need = header
        .dtype()
        .num_bytes()
        .and_then(|size| usize::try_from(header.len()).ok()?.checked_mul(size));
    match need {
        None => Err(origin.error("the array is too large", "the header is damaged")),
        Some(need) if rest.len() < need => Err(origin.error(
            format!(
                "truncated: the header needs {need} bytes of data, the file has {}",
                rest.len()
            ),
            "the file is incomplete: copy or write it again",
        )),
        Some(need) if rest.len() > need => Err(origin.error(
            format!(
                "trailing data: {} bytes after the {need} the header needs",
                rest.len() - need
            ),
            "the header does not match the data: write the file again with numpy.save",
        )),
        Some(_) => Ok(Array {
            origin,
            header,
            data: rest,
        }),
    }
}

/// Refuse, before npyz parses it, a header npyz would panic on (dimensions whose product
/// overflows: it multiplies them unchecked) or recurse deeply into.
fn precheck(origin: Origin<'_>, bytes: &[u8]) -> Result<()> {
    let bad = |what: &str| {
        origin.error(
            format!("not a readable .npy array: {what}"),
            "write it with numpy.save",
        )
    };
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad("no NumPy magic bytes (\\x93NUMPY)"));
    }
    let after = bytes.get(8..).unwrap_or_default();
    let size = match bytes.get(6) {
        Some(1) => after
            .first_chunk::<2>()
            .map(|b| (10, usize::from(u16::from_le_bytes(*b)))),
        Some(2 | 3) => after
            .first_chunk::<4>()
            .map(|b| (12, u32::from_le_bytes(*b) as usize)),
        _ => return Err(bad("unknown format version")),
    };
    let text =
        size.and_then(|(start, len): (usize, usize)| bytes.get(start..start.checked_add(len)?));
    let Some(text) = text.map(String::from_utf8_lossy) else {
        return Err(bad("truncated header"));
    };
    if nesting(&text) > MAX_NESTING {
        return Err(bad("header nested too deeply"));
    }
    let dims = declared_shape(&text).ok_or_else(|| bad("no readable shape in the header"))?;
    let mut nonzero = dims.iter().filter(|&&d| d != 0);
    if nonzero.try_fold(1u64, |a, &d| a.checked_mul(d)).is_none() {
        return Err(origin.error(
            format!("the shape {dims:?} is too large"),
            "the header is damaged",
        ));
    }
    Ok(())
}

/// How deeply brackets nest in `text`.
fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The dimensions of the header dictionary's `'shape': (a, b, ...)` entry.
fn declared_shape(text: &str) -> Option<Vec<u64>> {
    text.match_indices("shape")
        .find_map(|(i, _)| shape_after(text.get(i + "shape".len()..)?))
}

/// The tuple of `'shape'`'s value at the start of `rest` (the text after the word).
fn shape_after(rest: &str) -> Option<Vec<u64>> {
    let rest = rest.trim_start_matches(['\'', '"']).trim_start();
    let rest = rest
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix(['(', '['])?;
    let tuple = rest.split_once([')', ']'])?.0;
    tuple
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches(['L', 'l']).parse::<u64>().ok())
        .collect()
}

/// The dimensions of `a`, as `usize`.
fn dims(a: &Array<'_>) -> Result<Vec<usize>> {
    let dims: Option<Vec<usize>> = a
        .header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect();
    dims.ok_or_else(|| {
        a.origin.error(
            "the array is too large for this machine",
            "use a smaller array",
        )
    })
}

/// The type code and size of `a`'s elements, which must be plain numbers.
fn scalar(a: &Array<'_>) -> Result<(TypeChar, u64)> {
    match a.header.dtype() {
        DType::Plain(t) => Ok((t.type_char(), t.size_field())),
        other => Err(a.origin.error(
            format!("structured dtype {} is not supported", other.descr()),
            "save a plain numeric array",
        )),
    }
}

/// Every element of `a`, as `T`.
fn decode<T: npyz::Deserialize>(a: &Array<'_>) -> Result<Vec<T>> {
    NpyFile::with_header(a.header.clone(), a.data)
        .into_vec::<T>()
        .map_err(|e| {
            a.origin.error(
                format!("cannot decode: {e}"),
                "the file is damaged: write it again",
            )
        })
}

/// The dimensions and values of an images (or features) array: uint8, float32 or float64.
fn images(a: &Array<'_>) -> Result<(Vec<usize>, Values)> {
    let dims = dims(a)?;
    if a.header.order() == Order::Fortran && dims.len() > 1 {
        return Err(a.origin.error(
            "the array is in Fortran (column-major) order",
            "save it in C order: numpy.save(path, numpy.ascontiguousarray(x))",
        ));
    }
    let values = match scalar(a)? {
        (TypeChar::Uint, 1) => Values::U8(decode::<u8>(a)?),
        (TypeChar::Float, 4) => Values::F32(decode::<f32>(a)?),
        // Narrowed: values beyond f32's range become infinite, refused with the other NaNs.
        (TypeChar::Float, 8) => {
            Values::F32(decode::<f64>(a)?.into_iter().map(|v| v as f32).collect())
        }
        _ => {
            return Err(a.origin.error(
                format!("images of dtype {} are not supported", a.header.dtype().descr()),
                "save them as uint8 (pixels 0-255: x.astype(numpy.uint8)) or float32 (x.astype(numpy.float32))",
            ));
        }
    };
    Ok((dims, values))
}

/// The labels of a labels array, shaped (N,) or (N, 1): integers, or whole floats.
fn labels(a: &Array<'_>) -> Result<Vec<i64>> {
    let dims = dims(a)?;
    if !matches!(dims.as_slice(), [_] | [_, 1]) {
        return Err(a.origin.error(
            format!("labels must have shape (N,) or (N, 1), not {dims:?}"),
            "save one class index per example: numpy.save(path, y.reshape(-1))",
        ));
    }
    match scalar(a)? {
        (TypeChar::Uint, 1) => ints::<u8>(a),
        (TypeChar::Uint, 2) => ints::<u16>(a),
        (TypeChar::Uint, 4) => ints::<u32>(a),
        (TypeChar::Uint, 8) => ints::<u64>(a),
        (TypeChar::Int, 1) => ints::<i8>(a),
        (TypeChar::Int, 2) => ints::<i16>(a),
        (TypeChar::Int, 4) => ints::<i32>(a),
        (TypeChar::Int, 8) => ints::<i64>(a),
        (TypeChar::Float, 4) => whole(a, decode::<f32>(a)?.into_iter().map(f64::from)),
        (TypeChar::Float, 8) => whole(a, decode::<f64>(a)?),
        _ => Err(a.origin.error(
            format!(
                "labels of dtype {} are not integers",
                a.header.dtype().descr()
            ),
            "save labels as integers: y.astype(numpy.int64)",
        )),
    }
}

/// Integer labels of type `T`, widened to i64.
fn ints<T: npyz::Deserialize + TryInto<i64> + Copy + Display>(a: &Array<'_>) -> Result<Vec<i64>> {
    decode::<T>(a)?
        .into_iter()
        .map(|v| {
            v.try_into().map_err(|_| {
                a.origin.error(
                    format!("label {v} is too large"),
                    "use class indices 0, 1, 2...",
                )
            })
        })
        .collect()
}

/// Float labels, accepted when every one is a whole number.
fn whole(a: &Array<'_>, values: impl IntoIterator<Item = f64>) -> Result<Vec<i64>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // 2^63: the first float beyond i64.
            if v.fract() == 0.0 && v.abs() < 9_223_372_036_854_775_808.0 {
                Ok(v as i64)
            } else {
                Err(a.origin.error(
                    format!("labels are not integers: label {} is {v}", i + 1),
                    "save one class index per example, as integers: y.astype(numpy.int64)",
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Labels, Raw, Values, detect, read};
    use crate::error::Result;
    use crate::spec::arch::Shape;
    use crate::spec::dataset::{Format, Part, Source};
    use npyz::WriterBuilder;
    use npyz::npz::NpzWriter;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// Write a C-ordered `.npy` file of `shape`.
    fn npy<T: npyz::AutoSerialize + Copy>(
        dir: &Path,
        name: &str,
        shape: &[u64],
        data: &[T],
    ) -> PathBuf {
        let path = dir.join(name);
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        path
    }

    /// Add array `name` of `shape` to an archive being written.
    fn add<T: npyz::AutoSerialize + Copy, W: Write + std::io::Seek>(
        npz: &mut NpzWriter<W>,
        name: &str,
        shape: &[u64],
        data: &[T],
    ) {
        let options = npyz::zip::write::FileOptions::default();
        let mut w = npz
            .array::<T>(name, options)
            .unwrap()
            .default_dtype()
            .shape(shape)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    fn pair(x: &Path, y: &Path) -> Result<Raw> {
        let source = Source::Pair(x.to_path_buf(), y.to_path_buf());
        read(&source, None, None, Part::Train)
    }

    #[test]
    fn channels_last_images_are_transposed_to_channels_first() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..24).collect();
        let x = npy(dir.path(), "x.npy", &[2, 2, 2, 3], &pixels);
        let y = npy(dir.path(), "y.npy", &[2], &[3i64, 4]);
        let raw = pair(&x, &y).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 3, h: 2, w: 2 });
        let Values::U8(v) = &raw.values else {
            panic!("{:?}", raw.values)
        };
        // Example 1, row 1, column 0, channel 2: HWC index 12 + (1*2 + 0)*3 + 2 = 20,
        // CHW index 12 + 2*4 + 1*2 + 0 = 22.
        assert_eq!(v[22], 20);
        assert_eq!(&v[..4], &[0, 3, 6, 9]);
        assert_eq!(raw.labels, Labels::Ints(vec![3, 4]));
    }

    #[test]
    fn float_features_and_narrow_integer_labels() {
        let dir = tempfile::tempdir().unwrap();
        let x = npy(
            dir.path(),
            "x.npy",
            &[3, 2],
            &[0.5f64, 1.0, 2.0, 3.0, 4.0, 5.0],
        );
        let y = npy(dir.path(), "y.npy", &[3, 1], &[1u8, 0, 2]);
        let raw = pair(&x, &y).unwrap();
        assert_eq!(raw.shape, Shape::Flat(2));
        assert_eq!(raw.values, Values::F32(vec![0.5, 1.0, 2.0, 3.0, 4.0, 5.0]));
        assert_eq!(raw.labels, Labels::Ints(vec![1, 0, 2]));
        let y = npy(dir.path(), "yf.npy", &[3], &[1.0f32, 0.0, 7.0]);
        assert_eq!(pair(&x, &y).unwrap().labels, Labels::Ints(vec![1, 0, 7]));
    }

    #[test]
    fn grey_images_are_one_channel() {
        let dir = tempfile::tempdir().unwrap();
        let x = npy(
            dir.path(),
            "x.npy",
            &[1, 2, 3],
            &[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0],
        );
        let y = npy(dir.path(), "y.npy", &[1], &[-1i32]);
        let raw = pair(&x, &y).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 1, h: 2, w: 3 });
        assert_eq!(raw.labels, Labels::Ints(vec![-1]));
        assert_eq!(detect(&Source::One(x)).unwrap(), Format::Npy);
    }

    #[test]
    fn non_integer_float_labels_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let x = npy(dir.path(), "x.npy", &[2, 1], &[0u8, 1]);
        let y = npy(dir.path(), "floats.npy", &[2], &[1.0f64, 0.5]);
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("floats.npy") && err.contains("labels are not integers"),
            "{err}"
        );
    }

    #[test]
    fn counts_that_differ_name_the_labels_file() {
        let dir = tempfile::tempdir().unwrap();
        let x = npy(dir.path(), "x.npy", &[2, 1], &[0u8, 1]);
        let y = npy(dir.path(), "labels.npy", &[3], &[0i64, 1, 2]);
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("labels.npy") && err.contains("3 labels for 2 examples"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_layouts_and_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let y = npy(dir.path(), "y.npy", &[1], &[0u8]);
        let x = npy(dir.path(), "int16.npy", &[1, 2], &[0i16, 1]);
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(err.contains("int16.npy") && err.contains("uint8"), "{err}");
        let x = npy(dir.path(), "rank5.npy", &[1, 1, 1, 1, 1], &[0u8]);
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("rank5.npy") && err.contains("accepted shapes"),
            "{err}"
        );
        let path = dir.path().join("fortran.npy");
        let file = std::fs::File::create(&path).unwrap();
        let mut w = npyz::WriteOptions::<u8>::new()
            .default_dtype()
            .shape(&[1, 2])
            .order(npyz::Order::Fortran)
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend([1u8, 2]).unwrap();
        w.finish().unwrap();
        let err = pair(&path, &y).unwrap_err().to_string();
        assert!(
            err.contains("fortran.npy") && err.contains("Fortran"),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_absurd_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let y = npy(dir.path(), "y.npy", &[1], &[0u8]);
        let x = npy(dir.path(), "x.npy", &[1, 4], &[1.0f32, 2.0, 3.0, 4.0]);
        let bytes = std::fs::read(&x).unwrap();
        std::fs::write(&x, &bytes[..bytes.len() - 1]).unwrap();
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(err.contains("x.npy") && err.contains("truncated"), "{err}");
        let text = b"{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n";
        let mut huge = b"\x93NUMPY\x01\x00".to_vec();
        huge.extend((text.len() as u16).to_le_bytes());
        huge.extend(text);
        let x = dir.path().join("huge.npy");
        std::fs::write(&x, huge).unwrap();
        let err = pair(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("huge.npy") && err.contains("too large"),
            "{err}"
        );
    }

    #[test]
    fn npz_archives_with_keras_or_plain_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keras = dir.path().join("keras.npz");
        let mut npz = NpzWriter::create(&keras).unwrap();
        add(&mut npz, "x_train", &[2, 1, 1], &[10u8, 11]);
        add(&mut npz, "y_train", &[2], &[0i64, 1]);
        add(&mut npz, "x_test", &[1, 1, 1], &[12u8]);
        add(&mut npz, "y_test", &[1], &[1i64]);
        npz.zip_writer().finish().unwrap().flush().unwrap();
        drop(npz);
        assert_eq!(detect(&Source::One(keras.clone())).unwrap(), Format::Npz);
        let test = read(&Source::One(keras.clone()), None, None, Part::Test).unwrap();
        assert_eq!(test.values, Values::U8(vec![12]));
        assert_eq!(test.labels, Labels::Ints(vec![1]));
        let train = read(&Source::One(keras), None, None, Part::Train).unwrap();
        assert_eq!(train.values, Values::U8(vec![10, 11]));

        let plain = dir.path().join("plain.npz");
        let mut npz = NpzWriter::create(&plain).unwrap();
        add(&mut npz, "x", &[1, 2], &[0.5f32, 1.5]);
        add(&mut npz, "y", &[1], &[4u16]);
        npz.zip_writer().finish().unwrap().flush().unwrap();
        drop(npz);
        let raw = read(&Source::One(plain), Some(Format::Npz), None, Part::Test).unwrap();
        assert_eq!(raw.shape, Shape::Flat(2));
        assert_eq!(raw.labels, Labels::Ints(vec![4]));
    }

    #[test]
    fn npz_without_the_keys_lists_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.npz");
        let mut npz = NpzWriter::create(&path).unwrap();
        add(&mut npz, "images", &[1, 1], &[0u8]);
        add(&mut npz, "x", &[1, 1], &[0u8]);
        npz.zip_writer().finish().unwrap().flush().unwrap();
        drop(npz);
        let err = read(&Source::One(path), None, None, Part::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("odd.npz") && err.contains("x_train"), "{err}");
        assert!(err.contains("images") && err.contains("holds"), "{err}");
    }
}
