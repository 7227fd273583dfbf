//! The scheduler on real MNIST: parallel runs are deterministic, a killed sweep resumes to the
//! same numbers, divergence is recorded, and a results directory has one writer.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const GRID: &str = "[sweep]\nname = \"g\"\ndataset = \"mnist\"\ntrain_subset = 1200\ntest_subset = 400\n\
[grid]\nmodel = [\"simple_nn\", \"enhanced_cnn\"]\noptimizer = [\"sgd\", \"adam\"]\nepochs = [2]\n";

fn summary(results: &Path, sweep: &str, id: &str) -> serde_json::Value {
    let p = results
        .join(sweep)
        .join("runs")
        .join(id)
        .join("summary.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn one_job_and_two_jobs_give_byte_identical_epochs() {
    let a = Sandbox::new();
    let b = Sandbox::new();
    a.write("m.toml", GRID);
    b.write("m.toml", GRID);
    a.sweep()
        .args(["run", "m.toml", "--jobs", "1"])
        .assert()
        .success();
    b.sweep()
        .args(["run", "m.toml", "--jobs", "2"])
        .assert()
        .success();
    let ea = epochs_by_run(&a.results(), "g");
    assert_eq!(ea.len(), 4);
    assert_eq!(ea, epochs_by_run(&b.results(), "g"));
}

/// Both runs' state comes back from a checkpoint: weights, optimizer state and, for the
/// batch-norm model, its moving statistics (a resume that lost them would evaluate differently).
#[test]
fn a_sweep_killed_mid_epoch_resumes_to_the_same_numbers() {
    let manifest = "[sweep]\nname = \"k\"\ndataset = \"mnist\"\ntrain_subset = 2000\ntest_subset = 300\n\
[[runs]]\nmodel = \"enhanced_cnn\"\noptimizer = \"adam\"\nepochs = 3\n\
[models.bn]\nlayers = [\n  { type = \"conv2d\", filters = 32, kernel = 3, activation = \"linear\" },\n  { type = \"batch_norm\", activation = \"relu\" },\n  { type = \"max_pool\", size = 2 },\n  { type = \"conv2d\", filters = 32, kernel = 3, activation = \"relu\" },\n  { type = \"max_pool\", size = 2 },\n  { type = \"flatten\" },\n  { type = \"dense\", units = 100, activation = \"relu\" },\n  { type = \"batch_norm\" },\n  { type = \"dense\", units = 10, activation = \"softmax\" },\n]\n\
[[runs]]\nmodel = \"bn\"\noptimizer = \"rmsprop\"\nepochs = 3\n";
    let reference = Sandbox::new();
    reference.write("m.toml", manifest);
    reference.sweep().args(["run", "m.toml"]).assert().success();

    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .args(["run", "m.toml", "--quiet"])
        .spawn()
        .unwrap();
    // Wait until some run has finished its first epoch, then kill in the middle of the next.
    let runs = sb.results().join("k/runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let first_epoch_done = std::fs::read_dir(&runs).into_iter().flatten().any(|e| {
            std::fs::read_to_string(e.unwrap().path().join("epochs.csv"))
                .is_ok_and(|s| s.lines().count() >= 2)
        });
        if first_epoch_done {
            break;
        }
        assert!(Instant::now() < deadline, "no epoch finished in time");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let unfinished = std::fs::read_dir(&runs)
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().path().join("summary.json").exists())
        .count();
    assert!(
        unfinished > 0,
        "the kill came too late to interrupt anything"
    );

    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("resumes after epoch"),
        "nothing was resumed"
    );
    let got = epochs_by_run(&sb.results(), "k");
    assert_eq!(got, epochs_by_run(&reference.results(), "k"));
    for (id, _) in &got {
        let (s, r) = (
            summary(&sb.results(), "k", id),
            summary(&reference.results(), "k", id),
        );
        assert_eq!(s["status"], "done");
        assert_eq!(s["last"]["val_accuracy"], r["last"]["val_accuracy"]);
        assert_eq!(s["last"]["train_loss"], r["last"]["train_loss"]);
        assert!(
            !sb.results()
                .join("k/runs")
                .join(id)
                .join("checkpoint.bin")
                .exists(),
            "checkpoint left behind"
        );
    }
}

#[test]
fn a_diverging_run_is_recorded_and_the_others_finish() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"d\"\ndataset = \"mnist\"\ntrain_subset = 600\ntest_subset = 200\nepochs = 2\n\
[optimizers.absurd]\nkind = \"sgd\"\nlr = 1e12\n\
[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"absurd\"\n\
[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"adam\"\n",
    );
    // `sweep run` exits 1 (a run diverged): its stderr.
    let run = || {
        let out = sb
            .sweep()
            .args(["run", "m.toml"])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone();
        String::from_utf8(out).unwrap()
    };
    let err = run();
    assert!(
        err.contains("simple_nn absurd") && err.contains("diverged"),
        "{err}"
    );
    let runs = sb.results().join("d/runs");
    let mut statuses: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| {
            let s: serde_json::Value = serde_json::from_slice(
                &std::fs::read(e.unwrap().path().join("summary.json")).unwrap(),
            )
            .unwrap();
            (
                s["status"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses[0].0, "diverged");
    assert!(statuses[0].1.contains("epoch 1"), "{:?}", statuses[0]);
    assert_eq!(statuses[1].0, "done");
    // The diverged run is skipped next time (exit 1 again), with its reason and what would
    // change it: retraining a deterministic run diverges again, so --retry-failed is not it.
    let err = run();
    assert!(
        err.contains(&format!("diverged: {}", statuses[0].1)),
        "{err}"
    );
    assert!(
        err.contains("smaller learning rate") && !err.contains("--retry-failed"),
        "{err}"
    );
}

#[test]
fn a_second_sweep_on_the_same_results_is_refused_and_nothing_is_corrupted() {
    let sb = Sandbox::new();
    sb.write("m.toml", "[sweep]\nname = \"c\"\ndataset = \"mnist\"\ntrain_subset = 3000\ntest_subset = 300\n[[runs]]\nmodel = \"enhanced_cnn\"\noptimizer = \"sgd\"\nepochs = 2\n");
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .args(["run", "m.toml", "--quiet"])
        .spawn()
        .unwrap();
    let lock = sb.results().join("c/.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty()) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(
        err.contains("in use") && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // A worker started by hand on the same run is turned away too.
    let run_json = std::fs::read_dir(sb.results().join("c/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("run.json");
    sb.sweep().arg("worker").arg(&run_json).assert().code(4);
    assert!(first.wait().unwrap().success());
    let runs: Vec<_> = std::fs::read_dir(sb.results().join("c/runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    assert_eq!(
        std::fs::read_to_string(run.join("epochs.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert_eq!(
        summary(
            &sb.results(),
            "c",
            run.file_name().unwrap().to_str().unwrap()
        )["status"],
        "done"
    );
}
