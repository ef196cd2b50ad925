//! Hessian-vector products and the estimators, checked against exact
//! Hessians (sam-core's analytic problems, including its 2-layer tanh net) and dense
//! eigendecompositions (nalgebra), on every backend.
//!
//! Every check runs in f32 (NdArray, Flex, wgpu) and in f64 (NdArray,
//! `hessian_f64.rs`);
//! tolerances are relative to the size of the quantity compared and depend
//! on the precision: f32 rounding is ~1e-7 per operation and these graphs are
//! a few dozen operations deep, hence ~1e-4 for exact quantities in f32.
//! Stochastic estimates must lie within three standard errors of the truth
//! (seeds are fixed, so the tests are deterministic).

use crate::hessian_util;

use hessian_util::hessian_checks::*;

with_checks_of_both_precisions! {
    hessian_tests! { f32; cpu: [], all: },
    input_errors,
    vectors_round_trip,
    unsupported_ops_are_named,
}
