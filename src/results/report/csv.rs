//! CSV outputs: the runs table (one row per run) and the tidy per-epoch table.

use super::{EpochRow, Report};

/// One row per run, with its configuration and final metrics (fractions, not percentages).
pub(crate) fn render(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &report.runs {
        w.serialize(CsvRun {
            sweep: &report.sweep,
            run_id: &r.id,
            config_id: &r.config_id,
            label: &r.label,
            model: &r.model,
            params: r.params,
            optimizer: &r.optimizer,
            lr: r.lr,
            momentum: r.momentum,
            epochs: r.epochs,
            batch_size: r.batch_size,
            seed: r.seed,
            epochs_done: r.epochs_done,
            train_accuracy: r.train_accuracy,
            train_loss: r.train_loss,
            val_accuracy: r.val_accuracy,
            val_loss: r.val_loss,
            best_val_accuracy: r.best_val_accuracy,
            best_epoch: r.best_epoch,
            test_accuracy: r.test_accuracy,
            test_loss: r.test_loss,
            best_epoch_test_accuracy: r.best_epoch_test_accuracy,
            test_is_validation: r.test_is_validation,
            wall_seconds: r.wall_seconds,
            images_per_sec: r.images_per_sec,
            status: r.status.name(),
        })
        .expect("csv row");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}

#[derive(serde::Serialize)]
struct CsvRun<'a> {
    sweep: &'a str,
    run_id: &'a str,
    config_id: &'a str,
    label: &'a str,
    model: &'a str,
    params: usize,
    optimizer: &'a str,
    lr: f64,
    momentum: Option<f64>,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    epochs_done: usize,
    train_accuracy: Option<f64>,
    train_loss: Option<f64>,
    val_accuracy: Option<f64>,
    val_loss: Option<f64>,
    best_val_accuracy: Option<f64>,
    best_epoch: Option<usize>,
    test_accuracy: Option<f64>,
    test_loss: Option<f64>,
    best_epoch_test_accuracy: Option<f64>,
    test_is_validation: bool,
    wall_seconds: f64,
    images_per_sec: Option<f64>,
    status: &'a str,
}

/// The tidy per-epoch CSV: one row per run x epoch.
pub(crate) fn render_epochs(rows: &[EpochRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).expect("csv row");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}
