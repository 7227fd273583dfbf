//! Per-epoch checkpoints: the model's and the optimizer's state plus the epoch records so far,
//! in one file written atomically, so a run killed at any moment resumes from its last
//! completed epoch and finishes with the same numbers as an uninterrupted one. (Random state
//! needs no saving: epoch `e` draws from its own stream, see [`crate::train::rng`].)

use crate::error::{Error, Result};
use crate::results::record::EpochRecord;
use crate::results::store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name inside a run directory.
pub(crate) const FILE: &str = "checkpoint.bin";

/// What a checkpoint holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    pub records: Vec<EpochRecord>,
    /// burnpack bytes of the module record.
    pub model: Vec<u8>,
    /// burnpack bytes of the optimizer record.
    pub optimizer: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    records: Vec<EpochRecord>,
    model_len: usize,
    optimizer_len: usize,
    /// SHA-256 over the records (as JSON) and both blobs: a checkpoint damaged anywhere is
    /// refused, never resumed from.
    sha256: String,
}

const FORMAT: u32 = 2;

fn digest(records: &[EpochRecord], model: &[u8], optimizer: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(records).expect("records serialize"));
    h.update((model.len() as u64).to_le_bytes());
    h.update(model);
    h.update(optimizer);
    hex::encode(h.finalize())
}

pub(crate) fn path(run_dir: &Path) -> PathBuf {
    run_dir.join(FILE)
}

/// Write the checkpoint atomically: a JSON header line, then the two byte blobs.
pub(crate) fn save(run_dir: &Path, c: &Checkpoint) -> Result<()> {
    let header = Header {
        format: FORMAT,
        records: c.records.clone(),
        model_len: c.model.len(),
        optimizer_len: c.optimizer.len(),
        sha256: digest(&c.records, &c.model, &c.optimizer),
    };
    let mut bytes = serde_json::to_vec(&header).expect("header serializes");
    bytes.push(b'\n');
    bytes.extend_from_slice(&c.model);
    bytes.extend_from_slice(&c.optimizer);
    store::write_atomic(&path(run_dir), &bytes)
}

/// Read the checkpoint, if there is one; an error if it is damaged (its checksum, sizes or
/// header disagree), which the worker answers by starting the run afresh.
pub(crate) fn load(run_dir: &Path) -> Result<Option<Checkpoint>> {
    let p = path(run_dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Read { path: p, source }),
    };
    let bad = |m: &str| Error::Results {
        path: p.clone(),
        message: format!("damaged checkpoint ({m})"),
    };
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| bad("no header"))?;
    let h: Header = serde_json::from_slice(&bytes[..nl]).map_err(|_| bad("bad header"))?;
    let body = &bytes[nl + 1..];
    if h.format != FORMAT {
        return Err(bad(&format!(
            "format {}, this build reads format {FORMAT}",
            h.format
        )));
    }
    if body.len() != h.model_len + h.optimizer_len {
        return Err(bad("wrong size"));
    }
    let (model, optimizer) = body.split_at(h.model_len);
    if digest(&h.records, model, optimizer) != h.sha256 {
        return Err(bad("checksum mismatch"));
    }
    Ok(Some(Checkpoint {
        records: h.records,
        model: model.to_vec(),
        optimizer: optimizer.to_vec(),
    }))
}

/// Remove the checkpoint once the run is finished (its results are the truth from then on).
pub(crate) fn remove(run_dir: &Path) {
    let _ = std::fs::remove_file(path(run_dir));
}
