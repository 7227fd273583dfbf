//! 2-D convolution kernels on plain `f32` slices in NCHW layout, by three methods
//! ([`Method`]; the first that applies is used): Winograd F(4x4, 3x3) or F(2x2, 3x3) ([`super::winograd`]),
//! implicit GEMM, and im2col + GEMM, for the forward pass and both backward passes, with the
//! bias and ReLU fused in; and the pooling kernels.
//!
//! im2col + GEMM is the general method. No layout conversion: the
//! GEMM of image `b`, `W[O, C·K·K] × cols[C·K·K, OH·OW]`, writes `y[b]` in NCHW directly.
//! Images are spread over rayon's threads (a worker's `RAYON_NUM_THREADS`); each GEMM runs on
//! one thread, the size that suits the paper's small layers.
//!
//! Stride-1 convolutions whose paddings are below the kernel size (every layer of the paper's
//! CNNs) take an implicit-GEMM path on [`super::simd`]'s GEMM: the input is
//! copied once into a zero-padded plane per channel, and the GEMM reads its `B` rows straight
//! from there at one offset per kernel tap, computing each output row over the padded width (the
//! `k - 1` extra columns are dropped when the result is copied out). The input gradient is the
//! same kind of convolution of the padded output gradient with the flipped kernel, and the kernel
//! gradient a GEMM whose `A` rows are those tap offsets. Other convolutions take im2col + the
//! `gemm` crate. The method depends on the layer's shape only, never on the CPU
//! ([`super::isa`]).
//!
//! `unsafe` is confined to the call into the `gemm` crate's raw-pointer API, behind `matmul`,
//! which checks every index the call can touch against the slices first, to [`super::simd`]
//! and [`super::isa`] (the vector paths), and to [`super::scratch::written`] (outputs not
//! zeroed first, here and in [`super::winograd`]: each call site says why every element is
//! written).

pub(crate) use super::geometry::Geometry;
use super::isa::per_isa;
use super::scratch::{self, Scratch as Buf};
use super::sums::{add_into, merge_into, sum};
use super::{simd, winograd};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The implicit-GEMM layout of a stride-1 convolution (see the module docs): each input channel
/// padded to `hp x wp` (`wp = ow + k - 1`), output rows computed `wp` wide.
#[derive(Debug, Clone)]
struct Implicit {
    pad_top: usize,
    pad_left: usize,
    wp: usize,
    plane: usize,
    /// Output columns computed per channel: `oh · wp` rounded up to the GEMM tile.
    cols: usize,
    /// Per kernel tap `(ci, ki, kj)`: where its `B` row starts in the padded input.
    taps: Vec<usize>,
    /// Length of the padded-input buffer, with the zero tail the last tile reads.
    len: usize,
}

impl Implicit {
    /// The layout for `g`, or `None` when the implicit path does not apply.
    fn new(g: &Geometry) -> Option<Self> {
        let pads_fit =
            g.pad_top < g.k && g.pad_left < g.k && g.pad_bottom < g.k && g.pad_right < g.k;
        if g.stride != 1 || !pads_fit || g.k == 0 {
            return None;
        }
        let wp = g.ow + g.k - 1;
        let plane = (g.oh + g.k - 1) * wp;
        let cols = (g.oh * wp).div_ceil(simd::TILE) * simd::TILE;
        let mut taps = Vec::with_capacity(g.ckk());
        for ci in 0..g.c {
            for ki in 0..g.k {
                for kj in 0..g.k {
                    taps.push(ci * plane + ki * wp + kj);
                }
            }
        }
        let len = (taps.last().copied().unwrap_or(0) + cols).max(g.c * plane);
        Some(Implicit {
            pad_top: g.pad_top,
            pad_left: g.pad_left,
            wp,
            plane,
            cols,
            taps,
            len,
        })
    }

    /// A zeroed padded-input buffer; [`Implicit::fill`] only ever writes its interior, so the
    /// border stays zero when the buffer is reused.
    fn buffer(&self) -> Buf {
        scratch::zeroed(self.len)
    }

    /// Copy image `x` (`[c, h, w]`) into the interior of the padded buffer `xp`.
    #[inline(always)]
    fn fill(&self, g: &Geometry, x: &[f32], xp: &mut [f32]) {
        for (ci, plane) in x.chunks_exact(g.h * g.w).enumerate() {
            for (iy, row) in plane.chunks_exact(g.w).enumerate() {
                let at = ci * self.plane + (iy + self.pad_top) * self.wp + self.pad_left;
                xp[at..at + g.w].copy_from_slice(row);
            }
        }
    }

    /// `out[o][..] = w[o] · taps(xp)`: the convolution over the padded width.
    fn conv(&self, w: &[f32], wrows: &[usize], xp: &[f32], out: &mut [f32]) {
        simd::gemm(self.cols, w, wrows, xp, &self.taps, out, self.cols, false);
    }

    /// Output row `oy` of channel `o` from [`Implicit::conv`]'s result (`ow` valid columns).
    #[inline(always)]
    fn row<'a>(&self, out: &'a [f32], o: usize, oy: usize, ow: usize) -> &'a [f32] {
        &out[o * self.cols + oy * self.wp..][..ow]
    }
}

/// `cols[(ci·K + ki)·K + kj][oy·OW + ox] = x[ci][oy·s + ki − pt][ox·s + kj − pl]` (0 outside).
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    let ohw = g.ohw();
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let row = &mut cols[((ci * g.k + ki) * g.k + kj) * ohw..][..ohw];
                let (lo, hi) = g.valid_cols(kj);
                for oy in 0..g.oh {
                    let out = &mut row[oy * g.ow..(oy + 1) * g.ow];
                    let Some(iy) = g.source(oy, ki, g.pad_top, g.h) else {
                        out.fill(0.0);
                        continue;
                    };
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride == 1 {
                        let start = lo + kj - g.pad_left;
                        out[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    } else {
                        for (ox, v) in out[lo..hi].iter_mut().enumerate() {
                            *v = src[(lo + ox) * g.stride + kj - g.pad_left];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `dx[ci][iy][ix] += cols[...]` over every tap that read it
/// (`dx` arrives zeroed).
fn col2im(g: &Geometry, cols: &[f32], dx: &mut [f32]) {
    let ohw = g.ohw();
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let row = &cols[((ci * g.k + ki) * g.k + kj) * ohw..][..ohw];
                let (lo, hi) = g.valid_cols(kj);
                for oy in 0..g.oh {
                    let Some(iy) = g.source(oy, ki, g.pad_top, g.h) else {
                        continue;
                    };
                    let src = &row[oy * g.ow + lo..oy * g.ow + hi];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if g.stride == 1 {
                        let start = lo + kj - g.pad_left;
                        for (d, s) in dst[start..start + (hi - lo)].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (ox, s) in src.iter().enumerate() {
                            dst[(lo + ox) * g.stride + kj - g.pad_left] += s;
                        }
                    }
                }
            }
        }
    }
}

/// A row-major-or-strided matrix view: element (i, j) at `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) data: &'a [f32],
    pub(super) rs: usize,
    pub(super) cs: usize,
}

/// `dst[m×n] (row-major) = (dst if accumulate, else 0) + lhs[m×k] × rhs[k×n]`, on this thread.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: View, rhs: View) {
    // SAFETY: `[f32]` and `[MaybeUninit<f32>]` have the same layout, and `product` writes only
    // initialised values (it reads `dst` only when `accumulate`, and it is initialised).
    #[allow(unsafe_code)]
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    product(m, n, k, dst, accumulate, lhs, rhs, gemm::Parallelism::None);
}

/// [`matmul`] by the `gemm` crate on `threads`, writing every element of `dst[m×n]` (read
/// first only when `accumulate`, which needs it initialised).
#[allow(clippy::too_many_arguments)]
pub(super) fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<f32>],
    accumulate: bool,
    lhs: View,
    rhs: View,
    threads: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(MaybeUninit::new(0.0));
        }
        return;
    }
    let last = |v: View, rows: usize, cols: usize| (rows - 1) * v.rs + (cols - 1) * v.cs;
    assert!(dst.len() >= m * n, "matmul: dst too small");
    assert!(last(lhs, m, k) < lhs.data.len(), "matmul: lhs too small");
    assert!(last(rhs, k, n) < rhs.data.len(), "matmul: rhs too small");
    // SAFETY: the asserts above bound every element the call reads (lhs, rhs) or writes (dst,
    // m×n row-major) inside the slices; `dst` is borrowed mutably, so it aliases neither input.
    // With `accumulate` false `gemm` never reads `dst` (its `read_dst`).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            threads,
        );
    }
}

/// Forward: `y = act(conv(x, w) + b)`; `x` is `[n, c, h, w]`, `w` is `[o, c, k, k]`, `b` is `[o]`.
pub(crate) fn forward(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.chw(), "conv input size");
    assert_eq!(w.len(), g.o * g.ckk(), "conv kernel size");
    assert_eq!(b.len(), g.o, "conv bias size");
    forward_with(Method::best(g), g, x, w, b, relu)
}

/// How a convolution is computed: Winograd (F(4x4, 3x3) or F(2x2, 3x3)), implicit GEMM, or im2col + GEMM
/// (see the module docs). Each applies where the one before it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Winograd,
    Implicit,
    Im2col,
}

impl Method {
    /// The fastest backward method for `g`: as [`Method::best`], except that layers
    /// with fewer than 8 input channels (a model's first layer) take im2col, whose kernel
    /// gradient needs no transposed copy of the output gradient (`sweep bench conv`: 0.5 ms
    /// against 0.8 ms per batch for the paper's first layers).
    pub(crate) fn best_backward(g: &Geometry) -> Method {
        match Method::best(g) {
            Method::Implicit if g.c < winograd::LANES => Method::Im2col,
            m => m,
        }
    }

    /// The fastest method that applies to `g` (its shape alone decides).
    pub(crate) fn best(g: &Geometry) -> Method {
        if winograd::Plan::new(g).is_some() {
            Method::Winograd
        } else if Implicit::new(g).is_some() {
            Method::Implicit
        } else {
            Method::Im2col
        }
    }
}

/// [`forward`] by `method`, or by im2col where `method` does not apply to `g`.
pub(crate) fn forward_with(
    method: Method,
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    match method {
        Method::Winograd => match winograd::Plan::new(g) {
            Some(p) => winograd::forward(&p, x, w, Some(b), relu),
            None => forward_with(Method::Implicit, g, x, w, b, relu),
        },
        Method::Implicit => match Implicit::new(g) {
            Some(im) => forward_implicit(g, &im, x, w, b, relu),
            None => forward_im2col(g, x, w, b, relu),
        },
        Method::Im2col => forward_im2col(g, x, w, b, relu),
    }
}

/// The output of a per-image forward pass: `fill(state, y_image, x_image)` for each of the `n`
/// images, on the rayon pool, each thread with its own `state`; `y_image` reaches `fill`
/// zeroed by the thread that fills it (zeroing all of `y` first was a serial memset).
fn per_image<S>(
    g: &Geometry,
    x: &[f32],
    state: impl Fn() -> S + Sync + Send,
    fill: impl Fn(&mut S, &mut [f32], &[f32]) + Sync + Send,
) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.chw(), "forward: input size");
    // SAFETY: `x` holds `n` images (asserted), so every image's chunk of `y` is reached, and
    // `init` sets each in full before `fill` sees it.
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(g.n * g.o * g.ohw(), |y| {
            y.par_chunks_mut(g.o * g.ohw())
                .zip(x.par_chunks(g.chw()))
                .for_each_init(state, |s, (yb, xb)| fill(s, scratch::init(yb, 0.0), xb));
        })
    }
}

/// [`forward`] by im2col + the `gemm` crate: any stride and padding, any CPU.
fn forward_im2col(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    let (ckk, ohw) = (g.ckk(), g.ohw());
    per_image(
        g,
        x,
        || vec![0.0f32; ckk * ohw],
        |cols, yb, xb| {
            im2col(g, xb, cols);
            for (row, bias) in yb.chunks_mut(ohw).zip(b) {
                row.fill(*bias);
            }
            let wv = View {
                data: w,
                rs: ckk,
                cs: 1,
            };
            let cv = View {
                data: cols,
                rs: ohw,
                cs: 1,
            };
            matmul(g.o, ohw, ckk, yb, true, wv, cv);
            if relu {
                for v in yb.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        },
    )
}

/// [`forward`] on the implicit-GEMM path.
fn forward_implicit(
    g: &Geometry,
    im: &Implicit,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    relu: bool,
) -> Vec<f32> {
    let wrows: Vec<usize> = (0..g.o).map(|o| o * g.ckk()).collect();
    per_image(
        g,
        x,
        // `out` is the GEMM's output, written before it is read.
        || (im.buffer(), scratch::take(g.o * im.cols)),
        |(xp, out), yb, xb| forward_image(g, im, (w, &wrows, b), relu, xp, out, yb, xb),
    )
}

per_isa! {
    /// One image of [`forward_implicit`], compiled for each kernel path.
    fn forward_image(
        g: &Geometry,
        im: &Implicit,
        weights: (&[f32], &[usize], &[f32]),
        relu: bool,
        xp: &mut [f32],
        out: &mut [f32],
        yb: &mut [f32],
        xb: &[f32],
    ) {
        let (w, wrows, b) = weights;
        im.fill(g, xb, xp);
        im.conv(w, wrows, xp, out);
        for (o, plane) in yb.chunks_exact_mut(g.ohw()).enumerate() {
            let bias = b[o];
            for (oy, dst) in plane.chunks_exact_mut(g.ow).enumerate() {
                let src = im.row(out, o, oy, g.ow);
                if relu {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = (s + bias).max(0.0);
                    }
                } else {
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = s + bias;
                    }
                }
            }
        }
    }
}

/// Images per group in [`backward`]'s weight-gradient sum: parallelism up to `n / GROUP`
/// threads, with a summation order that does not depend on how many there are.
const GROUP: usize = 4;

/// Gradients of [`forward`] given its output `y` and the output gradient `dy`:
/// `(dx if want_dx, dw, db)`.
pub(crate) fn backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (ckk, ohw, chw) = (g.ckk(), g.ohw(), g.chw());
    assert_eq!(x.len(), g.n * chw, "conv input size");
    assert_eq!(w.len(), g.o * ckk, "conv kernel size");
    assert_eq!(y.len(), g.n * g.o * ohw, "conv output size");
    assert_eq!(dy.len(), y.len(), "conv output gradient size");
    backward_with(Method::best_backward(g), g, x, w, y, dy, relu, want_dx)
}

/// [`backward`] by `method`, or by im2col where `method` does not apply to `g`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_with(
    method: Method,
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    match method {
        Method::Winograd => match winograd::Plan::new(g) {
            Some(plan) => backward_winograd(g, &plan, x, w, y, dy, relu, want_dx),
            None => backward_with(Method::Implicit, g, x, w, y, dy, relu, want_dx),
        },
        Method::Implicit => match Implicit::new(g) {
            Some(im) => backward_implicit(g, &im, x, w, y, dy, relu, want_dx),
            None => backward_im2col(g, x, w, y, dy, relu, want_dx),
        },
        Method::Im2col => backward_im2col(g, x, w, y, dy, relu, want_dx),
    }
}

/// [`backward`] by im2col + the `gemm` crate: any stride and padding, any CPU.
fn backward_im2col(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (ckk, ohw, chw) = (g.ckk(), g.ohw(), g.chw());
    let mut dx = if want_dx {
        vec![0.0f32; g.n * chw]
    } else {
        Vec::new()
    };
    struct Acc {
        dw: Vec<f32>,
        db: Vec<f32>,
        cols: Buf,
        grad: Buf,
    }
    // `cols` and `grad` are written in full (im2col, the masked gradient, the GEMM) before
    // they are read; `dw` and `db` are sums.
    let new_acc = || Acc {
        dw: vec![0.0; g.o * ckk],
        db: vec![0.0; g.o],
        cols: scratch::take(ckk * ohw),
        grad: scratch::take(g.o * ohw),
    };
    let step = |mut acc: Acc, (i, dxb): (usize, Option<&mut [f32]>)| {
        let yb = &y[i * g.o * ohw..(i + 1) * g.o * ohw];
        let dyb = &dy[i * g.o * ohw..(i + 1) * g.o * ohw];
        masked(relu, yb, dyb, &mut acc.grad);
        for (db, row) in acc.db.iter_mut().zip(acc.grad.chunks(ohw)) {
            *db += sum(row);
        }
        im2col(g, &x[i * chw..(i + 1) * chw], &mut acc.cols);
        // dw[o, ckk] += grad[o, ohw] × colsᵀ[ohw, ckk]
        let gv = View {
            data: &acc.grad,
            rs: ohw,
            cs: 1,
        };
        let ct = View {
            data: &acc.cols,
            rs: 1,
            cs: ohw,
        };
        matmul(g.o, ckk, ohw, &mut acc.dw, true, gv, ct);
        if let Some(dxb) = dxb {
            // dcols[ckk, ohw] = wᵀ[ckk, o] × grad[o, ohw]; reuse the cols buffer.
            let wt = View {
                data: w,
                rs: 1,
                cs: ckk,
            };
            matmul(ckk, ohw, g.o, &mut acc.cols, false, wt, gv);
            col2im(g, &acc.cols, dxb);
        }
        acc
    };
    // Fixed groups of images, each summed in order, then the groups' sums in order: the same
    // bits whatever the thread count (a sweep's results must not depend on its packing).
    let group = GROUP.min(g.n.max(1));
    let partials: Vec<Acc> = if want_dx {
        dx.par_chunks_mut(chw * group)
            .enumerate()
            .map(|(j, d)| {
                d.chunks_mut(chw)
                    .enumerate()
                    .map(|(i, di)| (j * group + i, Some(di)))
                    .fold(new_acc(), step)
            })
            .collect()
    } else {
        (0..g.n.div_ceil(group))
            .into_par_iter()
            .map(|j| {
                (j * group..((j + 1) * group).min(g.n))
                    .map(|i| (i, None))
                    .fold(new_acc(), step)
            })
            .collect()
    };
    let mut parts = partials.into_iter();
    let mut acc = parts.next().unwrap_or_else(new_acc);
    let rest: Vec<_> = parts.collect();
    let sums: Vec<&[f32]> = rest.iter().map(|p| &p.dw[..]).collect();
    merge_into(&mut acc.dw, &sums);
    for p in &rest {
        add_into(&mut acc.db, &p.db);
    }
    (want_dx.then_some(dx), acc.dw, acc.db)
}

/// The output gradient through the ReLU (where the output was positive), into `grad`.
#[inline(always)]
pub(super) fn masked(relu: bool, y: &[f32], dy: &[f32], grad: &mut [f32]) {
    if relu {
        for ((gv, &yv), &d) in grad.iter_mut().zip(y).zip(dy) {
            *gv = if yv > 0.0 { d } else { 0.0 };
        }
    } else {
        grad.copy_from_slice(dy);
    }
}

/// [`masked`] into a buffer not yet written.
#[inline(always)]
fn masked_uninit(relu: bool, y: &[f32], dy: &[f32], grad: &mut [MaybeUninit<f32>]) {
    for ((gv, &yv), &d) in grad.iter_mut().zip(y).zip(dy) {
        gv.write(if !relu || yv > 0.0 { d } else { 0.0 });
    }
}

/// The kernels of [`Geometry::input_gradient`]: `wf[c][o][ki][kj] = w[o][c][k-1-ki][k-1-kj]`.
fn flipped(g: &Geometry, w: &[f32]) -> Vec<f32> {
    let k = g.k;
    let okk = g.o * k * k;
    let mut wf = vec![0.0f32; g.c * okk];
    for o in 0..g.o {
        for c in 0..g.c {
            for ki in 0..k {
                for kj in 0..k {
                    wf[c * okk + (o * k + ki) * k + kj] =
                        w[((o * g.c + c) * k + (k - 1 - ki)) * k + (k - 1 - kj)];
                }
            }
        }
    }
    wf
}

/// The output gradient through the ReLU, for the whole batch.
fn masked_all(g: &Geometry, relu: bool, y: &[f32], dy: &[f32]) -> Vec<f32> {
    let per = g.o * g.ohw();
    assert_eq!(y.len(), dy.len(), "masked_all: output and gradient sizes");
    // SAFETY: `y` and `dy` are as long as `grad`, so every chunk of `grad` has its pair and
    // `masked_uninit` writes all of it.
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(dy.len(), |grad| {
            grad.par_chunks_mut(per)
                .zip(y.par_chunks(per).zip(dy.par_chunks(per)))
                .for_each(|(gb, (yb, db))| masked_uninit(relu, yb, db, gb));
        })
    }
}

/// [`backward`] by Winograd: the kernel gradient by [`winograd::kernel_gradient`], the input
/// gradient as the Winograd convolution of the output gradient with the flipped kernel (the
/// same channel counts, swapped, so the same plan applies).
#[allow(clippy::too_many_arguments)]
fn backward_winograd(
    g: &Geometry,
    plan: &winograd::Plan,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let grad = masked_all(g, relu, y, dy);
    // The two gradients are independent: joined, both threads take work from both, and the
    // serial parts of one (the flipped kernel's transform, the groups' merge) overlap the
    // other's parallel work, where one after the other each began with a thread waking up.
    let ((dw, db), dx) = rayon::join(
        || winograd::kernel_gradient(plan, x, &grad),
        || {
            want_dx.then(|| {
                let gd = g.input_gradient();
                let pd = winograd::Plan::new(&gd).expect("swapped channel counts fit Winograd too");
                winograd::forward(&pd, &grad, &flipped(g, w), None, false)
            })
        },
    );
    (dx, dw, db)
}

/// What [`backward_image`] needs besides the image: the layouts, the flipped kernel (for the
/// input gradient, when it is computed per image) and the GEMMs' row tables.
struct ImageBackward<'a> {
    g: &'a Geometry,
    im: &'a Implicit,
    gd: &'a Geometry,
    imd: Option<&'a Implicit>,
    wf: &'a [f32],
    wf_rows: &'a [usize],
    grad_rows: &'a [usize],
    op: usize,
    relu: bool,
}

/// A thread's buffers for [`backward_image`].
struct Scratch {
    xp: Buf,
    grad: Buf,
    gt: Buf,
    gp: Buf,
    out: Buf,
}

/// A group's kernel-gradient (transposed, `[ckk, op]`) and bias-gradient sums.
struct Sums {
    dwt: Vec<f32>,
    db: Vec<f32>,
}

per_isa! {
    /// One image of [`backward_implicit`]: adds its kernel and bias gradients to `sums`, and
    /// writes its input gradient to `dx` when given. Compiled for each kernel path, so the
    /// copies and the transposition use that path's vectors.
    fn backward_image(
        ctx: &ImageBackward,
        image: (&[f32], &[f32], &[f32]),
        s: &mut Scratch,
        sums: &mut Sums,
        dx: Option<&mut [f32]>,
    ) {
        let (x, y, dy) = image;
        let (g, im, op) = (ctx.g, ctx.im, ctx.op);
        let ohw = g.ohw();
        masked(ctx.relu, y, dy, &mut s.grad);
        for (db, row) in sums.db.iter_mut().zip(s.grad.chunks_exact(ohw)) {
            *db += sum(row);
        }
        // gradᵀ over the padded width; the extra columns and channels stay zero.
        for (o, plane) in s.grad.chunks_exact(ohw).enumerate() {
            for (oy, row) in plane.chunks_exact(g.ow).enumerate() {
                let base = oy * im.wp;
                for (ox, &v) in row.iter().enumerate() {
                    s.gt[(base + ox) * op + o] = v;
                }
            }
        }
        im.fill(g, x, &mut s.xp);
        simd::gemm(
            op,
            &s.xp,
            &im.taps,
            &s.gt,
            ctx.grad_rows,
            &mut sums.dwt,
            op,
            true,
        );
        if let (Some(dx), Some(imd)) = (dx, ctx.imd) {
            imd.fill(ctx.gd, &s.grad, &mut s.gp);
            imd.conv(ctx.wf, ctx.wf_rows, &s.gp, &mut s.out);
            for (c, plane) in dx.chunks_exact_mut(g.h * g.w).enumerate() {
                for (iy, dst) in plane.chunks_exact_mut(g.w).enumerate() {
                    dst.copy_from_slice(imd.row(&s.out, c, iy, g.w));
                }
            }
        }
    }
}

/// [`backward`] on the implicit-GEMM path. Per image: `dwᵀ[tap, o] += taps(xp)[tap, ·] ·
/// gradᵀ[·, o]` over the padded-width output columns (the extra columns hold zero gradient),
/// and the input gradient as the convolution of the zero-padded gradient with the kernel
/// flipped and transposed: `dx[c] = Σ_o conv(pad(grad[o]), flip(w[o, c]))`, padded by
/// `k - 1 - pad` on each side, which is again a stride-1 convolution with paddings below `k`.
#[allow(clippy::too_many_arguments)]
fn backward_implicit(
    g: &Geometry,
    im: &Implicit,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (ckk, ohw, chw) = (g.ckk(), g.ohw(), g.chw());
    let k = g.k;
    let gd = g.input_gradient();
    let imd = want_dx.then(|| Implicit::new(&gd)).flatten();
    assert_eq!(
        imd.is_some(),
        want_dx,
        "the input-gradient convolution has the same shape class"
    );
    let okk = g.o * k * k;
    let wf = if want_dx { flipped(g, w) } else { Vec::new() };
    let wf_rows: Vec<usize> = (0..g.c).map(|c| c * okk).collect();
    // dwᵀ is [ckk, op]: the output channels padded to the GEMM tile.
    let op = g.o.div_ceil(simd::TILE) * simd::TILE;
    let out_cols = g.oh * im.wp;
    let ctx = ImageBackward {
        g,
        im,
        gd: &gd,
        imd: imd.as_ref(),
        wf: &wf,
        wf_rows: &wf_rows,
        grad_rows: &(0..out_cols).map(|p| p * op).collect::<Vec<_>>(),
        op,
        relu,
    };
    // Per thread: scratch, reused from image to image (`fill` writes only the interiors of the
    // padded buffers, and `gt`'s padding columns and channels are never written, so they stay
    // zero). Per group of images: the sums.
    let scratch = || Scratch {
        xp: im.buffer(),
        // `masked` writes all of `grad`, and the GEMM all of `out`, before they are read.
        grad: scratch::take(g.o * ohw),
        gt: scratch::zeroed(out_cols * op),
        gp: imd
            .as_ref()
            .map_or_else(|| scratch::take(0), Implicit::buffer),
        out: scratch::take(imd.as_ref().map_or(0, |d| g.c * d.cols)),
    };
    let new_sums = || Sums {
        dwt: vec![0.0; ckk * op],
        db: vec![0.0; g.o],
    };
    let image = |i: usize| {
        let span = i * g.o * ohw..(i + 1) * g.o * ohw;
        (&x[i * chw..(i + 1) * chw], &y[span.clone()], &dy[span])
    };
    let mut dx = if want_dx {
        vec![0.0f32; g.n * chw]
    } else {
        Vec::new()
    };
    // Fixed groups of images, summed in order (see `backward`).
    let group = GROUP.min(g.n.max(1));
    let partials: Vec<Sums> = if want_dx {
        dx.par_chunks_mut(chw * group)
            .enumerate()
            .map_init(scratch, |scratch, (j, d)| {
                let mut sums = new_sums();
                for (i, di) in d.chunks_mut(chw).enumerate() {
                    backward_image(&ctx, image(j * group + i), scratch, &mut sums, Some(di));
                }
                sums
            })
            .collect()
    } else {
        (0..g.n.div_ceil(group))
            .into_par_iter()
            .map_init(scratch, |scratch, j| {
                let mut sums = new_sums();
                for i in j * group..((j + 1) * group).min(g.n) {
                    backward_image(&ctx, image(i), scratch, &mut sums, None);
                }
                sums
            })
            .collect()
    };
    let mut parts = partials.into_iter();
    let mut acc = parts.next().unwrap_or_else(new_sums);
    let rest: Vec<_> = parts.collect();
    let sums: Vec<&[f32]> = rest.iter().map(|p| &p.dwt[..]).collect();
    merge_into(&mut acc.dwt, &sums);
    for p in &rest {
        add_into(&mut acc.db, &p.db);
    }
    let mut dw = vec![0.0f32; g.o * ckk];
    for (t, row) in acc.dwt.chunks_exact(op).enumerate() {
        for (o, &v) in row[..g.o].iter().enumerate() {
            dw[o * ckk + t] = v;
        }
    }
    (want_dx.then_some(dx), dw, acc.db)
}

/// Max pooling without padding, NCHW: `y[.., oy, ox]` = max of the `size x size` window at
/// `(oy·stride, ox·stride)`; also returns, per output, the index in its input plane of the
/// (first) maximum, which the backward pass routes the gradient to.
pub(crate) fn max_pool_forward(
    [n, c, h, w]: [usize; 4],
    size: usize,
    stride: usize,
    x: &[f32],
) -> (Vec<f32>, Vec<u32>, [usize; 2]) {
    let oh = (h - size) / stride + 1;
    let ow = (w - size) / stride + 1;
    assert_eq!(x.len(), n * c * h * w, "pool input size");
    let mut idx = vec![0u32; n * c * oh * ow];
    // SAFETY: `x` holds `n·c` planes (asserted), as many as `y` and `idx`, so every plane of
    // `y` is reached and set in full by `init`.
    #[allow(unsafe_code)]
    let y = unsafe {
        scratch::written(idx.len(), |y| {
            y.par_chunks_mut(oh * ow)
                .zip(idx.par_chunks_mut(oh * ow))
                .zip(x.par_chunks(h * w))
                .for_each(|((yp, ip), xp)| {
                    let yp = scratch::init(yp, 0.0);
                    max_pool_plane([w, oh, ow], size, stride, xp, yp, ip);
                });
        })
    };
    (y, idx, [oh, ow])
}

per_isa! {
    /// [`max_pool_forward`] of one plane (`dims` = input width, output height and width).
    fn max_pool_plane(
        dims: [usize; 3],
        size: usize,
        stride: usize,
        xp: &[f32],
        yp: &mut [f32],
        ip: &mut [u32],
    ) {
        let [w, oh, ow] = dims;
        if size == 2 && stride == 2 {
            return max_pool_plane_2x2([w, ow], xp, yp, ip);
        }
        for oy in 0..oh {
            for ox in 0..ow {
                let (y0, x0) = (oy * stride, ox * stride);
                let mut best = y0 * w + x0;
                let mut value = xp[best];
                // Branch-free selects: random data would mispredict half the compares.
                for dy in 0..size {
                    let row = (y0 + dy) * w + x0;
                    for (dx, &v) in xp[row..row + size].iter().enumerate() {
                        let greater = v > value;
                        value = if greater { v } else { value };
                        best = if greater { row + dx } else { best };
                    }
                }
                yp[oy * ow + ox] = value;
                ip[oy * ow + ox] = best as u32;
            }
        }
    }
}

/// [`max_pool_plane`] for 2x2 windows every 2 (the paper's CNNs): the four candidates of a
/// row of windows are compared as whole vectors (first maximum wins, as in the general case).
#[inline(always)]
fn max_pool_plane_2x2([w, ow]: [usize; 2], xp: &[f32], yp: &mut [f32], ip: &mut [u32]) {
    for (oy, (yr, ir)) in yp
        .chunks_exact_mut(ow)
        .zip(ip.chunks_exact_mut(ow))
        .enumerate()
    {
        let r0 = &xp[2 * oy * w..][..w];
        let r1 = &xp[(2 * oy + 1) * w..][..w];
        let base = (2 * oy * w) as u32;
        for (ox, (y, i)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
            let (a, b, c, d) = (r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]);
            let at = base + 2 * ox as u32;
            let (mut value, mut best) = (a, at);
            if b > value {
                (value, best) = (b, at + 1);
            }
            if c > value {
                (value, best) = (c, at + w as u32);
            }
            if d > value {
                (value, best) = (d, at + w as u32 + 1);
            }
            *y = value;
            *i = best;
        }
    }
}

/// Gradient of [`max_pool_forward`]: each output's gradient goes to its window's maximum.
pub(crate) fn max_pool_backward(planes: usize, plane: usize, idx: &[u32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(idx.len(), dy.len(), "pool gradient size");
    let per = idx.len() / planes.max(1);
    if per == 0 {
        return vec![0.0f32; planes * plane];
    }
    assert_eq!(idx.len(), planes * per, "pool gradient size");
    // SAFETY: `idx` and `dy` hold `planes` chunks of `per >= 1` (asserted), as many as `dx`
    // has planes, so every plane is reached and set in full by `init`.
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(planes * plane, |dx| {
            dx.par_chunks_mut(plane.max(1))
                .zip(idx.par_chunks(per).zip(dy.par_chunks(per)))
                .for_each(|(dp, (ip, gp))| {
                    let dp = scratch::init(dp, 0.0);
                    for (&i, &g) in ip.iter().zip(gp) {
                        dp[i as usize] += g;
                    }
                });
        })
    }
}

/// Average pooling without padding, NCHW: `y[.., oy, ox]` = mean of the `size x size` window at
/// `(oy·stride, ox·stride)`.
pub(crate) fn avg_pool_forward(
    [n, c, h, w]: [usize; 4],
    size: usize,
    stride: usize,
    x: &[f32],
) -> (Vec<f32>, [usize; 2]) {
    let oh = (h - size) / stride + 1;
    let ow = (w - size) / stride + 1;
    assert_eq!(x.len(), n * c * h * w, "pool input size");
    let scale = 1.0 / (size * size) as f32;
    // SAFETY: `x` holds `n·c` planes (asserted), so every plane of `y` is reached and set in
    // full by `init`.
    #[allow(unsafe_code)]
    let y = unsafe {
        scratch::written(n * c * oh * ow, |y| {
            y.par_chunks_mut((oh * ow).max(1))
                .zip(x.par_chunks((h * w).max(1)))
                .for_each(|(yp, xp)| {
                    let yp = scratch::init(yp, 0.0);
                    for (oy, out) in yp.chunks_exact_mut(ow).enumerate() {
                        for dy in 0..size {
                            let row = &xp[(oy * stride + dy) * w..][..w];
                            for (ox, o) in out.iter_mut().enumerate() {
                                *o += row[ox * stride..ox * stride + size].iter().sum::<f32>();
                            }
                        }
                        for o in out.iter_mut() {
                            *o *= scale;
                        }
                    }
                });
        })
    };
    (y, [oh, ow])
}

/// Gradient of [`avg_pool_forward`]: each output's gradient spread evenly over its window.
pub(crate) fn avg_pool_backward(
    [n, c, h, w]: [usize; 4],
    size: usize,
    stride: usize,
    [oh, ow]: [usize; 2],
    dy: &[f32],
) -> Vec<f32> {
    assert_eq!(dy.len(), n * c * oh * ow, "pool gradient size");
    let scale = 1.0 / (size * size) as f32;
    // SAFETY: `dy` holds `n·c` planes (asserted), so every plane of `dx` is reached and set in
    // full by `init`.
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(n * c * h * w, |dx| {
            dx.par_chunks_mut((h * w).max(1))
                .zip(dy.par_chunks((oh * ow).max(1)))
                .for_each(|(dp, gp)| {
                    let dp = scratch::init(dp, 0.0);
                    for (oy, grads) in gp.chunks_exact(ow).enumerate() {
                        for ky in 0..size {
                            let row = &mut dp[(oy * stride + ky) * w..][..w];
                            for (ox, &g) in grads.iter().enumerate() {
                                for d in &mut row[ox * stride..ox * stride + size] {
                                    *d += g * scale;
                                }
                            }
                        }
                    }
                });
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 7-loop convolution: the definition, for checking the fast path.
    fn naive(g: &Geometry, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0; g.n * g.o * g.oh * g.ow];
        for n in 0..g.n {
            for o in 0..g.o {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut s = b[o];
                        for c in 0..g.c {
                            for ki in 0..g.k {
                                for kj in 0..g.k {
                                    let iy = (oy * g.stride + ki) as isize - g.pad_top as isize;
                                    let ix = (ox * g.stride + kj) as isize - g.pad_left as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.h
                                        && (ix as usize) < g.w
                                    {
                                        s += x[((n * g.c + c) * g.h + iy as usize) * g.w
                                            + ix as usize]
                                            * w[((o * g.c + c) * g.k + ki) * g.k + kj];
                                    }
                                }
                            }
                        }
                        y[((n * g.o + o) * g.oh + oy) * g.ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    /// The implicit-GEMM and Winograd paths against im2col + `gemm` (forward and all three
    /// gradients) on the paper's layer shapes and odd ones: odd output sizes, one-row kernels,
    /// asymmetric padding, few channels, batches that are not a multiple of the group.
    #[test]
    fn fast_paths_match_im2col() {
        let (mut winograd_cases, mut f4_cases) = (0, 0);
        for (shape, o, k, pads, relu) in [
            ([3, 1, 28, 28], 32, 3, [1, 1, 1, 1], true),
            ([2, 32, 14, 14], 64, 3, [1, 1, 1, 1], true),
            ([2, 32, 13, 13], 32, 3, [0, 0, 0, 0], true),
            ([5, 16, 7, 6], 8, 3, [2, 0, 1, 2], false),
            ([9, 8, 5, 9], 24, 3, [0, 1, 0, 0], true),
            ([2, 8, 3, 4], 8, 3, [2, 2, 2, 2], true),
            ([1, 1, 3, 3], 1, 3, [0, 0, 0, 0], false),
            ([2, 4, 9, 5], 17, 5, [4, 2, 0, 3], true),
            ([1, 2, 4, 4], 3, 1, [0, 0, 0, 0], false),
            ([6, 7, 3, 8], 2, 2, [1, 0, 0, 1], true),
            ([4, 3, 32, 32], 16, 3, [1, 1, 1, 1], true),
            // 6x6 outputs: Winograd F(2x2, 3x3) needs no more multiplications than F(4x4).
            ([3, 16, 6, 6], 16, 3, [1, 1, 1, 1], true),
        ] {
            let g = Geometry::new(shape, o, k, 1, pads);
            assert!(Implicit::new(&g).is_some(), "{g:?}");
            let plan = winograd::Plan::new(&g);
            winograd_cases += usize::from(plan.is_some());
            f4_cases += usize::from(plan.is_some_and(|p| p.tile() == 4));
            let value = |i: usize, m: usize| ((i * m % 101) as f32 - 50.0) / 50.0;
            let x: Vec<f32> = (0..g.n * g.chw()).map(|i| value(i, 7)).collect();
            let w: Vec<f32> = (0..g.o * g.ckk()).map(|i| value(i, 13)).collect();
            let b: Vec<f32> = (0..g.o).map(|i| value(i, 29)).collect();
            let y = forward(&g, &x, &w, &b, relu);
            let close = |what: &str, a: &[f32], e: &[f32]| {
                assert_eq!(a.len(), e.len(), "{what} {g:?}");
                let scale = e.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (i, (a, e)) in a.iter().zip(e).enumerate() {
                    assert!(
                        (a - e).abs() <= 1e-5 * scale,
                        "{what} {g:?} [{i}]: {a} vs {e}"
                    );
                }
            };
            let y2 = forward_im2col(&g, &x, &w, &b, relu);
            let dy: Vec<f32> = (0..y.len()).map(|i| value(i, 17)).collect();
            let (dx2, dw2, db2) = backward_im2col(&g, &x, &w, &y2, &dy, relu, true);
            let dx2 = dx2.unwrap();
            for method in [Method::Implicit, Method::Winograd] {
                let what = format!("{method:?}");
                let y = forward_with(method, &g, &x, &w, &b, relu);
                close(&format!("{what} forward"), &y, &y2);
                // The same output (so the same ReLU mask) for every method's backward pass.
                let (dx, dw, db) = backward_with(method, &g, &x, &w, &y2, &dy, relu, true);
                close(&format!("{what} dx"), &dx.unwrap(), &dx2);
                close(&format!("{what} dw"), &dw, &dw2);
                close(&format!("{what} db"), &db, &db2);
                let (none, dw3, _) = backward_with(method, &g, &x, &w, &y2, &dy, relu, false);
                assert!(none.is_none());
                assert_eq!(
                    dw3, dw,
                    "{what}: dw must not depend on whether dx is wanted"
                );
            }
        }
        assert_eq!(winograd_cases, 6, "shapes that take the Winograd path");
        assert_eq!(f4_cases, 4, "of which F(4x4, 3x3); the rest F(2x2, 3x3)");
    }

    /// Forward and all gradients of every method, bit for bit the same on every kernel path
    /// this CPU has ([`super::super::isa`]) and on 1, 2 or 3 threads: the paper's layer shapes
    /// (batch 5, not a multiple of the gradient group) and odd ones.
    #[test]
    fn every_path_and_thread_count_gives_the_same_bits() {
        use super::super::isa::{self, Isa};
        for isa in Isa::ALL.into_iter().filter(|i| !i.is_supported()) {
            eprintln!(
                "SKIPPED the {isa} path in every_path_and_thread_count_gives_the_same_bits: this CPU lacks {}",
                isa.needs()
            );
        }
        let cases = [
            // The paper's Simple and Enhanced CNN layers.
            ([5, 1, 28, 28], 32, 3, [0, 0, 0, 0], true),
            ([5, 1, 28, 28], 32, 3, [1, 1, 1, 1], true),
            ([5, 32, 28, 28], 32, 3, [1, 1, 1, 1], true),
            ([5, 32, 14, 14], 64, 3, [1, 1, 1, 1], true),
            ([5, 64, 14, 14], 64, 3, [1, 1, 1, 1], true),
            ([5, 32, 13, 13], 64, 3, [0, 0, 0, 0], true),
            // RGB inputs (declared datasets): 3 channels, valid and same padding.
            ([5, 3, 32, 32], 16, 3, [1, 1, 1, 1], true),
            ([3, 3, 28, 28], 8, 3, [0, 0, 0, 0], true),
            ([2, 3, 8, 8], 4, 5, [2, 2, 2, 2], false),
            // The CIFAR-shaped CNN of bench/shapes.toml (32x32x3, then 32 and 64 channels).
            ([5, 3, 32, 32], 32, 3, [1, 1, 1, 1], false),
            ([5, 32, 32, 32], 32, 3, [1, 1, 1, 1], false),
            ([5, 32, 16, 16], 64, 3, [1, 1, 1, 1], false),
            ([5, 64, 16, 16], 64, 3, [1, 1, 1, 1], false),
            // Odd ones: odd outputs, asymmetric padding, channel counts off the tiles.
            ([3, 8, 13, 11], 24, 3, [0, 1, 2, 0], false),
            ([2, 9, 7, 6], 17, 5, [4, 2, 0, 3], true),
            ([4, 16, 5, 9], 40, 3, [1, 1, 1, 1], true),
            // 6x6 outputs: Winograd F(2x2, 3x3) (the layers above take F(4x4, 3x3)).
            ([3, 8, 6, 6], 16, 3, [1, 1, 1, 1], true),
        ];
        let value = |i: usize, m: usize| ((i * m % 211) as f32 - 105.0) / 70.0;
        let run = |isa: Isa, threads: usize| {
            let _path = isa::force(isa);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut bits: Vec<u32> = Vec::new();
            pool.install(|| {
                for (shape, o, k, pads, relu) in cases {
                    let g = Geometry::new(shape, o, k, 1, pads);
                    let x: Vec<f32> = (0..g.n * g.chw()).map(|i| value(i, 7)).collect();
                    let w: Vec<f32> = (0..g.o * g.ckk()).map(|i| value(i, 13) * 0.2).collect();
                    let b: Vec<f32> = (0..g.o).map(|i| value(i, 29)).collect();
                    for method in [Method::Winograd, Method::Implicit, Method::Im2col] {
                        let y = forward_with(method, &g, &x, &w, &b, relu);
                        let dy: Vec<f32> = (0..y.len()).map(|i| value(i, 17)).collect();
                        let (dx, dw, db) = backward_with(method, &g, &x, &w, &y, &dy, relu, true);
                        // Batch normalization (and ReLU) of the output, as bench/shapes.toml's
                        // networks follow each convolution with it.
                        let (bn, dbn) = normalized(&g, &y, &dy);
                        for v in [y, dx.unwrap(), dw, db, bn, dbn] {
                            bits.extend(v.iter().map(|f| f.to_bits()));
                        }
                    }
                }
            });
            bits
        };
        let reference = run(Isa::Portable, 1);
        for isa in Isa::supported() {
            for threads in [1, 2, 3] {
                assert!(
                    run(isa, threads) == reference,
                    "{isa} on {threads} threads differs from the portable path on 1"
                );
            }
        }
    }

    /// Batch normalization + ReLU of a convolution's output `y` (gamma, beta from the channel
    /// index): its output and the three gradients, end to end.
    fn normalized(g: &Geometry, y: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let d = super::super::norm::Dims {
            n: g.n,
            c: g.o,
            s: g.oh * g.ow,
        };
        let gamma: Vec<f32> = (0..g.o).map(|i| 0.5 + i as f32 / 7.0).collect();
        let beta: Vec<f32> = (0..g.o).map(|i| i as f32 / 11.0 - 0.3).collect();
        let [out, dx, dgamma, dbeta, mean, var] =
            super::super::norm::train_pass(d, y, [&gamma, &beta], dy, true);
        (out, [dx, dgamma, dbeta, mean, var].concat())
    }

    #[test]
    fn forward_matches_the_definition_with_padding_and_stride() {
        for (shape, o, k, stride, pads) in [
            ([2, 3, 7, 6], 4, 3, 1, [1, 1, 1, 1]),
            ([1, 2, 8, 8], 3, 5, 2, [2, 1, 2, 2]),
            ([3, 1, 5, 5], 2, 3, 1, [0, 0, 0, 0]),
        ] {
            let g = Geometry::new(shape, o, k, stride, pads);
            let x: Vec<f32> = (0..g.n * g.chw())
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let w: Vec<f32> = (0..g.o * g.ckk())
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..g.o).map(|i| i as f32 * 0.1).collect();
            let fast = forward(&g, &x, &w, &b, false);
            let slow = naive(&g, &x, &w, &b);
            for (a, e) in fast.iter().zip(&slow) {
                assert!((a - e).abs() < 1e-4, "{g:?}: {a} vs {e}");
            }
        }
    }
}
