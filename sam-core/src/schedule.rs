//! Perturbation schedules: the perturbed passes on one step in `every`.
//!
//! Every step of a sharpness-aware method costs its perturbed passes on top
//! of the clean one (SAM: 2 passes, Frob-SAM: 3). A [`Schedule`] evaluates
//! them on the steps `t` with `t mod every = 0` only; the steps between are
//! either plain base steps on the clean gradient ([`Between::Base`]) or
//! LookSAM-style steps ([`Between::Reuse`], Liu et al., CVPR 2022) that add
//! the sharpness part `s = g - g0` of the last perturbed step, rescaled to
//! the current clean gradient:
//!
//! ```text
//! g_t = g0_t + (||g0_t|| / ||g0_k||) * s_k      (k: the last perturbed step)
//! ```
//!
//! LookSAM keeps only the part of SAM's `s_k` orthogonal to `g0_k` and a
//! fixed weight `alpha`; here the whole part is kept, and its weight
//! relative to the clean gradient is the one the perturbed step measured
//! (`||s_k|| / ||g0_k||`), so a reuse step at `g0_t = g0_k` is exactly the
//! perturbed step again. That holds for every method, the universal class
//! included, whose sharpness part is not SAM's ascent direction.
//!
//! ```
//! use sam_core::schedule::{Between, Schedule};
//!
//! let schedule = Schedule::every(5, Between::Reuse)?;
//! let perturbed: Vec<u64> = (0..12).filter(|&t| schedule.perturbs(t)).collect();
//! assert_eq!(perturbed, [0, 5, 10]);
//! // Half the clean gradient's norm: half the remembered part.
//! let g = schedule.reuse(&[0.0, 1.0], &[4.0, 0.0], 2.0)?;
//! assert_eq!(g, [2.0, 1.0]);
//! assert!(Schedule::every(0, Between::Base).is_err());
//! # Ok::<(), sam_core::SamError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, SamError};

/// What the steps between two perturbed steps do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Between {
    /// Plain base-optimizer steps on the clean gradient (one pass each).
    #[default]
    Base,
    /// The clean gradient plus the last perturbed step's sharpness part,
    /// rescaled to the current clean gradient's norm (one pass each, and
    /// one parameter-sized buffer kept between steps).
    Reuse,
}

impl core::str::FromStr for Between {
    type Err = SamError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "base" => Ok(Between::Base),
            "reuse" => Ok(Between::Reuse),
            _ => Err(SamError::invalid(
                "between",
                format!("`{s}`: expected base or reuse"),
            )),
        }
    }
}

impl core::fmt::Display for Between {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Between::Base => "base",
            Between::Reuse => "reuse",
        })
    }
}

/// On which steps the perturbed passes run, and what the others do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Perturbed passes on the steps `t` (counted from 0) with
    /// `t mod every = 0`; 1 is every step (the paper's algorithm).
    pub every: u64,
    /// What the other steps do.
    pub between: Between,
}

impl Default for Schedule {
    /// [`Schedule::EVERY_STEP`].
    fn default() -> Self {
        Schedule::EVERY_STEP
    }
}

impl Schedule {
    /// Perturbed passes on every step: the methods as published.
    pub const EVERY_STEP: Schedule = Schedule {
        every: 1,
        between: Between::Base,
    };

    /// A validated schedule.
    pub fn every(every: u64, between: Between) -> Result<Self> {
        let schedule = Schedule { every, between };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks that `every` is at least 1.
    pub fn validate(&self) -> Result<()> {
        if self.every == 0 {
            return Err(SamError::invalid(
                "every",
                "0: the perturbed passes run on one step in `every`, so it must be at least 1",
            ));
        }
        Ok(())
    }

    /// Whether step `step` (0-based) runs the perturbed passes.
    pub fn perturbs(&self, step: u64) -> bool {
        self.every <= 1 || step.is_multiple_of(self.every)
    }

    /// Whether the steps between keep the sharpness part.
    pub fn reuses(&self) -> bool {
        self.every > 1 && self.between == Between::Reuse
    }

    /// Mean forward-backward passes per step, for a method whose perturbed
    /// steps take `passes` (1 for the base optimizer).
    pub fn mean_passes(&self, passes: usize) -> f64 {
        let every = self.every.max(1) as f64;
        (passes as f64 + (every - 1.0)) / every
    }

    /// The weight of the remembered part on a reuse step:
    /// `||g0_t|| / ||g0_k||`, or `None` when the perturbed step's clean
    /// gradient was zero or either norm is not finite (the part is then
    /// not used).
    pub fn reuse_weight(clean_norm: f64, remembered_norm: f64) -> Option<f64> {
        (clean_norm.is_finite() && remembered_norm.is_finite() && remembered_norm > 0.0)
            .then(|| clean_norm / remembered_norm)
    }

    /// The f64 reference of a reuse step: `g0 + (||g0|| / ||g0_k||) * part`.
    pub fn reuse(&self, g0: &[f64], part: &[f64], remembered_norm: f64) -> Result<Vec<f64>> {
        if g0.len() != part.len() {
            return Err(SamError::invalid(
                "part",
                format!("{} entries against a gradient of {}", part.len(), g0.len()),
            ));
        }
        let norm = g0.iter().map(|x| x * x).sum::<f64>().sqrt();
        Ok(match Self::reuse_weight(norm, remembered_norm) {
            Some(w) => g0.iter().zip(part).map(|(g, s)| g + w * s).collect(),
            None => g0.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_step_is_the_default_and_perturbs_always() {
        let s = Schedule::default();
        assert_eq!(s, Schedule::EVERY_STEP);
        assert!((0..50).all(|t| s.perturbs(t)));
        assert!(!s.reuses());
        assert_eq!(s.mean_passes(3), 3.0);
    }

    #[test]
    fn zero_is_refused_with_a_reason() {
        let err = Schedule::every(0, Between::Reuse).unwrap_err().to_string();
        assert!(err.contains("every") && err.contains("at least 1"), "{err}");
    }

    #[test]
    fn names_round_trip_and_typos_are_errors() {
        for b in [Between::Base, Between::Reuse] {
            assert_eq!(b.to_string().parse::<Between>().unwrap(), b);
        }
        assert_eq!("REUSE".parse::<Between>().unwrap(), Between::Reuse);
        assert!("lookahead".parse::<Between>().is_err());
    }

    #[test]
    fn frob_every_five_costs_one_point_four_passes() {
        // 3 passes on one step in 5, 1 on the other 4: (3 + 4) / 5.
        let s = Schedule::every(5, Between::Base).unwrap();
        assert!((s.mean_passes(3) - 1.4).abs() < 1e-15);
    }

    #[test]
    fn a_zero_remembered_gradient_is_not_reused() {
        let s = Schedule::every(2, Between::Reuse).unwrap();
        assert_eq!(s.reuse(&[1.0, 2.0], &[5.0, 5.0], 0.0).unwrap(), [1.0, 2.0]);
        assert!(s.reuse(&[1.0], &[1.0, 2.0], 1.0).is_err());
    }

    proptest! {
        /// One perturbed step in each window of `every` consecutive steps.
        #[test]
        fn one_perturbed_step_per_window(every in 1u64..40, start in 0u64..1000) {
            let s = Schedule::every(every, Between::Base).unwrap();
            let n = (start..start + every).filter(|&t| s.perturbs(t)).count();
            prop_assert_eq!(n, 1);
        }

        /// The reused part keeps the ratio the perturbed step measured:
        /// `||g - g0|| / ||g0|| = ||part|| / ||g0_k||` (to rounding: a few
        /// ulps of the norms, 1e-12 relative is far above that).
        #[test]
        fn reuse_keeps_the_measured_ratio(
            g0 in prop::collection::vec(-10.0f64..10.0, 1..20),
            scale in 0.1f64..10.0,
            then in 0.1f64..10.0,
        ) {
            let part: Vec<f64> = g0.iter().rev().map(|x| x * scale + 1.0).collect();
            let s = Schedule::every(3, Between::Reuse).unwrap();
            let g = s.reuse(&g0, &part, then).unwrap();
            let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let diff: Vec<f64> = g.iter().zip(&g0).map(|(a, b)| a - b).collect();
            let n0 = norm(&g0);
            prop_assume!(n0 > 1e-6);
            let got = norm(&diff) / n0;
            let want = norm(&part) / then;
            prop_assert!((got - want).abs() <= 1e-12 * want.max(1.0), "{} vs {}", got, want);
        }
    }
}
