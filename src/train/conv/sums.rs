//! Sums in a fixed order, so that a gradient's bits never depend on how work was split
//! between threads.

use rayon::prelude::*;
use std::ops::Deref;

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

/// `acc += parts[0] + parts[1] + ..`, each element summed in that order (exactly as
/// [`add_into`] one part after the other, so the same bits), the elements shared among the
/// threads: merging the groups' sums was serial, and on two threads the second one waited.
pub(crate) fn merge_into<P: Deref<Target = [f32]> + Sync>(acc: &mut [f32], parts: &[P]) {
    // 16 KiB of `acc` per task: each part's slice of it is read once, in cache.
    const CHUNK: usize = 4096;
    acc.par_chunks_mut(CHUNK).enumerate().for_each(|(i, a)| {
        for p in parts {
            add_into(a, &p[i * CHUNK..][..a.len()]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel merge gives the bits of the serial one, on a length that is not a multiple
    /// of its chunk, with values whose sums round differently in another order.
    #[test]
    fn merge_is_add_into_in_order() {
        let n = 3 * 4096 + 123;
        let parts: Vec<Vec<f32>> = (0..7u32)
            .map(|k| {
                (0..n as u32)
                    .map(|i| ((i * 7919 + k * 104_729) % 1000) as f32 * 1e-3 + (k as f32) * 1e4)
                    .collect()
            })
            .collect();
        let mut serial = vec![0.5f32; n];
        for p in &parts {
            add_into(&mut serial, p);
        }
        let mut parallel = vec![0.5f32; n];
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool")
            .install(|| merge_into(&mut parallel, &parts));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&serial), bits(&parallel));
    }
}
