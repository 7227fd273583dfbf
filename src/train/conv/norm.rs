//! Batch normalization in training, fused: the batch's statistics in one read of the input, the
//! normalization, scale, shift and ReLU in one pass, and the backward pass in two (the two
//! per-channel sums, then the input gradient), on plain `f32` slices laid out `[n, c, s]` (a
//! feature map's `[n, c, h, w]` with `s = h·w`, or a flat `[n, c]` with `s = 1`).
//!
//! burn 0.22.1's flex backend computes `batch_norm_train` and its backward out of generic tensor
//! operations (a dozen passes each way, with transposed copies); on a network with batch norm
//! after each convolution that cost more than the convolutions.
//!
//! Each channel's sums run on one thread in a fixed order (32 lanes, then the lanes in order),
//! and the elementwise passes are split by image: the bits do not depend on the thread count.
//! The kernels are compiled for each [`super::isa`] path, with the same operations in the same
//! order on each, so the paths agree too (the cross-path parity test runs batch norm).

use super::isa::per_isa;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The shape `[n, c, s]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) s: usize,
}

impl Dims {
    fn per_channel(&self) -> f32 {
        (self.n * self.s) as f32
    }
}

/// Per channel: the values of channel `ch` over the batch, image by image.
fn rows<'a>(d: Dims, v: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
    (0..d.n).map(move |i| &v[(i * d.c + ch) * d.s..][..d.s])
}

/// Lanes of the per-channel sums: independent accumulators, enough to keep the vector adders
/// busy (two 512-bit vectors, four 256-bit ones), summed in this fixed order on every path.
const LANES: usize = 32;

/// `[Σ f(x, y, z) over lane l]` of three equally long rows, [`LANES`] at a time, plus the sum
/// of the remainder: the rows' whole blocks as fixed-size arrays (no bounds checks, so the
/// lanes stay in vector registers), and nothing called that is not inlined (a closure behind an
/// iterator's `fold` is compiled without the caller's vector features).
#[inline(always)]
fn lane_sums<const K: usize>(rows: [&[f32]; 3], f: impl Fn(f32, f32, f32) -> [f32; K]) -> [f32; K] {
    let [a, b, c] = rows;
    let n = a.len().min(b.len()).min(c.len());
    let whole = n - n % LANES;
    let mut lanes = [[0.0f32; LANES]; K];
    let mut i0 = 0;
    while i0 < whole {
        let a: &[f32; LANES] = a[i0..i0 + LANES].try_into().expect("lanes");
        let b: &[f32; LANES] = b[i0..i0 + LANES].try_into().expect("lanes");
        let c: &[f32; LANES] = c[i0..i0 + LANES].try_into().expect("lanes");
        for l in 0..LANES {
            let v = f(a[l], b[l], c[l]);
            for k in 0..K {
                lanes[k][l] += v[k];
            }
        }
        i0 += LANES;
    }
    let mut out = [0.0f32; K];
    for k in 0..K {
        let mut rest = 0.0f32;
        for i in whole..n {
            rest += f(a[i], b[i], c[i])[k];
        }
        let mut total = 0.0f32;
        for v in lanes[k] {
            total += v;
        }
        out[k] = total + rest;
    }
    out
}

/// The batch's mean and biased variance per channel (two reads of each channel: the mean,
/// then the squared deviations from it, which keeps the variance accurate).
pub(crate) fn stats(d: Dims, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    debug_assert_eq!(x.len(), d.n * d.c * d.s);
    (0..d.c)
        .into_par_iter()
        .map(|ch| channel_stats(d, x, ch))
        .unzip()
}

per_isa! {
    /// [`stats`] of channel `ch`. Compiled for each kernel path (the same sums on each).
    fn channel_stats(d: Dims, x: &[f32], ch: usize) -> (f32, f32) {
        let m = d.per_channel();
        let mut total = 0.0f32;
        for r in rows(d, x, ch) {
            total += lane_sums([r, r, r], |v, _, _| [v])[0];
        }
        let mean = total / m;
        let mut squares = 0.0f32;
        for r in rows(d, x, ch) {
            squares += lane_sums([r, r, r], |v, _, _| [(v - mean) * (v - mean)])[0];
        }
        (mean, squares / m)
    }
}

/// `1 / sqrt(var + epsilon)` per channel.
pub(crate) fn inv_std(var: &[f32], epsilon: f64) -> Vec<f32> {
    var.iter()
        .map(|v| (1.0 / (f64::from(*v) + epsilon).sqrt()) as f32)
        .collect()
}

/// `y = act((x - mean) · inv · gamma + beta)`, as `x · a + b` per channel.
pub(crate) fn forward(
    d: Dims,
    x: &[f32],
    [mean, inv, gamma, beta]: [&[f32]; 4],
    relu: bool,
) -> Vec<f32> {
    let a: Vec<f32> = inv.iter().zip(gamma).map(|(i, g)| i * g).collect();
    let b: Vec<f32> = (0..d.c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
    // SAFETY: `y` and `x` are cut alike (images, then channel planes) and `forward_image`
    // writes every element of each plane of `y` from its plane of `x`, as long.
    #[allow(unsafe_code)]
    unsafe {
        super::scratch::written(x.len(), |y| {
            y.par_chunks_mut(d.c * d.s)
                .zip(x.par_chunks(d.c * d.s))
                .for_each(|(y, x)| forward_image(d, y, x, (&a, &b), relu));
        })
    }
}

per_isa! {
    /// [`forward`] of one image. Compiled for each kernel path.
    fn forward_image(
        d: Dims,
        y: &mut [MaybeUninit<f32>],
        x: &[f32],
        scale_shift_by: (&[f32], &[f32]),
        relu: bool,
    ) {
        let (a, b) = scale_shift_by;
        for (ch, (y, x)) in y.chunks_mut(d.s).zip(x.chunks(d.s)).enumerate() {
            if relu {
                scale_shift::<true>(y, x, a[ch], b[ch]);
            } else {
                scale_shift::<false>(y, x, a[ch], b[ch]);
            }
        }
    }
}

/// `y = x · a + b`, then ReLU if `RELU` (one loop per case, so that it vectorises).
#[inline(always)]
fn scale_shift<const RELU: bool>(y: &mut [MaybeUninit<f32>], x: &[f32], a: f32, b: f32) {
    for (y, x) in y.iter_mut().zip(x) {
        let v = x * a + b;
        y.write(if RELU { v.max(0.0) } else { v });
    }
}

/// `dy` where the ReLU passed its input (`y > 0`), else 0; `dy` itself without a ReLU.
#[inline(always)]
fn masked<const RELU: bool>(dy: f32, y: f32) -> f32 {
    if RELU && y <= 0.0 { 0.0 } else { dy }
}

/// What the backward pass keeps of the forward one.
#[derive(Debug, Clone)]
pub(crate) struct Saved<'a> {
    pub(crate) x: &'a [f32],
    /// The output, for the ReLU's mask (unused without one).
    pub(crate) y: &'a [f32],
    pub(crate) mean: &'a [f32],
    pub(crate) inv: &'a [f32],
    pub(crate) gamma: &'a [f32],
    pub(crate) relu: bool,
}

/// The gradients of the input, `gamma` and `beta`, given the output's `dy`:
/// with `g = dy` masked by the ReLU and `xh = (x - mean) · inv`,
/// `dbeta = Σ g`, `dgamma = Σ g · xh` and
/// `dx = gamma · inv · (g - dbeta / m - xh · dgamma / m)` over the `m = n · s` values of a channel.
pub(crate) fn backward(d: Dims, s: &Saved, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..d.c)
        .into_par_iter()
        .map(|ch| channel_grad_sums(d, s, dy, ch))
        .unzip();
    assert_eq!(
        (s.y.len(), dy.len()),
        (s.x.len(), s.x.len()),
        "batch norm sizes"
    );
    // SAFETY: `dx`, `x`, `y` and `dy` are equally long and cut alike (images, then channel
    // planes), and `backward_image` writes every element of each plane of `dx`.
    #[allow(unsafe_code)]
    let dx = unsafe {
        super::scratch::written(s.x.len(), |dx| {
            dx.par_chunks_mut(d.c * d.s)
                .zip(s.x.par_chunks(d.c * d.s))
                .zip(s.y.par_chunks(d.c * d.s).zip(dy.par_chunks(d.c * d.s)))
                .for_each(|((dx, x), (y, dy))| {
                    backward_image(d, s, (&dgamma, &dbeta), dx, (x, y, dy));
                });
        })
    };
    (dx, dgamma, dbeta)
}

per_isa! {
    /// Channel `ch`'s `(Σ g · xh, Σ g)` over the batch. Compiled for each kernel path.
    fn channel_grad_sums(d: Dims, s: &Saved, dy: &[f32], ch: usize) -> (f32, f32) {
        let (mean, inv) = (s.mean[ch], s.inv[ch]);
        let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
        for ((x, y), dy) in rows(d, s.x, ch).zip(rows(d, s.y, ch)).zip(rows(d, dy, ch)) {
            let (a, b) = if s.relu {
                masked_sums::<true>(x, y, dy, mean, inv)
            } else {
                masked_sums::<false>(x, y, dy, mean, inv)
            };
            sum_g += a;
            sum_gx += b;
        }
        (sum_gx, sum_g)
    }
}

per_isa! {
    /// One image's input gradient (`dx` from its `x`, `y` and `dy`), given the per-channel
    /// sums. Compiled for each kernel path.
    fn backward_image(
        d: Dims,
        s: &Saved,
        sums: (&[f32], &[f32]),
        dx: &mut [MaybeUninit<f32>],
        image: (&[f32], &[f32], &[f32]),
    ) {
        let ((dgamma, dbeta), (x, y, dy)) = (sums, image);
        let m = d.per_channel();
        for (ch, (dx, x)) in dx.chunks_mut(d.s).zip(x.chunks(d.s)).enumerate() {
            let (y, dy) = (&y[ch * d.s..][..d.s], &dy[ch * d.s..][..d.s]);
            let (mean, inv) = (s.mean[ch], s.inv[ch]);
            let scale = s.gamma[ch] * inv;
            let (mg, mgx) = (dbeta[ch] / m, dgamma[ch] / m);
            if s.relu {
                input_gradient::<true>(dx, (x, y, dy), (mean, inv, scale, mg, mgx));
            } else {
                input_gradient::<false>(dx, (x, y, dy), (mean, inv, scale, mg, mgx));
            }
        }
    }
}

/// `dx = scale · (g - mg - xh · mgx)` along one plane (one loop per case, so that it
/// vectorises).
#[inline(always)]
fn input_gradient<const RELU: bool>(
    dx: &mut [MaybeUninit<f32>],
    (x, y, dy): (&[f32], &[f32], &[f32]),
    (mean, inv, scale, mg, mgx): (f32, f32, f32, f32, f32),
) {
    for (((dx, x), y), dy) in dx.iter_mut().zip(x).zip(y).zip(dy) {
        let xh = (x - mean) * inv;
        dx.write(scale * (masked::<RELU>(*dy, *y) - mg - xh * mgx));
    }
}

/// One image's row of a channel: `(Σ g, Σ g · xh)` in [`LANES`] lanes.
#[inline(always)]
fn masked_sums<const RELU: bool>(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    mean: f32,
    inv: f32,
) -> (f32, f32) {
    let [g, gx] = lane_sums([x, y, dy], |x, y, dy| {
        let g = masked::<RELU>(dy, y);
        [g, g * ((x - mean) * inv)]
    });
    (g, gx)
}

/// One training pass, forward and backward, with epsilon 1e-3: `(y, dx, dgamma, dbeta, mean,
/// var)`. For the tests here and the cross-path parity test.
#[cfg(test)]
pub(super) fn train_pass(
    d: Dims,
    x: &[f32],
    [gamma, beta]: [&[f32]; 2],
    dy: &[f32],
    relu: bool,
) -> [Vec<f32>; 6] {
    let (mean, var) = stats(d, x);
    let inv = inv_std(&var, 1e-3);
    let y = forward(d, x, [&mean, &inv, gamma, beta], relu);
    let saved = Saved {
        x,
        y: &y,
        mean: &mean,
        inv: &inv,
        gamma,
        relu,
    };
    let (dx, dgamma, dbeta) = backward(d, &saved, dy);
    [y, dx, dgamma, dbeta, mean, var]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formulas in f64, element by element.
    fn reference(
        d: Dims,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        dy: &[f32],
        eps: f64,
        relu: bool,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let m = (d.n * d.s) as f64;
        let at = |i: usize, ch: usize, k: usize| (i * d.c + ch) * d.s + k;
        let mut y = vec![0.0; x.len()];
        let mut dx = vec![0.0; x.len()];
        let (mut dg, mut db) = (vec![0.0; d.c], vec![0.0; d.c]);
        for ch in 0..d.c {
            let idx: Vec<usize> = (0..d.n)
                .flat_map(|i| (0..d.s).map(move |k| at(i, ch, k)))
                .collect();
            let mean = idx.iter().map(|&j| f64::from(x[j])).sum::<f64>() / m;
            let var = idx
                .iter()
                .map(|&j| (f64::from(x[j]) - mean).powi(2))
                .sum::<f64>()
                / m;
            let inv = 1.0 / (var + eps).sqrt();
            let mut g = vec![0.0; x.len()];
            for &j in &idx {
                let xh = (f64::from(x[j]) - mean) * inv;
                let v = xh * f64::from(gamma[ch]) + f64::from(beta[ch]);
                y[j] = if relu { v.max(0.0) } else { v };
                g[j] = if relu && v <= 0.0 {
                    0.0
                } else {
                    f64::from(dy[j])
                };
                db[ch] += g[j];
                dg[ch] += g[j] * xh;
            }
            for &j in &idx {
                let xh = (f64::from(x[j]) - mean) * inv;
                dx[j] = f64::from(gamma[ch]) * inv * (g[j] - db[ch] / m - xh * dg[ch] / m);
            }
        }
        (y, dx, dg, db)
    }

    fn close(what: &str, ours: &[f32], want: &[f64], tol: f64) {
        assert_eq!(ours.len(), want.len(), "{what}");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (o, w)) in ours.iter().zip(want).enumerate() {
            assert!(
                (f64::from(*o) - w).abs() <= tol * scale,
                "{what}[{i}]: {o} vs {w}"
            );
        }
    }

    #[test]
    fn matches_the_textbook_formulas_on_maps_and_flat_features() {
        let mut state = 12345u64;
        let mut random = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 1.5
        };
        for (d, relu) in [
            (Dims { n: 4, c: 3, s: 37 }, true),
            (Dims { n: 5, c: 2, s: 16 }, false),
            (Dims { n: 32, c: 7, s: 1 }, true),
        ] {
            let len = d.n * d.c * d.s;
            let x: Vec<f32> = (0..len).map(|_| random()).collect();
            let dy: Vec<f32> = (0..len).map(|_| random()).collect();
            let gamma: Vec<f32> = (0..d.c).map(|_| random()).collect();
            let beta: Vec<f32> = (0..d.c).map(|_| random()).collect();
            let [y, dx, dg, db, _, _] = train_pass(d, &x, [&gamma, &beta], &dy, relu);
            let (want_y, want_dx, want_dg, want_db) =
                reference(d, &x, &gamma, &beta, &dy, 1e-3, relu);
            close("y", &y, &want_y, 1e-5);
            close("dx", &dx, &want_dx, 1e-4);
            close("dgamma", &dg, &want_dg, 1e-4);
            close("dbeta", &db, &want_db, 1e-5);
        }
    }

    #[test]
    fn the_bits_do_not_depend_on_the_thread_count() {
        let d = Dims { n: 8, c: 5, s: 49 };
        let x: Vec<f32> = (0..d.n * d.c * d.s)
            .map(|i| ((i * 37 % 101) as f32).sin())
            .collect();
        let dy: Vec<f32> = x.iter().map(|v| v.cos()).collect();
        let (gamma, beta) = (vec![1.5f32; d.c], vec![0.25f32; d.c]);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| train_pass(d, &x, [&gamma, &beta], &dy, true))
        };
        assert_eq!(run(1), run(3));
    }
}
