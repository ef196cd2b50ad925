//! `L(a, b) = f(a b)` with `f(t) = (t - t*)^2 / 2`: invariant under the
//! rescaling `(a, b) -> (c a, b / c)`, so its minima form the valley
//! `a b = t*` of unequal flatness.

use super::{Problem, nan_vec};

/// `L(a, b) = (a b - target)^2 / 2`, two scalar tensors `a` and `b`.
///
/// With `t = a b`: `grad L = (t - target) (b, a)` and
/// `H = (b, a)(b, a)' + (t - target) [[0, 1], [1, 0]]`, so
/// `tr H = a^2 + b^2`, `det H = t^2 - (2t - target)^2`. On the valley
/// `a b = target` the Hessian has rank one, `tr H = ‖H‖_F = a^2 + b^2`
/// (smallest, `2 target`, at `a = b`) and `det H = 0` everywhere: the
/// scaling orbit is a flat direction. `H` is positive definite exactly when
/// `target/3 < t < target` (for `target > 0`).
///
/// Gradient flow conserves `a^2 - b^2` (`d/dt (a^2 - b^2) = 0`), so gradient
/// descent ends wherever its start's imbalance puts it on the valley.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleInvariant {
    /// The product `t*` at the minima.
    pub target: f64,
    /// The starting point `(a, b)`.
    pub start: [f64; 2],
}

impl Default for ScaleInvariant {
    /// `target = 1`, starting at `(2.5, 0.2)`, far from balance
    /// (`a^2 - b^2 = 6.21`).
    fn default() -> Self {
        ScaleInvariant {
            target: 1.0,
            start: [2.5, 0.2],
        }
    }
}

impl Problem for ScaleInvariant {
    fn name(&self) -> String {
        format!("scale-invariant(ab = {})", self.target)
    }
    fn dim(&self) -> usize {
        2
    }
    fn layout(&self) -> Vec<usize> {
        vec![1, 1]
    }
    fn loss(&self, w: &[f64]) -> f64 {
        match w {
            [a, b] => 0.5 * (a * b - self.target) * (a * b - self.target),
            _ => f64::NAN,
        }
    }
    fn gradient(&self, w: &[f64]) -> Vec<f64> {
        match w {
            [a, b] => {
                let r = a * b - self.target;
                vec![r * b, r * a]
            }
            _ => nan_vec(2),
        }
    }
    fn hessian(&self, w: &[f64]) -> Vec<f64> {
        match w {
            [a, b] => {
                let r = a * b - self.target;
                vec![b * b, a * b + r, a * b + r, a * a]
            }
            _ => nan_vec(4),
        }
    }
    fn initial_point(&self) -> Vec<f64> {
        self.start.to_vec()
    }
}
