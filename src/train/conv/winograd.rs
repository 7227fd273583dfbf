//! Winograd F(2x2, 3x3) for stride-1 3x3 convolutions whose input and output channels are
//! multiples of [`LANES`]: 16 small GEMMs (one per point of the 4x4 transform domain) on
//! [`super::simd::gemm`], with 2.25x fewer multiplications than the direct convolution.
//! `kernel` uses it for the forward pass, for the input gradient (itself a stride-1 3x3
//! convolution of the output gradient, with the kernel flipped) and for the kernel gradient
//! ([`kernel_gradient`]: the adjoint of the forward transforms, `dg = Gᵀ (Σ_t Vᵀ · A dy Aᵀ) G`).
//!
//! Per 2x2 output tile `(a, b)` and the 4x4 patch `d` of the padded input at `(2a, 2b)`:
//! `V = Bᵀ d B`, `U = G g Gᵀ`, `M[ξ] = V[ξ] · U[ξ]` (summing over input channels), and
//! `y = Aᵀ M A`. The transforms run channels-last (a tile's 16 patch values are vectors over
//! channels), so they vectorise without shuffles: the image is transposed once into a padded
//! HWC buffer, and the output transform writes NCHW directly.

use super::geometry::Geometry;
use super::isa::per_isa;
use super::scratch::{self, Scratch as Buf};
use super::simd;
use super::transpose;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Points of the 4x4 transform domain.
const XI: usize = 16;
/// Channels per block in the transforms (a multiple the compiler turns into vectors).
pub(crate) const LANES: usize = 8;
// The channel moves between NCHW and channels-last go one vector of channels at a time.
const _: () = assert!(LANES == transpose::WIDTH);

/// The tiling of one convolution.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    g: Geometry,
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
    /// The plan for `g`, or `None` when Winograd F(2x2, 3x3) does not apply (kernel size,
    /// stride, channels that do not fill whole vectors). It depends on the shape alone, never
    /// on the CPU.
    pub(crate) fn new(g: &Geometry) -> Option<Plan> {
        let fits =
            g.k == 3 && g.stride == 1 && g.c.is_multiple_of(LANES) && g.o.is_multiple_of(LANES);
        if !fits || g.n == 0 || g.oh == 0 || g.ow == 0 {
            return None;
        }
        let (ty, tx) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        Some(Plan {
            g: *g,
            ty,
            tx,
            hp: 2 * ty + 2,
            wp: 2 * tx + 2,
            op: g.o.div_ceil(simd::TILE) * simd::TILE,
        })
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

/// `Uᵀ[ξ][c][o] = (G g Gᵀ)[ξ]` for every kernel `g = w[o][c]`, rows `op` wide.
fn filter_transform(g: &Geometry, w: &[f32], op: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; XI * g.c * op];
    for o in 0..g.o {
        for c in 0..g.c {
            let k = &w[(o * g.c + c) * 9..][..9];
            // t = G k (4x3), then U = t Gᵀ (4x4); G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1].
            let mut t = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (k0, k1, k2) = (k[j], k[3 + j], k[6 + j]);
                t[0][j] = k0;
                t[1][j] = 0.5 * (k0 + k1 + k2);
                t[2][j] = 0.5 * (k0 - k1 + k2);
                t[3][j] = k2;
            }
            for (r, row) in t.iter().enumerate() {
                let v = [
                    row[0],
                    0.5 * (row[0] + row[1] + row[2]),
                    0.5 * (row[0] - row[1] + row[2]),
                    row[2],
                ];
                for (s, &x) in v.iter().enumerate() {
                    u[((r * 4 + s) * g.c + c) * op + o] = x;
                }
            }
        }
    }
    u
}

/// `Bᵀ v` for four vectors of channels: `[v0 - v2, v1 + v2, v2 - v1, v1 - v3]`.
#[inline(always)]
fn bt<const L: usize>(v: [[f32; L]; 4]) -> [[f32; L]; 4] {
    let mut out = [[0.0; L]; 4];
    for l in 0..L {
        out[0][l] = v[0][l] - v[2][l];
        out[1][l] = v[1][l] + v[2][l];
        out[2][l] = v[2][l] - v[1][l];
        out[3][l] = v[1][l] - v[3][l];
    }
    out
}

/// `Aᵀ v` for four vectors: `[v0 + v1 + v2, v1 - v2 - v3]`.
#[inline(always)]
fn at<const L: usize>(v: [[f32; L]; 4]) -> [[f32; L]; 2] {
    let mut out = [[0.0; L]; 2];
    for l in 0..L {
        out[0][l] = v[0][l] + v[1][l] + v[2][l];
        out[1][l] = v[1][l] - v[2][l] - v[3][l];
    }
    out
}

/// `L` channels from `src` at `at`.
#[inline(always)]
fn load<const L: usize>(src: &[f32], at: usize) -> [f32; L] {
    src[at..at + L].try_into().expect("L lanes")
}

/// Channels per vector in the transforms of `channels` channels: 16 (one 512-bit vector) on
/// the AVX-512 path when they divide, else [`LANES`]. Element by element the arithmetic is
/// the same, so the width changes the speed, never the bits.
#[inline(always)]
fn wide(channels: usize) -> bool {
    super::isa::current() == super::isa::Isa::Avx512 && channels.is_multiple_of(2 * LANES)
}

impl Plan {
    /// Image `x` (`[c][h][w]`) into the interior of `xh` (`[hp][wp][c]`, zero outside).
    #[inline(always)]
    fn transpose_in(&self, x: &[f32], xh: &mut [f32]) {
        let g = &self.g;
        let (c_n, hw) = (g.c, g.h * g.w);
        for c0 in (0..c_n).step_by(LANES) {
            for iy in 0..g.h {
                let base = ((iy + g.pad_top) * self.wp + g.pad_left) * c_n + c0;
                transpose::planes_to_lanes(x, c0 * hw + iy * g.w, hw, xh, base, c_n, g.w);
            }
        }
    }

    /// `Vᵀ[ξ][row0 + t][c] = (Bᵀ d B)[ξ]` for every tile `t` of one image (`xh` channels-last);
    /// `vt` has `rows` rows per `ξ`.
    // The 4x4 transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn input_transform<const L: usize>(
        &self,
        xh: &[f32],
        vt: &mut [f32],
        rows: usize,
        row0: usize,
    ) {
        let c_n = self.g.c;
        let wp = self.wp;
        for a in 0..self.ty {
            for b in 0..self.tx {
                let t = row0 + a * self.tx + b;
                for c0 in (0..c_n).step_by(L) {
                    // Bᵀ down each column of the patch, then Bᵀ along each row.
                    let mut cols = [[[0.0f32; L]; 4]; 4]; // [j][ξr]
                    for (j, col) in cols.iter_mut().enumerate() {
                        let p = |i: usize| load::<L>(xh, ((2 * a + i) * wp + 2 * b + j) * c_n + c0);
                        *col = bt([p(0), p(1), p(2), p(3)]);
                    }
                    for xr in 0..4 {
                        let row = bt([cols[0][xr], cols[1][xr], cols[2][xr], cols[3][xr]]);
                        for (xc, v) in row.iter().enumerate() {
                            let at = ((xr * 4 + xc) * rows + t) * c_n + c0;
                            vt[at..at + L].copy_from_slice(v);
                        }
                    }
                }
            }
        }
    }

    /// `y[o] = act(Aᵀ M A + bias)` (NCHW) for one image whose tiles are rows `row0..` of `mt`
    /// (`[ξ][rows][op]`).
    // The 4x4 transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn output_transform<const L: usize>(
        &self,
        mt: &[f32],
        rows: usize,
        row0: usize,
        bias: &[f32],
        relu: bool,
        y: &mut [MaybeUninit<f32>],
    ) {
        let g = &self.g;
        let (op, ohw) = (self.op, g.oh * g.ow);
        // One tile row's two output rows, channels-last (`[i][ox][lane]`), moved to NCHW
        // eight pixels at a time.
        let wr = 2 * self.tx;
        let mut rowbuf = vec![0.0f32; 2 * wr * L];
        for a in 0..self.ty {
            for o0 in (0..g.o).step_by(L) {
                let bias = &bias[o0..o0 + L];
                for b in 0..self.tx {
                    let t = row0 + a * self.tx + b;
                    let m = |xi: usize| load::<L>(mt, (xi * rows + t) * op + o0);
                    // Aᵀ along each row of M, then down the two resulting columns.
                    let mut half = [[[0.0f32; L]; 2]; 4]; // [ξr][j]
                    for (xr, h) in half.iter_mut().enumerate() {
                        *h = at([m(xr * 4), m(xr * 4 + 1), m(xr * 4 + 2), m(xr * 4 + 3)]);
                    }
                    for j in 0..2 {
                        let ox = 2 * b + j;
                        if ox >= g.ow {
                            break;
                        }
                        let col = at([half[0][j], half[1][j], half[2][j], half[3][j]]);
                        for (i, v) in col.iter().enumerate() {
                            if 2 * a + i >= g.oh {
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
                for i in 0..2 {
                    let oy = 2 * a + i;
                    if oy >= g.oh {
                        break;
                    }
                    for h in (0..L).step_by(LANES) {
                        let (s0, d0) = (i * wr * L + h, (o0 + h) * ohw + oy * g.ow);
                        transpose::lanes_to_planes(&rowbuf, s0, L, y, d0, ohw, g.ow);
                    }
                }
            }
        }
    }
}

/// `y = act(conv(x, w) + b)` in NCHW (`b` may be absent), as `kernel::forward`.
pub(crate) fn forward(p: &Plan, x: &[f32], w: &[f32], b: Option<&[f32]>, relu: bool) -> Vec<f32> {
    let g = &p.g;
    let (chw, ohw, c_n, op) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op);
    // The output is written in full only when every image is there (see below).
    assert_eq!(x.len(), g.n * chw, "winograd::forward: input size");
    assert_eq!(w.len(), g.o * g.c * 9, "winograd::forward: kernel size");
    assert!(
        b.is_none_or(|b| b.len() == g.o),
        "winograd::forward: bias size"
    );
    let ut = filter_transform(g, w, op);
    let zeros = vec![0.0f32; g.o];
    let b = b.unwrap_or(&zeros);
    let per = p.chunk(rayon::current_num_threads());
    let t_n = p.tiles();
    let rows_max = per * t_n;
    let utrows: Vec<Vec<usize>> = (0..XI)
        .map(|xi| (0..c_n).map(|c| (xi * c_n + c) * op).collect())
        .collect();
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
                            scratch::take(XI * rows_max * c_n),
                            scratch::take(XI * rows_max * op),
                        )
                    },
                    |(xh, vt, mt), (yc, xc)| {
                        let weights = (&ut[..], &utrows[..], b);
                        forward_chunk(p, weights, relu, (xh, vt, mt), yc, xc);
                    },
                );
        })
    }
}

per_isa! {
    /// [`forward`] for one chunk of images `xc` into `yc`: transforms, the 16 GEMMs, the output
    /// transform. Compiled for each kernel path, so the transforms run on that path's vectors.
    fn forward_chunk(
        p: &Plan,
        weights: (&[f32], &[Vec<usize>], &[f32]),
        relu: bool,
        scratch: (&mut [f32], &mut [f32], &mut [f32]),
        yc: &mut [MaybeUninit<f32>],
        xc: &[f32],
    ) {
        let ((ut, utrows, b), (xh, vt, mt)) = (weights, scratch);
        let g = &p.g;
        let (chw, ohw, c_n, op, t_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles());
        let rows = xc.len() / chw * t_n;
        for (i, xb) in xc.chunks_exact(chw).enumerate() {
            p.transpose_in(xb, xh);
            if wide(c_n) {
                p.input_transform::<{ 2 * LANES }>(xh, vt, rows, i * t_n);
            } else {
                p.input_transform::<LANES>(xh, vt, rows, i * t_n);
            }
        }
        let mut arow = vec![0usize; rows];
        for (xi, urows) in utrows.iter().enumerate() {
            for (t, a) in arow.iter_mut().enumerate() {
                *a = (xi * rows + t) * c_n;
            }
            let out = &mut mt[xi * rows * op..(xi + 1) * rows * op];
            simd::gemm(op, vt, &arow, ut, urows, out, op, false);
        }
        for (i, yb) in yc.chunks_exact_mut(g.o * ohw).enumerate() {
            if wide(g.o) {
                p.output_transform::<{ 2 * LANES }>(mt, rows, i * t_n, b, relu, yb);
            } else {
                p.output_transform::<LANES>(mt, rows, i * t_n, b, relu, yb);
            }
        }
    }
}

/// The kernel gradient from `dUᵀ[ξ][c][o]` (rows `op` wide): `dg = Gᵀ dU G`, as `[o][c][3][3]`.
#[allow(clippy::needless_range_loop)] // a 3x4 transpose: two arrays, one counter
fn filter_gradient(g: &Geometry, dut: &[f32], op: usize) -> Vec<f32> {
    // Gᵀ v for a 4-vector: [v0 + (v1 + v2)/2, (v1 - v2)/2, (v1 + v2)/2 + v3].
    let gt = |v: [f32; 4]| {
        [
            v[0] + 0.5 * (v[1] + v[2]),
            0.5 * (v[1] - v[2]),
            0.5 * (v[1] + v[2]) + v[3],
        ]
    };
    let mut dw = vec![0.0f32; g.o * g.c * 9];
    for o in 0..g.o {
        for c in 0..g.c {
            let du = |xi: usize| dut[(xi * g.c + c) * op + o];
            let mut t = [[0.0f32; 4]; 3]; // Gᵀ dU: 3x4
            for s in 0..4 {
                let col = gt([du(s), du(4 + s), du(8 + s), du(12 + s)]);
                for (i, v) in col.into_iter().enumerate() {
                    t[i][s] = v;
                }
            }
            let out = &mut dw[(o * g.c + c) * 9..][..9];
            for (i, row) in t.into_iter().enumerate() {
                out[i * 3..i * 3 + 3].copy_from_slice(&gt(row));
            }
        }
    }
    dw
}

/// Images per group in [`kernel_gradient`]'s sum: the order is fixed, whatever the number of
/// threads (as `kernel::GROUP` does for the other paths).
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
    let (chw, ohw, c_n, op, t_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles());
    let rows = GROUP * t_n;
    // Zero where only an interior is ever written: the padded image's border, the gradient's
    // positions past odd edges, and `dmt`'s columns past `o` when `o` is not a multiple of
    // the GEMM tile (the GEMM reads them). The rest is written before it is read.
    let scratch = || Scratch {
        xh: scratch::zeroed(p.hp * p.wp * c_n),
        gh: scratch::zeroed(2 * p.ty * 2 * p.tx * g.o),
        vt: scratch::take(XI * rows * c_n),
        dmt: if op == g.o {
            scratch::take(XI * rows * op)
        } else {
            scratch::zeroed(XI * rows * op)
        },
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(GROUP * chw)
        .zip(grad.par_chunks(GROUP * g.o * ohw))
        .map_init(scratch, |s, (xg, gg)| group_gradient(p, xg, gg, s))
        .collect();
    let mut parts = partials.into_iter();
    let (mut dut, mut db) = parts
        .next()
        .unwrap_or_else(|| (vec![0.0; XI * c_n * op], vec![0.0; g.o]));
    for (d, b) in parts {
        super::sums::add_into(&mut dut, &d);
        super::sums::add_into(&mut db, &b);
    }
    (filter_gradient(g, &dut, op), db)
}

per_isa! {
    /// One group of [`kernel_gradient`]: `(dUᵀ [ξ][c][op], db)` of its images. Compiled for each
    /// kernel path.
    fn group_gradient(p: &Plan, xg: &[f32], gg: &[f32], s: &mut Scratch) -> (Vec<f32>, Vec<f32>) {
        let g = &p.g;
        let (chw, ohw, c_n, op, t_n) = (g.c * g.h * g.w, g.oh * g.ow, g.c, p.op, p.tiles());
        let images = xg.len() / chw;
        let rows = images * t_n;
        let mut db = vec![0.0f32; g.o];
        for (i, (xb, gb)) in xg
            .chunks_exact(chw)
            .zip(gg.chunks_exact(g.o * ohw))
            .enumerate()
        {
            p.transpose_in(xb, &mut s.xh);
            if wide(c_n) {
                p.input_transform::<{ 2 * LANES }>(&s.xh, &mut s.vt, rows, i * t_n);
            } else {
                p.input_transform::<LANES>(&s.xh, &mut s.vt, rows, i * t_n);
            }
            for (d, plane) in db.iter_mut().zip(gb.chunks_exact(ohw)) {
                *d += super::sums::sum(plane);
            }
            if wide(g.o) {
                p.grad_transform::<{ 2 * LANES }>(gb, &mut s.gh, &mut s.dmt, rows, i * t_n);
            } else {
                p.grad_transform::<LANES>(gb, &mut s.gh, &mut s.dmt, rows, i * t_n);
            }
        }
        let mut dut = vec![0.0f32; XI * c_n * op];
        let mut brow = vec![0usize; rows];
        for xi in 0..XI {
            // dUᵀ[ξ][c][o] = Σ_t Vᵀ[ξ][t][c] · dMᵀ[ξ][t][o]: A is Vᵀ read down its columns.
            let arow: Vec<usize> = (0..c_n).map(|c| xi * rows * c_n + c).collect();
            for (t, b) in brow.iter_mut().enumerate() {
                *b = (xi * rows + t) * op;
            }
            let out = &mut dut[xi * c_n * op..(xi + 1) * c_n * op];
            simd::gemm_strided(op, &s.vt, &arow, c_n, &s.dmt, &brow, out, op, false);
        }
        (dut, db)
    }
}

impl Plan {
    /// `dMᵀ[ξ][row0 + t][o] = (A dy Aᵀ)[ξ]` for every tile of one image's output gradient `gb`
    /// (NCHW), via the channels-last copy `gh` (`[2·ty][2·tx][o]`; outputs past odd edges
    /// stay zero).
    // The 4x4 transforms index several small arrays by the same counter.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn grad_transform<const L: usize>(
        &self,
        gb: &[f32],
        gh: &mut [f32],
        dmt: &mut [f32],
        rows: usize,
        row0: usize,
    ) {
        let g = &self.g;
        let (o_n, op, wh) = (g.o, self.op, 2 * self.tx);
        let ohw = g.oh * g.ow;
        for o0 in (0..o_n).step_by(LANES) {
            for oy in 0..g.oh {
                let (s0, d0) = (o0 * ohw + oy * g.ow, oy * wh * o_n + o0);
                transpose::planes_to_lanes(gb, s0, ohw, gh, d0, o_n, g.ow);
            }
        }
        for a in 0..self.ty {
            for b in 0..self.tx {
                let t = row0 + a * self.tx + b;
                for o0 in (0..o_n).step_by(L) {
                    let d = |i: usize, j: usize| {
                        load::<L>(gh, ((2 * a + i) * wh + 2 * b + j) * o_n + o0)
                    };
                    let (d00, d01, d10, d11) = (d(0, 0), d(0, 1), d(1, 0), d(1, 1));
                    // dy Aᵀ along each row, then A down the columns; A = [1 0; 1 1; 1 -1; 0 -1].
                    let mut r = [[[0.0f32; L]; 4]; 2];
                    for (ri, (x0, x1)) in r.iter_mut().zip([(d00, d01), (d10, d11)]) {
                        for l in 0..L {
                            ri[0][l] = x0[l];
                            ri[1][l] = x0[l] + x1[l];
                            ri[2][l] = x0[l] - x1[l];
                            ri[3][l] = -x1[l];
                        }
                    }
                    for xc in 0..4 {
                        let (r0, r1) = (r[0][xc], r[1][xc]);
                        let mut col = [[0.0f32; L]; 4];
                        for l in 0..L {
                            col[0][l] = r0[l];
                            col[1][l] = r0[l] + r1[l];
                            col[2][l] = r0[l] - r1[l];
                            col[3][l] = -r1[l];
                        }
                        for (xr, v) in col.iter().enumerate() {
                            let at = ((xr * 4 + xc) * rows + t) * op + o0;
                            dmt[at..at + L].copy_from_slice(v);
                        }
                    }
                }
            }
        }
    }
}
