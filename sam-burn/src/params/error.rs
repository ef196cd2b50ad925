//! Errors raised by the parameter space itself; the optimizers and the
//! Hessian diagnostics turn them into their own errors (`OptimError`,
//! `HessianError`), so this layer needs neither.

/// Why a module's parameters could not be listed, flattened or converted
/// back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// No trainable parameter received a gradient.
    #[error("no trainable parameter received a gradient")]
    NoGradients,
    /// A trainable parameter has a rank the flat views cannot convert back.
    #[error("a trainable parameter has rank {rank}; ranks 1 to 6 are supported")]
    UnsupportedRank {
        /// The parameter's rank.
        rank: usize,
    },
    /// A vector does not have the layout of the parameters it is used with.
    #[error("vector layout does not match the model's parameters: {reason}")]
    LayoutMismatch {
        /// What differs.
        reason: String,
    },
    /// A parameter group selects no trainable parameter.
    #[error("parameter group `{name}` matches no trainable parameter")]
    EmptyGroup {
        /// The group's name or prefix.
        name: String,
    },
}
