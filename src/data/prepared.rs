//! The prepared dataset file: a dataset decoded once per machine into its values (uint8 or
//! float32, each example channel-major) and labels (u32), behind a header that says what it
//! holds and a SHA-256 of the payload. Every worker maps it ([`memmap2`]), so N workers share one
//! copy of the data and a worker's memory no longer grows with the dataset.
//!
//! Layout: `SWEEPDS1`, the header's length (u64, little-endian), the header (JSON), then four
//! sections each starting on a 64-byte boundary: train values, train labels, test values, test
//! labels. All numbers little-endian.

use crate::error::{Error, Result};
use crate::spec::dataset::{DataInfo, Dtype, Part};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SWEEPDS1";
const ALIGN: usize = 64;

pub(crate) use super::read::Values;

impl Values {
    pub(crate) fn len(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    pub(crate) fn dtype(&self) -> Dtype {
        match self {
            Values::U8(_) => Dtype::U8,
            Values::F32(_) => Dtype::F32,
        }
    }
}

/// One split, decoded and checked: values and class indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub values: Values,
    pub labels: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    info: DataInfo,
    /// Byte ranges (from the file's start) of train values, train labels, test values, test labels.
    sections: [(usize, usize); 4],
    /// SHA-256 of every byte after the header.
    payload_sha256: String,
}

/// A prepared dataset, mapped (or, for calibration and tests, in memory).
pub(crate) struct Prepared {
    header: Header,
    bytes: Bytes,
    path: PathBuf,
}

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prepared({})", self.path.display())
    }
}

/// 16 hex digits of SHA-256 over what training sees of a dataset: the example shape, value type,
/// number of classes and counts, then every value and label. The same images given in another
/// format (IDX, NumPy, PNG) have the same content digest, hence the same runs.
pub(crate) fn content_digest(info: &DataInfo, train: &Decoded, test: &Decoded) -> String {
    let mut h = Sha256::new();
    let what =
        serde_json::to_string(&(info.shape, info.dtype, info.classes, info.train, info.test))
            .expect("serializes");
    h.update(what.as_bytes());
    let mut put = |b: &[u8]| -> std::io::Result<()> {
        h.update(b);
        Ok(())
    };
    for split in [train, test] {
        value_chunks(&split.values, &mut put).expect("hashing cannot fail");
        label_chunks(&split.labels, &mut put).expect("hashing cannot fail");
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Little-endian bytes of `values`, a chunk at a time (no copy of a whole split).
fn value_chunks(
    values: &Values,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    const CHUNK: usize = 1 << 16;
    match values {
        Values::U8(v) => each(v),
        Values::F32(v) => v
            .chunks(CHUNK)
            .try_for_each(|c| each(&c.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())),
    }
}

/// Little-endian bytes of `labels`, a chunk at a time.
fn label_chunks(
    labels: &[u32],
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    labels
        .chunks(1 << 16)
        .try_for_each(|c| each(&c.iter().flat_map(|l| l.to_le_bytes()).collect::<Vec<u8>>()))
}

/// The header of a file holding `info`, its sections laid out after a header room that fits the
/// header however its numbers are written; the payload digest is a placeholder of its final
/// length. Returns the header and where the payload starts.
fn layout(info: &DataInfo) -> (Header, usize) {
    let value_bytes = info.shape.numel() * info.dtype.bytes();
    let lens = [
        info.train * value_bytes,
        info.train * 4,
        info.test * value_bytes,
        info.test * 4,
    ];
    let mut header = Header {
        info: info.clone(),
        sections: [(usize::MAX, usize::MAX); 4],
        payload_sha256: "0".repeat(64),
    };
    let room = serde_json::to_vec(&header)
        .expect("header serializes")
        .len();
    let start = (MAGIC.len() + 8 + room).next_multiple_of(ALIGN);
    let mut at = start;
    for (i, len) in lens.into_iter().enumerate() {
        header.sections[i] = (at, at + len);
        at = (at + len).next_multiple_of(ALIGN);
    }
    (header, start)
}

/// Write the prepared file for `info` into `out`, streaming: the splits are never copied whole.
/// The payload's digest is computed as it is written, then written into the header.
fn encode<W: std::io::Write + std::io::Seek>(
    out: &mut W,
    info: &DataInfo,
    train: &Decoded,
    test: &Decoded,
) -> std::io::Result<()> {
    use std::io::SeekFrom;
    let (mut header, start) = layout(info);
    let put_header = |out: &mut W, header: &Header| -> std::io::Result<()> {
        let json = serde_json::to_vec(header).expect("header serializes");
        out.seek(SeekFrom::Start(0))?;
        out.write_all(MAGIC)?;
        out.write_all(&(json.len() as u64).to_le_bytes())?;
        out.write_all(&json)
    };
    put_header(out, &header)?;
    out.seek(SeekFrom::Start(start as u64))?;
    let mut hasher = Sha256::new();
    let mut put = |bytes: &[u8]| -> std::io::Result<()> {
        hasher.update(bytes);
        out.write_all(bytes)
    };
    for (i, part) in [
        (&train.values, None),
        (&train.values, Some(&train.labels)),
        (&test.values, None),
        (&test.values, Some(&test.labels)),
    ]
    .into_iter()
    .enumerate()
    {
        let end_of_last = if i == 0 {
            start
        } else {
            header.sections[i - 1].1
        };
        put(&vec![0; header.sections[i].0 - end_of_last])?;
        match part {
            (values, None) => value_chunks(values, &mut put)?,
            (_, Some(labels)) => label_chunks(labels, &mut put)?,
        }
    }
    header.payload_sha256 = hex::encode(hasher.finalize());
    put_header(out, &header)
}

/// Temporary files of preparations killed over a day ago (a live one is younger).
fn remove_stale_temps(dir: &Path) {
    let day = std::time::Duration::from_secs(24 * 3600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let stale = entry
            .file_name()
            .to_string_lossy()
            .starts_with(".prepared-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Write a prepared file atomically (a temporary file renamed into place): a crash leaves the
/// old file or none, never half of one.
pub(crate) fn write(path: &Path, info: &DataInfo, train: &Decoded, test: &Decoded) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(werr)?;
    remove_stale_temps(dir);
    let tmp = tempfile::Builder::new()
        .prefix(".prepared-")
        .tempfile_in(dir)
        .map_err(werr)?;
    let mut out = std::io::BufWriter::new(tmp);
    encode(&mut out, info, train, test).map_err(werr)?;
    let tmp = out.into_inner().map_err(|e| werr(e.into_error()))?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    Ok(())
}

fn corrupt(path: &Path, what: &str) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: format!("prepared dataset file is damaged: {what}"),
        help: "delete it; sweep prepares it again from the dataset's files".into(),
    }
}

impl Prepared {
    /// Map a prepared file, checking its header and section bounds (not the payload's digest:
    /// [`Prepared::verify`]).
    pub(crate) fn open(path: &Path) -> Result<Prepared> {
        let file = std::fs::File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapped bytes do not change under us.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Prepared::from_bytes(path, Bytes::Map(map))
    }

    /// A prepared dataset held in memory (calibration, tests).
    pub(crate) fn in_memory(info: &DataInfo, train: &Decoded, test: &Decoded) -> Prepared {
        let mut bytes = std::io::Cursor::new(Vec::new());
        encode(&mut bytes, info, train, test).expect("writes to memory");
        let bytes = bytes.into_inner();
        Prepared::from_bytes(Path::new("<memory>"), Bytes::Owned(bytes)).expect("just encoded")
    }

    fn from_bytes(path: &Path, bytes: Bytes) -> Result<Prepared> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(corrupt(path, "not a prepared dataset (bad magic)"));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let json = bytes
            .get(16..16usize.saturating_add(len))
            .ok_or_else(|| corrupt(path, "truncated header"))?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| corrupt(path, &format!("header: {e}")))?;
        let p = Prepared {
            header,
            bytes,
            path: path.to_path_buf(),
        };
        p.check_sections()?;
        Ok(p)
    }

    fn check_sections(&self) -> Result<()> {
        let info = &self.header.info;
        let sizes = || -> Option<[usize; 4]> {
            let value_bytes = info.shape.numel().checked_mul(info.dtype.bytes())?;
            Some([
                info.train.checked_mul(value_bytes)?,
                info.train.checked_mul(4)?,
                info.test.checked_mul(value_bytes)?,
                info.test.checked_mul(4)?,
            ])
        };
        let want = sizes().ok_or_else(|| corrupt(&self.path, "impossible sizes in the header"))?;
        for (i, (a, b)) in self.header.sections.iter().enumerate() {
            if b < a || b - a != want[i] || *b > self.bytes.len() || a % ALIGN != 0 {
                return Err(corrupt(&self.path, "truncated or inconsistent sections"));
            }
        }
        Ok(())
    }

    /// Check the payload against the header's SHA-256.
    pub(crate) fn verify(&self) -> Result<()> {
        let start = self.header.sections[0].0;
        let got = hex::encode(Sha256::digest(&self.bytes[start..]));
        if got != self.header.payload_sha256 {
            return Err(corrupt(&self.path, "payload SHA-256 mismatch"));
        }
        Ok(())
    }

    pub(crate) fn info(&self) -> &DataInfo {
        &self.header.info
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn section(&self, i: usize) -> &[u8] {
        let (a, b) = self.header.sections[i];
        &self.bytes[a..b]
    }

    /// The values of `part`, as bytes.
    pub(crate) fn values(&self, part: Part) -> &[u8] {
        self.section(match part {
            Part::Train => 0,
            Part::Test => 2,
        })
    }

    /// The label of example `i` of `part`.
    pub(crate) fn label(&self, part: Part, i: usize) -> u32 {
        let s = self.section(match part {
            Part::Train => 1,
            Part::Test => 3,
        });
        u32::from_le_bytes(s[4 * i..4 * i + 4].try_into().expect("4 bytes"))
    }

    /// Examples in `part`.
    pub(crate) fn len(&self, part: Part) -> usize {
        match part {
            Part::Train => self.header.info.train,
            Part::Test => self.header.info.test,
        }
    }

    /// Example `i` of `part` as f32, scaled as `scale` says, appended to `out`.
    pub(crate) fn push_example(&self, part: Part, i: usize, scale: Scale, out: &mut Vec<f32>) {
        let n = self.header.info.shape.numel();
        let bytes = self.values(part);
        match self.header.info.dtype {
            Dtype::U8 => {
                let row = &bytes[i * n..(i + 1) * n];
                match scale {
                    Scale::Div255 => out.extend(row.iter().map(|&p| p as f32 / 255.0)),
                    Scale::Mul(s) => out.extend(row.iter().map(|&p| p as f32 * s)),
                    Scale::Keep => out.extend(row.iter().map(|&p| p as f32)),
                }
            }
            Dtype::F32 => {
                let row = &bytes[4 * i * n..4 * (i + 1) * n];
                let vals = row
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
                match scale {
                    Scale::Div255 => out.extend(vals.map(|v| v / 255.0)),
                    Scale::Mul(s) => out.extend(vals.map(|v| v * s)),
                    Scale::Keep => out.extend(vals),
                }
            }
        }
    }

    /// Per-group mean and standard deviation of the scaled values of examples `rows` of
    /// `part`, where a group is a channel (images) or a feature (tabular data).
    pub(crate) fn moments(&self, part: Part, rows: Range<usize>, scale: Scale) -> Vec<(f64, f64)> {
        let (groups, per) = match self.header.info.shape {
            crate::spec::arch::Shape::Image { c, h, w } => (c, h * w),
            crate::spec::arch::Shape::Flat(f) => (f, 1),
        };
        let mut sum = vec![0f64; groups];
        let mut sq = vec![0f64; groups];
        let mut row = Vec::with_capacity(groups * per);
        for i in rows.clone() {
            row.clear();
            self.push_example(part, i, scale, &mut row);
            for (k, v) in row.iter().enumerate() {
                let g = k / per;
                sum[g] += *v as f64;
                sq[g] += (*v as f64) * (*v as f64);
            }
        }
        let n = (rows.len() * per).max(1) as f64;
        sum.iter()
            .zip(&sq)
            .map(|(s, q)| {
                let mean = s / n;
                (mean, (q / n - mean * mean).max(0.0).sqrt())
            })
            .collect()
    }
}

/// How stored values become the network's inputs before any standardization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// `x / 255`: uint8 data by default (bitwise what the built-in datasets always used).
    Div255,
    /// `x * s`: a manifest's `scale`.
    Mul(f32),
    /// As stored: float data by default.
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::arch::Shape;

    pub(crate) fn tiny_info(train: usize, test: usize) -> DataInfo {
        DataInfo {
            shape: Shape::Image { c: 1, h: 2, w: 2 },
            classes: 2,
            class_names: vec!["a".into(), "b".into()],
            features: Vec::new(),
            train,
            test,
            dtype: Dtype::U8,
            digest: "0123456789abcdef".into(),
        }
    }

    fn split(n: usize) -> Decoded {
        Decoded {
            values: Values::U8((0..n * 4).map(|i| i as u8).collect()),
            labels: (0..n).map(|i| (i % 2) as u32).collect(),
        }
    }

    #[test]
    fn round_trips_through_a_file_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.data");
        write(&path, &tiny_info(3, 2), &split(3), &split(2)).unwrap();
        let p = Prepared::open(&path).unwrap();
        p.verify().unwrap();
        assert_eq!(p.info(), &tiny_info(3, 2));
        assert_eq!(p.label(Part::Train, 1), 1);
        let mut out = Vec::new();
        p.push_example(Part::Train, 2, Scale::Div255, &mut out);
        assert_eq!(out, [8.0 / 255.0, 9.0 / 255.0, 10.0 / 255.0, 11.0 / 255.0]);
        // A flipped payload byte is caught by verify; a cut file by open.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Prepared::open(&path).unwrap().verify().is_err());
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = Prepared::open(&path).unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
    }

    #[test]
    fn moments_are_per_channel() {
        let p = Prepared::in_memory(&tiny_info(2, 1), &split(2), &split(1));
        let m = p.moments(Part::Train, 0..2, Scale::Keep);
        // One channel: values 0..8, mean 3.5.
        assert_eq!(m.len(), 1);
        assert!((m[0].0 - 3.5).abs() < 1e-12);
    }
}
