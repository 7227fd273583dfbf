//! Architectures as ordered layer stacks: their TOML shape, shape inference, parameter counts,
//! FLOP estimates and Keras-style summaries. Pure: nothing here touches burn.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Activation applied after a dense or conv2d layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Only on the output layer; training uses a fused log-softmax cross-entropy.
    Softmax,
}

/// Convolution padding, with Keras's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    #[default]
    Valid,
    Same,
}

/// One layer of an architecture, as written in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
    },
    Conv2d {
        filters: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        activation: Activation,
    },
    MaxPool {
        size: usize,
        /// Defaults to `size`, as in Keras.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
    },
    AvgPool {
        size: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
    },
    Flatten,
    /// The mean of each channel over the feature map: [c, h, w] to c features (Keras's
    /// `GlobalAveragePooling2D`).
    GlobalAvgPool,
    Dropout {
        rate: f64,
    },
    /// Keras's `BatchNormalization` over the channels of a feature map or the features of a
    /// flat input: in training, each batch's own mean and (biased) variance normalize it and
    /// move the statistics kept for inference (`moving = moving * momentum + batch * (1 -
    /// momentum)`); in evaluation the moving ones do. Then `gamma * x + beta`, then
    /// `activation` (default linear; `activation = "relu"` is Keras's BN-then-ReLU pair).
    BatchNorm {
        #[serde(default = "bn_momentum")]
        momentum: f64,
        #[serde(default = "bn_epsilon")]
        epsilon: f64,
        #[serde(default)]
        activation: Activation,
    },
}

fn one() -> usize {
    1
}

/// Keras's `BatchNormalization` defaults.
fn bn_momentum() -> f64 {
    0.99
}

fn bn_epsilon() -> f64 {
    1e-3
}

impl Layer {
    /// Keras-style layer kind, for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "Dense",
            Layer::Conv2d { .. } => "Conv2D",
            Layer::MaxPool { .. } => "MaxPooling2D",
            Layer::AvgPool { .. } => "AveragePooling2D",
            Layer::Flatten => "Flatten",
            Layer::GlobalAvgPool => "GlobalAveragePooling2D",
            Layer::Dropout { .. } => "Dropout",
            Layer::BatchNorm { .. } => "BatchNormalization",
        }
    }

    pub fn activation(&self) -> Activation {
        match self {
            Layer::Dense { activation, .. }
            | Layer::Conv2d { activation, .. }
            | Layer::BatchNorm { activation, .. } => *activation,
            _ => Activation::Linear,
        }
    }
}

/// The shape of one example flowing through the network (batch dimension left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Channels, height, width.
    Image {
        c: usize,
        h: usize,
        w: usize,
    },
    Flat(usize),
}

impl Shape {
    pub fn numel(&self) -> usize {
        match *self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Flat(n) => n,
        }
    }
}

impl fmt::Display for Shape {
    /// Keras's notation (channels last), so summaries read like the paper's appendices.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Shape::Image { c, h, w } => write!(f, "(None, {h}, {w}, {c})"),
            Shape::Flat(n) => write!(f, "(None, {n})"),
        }
    }
}

/// Output size and Keras padding (before, after) of a convolution or pooling along one axis.
pub(crate) fn conv_out(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> (usize, usize, usize) {
    match padding {
        Padding::Valid => {
            if kernel > input {
                (0, 0, 0)
            } else {
                ((input - kernel) / stride + 1, 0, 0)
            }
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(input);
            (out, total / 2, total - total / 2)
        }
    }
}

/// A layer with its inferred shapes and costs.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub input: Shape,
    pub output: Shape,
    /// Every parameter, as Keras's `Param #` counts them: trainable ones and the
    /// [`LayerInfo::non_trainable`] ones (batch norm's moving statistics).
    pub params: usize,
    pub non_trainable: usize,
    /// Forward FLOPs per example (multiply and add counted separately).
    pub forward_flops: u64,
}

/// Why a layer cannot follow the one before it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapeError {
    /// Index of the offending layer.
    pub layer: usize,
    pub message: String,
    pub help: String,
}

/// Infer every layer's shapes and costs from `input`, or say which layer is impossible.
pub(crate) fn infer(layers: &[Layer], input: Shape) -> Result<Vec<LayerInfo>, ShapeError> {
    let mut shape = input;
    let mut out = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let err = |message: String, help: &str| ShapeError {
            layer: i,
            message,
            help: help.to_string(),
        };
        // Sizes come from manifests and from weights files' metadata: a product that overflows
        // is refused, never wrapped into a small, plausible number.
        let too_large = || {
            err(
                "layer too large: its parameter or FLOP count overflows".into(),
                "use fewer units, filters or a smaller kernel",
            )
        };
        let product = |factors: &[usize]| -> Result<usize, ShapeError> {
            factors
                .iter()
                .try_fold(1usize, |a, &b| a.checked_mul(b))
                .ok_or_else(too_large)
        };
        let (output, params, flops) = match (layer, shape) {
            (Layer::Dense { units, .. }, Shape::Flat(n)) => {
                if *units == 0 {
                    return Err(err("dense layer with 0 units".into(), "units must be >= 1"));
                }
                let weights = product(&[n, *units])?;
                (
                    Shape::Flat(*units),
                    weights.checked_add(*units).ok_or_else(too_large)?,
                    2 * weights as u64,
                )
            }
            (Layer::Dense { .. }, s @ Shape::Image { .. }) => {
                return Err(err(
                    format!("dense layer on a {s} feature map"),
                    "add { type = \"flatten\" } before the first dense layer",
                ));
            }
            (
                Layer::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                    ..
                },
                Shape::Image { c, h, w },
            ) => {
                if *filters == 0 || *kernel == 0 || *stride == 0 {
                    return Err(err(
                        "conv2d with a zero filters, kernel or stride".into(),
                        "filters, kernel and stride must be >= 1",
                    ));
                }
                if *padding == Padding::Valid && (*kernel > h || *kernel > w) {
                    return Err(err(
                        format!("kernel {kernel}x{kernel} is larger than the {h}x{w} feature map"),
                        "use a smaller kernel, padding = \"same\", or fewer pooling layers before it",
                    ));
                }
                let (oh, _, _) = conv_out(h, *kernel, *stride, *padding);
                let (ow, _, _) = conv_out(w, *kernel, *stride, *padding);
                let params = product(&[*kernel, *kernel, c, *filters])?
                    .checked_add(*filters)
                    .ok_or_else(too_large)?;
                let flops = 2 * product(&[*kernel, *kernel, c, *filters, oh, ow])? as u64;
                (
                    Shape::Image {
                        c: *filters,
                        h: oh,
                        w: ow,
                    },
                    params,
                    flops,
                )
            }
            (
                Layer::MaxPool { size, stride } | Layer::AvgPool { size, stride },
                Shape::Image { c, h, w },
            ) => {
                let stride = stride.unwrap_or(*size);
                if *size == 0 || stride == 0 {
                    return Err(err(
                        "pool with size or stride 0".into(),
                        "size and stride must be >= 1",
                    ));
                }
                let (oh, _, _) = conv_out(h, *size, stride, Padding::Valid);
                let (ow, _, _) = conv_out(w, *size, stride, Padding::Valid);
                if oh == 0 || ow == 0 {
                    return Err(err(
                        format!("pool of size {size} empties the {h}x{w} feature map"),
                        "use a smaller pool size or remove a pooling layer",
                    ));
                }
                (Shape::Image { c, h: oh, w: ow }, 0, (c * h * w) as u64)
            }
            (
                Layer::Conv2d { .. } | Layer::MaxPool { .. } | Layer::AvgPool { .. },
                Shape::Flat(n),
            ) => {
                return Err(err(
                    format!("{} on a flat input of {n} features", layer.kind()),
                    "convolution and pooling layers must come before flatten and dense layers",
                ));
            }
            (Layer::Flatten, s) => (Shape::Flat(s.numel()), 0, 0),
            (Layer::GlobalAvgPool, Shape::Image { c, h, w }) => {
                (Shape::Flat(c), 0, (c * h * w) as u64)
            }
            (Layer::GlobalAvgPool, Shape::Flat(n)) => {
                return Err(err(
                    format!("global_avg_pool on a flat input of {n} features"),
                    "global_avg_pool averages a feature map: put it after the convolutions, instead of flatten",
                ));
            }
            (Layer::Dropout { rate }, s) => {
                if !(0.0..1.0).contains(rate) {
                    return Err(err(
                        format!("dropout rate {rate} is outside [0, 1)"),
                        "use a rate such as 0.5",
                    ));
                }
                (s, 0, 0)
            }
            (
                Layer::BatchNorm {
                    momentum, epsilon, ..
                },
                s,
            ) => {
                if !(0.0..1.0).contains(momentum) {
                    return Err(err(
                        format!("batch_norm momentum {momentum} is outside [0, 1)"),
                        "use a momentum such as 0.99 (Keras's default)",
                    ));
                }
                if !(*epsilon > 0.0 && epsilon.is_finite()) {
                    return Err(err(
                        format!("batch_norm epsilon {epsilon} is not a positive number"),
                        "use an epsilon such as 0.001 (Keras's default)",
                    ));
                }
                let channels = match s {
                    Shape::Image { c, .. } => c,
                    Shape::Flat(n) => n,
                };
                // gamma, beta, moving mean and variance; subtract, scale, add per value.
                (s, 4 * channels, 4 * s.numel() as u64)
            }
        };
        let non_trainable = match (layer, output) {
            (Layer::BatchNorm { .. }, Shape::Image { c, .. } | Shape::Flat(c)) => 2 * c,
            _ => 0,
        };
        let act_flops = match layer.activation() {
            Activation::Linear => 0,
            _ => output.numel() as u64,
        };
        out.push(LayerInfo {
            input: shape,
            output,
            params,
            non_trainable,
            forward_flops: flops + act_flops,
        });
        shape = output;
    }
    Ok(out)
}

/// Training FLOPs per example: forward plus a backward pass costing about twice the forward.
pub(crate) fn training_flops_per_example(infos: &[LayerInfo]) -> u64 {
    3 * infos.iter().map(|i| i.forward_flops).sum::<u64>()
}

/// Total parameters, trainable or not (Keras's `count_params()`).
pub(crate) fn total_params(infos: &[LayerInfo]) -> usize {
    infos.iter().fold(0, |a, i| a.saturating_add(i.params))
}

/// A Keras-style summary: layer (type), output shape, params, then the totals.
pub(crate) fn summary(name: &str, layers: &[Layer], infos: &[LayerInfo]) -> String {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    let rows: Vec<[String; 3]> = layers
        .iter()
        .zip(infos)
        .map(|(layer, info)| {
            let kind = layer.kind();
            let n = counts.entry(kind).or_default();
            *n += 1;
            let base = snake(kind);
            [
                format!("{base}_{n} ({kind})"),
                info.output.to_string(),
                crate::fmt::thousands(info.params as u64),
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(12);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(12);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(7);
    let width = w0 + w1 + w2 + 4;
    let mut s = format!("Model: \"{name}\"\n{}\n", "─".repeat(width));
    s.push_str(&format!(
        "{:<w0$}  {:<w1$}  {:>w2$}\n",
        "Layer (type)", "Output Shape", "Param #"
    ));
    s.push_str(&format!("{}\n", "═".repeat(width)));
    for r in &rows {
        s.push_str(&format!("{:<w0$}  {:<w1$}  {:>w2$}\n", r[0], r[1], r[2]));
    }
    let all = total_params(infos);
    let frozen: usize = infos.iter().map(|i| i.non_trainable).sum();
    let [total, trainable, frozen] =
        [all, all - frozen, frozen].map(|n| crate::fmt::thousands(n as u64));
    s.push_str(&format!("{}\n", "═".repeat(width)));
    s.push_str(&format!(
        "Total params: {total}\nTrainable params: {trainable}\nNon-trainable params: {frozen}\n"
    ));
    s
}

fn snake(kind: &str) -> String {
    match kind {
        "Conv2D" => "conv2d".into(),
        "MaxPooling2D" => "max_pooling2d".into(),
        "AveragePooling2D" => "average_pooling2d".into(),
        "BatchNormalization" => "batch_normalization".into(),
        other => other.to_lowercase(),
    }
}

/// A layer stack's problem: the layer (0-based) when one is to blame, what is wrong, and what
/// would be right.
pub(crate) type LayerProblem = (Option<usize>, String, String);

/// Check that `layers` (of model `name`) make a classifier of `dataset`: shapes that work out,
/// softmax only at the end, and an output layer of one unit per class. The one check of a
/// model, for manifests and for the layer stacks weights files carry.
pub(crate) fn check_layers(
    name: &str,
    layers: &[Layer],
    shape: Shape,
    classes: usize,
) -> std::result::Result<Vec<LayerInfo>, LayerProblem> {
    if layers.is_empty() {
        return Err((
            None,
            format!("model `{name}` has no layers"),
            format!(
                "add layers, e.g. {{ type = \"flatten\" }}, {{ type = \"dense\", units = {}, activation = \"softmax\" }}",
                classes
            ),
        ));
    }
    let infos = infer(layers, shape).map_err(|e| {
        (
            Some(e.layer),
            format!("model `{name}`, layer {}: {}", e.layer + 1, e.message),
            e.help,
        )
    })?;
    for (i, layer) in layers.iter().enumerate() {
        if layer.activation() == Activation::Softmax && i + 1 != layers.len() {
            return Err((
                Some(i),
                format!(
                    "model `{name}`, layer {}: softmax is only supported on the output layer",
                    i + 1
                ),
                "use relu, sigmoid or tanh on hidden layers".into(),
            ));
        }
    }
    let last = layers.len() - 1;
    match &layers[last] {
        Layer::Dense {
            units,
            activation: Activation::Softmax,
        } if *units == classes => Ok(infos),
        _ => Err((
            Some(last),
            format!(
                "model `{name}`: the output layer must be dense with {} units and softmax",
                classes
            ),
            format!(
                "end the layer list with {{ type = \"dense\", units = {}, activation = \"softmax\" }}",
                classes
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: Shape = Shape::Image { c: 1, h: 28, w: 28 };

    #[test]
    fn same_padding_matches_keras() {
        assert_eq!(conv_out(28, 3, 1, Padding::Same), (28, 1, 1));
        assert_eq!(conv_out(28, 4, 1, Padding::Same), (28, 1, 2));
        assert_eq!(conv_out(28, 3, 2, Padding::Same), (14, 0, 1));
        assert_eq!(conv_out(13, 2, 2, Padding::Valid), (6, 0, 0));
    }

    #[test]
    fn dense_on_image_is_refused() {
        let e = infer(
            &[Layer::Dense {
                units: 3,
                activation: Activation::Relu,
            }],
            MNIST,
        )
        .unwrap_err();
        assert_eq!(e.layer, 0);
        assert!(e.help.contains("flatten"));
    }

    #[test]
    fn kernel_larger_than_map_is_refused() {
        let layers = [
            Layer::MaxPool {
                size: 8,
                stride: None,
            },
            Layer::Conv2d {
                filters: 2,
                kernel: 5,
                stride: 1,
                padding: Padding::Valid,
                activation: Activation::Relu,
            },
        ];
        let e = infer(&layers, MNIST).unwrap_err();
        assert_eq!(e.layer, 1);
        assert!(e.message.contains("larger than the 3x3"), "{}", e.message);
    }

    /// Sizes from a weights file's metadata are not checked by a manifest: a product that
    /// overflows is an error, never a small wrapped number that passes the memory check.
    #[test]
    fn a_layer_whose_size_overflows_is_refused() {
        let huge = Layer::Dense {
            units: usize::MAX / 2,
            activation: Activation::Relu,
        };
        let e = infer(&[Layer::Flatten, huge], MNIST).unwrap_err();
        assert_eq!(e.layer, 1);
        assert!(e.message.contains("overflows"), "{}", e.message);
    }

    #[test]
    fn pool_that_empties_the_map_is_refused() {
        let e = infer(
            &[Layer::MaxPool {
                size: 29,
                stride: None,
            }],
            MNIST,
        )
        .unwrap_err();
        assert!(e.message.contains("empties"), "{}", e.message);
    }
}
