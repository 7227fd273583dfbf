//! The one place a compute device is chosen. Everything else takes a `burn::tensor::Device`.

use crate::error::{Error, Result};
use burn::tensor::Device;

/// A device named on the command line or in a manifest: `cpu`, or `cuda:N` with `--features cuda`.
pub fn device(name: &str) -> Result<Device> {
    match name {
        // flex: burn's CPU backend; the default (trains the paper's CNNs far faster than ndarray).
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        s if s.starts_with("cuda") => {
            let index = s
                .strip_prefix("cuda:")
                .map_or(Ok(0), |i| i.parse::<usize>())
                .map_err(|_| Error::Usage(format!("bad device `{s}`: use cuda:0, cuda:1, ...")))?;
            Ok(Device::cuda(index))
        }
        #[cfg(not(feature = "cuda"))]
        s if s.starts_with("cuda") => Err(Error::Usage(format!(
            "device `{s}` needs a build with CUDA support: cargo build --release --features cuda"
        ))),
        other => Err(Error::Usage(format!(
            "unknown device `{other}`: use cpu{}",
            if cfg!(feature = "cuda") {
                " or cuda:N"
            } else {
                ""
            }
        ))),
    }
}
