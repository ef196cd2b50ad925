//! Trace-SAM: `S = E[x]`, which tends to `tr(H)/2` at a minimum as
//! `rho -> 0` (`x ~ delta'g0/rho + delta'H delta/2` and `E[delta delta'] = I`
//! for `N(0, I)`).

use crate::error::Result;
use crate::measure::{
    Evaluation, FixedWeights, Measure, StreamPlan, check_evaluation, check_slots, check_xs,
};
use crate::sampler::Sampler;

/// Trace-SAM: `psi(x) = x`, `phi(m) = m`, directions `N(0, I)` by default.
///
/// The estimate is the mean of the `x_i`, so `dS/dx_i = 1/n` whatever the
/// samples: the stream needs a single buffer, into which `g0` is folded.
/// The factor 1/2 of the limit `tr(H)/2` is left in (like Frob's
/// `||H||_F^2 / 2`); `lambda` absorbs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trace {
    /// Distribution of the directions (the authors' code uses
    /// [`Sampler::ReferenceSphere`], i.e. `N(0, I)`).
    pub sampler: Sampler,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            sampler: Sampler::Gaussian,
        }
    }
}

impl Measure for Trace {
    fn name(&self) -> String {
        "trace".into()
    }

    fn sampler(&self) -> Sampler {
        self.sampler
    }

    fn min_samples(&self) -> usize {
        1
    }

    fn evaluate(&self, xs: &[f64]) -> Result<Evaluation> {
        check_xs(xs, 1)?;
        let n = xs.len() as f64;
        let value = xs.iter().sum::<f64>() / n;
        check_evaluation(
            "trace",
            Evaluation {
                value,
                dvalue_dx: vec![1.0 / n; xs.len()],
            },
        )
    }

    /// One slot, weight 1; the final weights `g0 = -1` and `slot0 = 1/n` are
    /// fixed.
    fn stream_plan(&self, samples: usize) -> StreamPlan {
        StreamPlan {
            slots: 1,
            fixed: Some(FixedWeights {
                g0: -1.0,
                slot0: 1.0 / samples.max(1) as f64,
            }),
        }
    }

    fn slot_weights(&self, _x: f64, out: &mut [f64]) -> Result<()> {
        check_slots(out, 1)?;
        out[0] = 1.0;
        Ok(())
    }

    fn slot_finals(&self, xs: &[f64]) -> Result<Vec<f64>> {
        check_xs(xs, 1)?;
        Ok(vec![1.0 / xs.len() as f64])
    }
}
