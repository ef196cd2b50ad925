//! phi-type functions: the outer map `phi: R^k -> R` applied to the sample
//! means `m_j = (1/n) sum_i psi_j(x_i)`.
//!
//! `phi` also sees the sample count `n`, so that estimators can be unbiased
//! (the sample variance's Bessel factor `n/(n-1)`, the third k-statistic's
//! `n^2/((n-1)(n-2))`). Implement [`OuterFn`] to plug in your own.

use crate::error::{Result, SamError};
use crate::function::powu;
use std::fmt::Debug;

/// A differentiable outer function `phi(m_1, ..., m_k; n)`.
pub trait OuterFn: Send + Sync + Debug {
    /// `k`, the number of means it takes.
    fn arity(&self) -> usize;
    /// `phi(m; n)`. Errors on a wrong arity or a value outside the domain.
    fn value(&self, m: &[f64], n: usize) -> Result<f64>;
    /// `(d phi / d m_1, ..., d phi / d m_k)` at `(m; n)`.
    fn gradient(&self, m: &[f64], n: usize) -> Result<Vec<f64>>;
    /// The fewest samples for which `phi` is defined (2 for a variance).
    fn min_samples(&self) -> usize {
        1
    }
    /// A short formula naming the function.
    fn name(&self) -> String {
        format!("{self:?}")
    }
}

fn check_arity(name: &'static str, m: &[f64], k: usize) -> Result<()> {
    if m.len() == k {
        Ok(())
    } else {
        Err(SamError::invalid(
            name,
            format!("expects {k} mean(s), got {}", m.len()),
        ))
    }
}

fn check_samples(n: usize, needed: usize) -> Result<()> {
    if n >= needed {
        Ok(())
    } else {
        Err(SamError::TooFewSamples { needed, got: n })
    }
}

/// `phi(m) = m`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Identity;

impl OuterFn for Identity {
    fn arity(&self) -> usize {
        1
    }
    fn value(&self, m: &[f64], _n: usize) -> Result<f64> {
        check_arity("phi", m, 1)?;
        Ok(m[0])
    }
    fn gradient(&self, m: &[f64], _n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 1)?;
        Ok(vec![1.0])
    }
    fn name(&self) -> String {
        "m".into()
    }
}

/// `phi(m) = m^k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Power(pub u32);

impl OuterFn for Power {
    fn arity(&self) -> usize {
        1
    }
    fn value(&self, m: &[f64], _n: usize) -> Result<f64> {
        check_arity("phi", m, 1)?;
        Ok(powu(m[0], self.0))
    }
    fn gradient(&self, m: &[f64], _n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 1)?;
        Ok(vec![match self.0 {
            0 => 0.0,
            k => f64::from(k) * powu(m[0], k - 1),
        }])
    }
    fn name(&self) -> String {
        format!("m^{}", self.0)
    }
}

/// `phi(m) = m^-k` (Det-SAM's `m^-2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InversePower(pub u32);

impl OuterFn for InversePower {
    fn arity(&self) -> usize {
        1
    }
    fn value(&self, m: &[f64], _n: usize) -> Result<f64> {
        check_arity("phi", m, 1)?;
        Ok(1.0 / powu(m[0], self.0))
    }
    fn gradient(&self, m: &[f64], _n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 1)?;
        Ok(vec![-f64::from(self.0) / powu(m[0], self.0 + 1)])
    }
    fn name(&self) -> String {
        format!("m^-{}", self.0)
    }
}

/// `phi(m) = ln m`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Log;

impl OuterFn for Log {
    fn arity(&self) -> usize {
        1
    }
    fn value(&self, m: &[f64], _n: usize) -> Result<f64> {
        check_arity("phi", m, 1)?;
        Ok(m[0].ln())
    }
    fn gradient(&self, m: &[f64], _n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 1)?;
        Ok(vec![1.0 / m[0]])
    }
    fn name(&self) -> String {
        "ln m".into()
    }
}

/// `phi(m) = sum_j w_j m_j`: a linear combination of the means.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearCombination(pub Vec<f64>);

impl OuterFn for LinearCombination {
    fn arity(&self) -> usize {
        self.0.len()
    }
    fn value(&self, m: &[f64], _n: usize) -> Result<f64> {
        check_arity("phi", m, self.0.len())?;
        Ok(self.0.iter().zip(m).map(|(w, m)| w * m).sum())
    }
    fn gradient(&self, m: &[f64], _n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, self.0.len())?;
        Ok(self.0.clone())
    }
    fn name(&self) -> String {
        format!("{:?} . m", self.0)
    }
}

/// `phi(m1, m2) = n/(n-1) (m2 - m1^2)`: the unbiased sample variance when
/// `m1` and `m2` are the means of `x` and `x^2`. Needs `n >= 2`.
///
/// Written from raw moments it cancels badly when the mean is large next to
/// the spread; the Frob preset evaluates the same quantity from centred
/// values instead.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SampleVariance;

impl SampleVariance {
    fn bessel(n: usize) -> Result<f64> {
        check_samples(n, 2)?;
        let n = n as f64;
        Ok(n / (n - 1.0))
    }
}

impl OuterFn for SampleVariance {
    fn arity(&self) -> usize {
        2
    }
    fn value(&self, m: &[f64], n: usize) -> Result<f64> {
        check_arity("phi", m, 2)?;
        Ok(Self::bessel(n)? * (m[1] - m[0] * m[0]))
    }
    fn gradient(&self, m: &[f64], n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 2)?;
        let b = Self::bessel(n)?;
        Ok(vec![-2.0 * b * m[0], b])
    }
    fn min_samples(&self) -> usize {
        2
    }
    fn name(&self) -> String {
        "n/(n-1) (m2 - m1^2)".into()
    }
}

/// `phi(m1, m2, m3) = n^2/((n-1)(n-2)) (m3 - 3 m1 m2 + 2 m1^3)`: the third
/// k-statistic, the unbiased estimator of the third cumulant, when `m_j` is
/// the mean of `x^j`. Needs `n >= 3`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ThirdCumulant;

impl ThirdCumulant {
    fn factor(n: usize) -> Result<f64> {
        check_samples(n, 3)?;
        let n = n as f64;
        Ok(n * n / ((n - 1.0) * (n - 2.0)))
    }
}

impl OuterFn for ThirdCumulant {
    fn arity(&self) -> usize {
        3
    }
    fn value(&self, m: &[f64], n: usize) -> Result<f64> {
        check_arity("phi", m, 3)?;
        let (m1, m2, m3) = (m[0], m[1], m[2]);
        Ok(Self::factor(n)? * (m3 - 3.0 * m1 * m2 + 2.0 * m1 * m1 * m1))
    }
    fn gradient(&self, m: &[f64], n: usize) -> Result<Vec<f64>> {
        check_arity("phi", m, 3)?;
        let f = Self::factor(n)?;
        let (m1, m2) = (m[0], m[1]);
        Ok(vec![f * (-3.0 * m2 + 6.0 * m1 * m1), f * (-3.0 * m1), f])
    }
    fn min_samples(&self) -> usize {
        3
    }
    fn name(&self) -> String {
        "k3(m1, m2, m3)".into()
    }
}

/// `phi(m) = factor * inner(m)`.
#[derive(Debug)]
pub struct Scaled {
    /// The constant factor.
    pub factor: f64,
    /// The function it multiplies.
    pub inner: Box<dyn OuterFn>,
}

impl OuterFn for Scaled {
    fn arity(&self) -> usize {
        self.inner.arity()
    }
    fn value(&self, m: &[f64], n: usize) -> Result<f64> {
        Ok(self.factor * self.inner.value(m, n)?)
    }
    fn gradient(&self, m: &[f64], n: usize) -> Result<Vec<f64>> {
        let mut g = self.inner.gradient(m, n)?;
        g.iter_mut().for_each(|v| *v *= self.factor);
        Ok(g)
    }
    fn min_samples(&self) -> usize {
        self.inner.min_samples()
    }
    fn name(&self) -> String {
        format!("{} * ({})", self.factor, self.inner.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences with `h = 1e-6` on arguments of order 1: the error
    /// is below 1e-8 (truncation `h^2 phi''' / 6` plus round-off
    /// `eps phi / h`), so 1e-7 absolute is safe and still catches any wrong
    /// coefficient.
    fn check(f: &dyn OuterFn, m: &[f64], n: usize) {
        let g = f.gradient(m, n).unwrap();
        assert_eq!(g.len(), f.arity());
        for j in 0..m.len() {
            let h = 1e-6;
            let mut up = m.to_vec();
            let mut down = m.to_vec();
            up[j] += h;
            down[j] -= h;
            let fd = (f.value(&up, n).unwrap() - f.value(&down, n).unwrap()) / (2.0 * h);
            assert!(
                (fd - g[j]).abs() < 1e-7,
                "{} d/dm{j}: {} vs {fd}",
                f.name(),
                g[j]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(&Identity, &[0.7], 3);
        check(&Power(3), &[0.7], 3);
        check(&InversePower(2), &[0.7], 3);
        check(&Log, &[0.7], 3);
        check(
            &LinearCombination(vec![2.0, -1.0, 0.5]),
            &[0.7, 0.2, 1.1],
            3,
        );
        check(&SampleVariance, &[0.7, 1.3], 4);
        check(&ThirdCumulant, &[0.7, 1.3, 0.4], 5);
        check(
            &Scaled {
                factor: -3.0,
                inner: Box::new(SampleVariance),
            },
            &[0.7, 1.3],
            4,
        );
    }

    #[test]
    fn sample_variance_matches_definition() {
        let xs = [1.0, 4.0, 2.5, -0.5];
        let n = xs.len();
        let m1 = xs.iter().sum::<f64>() / n as f64;
        let m2 = xs.iter().map(|x| x * x).sum::<f64>() / n as f64;
        let direct = xs.iter().map(|x| (x - m1) * (x - m1)).sum::<f64>() / (n as f64 - 1.0);
        // Values of order 10 with a handful of roundings: 1e-13.
        assert!((SampleVariance.value(&[m1, m2], n).unwrap() - direct).abs() < 1e-13);
    }

    #[test]
    fn third_cumulant_matches_k_statistic() {
        let xs = [1.0, 4.0, 2.5, -0.5, 3.0];
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let central3 = xs.iter().map(|x| (x - mean).powi(3)).sum::<f64>();
        let k3 = n * central3 / ((n - 1.0) * (n - 2.0));
        let m: Vec<f64> = (1..=3)
            .map(|j| xs.iter().map(|x| x.powi(j)).sum::<f64>() / n)
            .collect();
        // Raw moments up to 64: 1e-12 absolute covers the cancellation.
        assert!((ThirdCumulant.value(&m, xs.len()).unwrap() - k3).abs() < 1e-12);
    }

    #[test]
    fn wrong_arity_and_too_few_samples_are_errors() {
        assert!(matches!(
            Identity.value(&[1.0, 2.0], 3),
            Err(SamError::InvalidParameter { name: "phi", .. })
        ));
        assert_eq!(
            SampleVariance.value(&[1.0, 2.0], 1),
            Err(SamError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            ThirdCumulant.gradient(&[1.0, 2.0, 3.0], 2),
            Err(SamError::TooFewSamples { needed: 3, got: 2 })
        );
    }
}
