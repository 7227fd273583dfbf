//! The TOML manifest: its serde shape (unknown keys refused) and the checks that need more than
//! types (references, optimizer parameters, layer shapes). Every problem is reported with
//! `file:line:column` before any training starts.

use crate::error::{Error, Location, ManifestError, Result};
use crate::spec::arch::{self, Layer};
use crate::spec::dataset::{DataInfo, Declared, Format, Preprocess, Source};
use crate::spec::device::DeviceName;
use crate::spec::grid::{self, Axis, Entry, Grid, Value};
use crate::spec::metric::Metric;
use crate::spec::optim::{OptimizerKind, OptimizerSpec, Param};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The paper's four models, in manifest format, embedded in the binary.
pub(crate) const BUILTIN_MODELS: &str = include_str!("builtin_models.toml");

pub(crate) use crate::spec::dataset::Dataset;

/// Which trained weights a finished run keeps (`[sweep] keep`), as safetensors files in its
/// directory (see [`crate::results::weights`]). Not part of a run's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The last epoch's weights.
    Final,
    /// The best validation epoch's weights.
    Best,
    /// Both: the last epoch's, and the best validation epoch's when it is another epoch.
    #[default]
    Both,
    /// No weights: only the numbers.
    None,
}

impl Keep {
    pub fn keeps_best(self) -> bool {
        matches!(self, Keep::Best | Keep::Both)
    }

    pub fn keeps_final(self) -> bool {
        matches!(self, Keep::Final | Keep::Both)
    }

    /// How many weight files a run keeps at most.
    pub fn files(self) -> usize {
        usize::from(self.keeps_best()) + usize::from(self.keeps_final())
    }

    pub fn is_default(&self) -> bool {
        *self == Keep::default()
    }
}

/// Examples held out of `n` for validation with Keras's `validation_split = fraction`
/// (Keras keeps the first `floor(n * (1 - fraction))` for training).
pub(crate) fn holdout_len(n: usize, fraction: f64) -> usize {
    n - (n as f64 * (1.0 - fraction)).floor() as usize
}

/// What the model is validated on after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    /// The test set, as the paper did.
    Test,
    /// The last `fraction` of the training set, held out (Keras's `validation_split`).
    Holdout(f64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    sweep: Spanned<RawSweep>,
    #[serde(default)]
    models: BTreeMap<Spanned<String>, Spanned<RawModel>>,
    #[serde(default)]
    optimizers: BTreeMap<Spanned<String>, Spanned<RawOptimizer>>,
    /// Axes by key ([`crate::spec::grid::AXES`]), plus `include` / `exclude` (read with their
    /// entries' spans by [`GridLists`]).
    grid: Option<Spanned<RawTable>>,
    #[serde(default)]
    runs: Vec<Spanned<RawTable>>,
    /// Report settings: comparison tables and published values ([`ReportSpec`]).
    #[serde(default)]
    report: Option<RawReport>,
    /// How configurations are chosen: the grid's product, or sampled ([`grid::Search`]).
    search: Option<Spanned<RawSearch>>,
    /// The user's own datasets, by name.
    #[serde(default)]
    datasets: BTreeMap<Spanned<String>, Spanned<RawDataset>>,
    /// Learning-rate schedules, by name ([`crate::spec::schedule::Schedule`]).
    #[serde(default)]
    schedules: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// External training programs, by name ([`crate::spec::program::Program`]).
    #[serde(default)]
    programs: BTreeMap<Spanned<String>, Spanned<RawProgram>>,
}

/// A `[programs.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    command: Spanned<Vec<String>>,
    #[serde(default)]
    env: Option<Spanned<BTreeMap<String, String>>>,
    metrics: Spanned<Vec<String>>,
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
}

/// A `[datasets.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    train: Spanned<toml::Value>,
    test: Spanned<toml::Value>,
    format: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    scale: Option<Spanned<f64>>,
    standardize: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    method: Option<Spanned<String>>,
    samples: Option<Spanned<usize>>,
    seed: Option<Spanned<u64>>,
    /// TPE: configurations proposed at once, after the first batch.
    batch: Option<Spanned<usize>>,
    /// TPE: configurations of the first (Sobol) batch; default `batch`.
    startup: Option<Spanned<usize>>,
    /// TPE: what it minimizes or maximizes.
    metric: Option<Spanned<String>>,
    halving: Option<Spanned<RawHalving>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHalving {
    metric: Option<Spanned<String>>,
    rungs: Option<Spanned<Vec<Spanned<i64>>>>,
    keep_fraction: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    #[serde(default)]
    compare: Vec<Spanned<RawCompare>>,
    /// Keys: `label`, `source` and metric names ([`Metric`]), read with their spans.
    #[serde(default)]
    reference: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    /// The ranking's metric, or several objectives (a Pareto table).
    rank_by: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompare {
    title: Option<String>,
    runs: Vec<Spanned<String>>,
    columns: Option<Vec<Spanned<String>>>,
}

/// A configuration label as written in `[report]`, with where it was written (labels are
/// checked against the plan's, see [`crate::spec::plan::expand`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRef {
    pub label: String,
    pub span: Range<usize>,
}

/// A `[[report.compare]]` table: configurations side by side in some metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareSpec {
    pub title: String,
    pub runs: Vec<LabelRef>,
    pub columns: Vec<Metric>,
}

/// A `[[report.reference]]`: published values of one configuration (e.g. a paper's table),
/// printed beside ours. Accuracies are written in percent, as papers print them, and kept as
/// fractions like every accuracy here.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub label: LabelRef,
    pub source: Option<String>,
    pub values: Vec<(Metric, f64)>,
}

/// The `[report]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportSpec {
    pub compare: Vec<CompareSpec>,
    pub reference: Vec<Reference>,
    /// `rank_by`: the ranking's metric (the first metric), and with two or more, the
    /// objectives of a Pareto table. Empty: `sweep report --rank-by`'s.
    pub rank_by: Vec<crate::spec::metric::Objective>,
}

impl ReportSpec {
    /// The published value of `metric` for configuration `label`, with its source.
    pub fn reference(&self, label: &str, metric: Metric) -> Option<(f64, Option<&str>)> {
        self.reference
            .iter()
            .filter(|r| r.label.label == label)
            .find_map(|r| {
                r.values
                    .iter()
                    .find(|(m, _)| *m == metric)
                    .map(|(_, v)| (*v, r.source.as_deref()))
            })
    }

    /// Every label the section names, with where.
    pub fn labels(&self) -> impl Iterator<Item = &LabelRef> {
        self.compare
            .iter()
            .flat_map(|c| c.runs.iter())
            .chain(self.reference.iter().map(|r| &r.label))
    }
}

/// A metric named in the manifest: a built-in one, or one a declared program reports.
fn named_metric(
    name: &str,
    programs: &BTreeMap<String, crate::spec::program::Program>,
) -> Option<Metric> {
    Metric::parse(name).or_else(|| {
        programs
            .values()
            .flat_map(|p| p.custom_metrics())
            .find(|(n, _)| *n == name)
            .and_then(|(n, goal)| Metric::custom(n, goal).ok())
    })
}

/// The metrics a manifest may name, for error messages.
fn metric_names(programs: &BTreeMap<String, crate::spec::program::Program>) -> String {
    let mut names: Vec<&str> = Metric::ALL.map(|m| m.name()).to_vec();
    for (n, _) in programs.values().flat_map(|p| p.custom_metrics()) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.join(", ")
}

fn report_spec(
    raw: Option<RawReport>,
    programs: &BTreeMap<String, crate::spec::program::Program>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> ReportSpec {
    let Some(raw) = raw else {
        return ReportSpec::default();
    };
    let names = || metric_names(programs);
    let rank_by = match &raw.rank_by {
        None => Vec::new(),
        Some(v) => {
            let written: Option<Vec<&str>> = match v.get_ref() {
                toml::Value::String(s) => Some(vec![s.as_str()]),
                toml::Value::Array(a) => a.iter().map(toml::Value::as_str).collect(),
                _ => None,
            };
            let parsed: Vec<std::result::Result<crate::spec::metric::Objective, String>> = written
                .unwrap_or_default()
                .into_iter()
                .map(|w| {
                    let name = crate::spec::metric::split_goal(w).0;
                    if matches!(name, "wall_seconds" | "params")
                        || named_metric(name, programs).is_some()
                    {
                        crate::spec::metric::Objective::from_arg(w)
                    } else {
                        Err(format!("unknown metric `{w}`"))
                    }
                })
                .collect();
            let bad: Vec<String> = parsed.iter().filter_map(|r| r.clone().err()).collect();
            if !matches!(v.get_ref(), toml::Value::String(_) | toml::Value::Array(_))
                || !bad.is_empty()
                || parsed.is_empty()
            {
                errors.push(at(
                    v.span(),
                    if bad.is_empty() {
                        "rank_by is a metric or a list of objectives".into()
                    } else {
                        bad.join("; ")
                    },
                    Some(format!(
                        "e.g. rank_by = [\"val_accuracy\", \"-wall_seconds\"]; objectives: {}, wall_seconds, params (a `-` or `+` before a name says which way it improves)",
                        names()
                    )),
                ));
            }
            parsed.into_iter().filter_map(|r| r.ok()).collect()
        }
    };
    let metric = |s: &Spanned<String>, errors: &mut Vec<ManifestError>| {
        let m = named_metric(s.get_ref(), programs);
        if m.is_none() {
            errors.push(at(
                s.span(),
                format!("unknown metric `{}`", s.get_ref()),
                Some(format!("accepted: {}", names())),
            ));
        }
        m
    };
    for c in &raw.compare {
        let span = c.span();
        let c = c.get_ref();
        if c.runs.is_empty() || c.columns.as_ref().is_some_and(|v| v.is_empty()) {
            errors.push(at(
                span,
                "a [[report.compare]] with no runs or no columns would be an empty table".into(),
                Some(
                    "list labels in runs = [...] and, if given, metrics in columns = [...]".into(),
                ),
            ));
        }
    }
    let compare = raw
        .compare
        .into_iter()
        .map(Spanned::into_inner)
        .map(|c| CompareSpec {
            title: c.title.unwrap_or_else(|| "Comparison".into()),
            runs: c
                .runs
                .into_iter()
                .map(|r| LabelRef {
                    span: r.span(),
                    label: r.into_inner(),
                })
                .collect(),
            columns: match c.columns {
                None => vec![Metric::TrainAccuracy, Metric::ValAccuracy],
                Some(cols) => cols.iter().filter_map(|c| metric(c, errors)).collect(),
            },
        })
        .collect();
    let mut reference = Vec::new();
    for r in raw.reference {
        let span = r.span();
        let (mut label, mut source, mut values) = (None, None, Vec::new());
        for (k, v) in r.into_inner() {
            match (k.get_ref().as_str(), v.get_ref()) {
                ("label", toml::Value::String(s)) => {
                    label = Some(LabelRef {
                        label: s.clone(),
                        span: v.span(),
                    })
                }
                ("source", toml::Value::String(s)) => source = Some(s.clone()),
                ("label" | "source", _) => errors.push(at(
                    v.span(),
                    format!("`{}` must be a string", k.get_ref()),
                    None,
                )),
                _ => {
                    let Some(m) = metric(&k, errors) else {
                        continue;
                    };
                    let x = match v.get_ref() {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        _ => None,
                    };
                    match x {
                        Some(x) if m.is_accuracy() && (0.0..=100.0).contains(&x) => {
                            values.push((m, x / 100.0))
                        }
                        Some(x)
                            if !m.is_accuracy()
                                && x.is_finite()
                                && (x >= 0.0 || matches!(m, Metric::Custom(_))) =>
                        {
                            values.push((m, x))
                        }
                        _ => errors.push(at(
                            v.span(),
                            if m.is_accuracy() {
                                format!(
                                    "`{}` must be a percentage from 0 to 100, not {}",
                                    k.get_ref(),
                                    v.get_ref()
                                )
                            } else {
                                format!(
                                    "`{}` must be a non-negative number, not {}",
                                    k.get_ref(),
                                    v.get_ref()
                                )
                            },
                            Some(if m.is_accuracy() {
                                "accuracies are written in percent, from 0 to 100, e.g. 99.40"
                                    .into()
                            } else {
                                "losses are non-negative numbers, e.g. 0.0345".into()
                            }),
                        )),
                    }
                }
            }
        }
        match label {
            Some(label) => {
                // Two published values of one metric for one configuration: which one is
                // printed would be an accident of order.
                let repeated = values.iter().find(|(m, _)| {
                    reference.iter().any(|r: &Reference| {
                        r.label.label == label.label && r.values.iter().any(|(n, _)| n == m)
                    })
                });
                if let Some((m, _)) = repeated {
                    errors.push(at(
                        label.span.clone(),
                        format!(
                            "`{}` already has a reference value of {}",
                            label.label,
                            m.name()
                        ),
                        Some("keep one of the two [[report.reference]] values".into()),
                    ));
                }
                reference.push(Reference {
                    label,
                    source,
                    values,
                })
            }
            None => errors.push(at(
                span,
                "a [[report.reference]] without a label".into(),
                Some("name the configuration it gives values for: label = \"...\"".into()),
            )),
        }
    }
    ReportSpec {
        compare,
        reference,
        rank_by,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    name: Spanned<String>,
    dataset: Spanned<String>,
    validation: Option<Spanned<toml::Value>>,
    batch_size: Option<Spanned<usize>>,
    epochs: Option<Spanned<usize>>,
    seeds: Option<Spanned<Vec<u64>>>,
    train_subset: Option<Spanned<usize>>,
    test_subset: Option<Spanned<usize>>,
    devices: Option<Spanned<Vec<String>>>,
    max_loss: Option<Spanned<f64>>,
    keep: Option<Spanned<Keep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    description: Option<String>,
    /// Typed by [`crate::spec::params::read`]: a layer may name parameters (`"$width"`).
    layers: Vec<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptimizer {
    kind: Spanned<OptimizerKind>,
    // A number (true / false for nesterov), or `"$name"`: a parameter.
    lr: Option<Spanned<toml::Value>>,
    momentum: Option<Spanned<toml::Value>>,
    nesterov: Option<Spanned<toml::Value>>,
    rho: Option<Spanned<toml::Value>>,
    beta1: Option<Spanned<toml::Value>>,
    beta2: Option<Spanned<toml::Value>>,
    epsilon: Option<Spanned<toml::Value>>,
    weight_decay: Option<Spanned<toml::Value>>,
}

/// A table whose keys and values keep their places in the file: a `[[runs]]` entry, a grid
/// include / exclude entry, the `[grid]` section. Keys are checked against the axis table.
type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The grid's include / exclude lists, each entry with its span (a second, lenient read of the
/// file: everything else in it is ignored here and checked by [`RawManifest`]).
#[derive(Debug, Default, Deserialize)]
struct GridLists {
    #[serde(default)]
    include: Vec<Spanned<RawTable>>,
    #[serde(default)]
    exclude: Vec<Spanned<RawTable>>,
}

#[derive(Debug, Deserialize)]
struct GridListsFile {
    grid: Option<GridLists>,
}

/// A named architecture, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub description: Option<String>,
    pub layers: Vec<Layer>,
    pub infos: Vec<arch::LayerInfo>,
    pub builtin: bool,
    /// Where the manifest declares it (its `[models.<name>]` key); `None` for built-ins.
    pub span: Option<Range<usize>>,
    /// When its layers name parameters: made per configuration (`layers` and `infos` are
    /// then empty).
    pub template: Option<crate::spec::params::Template>,
}

impl Model {
    pub fn params(&self) -> usize {
        arch::total_params(&self.infos)
    }
}

/// The `[sweep]` section, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    pub name: String,
    pub dataset: Dataset,
    pub validation: Validation,
    pub batch_size: usize,
    pub epochs: Option<usize>,
    pub seeds: Vec<u64>,
    pub train_subset: Option<usize>,
    pub test_subset: Option<usize>,
    /// Default devices for `sweep run` (`cpu`, `cuda:N`, `auto`, ...).
    pub(crate) devices: Option<Vec<DeviceName>>,
    /// The divergence bound on the training loss, when set (see [`crate::spec::plan::Run::max_loss`]).
    pub max_loss: Option<f64>,
    /// Which weights finished runs keep.
    pub keep: Keep,
}

/// A parsed and validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The datasets it declares (`[datasets.<name>]`).
    pub datasets: Vec<Declared>,
    /// What the sweep's dataset holds.
    pub data: DataInfo,
    pub path: PathBuf,
    pub source: String,
    pub sweep: SweepSettings,
    /// Built-ins first, then the manifest's own, each in file order.
    pub models: Vec<Model>,
    pub optimizers: BTreeMap<String, OptimizerSpec>,
    /// The parameters optimizers name: optimizer -> its `(field, parameter)` pairs
    /// (`beta2 = "$b2"`); the field keeps its default in [`Manifest::optimizers`].
    pub optimizer_params: BTreeMap<String, Vec<(&'static str, String)>>,
    /// Learning-rate schedules by name; `constant` (none) is built in. A schedule whose fields
    /// name parameters is in [`Manifest::schedule_templates`] instead.
    pub schedules: BTreeMap<String, crate::spec::schedule::Schedule>,
    /// Schedules whose fields name parameters, as written: made per configuration.
    pub schedule_templates: BTreeMap<String, crate::spec::params::Knobs>,
    /// External training programs by name (`[programs.<name>]`).
    pub programs: BTreeMap<String, crate::spec::program::Program>,
    pub grid: Option<Grid>,
    pub runs: Vec<Entry>,
    pub report: ReportSpec,
    /// How the grid's configurations are chosen.
    pub search: grid::Search,
}

impl Manifest {
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Where model `name` is declared, as `file:line:column` (the file alone for a built-in).
    pub fn model_location(&self, name: &str) -> String {
        match self.model(name).and_then(|m| m.span.clone()) {
            Some(span) => Location::from_offset(&self.path, &self.source, span.start).to_string(),
            None => self.path.display().to_string(),
        }
    }

    /// A located error at byte span `span` of this manifest.
    pub fn error_at(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ManifestError {
        ManifestError {
            location: Location::from_offset(&self.path, &self.source, span.start),
            message: message.into(),
            help,
        }
    }
}

/// How a manifest learns what a declared dataset holds: [`crate::data::describe`] reads the
/// files; a test passes its own.
pub(crate) type Resolve<'a> = dyn Fn(&Declared) -> Result<DataInfo> + 'a;

/// Read and validate the manifest at `path`, asking `resolve` what its declared dataset holds.
pub(crate) fn load(path: &Path, resolve: &Resolve) -> Result<Manifest> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(path, &source, &base_of(path, &source), resolve)
}

/// The first line of a manifest's copy beside its results (`results/<sweep>/manifest.toml`) when
/// it declares datasets, naming the original (relative to the copy's folder when it can), whose
/// folder the datasets' relative paths are relative to.
const COPIED_FROM: &str = "# copied by sweep from ";

/// The text of the copy of manifest `m` kept in folder `dir`.
pub(crate) fn copy_text(m: &Manifest, dir: &Path) -> String {
    if m.datasets.is_empty() {
        return m.source.clone();
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let original = absolute(&m.path);
    let named = pathdiff::diff_paths(&original, absolute(dir)).unwrap_or(original);
    format!("{COPIED_FROM}{}\n{}", named.display(), m.source)
}

/// The folder relative dataset paths of the manifest at `path` are relative to: its own, or for
/// a copy, the original's.
fn base_of(path: &Path, source: &str) -> PathBuf {
    let here = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let original = source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(COPIED_FROM))
        .map(|p| here.join(p));
    match original.as_deref().and_then(Path::parent) {
        Some(dir) => dir.to_path_buf(),
        None => here.to_path_buf(),
    }
}

/// Parse and validate manifest text using only built-in datasets; `path` is only used in
/// messages.
pub(crate) fn parse(
    path: &Path,
    source: &str,
) -> std::result::Result<Manifest, Vec<ManifestError>> {
    let none = |d: &Declared| -> Result<DataInfo> {
        Err(Error::Usage(format!(
            "dataset `{}` cannot be read here",
            d.name
        )))
    };
    parse_with(path, source, Path::new("."), &none).map_err(|e| match e {
        Error::Manifest(errors) => errors,
        other => vec![ManifestError {
            location: Location::from_offset(path, source, 0),
            message: other.to_string(),
            help: None,
        }],
    })
}

/// Parse and validate manifest text; relative dataset paths are relative to `base`.
pub(crate) fn parse_with(
    path: &Path,
    source: &str,
    base: &Path,
    resolve: &Resolve,
) -> Result<Manifest> {
    let raw: RawManifest =
        toml::from_str(source).map_err(|e| Error::Manifest(vec![toml_error(path, source, &e)]))?;
    let at = |span: Range<usize>, message: String, help: Option<String>| ManifestError {
        location: Location::from_offset(path, source, span.start),
        message,
        help,
    };
    let (datasets, dataset) = parse_datasets(&raw, base, &at).map_err(Error::Manifest)?;
    let data = match dataset.builtin_info() {
        Some(info) => info,
        None => {
            let declared = datasets
                .iter()
                .find(|d| d.name == dataset.name())
                .expect("the dataset was checked to be declared");
            // A path that is not there is located in the manifest, unless the resolver
            // knows the data without its files (a results copy read by `sweep report`).
            resolve(declared).map_err(|e| {
                missing_path(&raw, declared, &at).map_or(e, |m| Error::Manifest(vec![m]))
            })?
        }
    };
    let mut m = parse_raw(raw, path, source, &data).map_err(Error::Manifest)?;
    let dir = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    for p in m.programs.values_mut() {
        p.dir = dir.clone();
    }
    m.datasets = datasets;
    m.data = data;
    Ok(m)
}

fn parse_raw(
    raw: RawManifest,
    path: &Path,
    source: &str,
    data: &DataInfo,
) -> std::result::Result<Manifest, Vec<ManifestError>> {
    let mut errors = Vec::new();
    let at = |span: Range<usize>, message: String, help: Option<String>| ManifestError {
        location: Location::from_offset(path, source, span.start),
        message,
        help,
    };

    let mut models: Vec<Model> = builtin_models()
        .into_iter()
        .filter(|m| arch::check_layers(&m.name, &m.layers, data.shape, data.classes).is_ok())
        .collect();
    let mut own: Vec<_> = raw.models.iter().collect();
    own.sort_by_key(|(k, _)| k.span().start);
    for (name, model) in own {
        if BUILTIN_NAMES.contains(&name.get_ref().as_str()) {
            errors.push(at(
                name.span(),
                format!("model `{}` is already defined as a built-in", name.get_ref()),
                Some("choose another name; built-ins are simple_nn, enhanced_nn, simple_cnn, enhanced_cnn".into()),
            ));
            continue;
        }
        match validate_model(name.get_ref(), model.get_ref(), data) {
            Ok(mut m) => {
                m.span = Some(name.span());
                models.push(m)
            }
            Err((layer_span, message, help)) => {
                errors.push(at(layer_span.unwrap_or(model.span()), message, Some(help)))
            }
        }
    }

    let mut optimizers = OptimizerSpec::builtins();
    let mut optimizer_params = BTreeMap::new();
    for (name, opt) in &raw.optimizers {
        if optimizers.contains_key(name.get_ref()) {
            errors.push(at(
                name.span(),
                format!(
                    "optimizer `{}` is already defined as a built-in (Keras defaults)",
                    name.get_ref()
                ),
                Some("choose another name, e.g. `my_sgd`; built-ins are sgd, rmsprop, adam".into()),
            ));
            continue;
        }
        match validate_optimizer(opt.get_ref()) {
            Ok((spec, refs)) => {
                optimizers.insert(name.get_ref().clone(), spec);
                if !refs.is_empty() {
                    optimizer_params.insert(name.get_ref().clone(), refs);
                }
            }
            Err((span, message, help)) => errors.push(at(span, message, Some(help))),
        }
    }

    let s = raw.sweep.get_ref();
    let validation = match &s.validation {
        None => Validation::Test,
        Some(v) => match v.get_ref() {
            toml::Value::String(t) if t == "test" => Validation::Test,
            toml::Value::Float(f) if *f > 0.0 && *f < 1.0 => Validation::Holdout(*f),
            other => {
                errors.push(at(
                    v.span(),
                    format!("invalid validation `{other}`"),
                    Some("use \"test\" (validate on the test set, as the paper did) or a fraction of the training set to hold out, e.g. 0.1".into()),
                ));
                Validation::Test
            }
        },
    };
    let positive = |v: &Option<Spanned<usize>>, what: &str, errors: &mut Vec<ManifestError>| {
        if let Some(v) = v
            && *v.get_ref() == 0
        {
            errors.push(at(v.span(), format!("{what} must be at least 1"), None));
        }
    };
    positive(&s.batch_size, "batch_size", &mut errors);
    positive(&s.epochs, "epochs", &mut errors);
    positive(&s.train_subset, "train_subset", &mut errors);
    positive(&s.test_subset, "test_subset", &mut errors);
    // A subset larger than the split would be silently the whole set under another run id.
    for (v, what, most) in [
        (&s.train_subset, "train_subset", data.train),
        (&s.test_subset, "test_subset", data.test),
    ] {
        if let Some(v) = v
            && *v.get_ref() > most
        {
            errors.push(at(
                v.span(),
                format!(
                    "{what} = {} is more than the {most} examples there are",
                    v.get_ref()
                ),
                Some(format!(
                    "use at most {most}, or leave {what} out for all of them"
                )),
            ));
        }
    }
    if let Some(v) = &s.max_loss
        && !(v.get_ref().is_finite() && *v.get_ref() > 0.0)
    {
        errors.push(at(
            v.span(),
            format!("max_loss must be a positive number, not {}", v.get_ref()),
            Some("the default is 10 x ln(classes), 23.03 for MNIST: ten times the loss of a uniform guess".into()),
        ));
    }
    if let Some(d) = &s.devices
        && d.get_ref().is_empty()
    {
        errors.push(at(
            d.span(),
            "devices is empty: no run could be trained".into(),
            Some("name at least one, e.g. devices = [\"cpu\"], or leave it out (cpu)".into()),
        ));
    }
    if let Some(d) = &s.devices {
        for e in d
            .get_ref()
            .iter()
            .filter_map(|n| n.parse::<DeviceName>().err())
        {
            errors.push(at(
                d.span(),
                e,
                Some(format!("devices are named {}", crate::spec::device::SYNTAX)),
            ));
        }
    }
    // The training split after the hold-out: a run with no training images cannot learn, and
    // its mean loss over nothing would be NaN.
    if let Validation::Holdout(f) = validation {
        let n = s
            .train_subset
            .as_ref()
            .map_or(data.train, |v| *v.get_ref())
            .min(data.train);
        if n > 0 && n - holdout_len(n, f) == 0 {
            let span = s.train_subset.as_ref().map_or_else(
                || s.validation.as_ref().expect("holdout is given").span(),
                |t| t.span(),
            );
            errors.push(at(
                span,
                format!("holding out {f} of {n} training images leaves none to train on"),
                Some("use a larger train_subset or a smaller validation fraction".into()),
            ));
        }
    }
    if let Some(seeds) = &s.seeds
        && seeds.get_ref().is_empty()
    {
        errors.push(at(
            seeds.span(),
            "seeds is empty".into(),
            Some("give at least one seed, e.g. seeds = [1]".into()),
        ));
    }
    if s.name.get_ref().is_empty()
        || !s
            .name
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        errors.push(at(
            s.name.span(),
            format!(
                "sweep name `{}` cannot be used as a directory name",
                s.name.get_ref()
            ),
            Some("use letters, digits, '-', '_' or '.'".into()),
        ));
    }
    let sweep = SweepSettings {
        name: s.name.get_ref().clone(),
        dataset: Dataset::from(s.dataset.get_ref().clone()),
        validation,
        batch_size: s.batch_size.as_ref().map_or(32, |b| *b.get_ref()),
        epochs: s.epochs.as_ref().map(|e| *e.get_ref()),
        seeds: s.seeds.as_ref().map_or(vec![1], |v| v.get_ref().clone()),
        train_subset: s.train_subset.as_ref().map(|v| *v.get_ref()),
        test_subset: s.test_subset.as_ref().map(|v| *v.get_ref()),
        devices: s
            .devices
            .as_ref()
            .map(|v| v.get_ref().iter().filter_map(|n| n.parse().ok()).collect()),
        max_loss: s.max_loss.as_ref().map(|v| *v.get_ref()),
        keep: s.keep.as_ref().map_or(Keep::default(), |v| *v.get_ref()),
    };

    let grid = match &raw.grid {
        None => None,
        Some(g) => {
            let lists: GridListsFile =
                toml::from_str(source).map_err(|e| vec![toml_error(path, source, &e)])?;
            let lists = lists.grid.unwrap_or_default();
            Some(parse_grid(g, &lists, &at, &mut errors))
        }
    };
    let runs: Vec<Entry> = raw
        .runs
        .iter()
        .map(|r| parse_entry(r, &at, &mut errors))
        .collect();
    let (schedules, schedule_templates) = parse_schedules(&raw.schedules, &at, &mut errors);
    let programs = parse_programs(&raw.programs, grid.as_ref(), &runs, &at, &mut errors);
    let placeholders: Vec<String> = programs.values().flat_map(|p| p.placeholders()).collect();
    let named: std::collections::BTreeSet<&str> = models
        .iter()
        .filter_map(|m| m.template.as_ref())
        .flat_map(|t| t.params.iter())
        .chain(optimizer_params.values().flatten().map(|(_, p)| p))
        .chain(schedule_templates.values().flat_map(|t| t.params.iter()))
        .chain(placeholders.iter())
        .map(String::as_str)
        .collect();
    check_params(&named, grid.as_ref(), &runs, &at, &mut errors);
    let report = report_spec(raw.report, &programs, &at, &mut errors);
    let mut search = parse_search(
        raw.search.as_ref(),
        grid.as_ref(),
        &programs,
        &at,
        &mut errors,
    );
    if let Some(h) = raw
        .search
        .as_ref()
        .and_then(|s| s.get_ref().halving.as_ref())
    {
        search.halving = parse_halving(
            h,
            raw.sweep.get_ref().epochs.as_ref(),
            grid.as_ref(),
            &programs,
            &at,
            &mut errors,
        );
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let manifest = Manifest {
        datasets: Vec::new(),
        data: data.clone(),
        path: path.to_path_buf(),
        source: source.to_string(),
        sweep,
        models,
        optimizers,
        optimizer_params,
        schedules,
        schedule_templates,
        programs,
        grid,
        search,
        runs,
        report,
    };
    if manifest.grid.is_none() && manifest.runs.is_empty() {
        return Err(vec![manifest.error_at(
            0..0,
            "the manifest declares no runs",
            Some("add a [grid] section or one or more [[runs]] tables".into()),
        )]);
    }
    Ok(manifest)
}

type At<'a> = dyn Fn(Range<usize>, String, Option<String>) -> ManifestError + 'a;

/// `[schedules.<name>]` tables, typed and checked.
fn parse_schedules(
    raw: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> (
    BTreeMap<String, crate::spec::schedule::Schedule>,
    BTreeMap<String, crate::spec::params::Knobs>,
) {
    use crate::spec::schedule::Schedule;
    let mut out = BTreeMap::new();
    let mut templates = BTreeMap::new();
    for (name, value) in raw {
        if name.get_ref() == "constant" {
            errors.push(at(
                name.span(),
                "schedule `constant` is built in (the optimizer's lr throughout)".into(),
                Some("choose another name".into()),
            ));
            continue;
        }
        match crate::spec::params::Knobs::read(value.get_ref()) {
            Ok(Some(t)) => {
                // Typed now with every parameter at 1, so a typo is found even unused.
                if let Err(e) = t.make::<Schedule>(&BTreeMap::new(), true) {
                    errors.push(at(
                        value.span(),
                        format!("schedule `{}`: {e}", name.get_ref()),
                        Some("see the schedule reference in docs/manifest.md".into()),
                    ));
                } else {
                    templates.insert(name.get_ref().clone(), t);
                }
                continue;
            }
            Ok(None) => {}
            Err((message, help)) => {
                errors.push(at(value.span(), message, Some(help)));
                continue;
            }
        }
        match Schedule::deserialize(value.get_ref().clone()) {
            Ok(s) => match s.check() {
                Ok(()) => {
                    out.insert(name.get_ref().clone(), s);
                }
                Err(message) => errors.push(at(value.span(), message, None)),
            },
            Err(e) => errors.push(at(
                value.span(),
                format!("schedule `{}`: {}", name.get_ref(), e.message()),
                Some("kinds: step (boundaries, factors), exponential (decay_steps, decay_rate, staircase), cosine (decay_steps, alpha, warmup_steps, warmup_from); see docs/manifest.md".into()),
            )),
        }
    }
    (out, templates)
}

/// `[programs.<name>]` tables: a command whose placeholders are axes, parameters the grid or
/// the runs set, or the run-time ones; the metrics each epoch reports.
fn parse_programs(
    raw: &BTreeMap<Spanned<String>, Spanned<RawProgram>>,
    grid: Option<&Grid>,
    runs: &[Entry],
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> BTreeMap<String, crate::spec::program::Program> {
    use crate::spec::program::{self, OPTIONAL, Program, REQUIRED, RUNTIME};
    // The parameters something sets: a placeholder may name them.
    let mut given: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut note = |axis: &Axis| {
        if let Axis::Param(p) = axis {
            given.insert(p);
        }
    };
    if let Some(g) = grid {
        g.axis_spans.keys().for_each(&mut note);
        g.include
            .iter()
            .flat_map(|e| e.values.keys())
            .for_each(&mut note);
    }
    runs.iter()
        .flat_map(|e| e.values.keys())
        .for_each(&mut note);
    let mut out = BTreeMap::new();
    // Declared directions of custom metrics, and which program declared each.
    let mut goals: BTreeMap<String, (crate::spec::metric::Goal, &str)> = BTreeMap::new();
    for (name, p) in raw {
        let p = p.get_ref();
        let mut bad = |span: Range<usize>, message: String, help: &str| {
            errors.push(at(
                span,
                format!("program `{}`: {message}", name.get_ref()),
                Some(help.to_string()),
            ))
        };
        if p.command.get_ref().is_empty() {
            bad(
                p.command.span(),
                "an empty command".into(),
                "command = [\"python3\", \"train.py\", \"--lr\", \"{lr}\"]",
            );
            continue;
        }
        let env = p
            .env
            .as_ref()
            .map(|e| e.get_ref().clone())
            .unwrap_or_default();
        let templates = p
            .command
            .get_ref()
            .iter()
            .map(|t| (t, p.command.span()))
            .chain(
                env.values()
                    .map(|t| (t, p.env.as_ref().map_or(0..0, |e| e.span()))),
            );
        let mut ok = true;
        for (t, span) in templates {
            match program::placeholders(t) {
                Err(message) => {
                    bad(
                        span,
                        message,
                        "a placeholder is {name}; {{ and }} are literal braces",
                    );
                    ok = false;
                }
                Ok(names) => {
                    for (n, _) in names {
                        let known = Axis::from_key(&n).is_some()
                            || RUNTIME.contains(&n.as_str())
                            || given.contains(n.as_str());
                        if !known {
                            bad(
                                span.clone(),
                                format!("unknown placeholder {{{n}}}"),
                                &format!(
                                    "placeholders are axes ({}), parameters the grid or the runs set, and {}",
                                    grid::keys(),
                                    RUNTIME.join(", ")
                                ),
                            );
                            ok = false;
                        }
                    }
                }
            }
        }
        let metrics = p.metrics.get_ref().clone();
        for m in &metrics {
            let (metric, goal) = crate::spec::metric::split_goal(m);
            let builtin = REQUIRED.contains(&metric) || OPTIONAL.contains(&metric);
            let declared_before = goal.and_then(|g| {
                goals
                    .insert(metric.to_string(), (g, name.get_ref().as_str()))
                    .filter(|(other, _)| *other != g)
            });
            let problem = if builtin && goal.is_some() {
                Some(format!(
                    "`{metric}` is a built-in metric: its direction is fixed"
                ))
            } else if !builtin && Metric::parse(metric).is_some() {
                Some(format!(
                    "`{metric}` is computed by sweep from the epochs, not reported by a program"
                ))
            } else if builtin {
                None
            } else if let Some((_, by)) = declared_before {
                Some(format!(
                    "`{m}` is declared the other way round by program `{by}`"
                ))
            } else {
                Metric::custom(metric, goal).err()
            };
            if let Some(problem) = problem {
                bad(
                    p.metrics.span(),
                    problem,
                    &format!(
                        "a program reports {}, may report {}, and any metric of its own (a name; `-name` when lower is better, `+name` when higher is, inferred from the name otherwise)",
                        REQUIRED.join(", "),
                        OPTIONAL.join(", ")
                    ),
                );
                ok = false;
            }
        }
        if let Some(missing) = REQUIRED.iter().find(|r| !metrics.iter().any(|m| m == *r)) {
            bad(
                p.metrics.span(),
                format!("metrics must include `{missing}`"),
                &format!("a program reports {} each epoch", REQUIRED.join(", ")),
            );
            ok = false;
        }
        let timeout = match &p.timeout {
            None => None,
            Some(t) => match humantime::parse_duration(t.get_ref()) {
                Ok(d) if d.as_secs() > 0 => Some(d.as_secs()),
                Ok(_) | Err(_) => {
                    bad(
                        t.span(),
                        format!("timeout `{}` is not a duration", t.get_ref()),
                        "e.g. \"90s\", \"30m\", \"2h\"",
                    );
                    ok = false;
                    None
                }
            },
        };
        let memory = match &p.memory {
            None => None,
            Some(m) => match m.get_ref().parse::<bytesize::ByteSize>() {
                Ok(b) if b.as_u64() > 0 => Some(b.as_u64()),
                Ok(_) | Err(_) => {
                    bad(
                        m.span(),
                        format!("memory `{}` is not a size", m.get_ref()),
                        "e.g. \"2GiB\" or \"500MB\"",
                    );
                    ok = false;
                    None
                }
            },
        };
        if ok {
            out.insert(
                name.get_ref().clone(),
                Program {
                    name: name.get_ref().clone(),
                    command: p.command.get_ref().clone(),
                    env,
                    metrics,
                    timeout,
                    memory,
                    dir: PathBuf::new(),
                },
            );
        }
    }
    out
}

/// Names of the built-in models, which a manifest cannot redefine.
const BUILTIN_NAMES: [&str; 4] = ["simple_nn", "enhanced_nn", "simple_cnn", "enhanced_cnn"];

/// The `[datasets.*]` declarations, and the sweep's dataset (checked to be built in or declared).
fn parse_datasets(
    raw: &RawManifest,
    base: &Path,
    at: &At,
) -> std::result::Result<(Vec<Declared>, Dataset), Vec<ManifestError>> {
    let mut errors = Vec::new();
    let mut declared = Vec::new();
    for (name, d) in &raw.datasets {
        if Dataset::builtin(name.get_ref()).is_some() {
            errors.push(at(
                name.span(),
                format!("dataset `{}` is built in", name.get_ref()),
                Some("choose another name for your own files, e.g. `my-mnist`".into()),
            ));
            continue;
        }
        if let Some(d) = parse_dataset(name.get_ref(), d.get_ref(), base, at, &mut errors) {
            declared.push(d);
        }
    }
    let wanted = &raw.sweep.get_ref().dataset;
    let dataset = Dataset::from(wanted.get_ref().clone());
    if !dataset.is_builtin() && !declared.iter().any(|d| d.name == dataset.name()) {
        let mut known: Vec<&str> = Dataset::BUILTIN.iter().map(|d| d.name()).collect();
        known.extend(raw.datasets.keys().map(|k| k.get_ref().as_str()));
        errors.push(at(
            wanted.span(),
            format!("unknown dataset `{}`", wanted.get_ref()),
            Some(format!(
                "use one of: {}; or declare your own under [datasets.{}] with train = \"...\" and test = \"...\" (see docs/data.md)",
                known.join(", "),
                wanted.get_ref()
            )),
        ));
    }
    if errors.is_empty() {
        Ok((declared, dataset))
    } else {
        Err(errors)
    }
}

/// One `[datasets.<name>]` table; `None` (with errors pushed) when it is wrong.
fn parse_dataset(
    name: &str,
    raw: &RawDataset,
    base: &Path,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> Option<Declared> {
    let before = errors.len();
    let train = parse_source(&raw.train, base, at, errors);
    let test = parse_source(&raw.test, base, at, errors);
    let format = raw.format.as_ref().and_then(|f| {
        let found = Format::ALL.into_iter().find(|k| k.name() == f.get_ref());
        if found.is_none() {
            let names: Vec<&str> = Format::ALL.iter().map(|k| k.name()).collect();
            errors.push(at(
                f.span(),
                format!("unknown format `{}`", f.get_ref()),
                Some(format!(
                    "use one of: {} (or leave format out to detect it)",
                    names.join(", ")
                )),
            ));
        }
        found
    });
    if let Some(v) = &raw.scale
        && !(v.get_ref().is_finite() && *v.get_ref() > 0.0)
    {
        errors.push(at(
            v.span(),
            format!("scale must be a positive number, not {}", v.get_ref()),
            Some("e.g. scale = 0.00392156862745098 (1/255); leave it out for the default: uint8 values / 255, float values as they are".into()),
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(Declared {
        name: name.to_string(),
        train: train?,
        test: test?,
        format,
        label: raw.label.as_ref().map(|l| l.get_ref().clone()),
        preprocess: Preprocess {
            scale: raw.scale.as_ref().map(|v| *v.get_ref()),
            standardize: raw.standardize.unwrap_or(false),
        },
    })
}

/// `train` / `test`: a path, or a pair `[images, labels]`, relative to `base`.
fn parse_source(
    v: &Spanned<toml::Value>,
    base: &Path,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> Option<Source> {
    let path = |s: &str| base.join(s);
    match v.get_ref() {
        toml::Value::String(p) if !p.is_empty() => Some(Source::One(path(p))),
        toml::Value::Array(a) => match a.as_slice() {
            [toml::Value::String(x), toml::Value::String(y)] => {
                Some(Source::Pair(path(x), path(y)))
            }
            _ => {
                errors.push(at(
                    v.span(),
                    "a pair of files must be two paths: [images, labels]".into(),
                    Some("e.g. train = [\"train-x.npy\", \"train-y.npy\"]".into()),
                ));
                None
            }
        },
        other => {
            errors.push(at(
                v.span(),
                format!("expected a path or a pair [images, labels], found `{other}`"),
                Some("e.g. train = \"data/train.csv\", or train = [\"train-x.npy\", \"train-y.npy\"]".into()),
            ));
            None
        }
    }
}

/// A declared dataset's path that does not exist, as an error at its `train` or `test` value.
fn missing_path(raw: &RawManifest, d: &Declared, at: &At) -> Option<ManifestError> {
    let table = raw.datasets.iter().find(|(k, _)| *k.get_ref() == d.name)?.1;
    [
        (&d.train, &table.get_ref().train),
        (&d.test, &table.get_ref().test),
    ]
    .into_iter()
    .find_map(|(source, value)| {
        let missing = source.paths().into_iter().find(|p| !p.exists())?;
        Some(at(
            value.span(),
            format!("no such file or folder: {}", missing.display()),
            Some("paths are relative to the manifest's folder".into()),
        ))
    })
}

/// An unknown key in a run, include / exclude entry or the grid: the keys it takes instead.
fn unknown_key(at: &At, key: &Spanned<String>, extra: &str) -> ManifestError {
    at(
        key.span(),
        format!(
            "unknown field `{}`, expected one of {extra}{}, or a parameter a model names",
            key.get_ref(),
            grid::keys()
        ),
        Some("remove or rename the key; the accepted keys are listed above".into()),
    )
}

/// The axis a key of the grid, an include / exclude entry or a run names: a built-in axis, or
/// a parameter (checked against the models' parameters by [`check_params`]).
fn axis_or_param(key: &str) -> Option<Axis> {
    Axis::from_key(key).or_else(|| Axis::is_param_name(key).then(|| Axis::param(key)))
}

/// Every parameter the grid, its entries or the runs set must be named by some model (a typo
/// of an axis would otherwise be a silent new parameter).
fn check_params(
    named: &std::collections::BTreeSet<&str>,
    grid: Option<&Grid>,
    runs: &[Entry],
    at: &At,
    errors: &mut Vec<ManifestError>,
) {
    let mut set: Vec<(Axis, Range<usize>)> = Vec::new();
    if let Some(g) = grid {
        set.extend(g.axis_spans.iter().map(|(a, s)| (*a, s.clone())));
        for e in g.include.iter().chain(&g.exclude) {
            set.extend(e.value_spans.iter().map(|(a, s)| (*a, s.clone())));
        }
    }
    for e in runs {
        set.extend(e.value_spans.iter().map(|(a, s)| (*a, s.clone())));
    }
    for (axis, span) in set {
        if let Axis::Param(name) = axis
            && !named.contains(name)
        {
            errors.push(at(
                span,
                format!(
                    "`{name}` is neither an axis nor a parameter any model, optimizer or schedule names (\"${name}\")"
                ),
                Some(format!(
                    "axes: {}; a model names a parameter in a layer field, e.g. units = \"${name}\" (an optimizer or a schedule in one of its fields)",
                    grid::keys()
                )),
            ));
        }
    }
}

/// A `[[runs]]` entry or an include / exclude entry: `label` and axis values, typed by the
/// axis table.
fn parse_entry(raw: &Spanned<RawTable>, at: &At, errors: &mut Vec<ManifestError>) -> Entry {
    let mut entry = Entry {
        span: raw.span(),
        ..Entry::default()
    };
    for (key, value) in raw.get_ref() {
        if key.get_ref() == "label" {
            match value.get_ref() {
                toml::Value::String(s) => entry.label = Some(s.clone()),
                other => errors.push(at(
                    value.span(),
                    format!(
                        "invalid type: {} `{other}`, expected a quoted label",
                        other.type_str()
                    ),
                    Some("check the value's type (quoted string, integer, float, array)".into()),
                )),
            }
            continue;
        }
        let Some(axis) = axis_or_param(key.get_ref()) else {
            errors.push(unknown_key(at, key, "label, "));
            continue;
        };
        match Value::parse(axis.def().kind, value.get_ref()) {
            Ok(v) => {
                entry.values.insert(axis, v);
                entry.value_spans.insert(axis, value.span());
            }
            Err(message) => errors.push(at(value.span(), message, None)),
        }
    }
    entry
}

/// The `[grid]` section: each axis an array of values of its type, not empty.
fn parse_grid(
    raw: &Spanned<RawTable>,
    lists: &GridLists,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> Grid {
    let mut grid = Grid {
        span: raw.span(),
        include: lists
            .include
            .iter()
            .map(|e| parse_entry(e, at, errors))
            .collect(),
        exclude: lists
            .exclude
            .iter()
            .map(|e| parse_entry(e, at, errors))
            .collect(),
        ..Grid::default()
    };
    for (key, value) in raw.get_ref() {
        if matches!(key.get_ref().as_str(), "include" | "exclude") {
            continue;
        }
        let Some(axis) = axis_or_param(key.get_ref()) else {
            errors.push(unknown_key(at, key, "include, exclude, "));
            continue;
        };
        if let toml::Value::Table(t) = value.get_ref() {
            if let Some(d) = parse_dist(axis, key.get_ref(), t, value.span(), at, errors) {
                grid.dists.insert(axis, d);
                grid.axis_spans.insert(axis, value.span());
            }
            continue;
        }
        let toml::Value::Array(items) = value.get_ref() else {
            errors.push(at(
                value.span(),
                format!("grid axis `{}` must be an array of values", key.get_ref()),
                Some(format!(
                    "write {} = [ ... ], or a distribution for a sampled search, e.g. {} = {{ {} }}",
                    key.get_ref(),
                    key.get_ref(),
                    match axis.def().kind {
                        grid::Kind::Float | grid::Kind::Number => "log_uniform = [1e-4, 1e-1]",
                        grid::Kind::Int => "int_uniform = [1, 10]",
                        grid::Kind::Name => "choice = [\"a\", \"b\"]",
                        grid::Kind::Bool => "choice = [true, false]",
                    }
                )),
            ));
            continue;
        };
        if items.is_empty() {
            errors.push(at(
                value.span(),
                format!(
                    "grid axis `{}` is empty, so the grid expands to nothing",
                    key.get_ref()
                ),
                Some(format!(
                    "give `{}` at least one value, or remove it",
                    key.get_ref()
                )),
            ));
        }
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            match Value::parse(axis.def().kind, item) {
                Ok(v) => values.push(v),
                Err(message) => errors.push(at(value.span(), message, None)),
            }
        }
        grid.axes.insert(axis, values);
        grid.axis_spans.insert(axis, value.span());
    }
    grid
}

/// A grid axis written as a distribution: one key of [`grid::Dist::KEYS`] with its bounds or
/// values, checked against the axis's type.
fn parse_dist(
    axis: Axis,
    key: &str,
    table: &toml::map::Map<String, toml::Value>,
    span: Range<usize>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> Option<grid::Dist> {
    use grid::{Dist, Kind};
    let kind = axis.def().kind;
    let mut err = |message: String, help: Option<String>| {
        errors.push(at(span.clone(), message, help));
        None
    };
    let (name, arg) = match table.iter().collect::<Vec<_>>().as_slice() {
        [(n, a)] => (n.as_str(), *a),
        _ => {
            return err(
                format!("`{key}` must be a list, or a table with one distribution"),
                Some(format!(
                    "one of {}, e.g. {key} = {{ log_uniform = [1e-4, 1e-1] }}",
                    Dist::KEYS
                )),
            );
        }
    };
    let bounds = |a: &toml::Value| -> Option<(toml::Value, toml::Value)> {
        match a.as_array().map(|v| v.as_slice()) {
            Some([lo, hi]) => Some((lo.clone(), hi.clone())),
            _ => None,
        }
    };
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match (name, kind) {
        ("choice", _) => {
            let Some(items) = arg.as_array().filter(|a| !a.is_empty()) else {
                return err(
                    format!("`{key}`: choice needs a non-empty list of values"),
                    None,
                );
            };
            let mut values = Vec::new();
            for item in items {
                match Value::parse(kind, item) {
                    Ok(v) => values.push(v),
                    Err(message) => return err(format!("`{key}`: {message}"), None),
                }
            }
            Some(Dist::Choice(values))
        }
        ("uniform" | "log_uniform" | "int_uniform", Kind::Name | Kind::Bool) => err(
            format!("`{key}` names things: it cannot take a {name} distribution"),
            Some(format!(
                "list the names, e.g. {key} = [\"a\", \"b\"], or {key} = {{ choice = [...] }}"
            )),
        ),
        ("uniform" | "log_uniform", Kind::Int) => err(
            format!("`{key}` takes whole numbers: {name} draws reals"),
            Some(format!("use {key} = {{ int_uniform = [low, high] }}")),
        ),
        ("int_uniform", Kind::Float) => err(
            format!("`{key}` takes real numbers: int_uniform draws whole numbers"),
            Some(format!(
                "use {key} = {{ uniform = [low, high] }} or log_uniform"
            )),
        ),
        ("uniform" | "log_uniform", Kind::Float | Kind::Number) => {
            let Some((lo, hi)) = bounds(arg).and_then(|(a, b)| Some((num(&a)?, num(&b)?))) else {
                return err(
                    format!("`{key}`: {name} takes two numbers, [low, high]"),
                    None,
                );
            };
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return err(
                    format!("`{key}`: the bounds [{lo}, {hi}] are out of order"),
                    Some("write [low, high] with low < high".into()),
                );
            }
            if name == "log_uniform" {
                if lo <= 0.0 {
                    return err(
                        format!("`{key}`: log_uniform needs positive bounds, not [{lo}, {hi}]"),
                        Some("e.g. [1e-4, 1e-1]; use uniform for a range that reaches 0".into()),
                    );
                }
                return Some(Dist::LogUniform(lo, hi));
            }
            Some(Dist::Uniform(lo, hi))
        }
        ("int_uniform", Kind::Int | Kind::Number) => {
            let Some((lo, hi)) =
                bounds(arg).and_then(|(a, b)| Some((a.as_integer()?, b.as_integer()?)))
            else {
                return err(
                    format!("`{key}`: int_uniform takes two whole numbers, [low, high]"),
                    None,
                );
            };
            if lo < 0 || lo > hi {
                return err(
                    format!("`{key}`: the bounds [{lo}, {hi}] are out of order or negative"),
                    Some("write [low, high] with 0 <= low <= high (both included)".into()),
                );
            }
            Some(Dist::IntUniform(lo as u64, hi as u64))
        }
        (other, _) => err(
            format!("unknown distribution `{other}` for `{key}`"),
            Some(format!("accepted: {}", Dist::KEYS)),
        ),
    }
}

/// The most configurations a random search draws: ten million runs would take years to train,
/// and planning them holds every run in memory.
const MAX_RANDOM_SAMPLES: usize = 10_000_000;

/// The `[search]` section, checked against the grid it samples.
fn parse_search(
    raw: Option<&Spanned<RawSearch>>,
    grid: Option<&Grid>,
    programs: &BTreeMap<String, crate::spec::program::Program>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> grid::Search {
    use grid::{Method, Search};
    let mut search = Search::default();
    if let Some(raw) = raw {
        let r = raw.get_ref();
        search.method = match r.method.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("grid", _)) => Method::Grid,
            Some(("random", _)) => Method::Random,
            Some(("sobol", _)) => Method::Sobol,
            Some(("tpe", _)) => Method::Tpe,
            Some((other, span)) => {
                errors.push(at(
                    span,
                    format!("unknown search method `{other}`"),
                    Some("accepted: grid (every combination), random, sobol (quasi-random), tpe (learns from the batches before)".into()),
                ));
                Method::Grid
            }
        };
        search.seed = r.seed.as_ref().map_or(0, |s| *s.get_ref());
        parse_tpe(r, &mut search, programs, at, errors);
        match (&r.samples, search.method) {
            (None, Method::Random | Method::Sobol | Method::Tpe) => errors.push(at(
                raw.span(),
                "a sampled search needs `samples`, the number of configurations to draw".into(),
                Some("e.g. samples = 20".into()),
            )),
            (Some(n), _) if *n.get_ref() == 0 => {
                errors.push(at(n.span(), "samples must be at least 1".into(), None))
            }
            (Some(n), Method::Sobol | Method::Tpe) if *n.get_ref() > 1 << 16 => errors.push(at(
                n.span(),
                format!(
                    "a Sobol search draws at most 65,536 samples, not {}",
                    n.get_ref()
                ),
                Some("use method = \"random\" for more".into()),
            )),
            (Some(n), Method::Random) if *n.get_ref() > MAX_RANDOM_SAMPLES => errors.push(at(
                n.span(),
                format!(
                    "a random search draws at most {} samples, not {}",
                    crate::fmt::thousands(MAX_RANDOM_SAMPLES as u64),
                    crate::fmt::thousands(*n.get_ref() as u64)
                ),
                Some("a sweep of more runs than that could not be trained; sample fewer".into()),
            )),
            (Some(n), Method::Grid) => errors.push(at(
                n.span(),
                "samples is for method = \"random\", \"sobol\" or \"tpe\"; a grid takes every combination"
                    .into(),
                None,
            )),
            (Some(n), _) => search.samples = *n.get_ref(),
            (None, Method::Grid) => {}
        }
        if search.method != Method::Grid && grid.is_none() {
            errors.push(at(
                raw.span(),
                "a sampled search draws from the [grid] section, and there is none".into(),
                Some("declare the axes to sample in [grid], e.g. lr = { log_uniform = [1e-4, 1e-1] }".into()),
            ));
        }
    }
    if search.method == Method::Grid
        && let Some(g) = grid
    {
        for axis in g.dists.keys() {
            errors.push(at(
                g.axis_spans[axis].clone(),
                format!("`{}` is a distribution, but the search is a grid", axis.key()),
                Some("add [search] with method = \"random\" or \"sobol\" and samples = N, or list the values".into()),
            ));
        }
    }
    search
}

/// `[search]`'s TPE settings: `batch` (required), `startup` (default `batch`), both at most
/// `samples`, and the `metric` (default `val_accuracy`; not a test metric). Each an error
/// for another method.
fn parse_tpe(
    r: &RawSearch,
    search: &mut grid::Search,
    programs: &BTreeMap<String, crate::spec::program::Program>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) {
    use crate::spec::metric::{MeasuredOn, Metric};
    if search.method != grid::Method::Tpe {
        for (key, span) in [
            ("batch", r.batch.as_ref().map(Spanned::span)),
            ("startup", r.startup.as_ref().map(Spanned::span)),
            ("metric", r.metric.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                errors.push(at(
                    span,
                    format!("`{key}` is for method = \"tpe\", a search that learns from batches"),
                    Some("remove it, or set method = \"tpe\"".into()),
                ));
            }
        }
        return;
    }
    let samples = r.samples.as_ref().map(|s| *s.get_ref());
    let positive = |v: &Option<Spanned<usize>>,
                    key: &str,
                    errors: &mut Vec<ManifestError>|
     -> Option<usize> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if n == 0 {
            errors.push(at(v.span(), format!("{key} must be at least 1"), None));
        } else if let Some(s) = samples.filter(|s| n > *s) {
            errors.push(at(
                v.span(),
                format!("{key} = {n} is larger than samples = {s}, the configurations the whole search tries"),
                Some(format!("use {key} = {s} or less, or more samples")),
            ));
        }
        Some(n)
    };
    match positive(&r.batch, "batch", errors) {
        Some(b) => search.batch = b,
        None => errors.push(at(
            r.method.as_ref().map_or(0..0, Spanned::span),
            "a TPE search needs `batch`, the configurations it proposes at once".into(),
            Some("e.g. batch = 4 (as many as train in parallel is a good choice)".into()),
        )),
    }
    search.startup = positive(&r.startup, "startup", errors).unwrap_or(search.batch);
    search.metric = match &r.metric {
        None => Metric::ValAccuracy,
        Some(m) => match named_metric(m.get_ref(), programs) {
            Some(x) if x.measured_on() != Some(MeasuredOn::Test) && x != Metric::TestLoss => x,
            found => {
                errors.push(at(
                    m.span(),
                    match found {
                        Some(x) => format!("TPE cannot learn from `{}`: that would select configurations on the test set", x.name()),
                        None => format!("unknown metric `{}`", m.get_ref()),
                    },
                    Some(format!("accepted: {}", metric_names(programs))),
                ));
                Metric::ValAccuracy
            }
        },
    };
    if let Some(h) = &r.halving {
        errors.push(at(
            h.span(),
            "successive halving inside a TPE search is not supported yet".into(),
            Some(
                "use method = \"sobol\" or \"random\" with [search.halving], or TPE without it"
                    .into(),
            ),
        ));
    }
}

/// `[search.halving]`: the metric (a validation or training one: pruning on the test set
/// would select on it), rungs that increase from 1 or more, and a kept fraction in (0, 1). The
/// last rung is every run's epochs, so `[sweep] epochs`, when given, must be it, and epochs
/// cannot be a grid axis.
fn parse_halving(
    raw: &Spanned<RawHalving>,
    sweep_epochs: Option<&Spanned<usize>>,
    grid: Option<&Grid>,
    programs: &BTreeMap<String, crate::spec::program::Program>,
    at: &At,
    errors: &mut Vec<ManifestError>,
) -> Option<grid::Halving> {
    use crate::spec::metric::{MeasuredOn, Metric};
    let r = raw.get_ref();
    let before = errors.len();
    let metric = match &r.metric {
        None => Metric::ValAccuracy,
        Some(m) => match named_metric(m.get_ref(), programs) {
            Some(x) if x.measured_on() == Some(MeasuredOn::Test) || x == Metric::TestLoss => {
                errors.push(at(
                    m.span(),
                    format!("halving cannot decide on `{}`: that would select configurations on the test set", x.name()),
                    Some("use val_accuracy, val_loss or best_val_accuracy (validate on a held-out fraction: [sweep] validation = 0.1)".into()),
                ));
                x
            }
            Some(x) => x,
            None => {
                errors.push(at(
                    m.span(),
                    format!("unknown metric `{}`", m.get_ref()),
                    Some(format!(
                        "accepted: {}",
                        Metric::ALL
                            .iter()
                            .filter(|x| x.measured_on() != Some(MeasuredOn::Test)
                                && **x != Metric::TestLoss)
                            .map(|x| x.name())
                            .chain(
                                programs
                                    .values()
                                    .flat_map(|p| p.custom_metrics())
                                    .map(|(n, _)| n)
                            )
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ));
                Metric::ValAccuracy
            }
        },
    };
    let mut rungs = Vec::new();
    match &r.rungs {
        None => errors.push(at(
            raw.span(),
            "successive halving needs `rungs`, the epochs at which configurations are cut".into(),
            Some("e.g. rungs = [1, 3, 9]: all train 1 epoch, the best go on to 3, the best of those to 9".into()),
        )),
        Some(list) if list.get_ref().len() < 2 => errors.push(at(
            list.span(),
            "successive halving needs at least two rungs".into(),
            Some("e.g. rungs = [1, 3]: all train 1 epoch, the best go on to 3".into()),
        )),
        Some(list) => {
            let mut prev = 0i64;
            for v in list.get_ref() {
                let x = *v.get_ref();
                if x <= prev {
                    errors.push(at(
                        v.span(),
                        if x < 1 {
                            format!("a rung is an epoch, at least 1, not {x}")
                        } else {
                            format!("rungs must increase: {x} comes after {prev}")
                        },
                        Some("write the epochs in increasing order, e.g. rungs = [1, 3, 9]".into()),
                    ));
                    break;
                }
                prev = x;
                rungs.push(x as usize);
            }
        }
    }
    let keep_fraction = match &r.keep_fraction {
        None => 0.5,
        Some(f) => {
            let x = *f.get_ref();
            if !(x > 0.0 && x < 1.0) {
                errors.push(at(
                    f.span(),
                    format!("keep_fraction must be between 0 and 1 (both excluded), not {x}"),
                    Some("e.g. keep_fraction = 0.5 keeps the better half at each rung".into()),
                ));
            }
            x
        }
    };
    if let (Some(last), Some(e)) = (rungs.last(), sweep_epochs)
        && *e.get_ref() != *last
    {
        errors.push(at(
            e.span(),
            format!(
                "with successive halving every run trains to the last rung ({last}), but epochs = {}",
                e.get_ref()
            ),
            Some(format!("remove epochs from [sweep], or set it to {last}")),
        ));
    }
    if let Some(g) = grid
        && let Some(span) = g.axis_spans.get(&grid::Axis::Epochs)
    {
        errors.push(at(
            span.clone(),
            "epochs cannot be a grid axis with successive halving: the rungs set the epochs".into(),
            Some("remove epochs from [grid]; the last rung is every run's epochs".into()),
        ));
    }
    (errors.len() == before).then_some(grid::Halving {
        metric,
        rungs,
        keep_fraction,
    })
}

/// The built-in models, parsed from the embedded TOML.
pub(crate) fn builtin_models() -> Vec<Model> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        models: BTreeMap<Spanned<String>, Spanned<RawModel>>,
    }
    let file: File = toml::from_str(BUILTIN_MODELS).expect("built-in models parse");
    let mut entries: Vec<_> = file.models.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
        .into_iter()
        .map(|(name, model)| {
            let mnist = Dataset::Mnist.builtin_info().expect("built-in");
            let mut m =
                validate_model(name.get_ref(), model.get_ref(), &mnist).unwrap_or_else(|e| {
                    panic!("built-in model {} is invalid: {}", name.get_ref(), e.1)
                });
            m.builtin = true;
            m
        })
        .collect()
}

type SpannedProblem = (Option<Range<usize>>, String, String);

fn validate_model(
    name: &str,
    raw: &RawModel,
    data: &DataInfo,
) -> std::result::Result<Model, SpannedProblem> {
    let model = |layers, infos, template| Model {
        name: name.to_string(),
        description: raw.description.clone(),
        layers,
        infos,
        builtin: false,
        span: None,
        template,
    };
    let layers = match crate::spec::params::read(name, &raw.layers)? {
        Ok(layers) => layers,
        Err(template) => return Ok(model(Vec::new(), Vec::new(), Some(template))),
    };
    let span_of = |i: usize| raw.layers.get(i).map(|l| l.span());
    let infos = arch::check_layers(name, &layers, data.shape, data.classes)
        .map_err(|(layer, message, help)| (layer.and_then(span_of), message, help))?;
    Ok(model(layers, infos, None))
}

/// An optimizer's declared fields: its spec (a field that names a parameter keeps its Keras
/// default until a configuration sets the parameter) and the `(field, parameter)` pairs.
type DeclaredOptimizer = (OptimizerSpec, Vec<(&'static str, String)>);

fn validate_optimizer(
    raw: &RawOptimizer,
) -> std::result::Result<DeclaredOptimizer, (Range<usize>, String, String)> {
    let kind = *raw.kind.get_ref();
    let allowed = kind.parameters();
    let given: [(&'static str, &Option<Spanned<toml::Value>>); 8] = [
        ("weight_decay", &raw.weight_decay),
        ("lr", &raw.lr),
        ("momentum", &raw.momentum),
        ("nesterov", &raw.nesterov),
        ("rho", &raw.rho),
        ("beta1", &raw.beta1),
        ("beta2", &raw.beta2),
        ("epsilon", &raw.epsilon),
    ];
    let help = || "see the optimizer reference in docs/manifest.md".to_string();
    let mut spec = OptimizerSpec::keras_default(kind);
    let mut refs = Vec::new();
    for (param, v) in given {
        let Some(v) = v else { continue };
        if !allowed.contains(&param) {
            return Err((
                v.span(),
                format!("`{param}` is not a parameter of {}", kind.name()),
                format!("{} takes: {}", kind.name(), allowed.join(", ")),
            ));
        }
        if let Some(name) = v.get_ref().as_str().and_then(|s| s.strip_prefix('$')) {
            if !crate::spec::params::can_name(name) {
                return Err((
                    v.span(),
                    format!("`${name}` cannot name a parameter"),
                    "a parameter's name is letters, digits and _, not starting with a digit, and not an axis (lr, epochs, ...)".into(),
                ));
            }
            refs.push((param, name.to_string()));
            continue;
        }
        let kind_of = if param == "nesterov" {
            grid::Kind::Bool
        } else {
            grid::Kind::Float
        };
        let value = match grid::Value::parse(kind_of, v.get_ref()) {
            Ok(grid::Value::Bool(b)) => Param::Bool(b),
            Ok(other) => Param::Float(other.as_float().unwrap_or_default()),
            Err(e) => return Err((v.span(), format!("{param}: {e}"), help())),
        };
        spec.set(param, value).map_err(|e| (v.span(), e, help()))?;
    }
    spec.check().map_err(|(param, msg)| {
        let span = given
            .iter()
            .find(|(p, _)| *p == param)
            .and_then(|(_, v)| v.as_ref().map(|v| v.span()))
            .unwrap_or(raw.kind.span());
        (span, msg, help())
    })?;
    Ok((spec, refs))
}

/// Turn a TOML/serde error into a located manifest error with a hint.
fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> ManifestError {
    let offset = e.span().map_or(0, |s| s.start);
    let message = e.message().trim().to_string();
    let help = if message.contains("unknown field") {
        Some("remove or rename the key; the accepted keys are listed above".into())
    } else if message.contains("unknown variant") {
        Some("use one of the values listed above".into())
    } else if message.contains("missing field") {
        Some("add the missing key".into())
    } else if message.contains("invalid type") {
        Some("check the value's type (quoted string, integer, float, array)".into())
    } else if message.contains("duplicate key") {
        Some("each name may be defined once".into())
    } else {
        None
    };
    ManifestError {
        location: Location::from_offset(path, source, offset),
        message,
        help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> std::result::Result<Manifest, Vec<ManifestError>> {
        parse(Path::new("m.toml"), s)
    }

    const HEAD: &str = "[sweep]\nname = \"t\"\ndataset = \"mnist\"\n";

    #[test]
    fn builtin_totals_match_the_paper() {
        let totals: Vec<_> = builtin_models()
            .iter()
            .map(|m| (m.name.clone(), m.params()))
            .collect();
        assert_eq!(
            totals,
            vec![
                ("simple_nn".to_string(), 25_450),
                ("enhanced_nn".to_string(), 109_386),
                ("simple_cnn".to_string(), 90_678),
                ("enhanced_cnn".to_string(), 475_434),
            ]
        );
    }

    #[test]
    fn unknown_key_is_located() {
        let src = format!(
            "{HEAD}bacth_size = 3\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert_eq!((e.location.line, e.location.column), (4, 1), "{e}");
        assert!(e.message.contains("bacth_size"), "{e}");
        assert!(e.message.contains("batch_size"), "lists accepted keys: {e}");
    }

    #[test]
    fn momentum_on_adam_is_refused() {
        let src = format!(
            "{HEAD}[optimizers.a]\nkind = \"adam\"\nmomentum = 0.9\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"a\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert_eq!(e.location.line, 6, "{e}");
        assert!(e.message.contains("not a parameter of adam"), "{e}");
    }

    #[test]
    fn dense_without_flatten_points_at_the_layer() {
        let src = format!(
            "{HEAD}[models.m]\nlayers = [\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n[[runs]]\nmodel = \"m\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert_eq!((e.location.line, e.location.column), (6, 3), "{e}");
        assert!(e.help.as_deref().unwrap().contains("flatten"), "{e}");
    }

    #[test]
    fn unknown_layer_type_lists_the_accepted_ones() {
        let src = format!(
            "{HEAD}[models.m]\nlayers = [{{ type = \"conv3d\" }}]\n[[runs]]\nmodel = \"m\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert_eq!(e.location.line, 5, "{e}");
        assert!(
            e.message.contains("conv3d") && e.message.contains("max_pool"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_is_located() {
        let src = format!(
            "{HEAD}batch_size = \"32\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert_eq!(e.location.line, 4, "{e}");
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn builtin_name_cannot_be_redefined() {
        let src = format!(
            "{HEAD}[models.simple_nn]\nlayers = [{{ type = \"flatten\" }}, {{ type = \"dense\", units = 10, activation = \"softmax\" }}]\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        let e = &parse_str(&src).unwrap_err()[0];
        assert!(e.message.contains("already defined"), "{e}");
    }

    #[test]
    fn validation_accepts_test_or_fraction() {
        let ok = format!(
            "{HEAD}validation = 0.1\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        assert_eq!(
            parse_str(&ok).unwrap().sweep.validation,
            Validation::Holdout(0.1)
        );
        let bad = format!(
            "{HEAD}validation = \"train\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n"
        );
        assert!(
            parse_str(&bad).unwrap_err()[0]
                .message
                .contains("invalid validation")
        );
    }
}
