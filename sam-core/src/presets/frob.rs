//! Frob-SAM: `S = Var(x)` (unbiased sample variance), which tends to
//! `||H||_F^2 / 2` at a minimum as `rho -> 0` (for `N(0, I)` directions,
//! `Var(delta'H delta / 2) = tr(H^2) / 2`). Away from a minimum it also
//! contains `||g0||^2 / rho^2`.

use crate::error::Result;
use crate::measure::{
    Evaluation, FixedWeights, Measure, StreamPlan, check_evaluation, check_slots, check_xs, mean,
};
use crate::sampler::Sampler;

/// Frob-SAM: `psi = (x, x^2)`, `phi = n/(n-1) (m2 - m1^2)`, directions
/// `N(0, I)` by default. Needs 2 samples.
///
/// Evaluated from centred values, `S = sum_i (x_i - mean)^2 / (n-1)`, which
/// does not cancel when the `x_i` share a large offset.
///
/// `dS/dx_i = 2 (x_i - mean) / (n-1)` sums to zero, so `g0`'s final weight
/// is fixed and the stream needs two buffers: slot 0 (weight `x_i - shift`,
/// fixed final `2/(n-1)`, with `g0` folded in) and slot 1 (weight 1, final
/// `-2 (mean - shift) / (n-1)`).
///
/// Reference scaling: the authors' update is
/// `g0 + (lambda_ref / rho^2) / (n-1) * sum_i (L_i - mean L) g_i`; since
/// `L_i - mean L = rho^2 (x_i - mean x)` this is the gradient factor
/// `F = lambda_ref / 2` against `S`, i.e. `lambda_ref = 2 lambda / rho^2`
/// for the exact `lambda`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frob {
    /// Distribution of the directions.
    pub sampler: Sampler,
}

impl Default for Frob {
    fn default() -> Self {
        Frob {
            sampler: Sampler::Gaussian,
        }
    }
}

impl Measure for Frob {
    fn name(&self) -> String {
        "frob".into()
    }

    fn sampler(&self) -> Sampler {
        self.sampler
    }

    fn min_samples(&self) -> usize {
        2
    }

    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation> {
        check_xs(xs, 2)?;
        let m = mean(xs);
        let dof = xs.len() as f64 - 1.0;
        let value = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / dof;
        let dvalue_dx = xs.iter().map(|x| 2.0 * (x - m) / dof).collect();
        check_evaluation("frob", Evaluation { value, dvalue_dx })
    }

    /// Two slots; fixed final weights `g0 = 0`, `slot0 = 2/(n-1)`.
    fn stream_plan(&self, samples: usize) -> StreamPlan {
        StreamPlan {
            slots: 2,
            fixed: Some(FixedWeights {
                g0: 0.0,
                slot0: 2.0 / (samples.max(2) as f64 - 1.0),
            }),
        }
    }

    fn slot_weights(&self, x: f64, out: &mut [f64]) -> Result<()> {
        self.shifted_slot_weights(x, 0.0, out)
    }

    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>> {
        self.shifted_slot_finals(xs, 0.0)
    }

    fn shifted_slot_weights(&self, x: f64, shift: f64, out: &mut [f64]) -> Result<()> {
        check_slots(out, 2)?;
        out[0] = x - shift;
        out[1] = 1.0;
        Ok(())
    }

    fn shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<f64>> {
        check_xs(xs, 2)?;
        let dof = xs.len() as f64 - 1.0;
        Ok(vec![2.0 / dof, -2.0 * (mean(xs) - shift) / dof])
    }

    /// `F = lambda / 2` (see the type's documentation).
    fn reference_factor(&self, lambda: f64, _rho: f64) -> f64 {
        lambda / 2.0
    }
}
