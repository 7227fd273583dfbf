//! RMSprop with Keras's update rule, which burn's `RmsProp` does not have.
//!
//! Keras 3's `RMSprop.update_step` (and the optimizers of Keras 2.11 to 2.15) divides by
//! `sqrt(v + epsilon)`; burn 0.22 (like PyTorch, and like tf.keras 2.10 and earlier without
//! momentum) divides by `sqrt(v) + epsilon`. `sweep` follows Keras 3, as it does for every other
//! default (the anchors in `../shared/anchors/` run Keras 3). The two differ
//! by far more than rounding: with Keras's epsilon 1e-7 the floor of Keras's denominator is
//! sqrt(1e-7) = 3.2e-4, burn's is 1e-7. A weight whose gradient has become small (a trained
//! network's, most of them) takes steps of about `lr` under burn's rule, pushed by noise, where
//! Keras damps them by up to 3,000x. Trained with burn's rule for the paper's 80 epochs, the
//! Enhanced CNN's training loss rose from 0.049 (epoch 5) to 0.91 (epoch 80) and its test
//! accuracy fell to 81.29%; the paper's Keras run ended at 99.24%.
//!
//! ```text
//! v <- rho * v + (1 - rho) * g^2              (v starts at 0)
//! increment = lr * g / sqrt(v + epsilon)
//! momentum > 0:  m <- momentum * m + increment;  w <- w - m
//! otherwise:                                     w <- w - increment
//! ```

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

/// Keras's RMSprop (not centered). Build it with [`KerasRmsProp::new`] and hand it to
/// `ModuleOptimizer::from`.
#[derive(Debug, Clone)]
pub(crate) struct KerasRmsProp {
    rho: f32,
    momentum: f32,
    epsilon: f32,
}

impl KerasRmsProp {
    pub(crate) fn new(rho: f64, momentum: f64, epsilon: f64) -> Self {
        KerasRmsProp {
            rho: rho as f32,
            momentum: momentum as f32,
            epsilon: epsilon as f32,
        }
    }
}

/// One parameter's state: Keras's `velocity` (the running mean of squared gradients) and, with
/// momentum, its `momentum` buffer. Checkpointed under those names.
#[derive(Clone)]
pub(crate) struct KerasRmsPropState<const D: usize> {
    velocity: Tensor<D>,
    momentum: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for KerasRmsPropState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.clone().into_data());
        if let Some(m) = &self.momentum {
            out.push_tensor(prefix, "momentum", m.clone().into_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = Tensor::from_data(src.take_tensor(prefix, "velocity")?, device);
        let momentum = src
            .take_tensor(prefix, "momentum")
            .map(|d| Tensor::from_data(d, device));
        Some(KerasRmsPropState { velocity, momentum })
    }
}

impl Optimizer for KerasRmsProp {
    type State<const D: usize> = KerasRmsPropState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let g2 = grad.clone().square().mul_scalar(1.0 - self.rho);
        let (velocity, momentum) = match state {
            Some(s) => (s.velocity.mul_scalar(self.rho).add(g2), s.momentum),
            None => (g2, None),
        };
        let increment = grad
            .div(velocity.clone().add_scalar(self.epsilon).sqrt())
            .mul_scalar(lr);
        if self.momentum > 0.0 {
            let m = match momentum {
                Some(m) => m.mul_scalar(self.momentum).add(increment),
                None => increment,
            };
            let next = tensor - m.clone();
            (
                next,
                Some(KerasRmsPropState {
                    velocity,
                    momentum: Some(m),
                }),
            )
        } else {
            (
                tensor - increment,
                Some(KerasRmsPropState {
                    velocity,
                    momentum: None,
                }),
            )
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        KerasRmsPropState {
            velocity: state.velocity.to_device(device),
            momentum: state.momentum.map(|m| m.to_device(device)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(t: Tensor<1>) -> Vec<f64> {
        t.into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// Keras's rule in f64, the oracle: `steps` updates of one weight from 0 with gradients `g`.
    fn keras(g: &[f64], lr: f64, rho: f64, mom: f64, eps: f64) -> f64 {
        let (mut w, mut v, mut m) = (0.0, 0.0, 0.0);
        for &g in g {
            v = rho * v + (1.0 - rho) * g * g;
            let inc = lr * g / (v + eps).sqrt();
            if mom > 0.0 {
                m = mom * m + inc;
                w -= m;
            } else {
                w -= inc;
            }
        }
        w
    }

    fn run(opt: &KerasRmsProp, grads: &[[f32; 3]], lr: f64) -> Vec<f64> {
        let device = crate::train::backend::open(&crate::spec::device::DeviceName::Cpu).unwrap();
        let mut w = Tensor::<1>::from_data(TensorData::from([0.0f32; 3]), &device);
        let mut state = None;
        for g in grads {
            let g = Tensor::<1>::from_data(TensorData::from(*g), &device);
            let (next, s) = opt.step(lr, w, g, state);
            w = next;
            state = s;
        }
        values(w)
    }

    #[test]
    fn steps_are_keras_s_with_epsilon_inside_the_square_root() {
        // A large, a small and a tiny gradient (f32 against f64: 1e-4 relative; the rules differ
        // 10x): the small ones are where sqrt(v + eps) and
        // sqrt(v) + eps part (by 10x for 1e-4 on the first step).
        let grads = [
            [0.5f32, 1e-4, 1e-6],
            [0.3, -2e-4, 1e-6],
            [-0.1, 1e-4, -1e-6],
        ];
        for mom in [0.0, 0.9] {
            let got = run(&KerasRmsProp::new(0.9, mom, 1e-7), &grads, 1e-3);
            for (k, &w) in got.iter().enumerate() {
                let g: Vec<f64> = grads.iter().map(|g| f64::from(g[k])).collect();
                let want = keras(&g, 1e-3, 0.9, mom, 1e-7);
                assert!(
                    (w - want).abs() <= 1e-4 * want.abs().max(1e-9),
                    "momentum {mom}, weight {k}: {w} != Keras's {want}"
                );
            }
        }
        // burn's rule would move the 1e-4 weight by lr * 1e-4 / (sqrt(1e-9) + 1e-7) = 3.15 lr on
        // the first step; Keras's moves it by lr * 1e-4 / sqrt(1e-9 + 1e-7) = 0.315 lr.
        let first = run(&KerasRmsProp::new(0.9, 0.0, 1e-7), &grads[..1], 1e-3);
        assert!((first[1] + 0.315e-3).abs() < 1e-6, "{}", first[1]);
    }

    #[test]
    fn the_state_survives_a_checkpoint_round_trip() {
        let device = crate::train::backend::open(&crate::spec::device::DeviceName::Cpu).unwrap();
        let state = KerasRmsPropState::<1> {
            velocity: Tensor::from_data(TensorData::from([1.0f32, 2.0]), &device),
            momentum: Some(Tensor::from_data(TensorData::from([3.0f32, 4.0]), &device)),
        };
        let mut sink = StateSink::default();
        state.state_flatten("p", &mut sink);
        let mut src = StateSource::default();
        for (name, data) in sink.tensors {
            src.insert_tensor(name, data);
        }
        let back = KerasRmsPropState::<1>::state_unflatten("p", &mut src, &device).unwrap();
        assert_eq!(values(back.velocity), vec![1.0, 2.0]);
        assert_eq!(values(back.momentum.unwrap()), vec![3.0, 4.0]);
    }
}
