//! CSV outputs: the runs table (one row per run) and the tidy per-epoch table. Each run's
//! settings ([`Settings`]) are columns of their own, one per axis any run has (empty where a run
//! has none), so the header is built from the rows rather than from a struct.

use super::{EpochRow, Report, RunRow, Settings};

/// One row per run of every report, with its settings and final metrics (fractions, not
/// percentages).
pub(crate) fn render(reports: &[Report]) -> String {
    let runs: Vec<(&str, &RunRow)> = reports
        .iter()
        .flat_map(|r| r.runs.iter().map(move |x| (r.sweep.as_str(), x)))
        .collect();
    let keys = crate::spec::settings::keys(runs.iter().map(|(_, r)| &r.settings));
    let mut headers: Vec<String> = ["sweep", "run_id", "config_id", "label", "params"]
        .map(String::from)
        .to_vec();
    headers.extend(keys.iter().cloned());
    headers.extend(
        [
            "epochs_done",
            "train_accuracy",
            "train_loss",
            "val_accuracy",
            "val_loss",
            "best_val_accuracy",
            "best_epoch",
            "test_accuracy",
            "test_loss",
            "best_epoch_test_accuracy",
            "test_is_validation",
        ]
        .map(String::from),
    );
    let custom = super::custom_metrics(runs.iter().map(|(_, r)| *r));
    headers.extend(custom.iter().map(|m| m.name().to_string()));
    headers.extend(["wall_seconds", "images_per_sec", "status"].map(String::from));
    let rows = runs.iter().map(|(sweep, r)| {
        let mut row = vec![
            sweep.to_string(),
            r.id.clone(),
            r.config_id.clone(),
            r.label.clone(),
            r.params.to_string(),
        ];
        row.extend(settings_cells(&r.settings, &keys));
        row.extend([
            r.epochs_done.to_string(),
            opt(r.train_accuracy),
            opt(r.train_loss),
            opt(r.val_accuracy),
            opt(r.val_loss),
            opt(r.best_val_accuracy),
            r.best_epoch.map_or_else(String::new, |e| e.to_string()),
            opt(r.test_accuracy),
            opt(r.test_loss),
            opt(r.best_epoch_test_accuracy),
            r.test_is_validation.to_string(),
        ]);
        row.extend(custom.iter().map(|m| opt(r.get(*m))));
        row.extend([
            r.wall_seconds.to_string(),
            opt(r.images_per_sec),
            r.status.name().to_string(),
        ]);
        row
    });
    write(&headers, rows)
}

/// The tidy per-epoch CSV: one row per run x epoch.
pub(crate) fn render_epochs(rows: &[EpochRow]) -> String {
    let keys = crate::spec::settings::keys(rows.iter().map(|r| &r.settings));
    let mut headers: Vec<String> = ["sweep", "run_id", "label"].map(String::from).to_vec();
    headers.extend(keys.iter().cloned());
    headers.extend(
        [
            "epoch",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "test_loss",
            "test_accuracy",
            "seconds",
            "images_per_sec",
            "epoch_lr",
        ]
        .map(String::from),
    );
    let custom: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.record.extra.keys().map(String::as_str))
        .collect();
    headers.extend(custom.iter().map(|n| n.to_string()));
    let out = rows.iter().map(|r| {
        let e = r.record;
        let mut row = vec![
            r.sweep.to_string(),
            r.run_id.to_string(),
            r.label.to_string(),
        ];
        row.extend(settings_cells(&r.settings, &keys));
        row.extend([
            e.epoch.to_string(),
            e.train_loss.to_string(),
            e.train_accuracy.to_string(),
            e.val_loss.to_string(),
            e.val_accuracy.to_string(),
            opt(e.test_loss),
            opt(e.test_accuracy),
            e.seconds.to_string(),
            e.images_per_sec.to_string(),
            opt(e.lr),
        ]);
        row.extend(custom.iter().map(|n| opt(e.extra.get(*n).copied())));
        row
    });
    write(&headers, out)
}

/// A run's value of each key, empty where it has none.
fn settings_cells<'a>(s: &'a Settings, keys: &'a [String]) -> impl Iterator<Item = String> + 'a {
    keys.iter()
        .map(|k| s.get(k).map_or_else(String::new, |v| v.to_string()))
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

fn write(headers: &[String], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(headers).expect("csv header");
    for row in rows {
        w.write_record(&row).expect("csv row");
    }
    String::from_utf8(w.into_inner().expect("csv")).expect("utf-8")
}
