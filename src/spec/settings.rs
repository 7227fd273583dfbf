//! A run's settings: the value of every axis it has, in the axis table's order, as one map.
//! The plan table, the report's rows and tables, CSV, JSON and HTML all read this map, so that
//! adding an axis (a row of [`crate::spec::grid::AXES`]) changes nothing on the results side.

use crate::spec::grid::{AXES, Label, Value};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Axis key -> value, in axis-table order (named model parameters last, by name). Serialized as
/// a JSON object (`{"model": "simple_nn", "lr": 0.01, ...}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings(Vec<(String, Value)>);

impl Settings {
    /// From pairs in any order; the map keeps the axis table's.
    pub fn new(mut pairs: Vec<(String, Value)>) -> Self {
        pairs.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)));
        Settings(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The same map without `key` (a configuration's settings are its runs' without `seed`).
    pub fn without(&self, key: &str) -> Settings {
        Settings(self.0.iter().filter(|(k, _)| k != key).cloned().collect())
    }

    /// `key`'s value as a table cell: `-` where this run has no such axis.
    pub fn cell(&self, key: &str) -> String {
        self.get(key).map_or_else(|| "-".into(), Value::to_string)
    }
}

/// Where `key` sorts: its row of the axis table, then model parameters by name.
fn rank(key: &str) -> (usize, &str) {
    let row = AXES.iter().position(|d| d.key == key).unwrap_or(AXES.len());
    (row, if row == AXES.len() { key } else { "" })
}

/// Every key any of these settings has, in axis order (the columns of a CSV file).
pub(crate) fn keys<'a>(all: impl IntoIterator<Item = &'a Settings>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for s in all {
        for (k, _) in &s.0 {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)));
    keys
}

/// The keys a table of these settings shows as columns, in axis order: the axes a label starts
/// with (model, optimizer) always, any other that takes two or more values among them, never
/// the keys in `own` (the columns the table renders its own way, such as `epochs` and `seed`).
pub(crate) fn varying<'a>(
    all: impl IntoIterator<Item = &'a Settings>,
    own: &[&str],
) -> Vec<String> {
    let mut seen: Vec<(String, Vec<&'a Value>)> = Vec::new();
    for s in all {
        for (k, v) in &s.0 {
            match seen.iter_mut().find(|(key, _)| key == k) {
                Some((_, values)) if !values.contains(&v) => values.push(v),
                Some(_) => {}
                None => seen.push((k.clone(), vec![v])),
            }
        }
    }
    let head = |k: &str| AXES.iter().any(|d| d.key == k && d.label == Label::Head);
    let mut keys: Vec<String> = seen
        .into_iter()
        .filter(|(k, values)| !own.contains(&k.as_str()) && (head(k) || values.len() > 1))
        .map(|(k, _)| k)
        .collect();
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)));
    keys
}

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, Value)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn keeps_the_axis_order_and_serializes_as_a_map() {
        let a = s(&[
            ("width", Value::Int(8)),
            ("lr", Value::Float(0.01)),
            ("dropout", Value::Float(0.5)),
            ("model", Value::Name("m".into())),
        ]);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"model":"m","lr":0.01,"dropout":0.5,"width":8}"#
        );
        assert_eq!(a.without("lr").cell("lr"), "-");
        assert_eq!(a.cell("width"), "8");
    }

    #[test]
    fn only_the_head_axes_and_those_that_vary_are_columns() {
        let a = s(&[
            ("model", Value::Name("m".into())),
            ("optimizer", Value::Name("sgd".into())),
            ("lr", Value::Float(0.01)),
            ("momentum", Value::Float(0.0)),
            ("seed", Value::Int(1)),
        ]);
        let b = s(&[
            ("model", Value::Name("m".into())),
            ("optimizer", Value::Name("adam".into())),
            ("lr", Value::Float(0.001)),
            ("beta2", Value::Float(0.999)),
            ("seed", Value::Int(2)),
        ]);
        // momentum and beta2 each take one value where they apply: not swept.
        assert_eq!(varying([&a, &b], &["seed"]), ["model", "optimizer", "lr"]);
        assert_eq!(varying([&a], &[]), ["model", "optimizer"]);
    }
}
