//! The one table of grid axes ([`AXES`]): each hyperparameter a grid, an include / exclude
//! entry or an explicit run can set, with its manifest key, its type, the optimizer parameter it
//! sets (if any) and how it shows in a run's label. Parsing ([`crate::spec::manifest`]), expansion,
//! include / exclude matching and labels ([`crate::spec::plan`]) and the optimizer's parameters
//! ([`crate::spec::optim::OptimizerSpec::set`]) all read it; adding an axis is one row here (and, for a
//! new optimizer parameter, the optimizer's own code).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// A grid axis, in expansion order (the first is outermost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Axis {
    /// An external training program (`[programs.<name>]`), for runs that are not built-in
    /// layer stacks.
    Program,
    Model,
    Optimizer,
    /// A learning-rate schedule, by name (`[schedules.<name>]`, or `constant`).
    Schedule,
    Lr,
    Momentum,
    Rho,
    Beta1,
    Beta2,
    Epsilon,
    WeightDecay,
    Nesterov,
    Epochs,
    BatchSize,
    Seed,
    /// A named parameter of a model (`filters = "$width"` in a layer): set like any axis, read
    /// by the layers that name it. Innermost in a grid, after the built-in axes.
    Param(&'static str),
}

/// The type of an axis's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name defined elsewhere in the manifest (a model, an optimizer).
    Name,
    /// A real number (integers are accepted too).
    Float,
    /// A whole number, 0 or more.
    Int,
    /// A number, whole or not, as written (a parameter: the layer field it reaches decides).
    Number,
    /// `true` or `false`.
    Bool,
}

/// How an axis shows in the label of a run that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The label starts with it (model, then optimizer).
    Head,
    /// ` <prefix><value>` whenever the run sets it.
    Set(&'static str),
    /// ` <prefix><value>` when it varies: a grid axis with several values, or an explicit run
    /// that sets it.
    Varied(&'static str),
    /// Never shown (seeds are listed beside the label).
    Never,
    /// ` <name>=<value>`, as [`Label::Varied`]: a parameter's own name.
    Param,
}

/// One row of the axis table.
#[derive(Debug, Clone, Copy)]
pub struct AxisDef {
    pub axis: Axis,
    /// The manifest key.
    pub key: &'static str,
    pub kind: Kind,
    /// The optimizer parameter the axis sets; only optimizers that take it accept it.
    pub optimizer_param: Option<&'static str>,
    pub label: Label,
}

/// Every axis, in expansion order.
pub(crate) const AXES: &[AxisDef] = &[
    AxisDef {
        axis: Axis::Program,
        key: "program",
        kind: Kind::Name,
        optimizer_param: None,
        label: Label::Head,
    },
    AxisDef {
        axis: Axis::Model,
        key: "model",
        kind: Kind::Name,
        optimizer_param: None,
        label: Label::Head,
    },
    AxisDef {
        axis: Axis::Optimizer,
        key: "optimizer",
        kind: Kind::Name,
        optimizer_param: None,
        label: Label::Head,
    },
    AxisDef {
        axis: Axis::Schedule,
        key: "schedule",
        kind: Kind::Name,
        optimizer_param: None,
        label: Label::Varied("schedule="),
    },
    AxisDef {
        axis: Axis::Lr,
        key: "lr",
        kind: Kind::Float,
        optimizer_param: Some("lr"),
        label: Label::Set("lr="),
    },
    AxisDef {
        axis: Axis::Momentum,
        key: "momentum",
        kind: Kind::Float,
        optimizer_param: Some("momentum"),
        label: Label::Set("m="),
    },
    AxisDef {
        axis: Axis::Rho,
        key: "rho",
        kind: Kind::Float,
        optimizer_param: Some("rho"),
        label: Label::Set("rho="),
    },
    AxisDef {
        axis: Axis::Beta1,
        key: "beta1",
        kind: Kind::Float,
        optimizer_param: Some("beta1"),
        label: Label::Set("b1="),
    },
    AxisDef {
        axis: Axis::Beta2,
        key: "beta2",
        kind: Kind::Float,
        optimizer_param: Some("beta2"),
        label: Label::Set("b2="),
    },
    AxisDef {
        axis: Axis::Epsilon,
        key: "epsilon",
        kind: Kind::Float,
        optimizer_param: Some("epsilon"),
        label: Label::Set("eps="),
    },
    AxisDef {
        axis: Axis::WeightDecay,
        key: "weight_decay",
        kind: Kind::Float,
        optimizer_param: Some("weight_decay"),
        label: Label::Set("wd="),
    },
    AxisDef {
        axis: Axis::Nesterov,
        key: "nesterov",
        kind: Kind::Bool,
        optimizer_param: Some("nesterov"),
        label: Label::Set("nesterov="),
    },
    AxisDef {
        axis: Axis::Epochs,
        key: "epochs",
        kind: Kind::Int,
        optimizer_param: None,
        label: Label::Varied("e="),
    },
    AxisDef {
        axis: Axis::BatchSize,
        key: "batch_size",
        kind: Kind::Int,
        optimizer_param: None,
        label: Label::Set("b="),
    },
    AxisDef {
        axis: Axis::Seed,
        key: "seed",
        kind: Kind::Int,
        optimizer_param: None,
        label: Label::Never,
    },
];

impl Axis {
    /// This axis's row of [`AXES`] (for a parameter, a row of its own).
    pub fn def(self) -> AxisDef {
        match self {
            Axis::Param(name) => AxisDef {
                axis: self,
                key: name,
                kind: Kind::Number,
                optimizer_param: None,
                label: Label::Param,
            },
            _ => *AXES
                .iter()
                .find(|d| d.axis == self)
                .expect("every built-in axis has a row"),
        }
    }

    /// The manifest key.
    pub fn key(self) -> &'static str {
        self.def().key
    }

    /// The axis of parameter `name` (names are interned: a manifest names few parameters).
    pub fn param(name: &str) -> Axis {
        use std::sync::{Mutex, OnceLock};
        static NAMES: OnceLock<Mutex<std::collections::BTreeSet<&'static str>>> = OnceLock::new();
        let mut names = NAMES
            .get_or_init(Default::default)
            .lock()
            .expect("parameter names");
        let interned = match names.get(name) {
            Some(n) => *n,
            None => {
                let n: &'static str = Box::leak(name.to_string().into_boxed_str());
                names.insert(n);
                n
            }
        };
        Axis::Param(interned)
    }

    /// Whether `name` can name a parameter: letters, digits and `_`, not starting with a digit.
    pub fn is_param_name(name: &str) -> bool {
        name.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// The axis a manifest key names.
    pub fn from_key(key: &str) -> Option<Axis> {
        AXES.iter().find(|d| d.key == key).map(|d| d.axis)
    }
}

/// The manifest keys of every axis, for messages.
pub(crate) fn keys() -> String {
    AXES.iter().map(|d| d.key).collect::<Vec<_>>().join(", ")
}

/// A value on an axis, compared by type: `1e-3` and `0.001` are the same learning rate.
/// Serialized as JSON's own types; read back, `8` is a whole number and `8.0` is not.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(u64),
    Float(f64),
    Name(String),
}

impl Value {
    /// `value` (from TOML) as a value of `kind`, or what is wrong with it.
    pub fn parse(kind: Kind, value: &toml::Value) -> Result<Value, String> {
        match (kind, value) {
            (Kind::Name, toml::Value::String(s)) => Ok(Value::Name(s.clone())),
            (Kind::Float, toml::Value::Float(f)) => Ok(Value::Float(*f)),
            (Kind::Float, toml::Value::Integer(i)) => Ok(Value::Float(*i as f64)),
            (Kind::Int, toml::Value::Integer(i)) if *i >= 0 => Ok(Value::Int(*i as u64)),
            (Kind::Int, toml::Value::Integer(i)) => Err(format!(
                "invalid value: {i}, expected a whole number, 0 or more"
            )),
            (Kind::Number, toml::Value::Integer(i)) if *i >= 0 => Ok(Value::Int(*i as u64)),
            (Kind::Number, toml::Value::Integer(i)) => Ok(Value::Float(*i as f64)),
            (Kind::Number, toml::Value::Float(f)) => Ok(Value::Float(*f)),
            (Kind::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (kind, other) => Err(format!(
                "invalid type: {} `{other}`, expected {}",
                other.type_str(),
                match kind {
                    Kind::Name => "a quoted name",
                    Kind::Float | Kind::Number => "a number",
                    Kind::Int => "a whole number",
                    Kind::Bool => "true or false",
                }
            )),
        }
    }

    pub fn as_name(&self) -> Option<&str> {
        match self {
            Value::Name(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<u64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Name(s) => f.write_str(s),
            Value::Float(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// The values a grid combination, an include / exclude entry or an explicit run sets; an axis
/// that is absent is "not set here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub label: Option<String>,
    pub values: BTreeMap<Axis, Value>,
    /// Where it came from, for error messages.
    pub span: Range<usize>,
    /// Where each value was written, when the entry comes from the file (a `[[runs]]` or
    /// include / exclude entry), so that an error about one value points at it.
    pub value_spans: BTreeMap<Axis, Range<usize>>,
}

impl Entry {
    pub fn get(&self, axis: Axis) -> Option<&Value> {
        self.values.get(&axis)
    }

    pub fn name(&self, axis: Axis) -> Option<&str> {
        self.get(axis).and_then(Value::as_name)
    }

    pub fn float(&self, axis: Axis) -> Option<f64> {
        self.get(axis).and_then(Value::as_float)
    }

    pub fn int(&self, axis: Axis) -> Option<u64> {
        self.get(axis).and_then(Value::as_int)
    }

    /// Whether every value `self` (an exclude entry) sets is the same in `combo`.
    pub fn matches(&self, combo: &Entry) -> bool {
        self.values
            .iter()
            .all(|(axis, v)| combo.get(*axis) == Some(v))
    }
}

/// A distribution a sampled search draws an axis's values from (`lr = { log_uniform = [1e-4,
/// 1e-1] }` in `[grid]`, with `[search] method = "random"` or `"sobol"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Real numbers between the bounds, evenly.
    Uniform(f64, f64),
    /// Positive reals between the bounds, evenly in their logarithm (learning rates).
    LogUniform(f64, f64),
    /// Whole numbers from the first bound to the second, both included.
    IntUniform(u64, u64),
    /// One of the values, each as likely (a plain list on a sampled axis means the same).
    Choice(Vec<Value>),
}

impl Dist {
    /// The keys a distribution is written with, for messages.
    pub const KEYS: &str = "uniform, log_uniform, int_uniform, choice";

    /// The value at `u` in [0, 1). Reals are rounded to 4 significant digits, so labels stay
    /// readable (`lr=0.003162`).
    pub fn at(&self, u: f64) -> Value {
        let u = u.clamp(0.0, 1.0 - f64::EPSILON);
        match self {
            Dist::Uniform(lo, hi) => Value::Float(significant(lo + u * (hi - lo))),
            Dist::LogUniform(lo, hi) => {
                Value::Float(significant((lo.ln() + u * (hi.ln() - lo.ln())).exp()))
            }
            Dist::IntUniform(lo, hi) => {
                Value::Int(lo + ((u * (hi - lo + 1) as f64) as u64).min(hi - lo))
            }
            Dist::Choice(values) => {
                values[((u * values.len() as f64) as usize).min(values.len() - 1)].clone()
            }
        }
    }
}

/// `x` rounded to 4 significant digits.
fn significant(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    let r = (x * scale).round() / scale;
    // Through text, so 0.0031620000000000003 prints as 0.003162.
    format!("{r:.12e}").parse().unwrap_or(r)
}

/// How configurations are chosen (`[search]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Every combination of the `[grid]` lists (the default).
    #[default]
    Grid,
    /// `samples` independent draws of every axis.
    Random,
    /// `samples` points of an Owen-scrambled Sobol sequence: spread more evenly than random.
    Sobol,
    /// `samples` configurations in batches: the first `startup` Sobol points, then `batch` at a
    /// time proposed by a Tree-structured Parzen Estimator from the batches before
    /// ([`crate::spec::tpe`], [`crate::exec::search`]).
    Tpe,
}

/// The `[search]` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    pub method: Method,
    /// Configurations drawn (before seeds), for random and Sobol.
    pub samples: usize,
    /// Seeds the draws: the same seed, the same configurations.
    pub seed: u64,
    /// Successive halving (`[search.halving]`), when the search prunes.
    pub halving: Option<Halving>,
    /// TPE: configurations proposed at once after the first batch, and in the first batch.
    pub batch: usize,
    pub startup: usize,
    /// TPE: the metric it learns to improve (each configuration's mean over its seeds).
    pub metric: crate::spec::metric::Metric,
    /// TPE: the points of the batches proposed so far (unit-cube coordinates, one per search
    /// dimension), read from the sweep's `search.json`; empty before the first is written (the
    /// plan is then the first batch).
    pub proposed: Vec<Vec<f64>>,
}

/// Synchronous successive halving (`[search.halving]`): every configuration trains to the first
/// rung; the best `keep_fraction` of them (by `metric`'s mean over seeds at that epoch) go on to
/// the next rung, and so on to the last rung, which is the runs' epochs. Decided by
/// [`crate::exec::halving`].
#[derive(Debug, Clone, PartialEq)]
pub struct Halving {
    pub metric: crate::spec::metric::Metric,
    /// Epochs at which configurations are ranked and cut, increasing; the last is where the
    /// survivors stop.
    pub rungs: Vec<usize>,
    /// The share of a rung's configurations that go on (at least one does).
    pub keep_fraction: f64,
}

impl Halving {
    /// How many of `n` configurations go on past a rung: ceil(n x fraction), at least 1. The
    /// product is rounded to 1e-9 first, so that 0.25 of 12 keeps 3, not 4.
    pub fn kept(&self, n: usize) -> usize {
        let x = n as f64 * self.keep_fraction;
        let x = (x * 1e9).round() / 1e9;
        (x.ceil() as usize).clamp(1, n.max(1))
    }

    /// Configurations alive at each rung, starting from `n`.
    pub fn alive(&self, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.rungs.len());
        let mut a = n;
        for _ in &self.rungs {
            out.push(a);
            a = self.kept(a);
        }
        out
    }

    /// Epochs trained by `n` configurations of `seeds` seeds each: each rung's survivors train
    /// from the previous rung to this one.
    pub fn epochs(&self, n: usize, seeds: usize) -> usize {
        let mut prev = 0;
        let mut total = 0;
        for (&alive, &r) in self.alive(n).iter().zip(&self.rungs) {
            total += alive * seeds * (r - prev);
            prev = r;
        }
        total
    }

    /// The last rung: every run's epochs.
    pub fn last(&self) -> usize {
        *self.rungs.last().expect("rungs are checked non-empty")
    }
}

/// The `[grid]` section: each present axis with its values (in [`AXES`] order), and the
/// include / exclude lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    pub axes: BTreeMap<Axis, Vec<Value>>,
    /// Axes given as distributions, for a sampled search.
    pub dists: BTreeMap<Axis, Dist>,
    pub include: Vec<Entry>,
    pub exclude: Vec<Entry>,
    pub span: Range<usize>,
    /// Where each axis that is present is written, for error messages.
    pub axis_spans: BTreeMap<Axis, Range<usize>>,
}

impl Grid {
    /// The values of `axis` (empty when the grid does not have it).
    pub fn values(&self, axis: Axis) -> &[Value] {
        self.axes.get(&axis).map_or(&[], |v| v.as_slice())
    }

    /// The Cartesian product of the present axes (first axis outermost), then exclude, then
    /// include (GitHub Actions matrix semantics: an include entry extends every combination
    /// whose original axis values it does not contradict, adding its other keys; if it extends
    /// none, it becomes a combination of its own).
    pub fn expand(&self) -> Vec<Entry> {
        let mut combos = if self.axes.is_empty() {
            Vec::new()
        } else {
            vec![Entry {
                span: self.span.clone(),
                ..Entry::default()
            }]
        };
        for (axis, values) in &self.axes {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.values.insert(*axis, v.clone());
                        c
                    })
                })
                .collect();
        }
        combos.retain(|c| !self.exclude.iter().any(|x| x.matches(c)));

        let original = |axis: &Axis| self.axes.contains_key(axis);
        let mut added = Vec::new();
        for inc in &self.include {
            let mut extended = false;
            for c in combos.iter_mut() {
                let compatible = inc
                    .values
                    .iter()
                    .all(|(axis, v)| !original(axis) || c.get(*axis) == Some(v));
                if compatible {
                    // Original values are never overwritten; values added by earlier
                    // includes may be.
                    for (axis, v) in &inc.values {
                        if !original(axis) {
                            c.values.insert(*axis, v.clone());
                        }
                    }
                    if inc.label.is_some() {
                        c.label = inc.label.clone();
                    }
                    extended = true;
                }
            }
            if !extended {
                added.push(inc.clone());
            }
        }
        combos.extend(added);
        combos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_map_the_unit_interval_onto_their_values() {
        assert_eq!(Dist::Uniform(0.0, 1.0).at(0.25), Value::Float(0.25));
        assert_eq!(Dist::LogUniform(1e-4, 1e-2).at(0.5), Value::Float(0.001));
        assert_eq!(Dist::LogUniform(1e-4, 1e-1).at(0.5), Value::Float(0.003162));
        assert_eq!(Dist::IntUniform(1, 3).at(0.0), Value::Int(1));
        assert_eq!(Dist::IntUniform(1, 3).at(0.999), Value::Int(3));
        let c = Dist::Choice(vec![Value::Name("a".into()), Value::Name("b".into())]);
        assert_eq!(c.at(0.49), Value::Name("a".into()));
        assert_eq!(c.at(0.5), Value::Name("b".into()));
        assert_eq!(c.at(1.0), Value::Name("b".into()));
    }

    #[test]
    fn the_table_is_in_axis_order_and_keys_round_trip() {
        assert!(AXES.windows(2).all(|w| w[0].axis < w[1].axis));
        for d in AXES.iter() {
            assert_eq!(Axis::from_key(d.key), Some(d.axis));
            assert_eq!(d.axis.key(), d.key);
        }
        assert_eq!(Axis::from_key("lr_decay"), None);
    }

    #[test]
    fn values_compare_by_type_not_by_spelling() {
        let a = Value::parse(Kind::Float, &toml::Value::Float(1e-3)).unwrap();
        let b = Value::parse(Kind::Float, &toml::Value::Float(0.001)).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            Value::parse(Kind::Float, &toml::Value::Integer(1)).unwrap(),
            Value::Float(1.0)
        );
        assert!(
            Value::parse(Kind::Int, &toml::Value::Integer(-1))
                .unwrap_err()
                .contains("0 or more")
        );
        assert!(
            Value::parse(Kind::Name, &toml::Value::Integer(3))
                .unwrap_err()
                .contains("invalid type")
        );
    }
}
