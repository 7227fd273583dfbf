//! The report as one self-contained HTML page: every table of the Markdown report (sortable by
//! any column, filtered by a search box), its plots inlined as SVG, inline CSS and a little
//! script, nothing fetched: it opens in any browser offline.

use super::Report;
use super::sections::{Section, sections};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #1b1f24; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
blockquote { margin: .5em 0; padding: .3em 1em; border-left: 4px solid #d0a000; background: #fff8e0; }
#filter { width: 24em; padding: .4em .6em; font-size: 1em; margin: .5em 0 1em; }
table { border-collapse: collapse; margin: .5em 0; }
.wrap { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f5f7; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " \25B2"; } th[aria-sort="descending"]::after { content: " \25BC"; }
tbody tr:nth-child(even) { background: #fafbfc; }
.note { color: #57606a; } figure { margin: 1em 0; } figcaption { font-weight: 600; }
.count { color: #57606a; font-size: .9em; }
"#;

/// Sorting by a column (numbers by value: `98.91 ± 0.19%` sorts as 98.91) and the filter box
/// (a row stays when its text contains every word typed; `#filter=...` in the address fills
/// it). Sets `data-ready` on the body when it has run, which the browser test reads.
const SCRIPT: &str = r#"
(function () {
  function key(cell) {
    var t = cell.textContent.trim();
    var m = t.match(/^[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?/i);
    return m ? parseFloat(m[0].replace(/,/g, "")) : t.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var box = document.getElementById("filter");
  function filter() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var shown = 0, rows = table.tBodies[0].rows;
      Array.prototype.forEach.call(rows, function (r) {
        var t = r.textContent.toLowerCase();
        var keep = words.every(function (w) { return t.indexOf(w) >= 0; });
        r.style.display = keep ? "" : "none";
        if (keep) shown++;
      });
      var count = table.closest("section").querySelector(".count");
      if (count) count.textContent = shown + " of " + rows.length + " rows";
    });
  }
  box.addEventListener("input", filter);
  // A link can carry a filter: report.html#filter=adam%20seed=2
  var m = location.hash.match(/^#filter=(.*)$/);
  if (m) box.value = decodeURIComponent(m[1]);
  filter();
  document.body.setAttribute("data-ready", "1");
})();
"#;

/// The page. `svg(path)` gives the SVG text of a plot the report refers to (by the relative
/// path [`super::write_plots`] recorded), or `None` to leave it out.
pub(crate) fn render(report: &Report, svg: &dyn Fn(&str) -> Option<String>) -> String {
    let title = format!("Sweep {}", report.sweep);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Sweep <code>{}</code></h1>\n",
        text(&title),
        text(&report.sweep)
    );
    for n in &report.notes {
        out.push_str(&format!("<blockquote>{}</blockquote>\n", text(n)));
    }
    out.push_str(
        "<input id=\"filter\" type=\"search\" placeholder=\"Filter rows: words that must all appear (e.g. adam seed=2)\" aria-label=\"Filter rows\">\n",
    );
    for s in sections(report) {
        section(&mut out, &s, svg);
    }
    let curves = super::sections::curve_plots(report);
    if !curves.is_empty() {
        out.push_str("<section>\n<h2>Learning curves</h2>\n");
        for (label, p) in curves {
            if let Some(s) = svg(p) {
                out.push_str(&format!(
                    "<figure><figcaption>{}</figcaption>{}</figure>\n",
                    text(label),
                    inline_svg(&s)
                ));
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body>\n</html>\n"));
    out
}

fn section(out: &mut String, s: &Section, svg: &dyn Fn(&str) -> Option<String>) {
    out.push_str(&format!(
        "<section>\n<h2>{}</h2>\n<div class=\"count\"></div>\n<div class=\"wrap\">\n<table class=\"sortable\">\n<thead><tr>",
        text(&s.title)
    ));
    for h in &s.headers {
        out.push_str(&format!(
            "<th scope=\"col\" title=\"{}\">{}</th>",
            attr(&format!("sort by {h}")),
            text(h)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &s.rows {
        out.push_str("<tr>");
        for c in row {
            // Numbers (and values like `98.91 ± 0.19%`) right-aligned, words left.
            let numeric = c
                .trim_start_matches(['-', '+'])
                .starts_with(|ch: char| ch.is_ascii_digit());
            out.push_str(&format!(
                "<td{}>{}</td>",
                if numeric { " class=\"num\"" } else { "" },
                text(c)
            ));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    if let Some(n) = &s.note {
        out.push_str(&format!("<p class=\"note\">{}</p>\n", text(n)));
    }
    for svg in s.plots.iter().filter_map(|p| svg(p)) {
        out.push_str(&format!("<figure>{}</figure>\n", inline_svg(&svg)));
    }
    out.push_str("</section>\n");
}

/// An SVG file's text as an element of the page: without its XML declaration.
fn inline_svg(s: &str) -> &str {
    match s.find("<svg") {
        Some(i) => &s[i..],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_svg_inlined() {
        let mut out = String::new();
        let s = Section {
            title: "a <b> & c".into(),
            headers: vec!["config".into(), "val acc".into()],
            rows: vec![vec!["<script>x</script>".into(), "98.91 ± 0.19%".into()]],
            plots: vec!["p.svg".into()],
            note: Some("n & m".into()),
        };
        section(&mut out, &s, &|p| {
            (p == "p.svg").then(|| "<?xml version=\"1.0\"?>\n<svg></svg>".to_string())
        });
        assert!(out.contains("<h2>a &lt;b&gt; &amp; c</h2>"), "{out}");
        assert!(
            out.contains("<td>&lt;script&gt;x&lt;/script&gt;</td>"),
            "{out}"
        );
        assert!(
            out.contains("<td class=\"num\">98.91 ± 0.19%</td>"),
            "{out}"
        );
        assert!(out.contains("<figure><svg></svg></figure>"), "{out}");
        assert!(!out.contains("<?xml"));
    }
}
