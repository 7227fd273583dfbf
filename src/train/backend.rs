//! The one place a compute device is checked and opened. Names are parsed by
//! [`crate::spec::device`]; everything past here takes a `burn::tensor::Device`.
//!
//! - `cpu`: burn's flex backend with our convolution kernels (the default; trains the paper's
//!   CNNs far faster than ndarray).
//! - `ndarray`: burn's ndarray backend, with `--features ndarray` (burn's own convolutions).
//! - `wgpu` / `wgpu:N`: a GPU through wgpu (Vulkan on Linux), with `--features wgpu`: the
//!   default adapter, or the N-th discrete GPU. Needs no download at build time.
//! - `vulkan` / `vulkan:N`: the same pinned to Vulkan with burn's SPIR-V compiler, with
//!   `--features vulkan` (the faster path on NVIDIA).
//! - `cuda:N`: with `--features cuda` (LLVM at build time: tools/cuda-llvm.sh; an NVIDIA
//!   driver at run time).
//! - `auto`: every GPU this build and machine have, else the CPU.

use crate::error::{Error, Result};
use crate::spec::device::DeviceName;
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
    if cfg!(feature = "vulkan") {
        v.push("vulkan, vulkan:N");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda:N");
    }
    v.push("auto");
    v.join(", ")
}

/// The devices to train on: `auto` replaced by what this build and machine have, each checked
/// (built in, driver present, index in range), duplicates refused. Called before anything is
/// written, so a bad device is exit 2 and never a worker's panic.
pub(crate) fn resolve(names: &[DeviceName]) -> Result<Vec<DeviceName>> {
    let mut out: Vec<DeviceName> = Vec::new();
    for name in names {
        let expanded = match name {
            DeviceName::Auto => auto(),
            other => vec![other.clone()],
        };
        for d in expanded {
            check(&d)?;
            if out.contains(&d) {
                return Err(Error::Usage(format!(
                    "device `{d}` is named twice: list each device once (--per-gpu N runs N at once on a GPU)"
                )));
            }
            out.push(d);
        }
    }
    Ok(out)
}

/// What `auto` stands for: CUDA's GPUs, else Vulkan's or wgpu's discrete GPUs, else the CPU.
fn auto() -> Vec<DeviceName> {
    if cfg!(feature = "cuda") {
        let n = nvidia::gpus();
        if n > 0 {
            return (0..n).map(DeviceName::Cuda).collect();
        }
    }
    #[cfg(feature = "wgpu")]
    {
        let vulkan = cfg!(feature = "vulkan");
        let n = adapters::discrete(vulkan);
        if n > 0 {
            return (0..n)
                .map(|i| match vulkan {
                    true => DeviceName::Vulkan(Some(i)),
                    false => DeviceName::Wgpu(Some(i)),
                })
                .collect();
        }
    }
    vec![DeviceName::Cpu]
}

/// Whether this build has the device and this machine has what it needs.
pub(crate) fn check(name: &DeviceName) -> Result<()> {
    built(name)?;
    match name {
        DeviceName::Cuda(i) => nvidia::check(*i),
        #[cfg(feature = "wgpu")]
        DeviceName::Wgpu(i) => adapters::check(name, *i, false),
        #[cfg(feature = "wgpu")]
        DeviceName::Vulkan(i) => adapters::check(name, *i, true),
        _ => Ok(()),
    }
}

/// Whether this build has the device's backend.
fn built(name: &DeviceName) -> Result<()> {
    let feature = match name {
        DeviceName::Cpu => return Ok(()),
        DeviceName::Auto => return Ok(()),
        DeviceName::Ndarray => ("ndarray", cfg!(feature = "ndarray")),
        DeviceName::Wgpu(_) => ("wgpu", cfg!(feature = "wgpu")),
        DeviceName::Vulkan(_) => ("vulkan", cfg!(feature = "vulkan")),
        DeviceName::Cuda(_) => ("cuda", cfg!(feature = "cuda")),
    };
    if !feature.1 {
        let f = feature.0;
        return Err(Error::Usage(format!(
            "device `{name}` needs a build with --features {f}: cargo build --release --features {f}{} (this build has {})",
            if f == "cuda" {
                ", which tools/cuda-llvm.sh does offline"
            } else {
                ""
            },
            known()
        )));
    }
    Ok(())
}

/// Opens a device [`resolve`] checked (a worker asks only whether this build has it: the
/// supervisor asked the machine before starting it).
pub(crate) fn open(name: &DeviceName) -> Result<Device> {
    built(name)?;
    match name {
        DeviceName::Cpu => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        // burn 0.22 deprecates ndarray in favour of flex; kept to compare
        DeviceName::Ndarray => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        DeviceName::Wgpu(i) => Ok(Device::wgpu(kind(*i))),
        #[cfg(feature = "vulkan")]
        DeviceName::Vulkan(i) => Ok(Device::vulkan(kind(*i))),
        #[cfg(feature = "cuda")]
        DeviceName::Cuda(i) => Ok(Device::cuda(*i)),
        other => Err(Error::Usage(format!(
            "device `{other}` cannot be opened by this build (it has {})",
            known()
        ))),
    }
}

/// The adapter an index stands for: the default one, or the N-th discrete GPU.
#[cfg(feature = "wgpu")]
fn kind(i: Option<usize>) -> burn::tensor::DeviceKind {
    use burn::tensor::DeviceKind;
    i.map_or(DeviceKind::DefaultDevice, DeviceKind::DiscreteGpu)
}

/// A GPU's memory in bytes, where it can be asked: NVIDIA's through nvidia-smi (CUDA, and
/// Vulkan or wgpu's N-th discrete GPU on an NVIDIA machine). `None` elsewhere.
pub(crate) fn gpu_memory(name: &DeviceName) -> Option<u64> {
    let index = match name {
        DeviceName::Cuda(i) | DeviceName::Wgpu(Some(i)) | DeviceName::Vulkan(Some(i)) => *i,
        DeviceName::Wgpu(None) | DeviceName::Vulkan(None) => 0,
        _ => return None,
    };
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total", "--format=csv,noheader,nounits"])
        .args(["-i", &index.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let mib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(mib * 1024 * 1024)
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

/// The graphics adapters wgpu sees, asked the way cubecl asks when it opens one.
#[cfg(feature = "wgpu")]
mod adapters {
    use super::*;

    fn list(vulkan_only: bool) -> Vec<wgpu::AdapterInfo> {
        // Not OpenGL: probing it through EGL without a display can crash, and cubecl settles
        // on Vulkan wherever Vulkan exists.
        let backends = match vulkan_only {
            true => wgpu::Backends::VULKAN,
            false => wgpu::Backends::PRIMARY,
        };
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        futures_lite::future::block_on(instance.enumerate_adapters(backends))
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect()
    }

    /// How many discrete GPUs there are (what `wgpu:N` and `vulkan:N` count).
    pub(super) fn discrete(vulkan_only: bool) -> usize {
        list(vulkan_only)
            .iter()
            .filter(|a| a.device_type == wgpu::DeviceType::DiscreteGpu)
            .count()
    }

    pub(super) fn check(name: &DeviceName, i: Option<usize>, vulkan_only: bool) -> Result<()> {
        let found = list(vulkan_only);
        let api = if vulkan_only { "Vulkan" } else { "wgpu" };
        if found.is_empty() {
            return Err(Error::Usage(format!(
                "device `{name}`: {api} finds no graphics adapter on this machine: install the GPU's \
                 Vulkan driver (or Mesa's software one, Debian's mesa-vulkan-drivers) and the \
                 Vulkan loader (libvulkan1)"
            )));
        }
        let discrete = found
            .iter()
            .filter(|a| a.device_type == wgpu::DeviceType::DiscreteGpu)
            .count();
        match i {
            Some(i) if i >= discrete => Err(Error::Usage(format!(
                "device `{name}`: there is no discrete GPU {i}; {api} sees {}: {}{}",
                discrete,
                found
                    .iter()
                    .map(|a| format!("{} ({:?})", a.name, a.device_type))
                    .collect::<Vec<_>>()
                    .join(", "),
                if discrete == 0 {
                    format!(
                        "; use `{}` for the default adapter",
                        name.to_string().split(':').next().unwrap_or("wgpu")
                    )
                } else {
                    String::new()
                }
            ))),
            _ => Ok(()),
        }
    }
}

/// NVIDIA's driver, asked without loading it: the kernel module lists each GPU under
/// /proc/driver/nvidia/gpus and makes /dev/nvidiaN; CUDA_VISIBLE_DEVICES narrows them.
mod nvidia {
    use super::*;
    use std::path::Path;

    fn count_in(proc_gpus: &Path, dev: &Path) -> usize {
        let listed = std::fs::read_dir(proc_gpus).map_or(0, |d| d.count());
        let nodes = std::fs::read_dir(dev).map_or(0, |d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.strip_prefix("nvidia")
                        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                })
                .count()
        });
        listed.max(nodes)
    }

    fn visible(found: usize, env: Option<String>) -> usize {
        match env {
            Some(v) if v.trim().is_empty() => 0,
            Some(v) => found.min(v.split(',').filter(|s| !s.trim().is_empty()).count()),
            None => found,
        }
    }

    /// The GPUs a CUDA program on this machine may use.
    pub(super) fn gpus() -> usize {
        visible(
            count_in(Path::new("/proc/driver/nvidia/gpus"), Path::new("/dev")),
            std::env::var("CUDA_VISIBLE_DEVICES").ok(),
        )
    }

    pub(super) fn check(i: usize) -> Result<()> {
        let n = gpus();
        if n == 0 {
            return Err(Error::Usage(format!(
                "device `cuda:{i}`: no NVIDIA driver on this machine (no /proc/driver/nvidia/gpus, \
                 no /dev/nvidia0{}): CUDA needs the NVIDIA driver (libcuda); \
                 use cpu, or wgpu/vulkan with a Vulkan driver",
                if std::env::var_os("CUDA_VISIBLE_DEVICES").is_some() {
                    ", or CUDA_VISIBLE_DEVICES hides every GPU"
                } else {
                    ""
                }
            )));
        }
        if i >= n {
            return Err(Error::Usage(format!(
                "device `cuda:{i}`: this machine has {n} NVIDIA GPU(s): cuda:0 to cuda:{}",
                n - 1
            )));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn gpus_are_counted_from_the_driver_and_narrowed_by_cuda_visible_devices() {
            let dir = std::env::temp_dir().join(format!("sweep-nvidia-{}", std::process::id()));
            let (proc_gpus, dev) = (dir.join("gpus"), dir.join("dev"));
            std::fs::create_dir_all(&dev).unwrap();
            assert_eq!(count_in(&proc_gpus, &dev), 0, "no driver: no GPU");
            for n in ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"] {
                std::fs::write(dev.join(n), "").unwrap();
            }
            assert_eq!(count_in(&proc_gpus, &dev), 2);
            std::fs::create_dir_all(proc_gpus.join("0000:01:00.0")).unwrap();
            assert_eq!(count_in(&proc_gpus, &dev), 2);
            assert_eq!(visible(2, None), 2);
            assert_eq!(visible(2, Some("1".into())), 1);
            assert_eq!(visible(2, Some("".into())), 0);
            assert_eq!(visible(2, Some("0,1,2,3".into())), 2);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_this_build_or_machine_lacks_are_refused_with_what_would_work() {
        assert!(open(&DeviceName::Cpu).is_ok());
        assert_eq!(resolve(&[DeviceName::Cpu]).unwrap(), vec![DeviceName::Cpu]);
        let e = resolve(&[DeviceName::Cpu, DeviceName::Cpu])
            .unwrap_err()
            .to_string();
        assert!(e.contains("named twice"), "{e}");
        if !cfg!(feature = "wgpu") {
            let e = check(&DeviceName::Wgpu(Some(0))).unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
        if !cfg!(feature = "vulkan") {
            let e = check(&DeviceName::Vulkan(None)).unwrap_err().to_string();
            assert!(e.contains("--features vulkan"), "{e}");
        }
        if !cfg!(feature = "ndarray") {
            let e = check(&DeviceName::Ndarray).unwrap_err().to_string();
            assert!(e.contains("--features ndarray"), "{e}");
        }
        let e = check(&DeviceName::Cuda(0)).unwrap_err().to_string();
        if cfg!(feature = "cuda") {
            if nvidia::gpus() == 0 {
                assert!(e.contains("no NVIDIA driver"), "{e}");
            }
        } else {
            assert!(
                e.contains("--features cuda") && e.contains("tools/cuda-llvm.sh"),
                "{e}"
            );
        }
        // `auto` always resolves to something this build can open.
        let auto = resolve(&[DeviceName::Auto]).unwrap();
        assert!(!auto.is_empty() && auto.iter().all(|d| check(d).is_ok()));
    }
}
