//! A TPE search's proposals (`results/<sweep>/search.json`), as plain data: written by
//! [`crate::exec::search`] batch by batch, read by it and by reports (the best-so-far curve).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The proposals file, in the sweep's results directory.
pub(crate) const FILE: &str = "search.json";

/// `search.json`: the settings the batches were proposed with, and the batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Proposals {
    pub method: String,
    pub metric: String,
    pub samples: usize,
    pub startup: usize,
    pub batch: usize,
    pub seed: u64,
    /// The search's dimensions as proposed in (`lr: log_uniform [0.0001, 0.1]`): a manifest
    /// whose space changed cannot go on from these points.
    pub space: Vec<String>,
    pub batches: Vec<Batch>,
}

/// One batch of proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// 1-based.
    pub batch: usize,
    /// The configurations (with their scores) it was proposed from; 0 for the Sobol start.
    pub learnt_from: usize,
    /// The best score among those, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_so_far: Option<f64>,
    /// Its configurations, as points of the unit cube (one coordinate per dimension of
    /// `space`) and as labels.
    pub points: Vec<Vec<f64>>,
    pub labels: Vec<String>,
}

impl Proposals {
    /// Configurations proposed so far.
    pub(crate) fn proposed(&self) -> usize {
        self.batches.iter().map(|b| b.points.len()).sum()
    }

    pub(crate) fn points(&self) -> Vec<Vec<f64>> {
        self.batches.iter().flat_map(|b| b.points.clone()).collect()
    }
}

pub(crate) fn path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join(FILE)
}

/// The proposals in `sweep_dir`, as written (`None` when there are none).
pub(crate) fn read(sweep_dir: &Path) -> Result<Option<Proposals>> {
    let file = path(sweep_dir);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Read { path: file, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Results {
            path: file,
            message: format!("not a TPE search's proposals: {e}"),
        })
}
