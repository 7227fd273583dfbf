//! 2-D convolution kernels on plain `f32` slices in NCHW layout: im2col + GEMM for the forward
//! pass and both backward passes, with the bias and ReLU fused in. No layout conversion: the
//! GEMM of image `b`, `W[O, C·K·K] × cols[C·K·K, OH·OW]`, writes `y[b]` in NCHW directly.
//! Images are spread over rayon's threads (a worker's `RAYON_NUM_THREADS`); each GEMM runs on
//! one thread, the size that suits the paper's small layers.
//!
//! The only `unsafe` in the crate is the call into the `gemm` crate's raw-pointer API, behind
//! `matmul`, which checks every index the call can touch against the slices first.

use rayon::prelude::*;

/// The shape of one convolution: input `[n, c, h, w]`, kernel `[o, c, k, k]`, output
/// `[n, o, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Output size from input size, kernel, stride and the four paddings.
    pub fn new(
        [n, c, h, w]: [usize; 4],
        o: usize,
        k: usize,
        stride: usize,
        [top, left, bottom, right]: [usize; 4],
    ) -> Self {
        let oh = (h + top + bottom - k) / stride + 1;
        let ow = (w + left + right - k) / stride + 1;
        Geometry {
            n,
            c,
            h,
            w,
            o,
            k,
            stride,
            pad_top: top,
            pad_left: left,
            oh,
            ow,
        }
    }

    fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }

    fn ohw(&self) -> usize {
        self.oh * self.ow
    }

    fn chw(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The input column a kernel tap reads for output column `o`, if inside the image.
    fn source(&self, out: usize, tap: usize, pad: usize, size: usize) -> Option<usize> {
        (out * self.stride + tap)
            .checked_sub(pad)
            .filter(|&i| i < size)
    }

    /// Output columns `[lo, hi)` of a row whose input column (for kernel tap `kj`) is inside.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let lo = (0..self.ow)
            .find(|&x| self.source(x, kj, self.pad_left, self.w).is_some())
            .unwrap_or(self.ow);
        let hi = (lo..self.ow)
            .rev()
            .find(|&x| self.source(x, kj, self.pad_left, self.w).is_some())
            .map_or(lo, |x| x + 1);
        (lo, hi)
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
struct View<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

/// `dst[m×n] (row-major) = (dst if accumulate, else 0) + lhs[m×k] × rhs[k×n]`.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: View, rhs: View) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let last = |v: View, rows: usize, cols: usize| (rows - 1) * v.rs + (cols - 1) * v.cs;
    assert!(dst.len() >= m * n, "matmul: dst too small");
    assert!(last(lhs, m, k) < lhs.data.len(), "matmul: lhs too small");
    assert!(last(rhs, k, n) < rhs.data.len(), "matmul: rhs too small");
    // SAFETY: the asserts above bound every element the call reads (lhs, rhs) or writes (dst,
    // m×n row-major) inside the slices; `dst` is borrowed mutably, so it aliases neither input.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
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
            gemm::Parallelism::None,
        );
    }
}

/// Forward: `y = act(conv(x, w) + b)`; `x` is `[n, c, h, w]`, `w` is `[o, c, k, k]`, `b` is `[o]`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    let (ckk, ohw) = (g.ckk(), g.ohw());
    assert_eq!(x.len(), g.n * g.chw(), "conv input size");
    assert_eq!(w.len(), g.o * ckk, "conv kernel size");
    assert_eq!(b.len(), g.o, "conv bias size");
    let mut y = vec![0.0f32; g.n * g.o * ohw];
    y.par_chunks_mut(g.o * ohw)
        .zip(x.par_chunks(g.chw()))
        .for_each_init(
            || vec![0.0f32; ckk * ohw],
            |cols, (yb, xb)| {
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
        );
    y
}

/// A sum in 8 lanes, which the compiler vectorises (a plain fold is one serial chain).
fn sum(v: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// Images per group in [`backward`]'s weight-gradient sum: parallelism up to `n / GROUP`
/// threads, with a summation order that does not depend on how many there are.
const GROUP: usize = 4;

/// Gradients of [`forward`] given its output `y` and the output gradient `dy`:
/// `(dx if want_dx, dw, db)`.
pub fn backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (ckk, ohw, chw) = (g.ckk(), g.ohw(), g.chw());
    assert_eq!(y.len(), g.n * g.o * ohw, "conv output size");
    assert_eq!(dy.len(), y.len(), "conv output gradient size");
    let mut dx = if want_dx {
        vec![0.0f32; g.n * chw]
    } else {
        Vec::new()
    };
    struct Acc {
        dw: Vec<f32>,
        db: Vec<f32>,
        cols: Vec<f32>,
        grad: Vec<f32>,
    }
    let new_acc = || Acc {
        dw: vec![0.0; g.o * ckk],
        db: vec![0.0; g.o],
        cols: vec![0.0; ckk * ohw],
        grad: vec![0.0; g.o * ohw],
    };
    let step = |mut acc: Acc, (i, dxb): (usize, Option<&mut [f32]>)| {
        let yb = &y[i * g.o * ohw..(i + 1) * g.o * ohw];
        let dyb = &dy[i * g.o * ohw..(i + 1) * g.o * ohw];
        if relu {
            for ((gv, &yv), &d) in acc.grad.iter_mut().zip(yb).zip(dyb) {
                *gv = if yv > 0.0 { d } else { 0.0 };
            }
        } else {
            acc.grad.copy_from_slice(dyb);
        }
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
            let mut dcols = std::mem::take(&mut acc.cols);
            matmul(ckk, ohw, g.o, &mut dcols, false, wt, gv);
            col2im(g, &dcols, dxb);
            acc.cols = dcols;
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
    for p in parts {
        for (x, y) in acc.dw.iter_mut().zip(&p.dw) {
            *x += y;
        }
        for (x, y) in acc.db.iter_mut().zip(&p.db) {
            *x += y;
        }
    }
    (want_dx.then_some(dx), acc.dw, acc.db)
}

/// Max pooling without padding, NCHW: `y[.., oy, ox]` = max of the `size x size` window at
/// `(oy·stride, ox·stride)`; also returns, per output, the index in its input plane of the
/// (first) maximum, which the backward pass routes the gradient to.
pub fn max_pool_forward(
    [n, c, h, w]: [usize; 4],
    size: usize,
    stride: usize,
    x: &[f32],
) -> (Vec<f32>, Vec<u32>, [usize; 2]) {
    let oh = (h - size) / stride + 1;
    let ow = (w - size) / stride + 1;
    assert_eq!(x.len(), n * c * h * w, "pool input size");
    let mut y = vec![0.0f32; n * c * oh * ow];
    let mut idx = vec![0u32; y.len()];
    y.par_chunks_mut(oh * ow)
        .zip(idx.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(h * w))
        .for_each(|((yp, ip), xp)| {
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
        });
    (y, idx, [oh, ow])
}

/// Gradient of [`max_pool_forward`]: each output's gradient goes to its window's maximum.
pub fn max_pool_backward(planes: usize, plane: usize, idx: &[u32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(idx.len(), dy.len(), "pool gradient size");
    let per = idx.len() / planes.max(1);
    let mut dx = vec![0.0f32; planes * plane];
    dx.par_chunks_mut(plane)
        .zip(idx.par_chunks(per.max(1)).zip(dy.par_chunks(per.max(1))))
        .for_each(|(dp, (ip, gp))| {
            for (&i, &g) in ip.iter().zip(gp) {
                dp[i as usize] += g;
            }
        });
    dx
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
