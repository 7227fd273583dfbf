//! The supervisor's rules, tested with a fake launcher: no training, no processes. Each fake
//! run acts out one way a run can go (finish, crash, be busy, pause at a rung, wait for a stop,
//! hang) by writing the files a real worker would, so the supervisor reads them as it reads a
//! worker's.

use super::*;
use crate::results::record::EpochRecord;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    /// Trains every epoch and writes its summary, exit 0.
    Finish,
    /// One epoch, then killed by a signal after printing `boom`.
    Crash,
    /// Another process holds the run: exit 4.
    Busy,
    /// Trains to `until` and keeps a checkpoint, exit 0.
    Pause,
    /// Runs until asked to stop, then exits 3 after a checkpoint (finishes after [`PATIENCE`]
    /// polls without a stop, so a broken supervisor fails its test rather than hang it).
    UntilStopped,
    /// Runs until killed (or [`PATIENCE`] polls, then finishes).
    Hang,
}

/// What the fake saw: runs started (ids, in order), the most running at once, stops and kills.
#[derive(Default)]
struct Seen {
    started: Vec<String>,
    running: usize,
    most_running: usize,
    stops: usize,
    kills: usize,
}

struct Fake {
    results: PathBuf,
    acts: HashMap<String, Act>,
    default: Act,
    seen: Rc<RefCell<Seen>>,
}

impl Fake {
    fn new(results: &Path, default: Act) -> Fake {
        Fake {
            results: results.to_path_buf(),
            acts: HashMap::new(),
            default,
            seen: Rc::default(),
        }
    }
}

impl Launch for Fake {
    fn prepare(&self, _: &[&Run]) -> Result<()> {
        Ok(())
    }

    fn start(&self, job: Job<'_>, _: Tell) -> Result<Box<dyn Handle>> {
        let mut seen = self.seen.borrow_mut();
        seen.started.push(job.run.id.clone());
        seen.running += 1;
        seen.most_running = seen.most_running.max(seen.running);
        Ok(Box::new(FakeRun {
            polls: 0,
            act: *self.acts.get(&job.run.id).unwrap_or(&self.default),
            run: job.run.clone(),
            dir: store::run_dir(&self.results, job.run),
            until: job.until,
            stopped: false,
            killed: false,
            seen: self.seen.clone(),
        }))
    }
}

/// Polls a waiting fake run sits through before it finishes on its own (about 5 s).
const PATIENCE: usize = 25;

struct FakeRun {
    polls: usize,
    act: Act,
    run: Run,
    dir: PathBuf,
    until: Option<usize>,
    stopped: bool,
    killed: bool,
    seen: Rc<RefCell<Seen>>,
}

fn record(epoch: usize) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: 1.0 / epoch as f64,
        train_accuracy: 0.5,
        val_loss: 1.0,
        val_accuracy: 0.5 + epoch as f64 / 100.0,
        test_loss: None,
        test_accuracy: None,
        seconds: 1.0,
        images_per_sec: 100.0,
        lr: None,
        extra: Default::default(),
    }
}

fn records(n: usize) -> Vec<EpochRecord> {
    (1..=n).map(record).collect()
}

fn exit(code: Option<i32>, status: &str) -> Option<Exit> {
    Some(Exit {
        code,
        status: status.into(),
    })
}

impl FakeRun {
    fn ended(&self) {
        self.seen.borrow_mut().running -= 1;
    }
}

impl Handle for FakeRun {
    fn stop(&mut self) {
        self.stopped = true;
        self.seen.borrow_mut().stops += 1;
    }

    fn kill(&mut self) {
        self.killed = true;
        self.seen.borrow_mut().kills += 1;
    }

    fn try_wait(&mut self) -> Result<Option<Exit>> {
        self.polls += 1;
        let act = match self.act {
            Act::UntilStopped | Act::Hang if self.polls > PATIENCE => Act::Finish,
            a => a,
        };
        let e = match act {
            Act::Finish => {
                let r = records(self.run.epochs);
                store::write_epochs(&self.dir, &r)?;
                let sum = store::summarize(&self.run, &r, RunState::Done, None, 2.0);
                store::write_summary(&self.dir, &sum)?;
                exit(Some(0), "exit status: 0")
            }
            Act::Crash => {
                store::write_epochs(&self.dir, &records(1))?;
                exit(None, "signal: 9 (SIGKILL)")
            }
            Act::Busy => exit(Some(EXIT_BUSY), "exit status: 4"),
            Act::Pause => {
                let u = self.until.expect("a pause needs until");
                store::write_epochs(&self.dir, &records(u))?;
                std::fs::write(crate::results::checkpoint::path(&self.dir), b"ck").unwrap();
                exit(Some(0), "exit status: 0")
            }
            Act::UntilStopped if self.stopped => exit(Some(EXIT_INTERRUPTED), "exit status: 3"),
            Act::Hang if self.killed => exit(None, "signal: 9 (SIGKILL)"),
            Act::UntilStopped | Act::Hang => None,
        };
        if e.is_some() {
            self.ended();
        }
        Ok(e)
    }

    fn stderr_tail(&self) -> Vec<String> {
        match self.act {
            Act::Crash => vec!["loading".into(), "boom".into()],
            _ => Vec::new(),
        }
    }
}

/// The log lines and warnings a pass showed.
#[derive(Default)]
struct Recorded(Vec<String>);

impl Display for Recorded {
    fn warning(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
    fn line(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

/// Two models x two seeds: the CNN costs more FLOPs, so its runs come first.
fn runs() -> Vec<Run> {
    crate::exec::pending::tests::two_models_two_seeds("fake")
}

fn options(results: &Path, jobs: usize) -> Options {
    Options {
        results: results.to_path_buf(),
        devices: vec![DeviceName::Cpu],
        jobs,
        threads: Some(1),
        retry_failed: false,
        manifest_source: None,
        per_gpu: 1,
        memory_budget: None,
        until: None,
        locked: false,
    }
}

/// One pass with `fake`, Ctrl-C pressed `presses()` times as it goes.
fn pass(
    opts: &Options,
    fake: &Fake,
    runs: &[Run],
    presses: &dyn Fn() -> usize,
) -> (Result<Vec<Outcome>>, Vec<String>) {
    let mut shown = Recorded::default();
    let got = Supervisor {
        opts,
        launch: fake,
        display: &mut shown,
        interrupts: presses,
    }
    .run("fake", runs);
    (got, shown.0)
}

fn no_presses() -> usize {
    0
}

#[test]
fn runs_start_longest_first_in_plan_order_whatever_the_slots() {
    let runs = runs();
    let expected: Vec<String> = [2, 3, 0, 1].iter().map(|&i| runs[i].id.clone()).collect();
    assert_eq!(runs[2].model, "simple_cnn");
    for jobs in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new(dir.path(), Act::Finish);
        let (got, _) = pass(&options(dir.path(), jobs), &fake, &runs, &no_presses);
        assert_eq!(got.unwrap(), vec![Outcome::Finished(RunState::Done); 4]);
        assert_eq!(fake.seen.borrow().started, expected, "--jobs {jobs}");
        assert_eq!(fake.seen.borrow().most_running, jobs);
        // Run again: everything is finished, nothing starts.
        let again = Fake::new(dir.path(), Act::Finish);
        let (got, _) = pass(&options(dir.path(), jobs), &again, &runs, &no_presses);
        assert_eq!(got.unwrap(), vec![Outcome::Skipped(RunState::Done); 4]);
        assert!(again.seen.borrow().started.is_empty());
    }
}

#[test]
fn memory_admission_holds_a_run_while_others_take_the_memory() {
    let runs = runs();
    let peak = |r: &Run| crate::spec::memory::estimate(r).peak();
    let largest = runs.iter().map(peak).max().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::Finish);
    let mut opts = options(dir.path(), 2);
    // Room for the largest run alone: two slots, yet one run at a time.
    opts.memory_budget = Some(largest + 1);
    let (got, shown) = pass(&opts, &fake, &runs, &no_presses);
    assert_eq!(got.unwrap(), vec![Outcome::Finished(RunState::Done); 4]);
    assert_eq!(fake.seen.borrow().most_running, 1);
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("memory: ") && l.contains("waits")),
        "{shown:?}"
    );
    // Room for two: both slots fill.
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::Finish);
    opts.results = dir.path().to_path_buf();
    opts.memory_budget = Some(2 * largest);
    pass(&opts, &fake, &runs, &no_presses).0.unwrap();
    assert_eq!(fake.seen.borrow().most_running, 2);
}

#[test]
fn ctrl_c_once_stops_the_running_runs_at_a_checkpoint_and_starts_no_more() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::UntilStopped);
    let seen = fake.seen.clone();
    // Pressed once, as soon as a run has started.
    let presses = move || usize::from(!seen.borrow().started.is_empty());
    let (got, shown) = pass(&options(dir.path(), 1), &fake, &runs, &presses);
    assert_eq!(got.unwrap(), vec![Outcome::Interrupted; 4]);
    let seen = fake.seen.borrow();
    assert_eq!(seen.started.len(), 1, "no run starts after Ctrl-C");
    assert_eq!((seen.stops, seen.kills), (1, 0));
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("interrupted: finishing"))
    );
}

#[test]
fn ctrl_c_pressed_before_the_pass_starts_nothing() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::Finish);
    let (got, _) = pass(&options(dir.path(), 2), &fake, &runs, &|| 1);
    assert_eq!(got.unwrap(), vec![Outcome::Interrupted; 4]);
    assert!(fake.seen.borrow().started.is_empty());
}

#[test]
fn ctrl_c_twice_kills_the_running_runs_and_aborts() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::Hang);
    let seen = fake.seen.clone();
    let presses = move || 2 * usize::from(seen.borrow().started.len() == 2);
    let (got, shown) = pass(&options(dir.path(), 2), &fake, &runs, &presses);
    assert!(matches!(got, Err(Error::Interrupted)), "{got:?}");
    let seen = fake.seen.borrow();
    assert_eq!(seen.started.len(), 2);
    assert_eq!(seen.kills, 2, "both running runs are killed");
    assert!(shown.iter().any(|l| l.starts_with("aborted;")));
}

#[test]
fn a_crash_is_recorded_as_failed_with_its_stderr_and_the_others_go_on() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(dir.path(), Act::Finish);
    fake.acts.insert(runs[2].id.clone(), Act::Crash);
    let (got, shown) = pass(&options(dir.path(), 1), &fake, &runs, &no_presses);
    let got = got.unwrap();
    assert_eq!(got[2], Outcome::Finished(RunState::Failed));
    for i in [0, 1, 3] {
        assert_eq!(got[i], Outcome::Finished(RunState::Done));
    }
    let sum = store::read_summary(&store::run_dir(dir.path(), &runs[2]))
        .unwrap()
        .expect("a crash leaves a summary");
    assert_eq!(sum.status, RunState::Failed);
    assert_eq!(sum.epochs_completed, 1);
    let reason = sum.reason.unwrap();
    assert!(
        reason.contains("signal: 9") && reason.contains("boom"),
        "{reason}"
    );
    assert!(shown.iter().any(|l| l.starts_with("failed ")), "{shown:?}");
}

#[test]
fn runs_pause_at_until_and_a_paused_run_is_not_started_again() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(dir.path(), Act::Pause);
    let mut opts = options(dir.path(), 2);
    opts.until = Some(2);
    let (got, _) = pass(&opts, &fake, &runs, &no_presses);
    assert_eq!(got.unwrap(), vec![Outcome::Paused(2); 4]);
    let again = Fake::new(dir.path(), Act::Pause);
    let (got, _) = pass(&opts, &again, &runs, &no_presses);
    assert_eq!(got.unwrap(), vec![Outcome::Paused(2); 4]);
    assert!(again.seen.borrow().started.is_empty());
}

#[test]
fn a_run_or_a_sweep_held_by_another_process_is_left_alone() {
    let runs = runs();
    let dir = tempfile::tempdir().unwrap();
    // A run's lock held elsewhere: the worker says busy; the others train.
    let mut fake = Fake::new(dir.path(), Act::Finish);
    fake.acts.insert(runs[0].id.clone(), Act::Busy);
    let (got, _) = pass(&options(dir.path(), 1), &fake, &runs, &no_presses);
    let got = got.unwrap();
    assert!(matches!(got[0], Outcome::Busy(_)), "{:?}", got[0]);
    assert_eq!(got[1], Outcome::Finished(RunState::Done));
    // The sweep's lock held elsewhere: refused before anything starts.
    let other = tempfile::tempdir().unwrap();
    let _held = lock_sweep(&store::sweep_dir(other.path(), "fake"), "another sweep run").unwrap();
    let fake = Fake::new(other.path(), Act::Finish);
    let (got, _) = pass(&options(other.path(), 1), &fake, &runs, &no_presses);
    let e = got.unwrap_err().to_string();
    assert!(e.contains("is in use"), "{e}");
    assert!(fake.seen.borrow().started.is_empty());
}
