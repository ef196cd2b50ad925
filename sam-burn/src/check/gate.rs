//! Optional groups of checks (wgpu, a headless browser, python3), switched
//! by environment variables with one meaning everywhere: `1` requires the
//! group (missing support is an error, as CI wants), `0` skips it, unset or
//! `auto` runs it where it can and says why when it cannot. The workspace's
//! test suites read `USAM_WGPU_TESTS`, `USAM_BROWSER_TESTS` and
//! `USAM_PYTHON_TESTS` through [`Gate::decide`].
//!
//! ```
//! use sam_burn::check::{Gate, GateError};
//! assert_eq!(Gate::parse("USAM_X", Some("1"))?, Gate::Required);
//! assert_eq!(Gate::parse("USAM_X", None)?, Gate::Auto);
//! assert!(Gate::parse("USAM_X", Some("yes")).is_err());
//! // Required but unavailable is an error, not a silent skip.
//! assert!(matches!(
//!     Gate::Required.resolve("USAM_X", "a GPU", || false),
//!     Err(GateError::Unavailable { .. })
//! ));
//! # Ok::<(), GateError>(())
//! ```

use std::io::Write;

/// How an optional group of checks is switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `1`: the checks run, and missing support is an error.
    Required,
    /// `0`: the checks are skipped.
    Off,
    /// Unset or `auto`: the checks run where their support is found.
    Auto,
}

/// A gate that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The variable holds something other than `0`, `1` or `auto`.
    #[error("{var} must be 0, 1 or auto, got {value:?}")]
    Invalid {
        /// The variable.
        var: String,
        /// What it holds.
        value: String,
    },
    /// `1` asks for checks whose support is missing.
    #[error("{var}=1 requires {what}, which is not available here")]
    Unavailable {
        /// The variable.
        var: String,
        /// What the checks need.
        what: String,
    },
}

impl Gate {
    /// Reads `value` (the content of `var`, `None` when unset).
    pub fn parse(var: &str, value: Option<&str>) -> Result<Gate, GateError> {
        match value.map(str::trim) {
            Some("1") => Ok(Gate::Required),
            Some("0") => Ok(Gate::Off),
            None | Some("auto") | Some("") => Ok(Gate::Auto),
            Some(other) => Err(GateError::Invalid {
                var: var.into(),
                value: other.into(),
            }),
        }
    }

    /// Reads the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Gate, GateError> {
        Self::parse(var, std::env::var(var).ok().as_deref())
    }

    /// Whether the checks run: `available` is asked unless the gate is
    /// off. A skip is reported on standard error, written past the test
    /// harness's capture so that it shows in a passing run too.
    pub fn resolve(
        self,
        var: &str,
        what: &str,
        available: impl FnOnce() -> bool,
    ) -> Result<bool, GateError> {
        match self {
            Gate::Off => {
                skip(&format!("{what}: skipped ({var}=0)"));
                Ok(false)
            }
            Gate::Required => {
                if available() {
                    Ok(true)
                } else {
                    Err(GateError::Unavailable {
                        var: var.into(),
                        what: what.into(),
                    })
                }
            }
            Gate::Auto => {
                let ok = available();
                if !ok {
                    skip(&format!(
                        "{what}: not available, checks skipped ({var}=1 requires them)"
                    ));
                }
                Ok(ok)
            }
        }
    }

    /// [`from_env`](Self::from_env) then [`resolve`](Self::resolve).
    pub fn decide(
        var: &str,
        what: &str,
        available: impl FnOnce() -> bool,
    ) -> Result<bool, GateError> {
        Self::from_env(var)?.resolve(var, what, available)
    }
}

/// A note on the process's standard error itself: `eprintln!` inside a
/// test is captured and shown only when the test fails.
fn skip(note: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {note}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_outcomes() {
        assert_eq!(Gate::parse("V", Some("0")), Ok(Gate::Off));
        assert_eq!(Gate::parse("V", Some(" auto ")), Ok(Gate::Auto));
        let err = Gate::parse("V", Some("true")).unwrap_err();
        assert_eq!(err.to_string(), "V must be 0, 1 or auto, got \"true\"");
        assert_eq!(
            Gate::Off.resolve("V", "x", || panic!("not asked")),
            Ok(false)
        );
        assert_eq!(Gate::Auto.resolve("V", "x", || false), Ok(false));
        assert_eq!(Gate::Auto.resolve("V", "x", || true), Ok(true));
        assert_eq!(Gate::Required.resolve("V", "x", || true), Ok(true));
        let err = Gate::Required.resolve("V", "x", || false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "V=1 requires x, which is not available here"
        );
    }
}
