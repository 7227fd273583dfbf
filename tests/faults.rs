//! Fault injection on real (small) MNIST results: files damaged as a flaky disk or a careless
//! user would damage them, copied run directories, a diverging optimizer and a damaged
//! checkpoint. Each case asserts what `status`, `report`, `check` and `run` do about it, and
//! that nothing panics.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Two seeds of a small held-out sweep: 3 epochs of Simple NN + SGD on 1,000 images.
const MANIFEST: &str = "[sweep]\nname = \"f\"\ndataset = \"mnist\"\nvalidation = 0.1\n\
train_subset = 1000\ntest_subset = 300\nseeds = [1, 2]\n\
[[runs]]\nlabel = \"nn\"\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 3\n";

/// A sandbox holding the finished sweep `f` and its baseline (`b.json`).
fn finished() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    sb.sweep()
        .args(["check", "results/f", "--save-baseline", "b.json"])
        .assert()
        .success();
    sb
}

fn run_dirs(sb: &Sandbox) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sb.results().join("f/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// stdout and stderr of a command, asserting its exit code and that nothing panicked.
fn outputs(mut cmd: assert_cmd::Command, code: i32) -> (String, String) {
    let out = cmd.assert().code(code).get_output().clone();
    let (o, e) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(!e.contains("panicked at"), "{e}");
    (o, e)
}

fn cmd(sb: &Sandbox, args: &[&str]) -> assert_cmd::Command {
    let mut c = sb.sweep();
    c.args(args);
    c
}

/// How many seeds of configuration `nn` the report averages (its JSON's `n`).
fn seeds_in_mean(sb: &Sandbox) -> u64 {
    let (json, _) = outputs(cmd(sb, &["report", "results/f", "--format", "json"]), 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sweeps = v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    sweeps[0]["configs"][0]["n"].as_u64().unwrap()
}

fn assert_corrupt_everywhere(sb: &Sandbox, what: &str) {
    let (status, _) = outputs(cmd(sb, &["status", "m.toml"]), 0);
    assert!(status.contains("corrupt"), "status after {what}:\n{status}");
    let (report, _) = outputs(cmd(sb, &["report", "results/f", "--format", "markdown"]), 0);
    assert!(
        report.contains("corrupt run(s) are left out"),
        "report after {what}:\n{report}"
    );
    let (_, err) = outputs(cmd(sb, &["check", "results/f", "--baseline", "b.json"]), 2);
    assert!(err.contains("corrupt"), "check after {what}: {err}");
    let (_, err) = outputs(cmd(sb, &["diff", "results/f", "results/f"]), 0);
    assert!(
        err.contains("a corrupt run is left out"),
        "diff after {what}: {err}"
    );
}

/// `sweep run` trains corrupt runs again, to the numbers of an undamaged sweep.
fn assert_run_repairs(sb: &Sandbox, reference: &[(String, String)]) {
    let (_, err) = outputs(cmd(sb, &["run", "m.toml", "--quiet"]), 0);
    assert!(err.contains("again from scratch"), "{err}");
    assert_eq!(&epochs_by_run(&sb.results(), "f"), reference);
    outputs(cmd(sb, &["check", "results/f", "--baseline", "b.json"]), 0);
}

#[test]
fn a_damaged_epochs_csv_is_corrupt_until_run_trains_it_again() {
    let sb = finished();
    let reference = epochs_by_run(&sb.results(), "f");
    assert_eq!(seeds_in_mean(&sb), 2);
    let csv = run_dirs(&sb)[0].join("epochs.csv");
    let original = std::fs::read_to_string(&csv).unwrap();

    // The last row removed: still valid CSV, wrong numbers.
    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(&csv, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    assert_corrupt_everywhere(&sb, "removing the last row");
    assert_eq!(seeds_in_mean(&sb), 1, "the corrupt seed is still averaged");
    assert_run_repairs(&sb, &reference);

    // Emptied, then deleted.
    std::fs::write(&csv, "").unwrap();
    assert_corrupt_everywhere(&sb, "emptying it");
    assert_run_repairs(&sb, &reference);
    std::fs::remove_file(&csv).unwrap();
    assert_corrupt_everywhere(&sb, "deleting it");
    assert_run_repairs(&sb, &reference);

    // One digit changed in place, same length.
    let mut bytes = original.clone().into_bytes();
    let i = original.rfind(",0.").unwrap() + 3;
    bytes[i] = if bytes[i] == b'1' { b'2' } else { b'1' };
    std::fs::write(&csv, bytes).unwrap();
    assert_corrupt_everywhere(&sb, "changing a digit");
    assert_run_repairs(&sb, &reference);
}

#[test]
fn files_that_do_not_parse_are_corrupt_and_stray_files_are_ignored() {
    let sb = finished();
    let reference = epochs_by_run(&sb.results(), "f");
    let dir = run_dirs(&sb)[0].clone();

    // A file beside the run directories is not a run: every command goes on.
    std::fs::write(sb.results().join("f/runs/.DS_Store"), "").unwrap();
    outputs(cmd(&sb, &["status", "m.toml"]), 0);
    outputs(cmd(&sb, &["check", "results/f", "--baseline", "b.json"]), 0);
    assert_eq!(seeds_in_mean(&sb), 2);
    std::fs::remove_file(sb.results().join("f/runs/.DS_Store")).unwrap();

    // A row that is not CSV of an epoch, and a summary that is not JSON: corrupt, not fatal.
    let csv = dir.join("epochs.csv");
    let original = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, format!("{original}garbage,,x\n")).unwrap();
    assert_corrupt_everywhere(&sb, "appending a row that does not parse");
    assert_run_repairs(&sb, &reference);
    std::fs::write(dir.join("summary.json"), "{").unwrap();
    assert_corrupt_everywhere(&sb, "truncating summary.json");
    assert_run_repairs(&sb, &reference);

    // run.json that does not parse: status (which knows the plan) calls the run corrupt; report
    // cannot show it and says how to repair it; run writes it again from the manifest, and the
    // results, which agree with it, are kept.
    std::fs::write(dir.join("run.json"), "{").unwrap();
    let (status, _) = outputs(cmd(&sb, &["status", "m.toml"]), 0);
    assert!(status.contains("not a run description"), "{status}");
    let (_, err) = outputs(cmd(&sb, &["report", "results/f"]), 2);
    assert!(
        err.contains("run.json") && err.contains("sweep run"),
        "{err}"
    );
    outputs(cmd(&sb, &["run", "m.toml", "--quiet"]), 0);
    assert_eq!(&epochs_by_run(&sb.results(), "f"), &reference);
    outputs(cmd(&sb, &["check", "results/f", "--baseline", "b.json"]), 0);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn copied_or_edited_run_directories_never_count_as_seeds() {
    let sb = finished();
    let first = run_dirs(&sb)[0].clone();
    for i in 0..5 {
        copy_dir(&first, &first.with_file_name(format!("copy{i}")));
    }
    assert_corrupt_everywhere(&sb, "copying a run directory");
    assert_eq!(seeds_in_mean(&sb), 2, "copies counted as seeds");
    for i in 0..5 {
        std::fs::remove_dir_all(first.with_file_name(format!("copy{i}"))).unwrap();
    }
    outputs(cmd(&sb, &["check", "results/f", "--baseline", "b.json"]), 0);

    // run.json edited (another learning rate): it no longer hashes to its directory's id.
    let run_json = first.join("run.json");
    let text = std::fs::read_to_string(&run_json).unwrap();
    std::fs::write(&run_json, text.replacen("\"lr\": 0.01", "\"lr\": 0.02", 1)).unwrap();
    assert_corrupt_everywhere(&sb, "editing run.json");
    let (status, _) = outputs(cmd(&sb, &["status", "m.toml"]), 0);
    assert!(status.contains("the file was edited"), "{status}");
}

#[test]
fn a_loss_far_above_a_uniform_guess_is_divergence() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"d\"\ndataset = \"mnist\"\ntrain_subset = 2000\ntest_subset = 200\nepochs = 2\n\
[optimizers.huge]\nkind = \"sgd\"\nlr = 1e6\n\
[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"huge\"\n",
    );
    let (_, err) = outputs(cmd(&sb, &["run", "m.toml"]), 1);
    assert!(err.contains("diverged"), "{err}");
    let dir = std::fs::read_dir(sb.results().join("d/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["status"], "diverged");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("divergence bound") && reason.contains("epoch 1, batch"),
        "{reason}"
    );

    // The bound is the manifest's to set, and checked there.
    sb.write(
        "bad.toml",
        "[sweep]\nname = \"d\"\ndataset = \"mnist\"\nmax_loss = -1.0\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n",
    );
    let (_, err) = outputs(cmd(&sb, &["plan", "bad.toml"]), 2);
    assert!(
        err.contains("bad.toml:4:12") && err.contains("max_loss must be a positive number"),
        "{err}"
    );
}

#[test]
fn a_damaged_checkpoint_is_never_resumed_from() {
    let manifest = "[sweep]\nname = \"c\"\ndataset = \"mnist\"\ntrain_subset = 1500\ntest_subset = 300\n\
[[runs]]\nmodel = \"simple_cnn\"\noptimizer = \"adam\"\nepochs = 12\n";
    let reference = Sandbox::new();
    reference.write("m.toml", manifest);
    reference
        .sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();

    // Kill the sweep after its first epoch: an unfinished run with a checkpoint.
    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .args(["run", "m.toml", "--quiet"])
        .spawn()
        .unwrap();
    let runs = sb.results().join("c/runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    let checkpoint = loop {
        let found = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path().join("checkpoint.bin"))
            .find(|p| p.exists());
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no checkpoint in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !checkpoint.with_file_name("summary.json").exists(),
        "the kill came too late"
    );

    // 4 KiB of plausible floats written over the middle of the weights, size unchanged.
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid..mid + 4096].iter_mut().enumerate() {
        *b = 0.0123f32.to_le_bytes()[i % 4];
    }
    std::fs::write(&checkpoint, &bytes).unwrap();

    let (_, err) = outputs(cmd(&sb, &["run", "m.toml"]), 0);
    assert!(
        err.contains("damaged checkpoint (checksum mismatch)") && err.contains("from scratch"),
        "{err}"
    );
    assert_eq!(
        epochs_by_run(&sb.results(), "c"),
        epochs_by_run(&reference.results(), "c"),
        "a run restarted from scratch must give the numbers of an uninterrupted one"
    );
    assert!(checkpoint.with_file_name("checkpoint.bin.corrupt").exists());
}

/// `label`'s run of results/<sweep>: (summary, epochs.csv rows as column name -> value).
fn run_of(
    sb: &Sandbox,
    sweep: &str,
    label: &str,
) -> (serde_json::Value, Vec<Vec<(String, String)>>) {
    for e in std::fs::read_dir(sb.results().join(sweep).join("runs")).unwrap() {
        let dir = e.unwrap().path();
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        if !s["label"].as_str().unwrap().starts_with(label) {
            continue;
        }
        let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
        let header: Vec<String> = csv
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        let rows = csv
            .lines()
            .skip(1)
            .map(|l| {
                header
                    .iter()
                    .cloned()
                    .zip(l.split(',').map(String::from))
                    .collect()
            })
            .collect();
        return (s, rows);
    }
    panic!("no run labelled {label}");
}

fn get(row: &[(String, String)], col: &str) -> String {
    row.iter().find(|(k, _)| k == col).unwrap().1.clone()
}

#[test]
fn held_out_runs_are_tested_on_the_test_images_with_the_best_epoch_weights() {
    // Held out: the last 100 of the first 1,000 training images validate; the 10,000 test
    // images test. "on test": the same 900 training images, validated on the 10,000 test
    // images. Common random numbers give both the same weights at every epoch.
    let sb = Sandbox::new();
    let head = |name: &str, v: &str, n: usize| {
        format!(
            "[sweep]\nname = \"{name}\"\ndataset = \"mnist\"\nvalidation = {v}\ntrain_subset = {n}\nseeds = [3]\n"
        )
    };
    let runs = |epochs: usize| {
        format!(
            "[[runs]]\nlabel = \"cnn{epochs}\"\nmodel = \"simple_cnn\"\noptimizer = \"sgd\"\nepochs = {epochs}\n"
        )
    };
    sb.write("h.toml", &(head("h", "0.1", 1000) + &runs(6)));
    sb.write("t.toml", &(head("t", "\"test\"", 900) + &runs(6)));
    for m in ["h.toml", "t.toml"] {
        outputs(cmd(&sb, &["run", m, "--quiet"]), 0);
    }
    let (held, rows) = run_of(&sb, "h", "cnn6");
    let (_, on_test) = run_of(&sb, "t", "cnn6");
    assert_eq!(held["test_images"], 10_000);
    assert_eq!(held["test_is_validation"], false);
    let val: Vec<f64> = rows
        .iter()
        .map(|r| get(r, "val_accuracy").parse().unwrap())
        .collect();
    for (i, r) in rows.iter().enumerate() {
        // Only epochs that improved the best validation accuracy, and the last, are tested ...
        let improved = val[..i].iter().all(|&v| val[i] > v);
        let test = get(r, "test_accuracy");
        assert_eq!(
            !test.is_empty(),
            improved || i + 1 == rows.len(),
            "epoch {}",
            i + 1
        );
        // ... and on the 10,000 test images: the same numbers as validating on them.
        if !test.is_empty() {
            assert_eq!(test, get(&on_test[i], "val_accuracy"), "epoch {}", i + 1);
            assert_eq!(
                get(r, "test_loss"),
                get(&on_test[i], "val_loss"),
                "epoch {}",
                i + 1
            );
        }
    }
    assert_eq!(
        held["test_accuracy"].as_f64().unwrap().to_string(),
        get(rows.last().unwrap(), "test_accuracy")
    );

    // The best epoch's weights are the ones tested: a run stopped at that epoch is the same
    // network, and its final test accuracy is the longer run's best-epoch one.
    let best = held["best_epoch"].as_u64().unwrap() as usize;
    if best == 6 {
        assert_eq!(held["best_epoch_test_accuracy"], held["test_accuracy"]);
        return;
    }
    sb.write("h.toml", &(head("h", "0.1", 1000) + &runs(6) + &runs(best)));
    outputs(cmd(&sb, &["run", "h.toml", "--quiet"]), 0);
    let (short, _) = run_of(&sb, "h", &format!("cnn{best}"));
    assert_eq!(short["test_accuracy"], held["best_epoch_test_accuracy"]);
    assert_eq!(short["test_loss"], held["best_epoch_test_loss"]);
}

#[test]
fn status_asks_the_lock_not_a_pid_written_in_it() {
    let sb = finished();
    let dir = run_dirs(&sb)[0].clone();
    // Unfinished: its summary removed (run.json and epochs.csv remain).
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    // A live pid written in the lock file, but nobody holds the lock: not running.
    std::fs::write(
        dir.join(".lock"),
        format!("training run x by pid {} on here\n", std::process::id()),
    )
    .unwrap();
    let (status, _) = outputs(cmd(&sb, &["status", "m.toml"]), 0);
    assert!(
        status.contains("incomplete") && !status.contains("running"),
        "{status}"
    );
    // The lock held (flock(1) takes the same flock a worker takes): running.
    let mut holder = std::process::Command::new("flock")
        .arg(dir.join(".lock"))
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux");
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = outputs(cmd(&sb, &["status", "m.toml"]), 0);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(status.contains("running"), "{status}");
}

/// An atomic write killed mid-way (kill -9 between creating its temporary file and renaming it)
/// leaves a `.tmpXXXXXX` in the run's directory; the next worker to take the run's lock removes
/// it, and the run trains as if it were not there.
#[test]
fn a_temporary_file_left_by_a_killed_write_is_removed_when_the_run_is_taken() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    let (plan, _) = outputs(cmd(&sb, &["plan", "m.toml", "--format", "json"]), 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let id = plan["runs"][0]["id"].as_str().unwrap();
    let dir = sb.results().join("f/runs").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join(".tmpAb12Cd");
    std::fs::write(&stale, b"epoch,train_loss,tra").unwrap();
    outputs(cmd(&sb, &["run", "m.toml", "--quiet"]), 0);
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert!(dir.join("summary.json").is_file());
    let leftovers: Vec<_> = run_dirs(&sb)
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
