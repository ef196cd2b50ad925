//! The Hessian checks in double precision (NdArray<f64>), where the
//! tolerances tighten to rounding level (see `hessian_util/hessian_checks.rs`).

mod hessian_util;

use hessian_util::hessian_checks::*;

hessian_tests! {
    f64;
    [
        quadratic_matches_sam_core,
        rosenbrock_matches_sam_core,
        scale_invariant_matches_sam_core,
        tanh_net_matches_sam_core,
        hvp_matches_central_differences,
        relu_kink_breaks_finite_differences,
        dense_spectrum_checks,
        per_group_checks,
        batches_are_weighted_by_size,
    ],
}
