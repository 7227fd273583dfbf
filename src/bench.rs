//! Benchmarks that ship in the binary (`sweep bench report`), so they run from the release
//! build without compiling the dev-dependencies. Figures go to CSV files, never to assertions.

use crate::error::{Error, Result};
use crate::report::{self, Metric};
use std::path::Path;
use std::time::Instant;

/// Write `configs x seeds` synthetic runs of `epochs` epochs to a temporary results directory,
/// then time load + aggregate + rank + markdown rendering `repeats` times. Appends rows to `csv`.
pub fn report(
    configs: usize,
    seeds: usize,
    epochs: usize,
    repeats: usize,
    csv: &Path,
) -> Result<()> {
    let dir = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let t = Instant::now();
    let runs = report::fixture::synthetic(configs, seeds, epochs);
    report::fixture::write(dir.path(), &runs)?;
    eprintln!(
        "wrote {} runs x {epochs} epochs in {:.1}s",
        runs.len(),
        t.elapsed().as_secs_f64()
    );
    let mut text = String::from(
        "repeat,runs,epochs,load_seconds,aggregate_seconds,render_seconds,total_seconds\n",
    );
    for repeat in 1..=repeats {
        let t = Instant::now();
        let loaded = report::load_sweep(&dir.path().join("synthetic"))?;
        let t_load = t.elapsed().as_secs_f64();
        let r = report::build("synthetic", &loaded, None, Metric::ValAccuracy)?;
        let t_build = t.elapsed().as_secs_f64() - t_load;
        let md = report::markdown::render(&r);
        let total = t.elapsed().as_secs_f64();
        let t_render = total - t_load - t_build;
        eprintln!(
            "repeat {repeat}: {} runs, load {t_load:.3}s, aggregate+rank {t_build:.3}s, render {t_render:.3}s ({} KiB), total {total:.3}s",
            loaded.len(),
            md.len() / 1024
        );
        text.push_str(&format!(
            "{repeat},{},{epochs},{t_load:.4},{t_build:.4},{t_render:.4},{total:.4}\n",
            loaded.len()
        ));
    }
    crate::store::write_atomic(csv, text.as_bytes())?;
    eprintln!("figures written to {}", csv.display());
    Ok(())
}
