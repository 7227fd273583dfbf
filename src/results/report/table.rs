//! The report as terminal tables (tabled).

use super::Report;
use super::sections::{Section, sections};
use tabled::builder::Builder;
use tabled::settings::{Alignment, Style, object::Columns};

pub fn render(report: &Report) -> String {
    let mut out = format!("sweep {}\n", report.sweep);
    for n in &report.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&render_sections(&sections(report)));
    out
}

/// Titled terminal tables.
pub fn render_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        let mut b = Builder::default();
        b.push_record(s.headers.clone());
        for r in &s.rows {
            b.push_record(r.clone());
        }
        let mut t = b.build();
        t.with(Style::sharp())
            .modify(Columns::new(1..), Alignment::right());
        out.push_str(&format!("\n{}\n{t}\n", s.title));
        if let Some(n) = &s.note {
            out.push_str(&format!("{n}\n"));
        }
        if let Some(p) = &s.plot {
            out.push_str(&format!("plot: {p}\n"));
        }
    }
    out
}
