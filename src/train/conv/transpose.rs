//! Moves between planes (NCHW: one channel's pixels contiguous) and lanes (channels-last: a
//! pixel's [`WIDTH`] channels contiguous), [`WIDTH`] channels at a time: the Winograd
//! transforms run channels-last, the layers exchange NCHW. One value at a time, these were
//! strided scalar stores, the hottest instructions of the Winograd forward pass (`perf`);
//! on the vector paths whole 8 x 8 blocks go through registers (eight loads, 24 shuffles,
//! eight stores), a row's last pixels in a block overlapping the one before; on the AVX-512
//! path, 16 channels at a time (`W` = 16) go through 512-bit registers, two 8 x 8 blocks per
//! instruction (a third fewer shuffles per value, half the vector stores or loads). Only data
//! moves, so every path gives the same bits.

use super::isa::{self, Isa};
use std::mem::MaybeUninit;

/// Channels moved together.
pub(super) const WIDTH: usize = 8;

/// `dst[d0 + p·ds + r] = src[s0 + r·ss + p]` for `r < W` channels and `p < n` pixels: `n`
/// pixels of `W` planes (`ss` apart) into `n` lane vectors (`ds` apart), `W` being [`WIDTH`]
/// or `2 · WIDTH`. Panics if an index falls outside a slice.
#[allow(clippy::too_many_arguments)]
pub(super) fn planes_to_lanes<const W: usize>(
    src: &[f32],
    s0: usize,
    ss: usize,
    dst: &mut [f32],
    d0: usize,
    ds: usize,
    n: usize,
) {
    const { assert!(W == WIDTH || W == 2 * WIDTH) };
    if n == 0 {
        return;
    }
    assert!(s0 + (W - 1) * ss + n <= src.len(), "planes_to_lanes: src");
    assert!(
        ds >= W && d0 + (n - 1) * ds + W <= dst.len(),
        "planes_to_lanes: dst"
    );
    let wide = W == 2 * WIDTH && isa::current() == Isa::Avx512;
    // SAFETY: the asserts bound every index below; `avx::block` needs AVX, which both
    // vector paths have, and `avx512::planes16` the AVX-512 path's features.
    #[allow(unsafe_code)]
    unsafe {
        let (sp, dp) = (src.as_ptr().add(s0), dst.as_mut_ptr().add(d0));
        #[cfg(target_arch = "x86_64")]
        for p in blocks(n) {
            if wide {
                avx512::planes16(sp.add(p), ss, dp.add(p * ds), ds);
            } else {
                for h in (0..W).step_by(WIDTH) {
                    avx::block(sp.add(h * ss + p), ss, dp.add(p * ds + h), ds);
                }
            }
        }
        for p in scalar(n) {
            for r in 0..W {
                *dp.add(p * ds + r) = *sp.add(r * ss + p);
            }
        }
    }
}

/// `dst[d0 + r·ds + p] = src[s0 + p·ss + r]` for `r < W` channels and `p < n` pixels: `n`
/// lane vectors (`ss` apart) into `n` pixels of `W` planes (`ds` apart), the inverse of
/// [`planes_to_lanes`], into an output that may be uninitialised. Panics if an index falls
/// outside a slice.
#[allow(clippy::too_many_arguments)]
pub(super) fn lanes_to_planes<const W: usize>(
    src: &[f32],
    s0: usize,
    ss: usize,
    dst: &mut [MaybeUninit<f32>],
    d0: usize,
    ds: usize,
    n: usize,
) {
    const { assert!(W == WIDTH || W == 2 * WIDTH) };
    if n == 0 {
        return;
    }
    assert!(
        ss >= W && s0 + (n - 1) * ss + W <= src.len(),
        "lanes_to_planes: src"
    );
    assert!(d0 + (W - 1) * ds + n <= dst.len(), "lanes_to_planes: dst");
    let wide = W == 2 * WIDTH && isa::current() == Isa::Avx512;
    // SAFETY: as in `planes_to_lanes`; `MaybeUninit<f32>` has `f32`'s layout, and only
    // writes go through `dp`.
    #[allow(unsafe_code)]
    unsafe {
        let (sp, dp) = (src.as_ptr().add(s0), dst.as_mut_ptr().add(d0).cast::<f32>());
        #[cfg(target_arch = "x86_64")]
        for p in blocks(n) {
            if wide {
                avx512::lanes16(sp.add(p * ss), ss, dp.add(p), ds);
            } else {
                for h in (0..W).step_by(WIDTH) {
                    avx::block(sp.add(p * ss + h), ss, dp.add(h * ds + p), ds);
                }
            }
        }
        for p in scalar(n) {
            for r in 0..W {
                *dp.add(r * ds + p) = *sp.add(p * ss + r);
            }
        }
    }
}

/// Whether the 8 x 8 register transpose can run (AVX, part of both vector paths).
#[inline(always)]
fn vector() -> bool {
    cfg!(target_arch = "x86_64") && isa::current() != Isa::Portable
}

/// The first pixels of the 8-pixel blocks that cover `0..n` on the vector paths: every
/// eighth, and a last one at `n - 8` overlapping the one before (it writes the same values
/// again), so no pixel is left to a scalar loop. None when `n < 8` or on the portable path.
#[inline(always)]
fn blocks(n: usize) -> impl Iterator<Item = usize> {
    let count = if vector() && n >= WIDTH {
        n.div_ceil(WIDTH)
    } else {
        0
    };
    (0..count).map(move |k| (k * WIDTH).min(n - WIDTH))
}

/// The pixels [`blocks`] leaves to a scalar loop: all or none.
#[inline(always)]
fn scalar(n: usize) -> std::ops::Range<usize> {
    if vector() && n >= WIDTH { n..n } else { 0..n }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// `dst[c·ds + r] = src[r·ss + c]` for `r, c < 8`: row `r` of the source (8 values from
    /// `src + r·ss`) becomes column `r` of the destination.
    ///
    /// # Safety
    /// The CPU has AVX, and the 8 rows of 8 values at `src + r·ss` and `dst + r·ds` are
    /// inside their allocations.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx")]
    #[inline]
    pub(super) unsafe fn block(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let r = |i: usize| _mm256_loadu_ps(src.add(i * ss));
            let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
            let (r4, r5, r6, r7) = (r(4), r(5), r(6), r(7));
            // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
            let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
            let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
            let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
            const LO: i32 = 0b01_00_01_00;
            const HI: i32 = 0b11_10_11_10;
            let (u0, u1) = (
                _mm256_shuffle_ps::<LO>(t0, t2),
                _mm256_shuffle_ps::<HI>(t0, t2),
            );
            let (u2, u3) = (
                _mm256_shuffle_ps::<LO>(t1, t3),
                _mm256_shuffle_ps::<HI>(t1, t3),
            );
            let (u4, u5) = (
                _mm256_shuffle_ps::<LO>(t4, t6),
                _mm256_shuffle_ps::<HI>(t4, t6),
            );
            let (u6, u7) = (
                _mm256_shuffle_ps::<LO>(t5, t7),
                _mm256_shuffle_ps::<HI>(t5, t7),
            );
            let w = |i: usize, v: __m256| _mm256_storeu_ps(dst.add(i * ds), v);
            w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
            w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
            w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
            w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
            w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
            w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
            w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
            w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The 8 x 8 transposition of [`super::avx::block`] on both 256-bit halves of eight
    /// registers at once: `r[i]` holds row `i` of block A below and of block B above, the
    /// result `t[j]` column `j` of A below and of B above.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    #[inline]
    fn halves(r: [__m512; 8]) -> [__m512; 8] {
        let t: [__m512; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        const LO: i32 = 0b01_00_01_00;
        const HI: i32 = 0b11_10_11_10;
        // u[0..4] from t[0..4], u[4..8] from t[4..8], as in `avx::block`.
        let u: [__m512; 8] = std::array::from_fn(|i| {
            let base = i & 4;
            let (a, b) = (t[base + (i & 2) / 2], t[base + 2 + (i & 2) / 2]);
            if i % 2 == 0 {
                _mm512_shuffle_ps::<LO>(a, b)
            } else {
                _mm512_shuffle_ps::<HI>(a, b)
            }
        });
        // Column j < 4 is the low 128 bits of u[j] and u[j + 4] in each half, column j + 4
        // their high 128 bits (`_mm256_permute2f128_ps` 0x20 and 0x31, per half).
        let lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        let hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        std::array::from_fn(|j| {
            let (a, b) = (u[j % 4], u[j % 4 + 4]);
            _mm512_permutex2var_ps(a, if j < 4 { lo } else { hi }, b)
        })
    }

    /// `dst[j·ds + r] = src[r·ss + j]` for `r < 16` planes and `j < 8` pixels.
    ///
    /// # Safety
    /// The CPU has the AVX-512 path's features; the 16 rows of 8 values at `src + r·ss` and
    /// the 8 rows of 16 at `dst + j·ds` are inside their allocations.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    #[inline]
    pub(super) unsafe fn planes16(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let row = |i: usize| _mm256_loadu_ps(src.add(i * ss));
            let r: [__m512; 8] = std::array::from_fn(|i| {
                _mm512_insertf32x8::<1>(_mm512_castps256_ps512(row(i)), row(i + 8))
            });
            for (j, v) in halves(r).into_iter().enumerate() {
                _mm512_storeu_ps(dst.add(j * ds), v);
            }
        }
    }

    /// `dst[r·ds + j] = src[j·ss + r]` for `r < 16` planes and `j < 8` pixels: the inverse
    /// of [`planes16`].
    ///
    /// # Safety
    /// As [`planes16`], with the roles of the two layouts swapped.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    #[inline]
    pub(super) unsafe fn lanes16(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: the caller's contract.
        unsafe {
            let r: [__m512; 8] = std::array::from_fn(|j| _mm512_loadu_ps(src.add(j * ss)));
            // Column c of the low halves is plane c, of the high halves plane c + 8.
            for (c, v) in halves(r).into_iter().enumerate() {
                _mm256_storeu_ps(dst.add(c * ds), _mm512_castps512_ps256(v));
                _mm256_storeu_ps(dst.add((c + 8) * ds), _mm512_extractf32x8_ps::<1>(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both directions on every path, 8 and 16 channels at a time, for pixel counts with and
    /// without a remainder, against the definition, and back again.
    #[test]
    fn moves_every_value_to_its_place_on_every_path() {
        for isa in Isa::supported() {
            let _path = isa::force(isa);
            check::<WIDTH>(isa);
            check::<{ 2 * WIDTH }>(isa);
        }
    }

    fn check<const W: usize>(isa: Isa) {
        for n in [0, 1, 7, 8, 9, 14, 16, 28, 31] {
            let (s0, ss, d0, ds) = (3, n + 5, 2, W + 3);
            let src: Vec<f32> = (0..s0 + W * ss).map(|i| i as f32).collect();
            let mut lanes = vec![-1.0f32; d0 + n * ds + W];
            planes_to_lanes::<W>(&src, s0, ss, &mut lanes, d0, ds, n);
            for p in 0..n {
                for r in 0..W {
                    assert_eq!(
                        lanes[d0 + p * ds + r],
                        src[s0 + r * ss + p],
                        "{isa} W={W} n={n}"
                    );
                }
            }
            // Between the vectors nothing is written.
            for p in 0..n {
                for gap in W..ds {
                    if d0 + p * ds + gap < lanes.len() && p + 1 < n {
                        assert_eq!(lanes[d0 + p * ds + gap], -1.0, "{isa} W={W} n={n}");
                    }
                }
            }
            let mut back = vec![MaybeUninit::new(-1.0f32); src.len()];
            lanes_to_planes::<W>(&lanes, d0, ds, &mut back, s0, ss, n);
            for (i, v) in back.iter().enumerate() {
                // SAFETY: written above, or the initial -1.
                #[allow(unsafe_code)]
                let v = unsafe { v.assume_init() };
                let (r, p) = ((i.max(s0) - s0) / ss, (i.max(s0) - s0) % ss);
                let moved = i >= s0 && r < W && p < n;
                let want = if moved { src[i] } else { -1.0 };
                assert_eq!(v, want, "{isa} W={W} n={n} at {i}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "planes_to_lanes: src")]
    fn a_short_source_panics_rather_than_reading_past_it() {
        let src = vec![0.0f32; 8 * 8 - 1];
        let mut dst = vec![0.0f32; 64];
        planes_to_lanes::<WIDTH>(&src, 0, 8, &mut dst, 0, 8, 8);
    }
}
