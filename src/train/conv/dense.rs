//! Dense layers in training, each one operation with its bias and ReLU: the very products
//! burn's `Linear` runs (the `gemm` crate, with the same shapes, strides and threading), so the
//! bits are burn's, without what burn 0.22.1's flex adds around them. Each of its products
//! allocates a zero-filled byte buffer and then copies it to realign it (a memset and a memcpy
//! of every output), and the bias, the ReLU and the ReLU's backward mask are passes of their own.
//! On a 784-1024-1024-10 network those took 15% of the training.
//!
//! ```text
//! forward   y  = act(x · W + b)          x: [rows, in], W: [in, out], b: [out]
//! backward  g  = dy where y > 0 (ReLU), else 0
//!           dx = g · Wᵀ    dW = xᵀ · g    db = Σ_rows g (in row order, as burn sums)
//! ```

use super::kernel::{View, product};
use super::scratch;
use std::borrow::Cow;

/// A dense layer's sizes: `rows` examples of `inp` features to `out` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub(crate) rows: usize,
    pub(crate) inp: usize,
    pub(crate) out: usize,
}

/// burn-flex's rule: products of at least 192³ multiply-adds run on the rayon pool.
fn threads(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// `m×n = lhs[m×k] · rhs[k×n]`, never zero-filled first.
fn new_product(m: usize, n: usize, k: usize, lhs: View, rhs: View) -> Vec<f32> {
    // SAFETY: `product` writes every element of its `m×n` destination.
    #[allow(unsafe_code)]
    unsafe {
        scratch::written(m * n, |dst| {
            product(m, n, k, dst, false, lhs, rhs, threads(m, n, k))
        })
    }
}

/// `act(x · w + b)`, `[rows, out]`, with ReLU when `relu` (else none).
pub(crate) fn forward(d: Dims, x: &[f32], w: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    assert_eq!(x.len(), d.rows * d.inp, "dense input size");
    assert_eq!(w.len(), d.inp * d.out, "dense kernel size");
    assert_eq!(b.len(), d.out, "dense bias size");
    let xv = View {
        data: x,
        rs: d.inp,
        cs: 1,
    };
    let wv = View {
        data: w,
        rs: d.out,
        cs: 1,
    };
    let mut y = new_product(d.rows, d.out, d.inp, xv, wv);
    for row in y.chunks_exact_mut(d.out) {
        for (v, &bias) in row.iter_mut().zip(b) {
            let s = *v + bias;
            // burn's ReLU: zero where `s <= 0` (a NaN stays).
            *v = if relu && s <= 0.0 { 0.0 } else { s };
        }
    }
    y
}

/// Gradients of [`forward`] given its output `y` and the output gradient `dy`:
/// `(dx if want_dx, dw, db)`.
pub(crate) fn backward(
    d: Dims,
    x: &[f32],
    w: &[f32],
    y: &[f32],
    dy: &[f32],
    relu: bool,
    want_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), d.rows * d.inp, "dense input size");
    assert_eq!(w.len(), d.inp * d.out, "dense kernel size");
    assert_eq!(y.len(), d.rows * d.out, "dense output size");
    assert_eq!(dy.len(), y.len(), "dense output gradient size");
    // burn's ReLU backward: zero where the output is `<= 0`.
    let g: Cow<[f32]> = if relu {
        Cow::Owned(
            y.iter()
                .zip(dy)
                .map(|(&yv, &dv)| if yv <= 0.0 { 0.0 } else { dv })
                .collect(),
        )
    } else {
        Cow::Borrowed(dy)
    };
    let gv = View {
        data: &g,
        rs: d.out,
        cs: 1,
    };
    let dx = want_dx.then(|| {
        let wt = View {
            data: w,
            rs: 1,
            cs: d.out,
        };
        new_product(d.rows, d.inp, d.out, gv, wt)
    });
    let xt = View {
        data: x,
        rs: 1,
        cs: d.inp,
    };
    let dw = new_product(d.inp, d.out, d.rows, xt, gv);
    let mut db = vec![0.0f32; d.out];
    for row in g.chunks_exact(d.out) {
        for (s, v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
    (dx, dw, db)
}
