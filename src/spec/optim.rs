//! Optimizers: their manifest kinds and Keras defaults, as plain data (the burn optimizer each
//! becomes is built by [`crate::train`]).
//!
//! burn's own defaults differ from Keras's (SGD momentum dampening 0.1; RMSprop rho 0.99,
//! momentum 0.9, epsilon 1e-5; Adam epsilon 1e-5), so every value is set explicitly here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A hyperparameter's value, for [`OptimizerSpec::set`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param {
    Float(f64),
    Bool(bool),
}

/// The optimizer families a manifest may name in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Rmsprop,
    Adam,
}

impl OptimizerKind {
    /// Every kind.
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Sgd,
        OptimizerKind::Rmsprop,
        OptimizerKind::Adam,
    ];

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
            OptimizerKind::Sgd => &["lr", "momentum", "nesterov", "weight_decay"],
            OptimizerKind::Rmsprop => &["lr", "rho", "momentum", "epsilon", "weight_decay"],
            OptimizerKind::Adam => &["lr", "beta1", "beta2", "epsilon", "weight_decay"],
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
        /// Decoupled weight decay (Keras's `weight_decay`): before each update every weight
        /// `w` becomes `w - w * weight_decay * lr`. 0: none (and left out of the identity).
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f64,
    },
    Rmsprop {
        lr: f64,
        rho: f64,
        momentum: f64,
        epsilon: f64,
        /// Decoupled weight decay (Keras's `weight_decay`): before each update every weight
        /// `w` becomes `w - w * weight_decay * lr`. 0: none (and left out of the identity).
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
        /// Decoupled weight decay (Keras's `weight_decay`): before each update every weight
        /// `w` becomes `w - w * weight_decay * lr`. 0: none (and left out of the identity).
        #[serde(default, skip_serializing_if = "is_zero")]
        weight_decay: f64,
    },
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl OptimizerSpec {
    /// Keras 3's defaults for `kind`.
    pub fn keras_default(kind: OptimizerKind) -> Self {
        match kind {
            OptimizerKind::Sgd => OptimizerSpec::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            },
            OptimizerKind::Rmsprop => OptimizerSpec::Rmsprop {
                lr: 0.001,
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                weight_decay: 0.0,
            },
            OptimizerKind::Adam => OptimizerSpec::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
                weight_decay: 0.0,
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

    /// The version of this kind's update rule, part of a run's identity where set (the
    /// identity leaves it out where unset, so no other run's id moves): bumped when the same
    /// hyperparameters start to train differently, so that results of the old rule are never
    /// taken for the new one's. RMSprop 2: Keras's `g / sqrt(v + epsilon)`; its runs before
    /// that used burn's `g / (sqrt(v) + epsilon)`.
    pub fn update_rule(&self) -> Option<u32> {
        match self {
            OptimizerSpec::Rmsprop { .. } => Some(2),
            OptimizerSpec::Sgd { .. } | OptimizerSpec::Adam { .. } => None,
        }
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

    /// Decoupled weight decay (0: none).
    pub fn weight_decay(&self) -> f64 {
        match self {
            OptimizerSpec::Sgd { weight_decay, .. }
            | OptimizerSpec::Rmsprop { weight_decay, .. }
            | OptimizerSpec::Adam { weight_decay, .. } => *weight_decay,
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

    /// Sets hyperparameter `name` (a manifest key of [`OptimizerKind::parameters`]); an
    /// error when this kind does not take it or the value's type is wrong. Ranges are
    /// [`OptimizerSpec::check`]'s.
    pub fn set(&mut self, name: &str, value: Param) -> Result<(), String> {
        let kind = self.kind();
        let slot: Option<&mut f64> = match (&mut *self, name) {
            (OptimizerSpec::Sgd { nesterov, .. }, "nesterov") => {
                return match value {
                    Param::Bool(b) => {
                        *nesterov = b;
                        Ok(())
                    }
                    Param::Float(_) => Err("nesterov is true or false".into()),
                };
            }
            (
                OptimizerSpec::Sgd { lr, .. }
                | OptimizerSpec::Rmsprop { lr, .. }
                | OptimizerSpec::Adam { lr, .. },
                "lr",
            ) => Some(lr),
            (
                OptimizerSpec::Sgd { momentum, .. } | OptimizerSpec::Rmsprop { momentum, .. },
                "momentum",
            ) => Some(momentum),
            (
                OptimizerSpec::Sgd { weight_decay, .. }
                | OptimizerSpec::Rmsprop { weight_decay, .. }
                | OptimizerSpec::Adam { weight_decay, .. },
                "weight_decay",
            ) => Some(weight_decay),
            (OptimizerSpec::Rmsprop { rho, .. }, "rho") => Some(rho),
            (OptimizerSpec::Adam { beta1, .. }, "beta1") => Some(beta1),
            (OptimizerSpec::Adam { beta2, .. }, "beta2") => Some(beta2),
            (
                OptimizerSpec::Rmsprop { epsilon, .. } | OptimizerSpec::Adam { epsilon, .. },
                "epsilon",
            ) => Some(epsilon),
            _ => None,
        };
        match (slot, value) {
            (Some(slot), Param::Float(v)) => {
                *slot = v;
                Ok(())
            }
            (Some(_), Param::Bool(_)) => Err(format!("{name} is a number")),
            (None, _) => Err(format!(
                "`{name}` is not a parameter of {}; it takes: {}",
                kind.name(),
                kind.parameters().join(", ")
            )),
        }
    }

    /// Hyperparameter `name`'s value (a manifest key of [`OptimizerKind::parameters`]), for the
    /// kinds that take it.
    pub fn get(&self, name: &str) -> Option<Param> {
        use OptimizerSpec::{Adam, Rmsprop, Sgd};
        let float = |v: &f64| Some(Param::Float(*v));
        match (self, name) {
            (Sgd { nesterov, .. }, "nesterov") => Some(Param::Bool(*nesterov)),
            (_, "lr") => Some(Param::Float(self.lr())),
            (_, "weight_decay") => Some(Param::Float(self.weight_decay())),
            (_, "momentum") => self.momentum().map(Param::Float),
            (Rmsprop { rho, .. }, "rho") => float(rho),
            (Adam { beta1, .. }, "beta1") => float(beta1),
            (Adam { beta2, .. }, "beta2") => float(beta2),
            (Rmsprop { epsilon, .. } | Adam { epsilon, .. }, "epsilon") => float(epsilon),
            _ => None,
        }
    }

    /// Check value ranges: which parameter is wrong and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let lr = self.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(("lr", format!("lr must be a positive number, got {lr}")));
        }
        let wd = self.weight_decay();
        if !(wd >= 0.0 && wd * lr < 1.0) {
            return Err((
                "weight_decay",
                format!(
                    "weight_decay must be 0 or more and weight_decay x lr below 1 (each step keeps 1 - weight_decay x lr of every weight), got {wd} with lr {lr}"
                ),
            ));
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
    fn every_parameter_reads_back_what_was_set() {
        for kind in OptimizerKind::ALL {
            let mut o = OptimizerSpec::keras_default(kind);
            for (i, p) in kind.parameters().iter().enumerate() {
                let v = match o.get(p) {
                    Some(Param::Bool(b)) => Param::Bool(!b),
                    Some(Param::Float(_)) => Param::Float(0.125 + i as f64 / 64.0),
                    None => panic!("{} does not read its own {p}", kind.name()),
                };
                o.set(p, v).unwrap();
                assert_eq!(o.get(p), Some(v), "{} {p}", kind.name());
            }
            assert_eq!(o.get("nonsense"), None);
        }
        assert_eq!(
            OptimizerSpec::keras_default(OptimizerKind::Adam).get("momentum"),
            None
        );
    }

    #[test]
    fn builtins_are_keras_defaults() {
        let b = OptimizerSpec::builtins();
        assert_eq!(
            b["sgd"],
            OptimizerSpec::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0
            }
        );
        assert_eq!(
            b["rmsprop"],
            OptimizerSpec::Rmsprop {
                lr: 0.001,
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                weight_decay: 0.0
            }
        );
        assert_eq!(
            b["adam"],
            OptimizerSpec::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
                weight_decay: 0.0
            }
        );
    }

    #[test]
    fn check_names_the_bad_parameter() {
        let mut s = OptimizerSpec::keras_default(OptimizerKind::Sgd);
        s.set("momentum", Param::Float(1.5)).unwrap();
        assert_eq!(s.check().unwrap_err().0, "momentum");
        let mut s = OptimizerSpec::keras_default(OptimizerKind::Adam);
        s.set("lr", Param::Float(-1.0)).unwrap();
        assert_eq!(s.check().unwrap_err().0, "lr");
    }

    #[test]
    fn set_takes_exactly_the_parameters_of_the_kind() {
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Rmsprop,
            OptimizerKind::Adam,
        ] {
            for name in [
                "lr", "momentum", "nesterov", "rho", "beta1", "beta2", "epsilon",
            ] {
                let mut s = OptimizerSpec::keras_default(kind);
                let value = if name == "nesterov" {
                    Param::Bool(true)
                } else {
                    Param::Float(0.5)
                };
                assert_eq!(
                    s.set(name, value).is_ok(),
                    kind.parameters().contains(&name),
                    "{kind:?} {name}"
                );
            }
        }
    }
}
