//! The one place a compute device is chosen. Everything else takes a `burn::tensor::Device`.
//!
//! - `cpu`: burn's flex backend with our convolution kernels (the default; trains the paper's
//!   CNNs far faster than ndarray).
//! - `ndarray`: burn's ndarray backend, with `--features ndarray` (burn's own convolutions).
//! - `wgpu` / `wgpu:N`: a GPU through wgpu (Vulkan on Linux), with `--features wgpu`: the
//!   default adapter, or the N-th discrete GPU. Needs no download at build time.
//! - `cuda:N`: with `--features cuda` (needs the CUDA toolkit and, at build time, LLVM).

use crate::error::{Error, Result};
use burn::tensor::Device;

/// The devices this build can train on, for messages.
pub(crate) fn known() -> String {
    let mut v = vec!["cpu"];
    if cfg!(feature = "ndarray") {
        v.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        v.push("wgpu, wgpu:N");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda:N");
    }
    v.join(", ")
}

/// Whether `name` is a CPU device (sharing the machine's cores and memory).
pub(crate) fn is_cpu(name: &str) -> bool {
    matches!(name, "cpu" | "ndarray")
}

/// The error for a device whose backend this build leaves out (unused when it has them all).
#[allow(dead_code)]
fn needs(name: &str, feature: &str) -> Result<Device> {
    Err(Error::Usage(format!(
        "device `{name}` needs a build with --features {feature}: cargo build --release --features {feature}"
    )))
}

/// What a worker trains on, for its summary: burn's device as it names it, and for wgpu the
/// adapter the default device is (name, kind, graphics API), so that a run silently trained
/// elsewhere shows.
pub(crate) fn describe(device: &Device) -> String {
    let named = format!("{device:?}");
    #[cfg(feature = "wgpu")]
    if named.contains("Wgpu(") {
        let instance = wgpu::Instance::default();
        if let Ok(adapter) = futures_lite::future::block_on(
            instance.request_adapter(&wgpu::RequestAdapterOptions::default()),
        ) {
            let info = adapter.get_info();
            return format!(
                "{named}: {} ({:?}, {:?})",
                info.name, info.device_type, info.backend
            );
        }
    }
    named
}

/// A device named on the command line or in a manifest.
pub(crate) fn device(name: &str) -> Result<Device> {
    let index = |prefix: &str| -> Result<Option<usize>> {
        match name.strip_prefix(prefix) {
            Some("") => Ok(None),
            Some(i) => i
                .strip_prefix(':')
                .and_then(|i| i.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "bad device `{name}`: use {prefix}, {prefix}:0, {prefix}:1, ..."
                    ))
                }),
            None => unreachable!("checked by the caller"),
        }
    };
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        // burn 0.22 deprecates ndarray in favour of flex; kept to compare
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(not(feature = "ndarray"))]
        "ndarray" => needs(name, "ndarray"),
        s if s.starts_with("wgpu") => {
            let i = index("wgpu")?;
            #[cfg(feature = "wgpu")]
            {
                use burn::tensor::DeviceKind;
                Ok(Device::wgpu(i.map_or(
                    DeviceKind::DefaultDevice,
                    DeviceKind::DiscreteGpu,
                )))
            }
            #[cfg(not(feature = "wgpu"))]
            {
                let _ = i;
                needs(name, "wgpu")
            }
        }
        s if s.starts_with("cuda") => {
            let i = index("cuda")?.unwrap_or(0);
            #[cfg(feature = "cuda")]
            {
                Ok(Device::cuda(i))
            }
            #[cfg(not(feature = "cuda"))]
            {
                let _ = i;
                needs(name, "cuda")
            }
        }
        other => Err(Error::Usage(format!(
            "unknown device `{other}`: use {}",
            known()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_or_refused_with_what_would_work() {
        assert!(device("cpu").is_ok());
        let e = device("tpu").unwrap_err().to_string();
        assert!(e.contains("unknown device `tpu`: use cpu"), "{e}");
        let e = device("cuda:x").unwrap_err().to_string();
        assert!(e.contains("bad device `cuda:x`"), "{e}");
        if !cfg!(feature = "wgpu") {
            let e = device("wgpu:0").unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
        if !cfg!(feature = "ndarray") {
            let e = device("ndarray").unwrap_err().to_string();
            assert!(e.contains("--features ndarray"), "{e}");
        }
    }
}
