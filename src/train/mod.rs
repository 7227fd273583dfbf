//! Training one run with burn: Keras semantics (inputs / 255, categorical cross-entropy,
//! running-mean training metrics over the epoch, the last partial batch kept), deterministic
//! shuffling and dropout from the run's seed. Also home to the network ([`model`]), the backend
//! choice ([`backend`]) and our CPU kernels ([`conv`]).

mod adam;
pub(crate) mod backend;
pub(crate) mod calibrate;
pub(crate) mod conv;
pub(crate) mod model;
pub(crate) mod rmsprop;
mod sgd;

use crate::data::Split;
use crate::results::checkpoint::Checkpoint;
use crate::results::record::{BatchProgress, EpochRecord};
use crate::spec::arch::Shape;
use crate::spec::optim::OptimizerSpec;
use crate::spec::plan::{Run, Stream};
use crate::train::model::{Network, dropout_mask};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, OptimizerRecord, SgdConfig};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// How training ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed,
    /// The loss became NaN or infinite, or the epoch's running training loss passed
    /// [`Run::max_loss`], at `batch` of `epoch` (1-based).
    Diverged {
        epoch: usize,
        batch: usize,
        why: String,
    },
    /// Stopped on request after the last completed epoch.
    Interrupted,
}

/// Callbacks from the training loop.
pub(crate) trait Observer {
    fn batch(&mut self, _p: BatchProgress) {}
    /// Called after each completed epoch (its record is the last of `state.records`);
    /// return `false` to stop after it.
    fn epoch(&mut self, _state: &State) -> bool {
        true
    }
}

/// Everything a run's training carries from one epoch to the next.
pub(crate) struct State {
    pub network: Network,
    pub optimizer: ModuleOptimizer,
    /// Completed epochs.
    pub records: Vec<EpochRecord>,
}

impl State {
    /// A fresh start: Keras-initialised weights from the run's stream 0, a new optimizer.
    pub(crate) fn new(run: &Run, ad: &Device) -> Self {
        let input = run.data.shape();
        State {
            network: Network::new(&run.layers, input, &mut rng(run, Stream::Init, 0), ad),
            optimizer: burn_optimizer(&run.optimizer, run.schedule.is_some()),
            records: Vec::new(),
        }
    }

    /// Serialize into a checkpoint.
    pub(crate) fn checkpoint(&self) -> Result<Checkpoint, String> {
        let model = self
            .network
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| format!("{e:?}"))?;
        let optimizer = self
            .optimizer
            .to_record()
            .into_bytes()
            .map_err(|e| format!("{e:?}"))?;
        Ok(Checkpoint {
            records: self.records.clone(),
            model: model.to_vec(),
            optimizer: optimizer.to_vec(),
        })
    }

    /// Rebuild the state a checkpoint was taken from.
    pub(crate) fn restore(run: &Run, ad: &Device, c: &Checkpoint) -> Result<Self, String> {
        let fresh = State::new(run, ad);
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(c.model.clone()))
            .map_err(|e| format!("{e:?}"))?;
        let network = fresh
            .network
            .try_load_record(record)
            .map_err(|e| format!("{e:?}"))?;
        let orecord = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(c.optimizer.clone()))
            .map_err(|e| format!("{e:?}"))?;
        let optimizer = fresh.optimizer.load_record(orecord);
        Ok(State {
            network,
            optimizer,
            records: c.records.clone(),
        })
    }
}

/// The run's random stream `stream` ([`Run::stream_seed`]) for `epoch` (0 for the initial
/// weights): each epoch draws its shuffle and dropout from streams of its own, so any epoch can
/// be replayed (or resumed) without replaying the ones before it.
pub(crate) fn rng(run: &Run, stream: Stream, epoch: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(run.stream_seed(stream));
    r.set_stream(epoch);
    r
}

/// Train `run` from `state` (after its completed epochs) to the last epoch, on `train`,
/// validating on `val`. With a separate `test` split (runs validated on a hold-out), the test
/// metrics are measured after the last epoch and after every epoch that improves the best
/// validation accuracy ([`crate::results::store::best_epoch`]'s rule), so the best epoch's
/// weights are evaluated while they are the current ones. `ad` must be an autodiff device.
pub(crate) fn train(
    run: &Run,
    train: &Split,
    val: &Split,
    test: Option<&Split>,
    ad: &Device,
    mut state: State,
    observer: &mut dyn Observer,
) -> (State, Outcome) {
    let lr = run.optimizer.lr();
    let wd = run.optimizer.weight_decay();
    let max_loss = run.max_loss();
    let loss_fn = CrossEntropyLossConfig::new().init(ad);
    let n = train.len();
    let batches = n.div_ceil(run.batch_size);
    for epoch in state.records.len() + 1..=run.epochs {
        let start = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng(run, Stream::Data, epoch as u64));
        let mut r = rng(run, Stream::Dropout, epoch as u64);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let mut rate = lr;
        for (b, chunk) in order.chunks(run.batch_size).enumerate() {
            // Keras's schedules are called with the updates applied so far.
            let step = ((epoch - 1) * batches + b) as u64;
            rate = run.schedule.as_ref().map_or(lr, |s| s.rate(lr, step));
            let (images, labels) = batch(train, chunk, ad);
            let masks: Vec<_> = state
                .network
                .dropout_shapes(chunk.len())
                .into_iter()
                .map(|(rows, cols, rate)| dropout_mask(&mut r, rows, cols, rate, ad))
                .collect();
            let logits = state.network.forward(images, Some(&masks)); // [batch, classes]
            let loss = loss_fn.forward(logits.clone(), labels.clone()); // [1]
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            if !loss_value.is_finite() {
                return (
                    state,
                    Outcome::Diverged {
                        epoch,
                        batch: b + 1,
                        why: "the loss became NaN or infinite".into(),
                    },
                );
            }
            correct += count_correct(logits, labels);
            loss_sum += loss_value * chunk.len() as f64;
            seen += chunk.len();
            let running = loss_sum / seen as f64;
            if running > max_loss {
                return (
                    state,
                    Outcome::Diverged {
                        epoch,
                        batch: b + 1,
                        why: format!(
                            "the training loss reached {running:.4e}, above the divergence bound {max_loss:.4} (max_loss)"
                        ),
                    },
                );
            }
            let grads = GradientsParams::from_grads(loss.backward(), &state.network);
            state.network = update(&mut state.optimizer, state.network, grads, rate, wd);
            observer.batch(BatchProgress {
                epoch,
                batch: b + 1,
                batches,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
            });
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = evaluate(&state.network, val, ad);
        let new_best = state.records.iter().all(|r| val_accuracy > r.val_accuracy);
        let (test_loss, test_accuracy) = match test {
            Some(t) if new_best || epoch == run.epochs => {
                let (l, a) = evaluate(&state.network, t, ad);
                (Some(l), Some(a))
            }
            _ => (None, None),
        };
        state.records.push(EpochRecord {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            val_loss,
            val_accuracy,
            test_loss,
            test_accuracy,
            seconds: start.elapsed().as_secs_f64(),
            images_per_sec: seen as f64 / train_seconds,
            lr: run.schedule.is_some().then_some(rate),
            extra: Default::default(),
        });
        if !val_loss.is_finite() {
            return (
                state,
                Outcome::Diverged {
                    epoch,
                    batch: batches,
                    why: "the validation loss became NaN or infinite".into(),
                },
            );
        }
        if !observer.epoch(&state) && epoch < run.epochs {
            return (state, Outcome::Interrupted);
        }
    }
    (state, Outcome::Completed)
}

/// Mean loss and accuracy of `network` on `split`, without dropout or gradients.
pub(crate) fn evaluate(network: &Network, split: &Split, device: &Device) -> (f64, f64) {
    let e = evaluate_full(network, split, device);
    (e.loss, e.accuracy)
}

/// What [`evaluate_full`] measures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
    /// `confusion[label][predicted]`: how many images of each class went to each class.
    pub confusion: Vec<Vec<u64>>,
}

/// Loss, accuracy and confusion matrix of `network` on `split`, without dropout or gradients,
/// in batches of 1,000 images: the one evaluation both training and `sweep eval` use, so that
/// they give the same numbers on the same images.
pub(crate) fn evaluate_full(network: &Network, split: &Split, device: &Device) -> Evaluation {
    let net = network.valid();
    let device = device.clone().without_autodiff();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let idx: Vec<usize> = (0..split.len()).collect();
    let mut loss_sum = 0.0f64;
    let mut confusion: Vec<Vec<u64>> = Vec::new();
    for chunk in idx.chunks(1000) {
        let (images, labels) = batch(split, chunk, &device);
        let logits = net.forward(images, None); // [batch, classes]
        let classes = logits.dims()[1];
        if confusion.is_empty() {
            confusion = vec![vec![0; classes]; classes];
        }
        loss_sum += loss_fn.forward(logits.clone(), labels).into_scalar::<f32>() as f64
            * chunk.len() as f64;
        let predicted = logits.argmax(1).reshape([chunk.len()]).into_data();
        for (&i, p) in chunk.iter().zip(predicted.iter::<i64>()) {
            confusion[split.label(i)][p as usize] += 1;
        }
    }
    let correct: u64 = (0..confusion.len()).map(|c| confusion[c][c]).sum();
    let n = split.len().max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        images: split.len(),
        confusion,
    }
}

/// Examples `idx` of `split` as a batch: [batch, c, h, w] images (tabular data as
/// [batch, features, 1, 1]) and their labels.
fn batch(split: &Split, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let shape = split.shape();
    let mut images = Vec::with_capacity(idx.len() * shape.numel());
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        split.push(i, &mut images);
        labels.push(split.label(i) as i64);
    }
    let dims = match shape {
        Shape::Image { c, h, w } => [idx.len(), c, h, w],
        Shape::Flat(f) => [idx.len(), f, 1, 1],
    };
    (
        Tensor::from_data(TensorData::new(images, dims), device),
        Tensor::from_data(TensorData::new(labels, [idx.len()]), device),
    )
}

/// One update at learning rate `rate`, as Keras 3 applies it: the decoupled weight decay first
/// (every weight `w` becomes `w - w * wd * rate`), then the optimizer's step with `grads` (taken
/// at the weights before the decay).
fn update(
    optimizer: &mut ModuleOptimizer,
    network: Network,
    grads: GradientsParams,
    rate: f64,
    wd: f64,
) -> Network {
    let network = if wd > 0.0 {
        network.map(&mut Decay(1.0 - wd * rate))
    } else {
        network
    };
    optimizer.step(rate, network, grads)
}

/// Multiplies every float parameter by its factor, keeping the parameter's identity (so its
/// gradient and optimizer state still find it) and whether it requires gradients.
struct Decay(f64);

impl burn::module::ModuleMapper for Decay {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        // Trainable weights only, as Keras: batch norm's moving statistics are not.
        if !require_grad {
            return burn::module::Param::from_mapped_value(id, tensor, mapper);
        }
        let decayed = Tensor::from_inner(tensor.inner().mul_scalar(self.0)).require_grad();
        burn::module::Param::from_mapped_value(id, decayed, mapper)
    }
}

fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let n = labels.dims()[0];
    let predicted = logits.argmax(1).reshape([n]); // [batch]
    predicted.equal(labels).int().sum().into_scalar::<i64>() as usize
}

/// The burn optimizer with exactly `spec`'s hyperparameters.
///
/// Remaining differences from Keras, documented in docs/keras.md: Adam adds epsilon to the
/// bias-corrected sqrt(v_hat) (PyTorch's form), where Keras adds it to sqrt(v) before the
/// bias correction folds into the step size; with epsilon 1e-7 the two differ only while
/// sqrt(v) is ~1e-7. RMSprop is ours ([`rmsprop::KerasRmsProp`]): burn's divides by
/// sqrt(v) + epsilon, Keras by sqrt(v + epsilon), and the difference decides whether the
/// paper's 80-epoch RMSprop run trains or drifts.
///
/// `scheduled`: the rate changes from step to step, so SGD's momentum is Keras's own
/// ([`sgd::KerasSgd`]); at a constant rate burn's is the same update.
pub(crate) fn burn_optimizer(spec: &OptimizerSpec, scheduled: bool) -> ModuleOptimizer {
    match *spec {
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } if scheduled && momentum > 0.0 => {
            ModuleOptimizer::from(sgd::KerasSgd::new(momentum, nesterov))
        }
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => {
            // Keras's momentum has no dampening: v = m * v + g, same as burn's with dampening 0.
            let m = (momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
                    .with_nesterov(nesterov)
            });
            SgdConfig::new().with_momentum(m).init()
        }
        OptimizerSpec::Rmsprop {
            rho,
            momentum,
            epsilon,
            ..
        } => ModuleOptimizer::from(rmsprop::KerasRmsProp::new(rho, momentum, epsilon)),
        OptimizerSpec::Adam {
            beta1,
            beta2,
            epsilon,
            ..
        } => ModuleOptimizer::from(adam::FusedAdam::new(beta1, beta2, epsilon)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::arch::{Activation, Layer, Shape};
    use burn::module::{ModuleVisitor, Param};

    /// Every float parameter's values, in visiting order.
    struct Collect(Vec<f32>);

    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().try_to_vec::<f32>().expect("f32"));
        }
    }

    fn params(net: &Network) -> Vec<f32> {
        let mut c = Collect(Vec::new());
        net.visit(&mut c);
        c.0
    }

    /// Every float parameter's values and its gradient in `grads`, in visiting order.
    struct WithGrads<'a>(&'a GradientsParams, Vec<(f32, f32)>);

    impl ModuleVisitor for WithGrads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let w = param.val().into_data().try_to_vec::<f32>().expect("f32");
            let g = self.0.get::<D>(param.id).expect("a gradient");
            let g = g.into_data().try_to_vec::<f32>().expect("f32");
            self.1.extend(w.into_iter().zip(g));
        }
    }

    /// Three steps of each optimizer whose parameters are axes, against the update formulas
    /// computed here in f64 from the same gradients, with non-default values of every
    /// parameter: SGD with momentum and Nesterov as Keras 3 writes it (keras/src/optimizers/
    /// sgd.py), Adam with beta1, beta2 and epsilon with epsilon added to the bias-corrected
    /// sqrt(v_hat), burn's (and PyTorch's) placement: Keras adds it to sqrt(v) instead, the one
    /// difference docs/keras.md lists (with epsilon 1e-6 and these gradients it moves the first
    /// step by 4 parts in 10,000, so the test would see it).
    #[test]
    fn optimizer_parameters_follow_kerass_update_formulas() {
        use crate::spec::optim::{OptimizerKind, Param as P};
        let mut sgd = OptimizerSpec::keras_default(OptimizerKind::Sgd);
        sgd.set("momentum", P::Float(0.8)).unwrap();
        sgd.set("nesterov", P::Bool(true)).unwrap();
        let mut adam = OptimizerSpec::keras_default(OptimizerKind::Adam);
        adam.set("beta1", P::Float(0.7)).unwrap();
        adam.set("beta2", P::Float(0.95)).unwrap();
        adam.set("epsilon", P::Float(1e-6)).unwrap();
        for spec in [sgd, adam] {
            follows_the_formula(&spec, false, &[0.05; 3], 1e-5);
        }
    }

    /// Under a changing rate (a schedule) SGD's momentum is Keras's: each gradient scaled by its
    /// own step's rate. burn's rule (the velocity scaled by the current rate) would differ from
    /// the second step on, which the test also shows.
    #[test]
    fn scheduled_sgd_momentum_follows_keras_under_a_changing_rate() {
        use crate::spec::optim::{OptimizerKind, Param as P};
        let rates = [0.05, 0.02, 0.01];
        for nesterov in [false, true] {
            let mut spec = OptimizerSpec::keras_default(OptimizerKind::Sgd);
            spec.set("momentum", P::Float(0.8)).unwrap();
            spec.set("nesterov", P::Bool(nesterov)).unwrap();
            let keras = follows_the_formula(&spec, true, &rates, 1e-6);
            // burn's own momentum, trained the same way, ends elsewhere.
            let (t, mut net) = (Tiny::new(), Tiny::new().net());
            let mut opt = burn_optimizer(&spec, false);
            for lr in rates {
                let g = t.grads(&net);
                net = update(&mut opt, net, g, lr, 0.0);
            }
            assert_ne!(
                params(&net),
                keras,
                "burn's rule should differ under a changing rate"
            );
        }
    }

    /// A 3-input, 2-class dense network on two examples, its gradients and inputs.
    struct Tiny {
        ad: Device,
        x: Tensor<4>,
        y: Tensor<1, Int>,
    }

    impl Tiny {
        fn new() -> Tiny {
            let ad = Device::flex().autodiff();
            let x = Tensor::<4>::from_data(
                TensorData::new(vec![0.5f32, -1.0, 2.0, 1.0, 0.0, -0.5], [2, 3, 1, 1]),
                &ad,
            );
            let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0], [2]), &ad);
            Tiny { ad, x, y }
        }

        fn net(&self) -> Network {
            let layers = [Layer::Dense {
                units: 2,
                activation: Activation::Softmax,
            }];
            Network::new(
                &layers,
                Shape::Flat(3),
                &mut ChaCha8Rng::seed_from_u64(5),
                &self.ad,
            )
        }

        fn grads(&self, net: &Network) -> GradientsParams {
            let loss = CrossEntropyLossConfig::new()
                .init(&self.ad)
                .forward(net.forward(self.x.clone(), None), self.y.clone());
            GradientsParams::from_grads(loss.backward(), net)
        }
    }

    /// Train [`Tiny`] one step per rate with `spec` (as a scheduled run when `scheduled`), each
    /// step checked against [`keras_step`] from the same gradients within `tolerance`; the
    /// final weights.
    fn follows_the_formula(
        spec: &OptimizerSpec,
        scheduled: bool,
        rates: &[f64],
        tolerance: f64,
    ) -> Vec<f32> {
        let t = Tiny::new();
        let mut net = t.net();
        let mut optimizer = burn_optimizer(spec, scheduled);
        // Each weight's state: (m, v) for Adam, m for SGD.
        let mut state: Vec<(f64, f64)> = Vec::new();
        for (i, &lr) in rates.iter().enumerate() {
            let grads = t.grads(&net);
            let mut wg = WithGrads(&grads, Vec::new());
            net.visit(&mut wg);
            state.resize(wg.1.len(), (0.0, 0.0));
            let step = i as i32 + 1;
            let want: Vec<f64> =
                wg.1.iter()
                    .zip(state.iter_mut())
                    .map(|(&(w, g), s)| keras_step(spec, lr, step, w as f64, g as f64, s))
                    .collect();
            net = update(&mut optimizer, net, grads, lr, 0.0);
            for (got, want) in params(&net).iter().zip(&want) {
                assert!(
                    (*got as f64 - want).abs() <= tolerance * want.abs().max(1e-2),
                    "{spec:?} step {step}: {got} vs {want}"
                );
            }
        }
        params(&net)
    }

    /// One Keras 3 update of weight `w` with gradient `g` at step `t` (1-based).
    fn keras_step(
        spec: &OptimizerSpec,
        lr: f64,
        t: i32,
        w: f64,
        g: f64,
        s: &mut (f64, f64),
    ) -> f64 {
        match *spec {
            OptimizerSpec::Sgd {
                momentum, nesterov, ..
            } => {
                // m = momentum * m - lr * g; w += momentum * m - lr * g (Nesterov), else w += m.
                s.0 = momentum * s.0 - lr * g;
                if nesterov {
                    w + momentum * s.0 - lr * g
                } else {
                    w + s.0
                }
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                s.0 += (g - s.0) * (1.0 - beta1);
                s.1 += (g * g - s.1) * (1.0 - beta2);
                let m_hat = s.0 / (1.0 - beta1.powi(t));
                let v_hat = s.1 / (1.0 - beta2.powi(t));
                w - lr * m_hat / (v_hat.sqrt() + epsilon)
            }
            OptimizerSpec::Rmsprop { .. } => unreachable!("tested in rmsprop.rs"),
        }
    }

    /// Keras 3's decoupled weight decay (`BaseOptimizer._apply_weight_decay`, then the update):
    /// `w <- w - w * wd * lr`, then the optimizer's step with the gradient taken before. So the
    /// weights after a step with decay are those after the same step without it, minus
    /// `lr * wd * w0`, for SGD and for Adam alike.
    #[test]
    fn weight_decay_is_kerass_decoupled_rule() {
        let ad = Device::flex().autodiff();
        let layers = [Layer::Dense {
            units: 3,
            activation: Activation::Softmax,
        }];
        let net = Network::new(
            &layers,
            Shape::Flat(4),
            &mut ChaCha8Rng::seed_from_u64(3),
            &ad,
        );
        let x = Tensor::<4>::from_data(
            TensorData::new(
                vec![0.5f32, -1.0, 2.0, 0.25, 1.0, 0.0, -0.5, 1.5],
                [2, 4, 1, 1],
            ),
            &ad,
        );
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0], [2]), &ad);
        let grads = |net: &Network| {
            let loss = CrossEntropyLossConfig::new()
                .init(&ad)
                .forward(net.forward(x.clone(), None), y.clone());
            GradientsParams::from_grads(loss.backward(), net)
        };
        let (lr, wd) = (0.1, 0.04);
        for spec in [
            OptimizerSpec::keras_default(crate::spec::optim::OptimizerKind::Sgd),
            OptimizerSpec::keras_default(crate::spec::optim::OptimizerKind::Adam),
        ] {
            let w0 = params(&net);
            let g = grads(&net);
            let plain = params(&update(
                &mut burn_optimizer(&spec, false),
                net.clone(),
                g,
                lr,
                0.0,
            ));
            let g = grads(&net);
            let decayed = params(&update(
                &mut burn_optimizer(&spec, false),
                net.clone(),
                g,
                lr,
                wd,
            ));
            for ((d, p), w) in decayed.iter().zip(&plain).zip(&w0) {
                let want = *p as f64 - lr * wd * *w as f64;
                assert!((*d as f64 - want).abs() < 1e-6, "{spec:?}: {d} vs {want}");
            }
            assert_ne!(decayed, plain);
        }
    }
}
