//! The worker protocol: what a worker process (`sweep worker`) tells its supervisor, one JSON
//! object per line on stdout ([`Event`]), and how it exits ([`WorkerExit::code`]). Burn-free, so
//! the supervisor and any other launcher speak it without the trainer.

use crate::results::record::{BatchProgress, EpochRecord};
use crate::results::store::RunState;
use serde::{Deserialize, Serialize};

/// What a worker tells its supervisor, one JSON object per line on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    Started { resumed_from: usize, batches: usize },
    Batch(BatchProgress),
    Epoch(EpochRecord),
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WorkerExit {
    /// Finished now, with this status.
    Finished(RunState),
    /// Already finished before; nothing done.
    AlreadyFinished(RunState),
    /// Stopped on request after a checkpoint; running it again resumes.
    Interrupted,
    /// Another process holds the run's lock.
    Busy(String),
    /// Trained to the epoch it was asked to stop at (a rung of successive halving), after a
    /// checkpoint: running it again with a later epoch goes on from there.
    Paused(usize),
}

impl WorkerExit {
    /// Exit codes of `sweep worker`, read back by the supervisor.
    pub(crate) fn code(&self) -> i32 {
        match self {
            WorkerExit::Finished(RunState::Done | RunState::Pruned)
            | WorkerExit::AlreadyFinished(RunState::Done | RunState::Pruned)
            | WorkerExit::Paused(_) => 0,
            WorkerExit::Finished(_) | WorkerExit::AlreadyFinished(_) => 1,
            WorkerExit::Interrupted => EXIT_INTERRUPTED,
            WorkerExit::Busy(_) => EXIT_BUSY,
        }
    }
}

/// A worker stopped on request after a checkpoint.
pub(crate) const EXIT_INTERRUPTED: i32 = 3;
/// Another process holds the run's lock.
pub(crate) const EXIT_BUSY: i32 = 4;

/// The prefix of the one stderr line a worker's panic hook writes: the panic's message and
/// where it happened, which the supervisor records as the run's failure reason.
pub(crate) const PANIC_MARKER: &str = "sweep worker panicked:";

/// Makes a panic in this (worker) process print one line, [`PANIC_MARKER`] + message +
/// location, instead of the default text and backtrace.
pub(crate) fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let one_line = message.replace('\n', " ");
        eprintln!("{PANIC_MARKER} {one_line}{at}");
    }));
}

/// The failure reason of a worker that exited with `status`, from the last lines of its stderr:
/// its panic message and location when it panicked, else the last lines themselves.
pub(crate) fn crash_reason(status: &str, stderr_tail: &[String]) -> String {
    match stderr_tail
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix(PANIC_MARKER))
    {
        Some(panic) => format!("worker panicked: {}", panic.trim()),
        None => match stderr_tail.join("\n").trim() {
            "" => format!("worker exited with {status} (it printed nothing)"),
            tail => format!("worker exited with {status}: {tail}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_line_becomes_the_reason_and_other_crashes_keep_their_tail() {
        let tail = vec![
            "loading".to_string(),
            format!("{PANIC_MARKER} index out of bounds at src/model.rs:10:5"),
        ];
        assert_eq!(
            crash_reason("exit status: 101", &tail),
            "worker panicked: index out of bounds at src/model.rs:10:5"
        );
        assert_eq!(
            crash_reason("signal: 9", &["last words".to_string()]),
            "worker exited with signal: 9: last words"
        );
        assert_eq!(
            crash_reason("signal: 9 (SIGKILL)", &[]),
            "worker exited with signal: 9 (SIGKILL) (it printed nothing)"
        );
    }

    #[test]
    fn events_are_one_tagged_json_object_a_line() {
        let e = Event::Started {
            resumed_from: 2,
            batches: 10,
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(line, r#"{"event":"started","resumed_from":2,"batches":10}"#);
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }
}
