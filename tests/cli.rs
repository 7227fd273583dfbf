//! End-to-end tests of the real binary: models, plan, input errors, data errors.

mod common;
use common::*;
use predicates::prelude::*;

#[test]
fn models_prints_the_four_builtins_with_the_papers_totals() {
    let sb = Sandbox::new();
    let out = sb
        .sweep()
        .arg("models")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let totals: Vec<_> = out
        .lines()
        .filter(|l| l.starts_with("Total params:"))
        .collect();
    assert_eq!(
        totals,
        [
            "Total params: 25,450",
            "Total params: 109,386",
            "Total params: 90,678",
            "Total params: 475,434"
        ]
    );
    assert!(out.contains("conv2d_4 (Conv2D)"), "{out}");
    assert!(out.contains("(None, 14, 14, 64)"), "{out}");
}

#[test]
fn plan_lists_the_papers_seven_configurations() {
    let sb = Sandbox::new();
    let out = sb
        .sweep()
        .args(["plan"])
        .arg(repo("experiments/paper.toml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for label in [
        "Simple NN",
        "Enhanced NN",
        "Simple CNN",
        "Enhanced CNN with default SGD",
        "Enhanced CNN with modified SGD",
        "Enhanced CNN with RMSprop",
        "Enhanced CNN with Adam",
    ] {
        assert!(out.contains(label), "missing {label}:\n{out}");
    }
    assert!(out.contains("7 runs, 570 epochs"), "{out}");

    let json = sb
        .sweep()
        .args(["plan", "--format", "json"])
        .arg(repo("experiments/paper.toml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 7);
    assert_eq!(v["runs"][6]["epochs"], 50);
    assert_eq!(v["runs"][4]["optimizer"]["momentum"], 0.5);
}

#[test]
fn every_shipped_manifest_plans() {
    let sb = Sandbox::new();
    for m in [
        "experiments/paper.toml",
        "experiments/ci.toml",
        "experiments/example.toml",
        "experiments/search.toml",
        "experiments/paper-seeds.toml",
        "experiments/fashion.toml",
    ] {
        sb.sweep()
            .arg("plan")
            .arg(repo(m))
            .arg("--no-calibrate")
            .assert()
            .success();
    }
}

const HEAD: &str = "[sweep]\nname = \"bad\"\ndataset = \"mnist\"\nepochs = 1\n";
const RUN: &str = "[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\n";
const HEAD_NO_EPOCHS: &str = "[sweep]\nname = \"bad\"\ndataset = \"mnist\"\n";
const GRID: &str = "[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\n";
/// A model whose width is a parameter (lines 5-10 after HEAD; the dense layer naming it on 8).
const WIDTH: &str = "[models.w]\nlayers = [\n  { type = \"flatten\" },\n  { type = \"dense\", units = \"$width\", activation = \"relu\" },\n  { type = \"dense\", units = 10, activation = \"softmax\" },\n]\n";

/// Each class of bad manifest: (name, manifest text, expected `file:line:col` prefix, words in the message).
fn bad_manifests() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        (
            "unknown device",
            format!("{HEAD}devices = [\"cpu\", \"gpu0\"]\n{RUN}"),
            "m.toml:5:11",
            "unknown device `gpu0`: use cpu, ndarray, wgpu, wgpu:N, vulkan, vulkan:N, cuda:N or auto",
        ),
        (
            "unknown key",
            format!("{HEAD}bacth_size = 32\n{RUN}"),
            "m.toml:5:1",
            "unknown field `bacth_size`",
        ),
        (
            "wrong type",
            format!("{HEAD}batch_size = \"32\"\n{RUN}"),
            "m.toml:5:14",
            "invalid type",
        ),
        (
            "unknown dataset",
            "[sweep]\nname = \"x\"\ndataset = \"cifar\"\n".to_string(),
            "m.toml:3:11",
            "unknown dataset `cifar`",
        ),
        (
            "unknown model reference",
            format!("{HEAD}[[runs]]\nmodel = \"resnet\"\noptimizer = \"sgd\"\n"),
            "m.toml:6:9",
            "unknown model `resnet`",
        ),
        (
            "unknown optimizer reference",
            format!("{HEAD}[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"adamw\"]\n"),
            "m.toml:7:13",
            "unknown optimizer `adamw`",
        ),
        (
            "duplicate key",
            format!("{HEAD}[optimizers.a]\nkind = \"sgd\"\n[optimizers.a]\nkind = \"adam\"\n{RUN}"),
            "m.toml:7:",
            "duplicate",
        ),
        (
            "builtin redefined",
            format!("{HEAD}[optimizers.adam]\nkind = \"adam\"\n{RUN}"),
            "m.toml:5:13",
            "already defined",
        ),
        (
            "duplicate run",
            format!("{HEAD}{RUN}{RUN}"),
            "m.toml:",
            "repeats run",
        ),
        (
            "momentum on adam",
            format!(
                "{HEAD}[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"adam\"\nmomentum = 0.9\n"
            ),
            "m.toml:8:12",
            "momentum does not apply",
        ),
        (
            "a parameter given a fraction where a whole number is needed",
            format!("{HEAD}{WIDTH}[grid]\nmodel = [\"w\"]\noptimizer = [\"sgd\"]\nwidth = [2.5]\n"),
            "m.toml:8:3",
            "with width = 2.5",
        ),
        (
            "a parameter whose value makes the model invalid",
            format!("{HEAD}{WIDTH}[grid]\nmodel = [\"w\"]\noptimizer = [\"sgd\"]\nwidth = [0]\n"),
            "m.toml:",
            "with width = 0",
        ),
        (
            "a model's parameter that no configuration sets",
            format!("{HEAD}{WIDTH}[grid]\nmodel = [\"w\"]\noptimizer = [\"sgd\"]\n"),
            "m.toml:8:3",
            "takes parameter `width`",
        ),
        (
            "a parameter no model names",
            format!(
                "{HEAD}{WIDTH}[grid]\nmodel = [\"w\"]\noptimizer = [\"sgd\"]\nwidth = [2]\nwidht = [3]\n"
            ),
            "m.toml:15:9",
            "neither an axis nor a parameter",
        ),
        (
            "an optimizer field naming an axis as a parameter",
            format!("{HEAD}[optimizers.a]\nkind = \"adam\"\nbeta2 = \"$lr\"\n{RUN}"),
            "m.toml:7:9",
            "`$lr` cannot name a parameter",
        ),
        (
            "an optimizer field of the wrong type",
            format!("{HEAD}[optimizers.a]\nkind = \"adam\"\nlr = \"fast\"\n{RUN}"),
            "m.toml:7:6",
            "lr: invalid type",
        ),
        (
            "an optimizer's parameter the run does not set",
            format!(
                "{HEAD}[optimizers.a]\nkind = \"adam\"\nbeta2 = \"$b2\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"a\"\n"
            ),
            "m.toml:10:13",
            "optimizer `a` takes parameter `b2`",
        ),
        (
            "an optimizer's parameter out of range",
            format!(
                "{HEAD}[optimizers.a]\nkind = \"adam\"\nbeta2 = \"$b2\"\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"a\"]\nb2 = [1.5]\n"
            ),
            "m.toml:11:",
            "beta2",
        ),
        (
            "a schedule's parameter of the wrong type",
            format!(
                "{HEAD}[schedules.s]\nkind = \"exponential\"\ndecay_steps = \"$steps\"\ndecay_rate = 0.5\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nschedule = [\"s\"]\nsteps = [2.5]\n"
            ),
            "m.toml:13:",
            "schedule `s`",
        ),
        (
            "an unknown placeholder in a program's command",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\", \"t.py\", \"{{lr}}\", \"{{wdith}}\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:6:11",
            "unknown placeholder {wdith}",
        ),
        (
            "a malformed placeholder",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\", \"{{a b}}\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:6:11",
            "in a placeholder",
        ),
        (
            "a metric a program cannot report (a name that is no name)",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"2fast\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:7:11",
            "`2fast` is not a metric name",
        ),
        (
            "a direction on a built-in metric",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"-val_loss\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:7:11",
            "`val_loss` is a built-in metric: its direction is fixed",
        ),
        (
            "a metric sweep computes itself",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"best_val_accuracy\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:7:11",
            "computed by sweep from the epochs",
        ),
        (
            "two programs declaring a metric both ways",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"-score\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n[programs.q]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"+score\"]\n"
            ),
            "m.toml:13:11",
            "`+score` is declared the other way round by program `p`",
        ),
        (
            "a halving metric no program reports",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\", \"val_f1\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n[search.halving]\nmetric = \"val_f2\"\nrungs = [1]\n"
            ),
            "m.toml:12:10",
            "unknown metric `val_f2`",
        ),
        (
            "a program's metrics without the required four",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"val_accuracy\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:7:11",
            "metrics must include `train_loss`",
        ),
        (
            "a program's timeout that is not a duration",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\ntimeout = \"soon\"\n[[runs]]\nprogram = \"p\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:8:11",
            "timeout `soon` is not a duration",
        ),
        (
            "an unknown program",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n[[runs]]\nprogram = \"q\"\noptimizer = \"sgd\"\n"
            ),
            "m.toml:9:11",
            "unknown program `q`",
        ),
        (
            "a placeholder a configuration has no value for",
            format!(
                "{HEAD}[programs.p]\ncommand = [\"python3\", \"{{momentum}}\"]\nmetrics = [\"train_loss\", \"train_accuracy\", \"val_loss\", \"val_accuracy\"]\n[[runs]]\nprogram = \"p\"\noptimizer = \"adam\"\n"
            ),
            "m.toml:9:11",
            "takes {momentum}, which this configuration does not set",
        ),
        (
            "a TPE batch larger than samples",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [1e-4, 1e-1] }}\n[search]\nmethod = \"tpe\"\nsamples = 4\nbatch = 6\n"
            ),
            "m.toml:12:9",
            "batch = 6 is larger than samples = 4",
        ),
        (
            "a batch for a search that does not learn",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [1e-4, 1e-1] }}\n[search]\nmethod = \"sobol\"\nsamples = 4\nbatch = 2\n"
            ),
            "m.toml:12:9",
            "`batch` is for method = \"tpe\"",
        ),
        (
            "a TPE search without a batch",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [1e-4, 1e-1] }}\n[search]\nmethod = \"tpe\"\nsamples = 4\n"
            ),
            "m.toml:10:10",
            "a TPE search needs `batch`",
        ),
        (
            "TPE learning from the test set",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [1e-4, 1e-1] }}\n[search]\nmethod = \"tpe\"\nsamples = 4\nbatch = 2\nmetric = \"test_accuracy\"\n"
            ),
            "m.toml:13:10",
            "TPE cannot learn from `test_accuracy`",
        ),
        (
            "TPE with successive halving",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [1e-4, 1e-1] }}\n[search]\nmethod = \"tpe\"\nsamples = 4\nbatch = 2\n[search.halving]\nrungs = [1]\n"
            ),
            "m.toml:13:1",
            "successive halving inside a TPE search is not supported yet",
        ),
        (
            "a TPE distribution with bounds that are not numbers",
            format!(
                "{HEAD}{GRID}lr = {{ log_uniform = [\"small\", 1e-1] }}\n[search]\nmethod = \"tpe\"\nsamples = 4\nbatch = 2\n"
            ),
            "m.toml:8:",
            "log_uniform",
        ),
        (
            "an objective no run has",
            format!("{HEAD}{RUN}[report]\nrank_by = [\"val_accuracy\", \"-speed\"]\n"),
            "m.toml:9:11",
            "unknown metric `-speed`",
        ),
        (
            "a schedule of an unknown kind",
            format!("{HEAD}[schedules.s]\nkind = \"linear\"\ndecay_steps = 10\n{RUN}"),
            "m.toml:5:1",
            "unknown variant `linear`",
        ),
        (
            "a step schedule with as many factors as boundaries",
            format!(
                "{HEAD}[schedules.s]\nkind = \"step\"\nboundaries = [10]\nfactors = [1.0]\n{RUN}"
            ),
            "m.toml:5:1",
            "one more factor than boundaries",
        ),
        (
            "an unknown schedule",
            format!("{HEAD}{GRID}schedule = [\"cosine\"]\n"),
            "m.toml:8:12",
            "unknown schedule `cosine`",
        ),
        (
            "a momentum axis no optimizer of the grid takes",
            format!(
                "{HEAD}[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"adam\"]\nmomentum = [0.9]\n"
            ),
            "m.toml:8:12",
            "momentum applies to no configuration",
        ),
        (
            "kernel larger than map",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"max_pool\", size = 9 }},\n  {{ type = \"conv2d\", filters = 4, kernel = 5, activation = \"relu\" }},\n  {{ type = \"flatten\" }},\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:8:3",
            "larger than the 3x3",
        ),
        (
            "dense without flatten",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:7:3",
            "flatten",
        ),
        (
            "pool empties the map",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"avg_pool\", size = 30 }},\n  {{ type = \"flatten\" }},\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:7:3",
            "empties",
        ),
        (
            "batch norm momentum of 1",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"flatten\" }},\n  {{ type = \"batch_norm\", momentum = 1.0 }},\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:8:3",
            "batch_norm momentum 1 is outside [0, 1)",
        ),
        (
            "batch norm epsilon of 0",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"flatten\" }},\n  {{ type = \"batch_norm\", epsilon = 0 }},\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:8:3",
            "batch_norm epsilon 0 is not a positive number",
        ),
        (
            "batch norm with softmax inside the network",
            format!(
                "{HEAD}[models.m]\nlayers = [\n  {{ type = \"flatten\" }},\n  {{ type = \"batch_norm\", activation = \"softmax\" }},\n  {{ type = \"dense\", units = 10, activation = \"softmax\" }},\n]\n{RUN}"
            ),
            "m.toml:8:3",
            "softmax",
        ),
        (
            "unknown layer type",
            format!("{HEAD}[models.m]\nlayers = [{{ type = \"lstm\" }}]\n{RUN}"),
            "m.toml:6:",
            "unknown variant `lstm`",
        ),
        (
            "a distribution in a grid search",
            format!(
                "{HEAD}[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nlr = {{ log_uniform = [1e-4, 1e-1] }}\n"
            ),
            "m.toml:8:6",
            "`lr` is a distribution, but the search is a grid",
        ),
        (
            "log_uniform from zero",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nlr = {{ log_uniform = [0, 1e-1] }}\n"
            ),
            "m.toml:11:6",
            "log_uniform needs positive bounds",
        ),
        (
            "bounds out of order",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nmomentum = {{ uniform = [0.9, 0.1] }}\n"
            ),
            "m.toml:11:12",
            "the bounds [0.9, 0.1] are out of order",
        ),
        (
            "a real distribution on a whole-number axis",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nepochs = {{ uniform = [1, 5] }}\n"
            ),
            "m.toml:11:10",
            "use epochs = { int_uniform = [low, high] }",
        ),
        (
            "a distribution on model",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nmodel = {{ uniform = [0, 1] }}\noptimizer = [\"sgd\"]\n"
            ),
            "m.toml:9:9",
            "`model` names things",
        ),
        (
            "unknown search method",
            format!(
                "{HEAD}[search]\nmethod = \"bayes\"\nsamples = 4\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\n"
            ),
            "m.toml:6:10",
            "unknown search method `bayes`",
        ),
        (
            "a sampled search without samples",
            format!(
                "{HEAD}[search]\nmethod = \"sobol\"\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\n"
            ),
            "m.toml:5:1",
            "a sampled search needs `samples`",
        ),
        (
            "a random search of a billion samples",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 1000000000\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\n"
            ),
            "m.toml:7:11",
            "a random search draws at most 10,000,000 samples, not 1,000,000,000",
        ),
        (
            "a random search of 10^18 samples",
            format!(
                "{HEAD}[search]\nmethod = \"random\"\nsamples = 1000000000000000000\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\n"
            ),
            "m.toml:7:11",
            "a random search draws at most 10,000,000 samples",
        ),
        (
            "halving rungs not increasing",
            format!("{HEAD_NO_EPOCHS}[search.halving]\nrungs = [1, 3, 2]\n{GRID}"),
            "m.toml:5:16",
            "rungs must increase: 2 comes after 3",
        ),
        (
            "a halving rung of zero",
            format!("{HEAD_NO_EPOCHS}[search.halving]\nrungs = [0, 2]\n{GRID}"),
            "m.toml:5:10",
            "a rung is an epoch, at least 1, not 0",
        ),
        (
            "a single halving rung",
            format!("{HEAD_NO_EPOCHS}[search.halving]\nrungs = [2]\n{GRID}"),
            "m.toml:5:9",
            "at least two rungs",
        ),
        (
            "a kept fraction outside (0, 1)",
            format!(
                "{HEAD_NO_EPOCHS}[search.halving]\nrungs = [1, 3]\nkeep_fraction = 1.5\n{GRID}"
            ),
            "m.toml:6:17",
            "keep_fraction must be between 0 and 1",
        ),
        (
            "halving on a test metric",
            format!(
                "{HEAD_NO_EPOCHS}[search.halving]\nmetric = \"test_accuracy\"\nrungs = [1, 3]\n{GRID}"
            ),
            "m.toml:5:10",
            "halving cannot decide on `test_accuracy`",
        ),
        (
            "epochs other than the last rung",
            format!("{HEAD}[search.halving]\nrungs = [1, 3]\n{GRID}"),
            "m.toml:4:10",
            "every run trains to the last rung (3), but epochs = 1",
        ),
        (
            "no training images left after the hold-out",
            format!("{HEAD}validation = 0.99\ntrain_subset = 10\n{RUN}"),
            "m.toml:6:16",
            "leaves none to train on",
        ),
        (
            "a subset larger than the dataset",
            format!("{HEAD}train_subset = 100000\n{RUN}"),
            "m.toml:5:16",
            "more than the 60000 examples there are",
        ),
        (
            "a grid without axes",
            format!("{HEAD}[grid]\n"),
            "m.toml:5:1",
            "it needs a model and an optimizer",
        ),
        (
            "a sampled axis whose bound is out of range, whatever the draws",
            format!(
                "{HEAD_NO_EPOCHS}[search]\nmethod = \"random\"\nsamples = 1\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nepochs = {{ int_uniform = [0, 2] }}\n"
            ),
            "m.toml:10:10",
            "epochs must be at least 1",
        ),
        (
            "a sampled learning rate whose low bound is negative",
            format!(
                "{HEAD}[search]\nmethod = \"sobol\"\nsamples = 2\n{GRID}lr = {{ uniform = [-0.1, 0.01] }}\n"
            ),
            "m.toml:11:6",
            "lr must be a positive number, got -0.1",
        ),
        (
            "two reference values of one metric for one configuration",
            format!(
                "{HEAD}{RUN}label = \"A\"\n[[report.reference]]\nlabel = \"A\"\nval_accuracy = 90\n[[report.reference]]\nlabel = \"A\"\nval_accuracy = 91\n"
            ),
            "m.toml:13:9",
            "`A` already has a reference value of val_accuracy",
        ),
        (
            "an empty comparison table",
            format!("{HEAD}{RUN}[[report.compare]]\nruns = []\n"),
            "m.toml:8:1",
            "would be an empty table",
        ),
        (
            "no devices",
            format!("{HEAD}devices = []\n{RUN}"),
            "m.toml:5:11",
            "devices is empty",
        ),
        (
            "toml syntax",
            format!("{HEAD}[grid\n"),
            "m.toml:5:6",
            "unclosed table",
        ),
    ]
}

#[test]
fn bad_manifests_are_reported_with_location_exit_2_and_nothing_written() {
    for (name, text, location, words) in bad_manifests() {
        for cmd in ["plan", "run"] {
            let sb = Sandbox::new();
            sb.write("m.toml", &text);
            let err = sb.stderr_of(&[cmd, "m.toml"], 2);
            assert!(
                err.contains(location),
                "{name} ({cmd}): expected {location} in:\n{err}"
            );
            assert!(
                err.contains(words),
                "{name} ({cmd}): expected `{words}` in:\n{err}"
            );
            assert!(
                !sb.results().exists(),
                "{name} ({cmd}): results/ was written"
            );
        }
    }
}

#[test]
fn plan_says_no_weights_are_kept_with_keep_none() {
    let sb = Sandbox::new();
    sb.write("m.toml", &format!("{HEAD}keep = \"none\"\n{RUN}"));
    let out = sb
        .sweep()
        .args(["plan", "m.toml"])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        plan.contains("weights kept (keep = \"none\"): none"),
        "{plan}"
    );
}

#[test]
fn a_results_path_that_is_a_file_is_refused_by_name() {
    let sb = Sandbox::new();
    sb.write("m.toml", &format!("{HEAD}{RUN}"));
    sb.write("afile", "");
    let err = sb.stderr_of(&["run", "m.toml", "--results", "afile"], 2);
    assert!(
        err.contains("--results afile is a file, not a directory"),
        "{err}"
    );
}

#[test]
fn missing_manifest_names_the_file() {
    let sb = Sandbox::new();
    sb.sweep()
        .args(["plan", "nope.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.toml"));
}

/// A data dir holding a copy of real MNIST with one file replaced.
fn damaged_data(
    sb: &Sandbox,
    file: &str,
    damage: impl Fn(Vec<u8>) -> Vec<u8>,
) -> std::path::PathBuf {
    let src = data_dir().join("mnist");
    let dst = sb.path().join("data/mnist");
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        let bytes = if name.starts_with(file) {
            damage(bytes)
        } else {
            bytes
        };
        std::fs::write(dst.join(&name), bytes).unwrap();
    }
    sb.path().join("data")
}

fn gunzip(b: Vec<u8>) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&b[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn truncated_or_tampered_data_is_refused_naming_the_file() {
    type Damage = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "t10k-labels-idx1-ubyte",
            Box::new(|b: Vec<u8>| b[..b.len() / 2].to_vec()),
            "truncated",
        ),
        (
            "t10k-labels-idx1-ubyte",
            Box::new(|b: Vec<u8>| {
                let mut raw = gunzip(b);
                raw.truncate(raw.len() - 10);
                raw
            }),
            "truncated",
        ),
        (
            "train-labels-idx1-ubyte",
            Box::new(|b: Vec<u8>| {
                let mut raw = gunzip(b);
                raw[100] = (raw[100] + 1) % 10;
                raw
            }),
            "SHA-256 mismatch",
        ),
    ];
    for (file, damage, words) in cases {
        let sb = Sandbox::new();
        let data = damaged_data(&sb, file, damage);
        sb.write(
            "m.toml",
            &format!("{HEAD}train_subset = 64\ntest_subset = 64\n{RUN}"),
        );
        let out = sb
            .sweep()
            .args(["run", "m.toml", "--data-dir"])
            .arg(&data)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(file), "{file}: {err}");
        assert!(err.contains(words), "{file}: expected `{words}` in {err}");
        assert!(!sb.results().exists(), "results/ was written");
    }
}

#[test]
fn missing_data_says_where_it_looked_and_how_to_fetch() {
    let sb = Sandbox::new();
    sb.write("m.toml", &format!("{HEAD}{RUN}"));
    // Offline (without it, `sweep run` downloads: tests/fetch.rs).
    let out = sb
        .sweep()
        .args(["run", "m.toml"])
        .env("SWEEP_OFFLINE", "1")
        .env("SWEEP_DATA_DIR", sb.path().join("empty"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("sweep data fetch mnist") && err.contains("empty"),
        "{err}"
    );
    assert!(!sb.results().exists());
}

/// Every numeric flag refuses 0 (where 0 makes no sense), -1 and a non-number with clap's
/// message and exit 2, before doing anything; nothing panics.
#[test]
fn numeric_flags_refuse_zero_negative_and_non_numbers() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"flags\"\ndataset = \"mnist\"\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\n",
    );
    let cases: &[(&[&str], &str, bool)] = &[
        (&["run", "m.toml"], "--jobs", true),
        (&["run", "m.toml"], "--threads", true),
        (&["submit", "m.toml", "--dry-run"], "--cpus-per-task", true),
        (&["submit", "m.toml", "--dry-run"], "--gpus-per-task", true),
        (
            &["submit", "m.toml", "--dry-run"],
            "--array-parallelism",
            true,
        ),
        (&["submit", "m.toml", "--dry-run"], "--max-array-size", true),
        (&["wait", "m.toml"], "--interval", true),
        (&["wait", "m.toml"], "--timeout", true),
        (
            &["check", "results", "--baseline", "b.json"],
            "--tolerance",
            false,
        ),
        (
            &["check", "results", "--baseline", "b.json"],
            "--loss-tolerance",
            false,
        ),
        (&["check", "results", "--baseline", "b.json"], "--k", false),
        (&["bench", "report"], "--configs", true),
        (&["bench", "report"], "--seeds", true),
        (&["bench", "report"], "--epochs", true),
        (&["bench", "report"], "--repeats", true),
        (&["bench", "conv"], "--batch", true),
        (&["bench", "conv"], "--repeats", true),
        (&["bench", "conv"], "--threads", true),
    ];
    for (args, flag, zero_is_bad) in cases {
        let mut values = vec!["-1", "many", "1e999x"];
        if *zero_is_bad {
            values.push("0");
        }
        for value in values {
            let out = sb
                .sweep()
                .args(*args)
                .arg(format!("{flag}={value}"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {flag}={value}: {err}");
            assert!(
                err.contains(flag) || err.contains("invalid value"),
                "{args:?} {flag}={value}: {err}"
            );
            assert!(!err.contains("panicked"), "{args:?} {flag}={value}: {err}");
        }
    }
    assert!(!sb.results().exists(), "nothing written");
}

#[test]
fn report_references_to_unknown_labels_or_metrics_are_manifest_errors() {
    let sb = Sandbox::new();
    let head = "[sweep]\nname = \"r\"\ndataset = \"mnist\"\n[[runs]]\nlabel = \"Simple NN\"\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n";
    // (file, [report] text after the run, what stderr must say, position first).
    let cases = [
        (
            "label.toml",
            "[[report.reference]]\nlabel = \"Simple CNN\"\nval_accuracy = 98.82\n",
            vec![
                "label.toml:10:9",
                "no configuration is labelled `Simple CNN`",
                "Simple NN",
            ],
        ),
        (
            "metric.toml",
            "[[report.reference]]\nlabel = \"Simple NN\"\nval_acc = 98.82\n",
            vec![
                "metric.toml:11:1",
                "unknown metric `val_acc`",
                "test_accuracy",
            ],
        ),
        (
            "percent.toml",
            "[[report.reference]]\nlabel = \"Simple NN\"\nval_accuracy = 120\n",
            vec!["percent.toml:11:16", "in percent"],
        ),
        (
            "compare.toml",
            "[[report.compare]]\nruns = [\"Simple NN\", \"Enhanced\"]\n",
            vec!["compare.toml:10:22", "`Enhanced`"],
        ),
    ];
    for (file, report, expected) in cases {
        sb.write(file, &format!("{head}{report}"));
        let out = sb
            .sweep()
            .args(["plan", file])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8(out.stderr).unwrap();
        for e in expected {
            assert!(err.contains(e), "{file}: expected `{e}` in {err}");
        }
    }
    // The paper's manifests, with their references, are valid.
    for m in [
        "experiments/paper.toml",
        "experiments/paper-seeds.toml",
        "experiments/fashion.toml",
    ] {
        sb.sweep().args(["plan"]).arg(repo(m)).assert().success();
    }
}

#[test]
fn completions_for_bash_are_valid_bash_and_know_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sb.sweep().args(["completions", shell]).assert().success();
        let script = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        for sub in ["plan", "run", "report", "check", "diff", "submit", "status"] {
            assert!(script.contains(sub), "{shell}: no {sub} in the completions");
        }
        // `worker` is hidden from --help; completions must not offer it either.
        assert!(
            !script.contains("worker"),
            "{shell} completions offer the hidden `worker`"
        );
        if shell == "bash" {
            let path = sb.write("sweep.bash", &script);
            let ok = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success(), "bash -n rejects the completions");
        }
    }
}

/// The new user: one dense layer of 2,000,000,000 units. `sweep plan` flags it with its
/// memory estimate; `sweep run` refuses it with exit 2 before fetching or writing anything, and
/// `sweep submit --mem` refuses it for a Slurm task the same way.
#[test]
fn a_model_that_cannot_fit_in_memory_is_flagged_by_plan_and_refused_by_run() {
    let sb = Sandbox::new();
    sb.write(
        "big.toml",
        "[sweep]\nname = \"big\"\ndataset = \"mnist\"\n[models.big]\nlayers = [{ type = \"flatten\" }, { type = \"dense\", units = 2000000000, activation = \"relu\" }, { type = \"dense\", units = 10, activation = \"softmax\" }]\n[[runs]]\nmodel = \"big\"\noptimizer = \"adam\"\nepochs = 1\n",
    );
    sb.sweep()
        .args(["plan", "big.toml"])
        .assert()
        .success()
        .stdout(predicates::str::contains("1,590,000,000,010"))
        .stdout(predicates::str::contains("TiB"))
        .stdout(predicates::str::contains(
            "1 run(s) need more memory than this machine has",
        ));
    sb.sweep()
        .args(["run", "big.toml"])
        .env("SWEEP_OFFLINE", "1")
        .env("SWEEP_DATA_DIR", sb.path().join("no-data"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "runs that cannot fit in this machine's memory",
        ))
        .stderr(predicates::str::contains(
            "model `big` (1,590,000,000,010 parameters): an estimated",
        ))
        // The manifest and the model's place in it.
        .stderr(predicates::str::contains(
            "big.toml: runs that cannot fit in this machine's memory",
        ))
        .stderr(predicates::str::contains("big.toml:4:9: model `big`"));
    assert!(!sb.results().exists(), "nothing written");
    sb.sweep()
        .args(["submit", "big.toml", "--mem", "4G", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "cannot fit in a task's --mem (4.0 GiB)",
        ));
    sb.sweep()
        .args(["submit", "big.toml", "--mem", "4X", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("use a number with K, M, G or T"));
}

/// `sweep plan` estimates the wall time here: it calibrates the models it has no speed for
/// (cached, so a second plan trains nothing), and with --no-calibrate and nothing cached it says
/// the time is unknown rather than guess. `sweep status` then tells what is left.
#[test]
fn plan_estimates_wall_time_from_a_cached_calibration_and_status_what_is_left() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"t\"\ndataset = \"mnist\"\ntrain_subset = 600\ntest_subset = 200\n[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"sgd\"]\nepochs = [2]\n",
    );
    sb.sweep()
        .args(["plan", "m.toml", "--no-calibrate"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "wall time: unknown (simple_cnn, simple_nn not calibrated",
        ));
    sb.sweep()
        .args(["status", "m.toml"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "2 run(s), 4 epoch(s) left; time unknown",
        ));
    sb.sweep()
        .args(["plan", "m.toml"])
        .assert()
        .success()
        .stderr(predicates::str::contains("calibrating simple_cnn"))
        .stdout(predicates::str::contains("estimated wall time here: "))
        .stdout(predicates::str::contains("run(s) at a time x 1 thread(s)"));
    let cache = sb.path().join(".cache/sweep/timing.json");
    let speeds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(
        speeds["per_image"].as_object().unwrap().len(),
        2,
        "{speeds}"
    );
    // Cached: the second plan calibrates nothing.
    sb.sweep()
        .args(["plan", "m.toml"])
        .assert()
        .success()
        .stderr(predicates::str::contains("calibrating").not());
    sb.sweep()
        .args(["status", "m.toml"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "2 run(s), 4 epoch(s) left: about ",
        ));
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    sb.sweep()
        .args(["status", "m.toml"])
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing left to train"));
}

/// A random and a Sobol search plan the same runs every time; another search seed plans others;
/// momentum is drawn only for the optimizers that take it.
#[test]
fn sampled_searches_are_reproducible_and_their_seed_changes_them() {
    let sb = Sandbox::new();
    let manifest = |method: &str, seed: u64| {
        format!(
            "[sweep]\nname = \"s\"\ndataset = \"mnist\"\nseeds = [1, 2]\n[search]\nmethod = \"{method}\"\nsamples = 12\nseed = {seed}\n[grid]\nmodel = [\"simple_nn\", \"simple_cnn\"]\noptimizer = [\"sgd\", \"adam\", \"rmsprop\"]\nlr = {{ log_uniform = [1e-4, 1e-1] }}\nmomentum = {{ uniform = [0.0, 0.9] }}\nepochs = {{ int_uniform = [1, 3] }}\n"
        )
    };
    let plan = |text: String| -> Vec<serde_json::Value> {
        sb.write("m.toml", &text);
        let out = sb
            .sweep()
            .args(["plan", "m.toml", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["runs"].as_array().unwrap().clone()
    };
    let ids = |runs: &[serde_json::Value]| -> Vec<String> {
        runs.iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    for method in ["random", "sobol"] {
        let a = plan(manifest(method, 7));
        assert_eq!(a.len(), 24, "{method}: 12 samples x 2 seeds");
        assert_eq!(
            ids(&a),
            ids(&plan(manifest(method, 7))),
            "{method}: same seed, same runs"
        );
        let b = plan(manifest(method, 8));
        let shared = ids(&b).iter().filter(|id| ids(&a).contains(id)).count();
        assert_eq!(
            shared, 0,
            "{method}: another seed draws other configurations"
        );
        for r in &a {
            let o = &r["optimizer"];
            let lr = o["lr"].as_f64().unwrap();
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
            match o["kind"].as_str().unwrap() {
                "adam" => assert!(o.get("momentum").is_none()),
                _ => assert!((0.0..=0.9).contains(&o["momentum"].as_f64().unwrap())),
            }
            assert!((1..=3).contains(&r["epochs"].as_u64().unwrap()));
        }
    }
    // Random and Sobol with the same seed are different designs.
    assert_ne!(
        ids(&plan(manifest("random", 7))),
        ids(&plan(manifest("sobol", 7)))
    );
    // Sampled runs train like any other (real MNIST, a small subset).
    sb.write(
        "small.toml",
        "[sweep]\nname = \"small\"\ndataset = \"mnist\"\ntrain_subset = 256\ntest_subset = 128\nepochs = 1\n[search]\nmethod = \"random\"\nsamples = 3\n[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nlr = { log_uniform = [1e-3, 1e-1] }\n",
    );
    sb.sweep()
        .args(["run", "small.toml", "--quiet"])
        .assert()
        .success();
    let done = std::fs::read_dir(sb.results().join("small/runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("summary.json").is_file())
        .count();
    assert_eq!(done, 3);
}

/// Optimizer parameters as axes, trained for real: Adam's beta2 reaches training (two runs, two
/// different results), and a momentum axis is skipped for Adam.
#[test]
fn optimizer_parameter_axes_train_and_are_conditional() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"axes\"\ndataset = \"mnist\"\nepochs = 1\ntrain_subset = 300\ntest_subset = 100\n\
         [grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\", \"adam\"]\nmomentum = [0.0, 0.9]\nbeta2 = [0.9, 0.999]\n",
    );
    let plan = sb
        .sweep()
        .args(["plan", "m.toml", "--no-calibrate"])
        .output()
        .unwrap();
    let text = String::from_utf8(plan.stdout).unwrap();
    assert!(text.contains("4 runs"), "{text}");
    assert!(
        text.contains("momentum is skipped for adam") && text.contains("beta2 is skipped for sgd"),
        "{text}"
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let runs = sb.results().join("axes/runs");
    let mut adam: Vec<(f64, String)> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|d| {
            let run: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
            let beta2 = run["optimizer"]["beta2"].as_f64()?;
            Some((
                beta2,
                std::fs::read_to_string(d.join("epochs.csv")).unwrap(),
            ))
        })
        .collect();
    adam.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(adam.iter().map(|a| a.0).collect::<Vec<_>>(), [0.9, 0.999]);
    let loss = |csv: &str| {
        csv.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_ne!(
        loss(&adam[0].1),
        loss(&adam[1].1),
        "beta2 must change training"
    );
}

/// A layer width and a dropout rate as parameters, trained for real: each configuration's
/// layers carry its values, and `sweep models` says the model takes parameters.
#[test]
fn model_parameters_train_as_axes() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"widths\"\ndataset = \"mnist\"\nepochs = 1\ntrain_subset = 300\ntest_subset = 100\n\
         [models.w]\nlayers = [\n  { type = \"flatten\" },\n  { type = \"dense\", units = \"$width\", activation = \"relu\" },\n  { type = \"dropout\", rate = \"$drop\" },\n  { type = \"dense\", units = 10, activation = \"softmax\" },\n]\n\
         [grid]\nmodel = [\"w\"]\noptimizer = [\"adam\"]\nwidth = [8, 32]\ndrop = [0.0, 0.5]\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let mut seen: Vec<(u64, f64)> = std::fs::read_dir(sb.results().join("widths/runs"))
        .unwrap()
        .map(|e| {
            let run: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path().join("run.json")).unwrap())
                    .unwrap();
            let layers = &run["layers"];
            (
                layers[1]["units"].as_u64().unwrap(),
                layers[2]["rate"].as_f64().unwrap(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(seen, [(8, 0.0), (8, 0.5), (32, 0.0), (32, 0.5)]);
    let out = sb.sweep().args(["models", "m.toml"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("names parameters $drop, $width"), "{text}");
}

/// A learning-rate schedule trained for real: epochs.csv records the rate of each epoch's last
/// step, Keras's ExponentialDecay of the optimizer's lr; a run without one has no lr column.
#[test]
fn a_schedule_trains_and_records_its_rate_per_epoch() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"sched\"\ndataset = \"mnist\"\nepochs = 2\nbatch_size = 100\ntrain_subset = 300\ntest_subset = 100\n\
         [schedules.halve]\nkind = \"exponential\"\ndecay_steps = 3\ndecay_rate = 0.5\n\
         [grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"sgd\"]\nschedule = [\"constant\", \"halve\"]\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let mut seen = Vec::new();
    for e in std::fs::read_dir(sb.results().join("sched/runs")).unwrap() {
        let dir = e.unwrap().path();
        let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        match header.iter().position(|h| *h == "lr") {
            None => seen.push(None),
            Some(i) => {
                let lrs: Vec<f64> = csv
                    .lines()
                    .skip(1)
                    .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
                    .collect();
                seen.push(Some(lrs));
            }
        }
    }
    seen.sort_by_key(Option::is_some);
    // 3 batches an epoch: the last steps are 2 and 5; 0.01 x 0.5^(step/3).
    let want = [0.01 * 0.5f64.powf(2.0 / 3.0), 0.01 * 0.5f64.powf(5.0 / 3.0)];
    let got = seen[1].clone().unwrap();
    assert!(seen[0].is_none(), "{seen:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{got:?} vs {want:?}");
    }
}

/// Parameters named by an optimizer (`momentum = "$mom"`) and a schedule (`decay_steps =
/// "$steps"`), trained for real: each run's recorded rates follow its own decay_steps, and the
/// report's settings and runs table carry the parameters.
#[test]
fn optimizer_and_schedule_parameters_train_as_axes() {
    let sb = Sandbox::new();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"sched\"\ndataset = \"mnist\"\nepochs = 2\nbatch_size = 100\ntrain_subset = 300\ntest_subset = 100\n\
         [optimizers.m]\nkind = \"sgd\"\nmomentum = \"$mom\"\n\
         [schedules.halve]\nkind = \"exponential\"\ndecay_steps = \"$steps\"\ndecay_rate = 0.5\n\
         [grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"m\"]\nmom = [0.5]\nschedule = [\"halve\"]\nsteps = [3, 6]\n",
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let out = sb
        .sweep()
        .args(["report", "results/sched", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = report[0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let settings = &run["settings"];
        assert_eq!(settings["momentum"], 0.5);
        assert_eq!(settings["mom"], 0.5);
        let steps = settings["steps"].as_f64().unwrap();
        let csv = std::fs::read_to_string(
            sb.results()
                .join("sched/runs")
                .join(run["id"].as_str().unwrap())
                .join("epochs.csv"),
        )
        .unwrap();
        let i = csv
            .lines()
            .next()
            .unwrap()
            .split(',')
            .position(|h| h == "lr")
            .unwrap();
        let last: f64 = csv
            .lines()
            .nth(2)
            .unwrap()
            .split(',')
            .nth(i)
            .unwrap()
            .parse()
            .unwrap();
        // The second epoch's last step is 5: 0.01 x 0.5^(5 / steps).
        let want = 0.01 * 0.5f64.powf(5.0 / steps);
        assert!(
            (last - want).abs() < 1e-15,
            "steps {steps}: {last} vs {want}"
        );
    }
    let md = sb
        .sweep()
        .args(["report", "results/sched", "--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| run | model | optimizer | steps | params |"),
        "{md}"
    );
}

/// Weight decay as an axis, trained for real: it reaches training, and a run without it keeps
/// the id (and run.json) it would have had before weight decay existed.
#[test]
fn weight_decay_is_an_axis_that_reaches_training() {
    let sb = Sandbox::new();
    let head = "[sweep]\nname = \"wd\"\ndataset = \"mnist\"\nepochs = 1\ntrain_subset = 300\ntest_subset = 100\n";
    sb.write(
        "plain.toml",
        &format!("{head}[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"adam\"\n"),
    );
    sb.write(
        "m.toml",
        &format!("{head}[grid]\nmodel = [\"simple_nn\"]\noptimizer = [\"adam\"]\nweight_decay = [0.0, 0.5]\n"),
    );
    let ids = |m: &str| {
        let out = sb
            .sweep()
            .args(["plan", m, "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (plain, grid) = (ids("plain.toml"), ids("m.toml"));
    assert_eq!(grid.len(), 2);
    assert_eq!(
        grid[0], plain[0],
        "weight_decay = 0 is no decay: the same run"
    );
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let loss = |id: &str| {
        let csv = std::fs::read_to_string(sb.results().join("wd/runs").join(id).join("epochs.csv"))
            .unwrap();
        csv.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_ne!(loss(&grid[0]), loss(&grid[1]));
    let run: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sb.results().join("wd/runs").join(&grid[1]).join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["optimizer"]["weight_decay"], 0.5);
}

/// SGD with momentum under a schedule trains (with Keras's momentum rule), and a 1-epoch run is
/// exactly the first epoch of the 2-epoch one.
#[test]
fn scheduled_sgd_momentum_trains_and_a_shorter_run_is_its_start() {
    let manifest = "[sweep]\nname = \"sm\"\ndataset = \"mnist\"\nepochs = 2\nbatch_size = 100\ntrain_subset = 300\ntest_subset = 100\n\
         [schedules.halve]\nkind = \"exponential\"\ndecay_steps = 3\ndecay_rate = 0.5\n\
         [[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nmomentum = 0.9\nnesterov = true\nschedule = \"halve\"\n";
    let whole = Sandbox::new();
    whole.write("m.toml", manifest);
    whole
        .sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let parted = Sandbox::new();
    parted.write("m.toml", &manifest.replace("epochs = 2", "epochs = 1"));
    parted
        .sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    let epochs = |sb: &Sandbox| {
        let runs = sb.results().join("sm/runs");
        let dir = std::fs::read_dir(runs)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read_to_string(dir.join("epochs.csv"))
            .unwrap()
            .lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| ![7, 8].contains(i))
                    .map(|(_, f)| f)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (epochs(&whole), epochs(&parted));
    assert_eq!(a.len(), 3);
    // The first epoch of a 1-epoch run is the first epoch of the 2-epoch run (common random
    // numbers, a schedule by step), bit for bit.
    assert_eq!(a[..2], b[..2]);
}

/// A device this build cannot train on is refused before anything is written (exit 2), naming
/// the cargo feature it needs; an unknown or malformed one names those that exist.
#[test]
fn devices_this_build_lacks_are_refused_up_front_naming_the_feature() {
    let sb = Sandbox::new();
    sb.write("m.toml", &format!("{HEAD}{RUN}"));
    let mut cases = vec![
        (
            "tpu",
            "unknown device `tpu`: use cpu, ndarray, wgpu, wgpu:N, vulkan",
        ),
        ("cuda:x", "bad device `cuda:x`"),
        ("cpu:1", "`cpu` takes no index"),
        ("cpu,cpu", "device `cpu` is named twice"),
    ];
    if !cfg!(feature = "cuda") {
        cases.push((
            "cuda:0",
            "--features cuda, which tools/cuda-llvm.sh does offline",
        ));
    } else if !std::path::Path::new("/dev/nvidia0").exists() {
        cases.push(("cuda:0", "no NVIDIA driver on this machine"));
    }
    if !cfg!(feature = "wgpu") {
        cases.push(("wgpu", "--features wgpu"));
    }
    if !cfg!(feature = "vulkan") {
        cases.push(("vulkan:1", "--features vulkan"));
    }
    for (device, says) in cases {
        let e = sb.stderr_of(&["run", "m.toml", "--quiet", "--devices", device], 2);
        assert!(e.contains(says), "{device}: {e}");
        assert!(!sb.results().exists(), "{device}: nothing is written");
    }
}
