//! The one home of human formatting: durations, bytes, FLOPs and counts print the same wherever
//! they appear, and every table the tool prints goes through [`markdown_table`] (which escapes
//! `|`) or [`terminal_table`].

/// 3725.2 s -> "1h 02m"; 75 s -> "1m 15s"; 4.2 s -> "4.2s".
pub(crate) fn duration(s: f64) -> String {
    let s = s.max(0.0);
    if s >= 3600.0 {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

/// Bytes as a reader wants them: "348 MiB", "1.5 GiB", "6.3 TiB".
pub(crate) fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// 1.2e15 -> "1.20 P".
pub(crate) fn flops(f: u64) -> String {
    let units = [
        ("E", 1e18),
        ("P", 1e15),
        ("T", 1e12),
        ("G", 1e9),
        ("M", 1e6),
    ];
    let f = f as f64;
    for (u, s) in units {
        if f >= s {
            return format!("{:.2} {u}", f / s);
        }
    }
    format!("{f:.0}")
}

/// 475434 -> "475,434".
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A cell of a Markdown table: `|` escaped, so a label holding one keeps its row intact; a
/// line break would end the row, so it becomes a space.
pub(crate) fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// How a Markdown table's columns align.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Every column left (`---|`).
    Left,
    /// The first column left, the others right (`---:|`), for tables of numbers.
    NumbersRight,
}

/// A GitHub-flavoured Markdown table, every cell escaped.
pub(crate) fn markdown_table<S: AsRef<str>>(
    headers: &[S],
    rows: &[Vec<String>],
    align: Align,
) -> String {
    let line = |cells: &mut dyn Iterator<Item = String>| {
        format!("| {} |\n", cells.collect::<Vec<_>>().join(" | "))
    };
    let mut out = line(&mut headers.iter().map(|h| markdown_cell(h.as_ref())));
    out.push('|');
    for i in 0..headers.len() {
        out.push_str(match align {
            Align::NumbersRight if i > 0 => "---:|",
            _ => "---|",
        });
    }
    out.push('\n');
    for r in rows {
        out.push_str(&line(&mut r.iter().map(|c| markdown_cell(c))));
    }
    out
}

/// A table for the terminal (box drawing), numbers right-aligned from column `right_from`.
pub(crate) fn terminal_table<S: AsRef<str>>(
    headers: &[S],
    rows: &[Vec<String>],
    right_from: Option<usize>,
) -> String {
    use tabled::settings::{Alignment, Style, object::Columns};
    let mut b = tabled::builder::Builder::default();
    b.push_record(headers.iter().map(|h| h.as_ref().to_string()));
    for r in rows {
        b.push_record(r.clone());
    }
    let mut t = b.build();
    t.with(Style::sharp());
    if let Some(from) = right_from {
        t.modify(Columns::new(from..), Alignment::right());
    }
    t.to_string()
}

/// A run's parameter count for tables: `-` for a program's run (its model is the program's).
pub(crate) fn params(n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        thousands(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_per_quantity() {
        assert_eq!(duration(4.24), "4.2s");
        assert_eq!(duration(75.0), "1m 15s");
        assert_eq!(duration(3725.2), "1h 02m");
        assert_eq!(bytes(512), "0.5 KiB");
        assert_eq!(bytes(348 << 20), "348 MiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(bytes(7 << 40), "7.0 TiB");
        assert_eq!(flops(1_200_000_000_000_000), "1.20 P");
        assert_eq!(flops(999), "999");
        assert_eq!(thousands(475434), "475,434");
        assert_eq!(thousands(330), "330");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn markdown_tables_escape_pipes_and_line_breaks() {
        let t = markdown_table(
            &["label", "acc"],
            &[vec!["a|b\nc".into(), "1".into()]],
            Align::NumbersRight,
        );
        assert_eq!(t, "| label | acc |\n|---|---:|\n| a\\|b c | 1 |\n");
        // Every row has as many unescaped separators as the header.
        let unescaped = |l: &str| l.replace("\\|", "").matches('|').count();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.iter().all(|l| unescaped(l) == unescaped(lines[0])));
    }
}
