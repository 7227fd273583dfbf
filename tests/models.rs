//! Trained weights as results: kept by finished runs, evaluated by `sweep eval` to the numbers
//! training recorded, exported by `sweep export` (real MNIST, small subsets).

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// 2 configurations x 2 seeds, 6 epochs on 450 images (150 held out): `simple_nn adam` seed 1
/// peaks at epoch 5, so it keeps a best file besides its final one.
const MANIFEST: &str = r#"
[sweep]
name = "ev"
dataset = "mnist"
validation = 0.25
train_subset = 600
test_subset = 500
seeds = [1, 2]

[optimizers.fast]
kind = "sgd"
lr = 1.0

[grid]
model = ["simple_nn"]
optimizer = ["fast", "adam"]
epochs = [6]
"#;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn summaries(sb: &Sandbox) -> Vec<(std::path::PathBuf, Value)> {
    let mut v: Vec<_> = std::fs::read_dir(sb.results().join("ev/runs"))
        .unwrap()
        .map(|e| {
            let dir = e.unwrap().path();
            let s = json(&std::fs::read(dir.join("summary.json")).unwrap());
            (dir, s)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn eval(sb: &Sandbox, args: &[&str]) -> Value {
    let out = sb
        .sweep()
        .arg("eval")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

/// The `sweep` metadata of a safetensors file: its 8-byte length, then the JSON header.
fn metadata(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = json(&bytes[8..8 + n]);
    serde_json::from_str(header["__metadata__"]["sweep"].as_str().unwrap()).unwrap()
}

#[test]
fn kept_weights_evaluate_to_the_recorded_accuracies_and_export_picks_the_ranked_first_run() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let runs = summaries(&sb);
    assert_eq!(runs.len(), 4);
    let mut separate_best = 0;
    for (dir, s) in &runs {
        let d = dir.to_str().unwrap();
        let best_epoch = s["best_epoch"].as_u64().unwrap();
        let last_epoch = s["epochs_completed"].as_u64().unwrap();
        // One file when the best epoch is the last, two otherwise, each listed with its digest.
        assert!(dir.join("final.safetensors").is_file(), "{d}");
        assert_eq!(
            dir.join("best.safetensors").is_file(),
            best_epoch != last_epoch,
            "{d}"
        );
        separate_best += usize::from(best_epoch != last_epoch);
        assert_eq!(
            s["weights"].as_array().unwrap().len(),
            1 + usize::from(best_epoch != last_epoch)
        );
        assert!(!dir.join("checkpoint.bin").exists());

        // The run's own validation images: exactly the accuracy training recorded, both files.
        let v = eval(&sb, &[d, "--split", "val", "--weights", "final"]);
        assert_eq!(v["count"], 150);
        assert_eq!(v["accuracy"], s["last"]["val_accuracy"], "{d}");
        assert_eq!(v["recorded_accuracy"], v["accuracy"]);
        let v = eval(&sb, &[d, "--split", "val"]);
        assert_eq!(v["epoch"].as_u64(), Some(best_epoch));
        assert_eq!(v["accuracy"], s["best_val_accuracy"], "{d}");
        // The test images (the run's subset of 500): the test accuracy at the best epoch.
        let v = eval(&sb, &[d]);
        assert_eq!(v["count"], 500);
        assert_eq!(v["accuracy"], s["best_epoch_test_accuracy"], "{d}");
        let confusion: u64 = v["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()))
            .sum();
        assert_eq!(confusion, 500);
    }
    assert_eq!(separate_best, 1, "one run peaks before its last epoch");

    // export --best: the best seed of the configuration the ranking puts first.
    let report = sb
        .sweep()
        .args([
            "report",
            "results/ev",
            "--format",
            "json",
            "--rank-by",
            "best_val_accuracy",
        ])
        .output()
        .unwrap();
    let report = json(&report.stdout);
    let first = report[0]["ranking"][0]["config"].as_u64().unwrap() as usize;
    let label = report[0]["configs"][first]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let (want_id, want_value) = runs
        .iter()
        .filter(|(_, s)| {
            s["label"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{label} seed="))
        })
        .map(|(_, s)| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["best_val_accuracy"].as_f64().unwrap(),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .unwrap();
    sb.sweep()
        .args([
            "export",
            "results/ev",
            "--best",
            "--metric",
            "best_val_accuracy",
            "--out",
            "best.safetensors",
        ])
        .assert()
        .success();
    let m = metadata(&sb.path().join("best.safetensors"));
    assert_eq!(m["run"], want_id.as_str());
    assert_eq!(m["val_accuracy"].as_f64(), Some(want_value));
    // The exported file on its own evaluates like the run's (same test subset asked for).
    let v = eval(&sb, &["best.safetensors", "--subset", "500"]);
    let s = &runs
        .iter()
        .find(|(_, s)| s["id"] == want_id.as_str())
        .unwrap()
        .1;
    assert_eq!(v["accuracy"], s["best_epoch_test_accuracy"]);

    // A weights file changed after training is refused, naming it.
    let (dir, _) = &runs[0];
    let f = dir.join("final.safetensors");
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&f, bytes).unwrap();
    sb.sweep()
        .args(["eval", dir.to_str().unwrap(), "--weights", "final"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("final.safetensors"))
        .stderr(predicates::str::contains("changed after training"));
}

#[test]
fn keep_none_keeps_no_weights_and_eval_says_so() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"k\"\ndataset = \"mnist\"\ntrain_subset = 256\ntest_subset = 128\nkeep = \"none\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let runs = sb.results().join("k/runs");
    let dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(!dir.join("final.safetensors").exists());
    sb.sweep()
        .args(["eval", dir.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "kept no best weights ([sweep] keep = \"none\"",
        ));
    // A bad keep value is a manifest error with its place.
    sb.write(
        "bad.toml",
        "[sweep]\nname = \"k\"\ndataset = \"mnist\"\nkeep = \"all\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\n",
    );
    sb.sweep()
        .args(["plan", "bad.toml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad.toml:4:"));
}

/// `path`'s safetensors file with its `sweep` metadata changed by `edit`, written to `to`.
fn with_metadata(path: &Path, to: &Path, edit: impl Fn(&mut Value)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header = json(&bytes[8..8 + n]);
    let mut meta: Value =
        serde_json::from_str(header["__metadata__"]["sweep"].as_str().unwrap()).unwrap();
    edit(&mut meta);
    header["__metadata__"]["sweep"] = Value::String(meta.to_string());
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(to, out).unwrap();
}

/// Edited, foreign, truncated, swapped or oversized weights files are refused with exit 2,
/// naming the file and what does not match: never a panic, never an unbounded allocation, and
/// the digest summary.json recorded is checked whichever way the file is named.
#[test]
fn weights_files_that_do_not_match_their_model_are_refused_never_panicked_on() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"w\"\ndataset = \"mnist\"\ntrain_subset = 256\ntest_subset = 128\nseeds = [1, 2]\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"adam\"\nepochs = 1\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let mut dirs: Vec<_> = std::fs::read_dir(sb.results().join("w/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let final_of = |d: &Path| d.join("final.safetensors");
    let refused = |file: &Path, args: &[&str], why: &str| {
        let mut all = vec!["eval", file.to_str().unwrap()];
        all.extend_from_slice(args);
        let err = sb.stderr_of(&all, 2);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{name}: {err}");
        assert!(err.contains(why), "{name}: expected `{why}` in {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let dense = |units: u64, activation: &str| serde_json::json!({"type": "dense", "units": units, "activation": activation});
    // Layer stacks no manifest would pass, each in a copy of a real file.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "kernel.safetensors",
            serde_json::json!([{"type": "conv2d", "filters": 2, "kernel": 29}, {"type": "flatten"}, dense(10, "softmax")]),
            "layer 1",
        ),
        (
            "noflatten.safetensors",
            serde_json::json!([dense(10, "softmax")]),
            "layer 1",
        ),
        (
            "pool.safetensors",
            serde_json::json!([{"type": "max_pool", "size": 0}, {"type": "flatten"}, dense(10, "softmax")]),
            "pool with size or stride 0",
        ),
        (
            "dropout.safetensors",
            serde_json::json!([{"type": "flatten"}, {"type": "dropout", "rate": 1.5}, dense(10, "softmax")]),
            "outside [0, 1)",
        ),
        (
            "three.safetensors",
            serde_json::json!([{"type": "flatten"}, dense(3, "softmax")]),
            "output layer must be dense with 10 units",
        ),
        ("empty.safetensors", serde_json::json!([]), "has no layers"),
        (
            "huge.safetensors",
            serde_json::json!([{"type": "flatten"}, dense(2_000_000_000, "relu"), dense(10, "softmax")]),
            "more than this machine's",
        ),
    ];
    for (name, layers, why) in cases {
        let to = sb.path().join(name);
        with_metadata(&final_of(&dirs[0]), &to, |m| m["layers"] = layers.clone());
        refused(&to, &[], why);
    }
    // Truncated.
    let bytes = std::fs::read(final_of(&dirs[0])).unwrap();
    let cut = sb.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(&cut, &[], "cut.safetensors");
    // Swapped: run 2's directory holding run 1's weights, asked by directory and by file.
    std::fs::copy(final_of(&dirs[0]), final_of(&dirs[1])).unwrap();
    refused(&dirs[1], &["--weights", "final"], "changed after training");
    refused(&final_of(&dirs[1]), &[], "changed after training");
    // Edited in place, asked by file.
    let mut edited = bytes.clone();
    let last = edited.len() - 1;
    edited[last] ^= 0x40;
    std::fs::write(final_of(&dirs[0]), edited).unwrap();
    refused(&final_of(&dirs[0]), &[], "changed after training");
}

/// A model with batch norm (after a convolution, with the ReLU after it, and on flat
/// features) trains, and its kept weights, moving statistics included, evaluate to the accuracy
/// training recorded; `sweep models` counts the moving statistics as non-trainable. (Momentum
/// 0.9: with Keras's 0.99 the moving statistics of so short a training are still mostly their
/// start, and evaluation is poor, in Keras as here.)
#[test]
fn batch_norm_weights_evaluate_to_the_recorded_accuracy() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"ev\"\ndataset = \"mnist\"\ntrain_subset = 600\ntest_subset = 300\n\
         [models.bn]\nlayers = [\n  { type = \"conv2d\", filters = 6, kernel = 3, activation = \"linear\" },\n  { type = \"batch_norm\", momentum = 0.9, activation = \"relu\" },\n  { type = \"max_pool\", size = 2 },\n  { type = \"flatten\" },\n  { type = \"dense\", units = 32, activation = \"relu\" },\n  { type = \"batch_norm\", momentum = 0.9 },\n  { type = \"dense\", units = 10, activation = \"softmax\" },\n]\n\
         [[runs]]\nmodel = \"bn\"\noptimizer = \"adam\"\nepochs = 3\nbatch_size = 16\n",
    );
    let summary = sb
        .sweep()
        .args(["models", "m.toml"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = String::from_utf8(summary).unwrap();
    // 6 channels and 32 features, 4 vectors each; the moving two are not trained.
    assert!(
        summary.contains("batch_normalization_1 (BatchNormalization)")
            && summary.contains("Non-trainable params: 76"),
        "{summary}"
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    for (dir, s) in summaries(&sb) {
        let v = eval(
            &sb,
            &[
                dir.to_str().unwrap(),
                "--split",
                "val",
                "--weights",
                "final",
            ],
        );
        assert_eq!(v["accuracy"], s["last"]["val_accuracy"]);
        assert!(s["last"]["val_accuracy"].as_f64().unwrap() > 0.5, "{s}");
        // PyTorch, when a Python with torch is named (CI has none: the wheel is 5 GB):
        // `SWEEP_TORCH_PYTHON=$HOME/torch-venv/bin/python cargo test batch_norm`.
        let Ok(python) = std::env::var("SWEEP_TORCH_PYTHON") else {
            eprintln!("SWEEP_TORCH_PYTHON unset: tools/torch_load.py not run");
            continue;
        };
        let file = sb.path().join("bn.safetensors");
        let id = dir.file_name().unwrap().to_str().unwrap();
        sb.sweep()
            .args(["export", "results/ev", "--run", id, "--out"])
            .arg(&file)
            .assert()
            .success();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(python)
            .arg(repo.join("tools/torch_load.py"))
            .arg(&file)
            .arg(data_dir().join("mnist"))
            .arg("300")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "test accuracy {:.2}% on 300 images",
            100.0 * s["test_accuracy"].as_f64().unwrap()
        );
        assert!(
            text.contains(&want),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A model ending in global average pooling trains, and its kept weights evaluate to the
/// accuracy training recorded; so do a declared dataset's (evaluated on its own prepared data).
#[test]
fn global_avg_pool_and_declared_data_weights_evaluate_to_the_recorded_accuracy() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"ev\"\ndataset = \"mnist\"\ntrain_subset = 300\ntest_subset = 200\n\
         [models.gap]\nlayers = [\n  { type = \"conv2d\", filters = 6, kernel = 3, activation = \"relu\" },\n  { type = \"global_avg_pool\" },\n  { type = \"dense\", units = 10, activation = \"softmax\" },\n]\n\
         [[runs]]\nmodel = \"gap\"\noptimizer = \"adam\"\nepochs = 2\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (dir, s) in summaries(&sb) {
        let v = eval(
            &sb,
            &[
                dir.to_str().unwrap(),
                "--split",
                "val",
                "--weights",
                "final",
            ],
        );
        assert_eq!(v["accuracy"], s["last"]["val_accuracy"]);
    }
    // The committed wine runs' kept weights are gitignored: train one here, then evaluate it.
    let wine = std::fs::read_to_string(repo.join("experiments/wine.toml"))
        .unwrap()
        .replace(
            "../examples/data/",
            &format!("{}/examples/data/", repo.display()),
        )
        .replace("name = \"wine\"", "name = \"ev\"")
        .replace("seeds = [1, 2, 3, 4, 5]", "seeds = [1]");
    let sb = Sandbox::new();
    sb.write("m.toml", &wine);
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    for (dir, s) in summaries(&sb) {
        let v = eval(&sb, &[dir.to_str().unwrap(), "--weights", "final"]);
        assert_eq!(v["accuracy"], s["test_accuracy"], "{}", dir.display());
    }
}
