//! The nn block checks in double precision (NdArray<f64>).

mod hessian_util;

use hessian_util::nn_checks::*;

hessian_tests! {
    f64;
    [linear_matches_burn, pools_match_burn, cnn_blocks_match_central_differences, relu_cnn_hessian_is_symmetric],
}
