//! Which forward-backward pass of a step the closure is evaluating.

/// A forward-backward pass of a sharpness-aware step: handed to the user's
/// closure with the model (so work wanted from the clean pass only, such as
/// accuracy, is skipped on perturbed ones), and named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The unperturbed forward-backward pass.
    Clean,
    /// The forward-backward pass at perturbation `sample` (0-based).
    Perturbed {
        /// Index of the perturbation.
        sample: usize,
    },
}

impl Pass {
    /// Whether this is the unperturbed pass, the one whose extra output
    /// the step report keeps.
    pub fn is_clean(self) -> bool {
        self == Pass::Clean
    }
}

impl core::fmt::Display for Pass {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Pass::Clean => write!(f, "clean pass"),
            Pass::Perturbed { sample } => write!(f, "perturbed pass {sample}"),
        }
    }
}
