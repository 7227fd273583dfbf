//! Successive halving end to end, with real training on real MNIST: a sweep killed during its
//! second rung and resumed takes the same decisions and trains every run to the same epochs as
//! an uninterrupted one, and `--jobs 1` prunes the same runs as `--jobs 2`.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// 6 configurations x 2 seeds; rungs 1, 3, 5 keep half: 6 -> 3 -> 2 configurations.
const MANIFEST: &str = "[sweep]\nname = \"h\"\ndataset = \"mnist\"\nvalidation = 0.1\n\
train_subset = 6000\ntest_subset = 500\nseeds = [1, 2]\n\
[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nlr = [0.001, 0.01, 0.1]\n\
[search.halving]\nmetric = \"val_accuracy\"\nrungs = [1, 3, 5]\nkeep_fraction = 0.5\n";

fn run(sb: &Sandbox, jobs: &str) {
    sb.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", jobs])
        .assert()
        .success();
}

/// What a halving sweep decided and trained: halving.json, and per run its state, its pruned
/// rung and its epochs without the timing columns.
fn outcome(results: &Path) -> (String, Vec<(String, String, String)>) {
    let decisions = std::fs::read_to_string(results.join("h/halving.json")).unwrap();
    let runs = epochs_by_run(results, "h")
        .into_iter()
        .map(|(id, csv)| {
            let s: serde_json::Value = serde_json::from_slice(
                &std::fs::read(results.join("h/runs").join(&id).join("summary.json")).unwrap(),
            )
            .unwrap();
            (id, format!("{} {}", s["status"], s["pruned"]), csv)
        })
        .collect();
    (decisions, runs)
}

fn decided(results: &Path) -> usize {
    std::fs::read(results.join("h/halving.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map_or(0, |v| v["decided"].as_array().map_or(0, |a| a.len()))
}

#[test]
fn a_halving_sweep_killed_in_its_second_rung_resumes_to_the_same_decisions_and_jobs_do_not_matter()
{
    let two = Sandbox::new();
    two.write("m.toml", MANIFEST);
    run(&two, "2");
    let reference = outcome(&two.results());
    let pruned = reference
        .1
        .iter()
        .filter(|r| r.1.contains("pruned"))
        .count();
    let done = reference.1.iter().filter(|r| r.1.contains("done")).count();
    assert_eq!(
        (pruned, done),
        (8, 4),
        "6 -> 3 -> 2 configurations of 2 seeds"
    );
    let d: serde_json::Value = serde_json::from_str(&reference.0).unwrap();
    assert_eq!(d["decided"][0]["kept"], 3);
    assert_eq!(d["decided"][1]["kept"], 2);
    // Pruned runs stop at their rung's epoch; survivors train to the last rung.
    for (_, state, csv) in &reference.1 {
        let epochs = csv.lines().count() - 1;
        let want = if state.contains("\"rung\":1") {
            1
        } else if state.contains("\"rung\":2") {
            3
        } else {
            5
        };
        assert_eq!(epochs, want, "{state}");
    }

    let one = Sandbox::new();
    one.write("m.toml", MANIFEST);
    run(&one, "1");
    assert_eq!(
        outcome(&one.results()),
        reference,
        "--jobs 1 and --jobs 2 differ"
    );

    // Killed while the second rung trains: after rung 1's decision, once a surviving run has
    // trained past epoch 1, before rung 2's decision.
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .env("XDG_CACHE_HOME", sb.path().join(".cache"))
        .args(["run", "m.toml", "--quiet", "--jobs", "2"])
        .spawn()
        .unwrap();
    let runs = sb.results().join("h/runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let in_rung_2 = decided(&sb.results()) == 1
            && std::fs::read_dir(&runs).into_iter().flatten().any(|e| {
                let p = e.unwrap().path();
                !p.join("summary.json").exists()
                    && std::fs::read_to_string(p.join("epochs.csv"))
                        .is_ok_and(|c| c.lines().count() >= 3)
            });
        if in_rung_2 {
            break;
        }
        assert!(Instant::now() < deadline, "the second rung never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(decided(&sb.results()), 1, "the kill came too late");
    // The interrupted sweep shows where it stands.
    let status = sb.sweep().args(["status", "m.toml"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("pruned at rung 1 (epoch 1)")
            && status.contains("rung 1 (epoch 1) decided: 3 of 6 configurations went on")
            && status.contains("rung 2 (epoch 3):"),
        "{status}"
    );
    run(&sb, "2");
    assert_eq!(
        outcome(&sb.results()),
        reference,
        "killed and resumed differs from uninterrupted"
    );

    // Reports and status show the pruned runs with their rung.
    let report = sb
        .sweep()
        .args(["report", "results/h", "--format", "markdown"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(
        report.contains("| pruned at rung 1 (epoch 1) |")
            && report.contains("| pruned at rung 2 (epoch 3) |")
            && report.contains("Successive halving pruned 8 run(s) of 4 configuration(s)")
            && report.contains("(pruned at rung 2 (epoch 3)) | 0 | - |"),
        "{report}"
    );
    let status = sb.sweep().args(["status", "m.toml"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains("12 runs: 4 done, 8 pruned") && status.contains("pruned at rung 2"),
        "{status}"
    );
    // Nothing left: running again trains nothing and changes nothing.
    run(&sb, "2");
    assert_eq!(outcome(&sb.results()), reference);

    // A survivor killed after its last epoch, before its summary: the next run finishes it.
    let (survivor, _, _) = reference.1.iter().find(|r| r.1.contains("done")).unwrap();
    std::fs::remove_file(
        sb.results()
            .join("h/runs")
            .join(survivor)
            .join("summary.json"),
    )
    .unwrap();
    run(&sb, "2");
    assert_eq!(outcome(&sb.results()), reference);

    // The manifest's halving settings changed: status and run both refuse, naming halving.json,
    // and nothing is touched.
    sb.write(
        "m2.toml",
        &MANIFEST.replace("keep_fraction = 0.5", "keep_fraction = 0.34"),
    );
    for cmd in ["status", "run"] {
        let err = sb.stderr_of(
            &[cmd, "m2.toml", "--quiet"][..if cmd == "run" { 3 } else { 2 }],
            2,
        );
        assert!(
            err.contains("halving.json") && err.contains("keep_fraction = 0.5"),
            "{cmd}: {err}"
        );
    }
    assert_eq!(outcome(&sb.results()), reference);
}

#[test]
fn a_worker_stopped_at_a_rung_never_trains_past_it_when_its_checkpoint_is_ahead_of_its_csv() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"w\"\ndataset = \"mnist\"\nvalidation = 0.1\ntrain_subset = 1500\ntest_subset = 300\n\
[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"adam\"\n\
[search.halving]\nrungs = [1, 2]\n",
    );
    let plan = sb
        .sweep()
        .args(["plan", "m.toml", "--format", "json"])
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let run = &plan["runs"][0];
    assert_eq!(run["epochs"], 2, "the last rung sets the epochs");
    sb.write("run.json", &run.to_string());
    let worker = || {
        sb.sweep()
            .args(["worker", "run.json", "--results", "results", "--until", "1"])
            .assert()
            .success();
    };
    worker();
    let dir = sb
        .results()
        .join("w/runs")
        .join(run["id"].as_str().unwrap());
    let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "one epoch: {csv}");
    assert!(dir.join("checkpoint.bin").exists() && !dir.join("summary.json").exists());
    // Killed between the checkpoint and the CSV: the checkpoint holds epoch 1, the CSV none.
    std::fs::write(
        dir.join("epochs.csv"),
        csv.lines().next().unwrap().to_string() + "\n",
    )
    .unwrap();
    worker();
    assert_eq!(
        std::fs::read_to_string(dir.join("epochs.csv")).unwrap(),
        csv,
        "the epoch the checkpoint holds, and no more"
    );
    assert!(!dir.join("summary.json").exists());
}

#[test]
fn plan_shows_the_rungs_and_the_epochs_halving_spends() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    let out = sb
        .sweep()
        .args(["plan", "m.toml", "--no-calibrate"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // 12 runs x 1 epoch + 6 x 2 + 4 x 2 = 32 of 60.
    assert!(
        text.contains("successive halving on val_accuracy: rungs at epochs 1, 3, 5, keeping 50% at each: configurations per rung 6 -> 3 -> 2; 32 of those 60 epochs (53%)"),
        "{text}"
    );
}
