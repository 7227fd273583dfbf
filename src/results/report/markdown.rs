//! The report as GitHub-flavoured Markdown, with plots embedded when they were written.

use super::Report;
use super::sections::{Section, sections};

use crate::fmt::markdown_cell as escape;

pub(crate) fn render(report: &Report) -> String {
    let mut out = format!("# Sweep `{}`\n", report.sweep);
    for n in &report.notes {
        out.push_str(&format!("\n> {}\n", n));
    }
    out.push_str(&render_sections(&sections(report)));
    let curves = super::sections::curve_plots(report);
    if !curves.is_empty() {
        out.push_str("\n## Learning curves\n");
        for (label, p) in curves {
            out.push_str(&format!(
                "\n### {}\n\n![{}]({p})\n",
                escape(label),
                escape(label)
            ));
        }
    }
    out
}

/// Titled tables as Markdown (`##` headings, pipes escaped).
pub(crate) fn render_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        out.push_str(&format!("\n## {}\n\n", s.title));
        out.push_str(&crate::fmt::markdown_table(
            &s.headers,
            &s.rows,
            crate::fmt::Align::NumbersRight,
        ));
        if let Some(n) = &s.note {
            out.push_str(&format!("\n{n}\n"));
        }
        for p in &s.plots {
            out.push_str(&format!("\n![{}]({p})\n", escape(&s.title)));
        }
    }
    out
}
