//! CIFAR-10's binary batches: records of 1 label byte and 3072 pixel bytes (1024 red, 1024
//! green, 1024 blue: 32x32, already channels first). A batch file, or the release's folder
//! (`data_batch_*.bin` for the train split, `test_batch.bin` for the test split).

use super::{Labels, Raw, Values, error, list_dir, load, no_examples};
use crate::error::Result;
use crate::spec::arch::Shape;
use crate::spec::dataset::Part;
use std::path::{Path, PathBuf};

/// The pixel bytes of one image.
const PIXELS: usize = 3 * 32 * 32;

/// The bytes of one record: the label, then the pixels.
pub(super) const RECORD: usize = 1 + PIXELS;

/// The name of the test batch in the release's folder.
const TEST_BATCH: &str = "test_batch.bin";

/// Whether `name` is the name of one of the release's batch files.
pub(super) fn is_batch_name(name: &str) -> bool {
    name == TEST_BATCH || is_train_batch_name(name)
}

/// Whether `name` is the name of a train batch (`data_batch_1.bin`...).
fn is_train_batch_name(name: &str) -> bool {
    name.starts_with("data_batch_") && name.ends_with(".bin")
}

/// Read `part` from the batch file or release folder `path`.
pub(super) fn read(path: &Path, part: Part) -> Result<Raw> {
    let files = files(path, part)?;
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for file in &files {
        let bytes = load(file)?;
        if !bytes.len().is_multiple_of(RECORD) {
            return Err(error(
                file,
                format!(
                    "truncated: {} bytes is not a whole number of {RECORD}-byte records ({} and {} bytes over)",
                    bytes.len(),
                    bytes.len() / RECORD,
                    bytes.len() % RECORD
                ),
                "a CIFAR-10 batch holds records of 1 label byte and 3072 pixel bytes: the file is damaged, \
                 download it again (CIFAR-100's 3074-byte records are not read)",
            ));
        }
        for record in bytes.chunks_exact(RECORD) {
            if let Some((&label, pixels)) = record.split_first() {
                labels.push(i64::from(label));
                values.extend_from_slice(pixels);
            }
        }
    }
    if labels.is_empty() {
        return Err(no_examples(files.first().map_or(path, PathBuf::as_path)));
    }
    Ok(Raw {
        shape: Shape::Image { c: 3, h: 32, w: 32 },
        values: Values::U8(values),
        labels: Labels::Ints(labels),
        features: Vec::new(),
    })
}

/// The batch files of `part`: `path` itself when it is a file, else those of the folder.
fn files(path: &Path, part: Part) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = list_dir(path)?
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            match part {
                Part::Train => is_train_batch_name(&name),
                Part::Test => name == TEST_BATCH,
            }
        })
        .collect();
    files.sort();
    if files.is_empty() {
        let wanted = match part {
            Part::Train => "data_batch_*.bin",
            Part::Test => TEST_BATCH,
        };
        return Err(error(
            path,
            format!("no {wanted} in this folder for the {} split", part.name()),
            "point it at the folder of CIFAR-10's binary release (cifar-10-batches-bin) or at a batch file",
        ));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::super::{Labels, Values, detect, read};
    use super::RECORD;
    use crate::spec::arch::Shape;
    use crate::spec::dataset::{Format, Part, Source};
    use std::path::{Path, PathBuf};

    /// A batch of records with `labels`, each image filled with its label's value plus its
    /// channel (red 0, green 1, blue 2).
    fn batch(dir: &Path, name: &str, labels: &[u8]) -> PathBuf {
        let mut bytes = Vec::new();
        for &label in labels {
            bytes.push(label);
            for channel in 0..3u8 {
                bytes.extend([label * 10 + channel; 1024]);
            }
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_batch_file_decodes_labels_and_channels_first_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = batch(dir.path(), "b.bin", &[3, 7]);
        let source = Source::One(path);
        assert_eq!(detect(&source).unwrap(), Format::Cifar);
        let raw = read(&source, None, None, Part::Train).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 3, h: 32, w: 32 });
        assert_eq!(raw.labels, Labels::Ints(vec![3, 7]));
        let Values::U8(v) = &raw.values else {
            panic!("{:?}", raw.values)
        };
        assert_eq!(v.len(), 2 * 3072);
        // Second image, blue plane.
        assert_eq!(v[3072 + 2048], 72);
    }

    #[test]
    fn the_release_folder_gives_each_split_its_batches() {
        let dir = tempfile::tempdir().unwrap();
        batch(dir.path(), "data_batch_2.bin", &[2]);
        batch(dir.path(), "data_batch_1.bin", &[1]);
        batch(dir.path(), "test_batch.bin", &[9]);
        std::fs::write(dir.path().join("batches.meta.txt"), "airplane\n").unwrap();
        let source = Source::One(dir.path().to_path_buf());
        assert_eq!(detect(&source).unwrap(), Format::Cifar);
        let train = read(&source, None, None, Part::Train).unwrap();
        assert_eq!(train.labels, Labels::Ints(vec![1, 2]));
        let test = read(&source, None, None, Part::Test).unwrap();
        assert_eq!(test.labels, Labels::Ints(vec![9]));
    }

    #[test]
    fn a_truncated_batch_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_batch_1.bin");
        std::fs::write(&path, vec![0u8; RECORD + 10]).unwrap();
        let err = read(
            &Source::One(dir.path().to_path_buf()),
            None,
            None,
            Part::Train,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn empty_batches_and_missing_test_batches_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = batch(dir.path(), "data_batch_1.bin", &[]);
        let err = read(&Source::One(path), Some(Format::Cifar), None, Part::Train)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("no examples"),
            "{err}"
        );
        let err = read(
            &Source::One(dir.path().to_path_buf()),
            None,
            None,
            Part::Test,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("test_batch.bin"), "{err}");
    }
}
