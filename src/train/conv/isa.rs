//! Which instruction set our kernels run on: AVX-512, AVX2 + FMA, or portable Rust, chosen
//! once per process: the best the CPU has, or the one `SWEEP_ISA` names.
//!
//! Every path computes every output element in the same order with fused multiply-adds (the
//! portable one with [`f32::mul_add`]), and the method chosen for a layer depends only on its
//! shape, so the paths give the same bits (the parity tests in [`super::kernel`] assert it).
//! The per-image work (transforms, copies, pooling) is plain IEEE arithmetic that the compiler
//! may vectorise but never reorder or contract, so it too gives the same bits on every path.

use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a path (`avx512`, `avx2` or `portable`).
pub(crate) const ENV: &str = "SWEEP_ISA";

/// An instruction-set path of our kernels, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Isa {
    /// AVX-512 F/BW/VL/DQ (with AVX2 + FMA): a 512-bit GEMM tile, 512-bit per-image work.
    Avx512,
    /// AVX2 + FMA: a 256-bit GEMM tile.
    Avx2,
    /// Plain Rust, any CPU; `f32::mul_add` keeps the bits (slow where the CPU has no FMA).
    Portable,
}

/// A `SWEEP_ISA` value that is unknown or that this CPU cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IsaError {
    #[error(
        "{ENV}={0:?} is not a kernel path; expected one of avx512, avx2, portable (or unset it: the best this CPU has)"
    )]
    Unknown(String),
    #[error(
        "{ENV}={}: this CPU lacks {} (the {} path needs {}); it can run: {}",
        .0.name(),
        .0.missing().join(", "),
        .0.name(),
        .0.needs(),
        Isa::supported_names()
    )]
    Unsupported(Isa),
}

impl Isa {
    /// Every path, best first.
    pub(crate) const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// The name `SWEEP_ISA` takes and the benchmarks record.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// The CPU features the path needs, as `lscpu` names them.
    pub(crate) fn needs(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512f, avx512bw, avx512vl, avx512dq, avx2 and fma",
            Isa::Avx2 => "avx2 and fma",
            Isa::Portable => "nothing",
        }
    }

    /// The features the path needs that this CPU lacks.
    pub(crate) fn missing(self) -> Vec<&'static str> {
        #[cfg(target_arch = "x86_64")]
        {
            let has = |f: &str| match f {
                "avx512f" => is_x86_feature_detected!("avx512f"),
                "avx512bw" => is_x86_feature_detected!("avx512bw"),
                "avx512vl" => is_x86_feature_detected!("avx512vl"),
                "avx512dq" => is_x86_feature_detected!("avx512dq"),
                "avx2" => is_x86_feature_detected!("avx2"),
                _ => is_x86_feature_detected!("fma"),
            };
            let needs: &[&'static str] = match self {
                Isa::Avx512 => &["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma"],
                Isa::Avx2 => &["avx2", "fma"],
                Isa::Portable => &[],
            };
            needs.iter().copied().filter(|f| !has(f)).collect()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            match self {
                Isa::Portable => Vec::new(),
                _ => vec!["x86-64"],
            }
        }
    }

    /// Whether this CPU can run the path (detected at run time).
    pub(crate) fn is_supported(self) -> bool {
        self.missing().is_empty()
    }

    /// The paths this CPU can run, best first.
    pub(crate) fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    fn supported_names() -> String {
        let names: Vec<&str> = Isa::supported().iter().map(|i| i.name()).collect();
        names.join(", ")
    }

    /// The best path this CPU can run.
    pub(crate) fn detected() -> Isa {
        Isa::supported()[0]
    }

    /// `value` (a `SWEEP_ISA` setting) as a path this CPU can run.
    pub(crate) fn parse(value: &str) -> Result<Isa, IsaError> {
        let isa = Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| IsaError::Unknown(value.to_string()))?;
        if isa.is_supported() {
            Ok(isa)
        } else {
            Err(IsaError::Unsupported(isa))
        }
    }

    /// The path `SWEEP_ISA` asks for, or the best this CPU has when it is unset or empty.
    pub(crate) fn from_env() -> Result<Isa, IsaError> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => Isa::parse(&v),
            _ => Ok(Isa::detected()),
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.code() == code)
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPU's model name as `lscpu` shows it (from `/proc/cpuinfo`), or the architecture where
/// that is not available: recorded beside every speed figure.
pub(crate) fn cpu_model() -> String {
    // Read once per process: estimates ask for it per run, and a million-run plan would read
    // /proc/cpuinfo a million times.
    static MODEL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find(|l| l.starts_with("model name"))
                        .and_then(|l| l.split_once(':'))
                        .map(|(_, v)| v.trim().to_string())
                })
                .unwrap_or_else(|| std::env::consts::ARCH.to_string())
        })
        .clone()
}

/// The active path; 0 until first asked.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The path the kernels take in this process: decided once, from `SWEEP_ISA` or the CPU.
/// The command line checks `SWEEP_ISA` first ([`init`]) and reports a bad value as a usage
/// error; a library user who skipped that gets a panic naming the problem.
pub(crate) fn current() -> Isa {
    if let Some(isa) = Isa::from_code(ACTIVE.load(Ordering::Relaxed)) {
        return isa;
    }
    match init() {
        Ok(isa) => isa,
        Err(e) => panic!("{e}"),
    }
}

/// Decides the process's path from `SWEEP_ISA` (once; later calls return the decision).
pub(crate) fn init() -> Result<Isa, IsaError> {
    if let Some(isa) = Isa::from_code(ACTIVE.load(Ordering::Relaxed)) {
        return Ok(isa);
    }
    let isa = Isa::from_env()?;
    let _ = ACTIVE.compare_exchange(0, isa.code(), Ordering::Relaxed, Ordering::Relaxed);
    Ok(Isa::from_code(ACTIVE.load(Ordering::Relaxed)).expect("decided"))
}

/// Switches the whole process to `isa` until the guard drops (tests that compare paths).
/// Guards serialise on a lock, so two such tests never interleave; other code running
/// meanwhile takes the forced path, which gives the same bits by design.
#[cfg(test)]
pub(crate) fn force(isa: Isa) -> ForceGuard {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    assert!(isa.is_supported(), "{isa} is not supported here");
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = current();
    ACTIVE.store(isa.code(), Ordering::Relaxed);
    ForceGuard {
        before,
        _lock: lock,
    }
}

#[cfg(test)]
pub(crate) struct ForceGuard {
    before: Isa,
    _lock: std::sync::MutexGuard<'static, ()>,
}

#[cfg(test)]
impl Drop for ForceGuard {
    fn drop(&mut self) {
        ACTIVE.store(self.before.code(), Ordering::Relaxed);
    }
}

/// Defines `fn $name(args) -> ret` that runs `$body` compiled for the [`current`] path:
/// one copy with the AVX-512 features enabled, one with AVX2 + FMA, one plain. The body is the
/// same code, so the copies differ only in the vector width the compiler picks.
macro_rules! per_isa {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx512($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx2($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }
            match $crate::train::conv::isa::current() {
                // SAFETY: `current` returns only paths whose features this CPU has.
                #[cfg(target_arch = "x86_64")]
                $crate::train::conv::isa::Isa::Avx512 => {
                    #[allow(unsafe_code)]
                    unsafe { avx512($($arg),*) }
                }
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::train::conv::isa::Isa::Avx2 => {
                    #[allow(unsafe_code)]
                    unsafe { avx2($($arg),*) }
                }
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use per_isa;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_values_say_what_is_right() {
        for isa in Isa::supported() {
            assert_eq!(Isa::parse(isa.name()), Ok(isa));
            assert_eq!(Isa::parse(&isa.name().to_uppercase()), Ok(isa));
        }
        assert_eq!(Isa::parse("portable"), Ok(Isa::Portable));
        let e = Isa::parse("sse9").unwrap_err().to_string();
        assert!(
            e.contains("SWEEP_ISA=\"sse9\"") && e.contains("avx512, avx2, portable"),
            "{e}"
        );
        for isa in Isa::ALL.into_iter().filter(|i| !i.is_supported()) {
            let e = Isa::parse(isa.name()).unwrap_err().to_string();
            assert!(
                e.contains("this CPU lacks") && e.contains("portable"),
                "{e}"
            );
        }
        assert_eq!(Isa::detected(), Isa::supported()[0]);
    }

    per_isa! {
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            a.iter().zip(b).fold(0.0, |s, (x, y)| x.mul_add(*y, s))
        }
    }

    #[test]
    fn per_isa_bodies_give_the_same_bits_on_every_path() {
        let a: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut seen = Vec::new();
        for isa in Isa::supported() {
            let _g = force(isa);
            assert_eq!(current(), isa);
            seen.push(dot(&a, &b).to_bits());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    }
}
