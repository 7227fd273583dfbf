//! The HTML report in a real browser: `sweep report --format html` of the committed CI sweep,
//! rendered by headless Chromium. Its tables and plots must be in the rendered DOM, its script
//! must run to the end (it marks the body) without an error, and a filter given in the address
//! must hide the rows that do not match. Without Chromium the test says so and passes, except
//! in CI (`CI=true`), which installs it.

mod common;
use common::*;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_tables_plots_and_no_script_errors() {
    let sb = Sandbox::new();
    let page = sb.path().join("report.html");
    sb.sweep()
        .args([
            "report",
            repo("results/ci").to_str().unwrap(),
            "--format",
            "html",
            "--out",
        ])
        .arg(&page)
        .assert()
        .success();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing fetched.
    for external in ["src=\"http", "href=\"http", "<link", "@import"] {
        assert!(
            !html.contains(external),
            "the page fetches something: {external}"
        );
    }
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs chromium for this test (.ci/run)"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let render = |url: String| {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
            ])
            .arg(url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // Console errors from the page's script ("Uncaught TypeError: ...").
        assert!(!stderr.contains("Uncaught"), "script error: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let url = format!("file://{}", page.display());
    let dom = render(url.clone());
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not run to its end"
    );
    let tables = dom.matches("<table class=\"sortable\"").count();
    assert!(
        tables >= 4,
        "{tables} tables: runs, ranking and the two comparisons"
    );
    assert!(
        dom.matches("<svg").count() >= 16 + 3,
        "the curves, the comparisons and the strip plot"
    );
    assert!(
        dom.contains("16 of 16 rows"),
        "the row counts are filled in"
    );
    // A filter in the address: the Runs table keeps the 4 Adam runs.
    let dom = render(format!("{url}#filter=adam"));
    assert!(
        dom.contains("4 of 16 rows"),
        "the filter from the address hides the others"
    );
}

/// The committed sweep of many knobs (`results/widths`) as one HTML page in headless Chromium:
/// the importance table, a plot of the metric against each parameter, the parallel
/// coordinates and the Pareto plot are in the rendered page, and its script runs to the end.
#[test]
fn the_html_report_renders_the_pictures_of_a_parameter_sweep() {
    let sb = Sandbox::new();
    let page = sb.path().join("widths.html");
    sb.sweep()
        .args(["report", repo("results/widths").to_str().unwrap()])
        .args([
            "--rank-by",
            "val_accuracy,-wall_seconds",
            "--format",
            "html",
            "--out",
        ])
        .arg(&page)
        .assert()
        .success();
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs chromium for this test (.ci/run)"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
        ])
        .args(["--v=0", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Uncaught"),
        "{stderr}"
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not run to its end"
    );
    for seen in [
        "What each parameter explains (val acc)",
        "val acc against width",
        "val acc against lr",
        "val acc against every parameter (parallel coordinates)",
        "Pareto front (val acc up, time (s) down)",
    ] {
        assert!(dom.contains(seen), "{seen} is not in the rendered page");
    }
    // The parallel coordinates are drawn: one line per configuration with results (6) plus
    // one per axis (5: lr, beta2, dropout, width, val acc).
    let start = dom
        .find("val acc against every parameter (parallel coordinates)")
        .unwrap();
    let svg = &dom[start..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<polyline").count(), 6 + 5, "{svg}");
}
