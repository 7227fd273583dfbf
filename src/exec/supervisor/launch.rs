//! How a run is started: the seam between the supervisor and what trains. [`Launch`] starts a
//! run on a slot and hands back a [`Handle`] the supervisor polls, asks to stop and kills;
//! [`Worker`] is the built-in one, a `sweep worker` child process speaking
//! [`crate::exec::protocol`]. Other launchers (external programs, GPU devices) plug in here
//! without the supervisor changing.

use crate::error::{Error, Result};
use crate::exec::protocol::Event;
use crate::spec::device::DeviceName;
use crate::spec::manifest::Dataset;
use crate::spec::plan::Run;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// Where a run trains: a device and the threads it may use there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) device: DeviceName,
    pub(crate) threads: usize,
}

/// What a running run tells the supervisor.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A protocol event of run `run` (an index into the sweep's runs) on slot `slot`: an event a
    /// run sent just before it ended never lands on the next run of its slot.
    Event {
        slot: usize,
        run: usize,
        event: Event,
    },
    /// A `warning:` line a run wrote to stderr: shown even with --quiet.
    Warning(String),
}

/// A run's way to talk to the supervisor: its events, and warnings.
#[derive(Debug, Clone)]
pub(crate) struct Tell {
    pub(crate) slot: usize,
    pub(crate) run: usize,
    pub(crate) tx: Sender<Msg>,
}

impl Tell {
    pub(crate) fn event(&self, event: Event) {
        let _ = self.tx.send(Msg::Event {
            slot: self.slot,
            run: self.run,
            event,
        });
    }

    pub(crate) fn warning(&self, line: String) {
        let _ = self.tx.send(Msg::Warning(line));
    }
}

/// How a started run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Its exit code; `None` when a signal ended it.
    pub(crate) code: Option<i32>,
    /// As the OS says it ("exit status: 101", "signal: 9 (SIGKILL)").
    pub(crate) status: String,
}

/// One training pass of a run: `until` stops it after that epoch (a halving rung), `retry`
/// trains it again when it failed or diverged before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job<'a> {
    pub(crate) run: &'a Run,
    pub(crate) slot: &'a Slot,
    pub(crate) until: Option<usize>,
    pub(crate) retry: bool,
}

/// Starts runs.
pub(crate) trait Launch {
    /// Checks made before anything is written: a sweep whose runs cannot start (missing or
    /// damaged data) leaves the results untouched.
    fn prepare(&self, runs: &[&Run]) -> Result<()>;
    /// Start `job`; what it reports goes to `tell`.
    fn start(&self, job: Job<'_>, tell: Tell) -> Result<Box<dyn Handle>>;
}

/// A started run.
pub(crate) trait Handle {
    /// Ask it to stop after its next checkpoint.
    fn stop(&mut self);
    /// End it now (its last checkpoint resumes).
    fn kill(&mut self);
    /// How it ended, once it has.
    fn try_wait(&mut self) -> Result<Option<Exit>>;
    /// The last lines of its stderr (the crash reason comes from them).
    fn stderr_tail(&self) -> Vec<String>;
}

/// The built-in launcher: each run in a `sweep worker` child process.
///
/// Why processes: burn's CPU backends keep one process-global RNG and thread pool. A child per
/// run isolates both, gives each run its own thread budget (`RAYON_NUM_THREADS`), and is the
/// same unit Slurm array tasks execute.
pub(crate) struct Worker {
    exe: PathBuf,
    results: PathBuf,
    data_dir: Option<PathBuf>,
    /// The built-in dataset's directory, once [`Launch::prepare`] found it.
    located: Mutex<Option<PathBuf>>,
}

impl Worker {
    pub(crate) fn new(results: &Path, data_dir: Option<&Path>) -> Result<Worker> {
        Ok(Worker {
            exe: worker_executable()?,
            results: results.to_path_buf(),
            data_dir: data_dir.map(Path::to_path_buf),
            located: Mutex::new(None),
        })
    }

    fn data_dir(&self, dataset: &Dataset) -> Result<PathBuf> {
        let mut located = self.located.lock().expect("data dir lock");
        if let Some(d) = located.as_ref() {
            return Ok(d.clone());
        }
        let d = crate::data::locate(dataset, self.data_dir.as_deref())?;
        *located = Some(d.clone());
        Ok(d)
    }
}

/// The executable workers start from: on Linux the very binary this process runs
/// (`/proc/self/exe`, which stays that build even when `cargo build` or `cargo install` replaces
/// the file under a running sweep), elsewhere the path it was started from.
fn worker_executable() -> Result<PathBuf> {
    let this = Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && this.exists() {
        return Ok(this.to_path_buf());
    }
    std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find the sweep executable: {e}")))
}

impl Launch for Worker {
    fn prepare(&self, runs: &[&Run]) -> Result<()> {
        // Prepare and verify the data before anything is written, so bad data leaves results/
        // untouched; the workers map the prepared file.
        // A program reads its own data: only the built-in trainer's runs need it here.
        if let Some(first) = runs.iter().find(|r| r.program.is_none()) {
            let d = &first.data;
            let dir = match d.dataset.is_builtin() {
                true => Some(self.data_dir(&d.dataset)?),
                false => None,
            };
            crate::data::open_verified(&d.dataset, &d.digest, dir.as_deref())?;
        }
        Ok(())
    }

    fn start(&self, job: Job<'_>, tell: Tell) -> Result<Box<dyn Handle>> {
        let dir = crate::results::store::run_dir(&self.results, job.run);
        let mut cmd = Command::new(&self.exe);
        // Started through /proc/self/exe, a worker would be listed as `exe`.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::arg0(&mut cmd, "sweep");
        cmd.arg("worker")
            .arg(dir.join("run.json"))
            .arg("--results")
            .arg(&self.results)
            .args(match job.run.data.dataset.is_builtin() {
                true => vec!["--data-dir".into(), self.data_dir(&job.run.data.dataset)?],
                false => Vec::new(),
            })
            .arg("--device")
            .arg(job.slot.device.to_string())
            .arg("--supervised")
            .env("RAYON_NUM_THREADS", job.slot.threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if job.retry {
            cmd.arg("--retry-failed");
        }
        if let Some(u) = job.until {
            cmd.arg("--until").arg(u.to_string());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Worker(format!("cannot start one: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let events = tell.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    events.event(e);
                }
            }
        });
        let stderr = child.stderr.take().expect("piped");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let reader = collect_stderr(stderr, tail.clone(), tell);
        Ok(Box::new(Process {
            stdin: child.stdin.take(),
            child,
            tail,
            reader: Some(reader),
        }))
    }
}

/// The last [`TAIL`] lines of a child's stderr into `tail`; `warning:` lines to the supervisor.
fn collect_stderr(
    stderr: impl std::io::Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
    tell: Tell,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            if l.starts_with("warning:") {
                tell.warning(l.clone());
            }
            let mut t = tail.lock().expect("tail lock");
            t.push_back(l);
            if t.len() > TAIL {
                t.pop_front();
            }
        }
    })
}

/// Lines of stderr kept for a crash's reason.
const TAIL: usize = 20;

/// A worker child process.
struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// The thread reading stderr: joined once the child has ended, so the tail is whole.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Handle for Process {
    fn stop(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "stop");
            let _ = stdin.flush();
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn try_wait(&mut self) -> Result<Option<Exit>> {
        let status = self
            .child
            .try_wait()
            .map_err(|e| Error::Worker(e.to_string()))?;
        Ok(status.map(|s| {
            // The child has ended and its stderr is closed: the reader ends with the last line.
            if let Some(r) = self.reader.take() {
                let _ = r.join();
            }
            Exit {
                code: s.code(),
                status: s.to_string(),
            }
        }))
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.tail.lock().expect("tail").iter().cloned().collect()
    }
}
