//! `sweep plan` and `sweep models`: what a manifest describes.

use super::*;
use tabled::Tabled;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep manifest (TOML).
    manifest: PathBuf,
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    format: PlanFormat,
}

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// A manifest whose own models are listed after the built-ins.
    manifest: Option<PathBuf>,
}

pub fn plan(a: PlanArgs) -> Result<i32> {
    let PlanArgs { manifest, format } = a;
    let m = manifest::load(&manifest)?;
    let runs = plan::expand(&m)?;
    match format {
        PlanFormat::Table => emit(&plan_table(&m, &runs)),
        PlanFormat::Json => {
            // Streamed: a million runs are ~900 MB of JSON, never held in memory twice.
            #[derive(serde::Serialize)]
            struct PlanJson<'a> {
                sweep: &'a str,
                runs: &'a [plan::Run],
                totals: plan::Totals,
            }
            use std::io::Write;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(
                &mut w,
                &PlanJson {
                    sweep: &m.sweep.name,
                    runs: &runs,
                    totals: plan::totals(&runs),
                },
            )
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(w))
            .and_then(|()| w.flush());
            match written {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    return Err(Error::Usage(format!("cannot write to stdout: {e}")));
                }
                Ok(()) => {}
            }
        }
    }
    Ok(0)
}

pub fn models(a: ModelsArgs) -> Result<i32> {
    let ModelsArgs { manifest } = a;
    let models = match manifest {
        Some(p) => manifest::load(&p)?.models,
        None => manifest::builtin_models(),
    };
    for (i, m) in models.iter().enumerate() {
        if i > 0 {
            emit("\n");
        }
        if let Some(d) = &m.description {
            emit(&format!("{d}\n"));
        }
        emit(&crate::spec::arch::summary(&m.name, &m.layers, &m.infos));
    }
    Ok(0)
}

/// The most runs the plan table lists; `--format json` lists every run.
pub const PLAN_TABLE_ROWS: usize = 1000;

#[derive(Tabled)]
struct PlanRow {
    #[tabled(rename = "run id")]
    id: String,
    label: String,
    model: String,
    params: String,
    optimizer: String,
    lr: String,
    momentum: String,
    epochs: usize,
    batch: usize,
    seed: u64,
}

pub fn plan_table(m: &Manifest, runs: &[Run]) -> String {
    let rows = runs.iter().take(PLAN_TABLE_ROWS).map(|r| PlanRow {
        id: r.id.clone(),
        label: r.label.clone(),
        model: r.model.clone(),
        params: crate::spec::arch::group_thousands(r.params as u64),
        optimizer: r.optimizer.kind().name().to_string(),
        lr: format!("{}", r.optimizer.lr()),
        momentum: r.optimizer.momentum().map_or("-".into(), |m| m.to_string()),
        epochs: r.epochs,
        batch: r.batch_size,
        seed: r.seed,
    });
    let mut table = tabled::Table::new(rows);
    table.with(tabled::settings::Style::sharp());
    let t = plan::totals(runs);
    let more = if runs.len() > PLAN_TABLE_ROWS {
        format!(
            "... and {} more runs (`--format json` lists every run)\n",
            runs.len() - PLAN_TABLE_ROWS
        )
    } else {
        String::new()
    };
    format!(
        "sweep `{}` on {} ({} training examples per epoch)\n{table}\n{more}{} runs, {} epochs, ~{} training FLOPs\n",
        m.sweep.name,
        m.sweep.dataset.name(),
        runs.first().map_or(0, |r| r.data.train_examples()),
        t.runs,
        t.epochs,
        human_flops(t.train_flops)
    )
}

/// 1.2e15 -> "1.20 P".
pub fn human_flops(f: u64) -> String {
    let units = [
        ("E", 1e18),
        ("P", 1e15),
        ("T", 1e12),
        ("G", 1e9),
        ("M", 1e6),
    ];
    let f = f as f64;
    for (u, s) in units {
        if f >= s {
            return format!("{:.2} {u}", f / s);
        }
    }
    format!("{f:.0}")
}
