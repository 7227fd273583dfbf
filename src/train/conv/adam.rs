//! One Adam step in one pass over a parameter, its gradient and its two moments, with the very
//! operations burn's `Adam` (0.22.1) runs tensor by tensor, in the same order, so the bits are
//! the same (each is a single rounded `f32` operation; nothing is fused into an FMA):
//!
//! ```text
//! m' = m · b1 + g · (1 - b1)             first step: m' = g · (1 - b1)
//! v' = v · b2 + (g · g) · (1 - b2)       first step: v' = (g · g) · (1 - b2)
//! p' = p - (m' · cf) / (sqrt(v') + eps_bc2) · lr
//! ```
//!
//! burn runs that as a dozen tensor operations, each a pass over memory with an allocation; on a
//! wide dense network they took as long as the matrix products.

use super::isa::per_isa;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The step's scalars, as burn computes them in `f32`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub(crate) beta1: f32,
    pub(crate) beta2: f32,
    /// `sqrt(1 - b2^t) / (1 - b1^t)`.
    pub(crate) cf: f32,
    /// `epsilon · sqrt(1 - b2^t)`.
    pub(crate) eps_bc2: f32,
    pub(crate) lr: f32,
    /// No moments yet (`m` and `v` are not read).
    pub(crate) first: bool,
}

/// Work per rayon task: enough to pay for the split.
const CHUNK: usize = 1 << 14;

/// `[p', m', v']`, each `p.len()` long (never zeroed first: every element is written once).
pub(crate) fn step(s: Step, p: &[f32], g: &[f32], m: &[f32], v: &[f32]) -> Vec<f32> {
    let n = p.len();
    assert_eq!(g.len(), n, "adam: gradient and parameter sizes");
    assert!(
        s.first || (m.len() == n && v.len() == n),
        "adam: moment sizes"
    );
    // SAFETY: `out` is split into three `n`-long parts, each cut into the chunks `p` and `g`
    // (`n` long) are cut into, and `chunk` writes every element of every chunk (each of its
    // zips' shortest member is the chunk of `p`, as long as those of the parts).
    #[allow(unsafe_code)]
    unsafe {
        super::scratch::written(3 * n, |out| {
            let (op, rest) = out.split_at_mut(n);
            let (om, ov) = rest.split_at_mut(n);
            op.par_chunks_mut(CHUNK)
                .zip(om.par_chunks_mut(CHUNK))
                .zip(ov.par_chunks_mut(CHUNK))
                .zip(p.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
                .enumerate()
                .for_each(|(k, (((op, om), ov), (p, g)))| {
                    let (m, v) = if s.first {
                        (&[][..], &[][..])
                    } else {
                        (&m[k * CHUNK..][..p.len()], &v[k * CHUNK..][..p.len()])
                    };
                    chunk(s, [op, om, ov], p, g, m, v);
                });
        })
    }
}

per_isa! {
    /// One chunk of [`step`], compiled for each kernel path: the square root and the division
    /// are exactly rounded, so 16, 8 or 4 lanes at a time give the same bits (a baseline
    /// build ran them four lanes at a time and took a fifth of a wide MLP's training).
    fn chunk(
        s: Step,
        out: [&mut [MaybeUninit<f32>]; 3],
        p: &[f32],
        g: &[f32],
        m: &[f32],
        v: &[f32],
    ) {
        let [op, om, ov] = out;
        let (f1, f2) = (1.0 - s.beta1, 1.0 - s.beta2);
        let outs = op.iter_mut().zip(om.iter_mut()).zip(ov.iter_mut());
        if s.first {
            for (((op, om), ov), (p, g)) in outs.zip(p.iter().zip(g)) {
                let m1 = g * f1;
                let m2 = (g * g) * f2;
                om.write(m1);
                ov.write(m2);
                op.write(p - (m1 * s.cf) / (m2.sqrt() + s.eps_bc2) * s.lr);
            }
        } else {
            let ins = p.iter().zip(g).zip(m.iter().zip(v));
            for (((op, om), ov), ((p, g), (m, v))) in outs.zip(ins) {
                let m1 = m * s.beta1 + g * f1;
                let m2 = v * s.beta2 + (g * g) * f2;
                om.write(m1);
                ov.write(m2);
                op.write(p - (m1 * s.cf) / (m2.sqrt() + s.eps_bc2) * s.lr);
            }
        }
    }
}
