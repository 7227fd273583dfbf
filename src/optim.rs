//! Optimizers: their manifest kinds, Keras defaults, and the burn optimizer each becomes.
//!
//! burn's own defaults differ from Keras's (SGD momentum dampening 0.1; RMSprop rho 0.99,
//! momentum 0.9, epsilon 1e-5; Adam epsilon 1e-5), so every value is set explicitly here.

use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The optimizer families a manifest may name in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Rmsprop,
    Adam,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Adam => "adam",
        }
    }

    /// The manifest keys this kind accepts.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Sgd => &["lr", "momentum", "nesterov"],
            OptimizerKind::Rmsprop => &["lr", "rho", "momentum", "epsilon"],
            OptimizerKind::Adam => &["lr", "beta1", "beta2", "epsilon"],
        }
    }
}

/// A fully resolved optimizer: every hyperparameter explicit. Part of a run's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerSpec {
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
    },
    Rmsprop {
        lr: f64,
        rho: f64,
        momentum: f64,
        epsilon: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
}

impl OptimizerSpec {
    /// Keras 3's defaults for `kind`.
    pub fn keras_default(kind: OptimizerKind) -> Self {
        match kind {
            OptimizerKind::Sgd => OptimizerSpec::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
            },
            OptimizerKind::Rmsprop => OptimizerSpec::Rmsprop {
                lr: 0.001,
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
            },
            OptimizerKind::Adam => OptimizerSpec::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
            },
        }
    }

    /// The optimizers every manifest can name without declaring them: Keras defaults.
    pub fn builtins() -> BTreeMap<String, OptimizerSpec> {
        [
            OptimizerKind::Sgd,
            OptimizerKind::Rmsprop,
            OptimizerKind::Adam,
        ]
        .into_iter()
        .map(|k| (k.name().to_string(), Self::keras_default(k)))
        .collect()
    }

    pub fn kind(&self) -> OptimizerKind {
        match self {
            OptimizerSpec::Sgd { .. } => OptimizerKind::Sgd,
            OptimizerSpec::Rmsprop { .. } => OptimizerKind::Rmsprop,
            OptimizerSpec::Adam { .. } => OptimizerKind::Adam,
        }
    }

    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSpec::Sgd { lr, .. }
            | OptimizerSpec::Rmsprop { lr, .. }
            | OptimizerSpec::Adam { lr, .. } => *lr,
        }
    }

    /// Momentum, for the kinds that have one.
    pub fn momentum(&self) -> Option<f64> {
        match self {
            OptimizerSpec::Sgd { momentum, .. } | OptimizerSpec::Rmsprop { momentum, .. } => {
                Some(*momentum)
            }
            OptimizerSpec::Adam { .. } => None,
        }
    }

    /// Override the given values; callers have checked that each applies to this kind.
    #[allow(clippy::too_many_arguments)]
    pub fn with(
        mut self,
        lr_: Option<f64>,
        momentum_: Option<f64>,
        nesterov_: Option<bool>,
        rho_: Option<f64>,
        beta1_: Option<f64>,
        beta2_: Option<f64>,
        epsilon_: Option<f64>,
    ) -> Self {
        match &mut self {
            OptimizerSpec::Sgd {
                lr,
                momentum,
                nesterov,
            } => {
                *lr = lr_.unwrap_or(*lr);
                *momentum = momentum_.unwrap_or(*momentum);
                *nesterov = nesterov_.unwrap_or(*nesterov);
            }
            OptimizerSpec::Rmsprop {
                lr,
                rho,
                momentum,
                epsilon,
            } => {
                *lr = lr_.unwrap_or(*lr);
                *rho = rho_.unwrap_or(*rho);
                *momentum = momentum_.unwrap_or(*momentum);
                *epsilon = epsilon_.unwrap_or(*epsilon);
            }
            OptimizerSpec::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => {
                *lr = lr_.unwrap_or(*lr);
                *beta1 = beta1_.unwrap_or(*beta1);
                *beta2 = beta2_.unwrap_or(*beta2);
                *epsilon = epsilon_.unwrap_or(*epsilon);
            }
        }
        self
    }

    /// Check value ranges: which parameter is wrong and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let lr = self.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(("lr", format!("lr must be a positive number, got {lr}")));
        }
        let unit = |name: &'static str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err((name, format!("{name} must be in [0, 1), got {v}")))
            }
        };
        match *self {
            OptimizerSpec::Sgd { momentum, .. } => unit("momentum", momentum),
            OptimizerSpec::Rmsprop {
                rho,
                momentum,
                epsilon,
                ..
            } => {
                unit("rho", rho)?;
                unit("momentum", momentum)?;
                positive("epsilon", epsilon)
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                positive("epsilon", epsilon)
            }
        }
    }

    /// The burn optimizer with exactly these hyperparameters.
    ///
    /// Remaining differences from Keras, documented in the README: Adam adds epsilon to the
    /// bias-corrected sqrt(v_hat) (PyTorch's form), where Keras adds it to sqrt(v) before the
    /// bias correction folds into the step size; with epsilon 1e-7 the two differ only while
    /// sqrt(v) is ~1e-7. RMSprop divides by sqrt(v) + epsilon, as Keras 3 does.
    pub fn to_burn(&self) -> ModuleOptimizer {
        match *self {
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
            } => RmsPropConfig::new()
                .with_alpha(rho as f32)
                .with_momentum(momentum as f32)
                .with_epsilon(epsilon as f32)
                .with_centered(false)
                .init(),
            OptimizerSpec::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .init(),
        }
    }
}

fn positive(name: &'static str, v: f64) -> Result<(), (&'static str, String)> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err((name, format!("{name} must be positive, got {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_keras_defaults() {
        let b = OptimizerSpec::builtins();
        assert_eq!(
            b["sgd"],
            OptimizerSpec::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false
            }
        );
        assert_eq!(
            b["rmsprop"],
            OptimizerSpec::Rmsprop {
                lr: 0.001,
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7
            }
        );
        assert_eq!(
            b["adam"],
            OptimizerSpec::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7
            }
        );
    }

    #[test]
    fn check_names_the_bad_parameter() {
        let s = OptimizerSpec::keras_default(OptimizerKind::Sgd).with(
            None,
            Some(1.5),
            None,
            None,
            None,
            None,
            None,
        );
        assert_eq!(s.check().unwrap_err().0, "momentum");
        let s = OptimizerSpec::keras_default(OptimizerKind::Adam).with(
            Some(-1.0),
            None,
            None,
            None,
            None,
            None,
            None,
        );
        assert_eq!(s.check().unwrap_err().0, "lr");
    }
}
