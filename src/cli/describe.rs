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
    /// Estimated peak memory of the run.
    memory: String,
}

pub fn plan_table(m: &Manifest, runs: &[Run]) -> String {
    use crate::spec::memory::{self, human_bytes};
    // One estimate per model, batch size and optimizer state: a million runs have few.
    let mut cache = std::collections::HashMap::new();
    let mut peak = |r: &Run| -> u64 {
        *cache
            .entry((
                r.model.clone(),
                r.batch_size,
                r.optimizer.kind().name(),
                r.optimizer.momentum().is_some_and(|m| m > 0.0),
            ))
            .or_insert_with(|| memory::estimate(r).peak())
    };
    let peaks: Vec<u64> = runs.iter().map(&mut peak).collect();
    let rows = runs
        .iter()
        .zip(&peaks)
        .take(PLAN_TABLE_ROWS)
        .map(|(r, p)| PlanRow {
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
            memory: human_bytes(*p),
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
    // Memory: the largest run, what this machine has, and the runs that cannot fit in it.
    let largest = peaks.iter().copied().max().unwrap_or(0);
    let machine = memory::machine_total();
    let too_big = machine.map_or(0, |total| peaks.iter().filter(|&&p| p > total).count());
    let memory_line = format!(
        "peak memory per run: up to {} (estimated){}\n",
        human_bytes(largest),
        machine.map_or(String::new(), |m| format!(
            "; this machine has {}",
            human_bytes(m)
        ))
    );
    let warning = if too_big > 0 {
        format!(
            "warning: {too_big} run(s) need more memory than this machine has: `sweep run` will refuse them\n"
        )
    } else {
        String::new()
    };
    // Weights: what the finished runs will keep on disk.
    let weight_bytes: u64 = runs
        .iter()
        .map(|r| r.params as u64 * 4 * r.keep.files() as u64)
        .sum();
    let disk = format!(
        "weights kept (keep = \"{}\"): up to {} on disk\n",
        serde_json::to_value(m.sweep.keep)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        human_bytes(weight_bytes)
    );
    format!(
        "sweep `{}` on {} ({} training examples per epoch)\n{table}\n{more}{} runs, {} epochs, ~{} training FLOPs\n{memory_line}{disk}{warning}",
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
