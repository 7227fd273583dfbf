//! Helpers for integration tests that drive the real `sweep` binary in a temporary directory.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The real datasets: SWEEP_DATA_DIR, else ../shared/data beside the repository.
pub(crate) fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SWEEP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    // Commands run in sandboxes: a relative SWEEP_DATA_DIR means relative to here.
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    assert!(
        dir.join("mnist/train-images-idx3-ubyte.gz").is_file()
            || dir.join("mnist/train-images-idx3-ubyte").is_file(),
        "real MNIST not found in {}: set SWEEP_DATA_DIR to a directory holding mnist/",
        dir.display()
    );
    dir
}

/// A temporary working directory with a `sweep` command factory.
pub(crate) struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file under the sandbox and return its path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `sweep` running in the sandbox, reading real data, with no cache directory to fall back on.
    pub(crate) fn sweep(&self) -> Command {
        let mut c = Command::cargo_bin("sweep").unwrap();
        c.current_dir(self.path())
            .env("SWEEP_DATA_DIR", data_dir())
            .env("XDG_CACHE_HOME", self.path().join(".cache"))
            .env_remove("SWEEP_RESULTS");
        c
    }

    pub(crate) fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    /// The stderr of `sweep ARGS` in the sandbox, asserting its exit code.
    /// What `sweep <args>` prints on stdout, asserting that it succeeds.
    pub(crate) fn stdout_of(&self, args: &[&str]) -> String {
        let out = self
            .sweep()
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn stderr_of(&self, args: &[&str], code: i32) -> String {
        let out = self
            .sweep()
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .clone();
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A sandbox holding `manifest` as m.toml, trained there by a local `sweep run` (the
/// reference other ways of running it are compared with).
pub(crate) fn trained_locally(manifest: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    sb
}

/// The repository's own file.
pub(crate) fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// epochs.csv with the timing columns (seconds, images_per_sec) removed.
pub(crate) fn epochs_without_timing(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let timing: Vec<usize> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split(',')
        .enumerate()
        .filter(|(_, h)| ["seconds", "images_per_sec"].contains(h))
        .map(|(i, _)| i)
        .collect();
    text.lines()
        .map(|l| {
            let cols: Vec<_> = l
                .split(',')
                .enumerate()
                .filter(|(i, _)| !timing.contains(i))
                .map(|(_, c)| c)
                .collect();
            cols.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// run id -> epochs.csv without timing columns, for every run of `results/<sweep>`.
pub(crate) fn epochs_by_run(results: &Path, sweep: &str) -> Vec<(String, String)> {
    let runs = results.join(sweep).join("runs");
    let mut out: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| {
            let id = e.unwrap().file_name().into_string().unwrap();
            let csv = epochs_without_timing(&runs.join(&id).join("epochs.csv"));
            (id, csv)
        })
        .collect();
    out.sort();
    out
}
