//! The Hessian and HVP-safe block checks in double precision
//! (NdArray<f64>), where the tolerances tighten to rounding level (see
//! `hessian_util/hessian_checks.rs`). A binary of its own: Burn keys
//! default dtypes by device, so f32 and f64 NdArray need separate
//! processes.

#[macro_use]
mod hessian_util;

mod hessian {
    use crate::hessian_util::hessian_checks::*;

    with_checks_of_both_precisions! { hessian_tests! { f64; } }
}

mod nn {
    use crate::hessian_util::nn_checks::*;

    hessian_tests! {
        f64;
        [linear_matches_burn, pools_match_burn, cnn_blocks_match_central_differences, relu_cnn_hessian_is_symmetric],
    }
}
