//! The backends agree: the same run trained on burn's ndarray backend and on flex (the default,
//! with our kernels) reaches accuracies within 1 percentage point. Needs `--features ndarray`:
//! `cargo test --features ndarray --test backends`.
#![cfg(feature = "ndarray")]

mod common;
use common::*;

#[test]
fn ndarray_and_flex_train_the_same_run_to_within_one_point() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"b\"\ndataset = \"mnist\"\ntrain_subset = 2000\ntest_subset = 1000\n[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"adam\"]\nepochs = [1]\n",
    );
    let mut acc = Vec::new();
    for device in ["cpu", "ndarray"] {
        let results = format!("results-{device}");
        sb.sweep()
            .args([
                "run",
                "m.toml",
                "--quiet",
                "--devices",
                device,
                "--results",
                &results,
            ])
            .assert()
            .success();
        let mut runs: Vec<(String, f64)> =
            std::fs::read_dir(sb.path().join(&results).join("b/runs"))
                .unwrap()
                .map(|e| {
                    let s: serde_json::Value = serde_json::from_slice(
                        &std::fs::read(e.unwrap().path().join("summary.json")).unwrap(),
                    )
                    .unwrap();
                    (
                        s["label"].as_str().unwrap().to_string(),
                        s["last"]["val_accuracy"].as_f64().unwrap(),
                    )
                })
                .collect();
        runs.sort_by(|a, b| a.0.cmp(&b.0));
        acc.push(runs);
    }
    for ((label, flex), (_, ndarray)) in acc[0].iter().zip(&acc[1]) {
        assert!(*flex > 0.5, "{label} learnt: {flex}");
        assert!(
            (flex - ndarray).abs() <= 0.01,
            "{label}: flex {flex}, ndarray {ndarray}"
        );
        eprintln!(
            "{label}: flex {:.2}%, ndarray {:.2}%",
            flex * 100.0,
            ndarray * 100.0
        );
    }
}
