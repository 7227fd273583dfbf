//! Named parameters in models: a layer field written `"$width"` takes the value of parameter
//! `width`, an axis of `[grid]`, `[search]`, include entries and `[[runs]]` like `lr`
//! ([`crate::spec::grid::Axis::Param`]). A model that names parameters is a [`Template`]: its
//! layers are made, typed and checked per configuration, so a value that breaks the model (a
//! width of 0, a fraction where a whole number is needed) is an error located at the layer.

use crate::spec::arch::{self, Layer, LayerInfo};
use crate::spec::grid::{Axis, Value};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// A layer stack whose fields name parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Each layer as written, with where it is written.
    layers: Vec<(toml::Value, Range<usize>)>,
    /// The parameters it names.
    pub params: BTreeSet<String>,
}

/// What is wrong with a layer: where, what, what would be right.
pub(crate) type Problem = (Option<Range<usize>>, String, String);

/// The parameters `value` names (`"$name"` strings), at any depth.
fn refs(value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::String(s) => {
            if let Some(name) = s.strip_prefix('$') {
                out.insert(name.to_string());
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// `value` with every `"$name"` replaced by the parameter's value in `values`.
fn substitute(value: &toml::Value, values: &BTreeMap<Axis, Value>) -> Result<toml::Value, String> {
    Ok(match value {
        toml::Value::String(s) if s.starts_with('$') => {
            let name = &s[1..];
            match values.get(&Axis::param(name)) {
                Some(Value::Int(i)) => toml::Value::Integer(*i as i64),
                Some(Value::Float(f)) => toml::Value::Float(*f),
                Some(Value::Name(n)) => toml::Value::String(n.clone()),
                Some(Value::Bool(b)) => toml::Value::Boolean(*b),
                None => return Err(name.to_string()),
            }
        }
        toml::Value::Array(a) => toml::Value::Array(
            a.iter()
                .map(|v| substitute(v, values))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => toml::Value::Table(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether `p` can name a parameter: a key the grid, include entries and runs read as one.
pub(crate) fn can_name(p: &str) -> bool {
    Axis::is_param_name(p)
        && Axis::from_key(p).is_none()
        && !["label", "include", "exclude"].contains(&p)
}

/// An optimizer's or a schedule's table whose fields name parameters, as written: typed per
/// configuration ([`Knobs::make`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    table: toml::Value,
    /// The parameters it names.
    pub params: BTreeSet<String>,
}

impl Knobs {
    /// `value` as a template when it names parameters, `None` when it names none, or what is
    /// wrong with a name (message, help).
    pub(crate) fn read(value: &toml::Value) -> Result<Option<Knobs>, (String, String)> {
        let mut params = BTreeSet::new();
        refs(value, &mut params);
        if let Some(bad) = params.iter().find(|p| !can_name(p)) {
            return Err((
                format!("`${bad}` cannot name a parameter"),
                "a parameter's name is letters, digits and _, not starting with a digit, and not an axis (lr, epochs, ...)".into(),
            ));
        }
        Ok((!params.is_empty()).then(|| Knobs {
            table: value.clone(),
            params,
        }))
    }

    /// The table typed as `T` with the parameters' values in `values` (every parameter 1 when
    /// `ones`: to type-check it before any configuration exists).
    pub(crate) fn make<T: serde::de::DeserializeOwned>(
        &self,
        values: &BTreeMap<Axis, Value>,
        ones: bool,
    ) -> Result<T, String> {
        let ones_map: BTreeMap<Axis, Value>;
        let values = if ones {
            ones_map = self
                .params
                .iter()
                .map(|p| (Axis::param(p), Value::Int(1)))
                .collect();
            &ones_map
        } else {
            values
        };
        let table = substitute(&self.table, values).map_err(|p| {
            format!("it takes parameter `{p}`, which this configuration does not set")
        })?;
        T::deserialize(table).map_err(|e| e.message().to_string())
    }
}

/// One layer as written, typed.
fn layer(name: &str, i: usize, value: toml::Value) -> Result<Layer, String> {
    Layer::deserialize(value)
        .map_err(|e| format!("model `{name}`, layer {}: {}", i + 1, e.message()))
}

/// The layers of a model as written: fixed layers, or a template when any names a parameter.
pub(crate) fn read(
    name: &str,
    raw: &[toml::Spanned<toml::Value>],
) -> Result<Result<Vec<Layer>, Template>, Problem> {
    let mut params = BTreeSet::new();
    for (i, l) in raw.iter().enumerate() {
        let mut own = BTreeSet::new();
        refs(l.get_ref(), &mut own);
        if let Some(bad) = own.iter().find(|p| !can_name(p)) {
            return Err((
                Some(l.span()),
                format!("model `{name}`, layer {}: `${bad}` cannot name a parameter", i + 1),
                "a parameter's name is letters, digits and _, not starting with a digit, and not an axis (lr, epochs, ...)".into(),
            ));
        }
        if let toml::Value::Table(t) = l.get_ref()
            && let Some(field) = ["type", "activation", "padding"].iter().find(|f| {
                t.get(**f)
                    .and_then(|v| v.as_str())
                    .is_some_and(|s| s.starts_with('$'))
            })
        {
            return Err((
                Some(l.span()),
                format!(
                    "model `{name}`, layer {}: `{field}` cannot be a parameter",
                    i + 1
                ),
                "parameters set numbers: units, filters, kernel, stride, size, rate".into(),
            ));
        }
        // Typed once with every parameter at 1, so a typo in a layer is found even in a model
        // no configuration uses.
        let ones: BTreeMap<Axis, Value> = own
            .iter()
            .map(|p| (Axis::param(p), Value::Int(1)))
            .collect();
        let typed =
            substitute(l.get_ref(), &ones).map_err(|p| (Some(l.span()), p, String::new()))?;
        layer(name, i, typed).map_err(|m| {
            (
                Some(l.span()),
                m,
                "see the layer reference in docs/manifest.md".into(),
            )
        })?;
        params.extend(own);
    }
    if !params.is_empty() {
        let layers = raw
            .iter()
            .map(|l| (l.get_ref().clone(), l.span()))
            .collect();
        return Ok(Err(Template { layers, params }));
    }
    raw.iter()
        .enumerate()
        .map(|(i, l)| {
            layer(name, i, l.get_ref().clone()).map_err(|m| {
                (
                    Some(l.span()),
                    m,
                    "see the layer reference in docs/manifest.md".into(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Ok)
}

impl Template {
    /// The layers of one configuration (parameter values in `values`), checked as a model of
    /// `shape` inputs and `classes` outputs.
    pub(crate) fn instantiate(
        &self,
        name: &str,
        values: &BTreeMap<Axis, Value>,
        shape: arch::Shape,
        classes: usize,
    ) -> Result<(Vec<Layer>, Vec<LayerInfo>), Problem> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, (raw, span)) in self.layers.iter().enumerate() {
            let v = substitute(raw, values).map_err(|p| {
                (
                    Some(span.clone()),
                    format!("model `{name}` takes parameter `{p}`, which this configuration does not set"),
                    format!("give `{p}` values in [grid] (e.g. {p} = [32, 64]), or set it in this run"),
                )
            })?;
            let l = layer(name, i, v).map_err(|m| {
                let given = self.given(values);
                (
                    Some(span.clone()),
                    format!("{m} (with {given})"),
                    "a parameter that sets a whole-number field (units, filters, kernel, size) needs whole numbers".into(),
                )
            })?;
            layers.push(l);
        }
        let spans: Vec<Range<usize>> = self.layers.iter().map(|(_, s)| s.clone()).collect();
        let infos = arch::check_layers(name, &layers, shape, classes).map_err(
            |(layer, message, help)| {
                let given = self.given(values);
                (
                    layer.and_then(|i| spans.get(i).cloned()),
                    format!("{message} (with {given})"),
                    help,
                )
            },
        )?;
        Ok((layers, infos))
    }

    /// `width = 32, rate = 0.5`: the values this template's parameters take in `values`.
    fn given(&self, values: &BTreeMap<Axis, Value>) -> String {
        self.params
            .iter()
            .filter_map(|p| values.get(&Axis::param(p)).map(|v| format!("{p} = {v}")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
