//! External training programs, end to end with real processes: the standard-library Python
//! program (`examples/programs/stdlib/train.py`, softmax regression on real MNIST) run by the
//! real `sweep` binary. Grids with seeds, kill -9 and resume, successive halving, every failure
//! kind, and arguments that survive any characters.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A manifest running the stdlib program; `extra` goes at the end of its command, `rest` after
/// the program table.
fn manifest(name: &str, extra: &str, rest: &str) -> String {
    format!(
        "[sweep]\nname = \"{name}\"\ndataset = \"mnist\"\nepochs = 3\nseeds = [1, 2]\n\n\
         [programs.py]\ncommand = [\"python3\", \"{prog}\", \"--data\", \"{data}\", \"--lr\", \"{{lr}}\", \"--epochs\", \"{{epochs}}\", \"--seed\", \"{{seed}}\"{extra}]\n\
         metrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n\n{rest}",
        prog = repo("examples/programs/stdlib/train.py").display(),
        data = data_dir().join("mnist").display(),
    )
}

const GRID: &str = "[grid]\nprogram = [\"py\"]\noptimizer = [\"sgd\"]\nlr = [0.5, 0.1]\n";

fn summary(results: &Path, sweep: &str, id: &str) -> Value {
    let p = results
        .join(sweep)
        .join("runs")
        .join(id)
        .join("summary.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn summaries(results: &Path, sweep: &str) -> Vec<Value> {
    epochs_by_run(results, sweep)
        .into_iter()
        .map(|(id, _)| summary(results, sweep, &id))
        .collect()
}

/// A grid of the program with seeds: every run done with three epochs of real numbers, the
/// same whether one or two run at once, and the program's stdout/stderr kept.
#[test]
fn a_grid_of_a_program_with_seeds_trains_and_jobs_do_not_matter() {
    let a = Sandbox::new();
    a.write("m.toml", &manifest("p", "", GRID));
    a.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", "2"])
        .assert()
        .success();
    let b = Sandbox::new();
    b.write("m.toml", &manifest("p", "", GRID));
    b.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", "1"])
        .assert()
        .success();
    let runs = epochs_by_run(&a.results(), "p");
    assert_eq!(runs.len(), 4, "2 learning rates x 2 seeds");
    assert_eq!(runs, epochs_by_run(&b.results(), "p"));
    for s in summaries(&a.results(), "p") {
        assert_eq!(s["status"], "done", "{s}");
        assert_eq!(s["epochs_completed"], 3);
        let acc = s["last"]["val_accuracy"].as_f64().unwrap();
        assert!(acc > 0.3, "it learns: {s}");
    }
    let id = &runs[0].0;
    let dir = a.results().join("p/runs").join(id);
    assert!(dir.join("program.out").exists() && dir.join("program.err").exists());
    assert!(
        !dir.join("checkpoint").exists(),
        "a finished run's checkpoint is removed"
    );
    // The report reads them as any runs: a configuration per learning rate, two seeds each.
    let out = a
        .sweep()
        .args(["report", "results/p", "--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let configs = report[0]["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs[0]["settings"]["program"], "py");
    assert_eq!(configs[0]["n"], 2);
}

/// Metrics on stdout after `sweep:` are read as from the file.
#[test]
fn metrics_on_stdout_are_read_too() {
    let sb = Sandbox::new();
    let file = Sandbox::new();
    sb.write("m.toml", &manifest("p", ", \"--report\", \"stdout\"", GRID));
    file.write("m.toml", &manifest("p", "", GRID));
    for s in [&sb, &file] {
        s.sweep()
            .args(["run", "m.toml", "--quiet"])
            .assert()
            .success();
    }
    // The same epochs, though the run ids differ (the command does).
    let values = |s: &Sandbox| {
        let mut v: Vec<String> = epochs_by_run(&s.results(), "p")
            .into_iter()
            .map(|(_, csv)| csv)
            .collect();
        v.sort();
        v
    };
    assert_eq!(values(&sb), values(&file));
}

/// kill -9 of `sweep run` in the middle of an epoch, then of the program itself: the sweep
/// resumes from the program's checkpoints to the same epochs as an uninterrupted one.
#[test]
fn killed_sweeps_and_killed_programs_resume_to_the_same_numbers() {
    // Slow epochs (0.4 s each), so a kill lands inside one.
    // A marker in the command, so that only this test's programs are killed.
    let m = manifest(
        "k",
        ", \"--sleep\", \"0.4\", \"--echo-arg\", \"kill-test-marker\"",
        GRID,
    )
    .replace("epochs = 3", "epochs = 5");
    let reference = trained_locally(&m);
    let sb = Sandbox::new();
    sb.write("m.toml", &m);
    let mut child = spawn_run(&sb, &["--jobs", "2"]);
    wait_for_epochs(&sb, "k", 3);
    child.kill().unwrap(); // SIGKILL to sweep; its workers and programs are left to die or run
    child.wait().unwrap();
    // Kill -9 every program still running too (the worker that started it is gone).
    let _ = std::process::Command::new("pkill")
        .args(["-9", "-f", "kill-test-marker"])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    resumes_to_the_reference(&sb, &reference, "k", &[], "resumes after epoch");
    for s in summaries(&sb.results(), "k") {
        assert_eq!(s["status"], "done");
    }
}

/// Successive halving through `$SWEEP_UNTIL_EPOCH`, with a program that stops there itself
/// and with one that ignores it (stopped by SIGTERM after reporting the rung's epoch): the
/// same decisions, and every run trained exactly to its rung.
#[test]
fn halving_stops_programs_at_their_rung_whether_they_listen_or_not() {
    let grid = "[grid]\nprogram = [\"py\"]\noptimizer = [\"sgd\"]\nlr = [0.5, 0.2, 0.05, 0.01]\n\
                [search.halving]\nmetric = \"val_accuracy\"\nrungs = [1, 3]\nkeep_fraction = 0.5\n";
    let listens = manifest("h", "", grid).replace("epochs = 3\n", "");
    let ignores = manifest("h", ", \"--ignore-until\", \"--sleep\", \"0.2\"", grid)
        .replace("epochs = 3\n", "");
    let mut outcomes = Vec::new();
    for m in [&listens, &ignores] {
        let sb = Sandbox::new();
        sb.write("m.toml", m);
        sb.sweep()
            .args(["run", "m.toml", "--quiet", "--jobs", "2"])
            .assert()
            .success();
        let mut states: Vec<(String, usize)> = summaries(&sb.results(), "h")
            .into_iter()
            .map(|s| {
                (
                    format!("{} {} {}", s["label"], s["status"], s["pruned"]),
                    s["epochs_completed"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        states.sort();
        let pruned = states.iter().filter(|s| s.0.contains("pruned")).count();
        assert_eq!(pruned, 4, "4 -> 2 configurations of 2 seeds: {states:?}");
        for (what, epochs) in &states {
            let want = if what.contains("pruned") { 1 } else { 3 };
            assert_eq!(*epochs, want, "{what}");
        }
        outcomes.push(states);
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

/// Each way a program's run can go wrong is a state with its reason and the end of its stderr.
#[test]
fn every_failure_is_a_state_with_a_reason_and_the_stderr_tail() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "exit",
            ", \"--fail-at\", \"2\"",
            "failed",
            "exited with exit status: 3 after reporting 1 of 3 epochs",
        ),
        (
            "nan",
            ", \"--nan-at\", \"2\"",
            "diverged",
            "epoch 2 reported val_loss = NaN",
        ),
        (
            "garbled",
            ", \"--garble-at\", \"2\"",
            "failed",
            "reported line 2 is not an epoch (not JSON",
        ),
        (
            "none",
            ", \"--epochs\", \"0\"",
            "failed",
            "exited 0 without reporting an epoch",
        ),
        (
            "timeout",
            ", \"--sleep\", \"5\"",
            "failed",
            "timed out after",
        ),
    ];
    for (name, extra, state, reason) in cases {
        let rest = "[[runs]]\nprogram = \"py\"\noptimizer = \"sgd\"\nseed = 1\n";
        let mut m = manifest(name, extra, rest);
        if name == "timeout" {
            m = m.replace("metrics = [", "timeout = \"2s\"\nmetrics = [");
        }
        let sb = Sandbox::new();
        sb.write("m.toml", &m);
        let code = if state == "done" { 0 } else { 1 };
        sb.sweep()
            .args(["run", "m.toml", "--quiet"])
            .assert()
            .code(code);
        let s = &summaries(&sb.results(), name)[0];
        assert_eq!(s["status"], state, "{name}: {s}");
        if state == "done" {
            continue;
        }
        let why = s["reason"].as_str().unwrap();
        assert!(why.contains(reason), "{name}: {why}");
        if name == "exit" {
            let tail: Vec<&str> = s["stderr_tail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            assert!(
                tail.iter().any(|l| l.contains("failing at epoch 2")),
                "{tail:?}"
            );
        }
        // `sweep status` shows the reason.
        let out = sb.sweep().args(["status", "m.toml"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(state), "{name}: {text}");
        assert!(text.contains(reason), "status says why: {text}");
        let md = sb
            .sweep()
            .args(["report", &format!("results/{name}"), "--format", "markdown"])
            .output()
            .unwrap();
        let md = String::from_utf8_lossy(&md.stdout).to_string();
        assert!(
            md.contains("failed or diverged") && md.contains(reason),
            "the report says why: {md}"
        );
        if name == "exit" {
            assert!(
                text.contains("| RuntimeError: failing at epoch 2 as asked"),
                "{text}"
            );
        }
    }
}

/// A program killed by a signal (kill -9, after its first epoch) is a failed run that says
/// which signal; `--retry-failed` goes on from its checkpoint to the numbers of a run never
/// killed.
#[test]
fn a_program_killed_by_a_signal_is_failed_and_retried_from_its_checkpoint() {
    let rest = "[[runs]]\nprogram = \"py\"\noptimizer = \"sgd\"\nseed = 1\n";
    let m = manifest(
        "sig",
        ", \"--sleep\", \"1\", \"--echo-arg\", \"signal-test-marker\"",
        rest,
    );
    let reference = trained_locally(&m);
    let sb = Sandbox::new();
    sb.write("m.toml", &m);
    let mut child = spawn_run(&sb, &[]);
    // After the first epoch is recorded, kill the program (not sweep).
    wait_for_epochs(&sb, "sig", 1);
    std::process::Command::new("pkill")
        .args(["-9", "-f", "signal-test-marker"])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let s = &summaries(&sb.results(), "sig")[0];
    assert_eq!(s["status"], "failed");
    let why = s["reason"].as_str().unwrap();
    assert!(
        why.contains("signal: 9") && why.contains("after reporting 1 of 3"),
        "{why}"
    );
    resumes_to_the_reference(
        &sb,
        &reference,
        "sig",
        &["--retry-failed"],
        "resumes after epoch 1",
    );
}

/// A value holding spaces, quotes, a `$(...)` and braces reaches the program as one argument,
/// exactly (the argv is never a shell string), and a model name passes through the same way.
#[test]
fn a_placeholder_with_any_characters_arrives_as_one_argument() {
    let nasty = "a b 'c' \\\"d\\\" $(touch pwned) {lr} ;|&";
    let rest =
        format!("[[runs]]\nprogram = \"py\"\nmodel = \"{nasty}\"\noptimizer = \"sgd\"\nseed = 1\n");
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        &manifest("q", ", \"--echo-arg\", \"{model}\"", &rest),
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let (id, _) = &epochs_by_run(&sb.results(), "q")[0];
    let err =
        std::fs::read_to_string(sb.results().join("q/runs").join(id).join("program.err")).unwrap();
    assert!(
        err.contains("echo-arg: a b 'c' \"d\" $(touch pwned) {lr} ;|&"),
        "{err}"
    );
    assert!(!sb.path().join("pwned").exists());
}

/// `sweep verify` trains finished runs again: a built-in sweep and a deterministic program give
/// identical numbers (exit 0); a program that adds noise does not (exit 1, with the largest
/// difference).
#[test]
fn verify_says_identical_for_deterministic_runs_and_shows_the_difference_otherwise() {
    let builtin = trained_locally(
        "[sweep]\nname = \"b\"\ndataset = \"mnist\"\nepochs = 2\ntrain_subset = 600\ntest_subset = 200\n\
         [grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\n",
    );
    let out = builtin
        .sweep()
        .args(["verify", "results/b", "--runs", "2", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("identical: every metric of 2 epoch(s)")
            .count(),
        2,
        "{text}"
    );

    let steady = trained_locally(&manifest("p", "", GRID));
    let out = steady
        .sweep()
        .args(["verify", "results/p", "--runs", "4", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("4 run(s) trained again to the same numbers"),
        "{text}"
    );

    let noisy = trained_locally(&manifest("n", ", \"--noise\"", GRID));
    let out = noisy
        .sweep()
        .args(["verify", "results/n", "--runs", "1", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("differs: largest difference") && text.contains("in val_accuracy"),
        "{text}"
    );
}

/// Ctrl-C (SIGINT to `sweep run`): each program is stopped after its next epoch and the sweep
/// exits 130; run again, it resumes from the programs' checkpoints to the numbers of a sweep
/// never interrupted.
#[test]
fn ctrl_c_stops_programs_after_an_epoch_and_the_sweep_resumes_exactly() {
    let m = manifest("c", ", \"--sleep\", \"0.3\"", GRID).replace("epochs = 3", "epochs = 4");
    let reference = trained_locally(&m);
    let sb = Sandbox::new();
    sb.write("m.toml", &m);
    let mut child = spawn_run(&sb, &["--jobs", "2"]);
    wait_for_epochs(&sb, "c", 1);
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted");
    let done = summaries_present(&sb.results(), "c");
    assert!(done < 4, "the interrupt came too late to stop anything");
    resumes_to_the_reference(&sb, &reference, "c", &[], "resumes after epoch");
}

/// How many runs of `sweep` have a summary (finished).
fn summaries_present(results: &Path, sweep: &str) -> usize {
    std::fs::read_dir(results.join(sweep).join("runs"))
        .into_iter()
        .flatten()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().join("summary.json").exists())
        })
        .count()
}

/// `sweep run m.toml --quiet EXTRA` started in the sandbox, not waited for.
fn spawn_run(sb: &Sandbox, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("sweep"))
        .current_dir(sb.path())
        .env("SWEEP_DATA_DIR", data_dir())
        .args(["run", "m.toml", "--quiet"])
        .args(extra)
        .spawn()
        .unwrap()
}

/// Wait (a minute at most) until the runs of `sweep` have recorded `n` epochs in all.
fn wait_for_epochs(sb: &Sandbox, sweep: &str, n: usize) {
    let runs = sb.results().join(sweep).join("runs");
    let recorded = || -> usize {
        std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("epochs.csv")).ok())
            .map(|s| s.lines().count().saturating_sub(1))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while recorded() < n {
        assert!(
            Instant::now() < deadline,
            "{n} epoch(s) not recorded in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sweep run m.toml EXTRA` again: it says `said` (a resume), and every run's epochs are the
/// uninterrupted `reference`'s.
fn resumes_to_the_reference(
    sb: &Sandbox,
    reference: &Sandbox,
    sweep: &str,
    extra: &[&str],
    said: &str,
) {
    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(said), "nothing resumed: {text}");
    assert_eq!(
        epochs_by_run(&sb.results(), sweep),
        epochs_by_run(&reference.results(), sweep)
    );
}

/// A program's own metrics (`val_macro_f1`, inferred to be maximized, and `val_brier`,
/// declared to be minimized) are recorded, shown, ranked, compared, gated on and used by
/// successive halving, each the way it improves.
#[test]
fn a_programs_own_metrics_rank_compare_gate_and_halve_the_way_they_improve() {
    let own = |name: &str, rest: &str| {
        manifest(name, "", rest).replace(
            "\"val_accuracy\"]",
            "\"val_accuracy\", \"val_macro_f1\", \"-val_brier\"]",
        )
    };
    let sb = Sandbox::new();
    sb.write("m.toml", &own("own", GRID));
    sb.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", "2"])
        .assert()
        .success();
    // Recorded: columns of epochs.csv (verified like any run) and the summary's last epoch.
    let runs = epochs_by_run(&sb.results(), "own");
    assert_eq!(runs.len(), 4);
    let header = runs[0].1.lines().next().unwrap().to_string();
    assert!(header.ends_with(",val_brier,val_macro_f1"), "{header}");
    let s = summary(&sb.results(), "own", &runs[0].0);
    let brier = s["last"]["extra"]["val_brier"].as_f64().unwrap();
    assert!(brier > 0.0 && brier < 1.0, "{s}");

    // Ranked each its own way: the best by Brier score has the lowest mean, by F1 the highest.
    let ranking = |metric: &str| -> Vec<f64> {
        let out = sb
            .sweep()
            .args([
                "report",
                "results/own",
                "--format",
                "json",
                "--rank-by",
                metric,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let name = metric.trim_start_matches(['+', '-']);
        assert_eq!(r[0]["rank_by"], name);
        r[0]["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let c = &r[0]["configs"][x["config"].as_u64().unwrap() as usize];
                let m = c["metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m[0] == name);
                m.unwrap()[1]["mean"].as_f64().unwrap()
            })
            .collect()
    };
    let by_brier = ranking("val_brier");
    assert_eq!(by_brier.len(), 2);
    assert!(by_brier[0] < by_brier[1], "lower Brier first: {by_brier:?}");
    let by_f1 = ranking("val_macro_f1");
    assert!(by_f1[0] > by_f1[1], "higher F1 first: {by_f1:?}");
    // `-` on the command line turns the order round.
    let reversed = ranking("+val_brier");
    assert!(reversed[0] > reversed[1], "{reversed:?}");

    // Shown: a column of the tables and of both CSVs.
    let md = sb.stdout_of(&["report", "results/own", "--format", "markdown"]);
    assert!(
        md.contains("val_brier") && md.contains("val_macro_f1"),
        "{md}"
    );
    let csv = sb.stdout_of(&["report", "results/own", "--format", "csv"]);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains(",val_brier,val_macro_f1,"),
        "{csv}"
    );
    let epochs = sb.stdout_of(&["report", "results/own", "--epochs"]);
    assert!(
        epochs
            .lines()
            .next()
            .unwrap()
            .ends_with(",val_brier,val_macro_f1"),
        "{epochs}"
    );

    // Compared and gated on: the same results against themselves are within tolerance.
    let diff = sb.stdout_of(&[
        "diff",
        "results/own",
        "results/own",
        "--metric",
        "val_brier",
        "--format",
        "markdown",
    ]);
    assert!(diff.contains("val_brier"), "{diff}");
    sb.sweep()
        .args(["check", "results/own", "--save-baseline", "base.json"])
        .assert()
        .success();
    let check = sb.stdout_of(&[
        "check",
        "results/own",
        "--baseline",
        "base.json",
        "--metric",
        "val_brier",
        "--metric",
        "val_macro_f1",
        "--format",
        "markdown",
    ]);
    assert_eq!(check.matches("| within tolerance |").count(), 4, "{check}");
    // A baseline whose Brier scores were far lower: the current ones regressed (higher is worse).
    let mut base: Value =
        serde_json::from_slice(&std::fs::read(sb.path().join("base.json")).unwrap()).unwrap();
    for c in base["configs"].as_array_mut().unwrap() {
        c["metrics"]["val_brier"]["mean"] = 0.1.into();
    }
    sb.write("lower.json", &base.to_string());
    let out = sb
        .sweep()
        .args([
            "check",
            "results/own",
            "--baseline",
            "lower.json",
            "--metric",
            "val_brier",
        ])
        .args(["--format", "markdown"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let check = String::from_utf8(out.stdout).unwrap();
    assert_eq!(check.matches("| **REGRESSED** |").count(), 2, "{check}");

    // A metric no run reports is an error naming the ones they do.
    let e = sb.stderr_of(&["report", "results/own", "--rank-by", "val_f2"], 2);
    assert!(
        e.contains("no run in")
            && e.contains("reports `val_f2`")
            && e.contains("val_brier, val_macro_f1"),
        "{e}"
    );

    // Halving decides on the Brier score, lower first: the configuration kept at rung 1 is the
    // one whose seeds' mean Brier score after epoch 1 is the lowest.
    let grid = "[grid]\nprogram = [\"py\"]\noptimizer = [\"sgd\"]\nlr = [0.5, 0.01]\n\
                [search.halving]\nmetric = \"val_brier\"\nrungs = [1, 2]\nkeep_fraction = 0.5\n";
    let h = Sandbox::new();
    h.write("m.toml", &own("h", grid).replace("epochs = 3\n", ""));
    h.sweep()
        .args(["run", "m.toml", "--quiet", "--jobs", "2"])
        .assert()
        .success();
    let mut first_epoch: Vec<(f64, bool)> = epochs_by_run(&h.results(), "h")
        .iter()
        .map(|(id, csv)| {
            let row = csv.lines().nth(1).unwrap();
            let brier: f64 = row.split(',').rev().nth(1).unwrap().parse().unwrap(); // val_brier, val_macro_f1 last
            let s = summary(&h.results(), "h", id);
            (brier, s["status"] == "pruned")
        })
        .collect();
    first_epoch.sort_by(|a, b| a.0.total_cmp(&b.0));
    let kept: Vec<bool> = first_epoch.iter().map(|(_, pruned)| !pruned).collect();
    assert_eq!(kept, [true, true, false, false], "{first_epoch:?}");
}
