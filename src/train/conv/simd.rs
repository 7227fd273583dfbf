//! A small matrix-multiply kernel whose operands are given by row-offset tables, for
//! implicit-GEMM convolution: `A`'s rows and `B`'s rows may start anywhere in their slices, so a
//! convolution's `B` (the im2col matrix) is read straight from the padded input, never
//! materialised. The `gemm` crate (which burn uses) needs strided matrices, so it cannot express
//! that; on the paper's layers, im2col + `gemm` ran at 30-40 GFLOP/s per core, this at 80-100
//! (docs/benchmarks.md, "Training speed").
//!
//! Three register tiles, one per [`Isa`] (chosen once per process, [`super::isa::current`]):
//! - AVX-512: 8 rows x 32 columns (16 zmm accumulators + 2 `B` vectors; broadcasts from memory).
//! - AVX2 + FMA: 6 rows x 16 columns (12 ymm accumulators + 2 `B` vectors + 1 broadcast: 15 of
//!   the 16 registers; a 4 x 24 tile needs all 16, spills, and measured half as fast).
//! - portable: 4 rows x 16 columns of `f32::mul_add`.
//!
//! Every tile computes each element the same way: `s = 0; for p in 0..k { s = fma(a_p, b_p, s) }`,
//! then `s + c` when accumulating. Tiles differ only in how many elements they compute at once,
//! so the three paths give the same bits.

use super::isa::{self, Isa};

/// Column granularity of [`gemm()`]: callers pad `n` to a multiple of it (one AVX-512 vector,
/// two AVX2 vectors).
pub(crate) const TILE: usize = 16;

/// `c[i·ldc + j] = (c if accumulate, else 0) + Σ_p a[arow[i] + p] · b[brow[p] + j]` for
/// `i < arow.len()`, `j < n`, `p < brow.len()`; `n` must be a multiple of [`TILE`]. Panics if any index the kernel would touch is
/// out of bounds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
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
pub(crate) fn gemm_strided(
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
        brow.iter().all(|&r| r + n <= b.len()),
        "simd::gemm: b row out of bounds"
    );
    let acs_ok = k == 0 || arow.iter().all(|&r| r + (k - 1) * acs < a.len());
    assert!(acs_ok, "simd::gemm: a row out of bounds");
    let args = Args {
        n,
        a,
        arow,
        acs,
        b,
        brow,
        c,
        ldc,
        accumulate,
    };
    match isa::current() {
        // SAFETY: `current` returns only paths whose features this CPU has, and the asserts
        // above bound every element read (a[arow[i] + p·acs], b[brow[p] + j]) or written
        // (c[i·ldc + j]) inside the slices.
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        Isa::Avx512 => unsafe { avx512::driver(args) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        Isa::Avx2 => unsafe { avx2::driver(args) },
        _ => portable::driver(args),
    }
}

/// A matrix by strides: element `(i, p)` (row `i`, column `p`) at `at + i·rows + p·cols` of
/// its slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strides {
    pub(crate) at: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// [`gemm_strided`] where both offset tables are arithmetic progressions: `m` rows of `A`
/// given by `sa`, and `B`'s `k` rows `b[bt + p·ldb ..][..n]`. Same result, bit for bit (each
/// element is summed in the same order); on the AVX-512 path a taller register tile (12 x 32)
/// that keeps its row pointers in registers, where the tables' 8 row offsets had spilled to
/// the stack (the Winograd products are all of this kind). Other paths build the tables.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_uniform(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    sa: Strides,
    b: &[f32],
    (bt, ldb): (usize, usize),
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if isa::current() == Isa::Avx512 && m > 0 && n > 0 && k > 0 {
        assert_eq!(
            n % TILE,
            0,
            "simd::gemm: n not a multiple of the tile width"
        );
        assert!(
            ldc >= n && (m - 1) * ldc + n <= c.len(),
            "simd::gemm: c too small"
        );
        assert!(
            bt + (k - 1) * ldb + n <= b.len(),
            "simd::gemm: b row out of bounds"
        );
        let last = sa.at + (m - 1) * sa.rows + (k - 1) * sa.cols;
        assert!(last < a.len(), "simd::gemm: a row out of bounds");
        let args = Uniform {
            m,
            n,
            k,
            a,
            sa,
            b,
            bt,
            ldb,
            c,
            ldc,
            accumulate,
        };
        // SAFETY: `current` returned AVX-512 only because this CPU has it, and the asserts
        // above bound every element the tiles read or write (the offsets grow with `i`, `p`
        // and `j`, so the last ones are the largest).
        #[allow(unsafe_code)]
        unsafe {
            avx512::driver_uniform(args)
        };
        return;
    }
    let arow: Vec<usize> = (0..m).map(|i| sa.at + i * sa.rows).collect();
    let brow: Vec<usize> = (0..k).map(|p| bt + p * ldb).collect();
    gemm_strided(n, a, &arow, sa.cols, b, &brow, c, ldc, accumulate);
}

/// The operands of one [`gemm_uniform`] product, checked.
#[cfg(target_arch = "x86_64")]
struct Uniform<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    sa: Strides,
    b: &'a [f32],
    bt: usize,
    ldb: usize,
    c: &'a mut [f32],
    ldc: usize,
    accumulate: bool,
}

/// The operands of one product, checked by [`gemm_strided`].
struct Args<'a> {
    n: usize,
    a: &'a [f32],
    arow: &'a [usize],
    acs: usize,
    b: &'a [f32],
    brow: &'a [usize],
    c: &'a mut [f32],
    ldc: usize,
    accumulate: bool,
}

/// Calls `$tile::<R, NV>(args)` for the `R` (a literal in `$r`) equal to `$rows`.
macro_rules! by_rows {
    ($rows:expr, $tile:ident, $nv:literal, $args:tt, [$($r:literal),*]) => {
        match $rows {
            $($r => $tile::<$r, $nv> $args,)*
            _ => unreachable!("row tile"),
        }
    };
}

/// One x86 register tile, `R` rows x `NV` vectors, from the given intrinsics: `c[r][..] =
/// (c if accumulate) + Σ_p a[r][p] · b[p][..]`, accumulated in registers over all of `k`.
macro_rules! x86_tile {
    ($lanes:expr, $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident, $add:ident) => {
        /// One `R x (NV·LANES)` tile of the product.
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
            // SAFETY: the caller checked every index; the driver enables the target features.
            unsafe {
                let mut ar = [a; R];
                for (p, &r) in ar.iter_mut().zip(rows) {
                    *p = a.add(r);
                }
                let mut s = [[$zero(); NV]; R];
                for (p, &off) in brow.iter().enumerate().take(k) {
                    let bp = b.add(off);
                    let mut bv = [$zero(); NV];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = $load(bp.add(v * $lanes));
                    }
                    for r in 0..R {
                        let av = $set1(*ar[r].add(p * acs));
                        for v in 0..NV {
                            s[r][v] = $fma(av, bv[v], s[r][v]);
                        }
                    }
                }
                for (r, sr) in s.iter_mut().enumerate() {
                    let cr = c.add(r * ldc);
                    for (v, x) in sr.iter_mut().enumerate() {
                        if accumulate {
                            *x = $add(*x, $load(cr.add(v * $lanes)));
                        }
                        $store(cr.add(v * $lanes), *x);
                    }
                }
            }
        }
    };
}

/// The AVX2 + FMA path: 6 x 16 tiles (two 8-lane vectors per row).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Args;
    use std::arch::x86_64::*;

    const LANES: usize = 8;
    const MR: usize = 6;

    x86_tile!(
        LANES,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps
    );

    /// # Safety
    /// The CPU has AVX2 and FMA, and `args` were checked by `gemm_strided`.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn driver(x: Args) {
        let (m, k) = (x.arow.len(), x.brow.len());
        let (ap, cp) = (x.a.as_ptr(), x.c.as_mut_ptr());
        for j in (0..x.n).step_by(2 * LANES) {
            let bp = x.b.as_ptr().wrapping_add(j);
            let mut i = 0;
            while i < m {
                let rows = &x.arow[i..(i + MR).min(m)];
                let ct = cp.wrapping_add(i * x.ldc + j);
                let (acs, brow, ldc, acc) = (x.acs, x.brow, x.ldc, x.accumulate);
                // SAFETY: the caller checked every index the tile touches.
                unsafe {
                    by_rows!(
                        rows.len(),
                        tile,
                        2,
                        (k, ap, rows, acs, bp, brow, ct, ldc, acc),
                        [6, 5, 4, 3, 2, 1]
                    );
                }
                i += rows.len();
            }
        }
    }
}

/// The AVX-512 path: 8 x 32 tiles (two 16-lane vectors per row), and 8 x 16 for a last
/// column block of 16.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Args, Uniform};
    use std::arch::x86_64::*;

    const LANES: usize = 16;
    const MR: usize = 8;

    x86_tile!(
        LANES,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps
    );

    /// # Safety
    /// The CPU has AVX-512 F, and `args` were checked by `gemm_strided`.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn driver(x: Args) {
        let (m, k) = (x.arow.len(), x.brow.len());
        let (ap, cp) = (x.a.as_ptr(), x.c.as_mut_ptr());
        let mut j = 0;
        while j < x.n {
            let wide = x.n - j >= 2 * LANES;
            let bp = x.b.as_ptr().wrapping_add(j);
            let mut i = 0;
            while i < m {
                let rows = &x.arow[i..(i + MR).min(m)];
                let ct = cp.wrapping_add(i * x.ldc + j);
                let (acs, brow, ldc, acc) = (x.acs, x.brow, x.ldc, x.accumulate);
                // SAFETY: the caller checked every index the tile touches (`n` is a multiple
                // of 16, so a narrow block is exactly one vector wide).
                unsafe {
                    if wide {
                        by_rows!(
                            rows.len(),
                            tile,
                            2,
                            (k, ap, rows, acs, bp, brow, ct, ldc, acc),
                            [8, 7, 6, 5, 4, 3, 2, 1]
                        );
                    } else {
                        by_rows!(
                            rows.len(),
                            tile,
                            1,
                            (k, ap, rows, acs, bp, brow, ct, ldc, acc),
                            [8, 7, 6, 5, 4, 3, 2, 1]
                        );
                    }
                }
                i += rows.len();
            }
            j += if wide { 2 * LANES } else { LANES };
        }
    }
    /// Rows of the [`driver_uniform`] tile: 12 x 32 is 24 accumulators, 2 `B` vectors and a
    /// broadcast, 27 of the 32 registers.
    const MRU: usize = 12;

    /// One `R x (NV·16)` tile of a [`super::gemm_uniform`] product: `A`'s row `r` at `a0 +
    /// r·lda`, advancing `acs` per step of the sum, `B`'s rows `ldb` apart from `b0`. The row
    /// pointers go in threes (`pa[r / 3] + (r % 3)·lda`, an addressing mode), so 12 rows need
    /// 4 pointers and a stride, not 12 offsets. Per element: `s = 0; s = fma(a_p, b_p, s)` for
    /// `p` in order, then `s + c` when accumulating, as [`tile`].
    #[allow(unsafe_code, clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn utile<const R: usize, const NV: usize>(
        k: usize,
        a0: *const f32,
        (lda, acs): (usize, usize),
        b0: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        // SAFETY: the caller checked every index; the driver enables the target features.
        unsafe {
            let mut pa = [a0; MRU.div_ceil(3)];
            for (g, p) in pa.iter_mut().enumerate() {
                *p = a0.wrapping_add(3 * g * lda);
            }
            let mut bp = b0;
            let mut s = [[_mm512_setzero_ps(); NV]; R];
            for _ in 0..k {
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = _mm512_loadu_ps(bp.add(v * LANES));
                }
                for (r, sr) in s.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*pa[r / 3].add((r % 3) * lda));
                    for (x, b) in sr.iter_mut().zip(bv) {
                        *x = _mm512_fmadd_ps(av, b, *x);
                    }
                }
                for p in pa.iter_mut() {
                    *p = p.wrapping_add(acs);
                }
                bp = bp.wrapping_add(ldb);
            }
            for (r, sr) in s.iter_mut().enumerate() {
                let cr = c.add(r * ldc);
                for (v, x) in sr.iter_mut().enumerate() {
                    if accumulate {
                        *x = _mm512_add_ps(*x, _mm512_loadu_ps(cr.add(v * LANES)));
                    }
                    _mm512_storeu_ps(cr.add(v * LANES), *x);
                }
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F, and `x` was checked by `gemm_uniform`.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn driver_uniform(x: Uniform) {
        let (ap, bp, cp) = (x.a.as_ptr(), x.b.as_ptr(), x.c.as_mut_ptr());
        let (steps, ldb, ldc, acc) = ((x.sa.rows, x.sa.cols), x.ldb, x.ldc, x.accumulate);
        let mut j = 0;
        while j < x.n {
            let wide = x.n - j >= 2 * LANES;
            let mut i = 0;
            while i < x.m {
                let rows = (x.m - i).min(MRU);
                let a0 = ap.wrapping_add(x.sa.at + i * x.sa.rows);
                let b0 = bp.wrapping_add(x.bt + j);
                let ct = cp.wrapping_add(i * ldc + j);
                // SAFETY: `gemm_uniform` checked every index the tile touches (`n` is a
                // multiple of 16, so a narrow block is exactly one vector wide).
                unsafe {
                    if wide {
                        by_rows!(
                            rows,
                            utile,
                            2,
                            (x.k, a0, steps, b0, ldb, ct, ldc, acc),
                            [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
                        );
                    } else {
                        by_rows!(
                            rows,
                            utile,
                            1,
                            (x.k, a0, steps, b0, ldb, ct, ldc, acc),
                            [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
                        );
                    }
                }
                i += rows;
            }
            j += if wide { 2 * LANES } else { LANES };
        }
    }
}

/// The portable path: 4 x 16 tiles of `f32::mul_add` (a fused multiply-add everywhere, so the
/// same bits as the vector paths; a software one, and slow, where the CPU has no FMA).
mod portable {
    use super::{Args, TILE};

    const MR: usize = 4;

    pub(super) fn driver(x: Args) {
        let m = x.arow.len();
        for j in (0..x.n).step_by(TILE) {
            for i in (0..m).step_by(MR) {
                let rows = &x.arow[i..(i + MR).min(m)];
                let mut s = [[0.0f32; TILE]; MR];
                for (p, &off) in x.brow.iter().enumerate() {
                    let bv: &[f32; TILE] = x.b[off + j..][..TILE].try_into().expect("16 columns");
                    for (sr, &r) in s.iter_mut().zip(rows) {
                        let av = x.a[r + p * x.acs];
                        for (sv, &bj) in sr.iter_mut().zip(bv) {
                            *sv = av.mul_add(bj, *sv);
                        }
                    }
                }
                for (ri, sr) in s.iter().enumerate().take(rows.len()) {
                    let cr = &mut x.c[(i + ri) * x.ldc + j..][..TILE];
                    for (cv, &sv) in cr.iter_mut().zip(sr) {
                        *cv = if x.accumulate { sv + *cv } else { sv };
                    }
                }
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

    /// Says which paths this CPU cannot run (their tests are skipped, not passed).
    fn note_skipped(test: &str) {
        for isa in Isa::ALL.into_iter().filter(|i| !i.is_supported()) {
            eprintln!("SKIPPED {test} on {isa}: this CPU lacks {}", isa.needs());
        }
    }

    fn value(i: usize) -> f32 {
        ((i * 7919) % 1013) as f32 / 1013.0 - 0.5
    }

    /// Shapes covering every row-tile remainder of every path (1..=8 rows and more), one and
    /// several column tiles, a last column block of 16 after 32-wide ones (AVX-512's narrow
    /// tile), and long sums.
    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 16, 1),
        (5, 16, 9),
        (6, 32, 40),
        (7, 48, 3),
        (8, 80, 21),
        (13, 48, 17),
        (17, 16, 5),
        (32, 64, 100),
        (9, 16, 300),
    ];

    /// Every path against the definition on overlapping and shuffled row offsets, with and
    /// without accumulation.
    #[test]
    fn matches_the_definition_on_arbitrary_offset_tables() {
        note_skipped("simd::matches_the_definition");
        let a: Vec<f32> = (0..4000).map(value).collect();
        let b: Vec<f32> = (0..6000).map(|i| value(i * 3 + 1)).collect();
        for isa in Isa::supported() {
            let _path = isa::force(isa);
            for (m, n, k) in SHAPES {
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
                            "{isa} m={m} n={n} k={k} acc={acc} [{i}]: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    /// The paths agree bit for bit (same order of fused multiply-adds per element), on plain and
    /// strided `A`, with and without accumulation.
    #[test]
    fn every_path_gives_the_same_bits() {
        note_skipped("simd::every_path_gives_the_same_bits");
        let a: Vec<f32> = (0..5000).map(|i| value(i * 5 + 2) * 3.0).collect();
        let b: Vec<f32> = (0..7000).map(|i| value(i * 3 + 1)).collect();
        let run = |isa: Isa| {
            let _path = isa::force(isa);
            let mut out = Vec::new();
            for (m, n, k) in SHAPES {
                for acs in [1, 3] {
                    let arow: Vec<usize> = (0..m)
                        .map(|i| (i * 131 + 7) % (a.len() - k * acs))
                        .collect();
                    let brow: Vec<usize> =
                        (0..k).map(|p| (p * 37 + p % 3) % (b.len() - n)).collect();
                    for acc in [false, true] {
                        let mut c: Vec<f32> = (0..m * n).map(|i| value(i + 11)).collect();
                        gemm_strided(n, &a, &arow, acs, &b, &brow, &mut c, n, acc);
                        out.extend(c.iter().map(|v| v.to_bits()));
                    }
                }
            }
            out
        };
        let reference = run(Isa::Portable);
        for isa in Isa::supported() {
            assert!(
                run(isa) == reference,
                "{isa} differs from the portable path"
            );
        }
    }

    /// The strided entry point against the table one, bit for bit, on every path: row
    /// counts covering every remainder of the 12-row tile, `A` by rows (`cols` 1, as the
    /// Winograd forward) and by columns (`rows` 1, as its kernel gradient), with and without
    /// accumulation, one and several column blocks.
    #[test]
    fn strided_operands_give_the_tables_bits_on_every_path() {
        note_skipped("simd::strided_operands_give_the_tables_bits");
        let a: Vec<f32> = (0..9000).map(|i| value(i * 5 + 2) * 3.0).collect();
        let b: Vec<f32> = (0..9000).map(|i| value(i * 3 + 1)).collect();
        // Every product, by the strided entry point or by the tables.
        let run = |isa: Isa, strided: bool| {
            let _path = isa::force(isa);
            let mut out = Vec::new();
            for m in (1..=26).chain([49, 64]) {
                for (n, k) in [(16, 7), (32, 32), (48, 19), (64, 64)] {
                    for (rows, cols) in [(k + 3, 1), (1, m + 2)] {
                        let sa = Strides { at: 5, rows, cols };
                        let (bt, ldb) = (9, n + 4);
                        for acc in [false, true] {
                            let mut c: Vec<f32> = (0..m * n).map(|i| value(i + 11)).collect();
                            if strided {
                                gemm_uniform(m, n, k, &a, sa, &b, (bt, ldb), &mut c, n, acc);
                            } else {
                                let arow: Vec<usize> = (0..m).map(|i| 5 + i * rows).collect();
                                let brow: Vec<usize> = (0..k).map(|p| bt + p * ldb).collect();
                                gemm_strided(n, &a, &arow, cols, &b, &brow, &mut c, n, acc);
                            }
                            out.extend(c.iter().map(|v| v.to_bits()));
                        }
                    }
                }
            }
            out
        };
        let reference = run(Isa::Portable, false);
        for isa in Isa::supported() {
            assert!(run(isa, true) == reference, "{isa} differs from the tables");
        }
    }

    /// A transposed `A` (`acs` > 1) against the definition, on every path.
    #[test]
    fn strided_a_matches_the_definition() {
        let (m, n, k) = (7, 32, 13);
        let a: Vec<f32> = (0..k * m).map(|i| (i % 17) as f32 - 8.0).collect(); // [k][m]
        let b: Vec<f32> = (0..k * n).map(|i| (i % 11) as f32 - 5.0).collect(); // [k][n]
        let arow: Vec<usize> = (0..m).collect();
        let brow: Vec<usize> = (0..k).map(|p| p * n).collect();
        for isa in Isa::supported() {
            let _path = isa::force(isa);
            let mut c = vec![0.0; m * n];
            gemm_strided(n, &a, &arow, m, &b, &brow, &mut c, n, false);
            for i in 0..m {
                for j in 0..n {
                    let e: f32 = (0..k).map(|p| a[p * m + i] * b[p * n + j]).sum();
                    assert_eq!(c[i * n + j], e, "{isa} [{i}][{j}]");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "b row out of bounds")]
    fn refuses_an_offset_past_the_end() {
        let (a, b) = (vec![0.0; 64], vec![0.0; 64]);
        let mut c = vec![0.0; 16];
        gemm(16, &a, &[0], &b, &[0, 49], &mut c, 16, false);
    }

    #[test]
    #[should_panic(expected = "a row out of bounds")]
    fn refuses_a_strided_a_past_the_end() {
        let (a, b) = (vec![0.0; 10], vec![0.0; 64]);
        let mut c = vec![0.0; 16];
        gemm_strided(16, &a, &[0], 5, &b, &[0, 16, 32], &mut c, 16, false);
    }
}
