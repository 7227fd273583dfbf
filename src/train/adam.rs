//! Adam, the very update burn's `Adam` (0.22.1) makes, in one pass per parameter on the CPU
//! ([`crate::train::conv::adam`]) and in burn's tensor operations elsewhere (GPUs). Its state is
//! burn's `AdamState`, so checkpoints are the same files either way.
//!
//! ```text
//! m <- b1 · m + (1 - b1) · g          v <- b2 · v + (1 - b2) · g²      (both start at 0)
//! w <- w - lr · (m · sqrt(1 - b2^t) / (1 - b1^t)) / (sqrt(v) + epsilon · sqrt(1 - b2^t))
//! ```
//!
//! (Keras adds epsilon to the bias-corrected `sqrt(v)`, which is this with epsilon scaled; see
//! docs/keras.md.)

use crate::train::conv::{self, adam::Step};
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

/// Adam without weight decay (`sweep` applies weight decay itself). Build it with
/// [`FusedAdam::new`] and hand it to `ModuleOptimizer::from`.
#[derive(Debug, Clone)]
pub(crate) struct FusedAdam {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
}

impl FusedAdam {
    pub(crate) fn new(beta1: f64, beta2: f64, epsilon: f64) -> Self {
        FusedAdam {
            beta1: beta1 as f32,
            beta2: beta2 as f32,
            epsilon: epsilon as f32,
        }
    }

    /// Step `time`'s scalars (from 1), computed as burn computes them.
    fn scalars(&self, time: usize, lr: LearningRate) -> Step {
        let t = time as i32;
        let bc2 = (1.0 - self.beta2.powi(t)).sqrt();
        Step {
            beta1: self.beta1,
            beta2: self.beta2,
            cf: bc2 / (1.0 - self.beta1.powi(t)),
            eps_bc2: self.epsilon * bc2,
            lr: lr as f32,
            first: time == 1,
        }
    }

    /// The same step in burn's tensor operations (for devices our kernel does not run on).
    fn tensor_step<const D: usize>(
        s: Step,
        p: Tensor<D>,
        g: Tensor<D>,
        moments: Option<(Tensor<D>, Tensor<D>)>,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let (f1, f2) = (1.0 - s.beta1, 1.0 - s.beta2);
        let (m, v) = match moments {
            Some((m, v)) => (
                m.mul_scalar(s.beta1).add(g.clone().mul_scalar(f1)),
                v.mul_scalar(s.beta2).add(g.square().mul_scalar(f2)),
            ),
            None => (g.clone().mul_scalar(f1), g.square().mul_scalar(f2)),
        };
        let update = m
            .clone()
            .mul_scalar(s.cf)
            .div(v.clone().sqrt().add_scalar(s.eps_bc2));
        (p - update.mul_scalar(s.lr), m, v)
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (time, moments) = match state {
            Some(s) => (
                s.momentum.time + 1,
                Some((s.momentum.moment_1, s.momentum.moment_2)),
            ),
            None => (1, None),
        };
        let s = self.scalars(time, lr);
        let (next, m, v) = if conv::supported(&tensor.device()) {
            let shape = tensor.shape();
            let out = conv::adam_step(tensor, grad, moments, s);
            let part = |i: usize| out.clone().narrow(0, i, 1).reshape(shape.clone());
            (part(0), part(1), part(2))
        } else {
            Self::tensor_step(s, tensor, grad, moments)
        };
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: m,
            moment_2: v,
            max_moment_2: None,
        };
        (next, Some(AdamState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::TensorData;

    fn bits(l: &Linear) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for t in [
            l.weight.val().flatten::<1>(0, 1),
            l.bias.as_ref().unwrap().val(),
        ] {
            out.extend(
                t.into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits()),
            );
        }
        out
    }

    /// Ten steps of burn's Adam and of ours from the same weights and batches: the same bits,
    /// on the CPU (our kernel, on every kernel path the CPU has) and through the tensor
    /// operations (ours with the kernel off).
    #[test]
    fn steps_are_burns_bit_for_bit() {
        let device = crate::train::backend::open(&crate::spec::device::DeviceName::Cpu)
            .unwrap()
            .autodiff();
        let start = LinearConfig::new(37, 23).init(&device);
        let train = |mut opt: burn::optim::ModuleOptimizer| {
            let mut l = start.clone();
            for i in 0..10 {
                let x: Vec<f32> = (0..5 * 37)
                    .map(|k| ((k * 7 + i * 13) % 29) as f32 / 9.0 - 1.5)
                    .collect();
                let x = Tensor::<2>::from_data(TensorData::new(x, [5, 37]), &device);
                let loss = l.forward(x).square().mean();
                let grads = GradientsParams::from_grads(loss.backward(), &l);
                l = opt.step(1e-3 * (1.0 + i as f64), l, grads);
            }
            bits(&l)
        };
        let (b1, b2, eps) = (0.8, 0.95, 1e-6);
        let burn = train(
            AdamConfig::new()
                .with_beta_1(b1 as f32)
                .with_beta_2(b2 as f32)
                .with_epsilon(eps as f32)
                .init(),
        );
        let ours = |isa| {
            let _path = conv::isa::force(isa);
            train(burn::optim::ModuleOptimizer::from(FusedAdam::new(
                b1, b2, eps,
            )))
        };
        for isa in conv::isa::Isa::supported() {
            assert!(burn == ours(isa), "our Adam on {isa:?} differs from burn's");
        }
        let ours = ours(conv::isa::current());
        assert_ne!(
            bits(&start.clone().no_grad()),
            ours,
            "the steps moved the weights"
        );
    }

    #[test]
    fn the_tensor_path_is_the_kernel_s() {
        let device = crate::train::backend::open(&crate::spec::device::DeviceName::Cpu).unwrap();
        let adam = FusedAdam::new(0.9, 0.999, 1e-7);
        let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [7]), &device);
        let p = t(vec![0.5, -1.0, 2.0, 0.0, 1e-3, -4.0, 3.0]);
        let g = t(vec![0.1, -0.2, 3.0, 1e-6, 0.0, -1.0, 2.5]);
        let moments = Some((t(vec![0.01; 7]), t(vec![0.02; 7])));
        let s = adam.scalars(3, 2e-3);
        let (np, nm, nv) = FusedAdam::tensor_step(s, p.clone(), g.clone(), moments.clone());
        let out = conv::adam_step(p, g, moments, s);
        let want: Vec<f32> = [np, nm, nv]
            .into_iter()
            .flat_map(|x| x.into_data().try_to_vec::<f32>().unwrap())
            .collect();
        assert_eq!(out.into_data().try_to_vec::<f32>().unwrap(), want);
    }
}
