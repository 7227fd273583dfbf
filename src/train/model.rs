//! A layer stack as a burn module, with Keras's initialisers (Glorot-uniform kernels, zero
//! biases) drawn from the run's own RNG, so a run's weights never depend on burn's
//! process-global RNG or on what else runs in the process.

use crate::results::weights;
use crate::spec::arch::{self, Activation, Layer, Padding, Shape};
use burn::module::RunningState;
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
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
    /// Batch normalization (parameters and moving statistics in `Network::norm`), then the
    /// activation.
    BatchNorm(Activation),
}

/// A feed-forward network built from a validated layer list.
#[derive(Module, Debug)]
pub(crate) struct Network {
    dense: Vec<Linear>,
    conv: Vec<Conv2d>,
    norm: Vec<BatchNorm>,
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
        let mut norm = Vec::new();
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
                (
                    Layer::BatchNorm {
                        momentum,
                        epsilon,
                        activation,
                    },
                    input,
                ) => {
                    let channels = match input {
                        Shape::Image { c, .. } => c,
                        Shape::Flat(n) => n,
                    };
                    // Keras's momentum is the share of the old statistics that stays; burn's,
                    // the share of the batch's that comes in. gamma = 1, beta = 0, moving
                    // mean 0 and variance 1, as Keras starts them.
                    norm.push(
                        BatchNormConfig::new(channels)
                            .with_momentum(1.0 - momentum)
                            .with_epsilon(*epsilon)
                            .init(device),
                    );
                    ops.push(Op::BatchNorm(*activation));
                }
                _ => unreachable!("shape inference accepted an impossible layer"),
            }
        }
        Network {
            dense,
            conv,
            norm,
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
        let mut n = self.norm.iter();
        let mut out = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let (w, b) = match layer {
                Layer::BatchNorm { .. } => {
                    let l = n.next().expect("one BatchNorm per batch_norm layer");
                    for (param, t) in norm_tensors(l) {
                        out.push(named(weights::tensor_name(i, param), t));
                    }
                    continue;
                }
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
        let (mut d, mut c, mut n) = (0, 0, 0);
        for (i, layer) in layers.iter().enumerate() {
            match layer {
                Layer::BatchNorm { .. } => {
                    let l = &mut self.norm[n];
                    n += 1;
                    let dims = l.gamma.val().dims();
                    let mut load = |param: &str| -> Result<Tensor<1>, String> {
                        let v = take(weights::tensor_name(i, param), &dims)?;
                        Ok(Tensor::from_data(v, device))
                    };
                    l.gamma = Param::from_tensor(load("gamma")?);
                    l.beta = Param::from_tensor(load("beta")?);
                    l.running_mean = RunningState::new(load("moving_mean")?);
                    l.running_var = RunningState::new(load("moving_variance")?);
                }
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
        let (mut d, mut c, mut m, mut n) = (0, 0, 0, 0);
        let last = self.ops.len() - 1;
        for (i, op) in self.ops.iter().enumerate() {
            x = match (op, x) {
                (Op::Dense(act), X::Flat(t)) => {
                    let layer = &self.dense[d];
                    d += 1;
                    // The last layer's activation (softmax) is fused into the loss.
                    let act = if i == last { Activation::Linear } else { *act };
                    // [batch, units]
                    X::Flat(match (fast, &layer.bias) {
                        (true, Some(bias)) => {
                            let relu = act == Activation::Relu;
                            let y = crate::train::conv::dense_layer(
                                t,
                                layer.weight.val(),
                                bias.val(),
                                relu,
                            );
                            if relu { y } else { activate(y, act) }
                        }
                        _ => activate(layer.forward(t), act),
                    })
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
                // In training (an autodiff device) the batch's statistics, which also move the
                // kept ones; in evaluation the kept ones.
                (Op::BatchNorm(act), X::Img(t)) => {
                    n += 1;
                    X::Img(normalize(&self.norm[n - 1], t, *act, fast))
                }
                (Op::BatchNorm(act), X::Flat(t)) => {
                    n += 1;
                    X::Flat(normalize(&self.norm[n - 1], t, *act, fast))
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

/// `l` over `t`; in training, its moving statistics are then made current at once. burn keeps
/// a training forward's update aside per thread until something syncs it, and a record (a
/// checkpoint) reads the synced value: synced here, a checkpoint after any step holds the
/// statistics of every step before it.
///
/// In training on the CPU with our kernels (`fast`), the normalization and a ReLU are one fused
/// operation ([`crate::train::conv::batch_norm`]), and the moving statistics move as burn's
/// `BatchNorm` moves them.
fn normalize<const D: usize>(
    l: &BatchNorm,
    t: Tensor<D>,
    act: Activation,
    fast: bool,
) -> Tensor<D> {
    let training = t.device().is_autodiff() && l.training.is_enabled();
    if !(fast && training) {
        let y = l.forward(t);
        l.running_mean.value_sync();
        l.running_var.value_sync();
        return activate(y, act);
    }
    let relu = act == Activation::Relu;
    let stats = crate::train::conv::batch_stats(t.clone().detach());
    let y = crate::train::conv::batch_norm(
        t,
        l.gamma.val(),
        l.beta.val(),
        stats.clone(),
        l.epsilon,
        relu,
    );
    let [mean, var] = [0, 1].map(|i| stats.clone().narrow(0, i, 1).flatten::<1>(0, 1));
    let momentum = l.momentum;
    let moved = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum))
            .detach()
    };
    l.running_mean
        .update(moved(l.running_mean.value_sync(), mean));
    l.running_var.update(moved(l.running_var.value_sync(), var));
    l.running_mean.value_sync();
    l.running_var.value_sync();
    if relu { y } else { activate(y, act) }
}

/// A batch norm layer's tensors under Keras's names: `gamma`, `beta`, `moving_mean`,
/// `moving_variance`.
fn norm_tensors(l: &BatchNorm) -> [(&'static str, Tensor<1>); 4] {
    [
        ("gamma", l.gamma.val()),
        ("beta", l.beta.val()),
        ("moving_mean", l.running_mean.value()),
        ("moving_variance", l.running_var.value()),
    ]
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
            layers.push(match rng.random_range(0..6) {
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
                4 => Layer::Dropout {
                    rate: rng.random_range(0.0..0.9),
                },
                _ => Layer::BatchNorm {
                    momentum: 0.99,
                    epsilon: 1e-3,
                    activation: act(rng),
                },
            });
        }
        if rng.random_range(0..4) == 0 {
            layers.push(Layer::GlobalAvgPool);
        } else if rng.random() {
            layers.push(Layer::Flatten);
        }
        for _ in 0..rng.random_range(0..3) {
            if rng.random_range(0..4) == 0 {
                layers.push(Layer::BatchNorm {
                    momentum: 0.9,
                    epsilon: 1e-3,
                    activation: act(rng),
                });
            } else if rng.random() {
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

    /// Batch norm against its definition, worked in f64 here: in training each channel is
    /// normalized by the batch's mean and biased variance, the moving statistics move by
    /// Keras's rule, and the gradients are the textbook ones; in evaluation the moving
    /// statistics normalize. Two steps, so the second starts from moved statistics.
    #[test]
    fn batch_norm_follows_its_definition_in_training_and_evaluation() {
        let (c, h, w, n) = (2usize, 2usize, 3usize, 4usize);
        let (momentum, eps) = (0.9, 1e-3);
        let ad = Device::flex().autodiff();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let layer = Layer::BatchNorm {
            momentum,
            epsilon: eps,
            activation: Activation::Linear,
        };
        let net = Network::new(
            std::slice::from_ref(&layer),
            Shape::Image { c, h, w },
            &mut rng,
            &ad,
        );
        let per = n * h * w;
        // x[b, ch, i] at index (b * c + ch) * h * w + i.
        let at = |b: usize, ch: usize, i: usize| (b * c + ch) * h * w + i;
        let (mut mm, mut mv) = (vec![0.0f64; c], vec![1.0f64; c]);
        for step in 0..2 {
            let x: Vec<f32> = (0..n * c * h * w)
                .map(|_| rng.random_range(-2.0..3.0f32) + step as f32)
                .collect();
            let r: Vec<f32> = (0..n * c * h * w)
                .map(|_| rng.random_range(-1.0..1.0f32))
                .collect();
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, c, h, w]), &ad)
                .require_grad();
            let y = net.forward(xt.clone(), None); // [n, c*h*w]
            let rt = Tensor::<2>::from_data(TensorData::new(r.clone(), [n, c * h * w]), &ad);
            let grads = (y.clone() * rt).sum().backward();
            let y: Vec<f32> = y.into_data().convert::<f32>().try_into_vec().unwrap();
            let dx: Vec<f32> = xt
                .grad(&grads)
                .unwrap()
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .unwrap();
            for ch in 0..c {
                let vals = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
                    (0..n)
                        .flat_map(|b| (0..h * w).map(move |i| (b, i)))
                        .map(|(b, i)| f(at(b, ch, i)))
                        .collect()
                };
                let xs = vals(&|k| x[k] as f64);
                let mean = xs.iter().sum::<f64>() / per as f64;
                let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64;
                let inv = 1.0 / (var + eps).sqrt();
                let xhat: Vec<f64> = xs.iter().map(|v| (v - mean) * inv).collect();
                let dy = vals(&|k| r[k] as f64);
                let sum_dy: f64 = dy.iter().sum();
                let sum_dy_xhat: f64 = dy.iter().zip(&xhat).map(|(a, b)| a * b).sum();
                let ys = vals(&|k| y[k] as f64);
                let dxs = vals(&|k| dx[k] as f64);
                for j in 0..per {
                    assert!(
                        (ys[j] - xhat[j]).abs() < 1e-4,
                        "forward step {step} ch {ch}: {} vs {}",
                        ys[j],
                        xhat[j]
                    );
                    let want =
                        inv / per as f64 * (per as f64 * dy[j] - sum_dy - xhat[j] * sum_dy_xhat);
                    assert!(
                        (dxs[j] - want).abs() < 1e-4,
                        "dx step {step} ch {ch}: {} vs {want}",
                        dxs[j]
                    );
                }
                mm[ch] = mm[ch] * momentum + mean * (1.0 - momentum);
                mv[ch] = mv[ch] * momentum + var * (1.0 - momentum);
            }
            // The kept statistics, as a weights file names them.
            let layers = [layer.clone()];
            let params = net.parameters(&layers);
            let get = |name: &str| {
                params
                    .iter()
                    .find(|p| p.name == weights::tensor_name(0, name))
                    .unwrap()
                    .values
                    .clone()
            };
            for ch in 0..c {
                assert!(
                    (get("moving_mean")[ch] as f64 - mm[ch]).abs() < 1e-5,
                    "moving mean"
                );
                assert!(
                    (get("moving_variance")[ch] as f64 - mv[ch]).abs() < 1e-5,
                    "moving variance"
                );
            }
            assert_eq!(get("gamma"), vec![1.0; c]);
            assert_eq!(get("beta"), vec![0.0; c]);
        }
        // Evaluation: the moving statistics, and nothing moves.
        let cpu = Device::flex();
        let x: Vec<f32> = (0..n * c * h * w).map(|i| i as f32 / 7.0).collect();
        let valid = net.valid();
        let y: Vec<f32> = valid
            .forward(
                Tensor::from_data(TensorData::new(x.clone(), [n, c, h, w]), &cpu),
                None,
            )
            .into_data()
            .try_to_vec()
            .unwrap();
        for b in 0..n {
            for ch in 0..c {
                for i in 0..h * w {
                    let k = at(b, ch, i);
                    let want = (x[k] as f64 - mm[ch]) / (mv[ch] + eps).sqrt();
                    assert!(
                        (y[k] as f64 - want).abs() < 1e-4,
                        "inference {} vs {want}",
                        y[k]
                    );
                }
            }
        }
        let after = valid.parameters(&[layer]);
        assert!(
            (after[2].values[0] as f64 - mm[0]).abs() < 1e-5,
            "evaluation moved nothing"
        );
    }

    /// A checkpoint's record of a network (what `State::checkpoint` writes and `restore`
    /// reads) carries batch norm's moving statistics as the last training step left them.
    #[test]
    fn batch_norm_statistics_survive_a_checkpoint() {
        use burn::store::ModuleRecord;
        use burn::tensor::Bytes;
        let ad = Device::flex().autodiff();
        let layers = [
            Layer::BatchNorm {
                momentum: 0.5,
                epsilon: 1e-3,
                activation: Activation::Relu,
            },
            Layer::Flatten,
        ];
        let input = Shape::Image { c: 3, h: 2, w: 2 };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = Network::new(&layers, input, &mut rng, &ad);
        for step in 0..3 {
            let x: Vec<f32> = (0..5 * 12).map(|i| (i * (step + 2)) as f32 / 9.0).collect();
            let _ = net.forward(
                Tensor::from_data(TensorData::new(x, [5, 3, 2, 2]), &ad),
                None,
            );
        }
        let trained = net.parameters(&layers);
        let bytes = net.clone().into_record().into_bytes().unwrap().to_vec();
        let fresh = Network::new(&layers, input, &mut ChaCha8Rng::seed_from_u64(3), &ad);
        assert_ne!(fresh.parameters(&layers), trained, "the statistics moved");
        let restored = fresh
            .try_load_record(ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).unwrap())
            .unwrap();
        assert_eq!(restored.parameters(&layers), trained);
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
