//! The report as terminal tables (tabled).

use super::Report;
use super::sections::{Section, sections};

pub(crate) fn render(report: &Report) -> String {
    let mut out = format!("sweep {}\n", report.sweep);
    for n in &report.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&render_sections(&sections(report)));
    out
}

/// Titled terminal tables.
pub(crate) fn render_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        let t = crate::fmt::terminal_table(&s.headers, &s.rows, Some(1));
        out.push_str(&format!("\n{}\n{t}\n", s.title));
        if let Some(n) = &s.note {
            out.push_str(&format!("{n}\n"));
        }
        for p in &s.plots {
            out.push_str(&format!("plot: {p}\n"));
        }
    }
    out
}
