//! The crate's error type.

/// Everything that can go wrong in `sam-core`: bad hyperparameters, bad
/// sample counts and non-finite numbers. No function of this crate panics on
/// user input; it returns one of these instead.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum SamError {
    /// The perturbation radius must be finite and positive (`>= 0` where a
    /// rule accepts the degenerate radius 0).
    #[error("invalid perturbation radius rho = {0}: it must be finite and positive")]
    InvalidRho(f64),
    /// The sharpness weight must be finite and non-negative.
    #[error("invalid sharpness weight lambda = {0}: it must be finite and >= 0")]
    InvalidLambda(f64),
    /// An estimate was asked for without any perturbed sample.
    #[error("no perturbed samples were given")]
    NoSamples,
    /// The measure needs more samples than it got (a variance needs 2).
    #[error("the measure needs at least {needed} samples, got {got}")]
    TooFewSamples {
        /// The measure's minimum.
        needed: usize,
        /// What was given.
        got: usize,
    },
    /// A perturbed loss `L(w + rho * delta_i)` is NaN or infinite.
    #[error("perturbed loss number {index} is not finite: {value}")]
    NonFiniteLoss {
        /// Index of the sample (0-based).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Some other number (base loss, normalised difference, measure value or
    /// derivative, gradient entry) is NaN or infinite.
    #[error("non-finite value: {what}")]
    NonFinite {
        /// What was not finite, in words.
        what: String,
    },
    /// A value exceeded the f64 range although its inputs were finite (Det's
    /// `m^-2` when every `exp(-x_i/2)` is tiny).
    #[error("overflow: {what}")]
    Overflow {
        /// What overflowed, in words.
        what: String,
    },
    /// A parameter outside its domain (sampler width, mask fraction, vector
    /// lengths that do not match, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A preset name that `Preset::from_str` does not know.
    #[error("unknown preset `{0}` (expected trace, frob, det, moments1, moments2 or moments3)")]
    UnknownPreset(String),
}

/// `Result` with [`SamError`].
pub type Result<T> = std::result::Result<T, SamError>;

impl SamError {
    /// Shorthand for [`SamError::InvalidParameter`].
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        SamError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`SamError::NonFinite`].
    pub(crate) fn non_finite(what: impl Into<String>) -> Self {
        SamError::NonFinite { what: what.into() }
    }
}

/// Returns `Ok(v)` when `v` is finite, else a [`SamError::NonFinite`] naming it.
pub(crate) fn finite(v: f64, what: impl FnOnce() -> String) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(SamError::non_finite(format!("{} = {v}", what())))
    }
}
