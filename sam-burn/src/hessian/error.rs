//! Typed errors of the Hessian diagnostics, and the conversion of Burn's
//! "cannot differentiate twice" panics into them.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::{Arc, Mutex};

/// Errors of the Hessian diagnostics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HessianError {
    /// The model (or loss) uses an operation whose backward pass Burn cannot
    /// differentiate again, so no exact Hessian-vector product exists for it.
    #[error(
        "operation `{op}` cannot be differentiated twice by Burn's autodiff; \
         build the model from the HVP-safe blocks in `sam_burn::nn` \
         or use the finite-difference fallback"
    )]
    NotTwiceDifferentiable {
        /// The operation, as Burn names it (e.g. `linear_x_backward`).
        op: String,
    },
    /// Burn (or the loss closure) panicked for another reason while computing
    /// a Hessian-vector product.
    #[error("the backend panicked during a Hessian-vector product: {message}")]
    BackendPanic {
        /// The panic message.
        message: String,
    },
    /// The loss closure returned a tensor with more than one element.
    #[error("the loss must be a tensor with a single element, got shape {shape:?}")]
    NonScalarLoss {
        /// Shape of the returned tensor.
        shape: Vec<usize>,
    },
    /// The model has no float parameter that requires a gradient.
    #[error("the model has no trainable float parameter")]
    NoParameters,
    /// No batch was given, or all batches have size zero.
    #[error("no data: give at least one batch with a positive size")]
    NoData,
    /// A vector does not have the parameter layout of the operator.
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
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A non-finite number appeared (NaN or infinite loss, gradient or estimate).
    #[error("non-finite value in {context}")]
    NonFinite {
        /// Where it appeared.
        context: String,
    },
}

impl From<crate::params::ParamsError> for HessianError {
    fn from(e: crate::params::ParamsError) -> Self {
        use crate::params::ParamsError;
        match e {
            ParamsError::EmptyGroup { name } => HessianError::EmptyGroup { name },
            ParamsError::LayoutMismatch { reason } => HessianError::LayoutMismatch { reason },
            ParamsError::NoGradients => HessianError::NoParameters,
            other => HessianError::LayoutMismatch {
                reason: other.to_string(),
            },
        }
    }
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// Process-wide bookkeeping of the silencing hook: how many threads are
/// inside [`catch_backend_panic`] and the hook that was installed before.
struct HookState {
    depth: usize,
    previous: Option<Arc<Hook>>,
}

static HOOK_STATE: Mutex<HookState> = Mutex::new(HookState {
    depth: 0,
    previous: None,
});

thread_local! {
    /// Nesting depth of `catch_backend_panic` on this thread: panics raised
    /// while it is positive are expected and must not be printed.
    static SILENCED: Cell<usize> = const { Cell::new(0) };
}

/// Installs the filtering hook on first entry; restores the previous hook when
/// the last thread leaves. Only panics of threads inside a silenced section are
/// dropped: other threads (e.g. failing tests running in parallel) still print.
struct SilenceGuard;

impl SilenceGuard {
    fn enter() -> Self {
        let mut state = HOOK_STATE.lock().unwrap_or_else(|e| e.into_inner());
        if state.depth == 0 {
            let previous: Arc<Hook> = Arc::new(panic::take_hook());
            let chained = previous.clone();
            panic::set_hook(Box::new(move |info| {
                if SILENCED.with(|s| s.get()) == 0 {
                    chained(info);
                }
            }));
            state.previous = Some(previous);
        }
        state.depth += 1;
        SILENCED.with(|s| s.set(s.get() + 1));
        SilenceGuard
    }
}

impl Drop for SilenceGuard {
    fn drop(&mut self) {
        SILENCED.with(|s| s.set(s.get().saturating_sub(1)));
        let mut state = HOOK_STATE.lock().unwrap_or_else(|e| e.into_inner());
        state.depth = state.depth.saturating_sub(1);
        if state.depth == 0 && !std::thread::panicking() {
            // Dropping our filter releases its clone of the previous hook.
            drop(panic::take_hook());
            if let Some(previous) = state.previous.take() {
                match Arc::try_unwrap(previous) {
                    Ok(hook) => panic::set_hook(hook),
                    Err(shared) => panic::set_hook(Box::new(move |info| shared(info))),
                }
            }
        }
    }
}

/// Runs `f`, turning a panic into a [`HessianError`] without printing it.
///
/// Burn 0.21 reports operations it cannot differentiate twice by panicking
/// (e.g. "Can't differentiate linear_x_backward."); this recovers the name of
/// the operation from the panic message.
pub(crate) fn catch_backend_panic<T>(f: impl FnOnce() -> T) -> Result<T, HessianError> {
    let guard = SilenceGuard::enter();
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(guard);
    result.map_err(|payload| classify_panic(&panic_message(payload.as_ref())))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Maps a panic message to the error it stands for.
pub(crate) fn classify_panic(message: &str) -> HessianError {
    const CANT: &str = "Can't differentiate ";
    if let Some(pos) = message.find(CANT) {
        let op = message[pos + CANT.len()..]
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('.')
            .to_string();
        return HessianError::NotTwiceDifferentiable { op };
    }
    // e.g. "topk is not implemented for autodiff", "rfft not yet supported for autodiff".
    for marker in [
        " is not implemented for autodiff",
        " not yet supported for autodiff",
    ] {
        if let Some(pos) = message.find(marker) {
            let op = message[..pos]
                .rsplit(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap_or_default()
                .to_string();
            return HessianError::NotTwiceDifferentiable { op };
        }
    }
    HessianError::BackendPanic {
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_linear() {
        assert_eq!(
            classify_panic("Can't differentiate linear_x_backward."),
            HessianError::NotTwiceDifferentiable {
                op: "linear_x_backward".into()
            }
        );
        assert_eq!(
            classify_panic("Can't differentiate avg pool 2d backward."),
            HessianError::NotTwiceDifferentiable {
                op: "avg pool 2d backward".into()
            }
        );
        assert_eq!(
            classify_panic("not implemented: topk is not implemented for autodiff"),
            HessianError::NotTwiceDifferentiable { op: "topk".into() }
        );
        assert!(matches!(
            classify_panic("index out of bounds"),
            HessianError::BackendPanic { .. }
        ));
    }

    #[test]
    fn catch_returns_value_or_error() {
        assert_eq!(catch_backend_panic(|| 3).unwrap(), 3);
        let err = catch_backend_panic(|| -> u8 { panic!("Can't differentiate foo.") });
        assert_eq!(
            err.unwrap_err(),
            HessianError::NotTwiceDifferentiable { op: "foo".into() }
        );
        // The hook is restored: a second round works the same way.
        assert!(catch_backend_panic(|| -> u8 { panic!("boom") }).is_err());
    }
}
