//! The report as JSON, for other tools.

use super::Report;

/// The reports of one or more sweeps, as one JSON array.
pub(crate) fn render(reports: &[Report]) -> String {
    serde_json::to_string_pretty(reports).expect("reports serialize") + "\n"
}
