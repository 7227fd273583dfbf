//! Batch normalization in training, fused: the batch's statistics in one read of the input, the
//! normalization, scale, shift and ReLU in one pass, and the backward pass in two (the two
//! per-channel sums, then the input gradient), on plain `f32` slices laid out `[n, c, s]` (a
//! feature map's `[n, c, h, w]` with `s = h·w`, or a flat `[n, c]` with `s = 1`).
//!
//! burn 0.22.1's flex backend computes `batch_norm_train` and its backward out of generic tensor
//! operations (a dozen passes each way, with transposed copies); on a network with batch norm
//! after each convolution that cost more than the convolutions.
//!
//! Each channel's sums run on one thread in a fixed order, and the elementwise passes are split
//! by image: the bits do not depend on the thread count. Nothing here is compiled per
//! [`super::isa`] path, so the paths agree too.

use super::sums::sum;
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

/// The batch's mean and biased variance per channel (two reads of each channel: the mean,
/// then the squared deviations from it, which keeps the variance accurate).
pub(crate) fn stats(d: Dims, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    debug_assert_eq!(x.len(), d.n * d.c * d.s);
    let m = d.per_channel();
    (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let mean = rows(d, x, ch).map(sum).sum::<f32>() / m;
            let var = rows(d, x, ch)
                .map(|r| squared_deviations(r, mean))
                .sum::<f32>()
                / m;
            (mean, var)
        })
        .unzip()
}

/// `Σ (v - mean)²` in 8 lanes (vectorised, in a fixed order).
fn squared_deviations(v: &[f32], mean: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let rest: f32 = chunks
        .remainder()
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += (x - mean) * (x - mean);
        }
    }
    lanes.iter().sum::<f32>() + rest
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
    // SAFETY: `y` and `x` are cut alike (images, then channel planes) and `scale_shift` writes
    // every element of each plane of `y` from its plane of `x`, as long.
    #[allow(unsafe_code)]
    unsafe {
        super::scratch::written(x.len(), |y| {
            y.par_chunks_mut(d.c * d.s)
                .zip(x.par_chunks(d.c * d.s))
                .for_each(|(y, x)| {
                    for (ch, (y, x)) in y.chunks_mut(d.s).zip(x.chunks(d.s)).enumerate() {
                        if relu {
                            scale_shift::<true>(y, x, a[ch], b[ch]);
                        } else {
                            scale_shift::<false>(y, x, a[ch], b[ch]);
                        }
                    }
                });
        })
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
    if s.relu {
        backward_with::<true>(d, s, dy)
    } else {
        backward_with::<false>(d, s, dy)
    }
}

fn backward_with<const RELU: bool>(
    d: Dims,
    s: &Saved,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..d.c)
        .into_par_iter()
        .map(|ch| {
            let (mean, inv) = (s.mean[ch], s.inv[ch]);
            let mut sum_g = 0.0f32;
            let mut sum_gx = 0.0f32;
            for ((x, y), dy) in rows(d, s.x, ch).zip(rows(d, s.y, ch)).zip(rows(d, dy, ch)) {
                let (a, b) = masked_sums::<RELU>(x, y, dy, mean, inv);
                sum_g += a;
                sum_gx += b;
            }
            (sum_gx, sum_g)
        })
        .unzip();
    let m = d.per_channel();
    assert_eq!(
        (s.y.len(), dy.len()),
        (s.x.len(), s.x.len()),
        "batch norm sizes"
    );
    // SAFETY: `dx`, `x`, `y` and `dy` are equally long and cut alike (images, then channel
    // planes), and the innermost loop writes every element of each plane of `dx`.
    #[allow(unsafe_code)]
    let dx = unsafe {
        super::scratch::written(s.x.len(), |dx| {
            dx.par_chunks_mut(d.c * d.s)
                .zip(s.x.par_chunks(d.c * d.s))
                .zip(s.y.par_chunks(d.c * d.s).zip(dy.par_chunks(d.c * d.s)))
                .for_each(|((dx, x), (y, dy))| {
                    let planes = dx.chunks_mut(d.s).zip(x.chunks(d.s));
                    for (ch, (dx, x)) in planes.enumerate() {
                        let (y, dy) = (&y[ch * d.s..][..d.s], &dy[ch * d.s..][..d.s]);
                        let (mean, inv) = (s.mean[ch], s.inv[ch]);
                        let scale = s.gamma[ch] * inv;
                        let (mg, mgx) = (dbeta[ch] / m, dgamma[ch] / m);
                        for (((dx, x), y), dy) in dx.iter_mut().zip(x).zip(y).zip(dy) {
                            let xh = (x - mean) * inv;
                            dx.write(scale * (masked::<RELU>(*dy, *y) - mg - xh * mgx));
                        }
                    }
                });
        })
    };
    (dx, dgamma, dbeta)
}

/// One image's row of a channel: `(Σ g, Σ g · xh)` in 8 lanes (vectorised, in a fixed order).
fn masked_sums<const RELU: bool>(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    mean: f32,
    inv: f32,
) -> (f32, f32) {
    let mut lg = [0.0f32; 8];
    let mut lgx = [0.0f32; 8];
    let (xc, yc, dc) = (x.chunks_exact(8), y.chunks_exact(8), dy.chunks_exact(8));
    let (mut rg, mut rgx) = (0.0f32, 0.0f32);
    for ((x, y), dy) in xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .zip(dc.remainder())
    {
        let g = masked::<RELU>(*dy, *y);
        rg += g;
        rgx += g * ((x - mean) * inv);
    }
    for ((x, y), dy) in xc.zip(yc).zip(dc) {
        let (x, y, dy): (&[f32; 8], &[f32; 8], &[f32; 8]) = (
            x.try_into().expect("8"),
            y.try_into().expect("8"),
            dy.try_into().expect("8"),
        );
        for l in 0..8 {
            let g = masked::<RELU>(dy[l], y[l]);
            lg[l] += g;
            lgx[l] += g * ((x[l] - mean) * inv);
        }
    }
    (lg.iter().sum::<f32>() + rg, lgx.iter().sum::<f32>() + rgx)
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
