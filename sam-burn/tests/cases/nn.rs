//! The HVP-safe blocks: same values as Burn's layers, and exact
//! Hessian-vector products through them under nested autodiff, checked
//! against central differences (f32; tolerances stated at each check).

use crate::hessian_util;

use hessian_util::nn_checks::*;

hessian_tests! {
    f32;
    cpu: [],
    all: [
        linear_matches_burn,
        pools_match_burn,
        cnn_blocks_match_central_differences,
        relu_cnn_hessian_is_symmetric,
    ],
}
