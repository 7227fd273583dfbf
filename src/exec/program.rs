//! Executing a program's run in this (worker) process: start the user's program with the run's
//! settings in its argv and environment, read the epochs it reports (a JSON object a line, in
//! the file `$SWEEP_METRICS` names or on stdout after `sweep:`), and keep the run's files as for
//! a built-in run: `epochs.csv` after every epoch, `summary.json` last. The contract is
//! docs/programs.md.
//!
//! Resume: the program's own checkpoints live in `<run dir>/checkpoint/` (`$SWEEP_CHECKPOINT_DIR`);
//! a run with recorded epochs and a non-empty checkpoint directory starts again with
//! `$SWEEP_RESUME_EPOCH`, else from scratch. Stop (Ctrl-C, a halving rung): after the epoch it
//! is at, the program gets SIGTERM (its process group), then SIGKILL if it lingers.

use crate::error::{Error, Result};
use crate::exec::protocol::{Event, WorkerExit};
use crate::exec::runner::{Report, take};
use crate::results::record::EpochRecord;
use crate::results::store::{self, RunState};
use crate::spec::plan::Run;
use crate::spec::program::{self, Program};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The program's checkpoint directory, inside the run's.
pub(crate) const CHECKPOINT_DIR: &str = "checkpoint";
/// The file the program appends its epochs to.
const METRICS: &str = "metrics.jsonl";
/// Lines of stderr kept in a failed run's summary.
const TAIL: usize = 20;
/// How long a program asked to stop (SIGTERM) has before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// Where a run is in its program's life.
struct Watch {
    records: Vec<EpochRecord>,
    /// Epochs recorded before this start (a resume).
    resumed_from: usize,
    /// Lines read from the metrics file (for error messages).
    lines: usize,
    last_epoch_at: Instant,
    /// The program's own metrics ([`Program::custom_metrics`]), recorded when reported.
    custom: Vec<String>,
}

/// Train `run` (a program's) into `results`; as [`crate::exec::runner::work`] for built-in runs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn work(
    run: &Run,
    program: &Program,
    results: &Path,
    device: &str,
    data_dir: Option<&Path>,
    threads: usize,
    report: Report,
    retry: bool,
    stop: &AtomicBool,
    until: Option<usize>,
) -> Result<WorkerExit> {
    let (_lock, dir) = match take(results, run, retry, until)? {
        Ok(taken) => taken,
        Err(exit) => return Ok(exit),
    };
    let ckpt = dir.join(CHECKPOINT_DIR);
    let mut records = match dir.join("epochs.csv").exists() {
        true => store::read_epochs(&dir.join("epochs.csv"))?,
        false => Vec::new(),
    };
    let resumable = std::fs::read_dir(&ckpt).is_ok_and(|mut d| d.next().is_some());
    if !resumable && !records.is_empty() {
        // Nothing to go on from: the program starts over (a deterministic one gives the same
        // epochs again).
        records.clear();
        store::write_epochs(&dir, &records)?;
    }
    if let Some(u) = until
        && records.len() >= u
        && records.len() < run.epochs
    {
        return Ok(WorkerExit::Paused(records.len()));
    }
    write_dir(&ckpt)?;
    let resumed_from = records.len();
    let metrics_path = dir.join(METRICS);
    store::write_atomic(&metrics_path, b"")?;
    let (mut child, stdout_lines, tail) = spawn(
        run,
        program,
        &dir,
        Runtime {
            device,
            data_dir,
            threads,
        },
        resumed_from,
        until,
    )?;
    emit(
        report,
        &Event::Started {
            resumed_from,
            batches: 0,
        },
    );
    if report == Report::Log {
        eprintln!(
            "{} ({}): {} epochs {}..={}",
            run.display_label(),
            run.id,
            program.name,
            resumed_from + 1,
            run.epochs
        );
    }
    let started = Instant::now();
    let mut watch = Watch {
        records,
        resumed_from,
        lines: 0,
        last_epoch_at: Instant::now(),
        custom: program
            .custom_metrics()
            .map(|(name, _)| name.to_string())
            .collect(),
    };
    let mut metrics = std::fs::File::open(&metrics_path).map_err(|source| Error::Read {
        path: metrics_path.clone(),
        source,
    })?;
    let mut pending = String::new();
    let mut offset = 0u64;
    let deadline = program.timeout.map(|t| started + Duration::from_secs(t));
    // Why the program was stopped by us, once it was.
    let mut stopped: Option<Stopped> = None;
    let outcome: Ended = loop {
        let exited = child
            .try_wait()
            .map_err(|e| Error::Worker(format!("program {}: {e}", program.name)))?;
        // Read what it reported (after it exited too: its last lines).
        let mut lines = Vec::new();
        read_new(&mut metrics, &mut offset, &mut pending, &mut lines);
        while let Ok(l) = stdout_lines.try_recv() {
            lines.push(l);
        }
        let mut ended = None;
        for line in lines {
            // All its epochs are in: anything after them is not this run's.
            if watch.records.len() >= run.epochs {
                break;
            }
            match watch.take(&line) {
                Ok(None) => {}
                Ok(Some(record)) => {
                    // A diverged epoch is not recorded (its numbers are not numbers): the
                    // reason names it.
                    if let Some((metric, value)) = record.not_finite() {
                        watch.records.pop();
                        ended = Some(Ended::Diverged(format!(
                            "epoch {} reported {metric} = {value}",
                            record.epoch
                        )));
                        break;
                    }
                    store::write_epochs(&dir, &watch.records)?;
                    emit(report, &Event::Epoch(record.clone()));
                    log_epoch(report, run, &record);
                    // At the rung: what it reports past it (ignoring $SWEEP_UNTIL_EPOCH) is
                    // not this pass's.
                    if until.is_some_and(|u| record.epoch >= u && record.epoch < run.epochs) {
                        break;
                    }
                }
                Err(why) => {
                    ended = Some(Ended::Failed(why));
                    break;
                }
            }
        }
        let at = watch.records.len();
        if ended.is_none() && stopped.is_none() {
            if until.is_some_and(|u| at >= u && at < run.epochs) {
                stopped = Some(Stopped::Rung(at));
            } else if stop.load(Ordering::SeqCst) && at > resumed_from {
                stopped = Some(Stopped::Interrupted);
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                stopped = Some(Stopped::Timeout);
            }
            if stopped.is_some() && exited.is_none() {
                terminate(&mut child);
            }
        }
        if let Some(e) = ended {
            if exited.is_none() {
                terminate(&mut child);
            }
            break e;
        }
        if let Some(status) = exited {
            break match stopped {
                Some(Stopped::Rung(u)) => Ended::Paused(u),
                Some(Stopped::Interrupted) => Ended::Interrupted,
                Some(Stopped::Timeout) => Ended::Failed(format!(
                    "timed out after {} (timeout = {:?}); {} of {} epochs reported",
                    crate::fmt::duration(started.elapsed().as_secs_f64()),
                    humantime::format_duration(Duration::from_secs(
                        program.timeout.unwrap_or_default()
                    ))
                    .to_string(),
                    at,
                    run.epochs
                )),
                None if at >= run.epochs => Ended::Done,
                None if status.success() => Ended::Failed(match at - resumed_from {
                    0 => "the program exited 0 without reporting an epoch (append one JSON object per epoch to $SWEEP_METRICS, see docs/programs.md)".to_string(),
                    _ => format!(
                        "the program exited 0 after reporting {at} of {} epochs",
                        run.epochs
                    ),
                }),
                None => Ended::Failed(format!(
                    "the program exited with {status} after reporting {at} of {} epochs",
                    run.epochs
                )),
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let tail: Vec<String> = tail.join().unwrap_or_default();
    let (status, reason) = match outcome {
        Ended::Paused(u) => {
            log(
                report,
                run,
                &format!("stopped after epoch {u} (a rung of successive halving)"),
            );
            return Ok(WorkerExit::Paused(u));
        }
        Ended::Interrupted => return Ok(WorkerExit::Interrupted),
        Ended::Done => (RunState::Done, None),
        Ended::Diverged(why) => (RunState::Diverged, Some(why)),
        Ended::Failed(why) => (RunState::Failed, Some(why)),
    };
    let mut summary = store::summarize(
        run,
        &watch.records,
        status,
        reason.clone(),
        started.elapsed().as_secs_f64(),
    );
    if status != RunState::Done {
        summary.stderr_tail = tail;
    }
    store::write_epochs(&dir, &watch.records)?;
    store::write_summary(&dir, &summary)?;
    // A failed run keeps its checkpoints: `--retry-failed` goes on from them.
    if status != RunState::Failed {
        let _ = std::fs::remove_dir_all(&ckpt);
    }
    let _ = std::fs::remove_file(&metrics_path);
    match &reason {
        Some(r) => log(report, run, &format!("{}: {r}", status.name())),
        None => log(report, run, "done"),
    }
    Ok(WorkerExit::Finished(status))
}

/// How the program's run ended, as read.
enum Ended {
    Done,
    Failed(String),
    Diverged(String),
    Paused(usize),
    Interrupted,
}

/// Why we stopped the program.
#[derive(Clone, Copy)]
enum Stopped {
    Rung(usize),
    Interrupted,
    Timeout,
}

impl Watch {
    /// One reported line: a new epoch's record, nothing (a blank line), or why the report is
    /// wrong.
    fn take(&mut self, line: &str) -> std::result::Result<Option<EpochRecord>, String> {
        self.lines += 1;
        let line = line.trim();
        if line.is_empty() {
            return Ok(None);
        }
        let bad = |why: String| {
            format!(
                "reported line {} is not an epoch ({why}): {}",
                self.lines,
                line.chars().take(200).collect::<String>()
            )
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let o = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let epoch = o
            .get("epoch")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("no whole-number \"epoch\"".into()))? as usize;
        // A program told to resume that started over instead: its epochs again from 1.
        if epoch == 1 && self.records.len() == self.resumed_from && self.resumed_from > 0 {
            self.records.clear();
        }
        let want = self.records.len() + 1;
        if epoch != want {
            return Err(bad(format!("epoch {epoch} where epoch {want} was due")));
        }
        let metric = |name: &str| -> std::result::Result<Option<f64>, String> {
            match o.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                // JSON has no NaN: a program writing Python's NaN or "nan" diverged.
                Some(serde_json::Value::String(s))
                    if ["nan", "inf", "-inf", "infinity", "-infinity"]
                        .contains(&s.to_ascii_lowercase().as_str()) =>
                {
                    Ok(Some(f64::NAN))
                }
                Some(x) => x
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| bad(format!("\"{name}\" is not a number"))),
            }
        };
        let mut required = program::REQUIRED
            .iter()
            .map(|name| metric(name)?.ok_or_else(|| bad(format!("no \"{name}\""))));
        let mut next = || required.next().expect("four required metrics");
        let (train_loss, train_accuracy, val_loss, val_accuracy) =
            (next()?, next()?, next()?, next()?);
        let now = Instant::now();
        let seconds = metric("seconds")?
            .unwrap_or_else(|| now.duration_since(self.last_epoch_at).as_secs_f64());
        self.last_epoch_at = now;
        let record = EpochRecord {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            test_loss: metric("test_loss")?,
            test_accuracy: metric("test_accuracy")?,
            seconds,
            images_per_sec: metric("images_per_sec")?.unwrap_or(0.0),
            lr: metric("lr")?,
            extra: self
                .custom
                .iter()
                .filter_map(|name| {
                    metric(name)
                        .transpose()
                        .map(|v| v.map(|v| (name.clone(), v)))
                })
                .collect::<std::result::Result<_, _>>()?,
        };
        self.records.push(record.clone());
        Ok(Some(record))
    }
}

/// Start the program: argv and environment rendered from the run's settings, in its own
/// process group; stdout's `sweep:` lines to the returned channel, both streams appended to
/// `program.out` / `program.err`, and the last lines of stderr from the returned thread.
fn spawn(
    run: &Run,
    program: &Program,
    dir: &Path,
    rt: Runtime,
    resumed_from: usize,
    until: Option<usize>,
) -> Result<(
    Child,
    Receiver<String>,
    std::thread::JoinHandle<Vec<String>>,
)> {
    let settings = run.settings();
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let value = |name: &str| -> Option<String> {
        match name {
            "run_dir" => Some(abs.display().to_string()),
            "threads" => Some(rt.threads.to_string()),
            "device" => Some(rt.device.to_string()),
            "data_dir" => rt.data_dir.map(|d| d.display().to_string()),
            "optimizer_kind" => {
                (!run.optimizer_name.is_empty()).then(|| run.optimizer.kind().name().to_string())
            }
            _ => settings.get(name).map(ToString::to_string),
        }
    };
    let threads = rt.threads;
    let render = |t: &String| {
        program::render(t, &value).map_err(|name| {
            Error::Worker(format!(
                "program {}: {{{name}}} has no value for run {} ({{data_dir}} is a built-in dataset's folder)",
                program.name, run.id
            ))
        })
    };
    let argv = program
        .command
        .iter()
        .map(render)
        .collect::<Result<Vec<_>>>()?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&program.dir)
        .env("SWEEP_METRICS", abs.join(METRICS))
        .env("SWEEP_CHECKPOINT_DIR", abs.join(CHECKPOINT_DIR))
        .env("SWEEP_RUN_DIR", &abs)
        .env("SWEEP_RUN_ID", &run.id)
        .env("SWEEP_SEED", run.seed.to_string())
        .env("SWEEP_EPOCHS", run.epochs.to_string())
        .env("SWEEP_THREADS", threads.to_string())
        .env_remove("SWEEP_RESUME_EPOCH")
        .env_remove("SWEEP_UNTIL_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, t) in &program.env {
        cmd.env(k, render(t)?);
    }
    if resumed_from > 0 {
        cmd.env("SWEEP_RESUME_EPOCH", resumed_from.to_string());
    }
    if let Some(u) = until.filter(|u| *u < run.epochs) {
        cmd.env("SWEEP_UNTIL_EPOCH", u.to_string());
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    die_with_this_process(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        Error::Worker(format!(
            "program {}: cannot start `{}` (in {}): {e}",
            program.name,
            argv[0],
            program.dir.display()
        ))
    })?;
    let out = append(&dir.join("program.out"))?;
    let err = append(&dir.join("program.err"))?;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        let mut out = out;
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = writeln!(out, "{line}");
            if let Some(rest) = line.strip_prefix("sweep:") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let stderr = child.stderr.take().expect("piped");
    let tail = std::thread::spawn(move || {
        let mut err = err;
        let mut tail = VecDeque::new();
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = writeln!(err, "{line}");
            tail.push_back(line);
            if tail.len() > TAIL {
                tail.pop_front();
            }
        }
        tail.into_iter().collect()
    });
    Ok((child, rx, tail))
}

/// The program is killed when this worker ends, however it ends (kill -9 included): an
/// orphan would go on writing to the metrics file of a run trained again (Linux's
/// `PR_SET_PDEATHSIG`, set between fork and exec; spawned from the worker's main thread, whose
/// end is the process's).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_this_process(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_this_process(_: &mut Command) {}

/// What a program's placeholders may name besides its run's settings.
#[derive(Clone, Copy)]
struct Runtime<'a> {
    device: &'a str,
    /// The built-in dataset's folder (`{data_dir}`).
    data_dir: Option<&'a Path>,
    threads: usize,
}

/// New complete lines of the metrics file since `offset`.
fn read_new(f: &mut std::fs::File, offset: &mut u64, pending: &mut String, out: &mut Vec<String>) {
    if f.seek(SeekFrom::Start(*offset)).is_err() {
        return;
    }
    let mut buf = String::new();
    if let Ok(n) = f.read_to_string(&mut buf) {
        *offset += n as u64;
        pending.push_str(&buf);
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            out.push(line.trim_end().to_string());
        }
    }
}

/// SIGTERM to the program's process group, then SIGKILL after [`GRACE`]; waits for it.
fn terminate(child: &mut Child) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, killpg};
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let until = Instant::now() + GRACE;
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(group, Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn append(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn write_dir(path: &PathBuf) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })
}

fn emit(report: Report, e: &Event) {
    if report == Report::Events {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(e).expect("event serializes")
        );
        let _ = out.flush();
    }
}

fn log(report: Report, run: &Run, what: &str) {
    if report == Report::Log {
        eprintln!("{} ({}): {what}", run.display_label(), run.id);
    }
}

fn log_epoch(report: Report, run: &Run, r: &EpochRecord) {
    log(
        report,
        run,
        &format!(
            "epoch {}/{}: loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}%",
            r.epoch,
            run.epochs,
            r.train_loss,
            r.train_accuracy * 100.0,
            r.val_loss,
            r.val_accuracy * 100.0
        ),
    );
}
