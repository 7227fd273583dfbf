//! The Tree-structured Parzen Estimator (Bergstra et al., 2011), as a pure function: given the
//! points tried so far (coordinates in the unit cube, one per search dimension) and their
//! losses, propose the next batch. Independent per dimension, as Optuna's default and
//! hyperopt's: the observations are split into the best `gamma` share ("good") and the rest;
//! each side is a Parzen density per dimension (a Gaussian mixture truncated to [0, 1] with a
//! uniform prior component for continuous dimensions, smoothed counts for discrete ones);
//! candidates are drawn from the good density and the one maximizing good/bad is taken. Points
//! of the same batch are spread by a constant liar: each chosen point joins the bad side with
//! the worst loss seen before the next is chosen.
//!
//! Deterministic: the random numbers come from the search seed and the batch number alone, so
//! the same observations give the same proposals, whoever computes them and when.

use rand::{Rng, SeedableRng};

/// A search dimension, as the estimator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Dim {
    /// Any value in [0, 1) (uniform and log-uniform distributions, in their own scale).
    Continuous,
    /// One of `k` values: [0, 1) cut into `k` equal cells (choices, whole numbers).
    Discrete(usize),
}

/// Candidates drawn from the good density per proposal (Optuna's default).
const CANDIDATES: usize = 24;
/// The good side is at most this many observations (Optuna's default gamma cap).
const MAX_GOOD: usize = 25;

/// Tuning of the estimator: its defaults are hyperopt's and Optuna's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tpe {
    /// The share of observations on the good side (at least one, at most 25).
    pub(crate) gamma: f64,
    pub(crate) candidates: usize,
}

impl Default for Tpe {
    fn default() -> Self {
        Tpe {
            gamma: 0.25,
            candidates: CANDIDATES,
        }
    }
}

impl Tpe {
    /// `n` points proposed from `observed` (point, loss: lower is better; a NaN loss counts as
    /// the worst), none equal to `taken(point)` of an earlier or already proposed one (up to
    /// the candidates drawn: a space with fewer distinct points than asked may repeat).
    /// `seed` and `batch` pick the random numbers.
    pub(crate) fn propose(
        &self,
        dims: &[Dim],
        observed: &[(Vec<f64>, f64)],
        n: usize,
        seed: u64,
        batch: u64,
        taken: &dyn Fn(&[f64]) -> String,
    ) -> Vec<Vec<f64>> {
        let worst = observed
            .iter()
            .map(|(_, l)| *l)
            .filter(|l| l.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        let worst = if worst.is_finite() { worst } else { 0.0 };
        let mut obs: Vec<(Vec<f64>, f64)> = observed
            .iter()
            .map(|(p, l)| (p.clone(), if l.is_finite() { *l } else { worst }))
            .collect();
        let mut seen: std::collections::HashSet<String> =
            obs.iter().map(|(p, _)| taken(p)).collect();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7470_655f_7370_6163);
            rng.set_stream((batch << 20) | i as u64);
            let (good, bad) = self.split(&obs);
            let mut best: Option<(f64, Vec<f64>)> = None;
            let mut fallback: Option<Vec<f64>> = None;
            for _ in 0..self.candidates.max(1) {
                let x: Vec<f64> = dims
                    .iter()
                    .enumerate()
                    .map(|(d, dim)| sample(*dim, &column(&good, d), &mut rng))
                    .collect();
                let score: f64 = dims
                    .iter()
                    .enumerate()
                    .map(|(d, dim)| {
                        log_density(*dim, &column(&good, d), x[d])
                            - log_density(*dim, &column(&bad, d), x[d])
                    })
                    .sum();
                fallback.get_or_insert_with(|| x.clone());
                if seen.contains(&taken(&x)) {
                    continue;
                }
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, x));
                }
            }
            let x = best.map_or_else(|| fallback.expect("one candidate at least"), |b| b.1);
            seen.insert(taken(&x));
            // The constant liar: the point is pending, as if it had the worst loss seen.
            obs.push((x.clone(), worst));
            out.push(x);
        }
        out
    }

    /// The observations' points, best `gamma` share first (ties: the earlier observation).
    fn split<'a>(&self, obs: &'a [(Vec<f64>, f64)]) -> (Vec<&'a [f64]>, Vec<&'a [f64]>) {
        let mut order: Vec<usize> = (0..obs.len()).collect();
        order.sort_by(|&a, &b| obs[a].1.total_cmp(&obs[b].1).then(a.cmp(&b)));
        let n_good =
            ((self.gamma * obs.len() as f64).ceil() as usize).clamp(1.min(obs.len()), MAX_GOOD);
        let good = order[..n_good]
            .iter()
            .map(|&i| obs[i].0.as_slice())
            .collect();
        let bad = order[n_good..]
            .iter()
            .map(|&i| obs[i].0.as_slice())
            .collect();
        (good, bad)
    }
}

fn column(points: &[&[f64]], d: usize) -> Vec<f64> {
    points.iter().map(|p| p[d]).collect()
}

/// The cell of `u` among `k`.
fn cell(u: f64, k: usize) -> usize {
    ((u * k as f64) as usize).min(k - 1)
}

/// A Parzen estimator's components for a continuous dimension: (mean, bandwidth) of each
/// observation's Gaussian plus the prior's (0.5, 1), bandwidths from the distance to the
/// neighbours (hyperopt's rule), clipped to [1 / min(100, n + 1), 1].
fn components(xs: &[f64]) -> Vec<(f64, f64)> {
    let mut mus: Vec<f64> = xs.to_vec();
    mus.push(0.5);
    mus.sort_by(f64::total_cmp);
    let n = xs.len();
    let min_sigma = 1.0 / (n as f64 + 1.0).min(100.0);
    (0..mus.len())
        .map(|i| {
            let left = if i == 0 { mus[i] } else { mus[i] - mus[i - 1] };
            let right = if i + 1 == mus.len() {
                1.0 - mus[i]
            } else {
                mus[i + 1] - mus[i]
            };
            let sigma = if mus[i] == 0.5 && n == 0 {
                1.0
            } else {
                left.max(right).clamp(min_sigma, 1.0)
            };
            (mus[i], sigma)
        })
        .collect()
}

/// The standard normal distribution's CDF (statrs's error function).
fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + statrs::function::erf::erf(z / std::f64::consts::SQRT_2))
}

/// The log density at `x` of the estimator built from `xs`.
fn log_density(dim: Dim, xs: &[f64], x: f64) -> f64 {
    match dim {
        Dim::Discrete(k) => {
            let c = cell(x, k);
            let count = xs.iter().filter(|&&u| cell(u, k) == c).count() as f64;
            // One pseudo-observation spread over the cells: the prior.
            ((count + 1.0 / k as f64) / (xs.len() as f64 + 1.0)).ln()
        }
        Dim::Continuous => {
            let comps = components(xs);
            let p: f64 = comps
                .iter()
                .map(|&(mu, s)| {
                    let mass = normal_cdf((1.0 - mu) / s) - normal_cdf(-mu / s);
                    let z = (x - mu) / s;
                    (-0.5 * z * z).exp() / (s * (2.0 * std::f64::consts::PI).sqrt() * mass)
                })
                .sum::<f64>()
                / comps.len() as f64;
            p.max(1e-300).ln()
        }
    }
}

/// A draw from the estimator built from `xs`.
fn sample(dim: Dim, xs: &[f64], rng: &mut impl Rng) -> f64 {
    match dim {
        Dim::Discrete(k) => {
            let weights: Vec<f64> = (0..k)
                .map(|c| xs.iter().filter(|&&u| cell(u, k) == c).count() as f64 + 1.0 / k as f64)
                .collect();
            let total: f64 = weights.iter().sum();
            let mut r = rng.random::<f64>() * total;
            let mut c = k - 1;
            for (i, w) in weights.iter().enumerate() {
                if r < *w {
                    c = i;
                    break;
                }
                r -= w;
            }
            (c as f64 + 0.5) / k as f64
        }
        Dim::Continuous => {
            let comps = components(xs);
            let (mu, s) = comps[rng.random_range(0..comps.len())];
            // Truncated to [0, 1) by rejection; a component far outside falls back to the
            // nearest bound.
            for _ in 0..64 {
                let x = mu + s * standard_normal(rng);
                if (0.0..1.0).contains(&x) {
                    return x;
                }
            }
            mu.clamp(0.0, 1.0 - f64::EPSILON)
        }
    }
}

/// Box-Muller: one standard normal draw.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &[f64]) -> String {
        format!("{p:?}")
    }

    /// A noisy bowl in one continuous dimension (the log of a learning rate mapped to [0, 1)),
    /// its minimum at 0.3: after random startup points, TPE's proposals gather near it.
    #[test]
    fn proposals_concentrate_near_the_optimum_of_a_noisy_bowl() {
        let dims = [Dim::Continuous, Dim::Discrete(3)];
        let f = |p: &[f64], noise: f64| (p[0] - 0.3).powi(2) + 0.05 * cell(p[1], 3) as f64 + noise;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut observed: Vec<(Vec<f64>, f64)> = (0..8)
            .map(|_| {
                let p = vec![rng.random::<f64>(), rng.random::<f64>()];
                let l = f(&p, 0.005 * standard_normal(&mut rng));
                (p, l)
            })
            .collect();
        let tpe = Tpe::default();
        for batch in 1..=8 {
            for p in tpe.propose(&dims, &observed, 4, 1, batch, &key) {
                let l = f(&p, 0.005 * standard_normal(&mut rng));
                observed.push((p, l));
            }
        }
        let late: Vec<&(Vec<f64>, f64)> = observed[observed.len() - 16..].iter().collect();
        let near = late
            .iter()
            .filter(|(p, _)| (p[0] - 0.3).abs() < 0.15)
            .count();
        let best_cell = late.iter().filter(|(p, _)| cell(p[1], 3) == 0).count();
        // Random points would put 30% within 0.15 of the optimum, and a third in cell 0.
        assert!(near >= 11, "{near} of 16 late proposals near 0.3: {late:?}");
        assert!(
            best_cell >= 9,
            "{best_cell} of 16 in the best cell: {late:?}"
        );
        let best = observed.iter().map(|o| o.1).fold(f64::INFINITY, f64::min);
        assert!(best < 0.002, "best loss {best}");
    }

    /// The same observations give the same proposals; another batch number or seed, others;
    /// a batch's points differ from each other and from what was observed.
    #[test]
    fn proposals_are_a_pure_function_of_observations_seed_and_batch() {
        let dims = [Dim::Continuous, Dim::Continuous];
        let observed: Vec<(Vec<f64>, f64)> = (0..6)
            .map(|i| {
                let p = vec![i as f64 / 6.0, 1.0 - i as f64 / 7.0];
                let l = (p[0] - 0.5).abs();
                (p, l)
            })
            .collect();
        let tpe = Tpe::default();
        let a = tpe.propose(&dims, &observed, 3, 5, 2, &key);
        assert_eq!(a, tpe.propose(&dims, &observed, 3, 5, 2, &key));
        assert_ne!(a, tpe.propose(&dims, &observed, 3, 5, 3, &key));
        assert_ne!(a, tpe.propose(&dims, &observed, 3, 6, 2, &key));
        assert_eq!(a.len(), 3);
        let mut keys: Vec<String> = a.iter().map(|p| key(p)).collect();
        keys.extend(observed.iter().map(|(p, _)| key(p)));
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 9, "all distinct");
    }

    /// The reference trace (docs/search.md): one dimension, batch = 1, losses |x - 0.25|,
    /// seed 0, starting from the four points 0.1, 0.4, 0.6, 0.9. Any change to the estimator
    /// changes these numbers; change them only on purpose.
    #[test]
    fn batch_of_one_follows_the_reference_trace() {
        let dims = [Dim::Continuous];
        let mut observed: Vec<(Vec<f64>, f64)> = [0.1, 0.4, 0.6, 0.9]
            .iter()
            .map(|&x: &f64| (vec![x], (x - 0.25).abs()))
            .collect();
        let tpe = Tpe::default();
        let mut trace = Vec::new();
        for batch in 1..=6 {
            let p = tpe.propose(&dims, &observed, 1, 0, batch, &key).remove(0);
            trace.push(format!("{:.4}", p[0]));
            observed.push((p.clone(), (p[0] - 0.25).abs()));
        }
        assert_eq!(trace, REFERENCE_TRACE, "{trace:?}");
    }

    const REFERENCE_TRACE: [&str; 6] = ["0.0283", "0.1734", "0.0237", "0.2444", "0.3247", "0.3051"];
}
