//! `sweep verify`: train finished runs again in a scratch directory and say whether they give
//! the same numbers (built-in or program runs alike).

use super::*;
use crate::results::verify::{self, Verdict};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A sweep's results directory (results/<sweep>).
    sweep: PathBuf,
    /// How many finished runs to train again, spread over the sweep (in run-id order).
    #[arg(value_parser = positive_count, long, default_value_t = 3)]
    runs: usize,
    /// Concurrent runs (default: one per core).
    #[arg(value_parser = positive_count, long, short)]
    jobs: Option<usize>,
    /// Directory holding one folder per built-in dataset (as for `sweep run`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print only the verdicts.
    #[arg(long, short)]
    quiet: bool,
}

pub(super) fn verify(a: VerifyArgs) -> Result<i32> {
    let loaded = crate::results::report::load_sweep(&a.sweep)?;
    let mut done: Vec<&crate::results::report::Loaded> = loaded
        .iter()
        .filter(|l| l.state == RunState::Done)
        .collect();
    if done.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no finished runs to verify (run `sweep run` first)",
            a.sweep.display()
        )));
    }
    done.sort_by(|x, y| x.run.id.cmp(&y.run.id));
    // Spread over the sweep: every n-th run by id, the same choice every time.
    let k = a.runs.min(done.len());
    let chosen: Vec<&crate::results::report::Loaded> =
        (0..k).map(|i| done[i * done.len() / k]).collect();
    let runs: Vec<Run> = chosen.iter().map(|l| l.run.clone()).collect();
    let scratch = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let data_dir = match runs
        .iter()
        .find(|r| r.program.is_none() && r.data.dataset.is_builtin())
    {
        Some(r) => Some(crate::data::locate_or_fetch(
            &r.data.dataset,
            a.data_dir.as_deref(),
            true,
            a.quiet,
        )?),
        None => a.data_dir.clone(),
    };
    if !a.quiet {
        eprintln!(
            "training {k} of {} finished run(s) of {} again in {}",
            done.len(),
            a.sweep.display(),
            scratch.path().display()
        );
    }
    let opts = supervisor::Options {
        results: scratch.path().to_path_buf(),
        devices: vec![crate::spec::device::DeviceName::Cpu],
        jobs: a.jobs.unwrap_or_else(supervisor::cores),
        threads: None,
        retry_failed: false,
        manifest_source: None,
        per_gpu: 1,
        memory_budget: crate::spec::memory::machine_available(),
        until: None,
        locked: false,
    };
    supervisor::install_interrupt_handler();
    let launch = supervisor::Worker::new(&opts.results, data_dir.as_deref())?;
    let mut display = supervisor::choose_display(a.quiet);
    let mut sup = supervisor::Supervisor {
        opts: &opts,
        launch: &launch,
        display: display.as_mut(),
        interrupts: &supervisor::interrupts,
    };
    let sweep = &runs[0].sweep;
    sup.run(sweep, &runs)?;
    let mut rows = Vec::new();
    let mut all = true;
    for l in &chosen {
        let again = crate::results::store::load_planned(scratch.path(), &l.run)?
            .map(|x| x.records)
            .unwrap_or_default();
        let v = verify::compare(&l.records, &again);
        all &= v.identical();
        rows.push(vec![l.run.display_label(), l.run.id.clone(), v.text()]);
        if let Verdict::Epochs { .. } = v {
            all = false;
        }
    }
    let table = crate::fmt::terminal_table(&["run", "id", "trained again"], &rows, None);
    emit(&format!(
        "{table}\n{}\n",
        if all {
            format!("{k} run(s) trained again to the same numbers, bit for bit")
        } else {
            "some runs did not train to the same numbers (see above)".to_string()
        }
    ));
    Ok(if all { 0 } else { 1 })
}
