//! Trained weights kept in a run's directory as safetensors files: `final.safetensors` (after the
//! last epoch) and `best.safetensors` (after the best validation epoch, when that is another
//! epoch), as `[sweep] keep` asks. Tensors are named after the manifest's layer list,
//! `layers.<index>.weight` and `layers.<index>.bias` (index 0 is the first layer listed), in
//! f32, with the layout burn trains in: dense kernels `[in, out]` (as Keras; PyTorch's
//! `nn.Linear` wants the transpose), convolution kernels `[out, in, kh, kw]` (as PyTorch). The
//! file's metadata says what the weights are, in one key, `sweep`, as JSON. One key, because
//! the safetensors crate keeps metadata in a hash map whose order changes from one map to the
//! next: with more keys, the same weights written twice would differ in their bytes and so in
//! their sha256 (`summary.json`); with one, a file's bytes depend only on what it holds.
//!
//! Plain data: this module reads and writes the files; the trainer turns them into networks.

use crate::error::{Error, Result};
use crate::results::store;
use crate::spec::arch::Layer;
use crate::spec::manifest::Dataset;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// How the tensors are laid out, as the header's `layout` says.
const LAYOUT: &str =
    "f32; dense kernels [in, out] (transpose for torch.nn.Linear); conv kernels [out, in, kh, kw]";

/// The last epoch's weights.
pub(crate) const FINAL: &str = "final.safetensors";
/// The best validation epoch's weights (kept only when that is not the last epoch).
pub(crate) const BEST: &str = "best.safetensors";

const FORMAT: u32 = 1;

/// Which of a run's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Which {
    /// After the last epoch.
    Final,
    /// After the best validation epoch (the first with the highest validation accuracy).
    Best,
}

impl Which {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Which::Final => "final",
            Which::Best => "best",
        }
    }
}

/// What a weights file holds, stored in its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub format: u32,
    pub run: String,
    pub label: String,
    pub model: String,
    pub dataset: Dataset,
    pub layers: Vec<Layer>,
    /// The epoch after which these are the weights (1-based).
    pub epoch: usize,
    pub which: Which,
    /// The validation metrics of that epoch, on the run's validation images.
    pub val_accuracy: f64,
    pub val_loss: f64,
    /// The build that trained them.
    pub build: String,
    /// How the tensors are laid out (files from before it was recorded read as "").
    #[serde(default)]
    pub layout: String,
}

impl Header {
    pub(crate) fn new(
        run: &crate::spec::plan::Run,
        epoch: usize,
        which: Which,
        val_accuracy: f64,
        val_loss: f64,
    ) -> Self {
        Header {
            format: FORMAT,
            run: run.id.clone(),
            label: run.label.clone(),
            model: run.model.clone(),
            dataset: run.data.dataset.clone(),
            layers: run.layers.clone(),
            epoch,
            which,
            val_accuracy,
            val_loss,
            build: store::build_description(),
            layout: LAYOUT.into(),
        }
    }
}

/// One named f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The name of a layer's parameter: `layers.3.weight` for the weight of the fourth layer listed.
pub(crate) fn tensor_name(layer: usize, param: &str) -> String {
    format!("layers.{layer}.{param}")
}

/// The safetensors bytes of `tensors` with `header`.
pub(crate) fn to_bytes(header: &Header, tensors: &[Named]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::Training(format!("tensor {}: {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    // One key only: see the module's documentation.
    let meta = HashMap::from([(
        "sweep".to_string(),
        serde_json::to_string(header).expect("header serializes"),
    )]);
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Training(format!("cannot serialize weights: {e}")))
}

/// Write a weights file atomically.
pub(crate) fn save(path: &Path, header: &Header, tensors: &[Named]) -> Result<()> {
    store::write_atomic(path, &to_bytes(header, tensors)?)
}

/// Read a weights file written by [`save`]: its header and tensors, in file order of names.
pub(crate) fn load(path: &Path) -> Result<(Header, Vec<Named>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| Error::Results {
        path: path.to_path_buf(),
        message,
    };
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let header: Header = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("sweep"))
        .ok_or_else(|| bad("no `sweep` metadata: not a weights file written by sweep".into()))
        .and_then(|s| {
            serde_json::from_str(s).map_err(|e| bad(format!("unreadable `sweep` metadata: {e}")))
        })?;
    if header.format != FORMAT {
        return Err(bad(format!(
            "weights format {} (this build reads {FORMAT})",
            header.format
        )));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("damaged file: {e}")))?;
    let mut tensors = Vec::new();
    let mut names = st.names();
    names.sort();
    for name in names {
        let view = st.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("{name} is {:?}, not F32", view.dtype())));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push(Named {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            values,
        });
    }
    Ok((header, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::arch::Activation;

    #[test]
    fn a_weights_file_reads_back_as_written_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let header = Header {
            format: FORMAT,
            run: "0123456789ab".into(),
            label: "mlp sgd".into(),
            model: "mlp".into(),
            dataset: Dataset::Mnist,
            layers: vec![
                Layer::Flatten,
                Layer::Dense {
                    units: 3,
                    activation: Activation::Softmax,
                },
            ],
            epoch: 2,
            which: Which::Best,
            val_accuracy: 0.5,
            val_loss: 1.25,
            build: "test".into(),
            layout: LAYOUT.into(),
        };
        let tensors = vec![
            Named {
                name: tensor_name(1, "bias"),
                shape: vec![3],
                values: vec![0.0, -1.5, 2.0],
            },
            Named {
                name: tensor_name(1, "weight"),
                shape: vec![2, 3],
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, f32::MIN_POSITIVE],
            },
        ];
        let path = dir.path().join(BEST);
        save(&path, &header, &tensors).unwrap();
        assert_eq!(load(&path).unwrap(), (header.clone(), tensors.clone()));
        // The same weights give the same bytes, whatever order a hash map keeps.
        for _ in 0..8 {
            assert_eq!(
                to_bytes(&header, &tensors).unwrap(),
                std::fs::read(&path).unwrap()
            );
        }

        let other = dir.path().join("other.safetensors");
        std::fs::write(&other, b"not safetensors").unwrap();
        let e = load(&other).unwrap_err().to_string();
        assert!(
            e.contains("other.safetensors") && e.contains("not a safetensors file"),
            "{e}"
        );
        let foreign = safetensors::serialize(
            [(
                "x",
                TensorView::new(Dtype::F32, vec![1], &[0u8; 4]).unwrap(),
            )],
            None,
        )
        .unwrap();
        std::fs::write(&other, foreign).unwrap();
        let e = load(&other).unwrap_err().to_string();
        assert!(e.contains("not a weights file written by sweep"), "{e}");
    }
}
