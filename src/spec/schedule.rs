//! Learning-rate schedules, per step as Keras's `keras.optimizers.schedules` define them, with
//! the optimizer's `lr` as the initial (or, after a warm-up, the peak) rate. `step` counts the
//! updates already applied (Keras's `optimizer.iterations`): 0 for a run's first batch.

use serde::{Deserialize, Serialize};

/// A schedule, declared under `[schedules.<name>]` and chosen with the `schedule` axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Piecewise constant (Keras's `PiecewiseConstantDecay`), as factors of `lr`: `factors[0]`
    /// until step `boundaries[0]` (included), `factors[1]` until `boundaries[1]`, ...
    Step {
        boundaries: Vec<u64>,
        factors: Vec<f64>,
    },
    /// `lr * decay_rate ^ (step / decay_steps)`, the exponent floored with `staircase`
    /// (Keras's `ExponentialDecay`).
    Exponential {
        decay_steps: u64,
        decay_rate: f64,
        #[serde(default)]
        staircase: bool,
    },
    /// Keras's `CosineDecay`: a linear warm-up from `warmup_from` to `lr` over `warmup_steps`,
    /// then `lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)` with
    /// `t = min(step - warmup_steps, decay_steps)`.
    Cosine {
        decay_steps: u64,
        #[serde(default)]
        alpha: f64,
        #[serde(default)]
        warmup_steps: u64,
        #[serde(default)]
        warmup_from: f64,
    },
}

impl Schedule {
    /// The learning rate at `step`, for an optimizer whose rate is `lr`.
    pub fn rate(&self, lr: f64, step: u64) -> f64 {
        match self {
            Schedule::Step {
                boundaries,
                factors,
            } => {
                let i = boundaries.iter().take_while(|&&b| step > b).count();
                lr * factors[i.min(factors.len() - 1)]
            }
            Schedule::Exponential {
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let mut p = step as f64 / *decay_steps as f64;
                if *staircase {
                    p = p.floor();
                }
                lr * decay_rate.powf(p)
            }
            Schedule::Cosine {
                decay_steps,
                alpha,
                warmup_steps,
                warmup_from,
            } => {
                if step < *warmup_steps {
                    return warmup_from + (lr - warmup_from) * step as f64 / *warmup_steps as f64;
                }
                let t = (step - warmup_steps).min(*decay_steps) as f64;
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t / *decay_steps as f64).cos());
                lr * ((1.0 - alpha) * cosine + alpha)
            }
        }
    }

    /// What is wrong with its parameters, if anything.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Schedule::Step {
                boundaries,
                factors,
            } => {
                if factors.len() != boundaries.len() + 1 {
                    return Err(format!(
                        "a step schedule needs one more factor than boundaries: {} boundaries, {} factors",
                        boundaries.len(),
                        factors.len()
                    ));
                }
                if !boundaries.windows(2).all(|w| w[0] < w[1]) {
                    return Err("the boundaries must increase".into());
                }
                if factors.iter().any(|f| !(f.is_finite() && *f >= 0.0)) {
                    return Err("the factors must be numbers of 0 or more".into());
                }
                Ok(())
            }
            Schedule::Exponential {
                decay_steps,
                decay_rate,
                ..
            } => {
                if *decay_steps == 0 || !(decay_rate.is_finite() && *decay_rate > 0.0) {
                    return Err("decay_steps must be at least 1 and decay_rate positive".into());
                }
                Ok(())
            }
            Schedule::Cosine {
                decay_steps,
                alpha,
                warmup_from,
                ..
            } => {
                if *decay_steps == 0 {
                    return Err("decay_steps must be at least 1".into());
                }
                if !((0.0..=1.0).contains(alpha) && warmup_from.is_finite() && *warmup_from >= 0.0)
                {
                    return Err("alpha must be in [0, 1] and warmup_from 0 or more".into());
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }

    /// Values from the formulas in Keras's documentation of `keras.optimizers.schedules`
    /// (ExponentialDecay, PiecewiseConstantDecay, CosineDecay), worked by hand.
    #[test]
    fn schedules_follow_kerass_formulas() {
        let e = Schedule::Exponential {
            decay_steps: 100,
            decay_rate: 0.5,
            staircase: false,
        };
        close(e.rate(0.1, 0), 0.1);
        close(e.rate(0.1, 50), 0.1 * 0.5f64.sqrt());
        close(e.rate(0.1, 200), 0.025);
        let s = Schedule::Exponential {
            decay_steps: 100,
            decay_rate: 0.5,
            staircase: true,
        };
        close(s.rate(0.1, 199), 0.05);
        // PiecewiseConstantDecay(boundaries=[100, 110], values=[1.0, 0.5, 0.1]) x lr.
        let p = Schedule::Step {
            boundaries: vec![100, 110],
            factors: vec![1.0, 0.5, 0.1],
        };
        close(p.rate(0.2, 100), 0.2);
        close(p.rate(0.2, 101), 0.1);
        close(p.rate(0.2, 110), 0.1);
        close(p.rate(0.2, 111), 0.02);
        // CosineDecay(initial 0.0, decay_steps 1000, alpha 0.1, warmup_target lr, warmup 100).
        let c = Schedule::Cosine {
            decay_steps: 1000,
            alpha: 0.1,
            warmup_steps: 100,
            warmup_from: 0.0,
        };
        close(c.rate(0.01, 0), 0.0);
        close(c.rate(0.01, 50), 0.005);
        close(c.rate(0.01, 100), 0.01);
        close(c.rate(0.01, 600), 0.01 * (0.9 * 0.5 + 0.1));
        close(c.rate(0.01, 1100), 0.001);
        close(c.rate(0.01, 5000), 0.001);
    }

    #[test]
    fn bad_parameters_are_said() {
        let p = Schedule::Step {
            boundaries: vec![10],
            factors: vec![1.0],
        };
        assert!(p.check().unwrap_err().contains("one more factor"));
        let c = Schedule::Cosine {
            decay_steps: 0,
            alpha: 0.0,
            warmup_steps: 0,
            warmup_from: 0.0,
        };
        assert!(c.check().is_err());
    }
}
