//! A stability guard for universal-SAM steps.
//!
//! A step of the universal class hands the base optimizer
//! `g = g0 + s`, where `g0` is the clean gradient and `s = g - g0` the
//! sharpness part: a combination of the gradients `g_i` at `w + rho delta_i`
//! whose coefficients carry the loss differences `L_i - L0` times
//! `F / rho^2` (Frob's reference scaling: `lambda / (2 rho^2)`, 100 at the
//! reference rho 0.005, lambda 0.005, on top of the `1/rho^2` inside each
//! normalised difference). On a rough landscape one large difference makes
//! `||s||` many times `||g0||`, the step throws the weights far away and
//! the next clean pass returns NaN.
//!
//! [`Guard`] bounds `||s||` to a multiple of `||g0||` and says what a
//! non-finite perturbed loss does. [`Guard::OFF`] (the default) is the
//! authors' code exactly; [`Guard::recommended`] bounds at
//! [`Guard::DEFAULT_RATIO`] `||g0||`, and the README's mathematics section
//! gives the measurements behind that number.
//!
//! ```
//! use sam_core::guard::{Decision, Guard, NonFinite};
//!
//! let guard = Guard::bounded(5.0)?;
//! // ||s|| = 20 against ||g0|| = 2: scaled down to 10 = 5 * 2.
//! assert_eq!(guard.decide(20.0, 2.0)?, Decision::Scale(0.5));
//! assert_eq!(guard.decide(3.0, 2.0)?, Decision::Keep);
//! // Without a bound nothing is scaled; a NaN part stops by default.
//! assert_eq!(Guard::OFF.decide(1e9, 1.0)?, Decision::Keep);
//! assert!(Guard::OFF.decide(f64::NAN, 1.0).is_err());
//! let skipping = Guard::OFF.with_on_non_finite(NonFinite::Skip);
//! assert_eq!(skipping.decide(f64::NAN, 1.0)?, Decision::Skip);
//! # Ok::<(), sam_core::SamError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, SamError};

/// What a non-finite perturbed loss (or sharpness part) does to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NonFinite {
    /// Fail the step with a typed error, leaving model and optimizer as
    /// they were (the reference code's NaN would surface one step later).
    #[default]
    Stop,
    /// Drop the sharpness part for this step: the base optimizer gets the
    /// clean gradient `g0`, and the step is counted as skipped.
    Skip,
}

impl core::str::FromStr for NonFinite {
    type Err = SamError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "stop" => Ok(NonFinite::Stop),
            "skip" => Ok(NonFinite::Skip),
            _ => Err(SamError::invalid(
                "on_non_finite",
                format!("`{s}`: expected stop or skip"),
            )),
        }
    }
}

impl core::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NonFinite::Stop => "stop",
            NonFinite::Skip => "skip",
        })
    }
}

/// Bounds on the sharpness part `s = g - g0` of a universal-SAM step.
///
/// In configuration files the bound is a number or `"off"` (TOML has no
/// null): `guard = { max_ratio = 0.5, on_non_finite = "stop" }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// `||s||` is scaled down to at most `max_ratio * ||g0||`; `None`
    /// leaves it unbounded (the reference code).
    #[serde(with = "ratio_or_off")]
    pub max_ratio: Option<f64>,
    /// What a non-finite perturbed loss or sharpness part does.
    pub on_non_finite: NonFinite,
}

impl Default for Guard {
    /// [`Guard::OFF`]: the reference behaviour.
    fn default() -> Self {
        Guard::OFF
    }
}

/// `max_ratio` as a number, or `"off"` for none (`null` is read too).
mod ratio_or_off {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ratio: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match ratio {
            Some(r) => s.serialize_f64(*r),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
            Null(()),
        }
        match Raw::deserialize(d)? {
            Raw::Number(r) => Ok(Some(r)),
            Raw::Null(()) => Ok(None),
            Raw::Text(t) if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") => {
                Ok(None)
            }
            Raw::Text(t) => t.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("`{t}`: expected a positive number or \"off\""))
            }),
        }
    }
}

/// What a guard does with one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Use `g = g0 + s` as computed.
    Keep,
    /// Use `g = g0 + factor * s`, with `0 <= factor < 1`.
    Scale(f64),
    /// Use `g = g0`: the sharpness part was not finite.
    Skip,
}

impl Guard {
    /// The authors' code: no bound, and a non-finite loss stops the step.
    pub const OFF: Guard = Guard {
        max_ratio: None,
        on_non_finite: NonFinite::Stop,
    };

    /// The recommended bound on `||s|| / ||g0||`, from Frob-SAM on the
    /// bundled MNIST MLP (batch 64, SGD with momentum 0.9, lr 0.05-0.1): in
    /// runs that train without a guard the ratio has median 0.08, 99th
    /// percentile 0.7 and maximum 2.5, so 0.5 scales 2-4% of their steps;
    /// in the runs that diverge it climbs to 1-5 for several steps while
    /// the loss spikes, then to 10^2-10^6. A bound of 5 did not stop a
    /// divergence, 1 stopped the NaN but left one run at chance accuracy,
    /// 0.5 let both diverging seeds train to SGD's accuracy.
    pub const DEFAULT_RATIO: f64 = 0.5;

    /// The bound the evidence supports: [`Guard::DEFAULT_RATIO`], stopping
    /// on a non-finite loss.
    pub fn recommended() -> Self {
        Guard {
            max_ratio: Some(Self::DEFAULT_RATIO),
            on_non_finite: NonFinite::Stop,
        }
    }

    /// A guard bounding `||s||` at `max_ratio * ||g0||` (stopping on a
    /// non-finite loss).
    pub fn bounded(max_ratio: f64) -> Result<Self> {
        let guard = Guard {
            max_ratio: Some(max_ratio),
            on_non_finite: NonFinite::Stop,
        };
        guard.validate()?;
        Ok(guard)
    }

    /// The same bound with another non-finite policy.
    pub fn with_on_non_finite(self, on_non_finite: NonFinite) -> Self {
        Guard {
            on_non_finite,
            ..self
        }
    }

    /// Whether the guard can change a step (false for [`Guard::OFF`]).
    pub fn is_active(&self) -> bool {
        self.max_ratio.is_some() || self.on_non_finite == NonFinite::Skip
    }

    /// Checks the bound: finite and positive.
    pub fn validate(&self) -> Result<()> {
        match self.max_ratio {
            Some(r) if !(r.is_finite() && r > 0.0) => Err(SamError::invalid(
                "max_ratio",
                format!("{r}: the bound on ||g - g0|| / ||g0|| must be finite and positive"),
            )),
            _ => Ok(()),
        }
    }

    /// The decision for a non-finite perturbed loss: skip, or the error
    /// to stop with.
    pub fn on_non_finite_loss(&self, index: usize, value: f64) -> Result<Decision> {
        match self.on_non_finite {
            NonFinite::Skip => Ok(Decision::Skip),
            NonFinite::Stop => Err(SamError::NonFiniteLoss { index, value }),
        }
    }

    /// Decides a step from `||s||` and `||g0||`.
    ///
    /// A non-finite `||s||` skips or stops as configured. Over the bound,
    /// the factor is `max_ratio * ||g0|| / ||s||`, so the scaled part has
    /// norm exactly `max_ratio * ||g0||` (0 when `g0 = 0`: at a stationary
    /// point of the loss the guard lets no sharpness step through).
    pub fn decide(&self, sharpness_norm: f64, gradient_norm: f64) -> Result<Decision> {
        self.validate()?;
        if !gradient_norm.is_finite() || gradient_norm < 0.0 {
            return Err(SamError::non_finite(format!(
                "the clean pass's gradient (norm {gradient_norm}): the weights have left the range the loss can be differentiated in"
            )));
        }
        if !sharpness_norm.is_finite() {
            return match self.on_non_finite {
                NonFinite::Skip => Ok(Decision::Skip),
                NonFinite::Stop => Err(SamError::non_finite(format!(
                    "sharpness part of the step, ||g - g0|| = {sharpness_norm}"
                ))),
            };
        }
        Ok(match self.max_ratio {
            Some(c) if sharpness_norm > c * gradient_norm => {
                Decision::Scale(c * gradient_norm / sharpness_norm)
            }
            _ => Decision::Keep,
        })
    }
}

impl Guard {
    /// The step when the sharpness part is only known in the log domain,
    /// `g - g0 = (-1)^negative exp(ln_scale) part` (see
    /// `estimator::Unbounded`): `(factor, decision)` with
    /// `g = g0 + factor part`. Within the bound the factor is
    /// `±exp(ln_scale)`; beyond it, or where `exp(ln_scale)` overflows, it
    /// is `±max_ratio ||g0|| / ||part||`, which brings the part's norm to
    /// the bound. Without a bound an overflowing part is non-finite, and
    /// the non-finite policy decides (a typed error, or a skip).
    pub fn decide_unbounded(
        &self,
        ln_scale: f64,
        negative: bool,
        part_norm: f64,
        gradient_norm: f64,
    ) -> Result<(f64, Decision)> {
        if part_norm == 0.0 {
            // The samples moved nothing: the step is g0.
            self.decide(0.0, gradient_norm)?;
            return Ok((0.0, Decision::Keep));
        }
        let sign = if negative { -1.0 } else { 1.0 };
        let scale = ln_scale.exp();
        let ln_norm = ln_scale + part_norm.ln();
        let Some(ratio) = self.max_ratio else {
            let decision = self.decide(scale * part_norm, gradient_norm)?;
            return Ok(match decision {
                Decision::Skip => (0.0, Decision::Skip),
                _ => (sign * scale, decision),
            });
        };
        // Checks the bound, g0's norm and a NaN part as decide does.
        if let Decision::Skip = self.decide(part_norm, gradient_norm)? {
            return Ok((0.0, Decision::Skip));
        }
        let ln_bound = (ratio * gradient_norm).ln();
        if scale.is_finite() && ln_norm <= ln_bound {
            return Ok((sign * scale, Decision::Keep));
        }
        let factor = ratio * gradient_norm / part_norm;
        Ok((sign * factor, Decision::Scale((ln_bound - ln_norm).exp())))
    }

    /// The guarded gradient in f64, the reference the tensor
    /// implementations are tested against: `g0 + factor (g - g0)`, or `g0`
    /// on a skip.
    pub fn apply(&self, g0: &[f64], g: &[f64]) -> Result<(Vec<f64>, Decision)> {
        if g0.len() != g.len() {
            return Err(SamError::invalid(
                "g",
                format!("{} entries against g0's {}", g.len(), g0.len()),
            ));
        }
        let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
        let s_norm = norm(&mut g.iter().zip(g0).map(|(a, b)| a - b));
        let decision = self.decide(s_norm, norm(&mut g0.iter().copied()))?;
        let out = match decision {
            Decision::Keep => g.to_vec(),
            Decision::Skip => g0.to_vec(),
            Decision::Scale(f) => g0.iter().zip(g).map(|(b, a)| b + f * (a - b)).collect(),
        };
        Ok((out, decision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn off_never_scales_and_stops_on_nan() {
        assert_eq!(Guard::OFF.decide(1e300, 1e-300).unwrap(), Decision::Keep);
        assert!(matches!(
            Guard::OFF.decide(f64::INFINITY, 1.0),
            Err(SamError::NonFinite { .. })
        ));
        assert!(matches!(
            Guard::OFF.on_non_finite_loss(1, f64::NAN),
            Err(SamError::NonFiniteLoss { index: 1, .. })
        ));
        assert!(!Guard::OFF.is_active());
        assert_eq!(Guard::default(), Guard::OFF);
        assert!(Guard::recommended().is_active());
    }

    #[test]
    fn skip_policy_skips() {
        let g = Guard::OFF.with_on_non_finite(NonFinite::Skip);
        assert_eq!(g.decide(f64::NAN, 1.0).unwrap(), Decision::Skip);
        assert_eq!(g.on_non_finite_loss(0, f64::NAN).unwrap(), Decision::Skip);
    }

    #[test]
    fn bad_bounds_are_rejected() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Guard::bounded(r).is_err(), "{r}");
        }
        assert!(Guard::OFF.decide(1.0, f64::NAN).is_err());
    }

    #[test]
    fn zero_gradient_drops_the_part() {
        let g = Guard::bounded(5.0).unwrap();
        assert_eq!(g.decide(1.0, 0.0).unwrap(), Decision::Scale(0.0));
        assert_eq!(g.decide(0.0, 0.0).unwrap(), Decision::Keep);
    }

    #[test]
    fn policy_parses() {
        assert_eq!("Skip".parse::<NonFinite>().unwrap(), NonFinite::Skip);
        assert_eq!("stop".parse::<NonFinite>().unwrap(), NonFinite::Stop);
        assert!("halt".parse::<NonFinite>().is_err());
    }

    #[test]
    fn apply_bounds_the_difference() {
        let g0 = [3.0, 4.0]; // ||g0|| = 5
        let g = [3.0 + 60.0, 4.0 + 80.0]; // ||s|| = 100
        let (out, d) = Guard::bounded(2.0).unwrap().apply(&g0, &g).unwrap();
        assert_eq!(d, Decision::Scale(0.1));
        // s scaled to norm 10 = 2 * 5, direction kept.
        assert!((out[0] - 9.0).abs() < 1e-12 && (out[1] - 12.0).abs() < 1e-12);
        let (same, d) = Guard::OFF.apply(&g0, &g).unwrap();
        assert_eq!((same.as_slice(), d), (&g[..], Decision::Keep));
        assert!(Guard::OFF.apply(&g0, &[1.0]).is_err());
    }

    proptest! {
        // The scaled part's norm is min(||s||, c ||g0||) up to one rounding
        // of the factor and one of the product: 4 ulps of relative error.
        #[test]
        fn scaled_norm_is_the_bound(
            s in 1e-6f64..1e6,
            g in 1e-6f64..1e6,
            c in 0.01f64..100.0,
        ) {
            let guard = Guard::bounded(c).unwrap();
            let after = match guard.decide(s, g).unwrap() {
                Decision::Keep => s,
                Decision::Scale(f) => {
                    prop_assert!((0.0..1.0).contains(&f));
                    f * s
                }
                Decision::Skip => unreachable!("finite input"),
            };
            let want = s.min(c * g);
            prop_assert!((after - want).abs() <= 4.0 * f64::EPSILON * want);
        }
    }
}
