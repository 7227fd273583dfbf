//! Report rendering at scale: 10,000 synthetic runs x 50 epochs on disk, then load + aggregate +
//! rank + render markdown, timed. Writes results/bench/report.csv.
//!
//! `cargo bench --bench report` (release profile). Target: under 1 s.

use std::io::Write;
use std::time::Instant;
use sweep::report::{self, Metric};

fn main() {
    let (configs, seeds, epochs) = (5_000, 2, 50);
    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let runs = report::fixture::synthetic(configs, seeds, epochs);
    report::fixture::write(dir.path(), &runs).expect("write fixture");
    eprintln!(
        "wrote {} runs x {epochs} epochs in {:.1}s",
        runs.len(),
        t.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for repeat in 1..=3 {
        let t = Instant::now();
        let loaded = report::load_sweep(&dir.path().join("synthetic")).expect("load");
        let t_load = t.elapsed().as_secs_f64();
        let r = report::build("synthetic", &loaded, None, Metric::ValAccuracy).expect("build");
        let t_build = t.elapsed().as_secs_f64() - t_load;
        let md = report::markdown::render(&r);
        let total = t.elapsed().as_secs_f64();
        assert_eq!(loaded.len(), configs * seeds);
        eprintln!(
            "repeat {repeat}: load {t_load:.3}s, aggregate+rank {t_build:.3}s, total {total:.3}s ({} KiB of markdown)",
            md.len() / 1024
        );
        rows.push(format!(
            "{repeat},{},{epochs},{t_load:.4},{t_build:.4},{total:.4}",
            loaded.len()
        ));
    }
    std::fs::create_dir_all("results/bench").expect("results/bench");
    let mut f = std::fs::File::create("results/bench/report.csv").expect("csv");
    writeln!(
        f,
        "repeat,runs,epochs,load_seconds,aggregate_seconds,total_seconds"
    )
    .expect("write");
    for r in rows {
        writeln!(f, "{r}").expect("write");
    }
    eprintln!("figures written to results/bench/report.csv");
}
