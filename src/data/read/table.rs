//! CSV tables (raw or gzipped): a header, numeric feature columns, and one label column (the
//! last unless `label` names another). Labels that all parse as integers are integers, other
//! labels are names. Line numbers in messages count the header as line 1.

use super::{Labels, Raw, Values, error, load, no_examples};
use crate::error::{Error, Result};
use crate::spec::arch::Shape;
use std::path::Path;

/// The header of a table: its column names, and which one holds the labels.
struct Columns {
    names: Vec<String>,
    label: usize,
}

/// Read the table `path`, labels in column `label` (default: the last).
pub(super) fn read(path: &Path, label: Option<&str>) -> Result<Raw> {
    let bytes = load(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Rows of another length are reported here, with their line.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let columns = columns(path, &mut reader, label)?;
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        row(path, &columns, &record, &mut values, &mut labels)?;
    }
    if labels.is_empty() {
        return Err(no_examples(path));
    }
    let features: Vec<String> = columns
        .names
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != columns.label)
        .map(|(_, name)| name.clone())
        .collect();
    Ok(Raw {
        shape: Shape::Flat(features.len()),
        values: Values::F32(values),
        labels: labels_of(labels),
        features,
    })
}

/// The header's columns, and the index of the label column.
fn columns(path: &Path, reader: &mut csv::Reader<&[u8]>, label: Option<&str>) -> Result<Columns> {
    let header = reader.headers().map_err(|e| csv_error(path, &e))?;
    let names: Vec<String> = header
        .iter()
        .map(|n| n.trim_start_matches('\u{feff}').to_string())
        .collect();
    if names.len() < 2 {
        return Err(error(
            path,
            format!(
                "the header has {} column(s): a table needs feature columns and a label column",
                names.len()
            ),
            "start the file with a header line naming the columns, e.g. x1,x2,label",
        ));
    }
    let index = match label {
        None => names.len() - 1,
        Some(wanted) => names.iter().position(|n| n == wanted).ok_or_else(|| {
            error(
                path,
                format!("no column `{wanted}` for the labels"),
                format!("set label to one of the columns: {}", names.join(", ")),
            )
        })?,
    };
    Ok(Columns {
        names,
        label: index,
    })
}

/// Add the features and label of one row to `values` and `labels`.
fn row(
    path: &Path,
    columns: &Columns,
    record: &csv::StringRecord,
    values: &mut Vec<f32>,
    labels: &mut Vec<String>,
) -> Result<()> {
    let line = record.position().map_or(0, csv::Position::line);
    if record.len() != columns.names.len() {
        return Err(error(
            path,
            format!(
                "line {line} has {} fields, the header has {}",
                record.len(),
                columns.names.len()
            ),
            "give every row one value per column of the header",
        ));
    }
    for (i, (cell, name)) in record.iter().zip(&columns.names).enumerate() {
        if i != columns.label {
            values.push(feature(path, line, name, cell)?);
        } else if cell.is_empty() {
            return Err(error(
                path,
                format!("line {line}: empty label in column `{name}`"),
                "give every row a label",
            ));
        } else {
            labels.push(cell.to_string());
        }
    }
    Ok(())
}

/// The value of the feature `cell` of column `column` on line `line`: a finite number.
fn feature(path: &Path, line: u64, column: &str, cell: &str) -> Result<f32> {
    if cell.is_empty() {
        return Err(error(
            path,
            format!("line {line}: empty cell in column `{column}`"),
            "fill in every feature: missing values are not supported",
        ));
    }
    let value: f32 = cell.parse().map_err(|_| {
        error(
            path,
            format!("line {line}: `{cell}` in column `{column}` is not a number"),
            format!("feature columns must be numeric; if `{column}` holds the labels, set label = \"{column}\""),
        )
    })?;
    if !value.is_finite() {
        return Err(error(
            path,
            format!("line {line}: NaN or infinite feature in column `{column}`"),
            "replace or drop the rows with missing or infinite values",
        ));
    }
    Ok(value)
}

/// Integer labels when every one parses as an integer, else the names as written.
fn labels_of(labels: Vec<String>) -> Labels {
    let ints: Option<Vec<i64>> = labels.iter().map(|l| l.parse().ok()).collect();
    match ints {
        Some(ints) => Labels::Ints(ints),
        None => Labels::Names(labels),
    }
}

/// A CSV syntax or encoding error in `path` (its message says where).
fn csv_error(path: &Path, e: &csv::Error) -> Error {
    error(
        path,
        format!("cannot read the table: {e}"),
        "save it as UTF-8 CSV: a header line, then one row per example, fields separated by commas",
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Labels, Raw, Values, detect, read as read_source};
    use crate::error::Result;
    use crate::spec::arch::Shape;
    use crate::spec::dataset::{Format, Part, Source};
    use std::path::{Path, PathBuf};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn read(path: &Path, label: Option<&str>) -> Result<Raw> {
        read_source(&Source::One(path.to_path_buf()), None, label, Part::Train)
    }

    #[test]
    fn numeric_features_and_integer_labels_in_the_last_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "x1, x2 ,y\n1,2,0\n3.5, -4e0 ,1\n");
        let raw = read(&path, None).unwrap();
        assert_eq!(raw.shape, Shape::Flat(2));
        assert_eq!(raw.values, Values::F32(vec![1.0, 2.0, 3.5, -4.0]));
        assert_eq!(raw.labels, Labels::Ints(vec![0, 1]));
        assert_eq!(raw.features, vec!["x1".to_string(), "x2".to_string()]);
    }

    #[test]
    fn a_named_label_column_with_string_labels() {
        let dir = tempfile::tempdir().unwrap();
        let text = "species,a,b\nsetosa,1,2\n virginica ,3,4\n";
        let path = write(dir.path(), "iris.txt", text);
        assert_eq!(detect(&Source::One(path.clone())).unwrap(), Format::Csv);
        let raw = read(&path, Some("species")).unwrap();
        assert_eq!(raw.values, Values::F32(vec![1.0, 2.0, 3.0, 4.0]));
        let names = vec!["setosa".to_string(), "virginica".to_string()];
        assert_eq!(raw.labels, Labels::Names(names));
        assert_eq!(raw.features, vec!["a".to_string(), "b".to_string()]);
        let err = read(&path, Some("class")).unwrap_err().to_string();
        assert!(err.contains("iris.txt") && err.contains("class"), "{err}");
        assert!(err.contains("species, a, b"), "{err}");
    }

    #[test]
    fn nan_and_infinite_features_are_refused_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "nan.csv", "a,b,y\n1,2,0\n1,nan,1\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("nan.csv") && err.contains("line 3"), "{err}");
        assert!(
            err.contains("NaN or infinite feature") && err.contains("`b`"),
            "{err}"
        );
        let path = write(dir.path(), "inf.csv", "a,b,y\n-inf,2,0\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("NaN or infinite feature"),
            "{err}"
        );
    }

    #[test]
    fn non_numeric_and_empty_cells_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "a,b,y\n1,2,0\n1,two,0\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains("line 3"), "{err}");
        assert!(
            err.contains("`two`") && err.contains("`b`") && err.contains("not a number"),
            "{err}"
        );
        let path = write(dir.path(), "gap.csv", "a,b,y\n1,,0\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("empty cell"),
            "{err}"
        );
    }

    #[test]
    fn rows_of_another_length_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", "a,b,y\n1,2,0\n1,2\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("line 3 has 2 fields, the header has 3"),
            "{err}"
        );
    }

    #[test]
    fn a_header_without_rows_has_no_examples() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "empty.csv", "a,b,y\n");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("empty.csv") && err.contains("no examples"),
            "{err}"
        );
        let path = write(dir.path(), "nothing.csv", "");
        let err = read(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("nothing.csv") && err.contains("header"),
            "{err}"
        );
    }
}
