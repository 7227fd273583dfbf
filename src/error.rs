//! Errors a user can cause, each naming the file involved and what would be right.
//!
//! Exit codes (documented in the README and docs/guide.md): 0 ok, 1 failed runs or regressions, 2 usage or input error.

use std::fmt;
use std::path::PathBuf;

/// A position in a manifest, 1-based, as editors show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The offending source line, shown under the message with a caret.
    pub snippet: String,
}

impl Location {
    /// Locate byte offset `offset` of `source` (the text of `file`).
    pub fn from_offset(file: impl Into<PathBuf>, source: &str, offset: usize) -> Self {
        let offset = offset.min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        let snippet = source[line_start..]
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        Location {
            file: file.into(),
            line,
            column,
            snippet,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A problem in a manifest, found while parsing or validating it (before any training).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// What is accepted instead, when we know.
    pub help: Option<String>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if !self.location.snippet.is_empty() {
            let gutter = self.location.line.to_string();
            let pad = " ".repeat(gutter.len());
            write!(
                f,
                "\n {pad} |\n {gutter} | {}\n {pad} | {}^",
                self.location.snippet,
                " ".repeat(self.location.column.saturating_sub(1))
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every error `sweep` reports to a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", format_manifest_errors(.0))]
    Manifest(Vec<ManifestError>),
    #[error("{}: {message}\n  = help: {help}", path.display())]
    Data {
        path: PathBuf,
        message: String,
        help: String,
    },
    #[error(
        "dataset `{dataset}` not found; looked in:\n{}\n  = help: {help}",
        format_list(searched)
    )]
    DataMissing {
        dataset: String,
        searched: Vec<PathBuf>,
        help: String,
    },
    #[error("download of {url} failed: {message}")]
    Download { url: String, message: String },
    #[error("{}: {message}", path.display())]
    Results { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    /// A cluster command (sbatch, squeue) is missing or refused what we asked.
    #[error("{command}: {message}\n  = help: {help}")]
    Cluster {
        command: String,
        message: String,
        help: String,
    },
    #[error("training failed: {0}")]
    Training(String),
    /// A worker process could not be started or waited for (not a failure of its run).
    #[error("worker process: {0}")]
    Worker(String),
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error: 2 for anything the user can fix in their input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Training(_) | Error::Worker(_) => 1,
            Error::Interrupted => 130,
            _ => 2,
        }
    }
}

fn format_manifest_errors(errors: &[ManifestError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&e.to_string());
    }
    if errors.len() > 1 {
        out.push_str(&format!("\n\n{} problems in the manifest", errors.len()));
    }
    out
}

fn format_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("  - {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_columns_from_one() {
        let src = "a = 1\nbb = 2\n";
        let loc = Location::from_offset("m.toml", src, 8);
        assert_eq!((loc.line, loc.column), (2, 3));
        assert_eq!(loc.snippet, "bb = 2");
        assert_eq!(loc.to_string(), "m.toml:2:3");
    }

    #[test]
    fn manifest_error_shows_caret_and_help() {
        let e = ManifestError {
            location: Location::from_offset("m.toml", "x = 1\n", 4),
            message: "bad".into(),
            help: Some("use 2".into()),
        };
        let s = e.to_string();
        assert!(s.starts_with("m.toml:1:5: bad"), "{s}");
        assert!(s.contains("    ^"), "{s}");
        assert!(s.ends_with("= help: use 2"), "{s}");
    }
}
