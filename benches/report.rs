//! `cargo bench --bench report`: the same as `sweep bench report` (10,000 synthetic runs x 50
//! epochs; load + aggregate + render markdown, timed; figures to results/bench/report.csv).

fn main() {
    sweep::bench::report(
        5_000,
        2,
        50,
        3,
        std::path::Path::new("results/bench/report.csv"),
    )
    .expect("report benchmark");
}
