//! A search that learns (`[search] method = "tpe"`), end to end with real training on real
//! MNIST: the batches it proposes are the same at `--jobs 1` and `--jobs 2`, and after kill -9
//! at a batch boundary and in the middle of a batch; `status` and `plan` say where it stands.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// 8 configurations (optimizer x learning rate) x 2 seeds, in batches of 2 after 2 Sobol points.
const MANIFEST: &str = "[sweep]\nname = \"t\"\ndataset = \"mnist\"\nvalidation = 0.1\n\
train_subset = 3000\ntest_subset = 500\nepochs = 2\nseeds = [1, 2]\n\
[search]\nmethod = \"tpe\"\nsamples = 8\nbatch = 2\nseed = 4\n\
[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nlr = { log_uniform = [1e-3, 0.3] }\n";

fn run(sb: &Sandbox, jobs: &str) {
    sb.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", jobs])
        .assert()
        .success();
}

/// What the search proposed (search.json, as written) and every run's epochs without timing.
fn outcome(results: &Path) -> (String, Vec<(String, String)>) {
    let proposals = std::fs::read_to_string(results.join("t/search.json")).unwrap();
    (proposals, epochs_by_run(results, "t"))
}

fn batches(results: &Path) -> usize {
    std::fs::read(results.join("t/search.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map_or(0, |v| v["batches"].as_array().map_or(0, |a| a.len()))
}

fn spawn(sb: &Sandbox) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .env("XDG_CACHE_HOME", sb.path().join(".cache"))
        .args(["run", "m.toml", "--quiet", "--jobs", "2"])
        .spawn()
        .unwrap()
}

/// Kill -9 `sweep run` once `ready` holds (polled every millisecond, five minutes at most).
fn kill_when(sb: &Sandbox, ready: impl Fn() -> bool) {
    let mut child = spawn(sb);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        assert!(Instant::now() < deadline, "the moment to kill never came");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn tpe_proposes_the_same_batches_at_any_jobs_and_after_kill_9() {
    let two = Sandbox::new();
    two.write("m.toml", MANIFEST);
    run(&two, "2");
    let reference = outcome(&two.results());
    let p: serde_json::Value = serde_json::from_str(&reference.0).unwrap();
    let sizes: Vec<usize> = p["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["points"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 2, 2], "{p}");
    assert_eq!(p["batches"][3]["learnt_from"], 6);
    assert_eq!(reference.1.len(), 16, "8 configurations x 2 seeds");
    let mut labels: Vec<&str> = p["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["labels"].as_array().unwrap())
        .map(|l| l.as_str().unwrap())
        .collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(
        labels.len(),
        8,
        "no configuration proposed twice: {labels:?}"
    );

    let one = Sandbox::new();
    one.write("m.toml", MANIFEST);
    run(&one, "1");
    assert_eq!(
        outcome(&one.results()),
        reference,
        "--jobs 1 and --jobs 2 differ"
    );

    // Killed at a batch boundary: as soon as batch 2 is written.
    let boundary = Sandbox::new();
    boundary.write("m.toml", MANIFEST);
    kill_when(&boundary, || batches(&boundary.results()) >= 2);
    assert_eq!(batches(&boundary.results()), 2, "the kill came too late");
    run(&boundary, "2");
    assert_eq!(
        outcome(&boundary.results()),
        reference,
        "killed at a boundary"
    );

    // Killed in the middle of batch 3: one of its runs has an epoch, none has finished.
    let mid = Sandbox::new();
    mid.write("m.toml", MANIFEST);
    let runs = mid.results().join("t/runs");
    kill_when(&mid, || {
        batches(&mid.results()) == 3
            && std::fs::read_dir(&runs).into_iter().flatten().any(|e| {
                let p = e.unwrap().path();
                !p.join("summary.json").exists()
                    && std::fs::read_to_string(p.join("epochs.csv"))
                        .is_ok_and(|c| c.lines().count() >= 2)
            })
    });
    assert_eq!(batches(&mid.results()), 3, "the kill came too late");
    let status = String::from_utf8(
        mid.sweep()
            .args(["status", "m.toml"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        status.contains("TPE search on val_accuracy: 6 of 8 configurations proposed")
            && status.contains("batch 1: 2 Sobol points")
            && status.contains("batch 3: 2 proposed from 4 configurations, best "),
        "{status}"
    );
    run(&mid, "2");
    assert_eq!(outcome(&mid.results()), reference, "killed mid-batch");
    // Done: running again trains and proposes nothing.
    run(&mid, "2");
    assert_eq!(outcome(&mid.results()), reference);

    // A changed search space cannot go on from these proposals.
    mid.write("m2.toml", &MANIFEST.replace("0.3] }", "0.5] }"));
    let err = mid.stderr_of(&["run", "m2.toml", "--quiet"], 2);
    assert!(
        err.contains("search.json") && err.contains("another search"),
        "{err}"
    );
}

#[test]
fn plan_shows_the_first_batch_and_what_comes_after() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    let out = sb
        .sweep()
        .args(["plan", "m.toml"])
        .env("XDG_CACHE_HOME", sb.path().join(".cache"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("4 runs")
            && text.contains(
                "TPE search: these are its first 2 configurations (Sobol points); the other 6 are proposed 2 at a time"
            ),
        "{text}"
    );
}
