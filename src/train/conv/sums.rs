//! Sums in a fixed order, so that a gradient's bits never depend on how work was split
//! between threads.

/// A sum in 8 lanes, which the compiler vectorises (a plain fold is one serial chain).
#[inline(always)]
pub(crate) fn sum(v: &[f32]) -> f32 {
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

/// `acc += part`, element by element: merging the fixed groups' gradient sums, in order.
pub(crate) fn add_into(acc: &mut [f32], part: &[f32]) {
    for (a, p) in acc.iter_mut().zip(part) {
        *a += p;
    }
}
