//! Real burn training on the real MNIST in ../shared/data (or SWEEP_DATA_DIR).

mod common;
use common::*;

/// Final validation accuracy of the only run of the sweep `name` in `sb`.
fn final_accuracy(sb: &Sandbox, name: &str) -> f64 {
    let runs = sb.results().join(name).join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "done");
    summary["last"]["val_accuracy"].as_f64().unwrap()
}

#[test]
fn simple_cnn_adam_one_epoch_reaches_98_percent() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"cnn\"\ndataset = \"mnist\"\n[[runs]]\nmodel = \"simple_cnn\"\noptimizer = \"adam\"\nepochs = 1\n",
    );
    sb.sweep().args(["run", "m.toml"]).assert().success();
    let acc = final_accuracy(&sb, "cnn");
    eprintln!("Simple CNN + Adam, 1 epoch, 60k: test accuracy {:.4}", acc);
    assert!(acc >= 0.98, "test accuracy {acc}");
}

#[test]
fn simple_nn_sgd_one_epoch_reaches_89_percent() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"nn\"\ndataset = \"mnist\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n",
    );
    sb.sweep().args(["run", "m.toml"]).assert().success();
    let acc = final_accuracy(&sb, "nn");
    eprintln!(
        "Simple NN + SGD(0.01), 1 epoch, 60k: test accuracy {:.4}",
        acc
    );
    assert!(acc >= 0.89, "test accuracy {acc}");
}

const SMALL: &str = "[sweep]\nname = \"small\"\ndataset = \"mnist\"\ntrain_subset = 1500\ntest_subset = 500\n\
[[runs]]\nmodel = \"enhanced_cnn\"\noptimizer = \"adam\"\nepochs = 2\n\
[[runs]]\nmodel = \"enhanced_nn\"\noptimizer = \"sgd\"\nepochs = 2\n";

#[test]
fn the_same_run_twice_gives_identical_epochs_apart_from_timing() {
    let a = Sandbox::new();
    let b = Sandbox::new();
    for sb in [&a, &b] {
        sb.write("m.toml", SMALL);
        sb.sweep().args(["run", "m.toml"]).assert().success();
    }
    let runs = a.results().join("small/runs");
    let mut n = 0;
    for entry in std::fs::read_dir(&runs).unwrap() {
        let id = entry.unwrap().file_name();
        let ea = epochs_without_timing(&runs.join(&id).join("epochs.csv"));
        let eb =
            epochs_without_timing(&b.results().join("small/runs").join(&id).join("epochs.csv"));
        assert_eq!(ea, eb, "run {id:?} differs between two trainings");
        assert_eq!(ea.lines().count(), 3, "header + 2 epochs");
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn finished_runs_are_skipped_on_the_next_invocation() {
    let sb = Sandbox::new();
    sb.write("m.toml", "[sweep]\nname = \"s\"\ndataset = \"mnist\"\ntrain_subset = 256\ntest_subset = 128\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n");
    sb.sweep().args(["run", "m.toml"]).assert().success();
    let run = std::fs::read_dir(sb.results().join("s/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in ["run.json", "epochs.csv", "summary.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let before = std::fs::read(run.join("summary.json")).unwrap();
    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("0 trained now, 1 finished before"), "{err}");
    assert_eq!(
        std::fs::read(run.join("summary.json")).unwrap(),
        before,
        "finished run was retrained"
    );
}

/// `experiments/example.toml` as shipped (a 2,000-image train subset): every run finishes,
/// including `tiny_cnn`, whose dropout follows a flatten with no dense layer before it.
#[test]
fn the_example_manifest_finishes_every_run() {
    let sb = Sandbox::new();
    let manifest = std::fs::read_to_string(repo("experiments/example.toml")).unwrap();
    sb.write("example.toml", &manifest);
    sb.sweep()
        .args(["run", "example.toml", "--quiet"])
        .assert()
        .success();
    let runs = sb.results().join("example").join("runs");
    let mut n = 0;
    for e in std::fs::read_dir(&runs).unwrap() {
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["status"], "done", "{summary}");
        n += 1;
    }
    assert_eq!(n, 15, "runs of example.toml");
}

/// Dropout directly after a convolution (on a feature map) trains, and learns.
#[test]
fn dropout_after_a_convolution_trains() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        r#"[sweep]
name = "mapdrop"
dataset = "mnist"
train_subset = 2000
test_subset = 500
[models.conv_dropout]
layers = [
  { type = "conv2d", filters = 8, kernel = 3, activation = "relu" },
  { type = "dropout", rate = 0.3 },
  { type = "max_pool", size = 2 },
  { type = "dropout", rate = 0.2 },
  { type = "flatten" },
  { type = "dense", units = 10, activation = "softmax" },
]
[[runs]]
model = "conv_dropout"
optimizer = "adam"
epochs = 2
"#,
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let acc = final_accuracy(&sb, "mapdrop");
    assert!(acc > 0.8, "validation accuracy {acc}");
}

/// A forced kernel path the CPU lacks, or an unknown one, is a usage error before any run.
#[test]
fn a_bad_sweep_isa_is_refused_with_exit_2() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"isa\"\ndataset = \"mnist\"\nepochs = 1\ntrain_subset = 64\ntest_subset = 32\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\n",
    );
    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .env("SWEEP_ISA", "sse9")
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("SWEEP_ISA=\"sse9\"") && err.contains("avx512, avx2, portable"),
        "{err}"
    );
    assert!(!sb.results().join("isa").exists(), "nothing written");
    let paths = sb.sweep().args(["bench", "isa"]).output().unwrap();
    let paths = String::from_utf8(paths.stdout).unwrap();
    assert!(paths.lines().any(|l| l == "portable"), "{paths}");
    if !paths.lines().any(|l| l == "avx512") {
        let out = sb
            .sweep()
            .args(["run", "m.toml"])
            .env("SWEEP_ISA", "avx512")
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("this CPU lacks avx512f"), "{err}");
    }
    // A path the CPU has trains.
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .env("SWEEP_ISA", "portable")
        .assert()
        .success();
}
