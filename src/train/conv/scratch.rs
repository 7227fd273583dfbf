//! Scratch buffers that live from one kernel call to the next, one small pool per thread.
//!
//! The kernels' working buffers (transformed tiles, GEMM outputs, padded images) are large
//! (up to a few MiB per layer and batch) and were allocated zeroed on every call: zeroing them
//! took about 10% of a training step on the paper's Enhanced CNN (`perf`, Zen 3). A buffer from
//! [`take`] keeps whatever its last user left, so it is only for buffers whose every element
//! read is first written; [`zeroed`] is for the rest (padding borders that must read as zero).
//! Either way the bits a kernel computes do not depend on the pool. A kernel's output, which
//! leaves the kernel, is allocated by [`written`], without zeroing, when the kernel writes all
//! of it.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};

/// Buffers a thread keeps between calls; more are freed when returned.
const KEEP: usize = 32;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// `len` floats from this thread's pool, given back to it when dropped.
pub(super) struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

/// A buffer of `len` floats with unspecified contents (those of an earlier call): the caller
/// must write every element it reads. Debug builds (and so the tests) fill it with NaN, so
/// that a read before a write shows in the results.
pub(super) fn take(len: usize) -> Scratch {
    if len == 0 {
        return Scratch {
            buf: Vec::new(),
            len,
        };
    }
    let mut buf = POOL
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            // The smallest buffer that fits, else the largest (grown below).
            let fit = (0..pool.len())
                .filter(|&i| pool[i].len() >= len)
                .min_by_key(|&i| pool[i].len())
                .or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].len()));
            fit.map(|i| pool.swap_remove(i))
        })
        .ok()
        .flatten()
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    if cfg!(debug_assertions) {
        buf[..len].fill(f32::NAN);
    }
    Scratch { buf, len }
}

/// A buffer of `len` zeros.
pub(super) fn zeroed(len: usize) -> Scratch {
    let mut s = take(len);
    s.fill(0.0);
    s
}

/// What debug builds fill [`written`]'s vector with first: a NaN no arithmetic produces.
const SENTINEL: u32 = 0x7fc0_5eed;

/// A vector of `len` floats, every one of which `fill` writes: it gets them uninitialised,
/// so they are never zeroed first. Debug builds (and so the tests) hold `fill` to that: they
/// start from a sentinel NaN and panic if one is left.
///
/// # Safety
/// `fill` must initialise all `len` elements unless it panics; release builds do not check.
#[allow(unsafe_code)]
pub(super) unsafe fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut v.spare_capacity_mut()[..len];
    if cfg!(debug_assertions) {
        spare.fill(MaybeUninit::new(f32::from_bits(SENTINEL)));
    }
    fill(spare);
    // SAFETY: `fill` initialised the first `len` elements (its contract, checked below in
    // debug builds), and the capacity is at least `len`.
    unsafe { v.set_len(len) };
    debug_assert!(
        v.iter().all(|x| x.to_bits() != SENTINEL),
        "scratch::written: an element was left unwritten"
    );
    v
}

/// `part` with every element set to `value`: a chunk of [`written`]'s vector, initialised by
/// the thread that then works on it (the whole vector zeroed up front was a serial `memset`
/// of megabytes before each pooling and first-layer pass, then read back from memory).
pub(super) fn init(part: &mut [MaybeUninit<f32>], value: f32) -> &mut [f32] {
    part.fill(MaybeUninit::new(value));
    // SAFETY: every element was just initialised, and `MaybeUninit<f32>` has `f32`'s layout.
    #[allow(unsafe_code)]
    unsafe {
        &mut *(std::ptr::from_mut(part) as *mut [f32])
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() == 0 {
            return;
        }
        // At thread exit the pool may already be gone; the buffer is then simply freed.
        let _ = POOL.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < KEEP {
                pool.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_with_their_length_and_zeroed_means_zero() {
        let at = {
            let mut a = take(1000);
            a.fill(7.0);
            a.as_ptr()
        };
        // The same thread gets the same buffer back, cut to the length asked for (and, in
        // debug builds, poisoned with NaN).
        let b = take(10);
        assert_eq!(b.len(), 10);
        assert_eq!(b.as_ptr(), at, "reused, not reallocated");
        if cfg!(debug_assertions) {
            assert!(b.iter().all(|v| v.is_nan()));
        }
        drop(b);
        assert!(take(0).is_empty());
        let z = zeroed(500);
        assert_eq!(z.len(), 500);
        assert!(z.iter().all(|&v| v == 0.0));
        // Two at once are distinct buffers; growing past every pooled one works.
        let (mut x, mut y) = (take(100), take(5000));
        x.fill(1.0);
        y.fill(2.0);
        assert!(x.iter().all(|&v| v == 1.0) && y.iter().all(|&v| v == 2.0));
    }

    #[test]
    fn written_returns_what_was_written_and_debug_builds_catch_a_gap() {
        // SAFETY: the closure writes all five.
        #[allow(unsafe_code)]
        let v = unsafe {
            written(5, |s| {
                for (i, x) in s.iter_mut().enumerate() {
                    x.write(i as f32);
                }
            })
        };
        assert_eq!(v, [0.0, 1.0, 2.0, 3.0, 4.0]);
        if cfg!(debug_assertions) {
            // SAFETY: not sound in a release build, which this branch never is.
            #[allow(unsafe_code)]
            let gap = std::panic::catch_unwind(|| unsafe {
                written(3, |s| {
                    s[0].write(1.0);
                })
            });
            assert!(gap.is_err(), "two elements were never written");
        }
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let many: Vec<Scratch> = (0..3 * KEEP).map(|_| take(16)).collect();
        drop(many);
        POOL.with(|p| assert!(p.borrow().len() <= KEEP));
    }
}
