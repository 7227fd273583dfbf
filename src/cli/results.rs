//! `sweep report` and `sweep check`: tables and the regression gate, from results alone.

use super::*;
use crate::spec::metric::Metric;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Sweeps to report (default: every sweep under --results).
    paths: Vec<PathBuf>,
    /// Instead of each sweep's tables: the configurations of all the sweeps given side by
    /// side (values with their published references, and ranks), by --rank-by.
    #[arg(long)]
    across: bool,
    /// Output format (default: table on a terminal, markdown otherwise). html: one
    /// self-contained page (sortable tables, a filter box, the plots inlined), offline.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Write to FILE instead of stdout. With markdown, plots go to plots/ beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Metric the ranking table orders by. Built-in: train_accuracy, train_loss, val_accuracy, val_loss, best_val_accuracy, test_accuracy, test_loss, best_epoch_test_accuracy; or a metric a program reports (`f1`; `-name` ranks lower first, `+name` higher first, else as declared or by its name: `loss`, `error`, ... lower).
    /// Several, comma-separated (`--rank-by val_accuracy,-wall_seconds`; also `params`): a
    /// Pareto table of them besides the ranking (by the first metric). Default: the manifest's
    /// [report] rank_by, else val_accuracy.
    #[arg(long, value_parser = crate::spec::metric::Objective::from_arg, value_delimiter = ',')]
    rank_by: Vec<crate::spec::metric::Objective>,
    /// Instead of tables: the tidy per-epoch CSV (one row per run x epoch; --format csv or none).
    #[arg(long)]
    epochs: bool,
    /// Write learning-curve SVGs to DIR (default with --out and markdown: plots/ beside it).
    #[arg(long)]
    plots: Option<PathBuf>,
    #[command(flatten)]
    results: ResultsDir,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The sweep before (a results/<sweep> directory or its manifest).
    a: PathBuf,
    /// The sweep after.
    b: PathBuf,
    /// The metric compared. Built-in: train_accuracy, train_loss, val_accuracy, val_loss, best_val_accuracy, test_accuracy, test_loss, best_epoch_test_accuracy; or a metric a program reports (`f1`; `-name` ranks lower first, `+name` higher first, else as declared or by its name: `loss`, `error`, ... lower).
    #[arg(long, value_parser = Metric::from_arg, default_value = "val_accuracy")]
    metric: Metric,
    /// Output format (default: table on a terminal, markdown otherwise).
    #[arg(long, value_enum)]
    format: Option<CheckFormat>,
    #[command(flatten)]
    results: ResultsDir,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A results/<sweep> directory, or the sweep's manifest.
    results: PathBuf,
    /// The baseline file (or a directory holding baseline.json).
    #[arg(long, required_unless_present = "save_baseline")]
    baseline: Option<PathBuf>,
    /// Write a baseline from these results to FILE instead of checking.
    #[arg(long, conflicts_with = "baseline")]
    save_baseline: Option<PathBuf>,
    /// Allowed accuracy drop, in percentage points.
    #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_TOLERANCE_PP)]
    tolerance: f64,
    /// Allowed change for the worse of a loss, or of a program's own metric, in its units.
    #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_LOSS_TOLERANCE)]
    loss_tolerance: f64,
    /// With seed repeats, a change within k x the baseline's std is noise too.
    #[arg(value_parser = non_negative, long, default_value_t = crate::results::check::DEFAULT_K)]
    k: f64,
    /// Metrics to gate on (repeatable). Default: val_accuracy. Built-in: train_accuracy, train_loss, val_accuracy, val_loss, best_val_accuracy, test_accuracy, test_loss, best_epoch_test_accuracy; or a metric a program reports (`f1`; `-name` ranks lower first, `+name` higher first, else as declared or by its name: `loss`, `error`, ... lower).
    #[arg(long = "metric", value_parser = Metric::from_arg)]
    metrics: Vec<Metric>,
    /// Output format (default: table on a terminal, markdown otherwise).
    #[arg(long, value_enum)]
    format: Option<CheckFormat>,
    /// Where a manifest's results live (as `--results` of run, status and report; the
    /// older spelling `--results-dir` still works).
    #[arg(
        long = "results",
        alias = "results-dir",
        default_value = "results",
        env = "SWEEP_RESULTS"
    )]
    results_dir: PathBuf,
}

pub(super) fn report(a: ReportArgs) -> Result<i32> {
    let ReportArgs {
        paths,
        across,
        format,
        out,
        rank_by,
        epochs,
        plots,
        results: ResultsDir { results },
    } = a;
    let targets = if paths.is_empty() {
        crate::results::report::resolve_targets(None, &results, &crate::data::describe)?
    } else {
        let mut t: Vec<crate::results::report::Target> = Vec::new();
        for p in &paths {
            for target in
                crate::results::report::resolve_targets(Some(p), &results, &crate::data::describe)?
            {
                // The same sweep named twice (`report results/a results/a`, or a manifest
                // and its results): reported once.
                let key =
                    |d: &std::path::Path| d.canonicalize().unwrap_or_else(|_| d.to_path_buf());
                let new = key(&target.1);
                if !t.iter().any(|(_, d, _)| key(d) == new) {
                    t.push(target);
                }
            }
        }
        t
    };
    if across
        && (epochs
            || matches!(
                format,
                Some(ReportFormat::Csv | ReportFormat::Json | ReportFormat::Html)
            ))
    {
        return Err(Error::Usage(
            "--across renders tables: use --format table or markdown, without --epochs".into(),
        ));
    }
    if epochs && matches!(format, Some(f) if f != ReportFormat::Csv) {
        return Err(Error::Usage(
            "--epochs writes the tidy per-epoch CSV: leave out --format, or use --format csv"
                .into(),
        ));
    }
    let mut across_reports = Vec::new();
    let format = format.unwrap_or(if out.is_none() && std::io::stdout().is_terminal() {
        ReportFormat::Table
    } else {
        ReportFormat::Markdown
    });
    let mut text = String::new();
    // JSON and CSV render every sweep at once (one array; one header, with every sweep's axes).
    let mut whole = Vec::new();
    let mut per_epoch = Vec::new();
    for (i, (name, dir, cfg)) in targets.iter().enumerate() {
        let loaded = crate::results::report::load_sweep(dir)?;
        if epochs {
            per_epoch.push((name.as_str(), loaded));
            continue;
        }
        let objectives = if rank_by.is_empty() {
            cfg.rank_by.clone()
        } else {
            rank_by.clone()
        };
        let rank_metric = objectives
            .iter()
            .find_map(|o| match o {
                crate::spec::metric::Objective::Metric(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(Metric::ValAccuracy);
        if !loaded.is_empty() {
            for o in &objectives {
                if let crate::spec::metric::Objective::Metric(m) = o {
                    crate::results::report::check_reported(dir, &loaded, *m)?;
                }
            }
        }
        let mut report = crate::results::report::build(name, &loaded, cfg, rank_metric)?;
        if objectives.len() > 1 {
            report.objectives = objectives;
        }
        crate::results::report::attach_search(&mut report, dir)?;
        let plots_dir = plots.clone().or_else(|| {
            (format == ReportFormat::Markdown).then_some(out.as_ref()?.parent()?.join("plots"))
        });
        let mut base = out
            .as_ref()
            .and_then(|o| o.parent())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        // An HTML page inlines its plots: drawn into a temporary directory unless --plots.
        let scratch = tempfile::tempdir().map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let plots_dir = match plots_dir {
            None if format == ReportFormat::Html => {
                base = scratch.path().to_path_buf();
                Some(scratch.path().join("plots"))
            }
            pd => pd,
        };
        if let Some(pd) = plots_dir {
            let pd = if targets.len() > 1 { pd.join(name) } else { pd };
            crate::results::report::write_plots(&mut report, &loaded, &pd, &base)?;
        }
        if across {
            across_reports.push(report);
            continue;
        }
        match format {
            ReportFormat::Table => text.push_str(&crate::results::report::table::render(&report)),
            ReportFormat::Markdown => {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(&crate::results::report::markdown::render(&report));
            }
            ReportFormat::Csv | ReportFormat::Json => whole.push(report),
            ReportFormat::Html => {
                if targets.len() > 1 {
                    return Err(Error::Usage(
                        "--format html makes one page per sweep: pass one results/<sweep> (or use --across)".into(),
                    ));
                }
                text = crate::results::report::html::render(&report, &|p| {
                    std::fs::read_to_string(base.join(p)).ok()
                });
            }
        }
    }
    if across {
        let sections = crate::results::report::sections::across(&across_reports);
        text = match format {
            ReportFormat::Table => crate::results::report::table::render_sections(&sections),
            _ => crate::results::report::markdown::render_sections(&sections),
        };
    }
    if epochs {
        let rows: Vec<_> = per_epoch
            .iter()
            .flat_map(|(name, loaded)| crate::results::report::epoch_rows(name, loaded))
            .collect();
        text = crate::results::report::csv::render_epochs(&rows);
    } else if format == ReportFormat::Json {
        text = crate::results::report::json::render(&whole);
    } else if format == ReportFormat::Csv {
        text = crate::results::report::csv::render(&whole);
    }
    match out {
        Some(o) => crate::results::store::write_atomic(&o, text.as_bytes())?,
        None => emit(&text),
    }
    Ok(0)
}

pub(super) fn check(a: CheckArgs) -> Result<i32> {
    let CheckArgs {
        results,
        baseline,
        save_baseline,
        tolerance,
        loss_tolerance,
        k,
        metrics,
        format,
        results_dir,
    } = a;
    let targets = crate::results::report::resolve_targets(
        Some(&results),
        &results_dir,
        &crate::data::describe,
    )?;
    let [(name, dir, _)] = &targets[..] else {
        return Err(Error::Usage(format!(
            "{} holds {} sweeps; pass one results/<sweep> directory",
            results.display(),
            targets.len()
        )));
    };
    let loaded = crate::results::report::load_sweep(dir)?;
    if loaded.is_empty() {
        return Err(Error::Results {
            path: dir.clone(),
            message: "no runs here".into(),
        });
    }
    let corrupt: Vec<String> = loaded.iter().filter_map(|l| l.problem.clone()).collect();
    if !corrupt.is_empty() {
        return Err(Error::Results {
            path: dir.clone(),
            message: format!(
                "{} corrupt run(s), so no verdict can be trusted:\n  {}\n(`sweep run <manifest>` trains them again)",
                corrupt.len(),
                corrupt.join("\n  ")
            ),
        });
    }
    let report =
        crate::results::report::build(name, &loaded, &Default::default(), Metric::ValAccuracy)?;
    if let Some(path) = save_baseline {
        let b = crate::results::check::baseline(name, &report.configs);
        let json = serde_json::to_string_pretty(&b).expect("baseline serializes") + "\n";
        crate::results::store::write_atomic(&path, json.as_bytes())?;
        eprintln!(
            "baseline of {} configurations written to {}",
            b.configs.len(),
            path.display()
        );
        return Ok(0);
    }
    let base = crate::results::check::load(&baseline.expect("clap requires it"))?;
    let metrics = if metrics.is_empty() {
        vec![Metric::ValAccuracy]
    } else {
        metrics
    };
    for &m in &metrics {
        crate::results::report::check_reported(dir, &loaded, m)?;
    }
    let tol = crate::results::check::Tolerance {
        accuracy_pp: tolerance,
        loss: loss_tolerance,
        k,
    };
    let lines = crate::results::check::compare(&base, &report.configs, &metrics, tol);
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        CheckFormat::Table
    } else {
        CheckFormat::Markdown
    });
    emit(&match format {
        CheckFormat::Table => crate::results::check::table(name, &lines),
        CheckFormat::Markdown => crate::results::check::markdown(name, &lines),
    });
    Ok(if crate::results::check::failed(&lines) {
        1
    } else {
        0
    })
}

pub(super) fn diff(a: DiffArgs) -> Result<i32> {
    let DiffArgs {
        a,
        b,
        metric,
        format,
        results: ResultsDir { results },
    } = a;
    let side = |p: &PathBuf| -> Result<(String, Vec<crate::results::report::ConfigRow>)> {
        let targets =
            crate::results::report::resolve_targets(Some(p), &results, &crate::data::describe)?;
        let [(name, dir, _)] = &targets[..] else {
            return Err(Error::Usage(format!(
                "{} holds {} sweeps; pass one results/<sweep> directory",
                p.display(),
                targets.len()
            )));
        };
        let loaded = crate::results::report::load_sweep(dir)?;
        for problem in loaded.iter().filter_map(|l| l.problem.as_deref()) {
            // As the report's warning: a corrupt run is left out of both sides' means.
            eprintln!("warning: a corrupt run is left out: {problem}");
        }
        crate::results::report::check_reported(dir, &loaded, metric)?;
        let report = crate::results::report::build(name, &loaded, &Default::default(), metric)?;
        Ok((p.display().to_string(), report.configs))
    };
    let ((na, ca), (nb, cb)) = (side(&a)?, side(&b)?);
    let lines = crate::results::diff::diff(&ca, &cb, metric, crate::results::check::ALPHA);
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        CheckFormat::Table
    } else {
        CheckFormat::Markdown
    });
    emit(&match format {
        CheckFormat::Table => crate::results::diff::table(&na, &nb, metric, &lines),
        CheckFormat::Markdown => crate::results::diff::markdown(&na, &nb, metric, &lines),
    });
    Ok(0)
}
