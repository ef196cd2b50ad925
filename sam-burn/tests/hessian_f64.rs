//! The Hessian checks in double precision (NdArray<f64>), where the
//! tolerances tighten to rounding level (see `hessian_util/hessian_checks.rs`).

mod hessian_util;

use hessian_util::hessian_checks::*;

with_checks_of_both_precisions! { hessian_tests! { f64; } }
