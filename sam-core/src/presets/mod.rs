//! The paper's measures, ready to use, and the [`Preset`] enum that names
//! them.
//!
//! | preset | mu | psi | phi | limit at a minimum (`rho -> 0`) | buffers |
//! |---|---|---|---|---|---|
//! | [`Trace`] | `N(0, I)` | `x` | `m` | `tr(H) / 2` | 1 |
//! | [`Frob`] | `N(0, I)` | `(x, x^2)` | `n/(n-1) (m2 - m1^2)` | `‖H‖_F^2 / 2` | 2 |
//! | [`Det`] | cube `[-c, c]^d` | `exp(-x/2)` | `m^-2` | `(2c)^(2d) det(H) / (4 pi)^d` (wide cube) | 2 |
//! | [`Moments`] `k` | `N(0, I)` | `(x, .., x^k)` | k-statistics | `tr(H^k)` | `k` |
//!
//! "Buffers" counts the parameter-sized tensors a streaming backend keeps,
//! `g0` included, when it knows the sample count in advance (see
//! `Estimator::stream_with_samples`).

mod det;
mod frob;
mod moments;
mod trace;

pub use det::Det;
pub use frob::Frob;
pub use moments::Moments;
pub use trace::Trace;

use crate::error::{Result, SamError};
use crate::estimator::Scaling;
use crate::measure::Measure;
use crate::sampler::Sampler;
use std::fmt;
use std::str::FromStr;

/// A named preset measure. Parses from and prints as `trace`, `frob`,
/// `det`, `moments1`, `moments2`, `moments3`.
///
/// ```
/// use sam_core::presets::Preset;
///
/// let p: Preset = "frob".parse()?;
/// assert_eq!(p, Preset::Frob);
/// assert_eq!(p.measure().min_samples(), 2);
/// assert_eq!(p.reference_hyperparameters().rho, 0.005);
/// # Ok::<(), sam_core::SamError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Preset {
    /// [`Trace`] with `N(0, I)` directions.
    Trace,
    /// [`Frob`] with `N(0, I)` directions.
    Frob,
    /// [`Det`] with the reference cube half width 0.01.
    Det,
    /// [`Moments`] of the given order (1, 2 or 3).
    Moments(u8),
}

/// Hyperparameters of a preset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyperparameters {
    /// Perturbation radius.
    pub rho: f64,
    /// Sharpness weight, in the convention of `scaling`.
    pub lambda: f64,
    /// Perturbed samples per step.
    pub samples: usize,
    /// The convention `lambda` is given in.
    pub scaling: Scaling,
}

impl Preset {
    /// Every preset, in a fixed order.
    pub const ALL: [Preset; 6] = [
        Preset::Trace,
        Preset::Frob,
        Preset::Det,
        Preset::Moments(1),
        Preset::Moments(2),
        Preset::Moments(3),
    ];

    /// The measure with its reference sampler (Gaussian; Det: cube of half
    /// width 0.01). An invalid moment order gives a measure whose
    /// `validate` (and every evaluation) fails with a typed error.
    pub fn measure(&self) -> Box<dyn Measure> {
        match *self {
            Preset::Trace => Box::new(Trace::default()),
            Preset::Frob => Box::new(Frob::default()),
            Preset::Det => Box::new(Det::default()),
            Preset::Moments(order) => Box::new(Moments {
                order,
                sampler: Sampler::Gaussian,
            }),
        }
    }

    /// The measure with another sampler. Det only takes a cube (its half
    /// width replaces the default); the sampler is validated.
    pub fn measure_with_sampler(&self, sampler: Sampler) -> Result<Box<dyn Measure>> {
        sampler.validate()?;
        let m: Box<dyn Measure> = match *self {
            Preset::Trace => Box::new(Trace { sampler }),
            Preset::Frob => Box::new(Frob { sampler }),
            Preset::Det => match sampler {
                Sampler::Cube { half_width } => Box::new(Det { half_width }),
                other => {
                    return Err(SamError::invalid(
                        "sampler",
                        format!("Det needs a cube sampler, got {}", other.name()),
                    ));
                }
            },
            Preset::Moments(order) => Box::new(Moments { order, sampler }),
        };
        m.validate()?;
        Ok(m)
    }

    /// The authors' ResNet18/CIFAR settings (`scaling` is
    /// [`Scaling::Reference`]): Trace rho 0.01, lambda 1, n 1; Frob rho
    /// 0.005, lambda 0.005, n 2; Det rho 1, lambda 1, n 1 (cube 0.01).
    /// Moments has no reference run; it gets rho 0.01, lambda 1 and the
    /// fewest samples its order allows.
    pub fn reference_hyperparameters(&self) -> Hyperparameters {
        let (rho, lambda, samples) = match *self {
            Preset::Trace => (0.01, 1.0, 1),
            Preset::Frob => (0.005, 0.005, 2),
            Preset::Det => (1.0, 1.0, 1),
            Preset::Moments(order) => (0.01, 1.0, usize::from(order.clamp(1, 3))),
        };
        Hyperparameters {
            rho,
            lambda,
            samples,
            scaling: Scaling::Reference,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preset::Trace => f.write_str("trace"),
            Preset::Frob => f.write_str("frob"),
            Preset::Det => f.write_str("det"),
            Preset::Moments(k) => write!(f, "moments{k}"),
        }
    }
}

impl FromStr for Preset {
    type Err = SamError;

    /// Case-insensitive; surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.to_string() == lower)
            .ok_or_else(|| SamError::UnknownPreset(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(p.to_string().parse::<Preset>(), Ok(p));
            assert_eq!(
                p.measure().name(),
                p.to_string().replace("det", "det(c=0.01)")
            );
        }
        assert_eq!(" FROB ".parse::<Preset>(), Ok(Preset::Frob));
        for bad in ["moments4", "moments0", "", "sam"] {
            assert_eq!(
                bad.parse::<Preset>(),
                Err(SamError::UnknownPreset(bad.into()))
            );
        }
    }

    #[test]
    fn measures_validate_and_report_min_samples() {
        let mins: Vec<usize> = Preset::ALL
            .iter()
            .map(|p| p.measure().min_samples())
            .collect();
        assert_eq!(mins, [1, 2, 1, 1, 2, 3]);
        for p in Preset::ALL {
            assert_eq!(p.measure().validate(), Ok(()));
            let h = p.reference_hyperparameters();
            assert!(h.samples >= p.measure().min_samples(), "{p}");
        }
        assert!(matches!(
            Preset::Moments(4).measure().validate(),
            Err(SamError::InvalidParameter { name: "order", .. })
        ));
        assert!(matches!(
            Preset::Moments(0).measure().evaluate(&[1.0]),
            Err(SamError::InvalidParameter { name: "order", .. })
        ));
    }

    #[test]
    fn measure_with_sampler_checks_the_sampler() {
        let det = Preset::Det
            .measure_with_sampler(Sampler::Cube { half_width: 2.0 })
            .unwrap();
        assert_eq!(det.sampler(), Sampler::Cube { half_width: 2.0 });
        assert!(matches!(
            Preset::Det.measure_with_sampler(Sampler::Gaussian),
            Err(SamError::InvalidParameter {
                name: "sampler",
                ..
            })
        ));
        assert!(matches!(
            Preset::Trace.measure_with_sampler(Sampler::Cube { half_width: -1.0 }),
            Err(SamError::InvalidParameter {
                name: "half_width",
                ..
            })
        ));
        let t = Preset::Trace.measure_with_sampler(Sampler::Sphere).unwrap();
        assert_eq!(t.sampler(), Sampler::Sphere);
    }
}
