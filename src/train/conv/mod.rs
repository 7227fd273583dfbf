//! Fast 2-D convolution (+ bias + optional ReLU), max pooling and average pooling for burn's
//! flex CPU backend, plugged in through burn's backend-extension mechanism: a `FastConv`
//! extension trait implemented for `Flex` (forward kernels) and for `Autodiff<Flex>` (tracked
//! ops whose backward passes run our kernels).
//!
//! - [`kernel`]: the convolution entry points and the choice of method ([`kernel::Method`]):
//!   Winograd, implicit GEMM or im2col + the `gemm` crate; the pooling kernels.
//! - [`winograd`]: Winograd F(4x4, 3x3) and F(2x2, 3x3) for 3x3 stride-1 layers (forward,
//!   input gradient, kernel gradient).
//! - [`simd`]: the GEMM kernel over row-offset tables the first two build on, with an AVX-512,
//!   an AVX2 + FMA and a portable register tile.
//! - [`dense`]: dense layers with their bias and ReLU, by the `gemm` crate.
//! - [`norm`]: batch normalization in training, fused (statistics, normalization with ReLU,
//!   backward).
//! - [`isa`]: which of those paths runs (the best the CPU has, or `SWEEP_ISA`), and
//!   `per_isa!`, which compiles the per-image work once per path.
//!
//! Why: burn 0.22.1's flex convolution converts layouts (NCHW ↔ NHWC) around every call and
//! computes the input gradient as a transposed convolution; on the paper's CNNs it trained
//! 2.8-3.5x slower than these kernels, and slower than Keras. See docs/benchmarks.md.
//!
//! Other devices (CUDA) keep burn's own `Conv2d` and pooling: [`supported`] says which path a
//! device takes.

pub(crate) mod adam;
mod dense;
pub(crate) mod geometry;
pub(crate) mod isa;
pub(crate) mod kernel;
mod norm;
mod scratch;
pub(crate) mod simd;
mod sums;
mod transpose;
pub(crate) mod winograd;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::tensor::{Device, Tensor, TensorData};
use kernel::Geometry;

#[backend_extension(Flex, Autodiff)]
pub(crate) trait FastConv: Backend {
    /// `act(conv2d(x, weight) + bias)` in NCHW; `pads` = (top, left, bottom, right).
    #[allow(clippy::too_many_arguments)]
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// `act(x · weight + bias)` for `x` `[rows, in]` and `weight` `[in, out]`, with ReLU if
    /// `relu` (else none).
    fn fast_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Max pooling without padding, `size x size` windows every `stride`.
    fn fast_max_pool2d(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self>;

    /// Average pooling without padding, `size x size` windows every `stride`.
    fn fast_avg_pool2d(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self>;

    /// The batch's mean and biased variance per channel of `x` (`[n, c, ...]`), as `[2, c]`;
    /// never tracked (the gradient through them is [`FastConv::fast_batch_norm`]'s).
    fn fast_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Batch normalization of `x` with the batch's own `stats` (from
    /// [`FastConv::fast_batch_stats`]), `gamma` and `beta`, then ReLU if `relu`.
    fn fast_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// One Adam step ([`adam`]) of the parameter `p` with gradient `g` and moments `m`, `v`
    /// (not read on the first step): `[p', m', v']` as one `[3, len]` tensor.
    #[allow(clippy::too_many_arguments)]
    fn fast_adam(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        beta1: f32,
        beta2: f32,
        cf: f32,
        eps_bc2: f32,
        lr: f32,
        first: bool,
    ) -> FloatTensor<Self>;
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, pads: [usize; 4]) -> Geometry {
    let xs = x.shape();
    let ws = weight.shape();
    assert_eq!(
        ws[1], xs[1],
        "fast_conv2d: kernel channels differ from input channels"
    );
    assert_eq!(ws[2], ws[3], "fast_conv2d: square kernels only");
    Geometry::new([xs[0], xs[1], xs[2], xs[3]], ws[0], ws[2], stride, pads)
}

/// The tensor's f32 values, contiguous (copied only when they are not).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn flex_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    pads: [usize; 4],
    relu: bool,
) -> FlexTensor {
    let g = geometry(x, weight, stride, pads);
    let y = kernel::forward(&g, &values(x), &values(weight), &values(bias), relu);
    tensor(y, [g.n, g.o, g.oh, g.ow])
}

impl FastConv for Flex {
    fn fast_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        relu: bool,
    ) -> FlexTensor {
        let pads = [pad_top, pad_left, pad_bottom, pad_right];
        flex_forward(&x, &weight, &bias, stride, pads, relu)
    }

    fn fast_dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        flex_dense(&x, &weight, &bias, relu)
    }

    fn fast_max_pool2d(x: FlexTensor, size: usize, stride: usize) -> FlexTensor {
        flex_max_pool(&x, size, stride).0
    }

    fn fast_avg_pool2d(x: FlexTensor, size: usize, stride: usize) -> FlexTensor {
        flex_avg_pool(&x, size, stride).0
    }

    fn fast_batch_stats(x: FlexTensor) -> FlexTensor {
        let d = norm_dims(&x);
        let (mean, var) = norm::stats(d, &values(&x));
        tensor([mean, var].concat(), [2, d.c])
    }

    fn fast_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        flex_batch_norm(&x, &gamma, &beta, &stats, epsilon, relu).0
    }

    fn fast_adam(
        p: FlexTensor,
        g: FlexTensor,
        m: FlexTensor,
        v: FlexTensor,
        beta1: f32,
        beta2: f32,
        cf: f32,
        eps_bc2: f32,
        lr: f32,
        first: bool,
    ) -> FlexTensor {
        let step = adam::Step {
            beta1,
            beta2,
            cf,
            eps_bc2,
            lr,
            first,
        };
        let n = p.shape().num_elements();
        let out = adam::step(step, &values(&p), &values(&g), &values(&m), &values(&v));
        tensor(out, [3, n])
    }
}

/// `[rows, in]` and `[in, out]` as [`dense::Dims`].
fn dense_dims(x: &FlexTensor, weight: &FlexTensor) -> dense::Dims {
    let (xs, ws) = (x.shape(), weight.shape());
    assert_eq!(
        xs[1], ws[0],
        "fast_dense: input features differ from the kernel's"
    );
    dense::Dims {
        rows: xs[0],
        inp: ws[0],
        out: ws[1],
    }
}

fn flex_dense(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor, relu: bool) -> FlexTensor {
    let d = dense_dims(x, weight);
    let y = dense::forward(d, &values(x), &values(weight), &values(bias), relu);
    tensor(y, [d.rows, d.out])
}

/// What a dense layer's backward pass needs: its input, kernel and output (the ReLU mask).
#[derive(Debug, Clone)]
struct DenseState {
    x: FlexTensor,
    weight: FlexTensor,
    y: FlexTensor,
    relu: bool,
}

#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 3> for DenseBackward {
    type State = DenseState;

    fn backward(self, ops: Ops<DenseState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let d = dense_dims(&s.x, &s.weight);
        let (dx, dw, db) = dense::backward(
            d,
            &values(&s.x),
            &values(&s.weight),
            &values(&s.y),
            &values(&dy),
            s.relu,
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, [d.rows, d.inp]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(dw, [d.inp, d.out]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(db, [d.out]));
        }
    }
}

/// `[n, c, ...]` as [`norm::Dims`].
fn norm_dims(x: &FlexTensor) -> norm::Dims {
    let s = x.shape();
    norm::Dims {
        n: s[0],
        c: s[1],
        s: s.iter().skip(2).product(),
    }
}

/// Batch normalization on flex: the output and what its backward pass needs.
fn flex_batch_norm(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    stats: &FlexTensor,
    epsilon: f64,
    relu: bool,
) -> (FlexTensor, NormState) {
    let d = norm_dims(x);
    let stats = values(stats);
    let (mean, var) = stats.split_at(d.c);
    let inv = norm::inv_std(var, epsilon);
    let gamma = values(gamma).into_owned();
    let y = norm::forward(d, &values(x), [mean, &inv, &gamma, &values(beta)], relu);
    let y = FlexTensor::from_data(TensorData::new(y, x.shape()));
    let state = NormState {
        x: x.clone(),
        y: y.clone(),
        mean: mean.to_vec(),
        inv,
        gamma,
        relu,
    };
    (y, state)
}

/// What batch normalization's backward pass needs.
#[derive(Debug, Clone)]
struct NormState {
    x: FlexTensor,
    y: FlexTensor,
    mean: Vec<f32>,
    inv: Vec<f32>,
    gamma: Vec<f32>,
    relu: bool,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let d = norm_dims(&s.x);
        let (x, y) = (values(&s.x), values(&s.y));
        let saved = norm::Saved {
            x: &x,
            y: &y,
            mean: &s.mean,
            inv: &s.inv,
            gamma: &s.gamma,
            relu: s.relu,
        };
        let (dx, dgamma, dbeta) = norm::backward(d, &saved, &values(&dy));
        if let Some(node) = node_x {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, s.x.shape())),
            );
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, [d.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, [d.c]));
        }
    }
}

/// Average pooling on flex: the output and what its backward pass needs.
fn flex_avg_pool(x: &FlexTensor, size: usize, stride: usize) -> (FlexTensor, AvgPoolState) {
    let s = x.shape();
    let dims = [s[0], s[1], s[2], s[3]];
    let (y, [oh, ow]) = kernel::avg_pool_forward(dims, size, stride, &values(x));
    let state = AvgPoolState {
        dims,
        out: [oh, ow],
        size,
        stride,
    };
    (tensor(y, [dims[0], dims[1], oh, ow]), state)
}

/// What average pooling's backward pass needs: the shapes and the window.
#[derive(Debug, Clone)]
struct AvgPoolState {
    dims: [usize; 4],
    out: [usize; 2],
    size: usize,
    stride: usize,
}

#[derive(Debug)]
struct AvgPoolBackward;

impl Backward<Flex, 1> for AvgPoolBackward {
    type State = AvgPoolState;

    fn backward(self, ops: Ops<AvgPoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let s = ops.state;
        let dx = kernel::avg_pool_backward(s.dims, s.size, s.stride, s.out, &values(&dy));
        grads.register::<Flex>(node.id, tensor(dx, s.dims));
    }
}

/// Max pooling on flex: the output and the argmax indices (for the backward pass).
fn flex_max_pool(x: &FlexTensor, size: usize, stride: usize) -> (FlexTensor, PoolState) {
    let s = x.shape();
    let dims = [s[0], s[1], s[2], s[3]];
    let (y, idx, [oh, ow]) = kernel::max_pool_forward(dims, size, stride, &values(x));
    let state = PoolState {
        dims,
        out: [oh, ow],
        idx: std::sync::Arc::new(idx),
    };
    (tensor(y, [dims[0], dims[1], oh, ow]), state)
}

/// What max pooling's backward pass needs: shapes and where each maximum was.
#[derive(Debug, Clone)]
struct PoolState {
    dims: [usize; 4],
    out: [usize; 2],
    idx: std::sync::Arc<Vec<u32>>,
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let s = ops.state;
        let [n, c, h, w] = s.dims;
        debug_assert_eq!(dy.shape().num_elements(), n * c * s.out[0] * s.out[1]);
        let dx = kernel::max_pool_backward(n * c, h * w, &s.idx, &values(&dy));
        grads.register::<Flex>(node.id, tensor(dx, s.dims));
    }
}

/// What the backward pass needs: the inputs, the output (for the ReLU mask) and the shape.
#[derive(Debug, Clone)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    y: FlexTensor,
    stride: usize,
    pads: [usize; 4],
    relu: bool,
}

#[derive(Debug)]
struct FastConvBackward;

impl Backward<Flex, 3> for FastConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let g = geometry(&s.x, &s.weight, s.stride, s.pads);
        let (dx, dw, db) = kernel::backward(
            &g,
            &values(&s.x),
            &values(&s.weight),
            &values(&s.y),
            &values(&dy),
            s.relu,
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, [g.n, g.c, g.h, g.w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(dw, [g.o, g.c, g.k, g.k]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(db, [g.o]));
        }
    }
}

impl<C: CheckpointStrategy> FastConv for Autodiff<Flex, C> {
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        relu: bool,
    ) -> FloatTensor<Self> {
        let pads = [pad_top, pad_left, pad_bottom, pad_right];
        let (x, nx) = x.into_parts();
        let (weight, nw) = weight.into_parts();
        let (bias, nb) = bias.into_parts();
        match FastConvBackward
            .prepare::<C>([nx, nw, nb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = flex_forward(&x, &weight, &bias, stride, pads, relu);
                let state = ConvState {
                    x,
                    weight,
                    y: y.clone(),
                    stride,
                    pads,
                    relu,
                };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(flex_forward(&x, &weight, &bias, stride, pads, relu))
            }
        }
    }

    fn fast_dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let (x, nx) = x.into_parts();
        let (weight, nw) = weight.into_parts();
        let (bias, nb) = bias.into_parts();
        match DenseBackward
            .prepare::<C>([nx, nw, nb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = flex_dense(&x, &weight, &bias, relu);
                let state = DenseState {
                    x,
                    weight,
                    y: y.clone(),
                    relu,
                };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_dense(&x, &weight, &bias, relu)),
        }
    }

    fn fast_max_pool2d(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self> {
        let (x, nx) = x.into_parts();
        match MaxPoolBackward
            .prepare::<C>([nx])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, state) = flex_max_pool(&x, size, stride);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_max_pool(&x, size, stride).0),
        }
    }

    fn fast_avg_pool2d(x: FloatTensor<Self>, size: usize, stride: usize) -> FloatTensor<Self> {
        let (x, nx) = x.into_parts();
        match AvgPoolBackward
            .prepare::<C>([nx])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, state) = flex_avg_pool(&x, size, stride);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_avg_pool(&x, size, stride).0),
        }
    }

    fn fast_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let stats = <Flex as FastConv>::fast_batch_stats(x.into_primitive());
        <Self as AutodiffBackend>::from_inner(stats)
    }

    fn fast_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        let (x, nx) = x.into_parts();
        let (gamma, ng) = gamma.into_parts();
        let (beta, nb) = beta.into_parts();
        let stats = stats.into_primitive();
        match BatchNormBackward
            .prepare::<C>([nx, ng, nb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, state) = flex_batch_norm(&x, &gamma, &beta, &stats, epsilon, relu);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(flex_batch_norm(&x, &gamma, &beta, &stats, epsilon, relu).0)
            }
        }
    }

    // Optimizers step the inner tensors; on tracked ones the step is not tracked either.
    fn fast_adam(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        beta1: f32,
        beta2: f32,
        cf: f32,
        eps_bc2: f32,
        lr: f32,
        first: bool,
    ) -> FloatTensor<Self> {
        let [p, g, m, v] = [p, g, m, v].map(|t| t.into_primitive());
        let out = <Flex as FastConv>::fast_adam(p, g, m, v, beta1, beta2, cf, eps_bc2, lr, first);
        <Self as AutodiffBackend>::from_inner(out)
    }
}

/// One Adam step with our kernel ([`adam`]): `[p', m', v']` as a `[3, len]` tensor.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_step<const D: usize>(
    p: Tensor<D>,
    g: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: adam::Step,
) -> Tensor<2> {
    assert_eq!(
        step.first,
        moments.is_none(),
        "adam: moments on every step but the first"
    );
    let (m, v) = moments.unwrap_or_else(|| (g.clone(), g.clone()));
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_adam(
        p.into_dispatch(),
        g.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        step.beta1,
        step.beta2,
        step.cf,
        step.eps_bc2,
        step.lr,
        step.first,
    ))
}

/// The batch's mean and biased variance per channel of `x` (`[n, c, ...]`): `[2, c]`, not
/// tracked.
pub(crate) fn batch_stats<const D: usize>(x: Tensor<D>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_batch_stats(x.into_dispatch()))
}

/// Batch normalization with the batch's own `stats` ([`batch_stats`] of `x`), then ReLU if
/// `relu`; differentiated as one operation by our kernels.
pub(crate) fn batch_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    stats: Tensor<2>,
    epsilon: f64,
    relu: bool,
) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        stats.into_dispatch(),
        epsilon,
        relu,
    ))
}

/// `act(x · weight + bias)` ([`dense`]), with ReLU if `relu` (else none).
pub(crate) fn dense_layer(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    relu: bool,
) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_dense(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        relu,
    ))
}

/// Average pooling with our kernel (no padding): `size x size` windows every `stride`.
pub(crate) fn avg_pool2d(x: Tensor<4>, size: usize, stride: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_avg_pool2d(
        x.into_dispatch(),
        size,
        stride,
    ))
}

/// Max pooling with our kernel (no padding): `size x size` windows every `stride`.
pub(crate) fn max_pool2d(x: Tensor<4>, size: usize, stride: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_max_pool2d(
        x.into_dispatch(),
        size,
        stride,
    ))
}

/// Whether [`conv2d`] runs on this device (burn's flex CPU backend, with or without autodiff).
pub(crate) fn supported(device: &Device) -> bool {
    format!("{device:?}").contains("Flex")
}

/// `act(conv2d(x, weight) + bias)` with our kernels; `pads` = (top, left, bottom, right).
pub(crate) fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pads: [usize; 4],
    relu: bool,
) -> Tensor<4> {
    let [t, l, b, r] = pads;
    let out = <Dispatch as FastConv>::fast_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        t,
        l,
        b,
        r,
        relu,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::relu;
    use burn::tensor::ops::ConvOptions;
    use rand::{Rng, SeedableRng};

    fn random(rng: &mut rand_chacha::ChaCha8Rng, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn assert_close(what: &str, a: Tensor<4>, b: Tensor<4>, tol: f32) {
        let a = a.into_data().try_to_vec::<f32>().unwrap();
        let b = b.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(a.len(), b.len(), "{what}: sizes");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: ours {x}, burn {y}"
            );
        }
    }

    /// Forward and all three gradients against burn's own conv2d (+ relu), on random shapes
    /// covering same and valid padding, asymmetric padding, stride 2, 1 and many channels.
    #[test]
    fn parity_with_burns_conv2d_forward_and_gradients() {
        let device = Device::flex().autodiff();
        assert!(supported(&device) && supported(&Device::flex()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut cases = vec![
            // The paper's layers (batch 4 instead of 32).
            ([4, 1, 28, 28], 32, 3, 1, [1, 1, 1, 1], true),
            ([4, 32, 14, 14], 64, 3, 1, [1, 1, 1, 1], true),
            ([4, 1, 28, 28], 32, 3, 1, [0, 0, 0, 0], true),
            ([2, 3, 9, 7], 5, 5, 2, [2, 1, 2, 2], false),
            ([3, 2, 6, 6], 4, 2, 1, [0, 0, 1, 1], true),
            // Winograd with odd output sizes, valid and asymmetric padding.
            ([3, 8, 13, 13], 16, 3, 1, [0, 0, 0, 0], true),
            ([5, 16, 9, 7], 8, 3, 1, [2, 1, 0, 2], false),
        ];
        for _ in 0..6 {
            let k = rng.random_range(1..=4);
            let h = rng.random_range(k..k + 8);
            let w = rng.random_range(k..k + 8);
            let pad = rng.random_range(0..k);
            cases.push((
                [rng.random_range(1..4), rng.random_range(1..6), h, w],
                rng.random_range(1..7),
                k,
                rng.random_range(1..3),
                [pad, pad, pad, pad],
                rng.random::<bool>(),
            ));
        }
        let winograd = cases
            .iter()
            .filter(|(shape, o, k, stride, pads, _)| {
                let g = kernel::Geometry::new(*shape, *o, *k, *stride, *pads);
                kernel::Method::best(&g) == kernel::Method::Winograd
            })
            .count();
        assert!(winograd >= 3, "the Winograd path is exercised");
        for (shape, o, k, stride, pads, act) in cases {
            let what = format!("{shape:?} o={o} k={k} s={stride} pads={pads:?} relu={act}");
            let x = random(&mut rng, shape, &device);
            let w = random(&mut rng, [o, shape[1], k, k], &device);
            let b = random(&mut rng, [1, 1, 1, o], &device).reshape([o]);
            let ours_in = (
                x.clone().require_grad(),
                w.clone().require_grad(),
                b.clone().require_grad(),
            );
            let burn_in = (x.require_grad(), w.require_grad(), b.require_grad());

            let y = conv2d(
                ours_in.0.clone(),
                ours_in.1.clone(),
                ours_in.2.clone(),
                stride,
                pads,
                act,
            );
            // burn pads symmetrically; asymmetric padding is explicit zero-padding first.
            let [t, l, bo, r] = pads;
            let padded = burn_in
                .0
                .clone()
                .pad([(0, 0), (0, 0), (t, bo), (l, r)], 0.0);
            let opts = ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
            let yb = burn::tensor::module::conv2d(
                padded,
                burn_in.1.clone(),
                Some(burn_in.2.clone()),
                opts,
            );
            let yb = if act { relu(yb) } else { yb };
            assert_close(&format!("forward {what}"), y.clone(), yb.clone(), 1e-5);

            // A random linear functional of the output, so every output gradient differs.
            let r = random(&mut rng, yb.dims(), &device);
            let g1 = (y * r.clone()).sum().backward();
            let g2 = (yb * r).sum().backward();
            assert_close(
                &format!("dx {what}"),
                ours_in.0.grad(&g1).unwrap(),
                burn_in.0.grad(&g2).unwrap(),
                1e-5,
            );
            assert_close(
                &format!("dw {what}"),
                ours_in.1.grad(&g1).unwrap(),
                burn_in.1.grad(&g2).unwrap(),
                1e-5,
            );
            let db1 = ours_in.2.grad(&g1).unwrap().reshape([1, 1, 1, o]);
            let db2 = burn_in.2.grad(&g2).unwrap().reshape([1, 1, 1, o]);
            assert_close(&format!("db {what}"), db1, db2, 1e-5);
        }
    }

    /// Dense layers (+ ReLU), forward and all three gradients, bit for bit against burn's
    /// `linear` and `relu`: the same products by the same `gemm` calls, and the bias gradient
    /// summed in the same order. Shapes with more than 512 inputs take `gemm`'s K blocking.
    #[test]
    fn dense_layers_match_burns_linear_bit_for_bit() {
        let device = Device::flex().autodiff();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let flat = |t: Tensor<2>| {
            let n = t.dims().iter().product();
            t.reshape([1, 1, 1, n])
        };
        for (rows, inp, out, act) in [
            (32, 784, 1024, true),
            (32, 3136, 128, true),
            (7, 64, 10, false),
            (3, 5, 17, true),
        ] {
            let what = format!("{rows}x{inp} -> {out} relu={act}");
            let x = random(&mut rng, [1, 1, rows, inp], &device).reshape([rows, inp]);
            let w = random(&mut rng, [1, 1, inp, out], &device).reshape([inp, out]);
            let b = random(&mut rng, [1, 1, 1, out], &device).reshape([out]);
            let ours = (
                x.clone().require_grad(),
                w.clone().require_grad(),
                b.clone().require_grad(),
            );
            let theirs = (x.require_grad(), w.require_grad(), b.require_grad());
            let y = dense_layer(ours.0.clone(), ours.1.clone(), ours.2.clone(), act);
            let yb = burn::tensor::module::linear(
                theirs.0.clone(),
                theirs.1.clone(),
                Some(theirs.2.clone()),
            );
            let yb = if act { relu(yb) } else { yb };
            assert_close(
                &format!("forward {what}"),
                flat(y.clone()),
                flat(yb.clone()),
                0.0,
            );
            let r = random(&mut rng, [1, 1, rows, out], &device).reshape([rows, out]);
            let g1 = (y * r.clone()).sum().backward();
            let g2 = (yb * r).sum().backward();
            assert_close(
                &format!("dx {what}"),
                flat(ours.0.grad(&g1).unwrap()),
                flat(theirs.0.grad(&g2).unwrap()),
                0.0,
            );
            assert_close(
                &format!("dw {what}"),
                flat(ours.1.grad(&g1).unwrap()),
                flat(theirs.1.grad(&g2).unwrap()),
                0.0,
            );
            let db1 = ours.2.grad(&g1).unwrap().reshape([1, 1, 1, out]);
            let db2 = theirs.2.grad(&g2).unwrap().reshape([1, 1, 1, out]);
            assert_close(&format!("db {what}"), db1, db2, 0.0);
        }
    }

    /// Max and average pooling, forward and input gradient, against burn's `max_pool2d` and
    /// `avg_pool2d` (random inputs: no ties), including windows that overlap (stride < size)
    /// and ragged edges.
    #[test]
    fn pooling_parity_with_burn() {
        use burn::tensor::module::max_pool2d as burn_max_pool2d;
        let device = Device::flex().autodiff();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for (shape, size, stride) in [
            ([4, 32, 26, 26], 2, 2),
            ([4, 32, 11, 11], 2, 2),
            ([2, 3, 9, 7], 3, 2),
            ([1, 2, 6, 6], 2, 1),
            ([3, 5, 8, 8], 3, 3),
        ] {
            let what = format!("{shape:?} size={size} stride={stride}");
            let x = random(&mut rng, shape, &device);
            let x_avg = x.clone();
            let (a, b) = (x.clone().require_grad(), x.require_grad());
            let ya = max_pool2d(a.clone(), size, stride);
            let opts =
                burn::tensor::ops::MaxPoolOptions::new([size, size]).with_stride([stride, stride]);
            let yb = burn_max_pool2d(b.clone(), opts);
            assert_close(&format!("forward {what}"), ya.clone(), yb.clone(), 0.0);
            let r = random(&mut rng, yb.dims(), &device);
            let ga = (ya * r.clone()).sum().backward();
            let gb = (yb * r).sum().backward();
            assert_close(
                &format!("dx {what}"),
                a.grad(&ga).unwrap(),
                b.grad(&gb).unwrap(),
                1e-6,
            );

            let (a, b) = (x_avg.clone().require_grad(), x_avg.require_grad());
            let ya = avg_pool2d(a.clone(), size, stride);
            let opts =
                burn::tensor::ops::AvgPoolOptions::new([size, size]).with_stride([stride, stride]);
            let yb = burn::tensor::module::avg_pool2d(b.clone(), opts);
            assert_close(&format!("avg forward {what}"), ya.clone(), yb.clone(), 1e-6);
            let r = random(&mut rng, yb.dims(), &device);
            let ga = (ya * r.clone()).sum().backward();
            let gb = (yb * r).sum().backward();
            assert_close(
                &format!("avg dx {what}"),
                a.grad(&ga).unwrap(),
                b.grad(&gb).unwrap(),
                1e-6,
            );
        }
    }
}
