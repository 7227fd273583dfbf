//! A compute device as a user names it (`--devices`, `[sweep] devices`, a worker's `--device`),
//! parsed once into a type. Only the syntax is checked here; whether this build and this
//! machine have the device is [`crate::train::backend`]'s to say.

use std::fmt;
use std::str::FromStr;

/// Where runs train. `Wgpu(None)` and `Vulkan(None)` are the default adapter; an index is the
/// N-th discrete GPU. `Auto` stands for every GPU this build and machine have (the CPU when
/// there is none) and is expanded before anything trains.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DeviceName {
    Cpu,
    Ndarray,
    Wgpu(Option<usize>),
    Vulkan(Option<usize>),
    Cuda(usize),
    Auto,
}

/// What a malformed device name gets told.
pub(crate) const SYNTAX: &str = "cpu, ndarray, wgpu, wgpu:N, vulkan, vulkan:N, cuda:N or auto";

impl DeviceName {
    /// Whether it shares the machine's cores and memory (CPU slots, the memory budget).
    pub(crate) fn is_cpu(&self) -> bool {
        matches!(self, DeviceName::Cpu | DeviceName::Ndarray)
    }
}

impl FromStr for DeviceName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => {
                let i = i.parse::<usize>().map_err(|_| {
                    format!("bad device `{s}`: the index after `{k}:` must be 0, 1, 2, ...")
                })?;
                (k, Some(i))
            }
            None => (s, None),
        };
        match (kind, index) {
            ("cpu", None) => Ok(DeviceName::Cpu),
            ("ndarray", None) => Ok(DeviceName::Ndarray),
            ("auto", None) => Ok(DeviceName::Auto),
            ("wgpu", i) => Ok(DeviceName::Wgpu(i)),
            ("vulkan", i) => Ok(DeviceName::Vulkan(i)),
            ("cuda", i) => Ok(DeviceName::Cuda(i.unwrap_or(0))),
            ("cpu" | "ndarray" | "auto", Some(_)) => Err(format!(
                "bad device `{s}`: `{kind}` takes no index; use {SYNTAX}"
            )),
            _ => Err(format!("unknown device `{s}`: use {SYNTAX}")),
        }
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceName::Cpu => f.write_str("cpu"),
            DeviceName::Ndarray => f.write_str("ndarray"),
            DeviceName::Auto => f.write_str("auto"),
            DeviceName::Wgpu(None) => f.write_str("wgpu"),
            DeviceName::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceName::Vulkan(None) => f.write_str("vulkan"),
            DeviceName::Vulkan(Some(i)) => write!(f, "vulkan:{i}"),
            DeviceName::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_say_what_would_work() {
        for s in [
            "cpu", "ndarray", "auto", "wgpu", "wgpu:1", "vulkan", "vulkan:0", "cuda:3",
        ] {
            assert_eq!(s.parse::<DeviceName>().unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceName>().unwrap(), DeviceName::Cuda(0));
        assert!("cpu".parse::<DeviceName>().unwrap().is_cpu());
        assert!(!"wgpu".parse::<DeviceName>().unwrap().is_cpu());
        let e = "tpu".parse::<DeviceName>().unwrap_err();
        assert!(e.contains("unknown device `tpu`: use cpu, ndarray"), "{e}");
        let e = "cuda:x".parse::<DeviceName>().unwrap_err();
        assert!(e.contains("bad device `cuda:x`"), "{e}");
        let e = "cpu:1".parse::<DeviceName>().unwrap_err();
        assert!(e.contains("takes no index"), "{e}");
        let e = "wgpu:-1".parse::<DeviceName>().unwrap_err();
        assert!(e.contains("must be 0, 1, 2"), "{e}");
    }
}
