//! What a sweep shows while it trains, behind one trait ([`Display`]): progress bars on a
//! terminal ([`Bars`]), one line per event in a log ([`Lines`], CI), or warnings only
//! ([`Quiet`]). The supervisor computes every number; a display only shows them.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How the supervisor's progress is shown. Only warnings must be shown; every other method
/// shows nothing unless a display says otherwise.
pub(crate) trait Display {
    /// A warning: shown even with --quiet.
    fn warning(&mut self, text: &str);
    /// A line of the sweep's log (what started, finished, waits); not shown with --quiet.
    fn line(&mut self, _text: &str) {}
    /// A run's finished epoch: a line in logs, the bar says it on a terminal.
    fn epoch(&mut self, _text: &str) {}
    /// The overall bar begins: `work` units in all.
    fn begin(&mut self, _sweep: &str, _work: u64) {}
    /// The overall progress.
    fn overall(&mut self, _position: u64, _length: u64, _message: &str) {}
    fn run_started(&mut self, _slot: usize, _label: &str) {}
    fn run_progress(&mut self, _slot: usize, _position: u64, _length: u64, _message: &str) {}
    fn run_ended(&mut self, _slot: usize) {}
    fn end(&mut self) {}
}

/// The display `sweep run` uses: bars on a terminal, lines in a log, warnings only when quiet.
pub(crate) fn choose(quiet: bool) -> Box<dyn Display> {
    if quiet {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    }
}

/// Warnings only.
pub(crate) struct Quiet;

impl Display for Quiet {
    fn warning(&mut self, text: &str) {
        eprintln!("{text}");
    }
}

/// A line per event on stderr: what a CI log or `nohup` file keeps.
pub(crate) struct Lines;

impl Display for Lines {
    fn warning(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn line(&mut self, text: &str) {
        eprintln!("{text}");
    }
    fn epoch(&mut self, text: &str) {
        eprintln!("{text}");
    }
}

/// A bar per running run under an overall bar, on a terminal.
pub(crate) struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    runs: Vec<Option<ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        Bars {
            overall: ProgressBar::hidden(),
            multi,
            runs: Vec::new(),
        }
    }
}

impl Display for Bars {
    fn line(&mut self, text: &str) {
        self.multi.suspend(|| eprintln!("{text}"));
    }
    fn warning(&mut self, text: &str) {
        self.multi.suspend(|| eprintln!("{text}"));
    }
    fn epoch(&mut self, _: &str) {}
    fn begin(&mut self, sweep: &str, work: u64) {
        // A new bar for each pass (a halving sweep has one per rung): an ended one stays ended.
        self.overall = self.multi.add(ProgressBar::new(work));
        self.overall.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {msg} ({elapsed}, ETA {eta})")
                .expect("template")
                .progress_chars("=> "),
        );
        self.overall.set_prefix(format!("sweep {sweep}"));
    }
    fn overall(&mut self, position: u64, length: u64, message: &str) {
        self.overall.set_length(length);
        self.overall.set_position(position);
        self.overall.set_message(message.to_string());
    }
    fn run_started(&mut self, slot: usize, label: &str) {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("  {prefix} [{bar:25}] {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar.set_message("starting");
        if self.runs.len() <= slot {
            self.runs.resize(slot + 1, None);
        }
        self.runs[slot] = Some(bar);
    }
    fn run_progress(&mut self, slot: usize, position: u64, length: u64, message: &str) {
        if let Some(Some(bar)) = self.runs.get(slot) {
            bar.set_length(length);
            bar.set_position(position);
            bar.set_message(message.to_string());
        }
    }
    fn run_ended(&mut self, slot: usize) {
        if let Some(bar) = self.runs.get_mut(slot).and_then(Option::take) {
            bar.finish_and_clear();
        }
    }
    fn end(&mut self) {
        for bar in self.runs.iter_mut().filter_map(Option::take) {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}
