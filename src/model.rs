//! A layer stack as a burn module, with Keras's initialisers (Glorot-uniform kernels, zero
//! biases) drawn from the run's own RNG, so a run's weights never depend on burn's
//! process-global RNG or on what else runs in the process.

use crate::arch::{self, Activation, Layer, Padding, Shape};
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What each position of the stack does; parameters live in `Network::dense` / `Network::conv`.
#[derive(Debug, Clone)]
pub enum Op {
    Dense(Activation),
    Conv(Activation),
    MaxPool { size: usize, stride: usize },
    AvgPool { size: usize, stride: usize },
    Flatten,
    Dropout(f64),
}

/// A feed-forward network built from a validated layer list.
#[derive(Module, Debug)]
pub struct Network {
    dense: Vec<Linear>,
    conv: Vec<Conv2d>,
    #[module(skip)]
    ops: Vec<Op>,
}

/// Dropout masks for one forward pass, drawn by the caller from the run's RNG.
pub type DropoutMasks = Vec<Tensor<2>>;

impl Network {
    /// Build `layers` for `input` on `device`, drawing initial weights from `rng`.
    ///
    /// `layers` must have passed [`arch::infer`]; panics otherwise.
    pub fn new(layers: &[Layer], input: Shape, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let infos = arch::infer(layers, input).expect("layers were validated");
        let mut dense = Vec::new();
        let mut conv = Vec::new();
        let mut ops = Vec::new();
        for (layer, info) in layers.iter().zip(&infos) {
            match (layer, info.input) {
                (Layer::Dense { units, activation }, Shape::Flat(n)) => {
                    // burn stores a dense kernel as [in, out], like Keras.
                    let w = glorot(rng, [n, *units], n, *units, device);
                    dense.push(Linear {
                        weight: Param::from_tensor(w),
                        bias: Some(Param::from_tensor(Tensor::zeros([*units], device))),
                    });
                    ops.push(Op::Dense(*activation));
                }
                (
                    Layer::Conv2d {
                        filters,
                        kernel,
                        stride,
                        padding,
                        activation,
                    },
                    Shape::Image { c, h, w },
                ) => {
                    let k = *kernel;
                    let weight =
                        glorot(rng, [*filters, c, k, k], k * k * c, k * k * filters, device);
                    let (top, bottom, left, right) = match padding {
                        Padding::Valid => (0, 0, 0, 0),
                        Padding::Same => {
                            let (_, t, b) = arch::conv_out(h, k, *stride, Padding::Same);
                            let (_, l, r) = arch::conv_out(w, k, *stride, Padding::Same);
                            (t, b, l, r)
                        }
                    };
                    conv.push(Conv2d {
                        weight: Param::from_tensor(weight),
                        bias: Some(Param::from_tensor(Tensor::zeros([*filters], device))),
                        stride: [*stride, *stride],
                        kernel_size: [k, k],
                        dilation: [1, 1],
                        groups: 1,
                        padding: PaddingConfig2d::Explicit(top, left, bottom, right),
                    });
                    ops.push(Op::Conv(*activation));
                }
                (Layer::MaxPool { size, stride }, _) => ops.push(Op::MaxPool {
                    size: *size,
                    stride: stride.unwrap_or(*size),
                }),
                (Layer::AvgPool { size, stride }, _) => ops.push(Op::AvgPool {
                    size: *size,
                    stride: stride.unwrap_or(*size),
                }),
                (Layer::Flatten, _) => ops.push(Op::Flatten),
                (Layer::Dropout { rate }, _) => ops.push(Op::Dropout(*rate)),
                _ => unreachable!("shape inference accepted an impossible layer"),
            }
        }
        Network { dense, conv, ops }
    }

    /// Shapes of the dropout masks a training forward pass needs, for `batch` examples.
    pub fn dropout_shapes(&self, batch: usize) -> Vec<(usize, usize, f64)> {
        let mut width = 0;
        let mut out = Vec::new();
        let mut d = 0;
        for op in &self.ops {
            match op {
                Op::Dense(_) => {
                    width = self.dense[d].weight.dims()[1];
                    d += 1;
                }
                Op::Dropout(rate) => out.push((batch, width, *rate)),
                _ => {}
            }
        }
        out
    }

    /// Forward pass to logits (the output softmax is fused into the loss).
    ///
    /// `masks`: one inverted-dropout mask per dropout layer when training; `None` at evaluation,
    /// where dropout is the identity.
    pub fn forward(&self, images: Tensor<4>, masks: Option<&DropoutMasks>) -> Tensor<2> {
        enum X {
            Img(Tensor<4>),
            Flat(Tensor<2>),
        }
        let fast = fast_conv() && crate::conv::supported(&images.device());
        let mut x = X::Img(images); // [batch, 1, 28, 28]
        let (mut d, mut c, mut m) = (0, 0, 0);
        let last = self.ops.len() - 1;
        for (i, op) in self.ops.iter().enumerate() {
            x = match (op, x) {
                (Op::Dense(act), X::Flat(t)) => {
                    let y = self.dense[d].forward(t); // [batch, units]
                    d += 1;
                    X::Flat(if i == last { y } else { activate(y, *act) })
                }
                (Op::Conv(act), X::Img(t)) => {
                    let layer = &self.conv[c];
                    c += 1;
                    // [batch, filters, h', w']
                    match (fast, act, &layer.padding, &layer.bias) {
                        (
                            true,
                            Activation::Relu | Activation::Linear,
                            PaddingConfig2d::Explicit(top, left, bottom, right),
                            Some(bias),
                        ) => X::Img(crate::conv::conv2d(
                            t,
                            layer.weight.val(),
                            bias.val(),
                            layer.stride[0],
                            [*top, *left, *bottom, *right],
                            *act == Activation::Relu,
                        )),
                        _ => X::Img(activate(layer.forward(t), *act)),
                    }
                }
                (Op::MaxPool { size, stride }, X::Img(t)) if fast => {
                    X::Img(crate::conv::max_pool2d(t, *size, *stride))
                }
                (Op::MaxPool { size, stride }, X::Img(t)) => X::Img(max_pool2d(
                    t,
                    MaxPoolOptions::new([*size, *size]).with_stride([*stride, *stride]),
                )),
                (Op::AvgPool { size, stride }, X::Img(t)) if fast => {
                    X::Img(crate::conv::avg_pool2d(t, *size, *stride))
                }
                (Op::AvgPool { size, stride }, X::Img(t)) => X::Img(avg_pool2d(
                    t,
                    AvgPoolOptions::new([*size, *size]).with_stride([*stride, *stride]),
                )),
                (Op::Flatten, X::Img(t)) => X::Flat(t.flatten(1, 3)), // [batch, c*h*w]
                (Op::Flatten, flat @ X::Flat(_)) => flat,
                (Op::Dropout(_), X::Flat(t)) => {
                    let y = match masks {
                        Some(masks) => t * masks[m].clone(),
                        None => t,
                    };
                    m += 1;
                    X::Flat(y)
                }
                (Op::Dropout(_), X::Img(t)) => {
                    // Dropout on feature maps: only at evaluation (training masks are 2-D).
                    assert!(
                        masks.is_none(),
                        "dropout on feature maps is not supported in training"
                    );
                    X::Img(t)
                }
                _ => unreachable!("shape inference accepted an impossible layer"),
            };
        }
        match x {
            X::Flat(t) => t,
            X::Img(t) => t.flatten(1, 3),
        }
    }
}

/// Whether convolutions use our kernels ([`crate::conv`]) where the device allows: yes unless
/// `SWEEP_CONV=burn` asks for burn's own `Conv2d` (for comparisons).
pub fn fast_conv() -> bool {
    static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAST.get_or_init(|| std::env::var("SWEEP_CONV").map_or(true, |v| v != "burn"))
}

fn activate<const D: usize>(t: Tensor<D>, act: Activation) -> Tensor<D> {
    match act {
        Activation::Linear | Activation::Softmax => t,
        Activation::Relu => relu(t),
        Activation::Sigmoid => sigmoid(t),
        Activation::Tanh => tanh(t),
    }
}

/// Keras's `glorot_uniform`: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).
fn glorot<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    fan_in: usize,
    fan_out: usize,
    device: &Device,
) -> Tensor<D> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-limit..limit)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// An inverted-dropout mask: each entry 0 with probability `rate`, else 1 / (1 - rate).
pub fn dropout_mask(
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
    rate: f64,
    device: &Device,
) -> Tensor<2> {
    let keep = 1.0 - rate;
    let scale = (1.0 / keep) as f32;
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| {
            if rng.random::<f64>() < keep {
                scale
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}
