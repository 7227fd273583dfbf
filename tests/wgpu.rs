//! Training on a GPU through wgpu, checked where there is no GPU: with Mesa's lavapipe (a Vulkan
//! 1.3 device that runs on the CPU; Debian's mesa-vulkan-drivers), the whole wgpu path (shaders compiled, buffers on
//! the device, results read back) trains real MNIST. The same runs on `--devices wgpu` and on
//! the CPU reach accuracies within 1 point; each run's summary names the device it trained on,
//! so a run silently trained on the CPU fails here; a checkpoint written on wgpu resumes there;
//! `--per-gpu 2` trains two runs at once on the one device.
//! Needs `--features wgpu` and a Vulkan driver: `cargo test --profile gpu-test --features wgpu
//! --test wgpu` (the profile CI builds it with: unoptimised, see Cargo.toml).
#![cfg(feature = "wgpu")]

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const MANIFEST: &str = "[sweep]\nname = \"g\"\ndataset = \"mnist\"\ntrain_subset = 512\ntest_subset = 256\n\
[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"adam\"]\nepochs = [1]\n";

/// Per finished run (by label): its final validation accuracy and the device its summary names.
fn outcomes(results: &Path, sweep: &str) -> Vec<(String, f64, String)> {
    let mut out: Vec<(String, f64, String)> = std::fs::read_dir(results.join(sweep).join("runs"))
        .unwrap()
        .filter_map(|e| {
            let s: Value = serde_json::from_slice(
                &std::fs::read(e.unwrap().path().join("summary.json")).unwrap(),
            )
            .unwrap();
            // Pruned by successive halving: trained, but not to the end.
            if s["status"] == "pruned" {
                return None;
            }
            assert_eq!(s["status"], "done", "{s}");
            Some((
                s["label"].as_str().unwrap().to_string(),
                s["last"]["val_accuracy"].as_f64().unwrap(),
                s["device"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `sweep run` with cubecl's autotuning at its least: each wgpu process compiles and times
/// fewer kernel variants (on lavapipe that halves the test's time; the results are the same).
fn run(sb: &Sandbox, manifest: &str, args: &[&str]) {
    run_with(sb, manifest, args, &[]);
}

/// [`run`] with more environment variables.
fn run_with(sb: &Sandbox, manifest: &str, args: &[&str], env: &[(&str, &str)]) {
    sb.sweep()
        .env("CUBECL_AUTOTUNE_LEVEL", "minimal")
        .envs(env.iter().copied())
        .args(["run", manifest, "--quiet"])
        .args(args)
        .assert()
        .success();
}

#[test]
fn wgpu_trains_as_the_cpu_does_resumes_its_checkpoints_and_runs_two_per_gpu() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    // The CPU reference convolves directly, as burn's wgpu kernels do (`SWEEP_CONV=burn`):
    // our CPU kernels take Winograd F(4x4, 3x3), whose rounding (about 1e-5 of the largest
    // output) moves a one-epoch run on 512 images by a point or two of accuracy, more than the
    // tolerance below (Simple CNN: 53.5% against 54.7% on wgpu and with burn's convolution).
    run_with(
        &sb,
        "m.toml",
        &["--devices", "cpu", "--results", "cpu"],
        &[("SWEEP_CONV", "burn")],
    );
    run(
        &sb,
        "m.toml",
        &["--devices", "wgpu", "--per-gpu", "2", "--results", "gpu"],
    );
    let cpu = outcomes(&sb.path().join("cpu"), "g");
    let gpu = outcomes(&sb.path().join("gpu"), "g");
    assert_eq!(cpu.len(), 2);
    for ((label, on_cpu, cpu_device), (_, on_gpu, gpu_device)) in cpu.iter().zip(&gpu) {
        assert!(cpu_device.contains("Flex"), "{label}: {cpu_device}");
        assert!(
            gpu_device.contains("Wgpu("),
            "{label} was not trained on wgpu: {gpu_device}"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            assert!(
                gpu_device.contains("llvmpipe"),
                "CI trains on lavapipe: {gpu_device}"
            );
        }
        assert!(*on_cpu > 0.3, "{label} learnt: {on_cpu}");
        assert!(
            (on_cpu - on_gpu).abs() <= 0.01,
            "{label}: cpu {on_cpu}, wgpu {on_gpu}"
        );
        eprintln!(
            "{label}: cpu {:.2}%, wgpu {:.2}% on {gpu_device}",
            on_cpu * 100.0,
            on_gpu * 100.0
        );
    }

    // A checkpoint written on wgpu resumes there: successive halving stops both runs (trained
    // two at once) after epoch 1 and trains the better one on to epoch 2 from its checkpoint;
    // that run's epoch 2 is the one a straight two-epoch run reaches (on the CPU, which the
    // one-epoch runs above matched; a run restarted from scratch would be 15 points off).
    let halving = "[sweep]\nname = \"h\"\ndataset = \"mnist\"\ntrain_subset = 512\ntest_subset = 256\nvalidation = 0.25\n\
[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"adam\", \"sgd\"]\n\
[search.halving]\nrungs = [1, 2]\nkeep_fraction = 0.5\n";
    sb.write("h.toml", halving);
    run(
        &sb,
        "h.toml",
        &["--devices", "wgpu", "--per-gpu", "2", "--results", "halved"],
    );
    let resumed = outcomes(&sb.path().join("halved"), "h");
    assert_eq!(
        resumed.len(),
        1,
        "one configuration trained on to epoch 2: {resumed:?}"
    );
    let (label, acc, device) = &resumed[0];
    assert!(device.contains("Wgpu("), "{device}");
    let optimizer = if label.contains(" sgd") {
        "sgd"
    } else {
        "adam"
    };
    sb.write(
        "s.toml",
        &halving
            .replace(
                "[search.halving]\nrungs = [1, 2]\nkeep_fraction = 0.5\n",
                "",
            )
            .replace("[\"adam\", \"sgd\"]", &format!("[\"{optimizer}\"]"))
            .replace("validation = 0.25\n", "validation = 0.25\nepochs = 2\n"),
    );
    run(
        &sb,
        "s.toml",
        &["--devices", "cpu", "--results", "straight"],
    );
    let straight = outcomes(&sb.path().join("straight"), "h");
    let (_, want, _) = straight.iter().find(|s| &s.0 == label).unwrap();
    assert!(
        (acc - want).abs() <= 0.01,
        "{label}: resumed on wgpu {acc}, straight on the cpu {want}"
    );
}

#[test]
fn gpus_that_are_not_there_are_refused_up_front_naming_what_there_is() {
    let sb = Sandbox::new();
    sb.write("m.toml", MANIFEST);
    // lavapipe is a CPU adapter, not a discrete GPU: `wgpu:0` names a GPU this machine lacks.
    let e = sb.stderr_of(&["run", "m.toml", "--quiet", "--devices", "wgpu:5"], 2);
    assert!(e.contains("there is no discrete GPU 5"), "{e}");
    assert!(!sb.results().exists(), "nothing is written: {e}");
}
