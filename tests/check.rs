//! `sweep check` on real small sweeps: identical results pass, a truly degraded manifest fails
//! naming the configuration, a missing baseline is a usage error with a hint.

mod common;
use common::*;

fn manifest(lr: &str) -> String {
    format!(
        "[sweep]\nname = \"gate\"\ndataset = \"mnist\"\ntrain_subset = 1000\ntest_subset = 500\nepochs = 2\n\
         [optimizers.tuned]\nkind = \"adam\"\nlr = {lr}\n\
         [[runs]]\nlabel = \"Simple NN tuned Adam\"\nmodel = \"simple_nn\"\noptimizer = \"tuned\"\n\
         [[runs]]\nlabel = \"Simple NN SGD\"\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\n"
    )
}

#[test]
fn identical_results_pass_and_a_degraded_manifest_fails_naming_the_configuration() {
    let sb = Sandbox::new();
    sb.write("good.toml", &manifest("0.001"));
    sb.write("bad.toml", &manifest("1e-7"));
    sb.sweep()
        .args(["run", "good.toml", "--results", "good"])
        .assert()
        .success();
    sb.sweep()
        .args(["check", "good/gate", "--save-baseline", "baseline.json"])
        .assert()
        .success();

    let ok = sb
        .sweep()
        .args([
            "check",
            "good/gate",
            "--baseline",
            "baseline.json",
            "--format",
            "markdown",
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let ok = String::from_utf8(ok).unwrap();
    assert!(
        ok.contains("0 regressed, 0 missing") && ok.ends_with("ok\n"),
        "{ok}"
    );

    sb.sweep()
        .args(["run", "bad.toml", "--results", "bad"])
        .assert()
        .success();
    let out = sb
        .sweep()
        .args([
            "check",
            "bad/gate",
            "--baseline",
            "baseline.json",
            "--format",
            "markdown",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains("Simple NN tuned Adam"))
        .unwrap_or_default();
    assert!(
        line.contains("**REGRESSED**") && line.contains("matched by label"),
        "{out}"
    );
    let sgd = out
        .lines()
        .find(|l| l.contains("Simple NN SGD"))
        .unwrap_or_default();
    assert!(
        sgd.contains("within tolerance"),
        "the unchanged configuration is fine: {out}"
    );
}

#[test]
fn a_missing_baseline_exits_2_with_a_hint() {
    let sb = Sandbox::new();
    let fixture = sweep::results::report::fixture::synthetic(2, 1, 3);
    sweep::results::report::fixture::write(&sb.results(), &fixture).unwrap();
    let out = sb
        .sweep()
        .args(["check", "results/synthetic", "--baseline", "nope.json"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(
        err.contains("nope.json") && err.contains("--save-baseline"),
        "{err}"
    );
}

#[test]
fn a_missing_configuration_fails_the_gate() {
    let sb = Sandbox::new();
    let fixture = sweep::results::report::fixture::synthetic(3, 1, 3);
    sweep::results::report::fixture::write(&sb.path().join("all"), &fixture).unwrap();
    sweep::results::report::fixture::write(&sb.path().join("some"), &fixture[..2]).unwrap();
    sb.sweep()
        .args(["check", "all/synthetic", "--save-baseline", "b.json"])
        .assert()
        .success();
    let out = sb
        .sweep()
        .args([
            "check",
            "some/synthetic",
            "--baseline",
            "b.json",
            "--format",
            "markdown",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("| config 00002 | - | - | - | - | - | - | **MISSING** |")
    );
}

#[test]
fn other_seeds_are_within_noise_and_a_real_regression_still_fails() {
    let sb = Sandbox::new();
    let m = |seeds: &str, lr: &str| {
        format!(
            "[sweep]\nname = \"noise\"\ndataset = \"mnist\"\ntrain_subset = 1000\ntest_subset = 500\nepochs = 2\nseeds = [{seeds}]\n\
             [optimizers.tuned]\nkind = \"adam\"\nlr = {lr}\n\
             [[runs]]\nlabel = \"nn\"\nmodel = \"simple_nn\"\noptimizer = \"tuned\"\n"
        )
    };
    sb.write("a.toml", &m("1, 2, 3", "0.001"));
    sb.write("b.toml", &m("4, 5, 6", "0.001"));
    sb.write("bad.toml", &m("4, 5, 6", "1e-7"));
    for (f, dir) in [("a.toml", "a"), ("b.toml", "b"), ("bad.toml", "bad")] {
        sb.sweep()
            .args(["run", f, "--results", dir, "--quiet"])
            .assert()
            .success();
    }
    sb.sweep()
        .args(["check", "a/noise", "--save-baseline", "baseline.json"])
        .assert()
        .success();
    // Any change at all is beyond a zero tolerance; other seeds' is not significant.
    let out = sb
        .sweep()
        .args([
            "check",
            "b/noise",
            "--baseline",
            "baseline.json",
            "--format",
            "markdown",
        ])
        .args(["--tolerance", "0", "--k", "0"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("within noise") && out.contains("(Welch)"),
        "{out}"
    );
    let out = sb
        .sweep()
        .args([
            "check",
            "bad/noise",
            "--baseline",
            "baseline.json",
            "--format",
            "markdown",
        ])
        .args(["--tolerance", "0", "--k", "0"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("**REGRESSED**"), "{out}");
}

#[test]
fn diff_compares_two_sweeps_configuration_by_configuration() {
    let sb = Sandbox::new();
    let m = |sgd_lr: &str| {
        format!(
            "[sweep]\nname = \"d\"\ndataset = \"mnist\"\ntrain_subset = 1000\ntest_subset = 500\nepochs = 2\nseeds = [1, 2]\n\
             [optimizers.plain]\nkind = \"sgd\"\nlr = {sgd_lr}\n\
             [[runs]]\nlabel = \"adam\"\nmodel = \"simple_nn\"\noptimizer = \"adam\"\n\
             [[runs]]\nlabel = \"sgd\"\nmodel = \"simple_nn\"\noptimizer = \"plain\"\n"
        )
    };
    sb.write("a.toml", &m("0.01"));
    sb.write("b.toml", &m("0.1"));
    for (f, dir) in [("a.toml", "a"), ("b.toml", "b")] {
        sb.sweep()
            .args(["run", f, "--results", dir, "--quiet"])
            .assert()
            .success();
    }
    let out = sb
        .sweep()
        .args(["diff", "a/d", "b/d", "--format", "markdown"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    // The same configuration (same runs, bit for bit) is within noise; ten times SGD's learning
    // rate after 2 epochs on 1,000 images is better, and says so with its interval.
    assert!(
        out.contains("| adam |") && out.contains("+0.00 pp"),
        "{out}"
    );
    assert!(out.contains("| sgd |") && out.contains("better"), "{out}");
    insta::assert_snapshot!(out);
}
