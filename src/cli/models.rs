//! `sweep eval` and `sweep export`: the trained weights runs keep, evaluated and taken away.

use super::*;
use crate::results::store::{self, Loaded};
use crate::results::weights::{self, Which};
use crate::spec::metric::Metric;
use crate::spec::plan::DataSpec;
use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A run directory (results/<sweep>/runs/<id>) or a weights file (.safetensors).
    path: PathBuf,
    /// Which of a run's weights: best (its best validation epoch's) or final (its last epoch's).
    #[arg(long, value_enum, default_value = "best")]
    weights: Which,
    /// The images: test (the dataset's test split) or val (the run's own validation images,
    /// for a run directory).
    #[arg(long, value_enum, default_value = "test")]
    split: EvalSplit,
    /// The dataset whose test split to use (default: the one the weights were trained on).
    #[arg(long)]
    dataset: Option<String>,
    /// Only the first N images of the split (default: the run's own test subset, else all).
    #[arg(long, value_parser = positive_count)]
    subset: Option<usize>,
    /// Output format (default: table on a terminal, markdown otherwise).
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Directory holding one folder per dataset (as for `sweep run`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Never download a missing dataset.
    #[arg(long, env = "SWEEP_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,
    /// The device to evaluate on, named as for `sweep run --devices` (cpu, wgpu, vulkan:N, cuda:N, ...).
    #[arg(long, default_value = "cpu")]
    device: DeviceName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum EvalSplit {
    Test,
    Val,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A results/<sweep> directory, or the sweep's manifest.
    #[arg(value_name = "SWEEP")]
    sweep: PathBuf,
    /// The run of the configuration the ranking puts first by --metric (its best seed).
    #[arg(long, required_unless_present = "run", conflicts_with = "run")]
    best: bool,
    /// A run id (or a unique prefix of one) instead.
    #[arg(long)]
    run: Option<String>,
    /// The metric --best ranks by. Built-in: train_accuracy, train_loss, val_accuracy, val_loss, best_val_accuracy, test_accuracy, test_loss, best_epoch_test_accuracy; or a metric a program reports (`f1`; `-name` ranks lower first, `+name` higher first, else as declared or by its name: `loss`, `error`, ... lower).
    #[arg(long, value_parser = Metric::from_arg, default_value = "val_accuracy")]
    metric: Metric,
    /// Which weights (default: the epoch the metric is measured at: best for best_* metrics,
    /// final otherwise; best for --run).
    #[arg(long, value_enum)]
    weights: Option<Which>,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    results_dir: ResultsDir,
}

/// Where the weights come from: a run (its directory and what it recorded) or a bare file.
struct Source {
    file: PathBuf,
    header: weights::Header,
    tensors: Vec<weights::Named>,
    run: Option<Loaded>,
}

/// The weights `which` of the run in `dir`, checked against the SHA-256 its summary recorded.
fn run_weights(dir: &Path, which: Which) -> Result<(Loaded, PathBuf)> {
    let loaded = store::load_run(dir)?.ok_or_else(|| {
        Error::Usage(format!(
            "{}: not a run directory (no run.json); pass results/<sweep>/runs/<id> or a .safetensors file",
            dir.display()
        ))
    })?;
    if let Some(problem) = &loaded.problem {
        return Err(Error::Results {
            path: dir.to_path_buf(),
            message: format!("the run's files cannot be trusted: {problem}"),
        });
    }
    let summary = loaded.summary.as_ref().ok_or_else(|| Error::Results {
        path: dir.to_path_buf(),
        message: format!(
            "run {} is {}: weights are kept when a run finishes",
            loaded.run.id,
            loaded.state.name()
        ),
    })?;
    // The file of the epoch asked for: a run keeps one file when its best epoch is its last.
    let epoch = match which {
        Which::Best => summary.best_epoch,
        Which::Final => Some(summary.epochs_completed),
    };
    let kept = summary
        .weights
        .iter()
        .find(|k| Some(k.epoch) == epoch)
        .ok_or_else(|| Error::Results {
            path: dir.to_path_buf(),
            message: format!(
                "run {} kept no {} weights ([sweep] keep = \"{}\"{})",
                loaded.run.id,
                which.name(),
                keep_name(loaded.run.keep),
                if summary.status == RunState::Pruned {
                    "; successive halving pruned it, and pruned runs keep no weights"
                } else if summary.weights.is_empty() {
                    "; runs trained before sweep kept weights have none"
                } else if summary.status != RunState::Done {
                    "; a diverged run keeps only its best epoch's"
                } else {
                    ""
                }
            ),
        })?;
    let file = dir.join(&kept.file);
    verify_digest(&file, &kept.sha256)?;
    Ok((loaded, file))
}

/// `file`'s SHA-256 must be `recorded`, the one its run's summary.json recorded.
fn verify_digest(file: &Path, recorded: &str) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|source| Error::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let got = store::sha256_hex(&bytes);
    if got != recorded {
        return Err(Error::Results {
            path: file.to_path_buf(),
            message: format!(
                "SHA-256 {got} differs from the {recorded} summary.json recorded: the file was changed after training"
            ),
        });
    }
    Ok(())
}

/// A weights file of a run directory must be the one its summary recorded, whichever way it is
/// named: its SHA-256 is checked against the summary's (files the summary does not list, of a
/// run still training, are taken as they are).
fn check_recorded_digest(l: &Loaded, file: &Path) -> Result<()> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(kept) = l
        .summary
        .as_ref()
        .and_then(|s| s.weights.iter().find(|k| k.file == name))
    else {
        return Ok(());
    };
    verify_digest(file, &kept.sha256)
}

/// The model a weights file describes, checked as a manifest's model is (shapes, output layer
/// of one unit per class of `dataset`) and against this machine's memory, so that no file,
/// edited or foreign, makes `sweep eval` panic or allocate without bound.
fn check_model(file: &Path, h: &weights::Header, data: &DataSpec) -> Result<()> {
    let bad = |message: String| Error::Results {
        path: file.to_path_buf(),
        message,
    };
    let infos = crate::spec::arch::check_layers(&h.model, &h.layers, data.shape(), data.classes())
        .map_err(|(_, message, _)| {
            bad(format!(
                "its `sweep` metadata describes a model that cannot run on {}: {message}",
                data.dataset.name()
            ))
        })?;
    let params = crate::spec::arch::total_params(&infos);
    let images = data.test_examples() as u64;
    let peak = crate::spec::memory::eval_peak(
        params,
        &infos,
        images,
        crate::spec::memory::example_bytes(data),
    );
    if let Some(total) = crate::spec::memory::machine_total()
        && peak > total
    {
        return Err(bad(format!(
            "its model ({} parameters) needs an estimated {} to evaluate, more than this machine's {}",
            crate::fmt::thousands(params as u64),
            crate::fmt::bytes(peak),
            crate::fmt::bytes(total)
        )));
    }
    Ok(())
}

fn source(path: &Path, which: Which) -> Result<Source> {
    // A weights file inside a run directory is evaluated as that run's.
    let run_dir = if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        path.parent()
            .filter(|p| p.join("run.json").is_file())
            .map(Path::to_path_buf)
    };
    let (run, file) = match run_dir {
        Some(d) if path.is_dir() => {
            let (l, f) = run_weights(&d, which)?;
            (Some(l), f)
        }
        Some(d) => {
            let loaded = store::load_run(&d)?.filter(|l| l.problem.is_none());
            if let Some(l) = &loaded {
                check_recorded_digest(l, path)?;
            }
            (loaded, path.to_path_buf())
        }
        None => (None, path.to_path_buf()),
    };
    let (header, tensors) = weights::load(&file)?;
    if let Some(l) = &run
        && l.run.id != header.run
    {
        return Err(Error::Results {
            path: file,
            message: format!(
                "the weights are run {}'s, but the directory is run {}'s",
                header.run, l.run.id
            ),
        });
    }
    Ok(Source {
        file,
        header,
        tensors,
        run,
    })
}

pub(super) fn eval(a: EvalArgs) -> Result<i32> {
    let EvalArgs {
        path,
        weights: which,
        split,
        dataset,
        subset,
        format,
        data_dir,
        offline,
        device,
    } = a;
    if format == Some(ReportFormat::Html) {
        return Err(Error::Usage(
            "eval prints table, markdown, csv or json; html is for `sweep report`".into(),
        ));
    }
    let src = source(&path, which)?;
    let asked = dataset.as_deref().map(parse_dataset).transpose()?;
    let (spec, own) = eval_data(&src, asked, split, subset)?;
    let device = crate::train::backend::open(&device)?;
    let dir = match spec.dataset.is_builtin() {
        true => Some(crate::data::locate_or_fetch(
            &spec.dataset,
            data_dir.as_deref(),
            offline,
            false,
        )?),
        false => None,
    };
    let data = crate::data::open(&spec.dataset, &spec.digest, dir.as_deref())?;
    let (images, same_as_training, what) = eval_images(data, &spec, own, split, subset);
    let network = crate::train::model::Network::new(
        &src.header.layers,
        spec.shape(),
        // Throwaway initial weights: every parameter is replaced by the file's.
        &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0),
        &device,
    )
    .with_parameters(&src.header.layers, &src.tensors, &device)
    .map_err(|message| Error::Results {
        path: src.file.clone(),
        message,
    })?;
    let e = crate::train::evaluate_full(&network, &images, &device);
    // What training recorded for these weights on these images.
    let recorded = src.run.as_ref().filter(|_| same_as_training).and_then(|l| {
        let r = l.records.get(src.header.epoch.checked_sub(1)?)?;
        match split {
            EvalSplit::Val => Some(r.val_accuracy),
            EvalSplit::Test => store::test_of(&l.run, r).1,
        }
    });
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        ReportFormat::Table
    } else {
        ReportFormat::Markdown
    });
    emit(&render_eval(&src, &e, &what, recorded, format));
    Ok(0)
}

/// The data weights are evaluated on: their run's own (its preprocessing too) unless another
/// dataset is asked for, and that run when it is its own. Checks the model against it.
fn eval_data(
    src: &Source,
    asked: Option<Dataset>,
    split: EvalSplit,
    subset: Option<usize>,
) -> Result<(DataSpec, Option<&Run>)> {
    let run = src.run.as_ref().map(|l| &l.run);
    let own = run.filter(|r| asked.as_ref().is_none_or(|d| *d == r.data.dataset));
    let spec = match (own, asked.unwrap_or_else(|| src.header.dataset.clone())) {
        (Some(r), _) => r.data.clone(),
        (None, d) => DataSpec::builtin(&d).ok_or_else(|| {
            Error::Usage(format!(
                "the weights were trained on your dataset `{}`: evaluate them from their run's directory (results/<sweep>/runs/<id>), which says where its data is",
                d.name()
            ))
        })?,
    };
    check_model(&src.file, &src.header, &spec)?;
    if split == EvalSplit::Val && run.is_none() {
        return Err(Error::Usage(
            "--split val needs the run's directory (its validation images are described in run.json)"
                .into(),
        ));
    }
    if split == EvalSplit::Val && (own.is_none() || subset.is_some()) {
        return Err(Error::Usage(
            "--split val evaluates on the run's own validation images: drop --dataset and --subset"
                .into(),
        ));
    }
    Ok((spec, own))
}

/// The images evaluated on, whether they are the ones the run measured during training, and
/// what they are called.
fn eval_images(
    data: std::sync::Arc<crate::data::prepared::Prepared>,
    spec: &DataSpec,
    own: Option<&Run>,
    split: EvalSplit,
    subset: Option<usize>,
) -> (crate::data::Split, bool, String) {
    if split == EvalSplit::Val {
        let (_, val, _) = crate::data::into_splits(data, spec);
        return (val, true, "the run's validation images".to_string());
    }
    let all_test = data.len(crate::spec::dataset::Part::Test);
    let n = subset
        .or(own.and_then(|r| r.data.test_subset))
        .unwrap_or(usize::MAX);
    if let Some(asked) = subset
        && asked > all_test
    {
        eprintln!(
            "warning: --subset {asked} is more than the {all_test} test images; evaluating all of them"
        );
    }
    let same = own.is_some_and(|r| r.data.test_examples() == n.min(all_test));
    let mut s = spec.clone();
    s.test_subset = Some(n.min(all_test));
    let (_, val, test) = crate::data::into_splits(data, &s);
    let what = format!("{} test", spec.dataset.name());
    (test.unwrap_or(val), same, what)
}

fn keep_name(k: manifest::Keep) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn render_eval(
    src: &Source,
    e: &crate::train::Evaluation,
    what: &str,
    recorded: Option<f64>,
    format: ReportFormat,
) -> String {
    let h = &src.header;
    let classes = e.confusion.len();
    match format {
        ReportFormat::Json => {
            let v = serde_json::json!({
                "weights": src.file,
                "run": h.run,
                "label": h.label,
                "which": h.which,
                "epoch": h.epoch,
                "images": what,
                "count": e.images,
                "accuracy": e.accuracy,
                "loss": e.loss,
                "recorded_accuracy": recorded,
                "confusion": e.confusion,
            });
            serde_json::to_string_pretty(&v).expect("json") + "\n"
        }
        ReportFormat::Csv => {
            // The confusion matrix: one row per true class, one column per predicted class.
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut head = vec!["label".to_string()];
            head.extend((0..classes).map(|c| format!("predicted_{c}")));
            w.write_record(&head).expect("csv to memory");
            for (c, row) in e.confusion.iter().enumerate() {
                let mut rec = vec![c.to_string()];
                rec.extend(row.iter().map(u64::to_string));
                w.write_record(&rec).expect("csv to memory");
            }
            String::from_utf8(w.into_inner().expect("csv to memory")).expect("utf-8")
        }
        ReportFormat::Table | ReportFormat::Markdown | ReportFormat::Html => {
            let mut head = vec!["true \\ predicted".to_string()];
            head.extend((0..classes).map(|c| c.to_string()));
            head.push("recall".into());
            let mut rows = Vec::new();
            for (c, row) in e.confusion.iter().enumerate() {
                let n: u64 = row.iter().sum();
                let mut rec = vec![c.to_string()];
                rec.extend(row.iter().map(u64::to_string));
                rec.push(if n == 0 {
                    "-".into()
                } else {
                    format!("{:.1}%", 100.0 * row[c] as f64 / n as f64)
                });
                rows.push(rec);
            }
            let t = if format == ReportFormat::Markdown {
                crate::fmt::markdown_table(&head, &rows, crate::fmt::Align::NumbersRight)
            } else {
                crate::fmt::terminal_table(&head, &rows, None)
            };
            let recorded = match recorded {
                Some(r) if r == e.accuracy => format!(
                    "; training recorded {} on the same images: equal",
                    Metric::ValAccuracy.format(r)
                ),
                Some(r) => format!(
                    "; training recorded {} on the same images: they differ",
                    Metric::ValAccuracy.format(r)
                ),
                None => String::new(),
            };
            format!(
                "{} ({}), {} weights (epoch {}), on {what}: {} images\naccuracy {}, loss {:.4}{recorded}\n\n{t}\n",
                h.label,
                h.run,
                h.which.name(),
                h.epoch,
                arch_count(e.images),
                Metric::ValAccuracy.format(e.accuracy),
                e.loss,
            )
        }
    }
}

fn arch_count(n: usize) -> String {
    crate::fmt::thousands(n as u64)
}

pub(super) fn export(a: ExportArgs) -> Result<i32> {
    let ExportArgs {
        sweep: results,
        best,
        run,
        metric,
        weights: which,
        out,
        results_dir: ResultsDir { results: root },
    } = a;
    let targets =
        crate::results::report::resolve_targets(Some(&results), &root, &crate::data::describe)?;
    let [(name, dir, cfg)] = targets.as_slice() else {
        return Err(Error::Usage(format!(
            "{}: holds {} sweeps; pass one results/<sweep> directory or its manifest",
            results.display(),
            targets.len()
        )));
    };
    let loaded = crate::results::report::load_sweep(dir)?;
    let (id, why, default_which) = if best {
        let report = crate::results::report::build(name, &loaded, cfg, metric)?;
        let first = report.ranking.first().ok_or_else(|| Error::Results {
            path: dir.clone(),
            message: format!("no finished run has {} to rank by", metric.name()),
        })?;
        let config = &report.configs[first.config];
        // The configuration's best seed by the metric; ties go to the smaller run id.
        let pick = report
            .runs
            .iter()
            .filter(|r| r.config_id == config.config_id)
            .filter_map(|r| r.get(metric).map(|v| (r, v)))
            .max_by(|(a, x), (b, y)| {
                let order = x.total_cmp(y);
                let order = if metric.higher_is_better() {
                    order
                } else {
                    order.reverse()
                };
                order.then(b.id.cmp(&a.id))
            })
            .ok_or_else(|| Error::Results {
                path: dir.clone(),
                message: format!("`{}` has no run with {}", config.label, metric.name()),
            })?;
        let which = if metric.epoch_rule() == Metric::BestValAccuracy.epoch_rule() {
            Which::Best
        } else {
            Which::Final
        };
        (
            pick.0.id.clone(),
            format!(
                "ranked first by {} ({}), its seed {} at {}",
                metric.name(),
                config.label,
                pick.0.seed,
                metric.format(pick.1)
            ),
            which,
        )
    } else {
        let prefix = run.expect("clap requires --best or --run");
        let ids: Vec<&str> = loaded
            .iter()
            .map(|l| l.run.id.as_str())
            .filter(|id| id.starts_with(prefix.as_str()))
            .collect();
        match ids.as_slice() {
            [id] => (id.to_string(), "chosen by id".to_string(), Which::Best),
            [] => {
                return Err(Error::Usage(format!(
                    "no run of {} has an id starting with `{prefix}`",
                    dir.display()
                )));
            }
            _ => {
                return Err(Error::Usage(format!(
                    "`{prefix}` matches {} runs ({}); give more of the id",
                    ids.len(),
                    ids.join(", ")
                )));
            }
        }
    };
    let which = which.unwrap_or(default_which);
    let (_, file) = run_weights(&dir.join("runs").join(&id), which)?;
    let bytes = std::fs::read(&file).map_err(|source| Error::Read {
        path: file.clone(),
        source,
    })?;
    let (header, _) = weights::load(&file)?;
    let run = store::load_run(&dir.join("runs").join(&id))?.map(|l| l.run.data);
    let data = run
        .or_else(|| DataSpec::builtin(&header.dataset))
        .ok_or_else(|| Error::Results {
            path: file.clone(),
            message: "its run's run.json is missing: cannot tell what data the model takes".into(),
        })?;
    check_model(&file, &header, &data)?;
    store::write_atomic(&out, &bytes)?;
    eprintln!(
        "exported run {id} ({}; {why}): {} weights of epoch {} to {}",
        header.label,
        header.which.name(),
        header.epoch,
        out.display()
    );
    Ok(0)
}
