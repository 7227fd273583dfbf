//! Winograd F(m x m, 3x3) for stride-1 3x3 convolutions whose input and output channels are
//! multiples of [`LANES`], in two variants: F(4x4, 3x3) (36 small GEMMs, one per point of the
//! 6x6 transform domain, 4x fewer multiplications than the direct convolution) and F(2x2, 3x3)
//! (16 GEMMs, 2.25x fewer), whichever needs fewer multiplications for the layer's output size
//! (F(4x4) from 7x7 outputs up); the GEMMs run on [`super::simd::gemm`]. `kernel` uses it for
//! the forward pass, for the input gradient (itself a stride-1 3x3 convolution of the output
//! gradient, with the kernel flipped) and for the kernel gradient ([`kernel_gradient`]: the
//! adjoint of the forward transforms, `dg = Gᵀ (Σ_t Vᵀ · A dy Aᵀ) G`).
//!
//! Per m x m output tile `(a, b)` and the n x n patch `d` (`n = m + 2`) of the padded input at
//! `(m·a, m·b)`: `V = Bᵀ d B`, `U = G g Gᵀ`, `M[ξ] = V[ξ] · U[ξ]` (summing over input channels),
//! and `y = Aᵀ M A`. The transforms run channels-last (a tile's patch values are vectors over
//! channels), so they vectorise without shuffles: the image is transposed once into a padded
//! HWC buffer, and the output transform writes NCHW directly. The matrices are Lavin and Gray's
//! ("Fast Algorithms for Convolutional Neural Networks", 2015; points 0, ±1, ±2 and ∞ for
//! F(4x4)); F(4x4)'s larger constants cost some precision (its outputs agree with the direct
//! convolution to about 1e-5 of the largest, against 1e-6 for F(2x2)).

use super::geometry::Geometry;
use super::isa::per_isa;
use super::scratch::{self, Scratch as Buf};
use super::simd;
use super::transpose;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Channels per block in the transforms (a multiple the compiler turns into vectors).
pub(crate) const LANES: usize = 8;
// The channel moves between NCHW and channels-last go one vector of channels at a time.
const _: () = assert!(LANES == transpose::WIDTH);

/// One variant F(M x M, 3x3) on `N = M + 2` points: its transforms of vectors of `L` channels
/// (`Bᵀ` of the input patch, `Aᵀ` of the GEMMs' outputs, `A` of the output gradient) and of
/// scalars (`G` of the kernel, its adjoint `Gᵀ` for the kernel gradient). Each is a fixed
/// sequence of f32 operations, the same on every kernel path.
trait Variant<const N: usize, const M: usize> {
    fn bt<const L: usize>(d: [[f32; L]; N]) -> [[f32; L]; N];
    fn at<const L: usize>(m: [[f32; L]; N]) -> [[f32; L]; M];
    fn a<const L: usize>(y: [[f32; L]; M]) -> [[f32; L]; N];
    fn g<const L: usize>(k: [[f32; L]; 3]) -> [[f32; L]; N];
    fn gt<const L: usize>(u: [[f32; L]; N]) -> [[f32; L]; 3];
}

/// F(2x2, 3x3).
struct F2;

impl Variant<4, 2> for F2 {
    /// `[d0 - d2, d1 + d2, d2 - d1, d1 - d3]`.
    #[inline(always)]
    fn bt<const L: usize>(d: [[f32; L]; 4]) -> [[f32; L]; 4] {
        let mut out = [[0.0; L]; 4];
        for l in 0..L {
            out[0][l] = d[0][l] - d[2][l];
            out[1][l] = d[1][l] + d[2][l];
            out[2][l] = d[2][l] - d[1][l];
            out[3][l] = d[1][l] - d[3][l];
        }
        out
    }

    /// `[m0 + m1 + m2, m1 - m2 - m3]`.
    #[inline(always)]
    fn at<const L: usize>(m: [[f32; L]; 4]) -> [[f32; L]; 2] {
        let mut out = [[0.0; L]; 2];
        for l in 0..L {
            out[0][l] = m[0][l] + m[1][l] + m[2][l];
            out[1][l] = m[1][l] - m[2][l] - m[3][l];
        }
        out
    }

    /// `A = [1 0; 1 1; 1 -1; 0 -1]`.
    #[inline(always)]
    fn a<const L: usize>(y: [[f32; L]; 2]) -> [[f32; L]; 4] {
        let mut out = [[0.0; L]; 4];
        for l in 0..L {
            out[0][l] = y[0][l];
            out[1][l] = y[0][l] + y[1][l];
            out[2][l] = y[0][l] - y[1][l];
            out[3][l] = -y[1][l];
        }
        out
    }

    /// `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`.
    #[inline(always)]
    fn g<const L: usize>(k: [[f32; L]; 3]) -> [[f32; L]; 4] {
        let mut out = [[0.0; L]; 4];
        for l in 0..L {
            let [k0, k1, k2] = [k[0][l], k[1][l], k[2][l]];
            out[0][l] = k0;
            out[1][l] = 0.5 * (k0 + k1 + k2);
            out[2][l] = 0.5 * (k0 - k1 + k2);
            out[3][l] = k2;
        }
        out
    }

    #[inline(always)]
    fn gt<const L: usize>(u: [[f32; L]; 4]) -> [[f32; L]; 3] {
        let mut out = [[0.0; L]; 3];
        for l in 0..L {
            let [u0, u1, u2, u3] = [u[0][l], u[1][l], u[2][l], u[3][l]];
            out[0][l] = u0 + 0.5 * (u1 + u2);
            out[1][l] = 0.5 * (u1 - u2);
            out[2][l] = 0.5 * (u1 + u2) + u3;
        }
        out
    }
}

/// F(4x4, 3x3).
struct F4;

impl Variant<6, 4> for F4 {
    /// `Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
    /// 0 4 0 -5 0 1]`.
    #[inline(always)]
    fn bt<const L: usize>(d: [[f32; L]; 6]) -> [[f32; L]; 6] {
        let mut out = [[0.0; L]; 6];
        for l in 0..L {
            let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
            let (p, q) = (d4 - 4.0 * d2, 4.0 * d1 - d3);
            let (r, s) = (d4 - d2, 2.0 * (d1 - d3));
            out[0][l] = 4.0 * (d0 - d2) + r;
            out[1][l] = p - q;
            out[2][l] = p + q;
            out[3][l] = r - s;
            out[4][l] = r + s;
            out[5][l] = 4.0 * (d1 - d3) + (d5 - d3);
        }
        out
    }

    /// `Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]`.
    #[inline(always)]
    fn at<const L: usize>(m: [[f32; L]; 6]) -> [[f32; L]; 4] {
        let mut out = [[0.0; L]; 4];
        for l in 0..L {
            let (s1, d1) = (m[1][l] + m[2][l], m[1][l] - m[2][l]);
            let (s2, d2) = (m[3][l] + m[4][l], m[3][l] - m[4][l]);
            out[0][l] = m[0][l] + s1 + s2;
            out[1][l] = d1 + 2.0 * d2;
            out[2][l] = s1 + 4.0 * s2;
            out[3][l] = d1 + 8.0 * d2 + m[5][l];
        }
        out
    }

    /// `A`, the transpose of `Aᵀ` above.
    #[inline(always)]
    fn a<const L: usize>(y: [[f32; L]; 4]) -> [[f32; L]; 6] {
        let mut out = [[0.0; L]; 6];
        for l in 0..L {
            let [y0, y1, y2, y3] = [y[0][l], y[1][l], y[2][l], y[3][l]];
            let (e, f) = (y0 + y2, y1 + y3);
            let (e2, f2) = (y0 + 4.0 * y2, 2.0 * y1 + 8.0 * y3);
            out[0][l] = y0;
            out[1][l] = e + f;
            out[2][l] = e - f;
            out[3][l] = e2 + f2;
            out[4][l] = e2 - f2;
            out[5][l] = y3;
        }
        out
    }

    /// `G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]`.
    #[inline(always)]
    fn g<const L: usize>(k: [[f32; L]; 3]) -> [[f32; L]; 6] {
        let mut out = [[0.0; L]; 6];
        for l in 0..L {
            let [k0, k1, k2] = [k[0][l], k[1][l], k[2][l]];
            let e = k0 + k2;
            let f = (k0 + 4.0 * k2) * (1.0 / 24.0);
            let h = k1 * (1.0 / 12.0);
            out[0][l] = 0.25 * k0;
            out[1][l] = -(e + k1) * (1.0 / 6.0);
            out[2][l] = -(e - k1) * (1.0 / 6.0);
            out[3][l] = f + h;
            out[4][l] = f - h;
            out[5][l] = k2;
        }
        out
    }

    #[inline(always)]
    fn gt<const L: usize>(u: [[f32; L]; 6]) -> [[f32; L]; 3] {
        let mut out = [[0.0; L]; 3];
        for l in 0..L {
            let (s12, d12) = (u[1][l] + u[2][l], u[2][l] - u[1][l]);
            let (s34, d34) = (u[3][l] + u[4][l], u[3][l] - u[4][l]);
            out[0][l] = 0.25 * u[0][l] - s12 * (1.0 / 6.0) + s34 * (1.0 / 24.0);
            out[1][l] = d12 * (1.0 / 6.0) + d34 * (1.0 / 12.0);
            out[2][l] = (s34 - s12) * (1.0 / 6.0) + u[5][l];
        }
        out
    }
}

/// Multiplications per input-output channel pair of F(m x m, 3x3) on an `oh x ow` output.
fn multiplications(m: usize, oh: usize, ow: usize) -> usize {
    oh.div_ceil(m) * ow.div_ceil(m) * (m + 2) * (m + 2)
}

/// The tiling of one convolution.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    g: Geometry,
    /// Output tile size: 4 for F(4x4, 3x3), 2 for F(2x2, 3x3).
    m: usize,
    /// Tile rows and columns per image.
    ty: usize,
    tx: usize,
    /// The padded input, channels last: `hp x wp` positions, the image at `(pad_top, pad_left)`.
    hp: usize,
    wp: usize,
    /// Output channels padded to the GEMM tile.
    op: usize,
}

impl Plan {
    /// The plan for `g`, or `None` when Winograd does not apply (kernel size, stride, channels
    /// that do not fill whole vectors). The variant is the one with fewer multiplications
    /// (F(2x2) on a tie). Both depend on the shape alone, never on the CPU.
    pub(crate) fn new(g: &Geometry) -> Option<Plan> {
        let fits =
            g.k == 3 && g.stride == 1 && g.c.is_multiple_of(LANES) && g.o.is_multiple_of(LANES);
        if !fits || g.n == 0 || g.oh == 0 || g.ow == 0 {
            return None;
        }
        let m = if multiplications(4, g.oh, g.ow) < multiplications(2, g.oh, g.ow) {
            4
        } else {
            2
        };
        Some(Plan::with_tile(g, m))
    }

    /// The plan for `g` with output tiles `m x m` (4 or 2), `g` fitting Winograd.
    fn with_tile(g: &Geometry, m: usize) -> Plan {
        let (ty, tx) = (g.oh.div_ceil(m), g.ow.div_ceil(m));
        Plan {
            g: *g,
            m,
            ty,
            tx,
            hp: m * ty + 2,
            wp: m * tx + 2,
            op: g.o.div_ceil(simd::TILE) * simd::TILE,
        }
    }

    /// The output tile size (4 or 2).
    #[cfg(test)]
    pub(crate) fn tile(&self) -> usize {
        self.m
    }

    /// Points of the transform domain.
    fn xi(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }

    fn tiles(&self) -> usize {
        self.ty * self.tx
    }

    /// Images transformed together: enough tiles (GEMM rows) to amortise the GEMM's `B` panel,
    /// in chunks that share evenly among `threads`. (Each output is summed in the same order
    /// whatever the chunk, so the results do not depend on it.)
    fn chunk(&self, threads: usize) -> usize {
        let most = (256 / self.tiles()).clamp(1, 8);
        let threads = threads.max(1);
        let rounds = self.g.n.div_ceil(threads * most);
        self.g.n.div_ceil(threads * rounds).max(1)
    }
}

/// Runs `$call` on the plan's variant with `L` channels per vector: 16 (one 512-bit vector)
/// on the AVX-512 path when `$channels` divide, else [`LANES`]. Element by element the
/// arithmetic is the same, so the width changes the speed, never the bits.
macro_rules! by_variant {
    ($p:expr, $channels:expr, $f:ident($($arg:expr),* $(,)?)) => {{
        let wide = super::isa::current() == super::isa::Isa::Avx512
            && $channels.is_multiple_of(2 * LANES);
        match ($p.m, wide) {
            (2, false) => $p.$f::<F2, 4, 2, LANES>($($arg),*),
            (2, true) => $p.$f::<F2, 4, 2, { 2 * LANES }>($($arg),*),
            (_, false) => $p.$f::<F4, 6, 4, LANES>($($arg),*),
            (_, true) => $p.$f::<F4, 6, 4, { 2 * LANES }>($($arg),*),
        }
    }};
}

/// `Uᵀ[ξ][c][o] = (G g Gᵀ)[ξ]` for every kernel `g = w[o][c]`, rows `op` wide (zero past `o`).
fn filter_transform(p: &Plan, w: &[f32]) -> Buf {
    match p.m {
        2 => filter_transform_by::<F2, 4, 2>(&p.g, w, p.op),
        _ => filter_transform_by::<F4, 6, 4>(&p.g, w, p.op),
    }
}

// The transforms index several small arrays by the same counter.
#[allow(clippy::needless_range_loop)]
fn filter_transform_by<T: Variant<N, M>, const N: usize, const M: usize>(
    g: &Geometry,
    w: &[f32],
    op: usize,
) -> Buf {
    // Every element in columns below `o` is written below (`o` is a multiple of LANES).
    let mut u = if op == g.o {
        scratch::take(N * N * g.c * op)
    } else {
        scratch::zeroed(N * N * g.c * op)
    };
    for c in 0..g.c {
        for o0 in (0..g.o).step_by(LANES) {
            // The kernels of LANES output channels, tap by tap.
            let k: [[f32; LANES]; 9] = std::array::from_fn(|tap| {
                std::array::from_fn(|l| w[((o0 + l) * g.c + c) * 9 + tap])
            });
            // t = G k (N x 3, column by column), then U = t Gᵀ (N x N, row by row).
            let cols = [0, 1, 2].map(|j| T::g([k[j], k[3 + j], k[6 + j]]));
            for r in 0..N {
                for (s, x) in T::g([cols[0][r], cols[1][r], cols[2][r]])
                    .iter()
                    .enumerate()
                {
                    let at = ((r * N + s) * g.c + c) * op + o0;
                    u[at..at + LANES].copy_from_slice(x);
                }
            }
        }
    }
    u
}

/// Rows between consecutive points' matrices for `rows` tiles: odd, so that the transforms'
/// N² streams (one per point, `ld · channels` floats apart) do not all fall in the same L1
/// cache sets, as they do when that distance is a multiple of 4 KiB (16 tiles x 8 images x
/// 64 channels: F(4x4) ran slower than F(2x2) on 14x14 layers before this).
fn stride(rows: usize) -> usize {
    rows | 1
}

/// `[f(0), f(1), ..]`: `std::array::from_fn` for the transforms' inner loops, always inlined
/// (a build where `from_fn` was not inlined moved every vector through memory, `perf`: 13% in
/// `memmove`).
#[inline(always)]
fn gather<T: Copy, const K: usize>(f: impl Fn(usize) -> T) -> [T; K] {
    let mut out = [f(0); K];
    for (i, o) in out.iter_mut().enumerate().skip(1) {
        *o = f(i);
    }
    out
}

/// `L` channels from `src` at `at`.
#[inline(always)]
fn load<const L: usize>(src: &[f32], at: usize) -> [f32; L] {
    src[at..at + L].try_into().expect("L lanes")
}

impl Plan {
    /// Image `x` (`[c][h][w]`) into the interior of `xh` (`[hp][wp][c]`, zero outside),
    /// 16 channels at a time where they come in sixteens.
    #[inline(always)]
    fn transpose_in(&self, x: &[f32], xh: &mut [f32]) {
        if self.g.c.is_multiple_of(2 * LANES) {
            self.transpose_in_by::<{ 2 * LANES }>(x, xh);
        } else {
            self.transpose_in_by::<LANES>(x, xh);
        }
    }

    #[inline(always)]
    fn transpose_in_by<const W: usize>(&self, x: &[f32], xh: &mut [f32]) {
        let g = &self.g;
        let (c_n, hw) = (g.c, g.h * g.w);
        for c0 in (0..c_n).step_by(W) {
            for iy in 0..g.h {
                let base = ((iy + g.pad_top) * self.wp + g.pad_left) * c_n + c0;
                transpose::planes_to_lanes::<W>(x, c0 * hw + iy * g.w, hw, xh, base, c_n, g.w);
            }
        }
    }

    /// One image's output gradient `gb` (NCHW) into `gh` (`[M·ty][M·tx][o]`), as
    /// [`Plan::transpose_in`].
    #[inline(always)]
    fn gradient_in<const M: usize>(&self, gb: &[f32], gh: &mut [f32]) {
        if self.g.o.is_multiple_of(2 * LANES) {
            self.gradient_in_by::<M, { 2 * LANES }>(gb, gh);
        } else {
            self.gradient_in_by::<M, LANES>(gb, gh);
        }
    }

    #[inline(always)]
    fn gradient_in_by<const M: usize, const W: usize>(&self, gb: &[f32], gh: &mut [f32]) {
        let g = &self.g;
        let (o_n, wh, ohw) = (g.o, M * self.tx, g.oh * g.ow);
        for o0 in (0..o_n).step_by(W) {
            for oy in 0..g.oh {
                let (s0, d0) = (o0 * ohw + oy * g.ow, oy * wh * o_n + o0);
                transpose::planes_to_lanes::<W>(gb, s0, ohw, gh, d0, o_n, g.ow);
            }
        }
    }

    /// `Vᵀ[ξ][row0 + t][c] = (Bᵀ d B)[ξ]` for every tile `t` of one image (`xh` channels-last);
    /// `vt` has `ld` rows per `ξ` ([`stride`]).
    // The transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn input_transform<T: Variant<N, M>, const N: usize, const M: usize, const L: usize>(
        &self,
        xh: &[f32],
        vt: &mut [f32],
        ld: usize,
        row0: usize,
    ) {
        let c_n = self.g.c;
        let wp = self.wp;
        // [j][ξr], overwritten in full for each tile (zeroed once: zeroed per tile, it was a
        // `memset` call each time).
        let mut cols = [[[0.0f32; L]; N]; N];
        for a in 0..self.ty {
            for b in 0..self.tx {
                let t = row0 + a * self.tx + b;
                for c0 in (0..c_n).step_by(L) {
                    // Bᵀ down each column of the patch, then Bᵀ along each row.
                    for (j, col) in cols.iter_mut().enumerate() {
                        let p = |i: usize| load::<L>(xh, ((M * a + i) * wp + M * b + j) * c_n + c0);
                        *col = T::bt(gather(p));
                    }
                    for xr in 0..N {
                        let row = T::bt(gather(|j| cols[j][xr]));
                        for (xc, v) in row.iter().enumerate() {
                            let at = ((xr * N + xc) * ld + t) * c_n + c0;
                            vt[at..at + L].copy_from_slice(v);
                        }
                    }
                }
            }
        }
    }

    /// `y[o] = act(Aᵀ M A + bias)` (NCHW) for one image whose tiles are rows `row0..` of `mt`
    /// (`[ξ][ld][op]`).
    // The transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
    #[inline(always)]
    fn output_transform<T: Variant<N, M>, const N: usize, const M: usize, const L: usize>(
        &self,
        mt: &[f32],
        ld: usize,
        row0: usize,
        bias: &[f32],
        relu: bool,
        y: &mut [MaybeUninit<f32>],
    ) {
        let g = &self.g;
        let (op, ohw) = (self.op, g.oh * g.ow);
        // One tile row's M output rows, channels-last (`[i][ox][lane]`), moved to NCHW eight
        // pixels at a time.
        let wr = M * self.tx;
        let mut rowbuf = vec![0.0f32; M * wr * L];
        // [ξr][j], overwritten in full for each tile (zeroed once, as `cols` in `input_transform`).
        let mut half = [[[0.0f32; L]; M]; N];
        for a in 0..self.ty {
            for o0 in (0..g.o).step_by(L) {
                let bias = &bias[o0..o0 + L];
                for b in 0..self.tx {
                    let t = row0 + a * self.tx + b;
                    let m = |xi: usize| load::<L>(mt, (xi * ld + t) * op + o0);
                    // Aᵀ along each row of M, then down the M resulting columns.
                    for (xr, h) in half.iter_mut().enumerate() {
                        *h = T::at(gather(|xc| m(xr * N + xc)));
                    }
                    for j in 0..M {
                        let ox = M * b + j;
                        if ox >= g.ow {
                            break;
                        }
                        let col = T::at(gather(|xr| half[xr][j]));
                        for (i, v) in col.iter().enumerate() {
                            if M * a + i >= g.oh {
                                break;
                            }
                            let mut v = *v;
                            for (x, b) in v.iter_mut().zip(bias) {
                                *x += b;
                                if relu {
                                    *x = x.max(0.0);
                                }
                            }
                            rowbuf[(i * wr + ox) * L..][..L].copy_from_slice(&v);
                        }
                    }
                }
                for i in 0..M {
                    let oy = M * a + i;
                    if oy >= g.oh {
                        break;
                    }
                    let (s0, d0) = (i * wr * L, o0 * ohw + oy * g.ow);
                    transpose::lanes_to_planes::<L>(&rowbuf, s0, L, y, d0, ohw, g.ow);
                }
            }
        }
    }
}

/// `y = act(conv(x, w) + b)` in NCHW (`b` may be absent), as `kernel::forward`.
pub(crate) fn forward(p: &Plan, x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let g = &p.g;
    let (chw, ohw, c_n, op, xi_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.xi());
    // The output is written in full only when every image is there (see below).
    assert_eq!(x.len(), g.n * chw, "winograd::forward: input size");
    assert_eq!(w.len(), g.o * g.c * 9, "winograd::forward: kernel size");
    assert!(
        b.is_none_or(|b| b.len() == g.o),
        "winograd::forward: bias size"
    );
    let ut = filter_transform(p, w);
    let zeros = vec![0.0f32; g.o];
    let b = b.unwrap_or(&zeros);
    let per = p.chunk(rayon::current_num_threads());
    let t_n = p.tiles();
    let rows_max = per * t_n;
    // SAFETY: every output is written: `x` holds all `n` images (asserted above), so the
    // chunks of `y` pair one to one with chunks of `x`, and each image's output transform
    // writes all channels (a multiple of `LANES`) at every position (the tiles cover it).
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(g.n * g.o * ohw, |y| {
            y.par_chunks_mut(per * g.o * ohw)
                .zip(x.par_chunks(per * chw))
                .for_each_init(
                    // The padded image's border must read as zero; the tiles and the GEMM's outputs are
                    // written before they are read.
                    || {
                        (
                            scratch::zeroed(p.hp * p.wp * c_n),
                            scratch::take(xi_n * stride(rows_max) * c_n),
                            scratch::take(xi_n * stride(rows_max) * op),
                        )
                    },
                    |(xh, vt, mt), (yc, xc)| {
                        let weights = (&ut[..], b);
                        forward_chunk(p, weights, relu, (xh, vt, mt), yc, xc);
                    },
                );
        })
    }
}

per_isa! {
    /// [`forward`] for one chunk of images `xc` into `yc`: transforms, the GEMMs (one per point
    /// of the transform domain), the output transform. Compiled for each kernel path, so the
    /// transforms run on that path's vectors.
    fn forward_chunk(
        p: &Plan,
        weights: (&[f32], &[f32]),
        relu: bool,
        scratch: (&mut [f32], &mut [f32], &mut [f32]),
        yc: &mut [MaybeUninit<f32>],
        xc: &[f32],
    ) {
        let ((ut, b), (xh, vt, mt)) = (weights, scratch);
        let g = &p.g;
        let (chw, ohw, c_n, op, t_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles());
        let rows = xc.len() / chw * t_n;
        let ld = stride(rows);
        for (i, xb) in xc.chunks_exact(chw).enumerate() {
            p.transpose_in(xb, xh);
            by_variant!(p, c_n, input_transform(xh, vt, ld, i * t_n));
        }
        for xi in 0..p.xi() {
            // M[ξ] (tiles x op) = Vᵀ[ξ] (tiles x c) · Uᵀ[ξ] (c x op).
            let sa = simd::Strides { at: xi * ld * c_n, rows: c_n, cols: 1 };
            let out = &mut mt[xi * ld * op..][..rows * op];
            simd::gemm_uniform(rows, op, c_n, vt, sa, ut, (xi * c_n * op, op), out, op, false);
        }
        for (i, yb) in yc.chunks_exact_mut(g.o * ohw).enumerate() {
            by_variant!(p, g.o, output_transform(mt, ld, i * t_n, b, relu, yb));
        }
    }
}

/// The kernel gradient from `dUᵀ[ξ][c][o]` (rows `op` wide): `dg = Gᵀ dU G`, as `[o][c][3][3]`.
fn filter_gradient(p: &Plan, dut: &[f32]) -> Vec<f32> {
    match p.m {
        2 => filter_gradient_by::<F2, 4, 2>(&p.g, dut, p.op),
        _ => filter_gradient_by::<F4, 6, 4>(&p.g, dut, p.op),
    }
}

// The transforms index several small arrays by the same counter.
#[allow(clippy::needless_range_loop)]
fn filter_gradient_by<T: Variant<N, M>, const N: usize, const M: usize>(
    g: &Geometry,
    dut: &[f32],
    op: usize,
) -> Vec<f32> {
    let mut dw = vec![0.0f32; g.o * g.c * 9];
    for c in 0..g.c {
        for o0 in (0..g.o).step_by(LANES) {
            let du = |xi: usize| load::<LANES>(dut, (xi * g.c + c) * op + o0);
            // Gᵀ dU (3 x N, column by column), then that times G (3 x 3, row by row).
            let cols: [[[f32; LANES]; 3]; N] =
                std::array::from_fn(|s| T::gt(std::array::from_fn(|r| du(r * N + s))));
            for i in 0..3 {
                let row = T::gt(std::array::from_fn(|s| cols[s][i]));
                for (j, v) in row.iter().enumerate() {
                    for (l, x) in v.iter().enumerate() {
                        dw[((o0 + l) * g.c + c) * 9 + i * 3 + j] = *x;
                    }
                }
            }
        }
    }
    dw
}

/// Images per group in [`kernel_gradient`]'s sum: the order is fixed, whatever the number of
/// threads (as `kernel::GROUP` does for the other paths). (Groups of 16 images on 14x14
/// layers, for fewer per-group sums to write and add, measured no faster.)
const GROUP: usize = 4;

/// A thread's buffers for [`kernel_gradient`].
struct Scratch {
    xh: Buf,
    gh: Buf,
    vt: Buf,
    dmt: Buf,
}

/// Kernel and bias gradients, `(dw [o][c][3][3], db [o])`, from the inputs `x` and the output
/// gradient `grad` (already through the activation): `dU[ξ] = Σ_t V[ξ][t]ᵀ · dM[ξ][t]` with
/// `dM = A dy Aᵀ`, then `dg = Gᵀ dU G`.
pub(crate) fn kernel_gradient(p: &Plan, x: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let g = &p.g;
    let (chw, ohw, c_n, op, t_n, xi_n) =
        (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles(), p.xi());
    let ld = stride(GROUP * t_n);
    // Zero where only an interior is ever written: the padded image's border, the gradient's
    // positions past the edges of the last tiles, and `dmt`'s columns past `o` when `o` is not
    // a multiple of the GEMM tile (the GEMM reads them). The rest is written before it is read.
    let scratch = || Scratch {
        xh: scratch::zeroed(p.hp * p.wp * c_n),
        gh: scratch::zeroed(p.m * p.ty * p.m * p.tx * g.o),
        vt: scratch::take(xi_n * ld * c_n),
        dmt: if op == g.o {
            scratch::take(xi_n * ld * op)
        } else {
            scratch::zeroed(xi_n * ld * op)
        },
    };
    let partials: Vec<(Buf, Vec<f32>)> = x
        .par_chunks(GROUP * chw)
        .zip(grad.par_chunks(GROUP * g.o * ohw))
        .map_init(scratch, |s, (xg, gg)| group_gradient(p, xg, gg, s))
        .collect();
    let mut parts = partials.into_iter();
    let (mut dut, mut db) = parts
        .next()
        .unwrap_or_else(|| (scratch::zeroed(xi_n * c_n * op), vec![0.0; g.o]));
    let (duts, dbs): (Vec<Buf>, Vec<Vec<f32>>) = parts.unzip();
    super::sums::merge_into(&mut dut, &duts);
    for b in &dbs {
        super::sums::add_into(&mut db, b);
    }
    (filter_gradient(p, &dut), db)
}

per_isa! {
    /// One group of [`kernel_gradient`]: `(dUᵀ [ξ][c][op], db)` of its images. Compiled for each
    /// kernel path.
    fn group_gradient(p: &Plan, xg: &[f32], gg: &[f32], s: &mut Scratch) -> (Buf, Vec<f32>) {
        let g = &p.g;
        let (chw, ohw, c_n, op, t_n, xi_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles(), p.xi());
        let images = xg.len() / chw;
        let rows = images * t_n;
        let ld = stride(rows);
        let mut db = vec![0.0f32; g.o];
        for (i, (xb, gb)) in xg
            .chunks_exact(chw)
            .zip(gg.chunks_exact(g.o * ohw))
            .enumerate()
        {
            p.transpose_in(xb, &mut s.xh);
            by_variant!(p, c_n, input_transform(&s.xh, &mut s.vt, ld, i * t_n));
            for (d, plane) in db.iter_mut().zip(gb.chunks_exact(ohw)) {
                *d += super::sums::sum(plane);
            }
            by_variant!(p, g.o, grad_transform(gb, &mut s.gh, &mut s.dmt, ld, i * t_n));
        }
        // Each point's GEMM writes its `c_n x op` block in full.
        let mut dut = scratch::take(xi_n * c_n * op);
        for xi in 0..xi_n {
            // dUᵀ[ξ][c][o] = Σ_t Vᵀ[ξ][t][c] · dMᵀ[ξ][t][o]: A is Vᵀ read down its columns.
            let sa = simd::Strides { at: xi * ld * c_n, rows: 1, cols: c_n };
            let out = &mut dut[xi * c_n * op..(xi + 1) * c_n * op];
            simd::gemm_uniform(c_n, op, rows, &s.vt, sa, &s.dmt, (xi * ld * op, op), out, op, false);
        }
        (dut, db)
    }
}

impl Plan {
    /// `dMᵀ[ξ][row0 + t][o] = (A dy Aᵀ)[ξ]` for every tile of one image's output gradient `gb`
    /// (NCHW), via the channels-last copy `gh` (`[M·ty][M·tx][o]`; positions past the edges
    /// stay zero).
    // The transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn grad_transform<T: Variant<N, M>, const N: usize, const M: usize, const L: usize>(
        &self,
        gb: &[f32],
        gh: &mut [f32],
        dmt: &mut [f32],
        ld: usize,
        row0: usize,
    ) {
        let g = &self.g;
        let (o_n, op, wh) = (g.o, self.op, M * self.tx);
        self.gradient_in::<M>(gb, gh);
        // [i][xc], overwritten in full for each tile (zeroed once: built by a nested `gather`
        // per tile, its closure was not inlined and zeroed a copy each call, 5% of the
        // Enhanced CNN's training in `memset`).
        let mut r = [[[0.0f32; L]; N]; M];
        for a in 0..self.ty {
            for b in 0..self.tx {
                let t = row0 + a * self.tx + b;
                for o0 in (0..o_n).step_by(L) {
                    // A along each row of dy (dy Aᵀ), then A down the columns.
                    for (i, ri) in r.iter_mut().enumerate() {
                        let at = |j: usize| ((M * a + i) * wh + M * b + j) * o_n + o0;
                        *ri = T::a(gather(|j| load::<L>(gh, at(j))));
                    }
                    for xc in 0..N {
                        let col = T::a(gather(|i| r[i][xc]));
                        for (xr, v) in col.iter().enumerate() {
                            let at = ((xr * N + xc) * ld + t) * op + o0;
                            dmt[at..at + L].copy_from_slice(v);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forward pass and the kernel gradient of both variants against the direct
    /// convolution summed in f64: the largest error relative to the largest output, printed,
    /// and held under a bound per variant (F(4x4)'s larger constants cost precision).
    #[test]
    fn both_variants_are_close_to_the_exact_convolution() {
        let value = |i: usize, m: usize| ((i * m % 211) as f32 - 105.0) / 105.0;
        for (shape, o, pads) in [
            ([4, 32, 13, 13], 32, [0, 0, 0, 0]), // the Simple CNN's second layer
            ([2, 32, 28, 28], 32, [1, 1, 1, 1]), // the Enhanced CNN's second
            ([4, 64, 14, 14], 64, [1, 1, 1, 1]), // and its fourth
        ] {
            let g = Geometry::new(shape, o, 3, 1, pads);
            let x: Vec<f32> = (0..g.n * g.c * g.h * g.w).map(|i| value(i, 7)).collect();
            let w: Vec<f32> = (0..g.o * g.c * 9).map(|i| value(i, 13) * 0.1).collect();
            let dy: Vec<f32> = (0..g.n * g.o * g.oh * g.ow).map(|i| value(i, 17)).collect();
            let at = |n: usize, c: usize, iy: isize, ix: isize| -> f64 {
                let (iy, ix) = (iy - g.pad_top as isize, ix - g.pad_left as isize);
                if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                    return 0.0;
                }
                f64::from(x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize])
            };
            let mut y = vec![0.0f64; dy.len()];
            let mut dw = vec![0.0f64; w.len()];
            for n in 0..g.n {
                for oc in 0..g.o {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let yi = ((n * g.o + oc) * g.oh + oy) * g.ow + ox;
                            for c in 0..g.c {
                                for t in 0..9 {
                                    let v = at(n, c, (oy + t / 3) as isize, (ox + t % 3) as isize);
                                    let wi = (oc * g.c + c) * 9 + t;
                                    y[yi] += v * f64::from(w[wi]);
                                    dw[wi] += v * f64::from(dy[yi]);
                                }
                            }
                        }
                    }
                }
            }
            let error = |ours: &[f32], exact: &[f64]| {
                let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let worst = ours
                    .iter()
                    .zip(exact)
                    .fold(0.0f64, |m, (a, e)| m.max((f64::from(*a) - e).abs()));
                worst / scale
            };
            for (m, bound) in [(2, 5e-6), (4, 2e-5)] {
                let p = Plan::with_tile(&g, m);
                let ey = error(&forward(&p, &x, &w, None, false), &y);
                let ew = error(&kernel_gradient(&p, &x, &dy).0, &dw);
                eprintln!("F({m}x{m}, 3x3) {shape:?}: forward {ey:.1e}, kernel gradient {ew:.1e}");
                assert!(
                    ey < bound && ew < bound,
                    "F({m}x{m}) {shape:?}: {ey:e}, {ew:e}"
                );
            }
        }
    }
}
