//! A layer stack as a burn module, with Keras's initialisers (Glorot-uniform kernels, zero
//! biases) drawn from the run's own RNG, so a run's weights never depend on burn's
//! process-global RNG or on what else runs in the process.

use crate::results::weights;
use crate::spec::arch::{self, Activation, Layer, Padding, Shape};
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
pub(crate) enum Op {
    Dense(Activation),
    Conv(Activation),
    MaxPool {
        size: usize,
        stride: usize,
    },
    AvgPool {
        size: usize,
        stride: usize,
    },
    Flatten,
    GlobalAvgPool,
    /// Inverted dropout at `rate` over `features` values per example (the layer's input shape
    /// as [`arch::infer`] worked it out: a dense width or a whole feature map).
    Dropout {
        rate: f64,
        features: usize,
    },
}

/// A feed-forward network built from a validated layer list.
#[derive(Module, Debug)]
pub(crate) struct Network {
    dense: Vec<Linear>,
    conv: Vec<Conv2d>,
    #[module(skip)]
    ops: Vec<Op>,
    /// Tabular data: the input is a vector of features (given as [batch, features, 1, 1]).
    #[module(skip)]
    flat_input: bool,
}

/// Dropout masks for one forward pass, drawn by the caller from the run's RNG.
pub(crate) type DropoutMasks = Vec<Tensor<2>>;

impl Network {
    /// Build `layers` for `input` on `device`, drawing initial weights from `rng`.
    ///
    /// `layers` must have passed [`arch::infer`]; panics otherwise.
    pub(crate) fn new(
        layers: &[Layer],
        input: Shape,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Self {
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
                (Layer::GlobalAvgPool, _) => ops.push(Op::GlobalAvgPool),
                (Layer::Dropout { rate }, input) => ops.push(Op::Dropout {
                    rate: *rate,
                    features: input.numel(),
                }),
                _ => unreachable!("shape inference accepted an impossible layer"),
            }
        }
        Network {
            dense,
            conv,
            ops,
            flat_input: matches!(input, Shape::Flat(_)),
        }
    }

    /// The trained parameters, named after `layers` (the list this network was built from) as
    /// [`weights::tensor_name`] says: `layers.<i>.weight` and `layers.<i>.bias`.
    pub(crate) fn parameters(&self, layers: &[Layer]) -> Vec<weights::Named> {
        fn named<const D: usize>(name: String, t: Tensor<D>) -> weights::Named {
            let shape = t.dims().to_vec();
            let values = t
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 values");
            weights::Named {
                name,
                shape,
                values,
            }
        }
        let (mut d, mut c) = (self.dense.iter(), self.conv.iter());
        let mut out = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let (w, b) = match layer {
                Layer::Dense { .. } => {
                    let l = d.next().expect("one Linear per dense layer");
                    out.push(named(weights::tensor_name(i, "weight"), l.weight.val()));
                    (i, l.bias.as_ref().map(|b| b.val()))
                }
                Layer::Conv2d { .. } => {
                    let l = c.next().expect("one Conv2d per conv layer");
                    out.push(named(weights::tensor_name(i, "weight"), l.weight.val()));
                    (i, l.bias.as_ref().map(|b| b.val()))
                }
                _ => continue,
            };
            if let Some(b) = b {
                out.push(named(weights::tensor_name(w, "bias"), b));
            }
        }
        out
    }

    /// This network with its parameters replaced by `tensors` (as [`Network::parameters`]
    /// names them); every parameter must be given, with the shape it has here.
    pub(crate) fn with_parameters(
        mut self,
        layers: &[Layer],
        tensors: &[weights::Named],
        device: &Device,
    ) -> Result<Self, String> {
        let by_name: std::collections::HashMap<&str, &weights::Named> =
            tensors.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut used = 0;
        let mut take = |name: String, want: &[usize]| -> Result<TensorData, String> {
            let t = by_name
                .get(name.as_str())
                .ok_or_else(|| format!("no tensor `{name}`"))?;
            if t.shape != want {
                return Err(format!(
                    "tensor `{name}` has shape {:?}; the layers need {want:?}",
                    t.shape
                ));
            }
            used += 1;
            Ok(TensorData::new(t.values.clone(), t.shape.clone()))
        };
        let (mut d, mut c) = (0, 0);
        for (i, layer) in layers.iter().enumerate() {
            match layer {
                Layer::Dense { .. } => {
                    let l = &mut self.dense[d];
                    d += 1;
                    let w = take(weights::tensor_name(i, "weight"), &l.weight.val().dims())?;
                    l.weight = Param::from_tensor(Tensor::from_data(w, device));
                    if let Some(b) = &l.bias {
                        let v = take(weights::tensor_name(i, "bias"), &b.val().dims())?;
                        l.bias = Some(Param::from_tensor(Tensor::from_data(v, device)));
                    }
                }
                Layer::Conv2d { .. } => {
                    let l = &mut self.conv[c];
                    c += 1;
                    let w = take(weights::tensor_name(i, "weight"), &l.weight.val().dims())?;
                    l.weight = Param::from_tensor(Tensor::from_data(w, device));
                    if let Some(b) = &l.bias {
                        let v = take(weights::tensor_name(i, "bias"), &b.val().dims())?;
                        l.bias = Some(Param::from_tensor(Tensor::from_data(v, device)));
                    }
                }
                _ => {}
            }
        }
        if used != tensors.len() {
            return Err(format!(
                "{} tensors given, {used} used: the file is not for these layers",
                tensors.len()
            ));
        }
        Ok(self)
    }

    /// Shapes of the dropout masks a training forward pass needs, for `batch` examples:
    /// `(batch, features, rate)` per dropout layer, from the shapes [`arch::infer`] computed.
    pub(crate) fn dropout_shapes(&self, batch: usize) -> Vec<(usize, usize, f64)> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Dropout { rate, features } => Some((batch, *features, *rate)),
                _ => None,
            })
            .collect()
    }

    /// Forward pass to logits (the output softmax is fused into the loss).
    ///
    /// `masks`: one inverted-dropout mask per dropout layer when training; `None` at evaluation,
    /// where dropout is the identity.
    pub(crate) fn forward(&self, images: Tensor<4>, masks: Option<&DropoutMasks>) -> Tensor<2> {
        enum X {
            Img(Tensor<4>),
            Flat(Tensor<2>),
        }
        let fast = fast_conv() && crate::train::conv::supported(&images.device());
        // [batch, c, h, w], or [batch, features, 1, 1] for tabular data
        let mut x = if self.flat_input {
            X::Flat(images.flatten(1, 3))
        } else {
            X::Img(images)
        };
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
                        ) => X::Img(crate::train::conv::conv2d(
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
                    X::Img(crate::train::conv::max_pool2d(t, *size, *stride))
                }
                (Op::MaxPool { size, stride }, X::Img(t)) => X::Img(max_pool2d(
                    t,
                    MaxPoolOptions::new([*size, *size]).with_stride([*stride, *stride]),
                )),
                (Op::AvgPool { size, stride }, X::Img(t)) if fast => {
                    X::Img(crate::train::conv::avg_pool2d(t, *size, *stride))
                }
                (Op::AvgPool { size, stride }, X::Img(t)) => X::Img(avg_pool2d(
                    t,
                    AvgPoolOptions::new([*size, *size]).with_stride([*stride, *stride]),
                )),
                (Op::Flatten, X::Img(t)) => X::Flat(t.flatten(1, 3)), // [batch, c*h*w]
                (Op::Flatten, flat @ X::Flat(_)) => flat,
                // [batch, c, h, w] -> [batch, c]: the mean over each channel's map.
                (Op::GlobalAvgPool, X::Img(t)) => {
                    X::Flat(t.flatten::<3>(2, 3).mean_dim(2).flatten(1, 2))
                }
                (Op::Dropout { .. }, X::Flat(t)) => {
                    let y = match masks {
                        Some(masks) => t * masks[m].clone(), // [batch, features]
                        None => t,
                    };
                    m += 1;
                    X::Flat(y)
                }
                (Op::Dropout { .. }, X::Img(t)) => {
                    // A mask per value of the feature map: [batch, c·h·w] as [batch, c, h, w].
                    let y = match masks {
                        Some(masks) => {
                            let mask = masks[m].clone().reshape(t.dims());
                            t * mask
                        }
                        None => t,
                    };
                    m += 1;
                    X::Img(y)
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

/// Whether convolutions use our kernels ([`crate::train::conv`]) where the device allows: yes unless
/// `SWEEP_CONV=burn` asks for burn's own `Conv2d` (for comparisons).
pub(crate) fn fast_conv() -> bool {
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
pub(crate) fn dropout_mask(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::arch::Shape;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::Int;
    use rand::SeedableRng;

    /// A random layer stack over a 28x28 image: feature-map layers (conv with either padding,
    /// strides 1-2, several activations; max and average pooling; dropout), then maybe flatten,
    /// dropout and dense layers, ending in 10 units.
    fn random_stack(rng: &mut ChaCha8Rng) -> Vec<Layer> {
        let act = |rng: &mut ChaCha8Rng| {
            [
                Activation::Relu,
                Activation::Linear,
                Activation::Tanh,
                Activation::Sigmoid,
            ][rng.random_range(0..4)]
        };
        let mut layers = Vec::new();
        for _ in 0..rng.random_range(0..5) {
            layers.push(match rng.random_range(0..5) {
                0 | 1 => Layer::Conv2d {
                    filters: rng.random_range(1..20),
                    kernel: rng.random_range(1..6),
                    stride: rng.random_range(1..3),
                    padding: if rng.random() {
                        Padding::Same
                    } else {
                        Padding::Valid
                    },
                    activation: act(rng),
                },
                2 => Layer::MaxPool {
                    size: rng.random_range(1..4),
                    stride: rng.random::<bool>().then(|| rng.random_range(1..4)),
                },
                3 => Layer::AvgPool {
                    size: rng.random_range(1..4),
                    stride: None,
                },
                _ => Layer::Dropout {
                    rate: rng.random_range(0.0..0.9),
                },
            });
        }
        if rng.random_range(0..4) == 0 {
            layers.push(Layer::GlobalAvgPool);
        } else if rng.random() {
            layers.push(Layer::Flatten);
        }
        for _ in 0..rng.random_range(0..3) {
            if rng.random() {
                layers.push(Layer::Dropout { rate: 0.3 });
            } else {
                layers.push(Layer::Dense {
                    units: rng.random_range(1..40),
                    activation: act(rng),
                });
            }
        }
        if !layers.contains(&Layer::Flatten) && !layers.contains(&Layer::GlobalAvgPool) {
            layers.push(Layer::Flatten);
        }
        layers.push(Layer::Dense {
            units: 10,
            activation: Activation::Softmax,
        });
        layers
    }

    /// Global average pooling is the mean of each channel's map.
    #[test]
    fn global_avg_pool_is_the_mean_of_each_channel() {
        let device = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let input = Shape::Image { c: 3, h: 2, w: 2 };
        let net = Network::new(&[Layer::GlobalAvgPool], input, &mut rng, &device);
        let x: Vec<f32> = (0..2 * 12).map(|i| i as f32).collect();
        let y = net.forward(
            Tensor::from_data(TensorData::new(x, [2, 3, 2, 2]), &device),
            None,
        );
        let got: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, [1.5, 5.5, 9.5, 13.5, 17.5, 21.5]);
    }

    /// Every stack that shape inference accepts builds and trains a batch (forward with dropout
    /// masks, loss, backward, an optimizer step) without a panic, and evaluates.
    #[test]
    fn every_stack_validation_accepts_trains_a_batch() {
        let device = Device::flex().autodiff();
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let input = Shape::Image { c: 1, h: 28, w: 28 };
        let (mut accepted, mut dropout_on_maps) = (0, 0);
        for case in 0..200 {
            let layers = random_stack(&mut rng);
            let Ok(infos) = arch::infer(&layers, input) else {
                continue;
            };
            if infos.last().map(|i| i.output) != Some(Shape::Flat(10)) {
                continue;
            }
            accepted += 1;
            dropout_on_maps += layers
                .iter()
                .zip(&infos)
                .filter(|(l, i)| {
                    matches!(l, Layer::Dropout { .. }) && matches!(i.input, Shape::Image { .. })
                })
                .count();
            let net = Network::new(&layers, input, &mut rng, &device);
            let batch = 3;
            let masks: Vec<_> = net
                .dropout_shapes(batch)
                .into_iter()
                .map(|(rows, cols, rate)| dropout_mask(&mut rng, rows, cols, rate, &device))
                .collect();
            let pixels: Vec<f32> = (0..batch * 784).map(|_| rng.random()).collect();
            let image_data = TensorData::new(pixels, [batch, 1, 28, 28]);
            let images = Tensor::<4>::from_data(image_data.clone(), &device);
            let labels =
                Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7, 3], [batch]), &device);
            let logits = net.forward(images, Some(&masks));
            assert_eq!(logits.dims(), [batch, 10], "case {case}: {layers:?}");
            let loss = CrossEntropyLossConfig::new()
                .init(&device)
                .forward(logits, labels);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let mut opt = AdamConfig::new().init();
            let net = opt.step(1e-3, net, grads);
            let plain = device.clone().without_autodiff();
            let eval = net
                .valid()
                .forward(Tensor::<4>::from_data(image_data, &plain), None);
            assert_eq!(eval.dims(), [batch, 10], "case {case}: {layers:?}");
        }
        assert!(accepted >= 40, "only {accepted} stacks accepted");
        assert!(
            dropout_on_maps >= 5,
            "only {dropout_on_maps} dropouts on feature maps"
        );
    }
}
