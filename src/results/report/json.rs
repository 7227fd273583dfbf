//! The report as JSON, for other tools.

use super::Report;

pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("report serializes") + "\n"
}
