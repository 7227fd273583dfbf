//! Sweeps on a real Slurm cluster, trained on real MNIST and compared with the same manifest run
//! locally. The cluster tests need one answering `sinfo`: `.ci/slurm up` starts a single-node
//! cluster with munge and prints the `SLURM_CONF` to export (CI does this). Without Slurm they say
//! why they are skipped, except under `CI=true`, where they fail.
//! The tests that need no cluster (dry run, missing sbatch, missing binary) always run.

mod common;
use common::*;
use std::process::Command as Std;

const SWEEP: &str = "[sweep]\nname = \"s\"\ndataset = \"mnist\"\ntrain_subset = 1500\ntest_subset = 300\n\
[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"sgd\", \"adam\"]\nepochs = [2]\n";

/// Whether a Slurm cluster answers; panics under CI=true when none does.
///
/// A node that another test's `scancel` left `completing` (or `mixed-`, `idle*` while slurmd
/// re-registers) is a cluster that answers: the probe strips sinfo's state flags and waits up to
/// a minute for a node that takes jobs, so that the tests' order cannot fail them.
fn slurm_or_skip(test: &str) -> bool {
    let probe = || {
        Std::new("sinfo")
            .args(["--noheader", "--format=%T"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let usable = |states: &str| {
        states.lines().any(|l| {
            let base = l
                .trim()
                .trim_end_matches(['*', '~', '#', '!', '%', '$', '@', '^', '-', '+']);
            ["idle", "mixed", "allocated", "completing", "planned"].contains(&base)
        })
    };
    let mut up = false;
    let mut said = String::from("nothing (sinfo missing or failing)");
    // sinfo missing or failing: no cluster, say so at once. Answering but busy: wait for it.
    if let Some(first) = probe() {
        up = usable(&first);
        said = first;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !up && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if let Some(states) = probe() {
                up = usable(&states);
                said = states;
            }
        }
    }
    if up {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: CI=true but no Slurm node takes jobs (sinfo said {:?}); `.ci/run` starts one with `.ci/slurm up`",
            said.trim()
        );
    }
    // Straight to stderr: libtest's capture would hide an eprintln! of a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no Slurm cluster answers `sinfo`. Start a single-node one with \
         `eval \"$(.ci/slurm up)\"` (root or sudo; installs slurm and munge with apt) and run again."
    );
    false
}

fn submit(sb: &Sandbox, extra: &[&str]) -> (String, String, i32) {
    let out = sb
        .sweep()
        .args(["submit", "m.toml"])
        .args(extra)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn wait(sb: &Sandbox) {
    let out = sb
        .sweep()
        .args(["wait", "m.toml", "--interval", "0.5", "--timeout", "600"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sweep wait: {}\n{}\nlogs:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        logs(sb)
    );
}

fn logs(sb: &Sandbox) -> String {
    let dir = sb.results().join("s/slurm/logs");
    let mut s = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        s += &format!("== {}\n", e.path().display());
        s += &std::fs::read_to_string(e.path()).unwrap_or_default();
    }
    s
}

fn status(sb: &Sandbox) -> String {
    let out = sb.sweep().args(["status", "m.toml"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_sweep_on_slurm_equals_the_same_sweep_run_locally() {
    if !slurm_or_skip("a_sweep_on_slurm_equals_the_same_sweep_run_locally") {
        return;
    }
    let local = trained_locally(SWEEP);

    let sb = Sandbox::new();
    sb.write("m.toml", SWEEP);
    let (stdout, stderr, code) = submit(&sb, &["--cpus-per-task", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let job = stdout.trim();
    assert!(job.parse::<u64>().is_ok(), "job id on stdout: {stdout:?}");
    assert!(
        stderr.contains("submitted 4 run(s) in 1 job array(s)"),
        "{stderr}"
    );
    let recorded = sb.results().join(format!("s/slurm/jobs/{job}/tasks.json"));
    assert!(recorded.is_file(), "job record {}", recorded.display());

    // Submitting again while the array is queued or running submits nothing twice.
    let (stdout, stderr, code) = submit(&sb, &[]);
    if status(&sb).contains("4 runs: 4 done") {
        assert!(stderr.contains("4 are finished"), "{stderr}");
    } else {
        assert!(stderr.contains("nothing to submit"), "{stderr}");
    }
    assert_eq!((stdout.as_str(), code), ("", 0));

    wait(&sb);
    let st = status(&sb);
    assert!(st.contains("4 runs: 4 done"), "{st}");
    assert_eq!(
        epochs_by_run(&sb.results(), "s"),
        epochs_by_run(&local.results(), "s"),
        "Slurm tasks and a local sweep must train to the same numbers"
    );
    // Every task logged its run; finished runs are skipped on resubmission.
    let l = logs(&sb);
    assert_eq!(l.matches("): done, val accuracy").count(), 4, "{l}");
    let (stdout, stderr, code) = submit(&sb, &[]);
    assert_eq!((stdout.as_str(), code), ("", 0));
    assert!(
        stderr.contains("nothing to submit: of 4 runs of `s`, 4 are finished"),
        "{stderr}"
    );
    // The report reads cluster results like local ones.
    sb.sweep()
        .args(["report", "results/s", "--format", "csv"])
        .assert()
        .success();
}

/// A sweep of an external program (the standard-library example) submitted to Slurm trains to
/// the numbers of the same sweep run locally.
#[test]
fn a_program_sweep_on_slurm_equals_the_same_sweep_run_locally() {
    if !slurm_or_skip("a_program_sweep_on_slurm_equals_the_same_sweep_run_locally") {
        return;
    }
    let m = format!(
        "[sweep]\nname = \"s\"\ndataset = \"mnist\"\nepochs = 2\nseeds = [1, 2]\n\
         [programs.py]\ncommand = [\"python3\", \"{}\", \"--data\", \"{}\", \"--lr\", \"{{lr}}\", \"--epochs\", \"{{epochs}}\", \"--seed\", \"{{seed}}\"]\n\
         metrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n\
         [grid]\nprogram = [\"py\"]\noptimizer = [\"sgd\"]\nlr = [0.5, 0.1]\n",
        repo("examples/programs/stdlib/train.py").display(),
        data_dir().join("mnist").display()
    );
    let local = trained_locally(&m);
    let sb = Sandbox::new();
    sb.write("m.toml", &m);
    let (_, stderr, code) = submit(&sb, &["--cpus-per-task", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("submitted 4 run(s)"), "{stderr}");
    wait(&sb);
    let st = status(&sb);
    assert!(st.contains("4 runs: 4 done"), "{st}\n{}", logs(&sb));
    assert_eq!(
        epochs_by_run(&sb.results(), "s"),
        epochs_by_run(&local.results(), "s"),
        "Slurm tasks and a local sweep must train the program to the same numbers"
    );
}

#[test]
fn a_cancelled_task_resumes_from_its_checkpoint_when_submitted_again() {
    if !slurm_or_skip("a_cancelled_task_resumes_from_its_checkpoint_when_submitted_again") {
        return;
    }
    let manifest = "[sweep]\nname = \"s\"\ndataset = \"mnist\"\ntrain_subset = 3000\ntest_subset = 300\n\
[[runs]]\nmodel = \"simple_cnn\"\noptimizer = \"adam\"\nepochs = 3\n";
    let local = trained_locally(manifest);

    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    let (stdout, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    let job = stdout.trim().to_string();
    // Cancel (SIGTERM, as preemption or a time limit does) once the first epoch is stored.
    let runs = sb.results().join("s/runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let epochs = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("epochs.csv")).ok())
            .map(|s| s.lines().count().saturating_sub(1))
            .max()
            .unwrap_or(0);
        if epochs >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no epoch after 300 s:\n{}",
            logs(&sb)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(Std::new("scancel").arg(&job).status().unwrap().success());
    let out = sb
        .sweep()
        .args(["wait", "m.toml", "--interval", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "cancelled: not done");
    let st = status(&sb);
    assert!(st.contains("1 runs: 1 incomplete"), "{st}\n{}", logs(&sb));

    let (_, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    wait(&sb);
    let l = logs(&sb);
    assert!(l.contains("training epochs 1..=3"), "{l}");
    assert!(
        l.lines()
            .any(|x| x.contains("training epochs") && !x.contains("epochs 1..=")),
        "the second task resumed from a checkpoint:\n{l}"
    );
    assert_eq!(
        epochs_by_run(&sb.results(), "s"),
        epochs_by_run(&local.results(), "s"),
        "a resumed task must train to the numbers of an uninterrupted run"
    );
}

#[test]
fn a_refused_submission_keeps_nothing() {
    if !slurm_or_skip("a_refused_submission_keeps_nothing") {
        return;
    }
    let sb = Sandbox::new();
    sb.write("m.toml", SWEEP);
    let (stdout, stderr, code) = submit(&sb, &["--partition", "no-such-partition"]);
    assert_eq!((stdout.as_str(), code), ("", 2), "{stderr}");
    assert!(
        stderr.contains("sbatch: job array 1 of 1: refused the submission"),
        "{stderr}"
    );
    assert!(
        stderr.contains("partition"),
        "Slurm's reason is shown: {stderr}"
    );
    assert!(!sb.results().exists(), "nothing written under results/");
}

#[test]
fn dry_run_prints_the_script_and_writes_nothing() {
    let sb = Sandbox::new();
    sb.write("m.toml", SWEEP);
    let (stdout, stderr, code) = submit(
        &sb,
        &[
            "--dry-run",
            "--partition",
            "cpu",
            "--time",
            "01:00:00",
            "--array-parallelism",
            "2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("#!/usr/bin/env bash\n"), "{stdout}");
    for want in [
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=cpu",
        "#SBATCH --time=01:00:00",
    ] {
        assert!(stdout.contains(want), "{want} in:\n{stdout}");
    }
    assert_eq!(
        stdout.matches(" seed 1\n").count(),
        4,
        "the run list: {stdout}"
    );
    assert!(
        stderr.contains("dry run: would submit 4 run(s) in 1 job array(s)"),
        "{stderr}"
    );
    assert!(!sb.results().exists(), "a dry run writes nothing");
}

#[test]
fn without_sbatch_submit_says_so_and_writes_nothing() {
    let sb = Sandbox::new();
    sb.write("m.toml", SWEEP);
    let out = sb
        .sweep()
        .args(["submit", "m.toml"])
        .env("PATH", sb.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sbatch: not found on PATH"), "{stderr}");
    assert!(stderr.contains("--dry-run"), "{stderr}");
    assert!(!sb.results().exists(), "nothing written under results/");
}

#[test]
fn a_task_on_a_node_without_the_binary_says_what_to_share() {
    let sb = Sandbox::new();
    sb.write("m.toml", SWEEP);
    let bin = sb.path().join("sweep-copy");
    std::fs::copy(assert_cmd::cargo::cargo_bin("sweep"), &bin).unwrap();
    let (script, stderr, code) = submit(&sb, &["--dry-run", "--binary", bin.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_file(&bin).unwrap();
    let path = sb.write("task.sbatch", &script);
    let out = Std::new("bash")
        .arg(&path)
        .env("SLURM_ARRAY_TASK_ID", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sweep-copy is missing on"), "{stderr}");
    assert!(stderr.contains("filesystem every node mounts"), "{stderr}");
}

#[test]
fn a_halving_sweep_on_slurm_advances_a_rung_per_submission_to_the_local_decisions() {
    if !slurm_or_skip(
        "a_halving_sweep_on_slurm_advances_a_rung_per_submission_to_the_local_decisions",
    ) {
        return;
    }
    let manifest = "[sweep]\nname = \"s\"\ndataset = \"mnist\"\nvalidation = 0.1\ntrain_subset = 1500\ntest_subset = 300\n\
[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nlr = [0.001, 0.1]\n\
[search.halving]\nrungs = [1, 2]\nkeep_fraction = 0.5\n";
    let local = trained_locally(manifest);

    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    // Rung 1: every configuration, tasks stopping after epoch 1.
    let (_, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("submitted 4 run(s)") && stderr.contains("rung 1 of 2: to epoch 1"),
        "{stderr}"
    );
    wait(&sb);
    assert!(
        !sb.results().join("s/halving.json").exists(),
        "decided before a submission"
    );
    // Rung 2: this submission decides rung 1 and submits the 2 survivors.
    let (_, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("submitted 2 run(s)") && stderr.contains("rung 2 of 2"),
        "{stderr}"
    );
    wait(&sb);
    let st = status(&sb);
    assert!(
        st.contains("4 runs: 2 done, 2 pruned") && st.contains("pruned at rung 1 (epoch 1)"),
        "{st}"
    );
    let (stdout, stderr, code) = submit(&sb, &[]);
    assert_eq!((stdout.as_str(), code), ("", 0));
    assert!(
        stderr.contains("successive halving of `s` is done"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(sb.results().join("s/halving.json")).unwrap(),
        std::fs::read_to_string(local.results().join("s/halving.json")).unwrap(),
        "Slurm and a local sweep decide the same"
    );
    assert_eq!(
        epochs_by_run(&sb.results(), "s"),
        epochs_by_run(&local.results(), "s"),
        "Slurm tasks and a local sweep must train to the same numbers"
    );
}

#[test]
fn a_tpe_search_on_slurm_proposes_a_batch_per_submission_as_locally() {
    if !slurm_or_skip("a_tpe_search_on_slurm_proposes_a_batch_per_submission_as_locally") {
        return;
    }
    let manifest = "[sweep]\nname = \"s\"\ndataset = \"mnist\"\nvalidation = 0.1\ntrain_subset = 1500\ntest_subset = 300\nepochs = 1\n\
[search]\nmethod = \"tpe\"\nsamples = 4\nbatch = 2\n\
[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nlr = { log_uniform = [1e-3, 0.3] }\n";
    let local = trained_locally(manifest);

    let sb = Sandbox::new();
    sb.write("m.toml", manifest);
    // Batch 1: the Sobol start.
    let (_, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("submitted 2 run(s)"), "{stderr}");
    wait(&sb);
    // Batch 2: this submission proposes it from batch 1's results and submits it.
    let (_, stderr, code) = submit(&sb, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("submitted 2 run(s)"), "{stderr}");
    wait(&sb);
    let st = status(&sb);
    assert!(
        st.contains("4 runs: 4 done") && st.contains("4 of 4 configurations proposed"),
        "{st}"
    );
    let (stdout, stderr, code) = submit(&sb, &[]);
    assert_eq!((stdout.as_str(), code), ("", 0));
    assert!(stderr.contains("the TPE search of `s` is done"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(sb.results().join("s/search.json")).unwrap(),
        std::fs::read_to_string(local.results().join("s/search.json")).unwrap(),
        "Slurm and a local search propose the same"
    );
    assert_eq!(
        epochs_by_run(&sb.results(), "s"),
        epochs_by_run(&local.results(), "s"),
    );
}
