//! The statistics behind the ranking and the gate, each a line of formula on top of statrs's
//! distributions (docs/results.md, "Statistics", defines each):
//!
//! - [`wilson`]: the Wilson score interval of an accuracy measured on `n` images, the floor below
//!   which no difference between two accuracies on the same images means anything.
//! - [`welch`]: Welch's two-sample t-test from means, standard deviations and counts.
//! - [`paired`]: the paired t-test of two samples measured at the same seeds.
//! - [`holm`]: Holm's step-down correction of several p-values.
//! - [`p_first`]: each configuration's probability of ranking first, by bootstrap over seeds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::statistics::Statistics;

/// The two-sided 95% quantile of the standard normal, 1.959964.
fn z95() -> f64 {
    Normal::standard().inverse_cdf(0.975)
}

/// The 95% Wilson score interval of a proportion `p` observed on `n` trials.
pub(crate) fn wilson(p: f64, n: usize) -> Option<[f64; 2]> {
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return None;
    }
    let (z, n) = (z95(), n as f64);
    let z2n = z * z / n;
    let centre = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt();
    Some([centre - half, centre + half])
}

/// A t-test's statistic, degrees of freedom and p-value ([`welch`], [`paired`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TTest {
    pub t: f64,
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's t-test of samples a and b, each given by mean, sample standard deviation and count;
/// `None` unless both have at least two values.
pub(crate) fn welch(a: (f64, f64, usize), b: (f64, f64, usize)) -> Option<TTest> {
    let ((ma, sa, na), (mb, sb, nb)) = (a, b);
    if na < 2 || nb < 2 {
        return None;
    }
    let (va, vb) = (sa * sa / na as f64, sb * sb / nb as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        // No spread at all: identical samples are not different, different ones certainly are.
        let p = if ma == mb { 1.0 } else { 0.0 };
        return Some(TTest {
            t: if ma == mb { 0.0 } else { f64::INFINITY },
            df: (na + nb - 2) as f64,
            p,
        });
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1) as f64 + vb * vb / (nb - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(TTest {
        t,
        df,
        p: (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0),
    })
}

/// The paired t-test of `a` and `b`, whose i-th values are paired (measured at the same seed):
/// `t = mean(d) / (sd(d) / sqrt(n))` on the differences `d = a - b`, with n - 1 degrees of
/// freedom. `None` unless there are two pairs or more of equal-length, finite samples, and
/// when every pair differs by the same non-zero amount: accuracies move in steps of one image,
/// so with a few seeds equal differences happen by chance and do not make a gap certain (the
/// caller falls back to a test on the two spreads). Identical pairs are no difference (p = 1).
pub(crate) fn paired(a: &[f64], b: &[f64]) -> Option<TTest> {
    let n = a.len();
    if n < 2 || b.len() != n {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let (mean, sd) = (d.iter().mean(), d.iter().std_dev());
    let df = (n - 1) as f64;
    if d.iter().all(|&x| x == 0.0) {
        return Some(TTest { t: 0.0, df, p: 1.0 });
    }
    if sd == 0.0 {
        return None;
    }
    let t = mean / (sd / (n as f64).sqrt());
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(TTest {
        t,
        df,
        p: (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0),
    })
}

/// The 95% interval of the mean paired difference `a - b`: mean(d) ± t(0.975, n - 1) sd(d) /
/// sqrt(n), under the conditions of [`paired`].
pub(crate) fn paired_interval(a: &[f64], b: &[f64]) -> Option<[f64; 2]> {
    let t = paired(a, b)?;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (mean, half) = (
        d.iter().mean(),
        d.iter().std_dev() / (d.len() as f64).sqrt(),
    );
    let q = StudentsT::new(0.0, 1.0, t.df).ok()?.inverse_cdf(0.975);
    Some([mean - q * half, mean + q * half])
}

/// The 95% Welch interval of mean(a) - mean(b).
pub(crate) fn welch_interval(a: (f64, f64, usize), b: (f64, f64, usize)) -> Option<[f64; 2]> {
    let w = welch(a, b)?;
    let se = ((a.1 * a.1) / a.2 as f64 + (b.1 * b.1) / b.2 as f64).sqrt();
    let t = StudentsT::new(0.0, 1.0, w.df).ok()?.inverse_cdf(0.975);
    let d = a.0 - b.0;
    Some([d - t * se, d + t * se])
}

/// The 95% (Wald) interval of p1 - p2, proportions observed on n1 and n2 trials.
pub(crate) fn two_proportions_interval(p1: f64, n1: usize, p2: f64, n2: usize) -> Option<[f64; 2]> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let se = (p1 * (1.0 - p1) / n1 as f64 + p2 * (1.0 - p2) / n2 as f64).sqrt();
    let d = p1 - p2;
    Some([d - z95() * se, d + z95() * se])
}

/// Holm's step-down adjustment: p-values in, adjusted p-values out (same order), each
/// `max over earlier-ranked of min(1, (m - rank) * p)`.
pub(crate) fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// The two-sided p-value of the two-proportion z-test: proportions `p1` on `n1` trials and
/// `p2` on `n2`, pooled under the hypothesis that they are equal.
pub(crate) fn two_proportions(p1: f64, n1: usize, p2: f64, n2: usize) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (a, b) = (n1 as f64, n2 as f64);
    let pooled = (p1 * a + p2 * b) / (a + b);
    let se = (pooled * (1.0 - pooled) * (1.0 / a + 1.0 / b)).sqrt();
    if se == 0.0 {
        return Some(if p1 == p2 { 1.0 } else { 0.0 });
    }
    let z = (p1 - p2) / se;
    Some((2.0 * (1.0 - Normal::standard().cdf(z.abs()))).clamp(0.0, 1.0))
}

/// Each sample's probability of having the best mean, by `resamples` bootstrap resamples
/// (each sample redrawn with replacement, its mean taken; ties share the win). Deterministic:
/// the resampling stream is seeded with `seed`. Samples with no values never win.
pub(crate) fn p_first(
    samples: &[&[f64]],
    higher_is_better: bool,
    resamples: usize,
    seed: u64,
) -> Vec<f64> {
    let mut wins = vec![0.0; samples.len()];
    if samples.iter().all(|s| s.is_empty()) || resamples == 0 {
        return wins;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sign = if higher_is_better { 1.0 } else { -1.0 };
    let mut means = vec![f64::NEG_INFINITY; samples.len()];
    for _ in 0..resamples {
        for (m, s) in means.iter_mut().zip(samples) {
            *m = if s.is_empty() {
                f64::NEG_INFINITY
            } else {
                sign * (0..s.len())
                    .map(|_| s[rng.random_range(0..s.len())])
                    .sum::<f64>()
                    / s.len() as f64
            };
        }
        let best = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let winners: Vec<usize> = (0..means.len()).filter(|&i| means[i] == best).collect();
        for &i in &winners {
            wins[i] += 1.0 / winners.len() as f64;
        }
    }
    wins.iter().map(|w| w / resamples as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from scipy 1.17.1 (a throwaway venv):
    //   stats.ttest_ind(a, b, equal_var=False)
    //   stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn summary(v: &[f64]) -> (f64, f64, usize) {
        let s = crate::results::report::Stats::of(v).unwrap();
        (s.mean, s.std.unwrap(), s.n)
    }

    #[test]
    fn welch_matches_scipy() {
        let w = welch(
            summary(&[0.981, 0.984, 0.979]),
            summary(&[0.975, 0.978, 0.977]),
        )
        .unwrap();
        assert!(close(w.t, 2.745625891934598, 1e-9), "{w:?}");
        assert!(close(w.df, 3.297560975609756, 1e-9), "{w:?}");
        assert!(close(w.p, 0.06390598320047998, 1e-7), "{w:?}");
        let w = welch(summary(&[0.9, 0.91]), summary(&[0.905, 0.915, 0.899, 0.92])).unwrap();
        assert!(close(w.t, -0.6887494619146971, 1e-9), "{w:?}");
        assert!(close(w.df, 2.846638080616593, 1e-9), "{w:?}");
        assert!(close(w.p, 0.5429007347171779, 1e-7), "{w:?}");
        assert_eq!(welch((0.9, 0.01, 1), (0.8, 0.01, 3)), None);
        assert_eq!(welch((0.9, 0.0, 2), (0.9, 0.0, 2)).unwrap().p, 1.0);
    }

    #[test]
    fn paired_matches_scipy() {
        // scipy: stats.ttest_rel(a, b)
        let t = paired(&[0.981, 0.984, 0.979], &[0.975, 0.978, 0.977]).unwrap();
        assert!(close(t.t, 3.4999999999999996, 1e-9), "{t:?}");
        assert_eq!(t.df, 2.0);
        assert!(close(t.p, 0.07282735005446937, 1e-7), "{t:?}");
        let t = paired(&[0.9, 0.91, 0.93, 0.95], &[0.905, 0.915, 0.899, 0.92]).unwrap();
        assert!(close(t.t, 1.2439024390243894, 1e-9), "{t:?}");
        assert_eq!(t.df, 3.0);
        assert!(close(t.p, 0.30187390322898705, 1e-7), "{t:?}");
        // Sign: a below b gives t below 0, the same p.
        let u = paired(&[0.905, 0.915, 0.899, 0.92], &[0.9, 0.91, 0.93, 0.95]).unwrap();
        assert!(close(u.t, -t.t, 1e-12) && close(u.p, t.p, 1e-12), "{u:?}");
        assert_eq!(paired(&[0.9], &[0.8]), None);
        assert_eq!(paired(&[0.9, 0.8], &[0.8]), None);
        assert_eq!(paired(&[0.9, 0.8], &[0.9, 0.8]).unwrap().p, 1.0);
        // A constant gap (two seeds, one image apart each time) is left to the caller.
        assert_eq!(paired(&[0.75, 0.5], &[0.5, 0.25]), None);
        assert_eq!(paired(&[f64::NAN, 0.5], &[0.5, 0.25]), None);
    }

    #[test]
    fn wilson_matches_scipy() {
        for (k, n, lo, hi) in [
            (9800, 10000, 0.9770660732392871, 0.9825652883248635),
            (900, 1000, 0.8798480368046515, 0.9170905564069043),
            (3, 10, 0.10779126740630102, 0.6032218525388546),
        ] {
            let [l, h] = wilson(k as f64 / n as f64, n).unwrap();
            assert!(close(l, lo, 1e-9) && close(h, hi, 1e-9), "{k}/{n}: {l} {h}");
        }
        assert_eq!(wilson(0.5, 0), None);
    }

    #[test]
    fn two_proportions_by_formula() {
        // p = 2 * norm.sf(|z|), z = (0.98 - 0.975) / sqrt(q (1 - q) (2 / 10000)), q = 0.9775
        // (scipy: z = 2.383995132840509, 2 * stats.norm.sf(z) = 0.017125828872194833).
        let p = two_proportions(0.98, 10_000, 0.975, 10_000).unwrap();
        assert!(close(p, 0.017125828872194833, 1e-7), "{p}");
        assert_eq!(two_proportions(0.5, 10, 0.5, 10), Some(1.0));
        assert_eq!(two_proportions(0.5, 0, 0.5, 10), None);
    }

    #[test]
    fn difference_intervals_match_scipy() {
        // scipy: stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        //   = (-0.0004765380837174855, 0.009809871417050902), the samples of welch_matches_scipy.
        let [lo, hi] = welch_interval(
            summary(&[0.981, 0.984, 0.979]),
            summary(&[0.975, 0.978, 0.977]),
        )
        .unwrap();
        assert!(
            close(lo, -0.0004765380837174855, 1e-9) && close(hi, 0.009809871417050902, 1e-9),
            "{lo} {hi}"
        );
        // scipy: stats.ttest_rel(a, b).confidence_interval(0.95), the same samples.
        let [lo, hi] = paired_interval(&[0.981, 0.984, 0.979], &[0.975, 0.978, 0.977]).unwrap();
        assert!(
            close(lo, -0.0010702036396659509, 1e-9) && close(hi, 0.010403536972999292, 1e-9),
            "{lo} {hi}"
        );
        // Wald: d +- 1.959964 sqrt(p1 q1 / n1 + p2 q2 / n2).
        let [lo, hi] = two_proportions_interval(0.98, 10_000, 0.975, 10_000).unwrap();
        let half = 1.959963984540054 * (0.98 * 0.02 / 1e4 + 0.975 * 0.025 / 1e4f64).sqrt();
        assert!(close(lo, 0.005 - half, 1e-12) && close(hi, 0.005 + half, 1e-12));
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(that, 2 x 0.03), max(that, 1 x 0.04).
        let adj = holm(&[0.01, 0.04, 0.03]);
        for (a, b) in adj.iter().zip([0.03, 0.06, 0.06]) {
            assert!(close(*a, b, 1e-12), "{adj:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn p_first_is_deterministic_sums_to_one_and_favours_the_clear_winner() {
        let a = [0.99, 0.991, 0.989];
        let b = [0.95, 0.951, 0.949];
        let c = [0.97, 0.99, 0.95];
        let p = p_first(&[&a, &b, &c], true, 2000, 7);
        assert_eq!(p, p_first(&[&a, &b, &c], true, 2000, 7));
        assert!(close(p.iter().sum::<f64>(), 1.0, 1e-9), "{p:?}");
        assert!(p[0] > 0.8 && p[1] == 0.0, "{p:?}");
        // Losses: lower wins.
        let p = p_first(&[&a, &b], false, 500, 1);
        assert_eq!(p, vec![0.0, 1.0]);
        // Two copies of one sample are equally likely to win (ties split).
        let p = p_first(&[&a, &a], true, 1000, 1);
        assert!(
            close(p[0] + p[1], 1.0, 1e-9) && close(p[0], 0.5, 0.05),
            "{p:?}"
        );
    }
}
