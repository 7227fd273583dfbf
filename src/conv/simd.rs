//! A small matrix-multiply kernel (AVX2 + FMA, detected at run time) whose operands are given
//! by row-offset tables, for implicit-GEMM convolution: `A`'s rows and `B`'s rows may start
//! anywhere in their slices, so a convolution's `B` (the im2col matrix) is read straight from
//! the padded input, never materialised. The `gemm` crate (which burn uses) needs strided
//! matrices, so it cannot express that; on the paper's layers, im2col + `gemm` ran at 30-40
//! GFLOP/s per core, this at 80-100 (README "Training speed").
//!
//! One register tile, 6 rows x 16 columns (12 AVX2 accumulators + 2 `B` vectors + 1 broadcast:
//! 15 of the 16 registers). A 4 x 24 tile needs all 16, spills, and measured half as fast.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Lanes per AVX2 vector.
const LANES: usize = 8;

/// Whether [`gemm()`] can run on this CPU (x86-64 with AVX2 and FMA, detected at run time).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Rows of the register tile.
const MR: usize = 6;
/// Vectors per row of the register tile.
const NV: usize = 2;
/// Column-tile width of [`gemm()`]: callers pad `n` to a multiple of it.
pub const TILE: usize = NV * LANES;

/// `c[i·ldc + j] = (c if accumulate, else 0) + Σ_p a[arow[i] + p] · b[brow[p] + j]` for
/// `i < arow.len()`, `j < n`, `p < brow.len()`; `n` must be a multiple of [`TILE`]. Panics if any index the kernel would touch is out of bounds, or if
/// [`available`] is false.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    n: usize,
    a: &[f32],
    arow: &[usize],
    b: &[f32],
    brow: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    gemm_strided(n, a, arow, 1, b, brow, c, ldc, accumulate);
}

/// [`gemm()`] with `A`'s elements `acs` apart along a row: `a[arow[i] + p·acs]`. (A transposed
/// row-major matrix is `arow[i] = i`, `acs` = its row length.)
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    n: usize,
    a: &[f32],
    arow: &[usize],
    acs: usize,
    b: &[f32],
    brow: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (m, k) = (arow.len(), brow.len());
    assert!(available(), "simd::gemm needs AVX2 and FMA");
    assert_eq!(
        n % TILE,
        0,
        "simd::gemm: n not a multiple of the tile width"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "simd::gemm: c too small"
    );
    assert!(
        arow.iter().all(|&r| r + k <= a.len()),
        "simd::gemm: a row out of bounds"
    );
    assert!(
        brow.iter().all(|&r| r + n <= b.len()),
        "simd::gemm: b row out of bounds"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 and FMA are present (asserted above), and the asserts bound every element
    // read (a[arow[i] + p], b[brow[p] + j]) or written (c[i·ldc + j]) inside the slices.
    #[allow(unsafe_code)]
    unsafe {
        driver(n, a, arow, acs, b, brow, c, ldc, accumulate)
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn driver(
    n: usize,
    a: &[f32],
    arow: &[usize],
    acs: usize,
    b: &[f32],
    brow: &[usize],
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let m = arow.len();
    let k = brow.len();
    let nr = NV * LANES;
    let ap = a.as_ptr();
    let cp = c.as_mut_ptr();
    for j in (0..n).step_by(nr) {
        let bp = b.as_ptr().wrapping_add(j);
        let mut i = 0;
        while i < m {
            let rows = &arow[i..(i + MR).min(m)];
            let ct = cp.wrapping_add(i * ldc + j);
            // SAFETY: the caller checked every index the tile touches.
            unsafe {
                match rows.len() {
                    MR => tile::<MR, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                    5 => tile::<5, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                    4 => tile::<4, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                    3 => tile::<3, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                    2 => tile::<2, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                    _ => tile::<1, NV>(k, ap, rows, acs, bp, brow, ct, ldc, accumulate),
                }
            }
            i += rows.len();
        }
    }
}

/// One `R x (NV·8)` tile of the product, accumulated in registers over all of `k`.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile<const R: usize, const NV: usize>(
    k: usize,
    a: *const f32,
    rows: &[usize],
    acs: usize,
    b: *const f32,
    brow: &[usize],
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    // SAFETY: the caller checked every index; the target features are enabled by `driver`.
    unsafe {
        let mut ar = [a; R];
        for (p, &r) in ar.iter_mut().zip(rows) {
            *p = a.add(r);
        }
        let mut s = [[_mm256_setzero_ps(); NV]; R];
        for (p, &off) in brow.iter().enumerate().take(k) {
            let bp = b.add(off);
            let mut bv = [_mm256_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(bp.add(v * LANES));
            }
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*ar[r].add(p * acs));
                for v in 0..NV {
                    s[r][v] = _mm256_fmadd_ps(av, bv[v], s[r][v]);
                }
            }
        }
        for (r, sr) in s.iter_mut().enumerate() {
            let cr = c.add(r * ldc);
            for (v, x) in sr.iter_mut().enumerate() {
                if accumulate {
                    *x = _mm256_add_ps(*x, _mm256_loadu_ps(cr.add(v * LANES)));
                }
                _mm256_storeu_ps(cr.add(v * LANES), *x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn naive(
        n: usize,
        a: &[f32],
        arow: &[usize],
        b: &[f32],
        brow: &[usize],
        c: &mut [f32],
        ldc: usize,
        acc: bool,
    ) {
        for (i, &ar) in arow.iter().enumerate() {
            for j in 0..n {
                let mut s = if acc { c[i * ldc + j] } else { 0.0 };
                for (p, &br) in brow.iter().enumerate() {
                    s += a[ar + p] * b[br + j];
                }
                c[i * ldc + j] = s;
            }
        }
    }

    /// Every row-tile remainder (1..=6 rows), one and several column tiles, overlapping and
    /// shuffled row offsets, with and without accumulation.
    #[test]
    fn matches_the_definition_on_arbitrary_offset_tables() {
        if !available() {
            eprintln!("SKIPPED simd tests: this CPU lacks AVX2/FMA");
            return;
        }
        let value = |i: usize| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5;
        let a: Vec<f32> = (0..4000).map(value).collect();
        let b: Vec<f32> = (0..6000).map(|i| value(i * 3 + 1)).collect();
        for (m, n, k) in [
            (1, 16, 1),
            (5, 16, 9),
            (6, 32, 40),
            (13, 48, 17),
            (32, 64, 100),
            (9, 16, 300),
        ] {
            let arow: Vec<usize> = (0..m).map(|i| (i * 131 + 7) % (a.len() - k)).collect();
            let brow: Vec<usize> = (0..k).map(|p| (p * 37 + p % 3) % (b.len() - n)).collect();
            let ldc = n + 3;
            for acc in [false, true] {
                let start: Vec<f32> = (0..m * ldc).map(|i| value(i + 11)).collect();
                let (mut fast, mut slow) = (start.clone(), start);
                gemm(n, &a, &arow, &b, &brow, &mut fast, ldc, acc);
                naive(n, &a, &arow, &b, &brow, &mut slow, ldc, acc);
                for (i, (x, y)) in fast.iter().zip(&slow).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "m={m} n={n} k={k} acc={acc} [{i}]: {x} vs {y}"
                    );
                }
            }
        }
    }

    /// A transposed `A` (`acs` > 1) against the definition.
    #[test]
    fn strided_a_matches_the_definition() {
        if !available() {
            return;
        }
        let (m, n, k) = (7, 32, 13);
        let a: Vec<f32> = (0..k * m).map(|i| (i % 17) as f32 - 8.0).collect(); // [k][m]
        let b: Vec<f32> = (0..k * n).map(|i| (i % 11) as f32 - 5.0).collect(); // [k][n]
        let arow: Vec<usize> = (0..m).collect();
        let brow: Vec<usize> = (0..k).map(|p| p * n).collect();
        let mut c = vec![0.0; m * n];
        gemm_strided(n, &a, &arow, m, &b, &brow, &mut c, n, false);
        for i in 0..m {
            for j in 0..n {
                let e: f32 = (0..k).map(|p| a[p * m + i] * b[p * n + j]).sum();
                assert_eq!(c[i * n + j], e, "[{i}][{j}]");
            }
        }
    }

    #[test]
    #[should_panic(expected = "b row out of bounds")]
    fn refuses_an_offset_past_the_end() {
        if !available() {
            panic!("b row out of bounds (skipped: no AVX2/FMA)");
        }
        let (a, b) = (vec![0.0; 64], vec![0.0; 64]);
        let mut c = vec![0.0; 16];
        gemm(16, &a, &[0], &b, &[0, 49], &mut c, 16, false);
    }
}
