//! SGD with momentum as Keras writes it, for runs whose learning rate changes (a schedule).
//!
//! Keras 3's `SGD.update_step` keeps a momentum buffer of past *steps*, each scaled by the rate
//! of its own step; burn's (PyTorch's) keeps past *gradients* and scales their sum by the
//! current rate. At a constant rate the two are the same update, so runs without a schedule
//! keep burn's (and their bits); with a schedule only Keras's follows Keras.
//!
//! ```text
//! m <- momentum * m - lr * g                  (m starts at 0)
//! nesterov:  w <- w + momentum * m - lr * g
//! otherwise: w <- w + m
//! ```

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

/// Keras's SGD with momentum. Build it with [`KerasSgd::new`] and hand it to
/// `ModuleOptimizer::from`.
#[derive(Debug, Clone)]
pub(crate) struct KerasSgd {
    momentum: f32,
    nesterov: bool,
}

impl KerasSgd {
    pub(crate) fn new(momentum: f64, nesterov: bool) -> Self {
        KerasSgd {
            momentum: momentum as f32,
            nesterov,
        }
    }
}

/// One parameter's momentum buffer (Keras's `momentum` variable), checkpointed under that name.
#[derive(Clone)]
pub(crate) struct KerasSgdState<const D: usize> {
    momentum: Tensor<D>,
}

impl<const D: usize> RecordState for KerasSgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "momentum", self.momentum.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let momentum = Tensor::from_data(src.take_tensor(prefix, "momentum")?, device);
        Some(KerasSgdState { momentum })
    }
}

impl Optimizer for KerasSgd {
    type State<const D: usize> = KerasSgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let step = grad.mul_scalar(lr);
        let m = match state {
            Some(s) => s.momentum.mul_scalar(self.momentum) - step.clone(),
            None => step.clone().neg(),
        };
        let next = if self.nesterov {
            tensor + m.clone().mul_scalar(self.momentum) - step
        } else {
            tensor + m.clone()
        };
        (next, Some(KerasSgdState { momentum: m }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        KerasSgdState {
            momentum: state.momentum.to_device(device),
        }
    }
}
