//! Det-SAM: `S = (E exp(-x/2))^-2` over a uniform cube, evaluated in the
//! log domain.
//!
//! At a minimum, as `rho -> 0`, `x = delta'H delta / 2` and, for a cube
//! wide enough to hold the Gaussian `exp(-delta'H delta / 4)`,
//! `E exp(-x/2) = (4 pi)^(d/2) det(H)^(-1/2) / (2c)^d`, so
//! `S = (2c)^(2d) det(H) / (4 pi)^d`: the determinant up to constants. With
//! a *small* cube instead, `exp(-x/2) ~ 1 - x/2` and `S ~ 1 + c^2 tr(H)/6`:
//! the reference setting (`c = 0.01`) behaves like a trace penalty.

use crate::error::{Result, SamError};
use crate::measure::{
    Evaluation, Measure, StreamPlan, check_evaluation, check_slots, check_xs, log_sum_exp,
};
use crate::sampler::Sampler;

/// Largest `v` with `exp(v)` finite.
const LN_MAX: f64 = 709.782_712_893_384;

/// Det-SAM: `psi(x) = exp(-x/2)`, `phi(m) = m^-2`, directions uniform on
/// `[-c, c]^d`.
///
/// With `log m = logsumexp(-x_i/2) - ln n`:
/// `S = exp(-2 log m)` and `dS/dx_i = exp(-3 log m - x_i/2 - ln n)`, so no
/// intermediate overflows; a result beyond the f64 range is
/// [`SamError::Overflow`]. Streams with one slot (weight
/// `exp(-(x_i - shift)/2)`); its final weight depends on all samples, so
/// `g0` is kept separately (2 buffers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Det {
    /// The cube's half width `c` (reference: 0.01).
    pub half_width: f64,
}

impl Default for Det {
    fn default() -> Self {
        Det { half_width: 0.01 }
    }
}

impl Det {
    /// `log m = logsumexp(-x_i/2) - ln n`.
    fn log_mean(xs: &[f64]) -> f64 {
        let halves: Vec<f64> = xs.iter().map(|x| -0.5 * x).collect();
        log_sum_exp(&halves) - (xs.len() as f64).ln()
    }

    /// `ln S = -2 log m`, finite whenever the `x_i` are, even where `S`
    /// itself is out of range.
    pub fn log_sharpness(&self, xs: &[f64]) -> Result<f64> {
        check_xs(xs, 1)?;
        Ok(-2.0 * Self::log_mean(xs))
    }
}

fn exp_checked(v: f64, what: impl FnOnce() -> String) -> Result<f64> {
    if v > LN_MAX {
        Err(SamError::Overflow {
            what: format!("{} = exp({v})", what()),
        })
    } else {
        Ok(v.exp())
    }
}

impl Measure for Det {
    fn name(&self) -> String {
        format!("det(c={})", self.half_width)
    }

    fn sampler(&self) -> Sampler {
        Sampler::Cube {
            half_width: self.half_width,
        }
    }

    fn min_samples(&self) -> usize {
        1
    }

    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation> {
        self.validate()?;
        check_xs(xs, 1)?;
        let lm = Self::log_mean(xs);
        let ln_n = (xs.len() as f64).ln();
        let value = exp_checked(-2.0 * lm, || "Det sharpness m^-2".into())?;
        let dvalue_dx = xs
            .iter()
            .enumerate()
            .map(|(i, x)| exp_checked(-3.0 * lm - 0.5 * x - ln_n, || format!("Det dS/dx[{i}]")))
            .collect::<Result<_>>()?;
        check_evaluation("det", Evaluation { value, dvalue_dx })
    }

    fn stream_plan(&self, _samples: usize) -> StreamPlan {
        StreamPlan {
            slots: 1,
            fixed: None,
        }
    }

    fn slot_weights(&self, x: f64, out: &mut [f64]) -> Result<()> {
        self.shifted_slot_weights(x, 0.0, out)
    }

    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>> {
        self.shifted_slot_finals(xs, 0.0)
    }

    fn shifted_slot_weights(&self, x: f64, shift: f64, out: &mut [f64]) -> Result<()> {
        check_slots(out, 1)?;
        out[0] = exp_checked(-0.5 * (x - shift), || format!("Det slot weight at x = {x}"))?;
        Ok(())
    }

    fn shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<f64>> {
        let ln = self.ln_shifted_slot_finals(xs, shift)?[0].0;
        Ok(vec![exp_checked(ln, || "Det final slot weight".into())?])
    }

    fn ln_shifted_slot_finals(&self, xs: &[f64], shift: f64) -> Result<Vec<(f64, bool)>> {
        check_xs(xs, 1)?;
        let lm = Self::log_mean(xs);
        let ln_n = (xs.len() as f64).ln();
        Ok(vec![(-3.0 * lm - 0.5 * shift - ln_n, false)])
    }
}
