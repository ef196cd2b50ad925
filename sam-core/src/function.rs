//! psi-type functions: the scalar maps applied to each normalised loss
//! difference `x_i` before averaging, `m = (1/n) sum_i psi(x_i)`.
//!
//! Built-ins cover the paper's examples; implement [`ScalarFn`] to plug in
//! your own.

use std::fmt::Debug;

/// A differentiable scalar function `psi: R -> R`.
///
/// Values outside the function's domain (e.g. [`Log`] of a negative number)
/// should come back as NaN or infinity; the measure turns them into a typed
/// error.
pub trait ScalarFn: Send + Sync + Debug {
    /// `psi(x)`.
    fn value(&self, x: f64) -> f64;
    /// `psi'(x)`.
    fn derivative(&self, x: f64) -> f64;
    /// A short formula naming the function, e.g. `x^2`.
    fn name(&self) -> String;
}

/// `psi(x) = x`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Identity;

impl ScalarFn for Identity {
    fn value(&self, x: f64) -> f64 {
        x
    }
    fn derivative(&self, _x: f64) -> f64 {
        1.0
    }
    fn name(&self) -> String {
        "x".into()
    }
}

/// `psi(x) = x^k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Power(pub u32);

impl ScalarFn for Power {
    fn value(&self, x: f64) -> f64 {
        powu(x, self.0)
    }
    fn derivative(&self, x: f64) -> f64 {
        match self.0 {
            0 => 0.0,
            k => f64::from(k) * powu(x, k - 1),
        }
    }
    fn name(&self) -> String {
        format!("x^{}", self.0)
    }
}

/// `psi(x) = exp(a x)` (Det-SAM uses `a = -1/2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exp(pub f64);

impl ScalarFn for Exp {
    fn value(&self, x: f64) -> f64 {
        (self.0 * x).exp()
    }
    fn derivative(&self, x: f64) -> f64 {
        self.0 * (self.0 * x).exp()
    }
    fn name(&self) -> String {
        format!("exp({} x)", self.0)
    }
}

/// `psi(x) = x^-k` (infinite at 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InversePower(pub u32);

impl ScalarFn for InversePower {
    fn value(&self, x: f64) -> f64 {
        1.0 / powu(x, self.0)
    }
    fn derivative(&self, x: f64) -> f64 {
        -f64::from(self.0) / powu(x, self.0 + 1)
    }
    fn name(&self) -> String {
        format!("x^-{}", self.0)
    }
}

/// `psi(x) = ln x` (NaN for `x < 0`, `-inf` at 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Log;

impl ScalarFn for Log {
    fn value(&self, x: f64) -> f64 {
        x.ln()
    }
    fn derivative(&self, x: f64) -> f64 {
        // ln is undefined below 0: keep the derivative NaN there too.
        if x < 0.0 { f64::NAN } else { 1.0 / x }
    }
    fn name(&self) -> String {
        "ln x".into()
    }
}

/// `x^k` by repeated squaring: exact for small `k`, unlike `powf`, and
/// without `powi`'s platform-dependent results.
pub(crate) fn powu(x: f64, k: u32) -> f64 {
    let mut result = 1.0;
    let mut base = x;
    let mut k = k;
    while k > 0 {
        if k & 1 == 1 {
            result *= base;
        }
        base *= base;
        k >>= 1;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Central difference with step `h`: error `h^2 |psi'''| / 6` plus
    /// `eps |psi| / h`; with `h = 1e-5` and the arguments below both are
    /// below 1e-7 relative to the derivative's scale.
    fn check_derivative(f: &dyn ScalarFn, x: f64) {
        let h = 1e-5;
        let fd = (f.value(x + h) - f.value(x - h)) / (2.0 * h);
        let d = f.derivative(x);
        assert!(
            (fd - d).abs() <= 1e-7 * (1.0 + d.abs() + f.value(x).abs()),
            "{}: at {x} derivative {d} vs finite difference {fd}",
            f.name()
        );
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let fns: Vec<Box<dyn ScalarFn>> = vec![
            Box::new(Identity),
            Box::new(Power(0)),
            Box::new(Power(1)),
            Box::new(Power(2)),
            Box::new(Power(3)),
            Box::new(Exp(-0.5)),
            Box::new(Exp(1.3)),
            Box::new(InversePower(1)),
            Box::new(InversePower(2)),
            Box::new(Log),
        ];
        for f in &fns {
            for x in [0.3, 0.9, 1.7, 2.5] {
                check_derivative(f.as_ref(), x);
            }
        }
    }

    #[test]
    fn domain_errors_are_not_finite() {
        assert!(Log.value(-1.0).is_nan());
        assert!(Log.derivative(-1.0).is_nan());
        assert!(InversePower(2).value(0.0).is_infinite());
    }

    proptest! {
        /// Repeated squaring agrees with `powi` to rounding (1e-14 relative:
        /// at most ~10 roundings each).
        #[test]
        fn powu_matches_powi(x in -3.0f64..3.0, k in 0u32..12) {
            let want = x.powi(k as i32);
            prop_assert!((powu(x, k) - want).abs() <= 1e-14 * want.abs().max(1e-300));
        }
    }
}
