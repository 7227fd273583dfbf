//! External training programs (`[programs.<name>]`): the user's own script, run once per run
//! with its settings in its argv and environment, reporting one JSON object per finished epoch
//! (the contract: docs/programs.md). As plain data: what to start and what it reports; the
//! worker that starts it is [`crate::exec::program`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A declared program, as every run of it needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub name: String,
    /// The argv, each element a template: `{lr}` is replaced by the run's value, whole, as one
    /// argument (never split, never passed through a shell).
    pub command: Vec<String>,
    /// Environment variables, values as templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The metric names each epoch's object carries.
    pub metrics: Vec<String>,
    /// A run's wall-clock limit, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// What one run of it holds at most, in bytes (for the memory budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Where it runs (the manifest's directory): relative paths in `command` are relative to
    /// it. Not part of a run's identity.
    pub dir: PathBuf,
}

/// Placeholders a template may name besides the run's settings: known only when it starts.
/// `optimizer_kind` is the optimizer's family (`sgd` for a declared `sgd_modified`).
pub(crate) const RUNTIME: [&str; 5] =
    ["run_dir", "threads", "device", "data_dir", "optimizer_kind"];

/// The metrics every program reports each epoch: what the built-in trainer records.
pub(crate) const REQUIRED: [&str; 4] = ["train_loss", "train_accuracy", "val_loss", "val_accuracy"];
/// Metrics a program may report too (runs validated on a hold-out measure the test set).
pub(crate) const OPTIONAL: [&str; 2] = ["test_loss", "test_accuracy"];

/// A template's pieces: literal text, or a placeholder's name. `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// `{name}`, or `{name|default}`: the default where the run has no such value.
    Name(String, Option<String>),
}

fn pieces(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut default: Option<String> = None;
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if default.is_some() => default.get_or_insert_default().push(c),
                        Some('|') => default = Some(String::new()),
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        Some(c) => {
                            return Err(format!(
                                "`{t}`: `{c}` in a placeholder; a placeholder is {{name}} (letters, digits, _), and {{{{ is a literal brace"
                            ));
                        }
                        None => {
                            return Err(format!(
                                "`{t}`: a `{{` is never closed (write {{{{ for a literal brace)"
                            ));
                        }
                    }
                }
                if name.is_empty() {
                    return Err(format!("`{t}`: an empty placeholder {{}}"));
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Name(name, default));
            }
            '}' => {
                return Err(format!(
                    "`{t}`: a lone `}}` (write }}}} for a literal brace)"
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The placeholders `t` names, in order, each with whether it has a default, or what is wrong
/// with it.
pub(crate) fn placeholders(t: &str) -> Result<Vec<(String, bool)>, String> {
    Ok(pieces(t)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Name(n, d) => Some((n, d.is_some())),
            Piece::Text(_) => None,
        })
        .collect())
}

/// `t` with each placeholder replaced by `value(name)`; the first name without a value is the
/// error.
pub(crate) fn render(t: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    for p in pieces(t)? {
        match p {
            Piece::Text(s) => out.push_str(&s),
            Piece::Name(n, d) => out.push_str(&value(&n).or(d).ok_or(n)?),
        }
    }
    Ok(out)
}

impl Program {
    /// The metrics it reports besides the built-in ones, by name, with their declared
    /// direction (`"-perplexity"`: [`crate::spec::metric::split_goal`]).
    pub fn custom_metrics(
        &self,
    ) -> impl Iterator<Item = (&str, Option<crate::spec::metric::Goal>)> {
        self.metrics
            .iter()
            .map(|m| crate::spec::metric::split_goal(m))
            .filter(|(name, _)| !REQUIRED.contains(name) && !OPTIONAL.contains(name))
    }

    /// Make its metrics known by name, with their declared directions, to everything that
    /// ranks or compares them ([`crate::spec::metric::Metric::custom`]).
    pub fn declare_metrics(&self) {
        for (name, goal) in self.custom_metrics() {
            // Names were checked when the manifest was read; a hand-edited run.json's bad name
            // is simply no metric.
            let _ = crate::spec::metric::Metric::custom(name, goal);
        }
    }

    /// Every placeholder of its command and environment.
    pub fn placeholders(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .required()
            .into_iter()
            .chain(
                self.templates()
                    .flat_map(|t| placeholders(t).unwrap_or_default())
                    .map(|p| p.0),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The placeholders without a default: every run needs a value for each.
    pub fn required(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .templates()
            .flat_map(|t| placeholders(t).unwrap_or_default())
            .filter(|(_, default)| !default)
            .map(|p| p.0)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn templates(&self) -> impl Iterator<Item = &String> {
        self.command.iter().chain(self.env.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_whole_arguments_and_braces_escape() {
        let v = |n: &str| match n {
            "lr" => Some("0.001".to_string()),
            "label" => Some("a b \"c\" $(rm -rf /) {x}".to_string()),
            _ => None,
        };
        assert_eq!(render("--lr={lr}", &v).unwrap(), "--lr=0.001");
        // A value is inserted as it is: its braces, quotes and `$(...)` are not read again.
        assert_eq!(render("{label}", &v).unwrap(), "a b \"c\" $(rm -rf /) {x}");
        assert_eq!(render("{{lr}} {lr}", &v).unwrap(), "{lr} 0.001");
        assert_eq!(render("{nope}", &v).unwrap_err(), "nope");
        assert_eq!(
            placeholders("{a}-{b|0}{{c}}").unwrap(),
            [("a".to_string(), false), ("b".to_string(), true)]
        );
        assert_eq!(render("{momentum|0} {lr|1}", &v).unwrap(), "0 0.001");
        assert_eq!(render("{x|}", &v).unwrap(), "");
        for bad in ["{", "{a", "}", "{}", "{a b}"] {
            assert!(placeholders(bad).is_err(), "{bad}");
        }
    }
}
