//! The shape of one convolution, shared by every method ([`super::kernel`],
//! [`super::winograd`]).

/// The shape of one convolution: input `[n, c, h, w]`, kernel `[o, c, k, k]`, output
/// `[n, o, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Output size from input size, kernel, stride and the four paddings.
    pub(crate) fn new(
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
            pad_bottom: bottom,
            pad_right: right,
            oh,
            ow,
        }
    }

    pub(super) fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }

    /// The convolution that gives this one's input gradient (stride 1, paddings below `k`):
    /// the output gradient (`o` channels) padded by `k - 1 - pad` on each side, convolved with
    /// flipped kernels into `c` channels of the input's size.
    pub(super) fn input_gradient(&self) -> Geometry {
        let k = self.k;
        let gd = Geometry::new(
            [self.n, self.o, self.oh, self.ow],
            self.c,
            k,
            1,
            [
                k - 1 - self.pad_top,
                k - 1 - self.pad_left,
                k - 1 - self.pad_bottom,
                k - 1 - self.pad_right,
            ],
        );
        debug_assert_eq!((gd.oh, gd.ow), (self.h, self.w));
        gd
    }

    pub(super) fn ohw(&self) -> usize {
        self.oh * self.ow
    }

    pub(super) fn chw(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The input column a kernel tap reads for output column `o`, if inside the image.
    pub(super) fn source(&self, out: usize, tap: usize, pad: usize, size: usize) -> Option<usize> {
        (out * self.stride + tap)
            .checked_sub(pad)
            .filter(|&i| i < size)
    }

    /// Output columns `[lo, hi)` of a row whose input column (for kernel tap `kj`) is inside.
    pub(super) fn valid_cols(&self, kj: usize) -> (usize, usize) {
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
